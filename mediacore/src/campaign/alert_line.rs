//! Driver: the inbound alert line, as two dialplan applications so the municipality wires
//! them in `extensions.conf` like any other:
//!
//! - `AllertaAlert()`: plays the current alert (the running campaign's message, spoken
//!   or recorded) or "no alert in progress". Both nodes answer their own inbound numbers
//!   all the time; the backup plays what was replicated to it.
//! - `AllertaRecordAlert(name)`: asks for an operator's PIN (digits, then #), and on
//!   the master records a new message `name` by phone (# ends it) into the prompts
//!   directory (`recorded/<name>.wav`, replicated) and the database.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::dialer::blocking;
use super::tts;
use crate::call::input::{read_digits, record, wake_outcome};
use crate::call::shared::Shared;
use crate::dialplan::exec::Outcome;
use crate::media::{Source, Stream};
use crate::sip::call::CallEvent;

/// Spoken texts of the line (Italian: the municipality's language).
const NO_ALERT: &str = "Nessuna allerta in corso.";
const ASK_PIN: &str = "Inserire il codice operatore, seguito dal tasto cancelletto.";
const BAD_PIN: &str = "Codice non valido.";
const SPEAK_NOW: &str =
    "Registrare il messaggio dopo il segnale. Premere cancelletto per terminare.";
const RECORDED: &str = "Messaggio registrato.";
const NOT_MASTER: &str =
    "Questo nodo è di riserva: la registrazione è possibile solo sul nodo principale.";

/// Plays prompts by name (missing ones are logged and skipped).
async fn play(
    shared: &Shared,
    stream: &mut Stream,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
    names: &[String],
) -> Outcome {
    match shared.prompts(names) {
        Ok(p) => wake_outcome(
            stream
                .run(Source::Prompts(&p), true, false, None, events)
                .await,
        ),
        Err(error) => {
            warn!(%error, "alert line prompt missing");
            Outcome::PlaybackFailed
        }
    }
}

/// A spoken line of text as a prompt name (cached TTS).
async fn spoken(shared: &Shared, text: &'static str) -> Result<String, String> {
    let dir = shared.prompts_dir.clone();
    tokio::task::spawn_blocking(move || tts::speak(&dir, text, "it"))
        .await
        .map_err(|e| e.to_string())?
}

async fn say(
    shared: &Shared,
    stream: &mut Stream,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
    text: &'static str,
) -> Outcome {
    match spoken(shared, text).await {
        Ok(name) => play(shared, stream, events, &[name]).await,
        Err(error) => {
            warn!(%error, "alert line cannot speak");
            Outcome::PlaybackFailed
        }
    }
}

/// `AllertaAlert()`.
pub(crate) async fn play_alert(
    shared: &Shared,
    stream: &mut Stream,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) -> Outcome {
    let current = match &shared.store {
        Some(store) => blocking(store, |s| s.current_alert())
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "reading the current alert");
                None
            }),
        None => None,
    };
    let Some(message) = current else {
        info!("alert line: no alert in progress");
        return say(shared, stream, events, NO_ALERT).await;
    };
    let dir = shared.prompts_dir.clone();
    let name = tokio::task::spawn_blocking(move || match message.kind.as_str() {
        "text" => tts::speak(&dir, &message.body, &message.language),
        _ => Ok(message.body.trim_end_matches(".wav").to_owned()),
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match name {
        Ok(name) => {
            info!(prompt = %name, "alert line: playing the current alert");
            play(shared, stream, events, &[name]).await
        }
        Err(error) => {
            warn!(%error, "alert line: the current alert cannot be played");
            say(shared, stream, events, NO_ALERT).await
        }
    }
}

/// `AllertaRecordAlert(message)`.
pub(crate) async fn record_alert(
    shared: &Shared,
    stream: &mut Stream,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
    message: &str,
    caller: &str,
) -> Outcome {
    let Some(store) = shared.store.clone() else {
        return say(shared, stream, events, NOT_MASTER).await;
    };
    let admitted = shared
        .pins
        .lock()
        .map_or(Ok(()), |g| g.admit(Instant::now(), caller));
    if let Err(closed) = admitted {
        warn!(
            caller,
            ?closed,
            "alert line: recording by phone is closed after wrong PINs"
        );
        return say(shared, stream, events, BAD_PIN).await;
    }
    let ask = match spoken(shared, ASK_PIN).await {
        Ok(n) => n,
        Err(error) => {
            warn!(%error, "alert line cannot speak");
            return Outcome::PlaybackFailed;
        }
    };
    let prompts = shared.prompts(&[ask]).unwrap_or_default();
    let pin = match read_digits(stream, &prompts, Some(8), Duration::from_secs(8), events).await {
        // A PIN shorter than 8 digits ends with `#` or with the wait for the next digit.
        Outcome::Digits(d) | Outcome::ReadTimeout(d) => d,
        other => return other,
    };
    let operator = if pin.len() >= 4 {
        // The hashes are read under the store's lock; argon2 runs outside it.
        match blocking(&store, |s| s.operator_pins()).await {
            Ok(pins) => tokio::task::spawn_blocking(move || {
                crate::campaign::store::operator_with_pin(pins, &pin)
            })
            .await
            .unwrap_or(None),
            Err(_) => None,
        }
    } else {
        None
    };
    let Some(operator) = operator else {
        let closed = shared
            .pins
            .lock()
            .ok()
            .and_then(|mut g| g.wrong(Instant::now(), caller));
        warn!(
            caller,
            ?closed,
            "alert line: a recording was refused (wrong PIN)"
        );
        return say(shared, stream, events, BAD_PIN).await;
    };
    if let Ok(mut g) = shared.pins.lock() {
        g.right(caller);
    }
    if !shared.is_master() {
        return say(shared, stream, events, NOT_MASTER).await;
    }
    let outcome = say(shared, stream, events, SPEAK_NOW).await;
    if outcome == Outcome::HungUp {
        return outcome;
    }
    let safe: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let relative = format!("recorded/{safe}");
    let path = shared.prompts_dir.join(format!("{relative}.wav"));
    let outcome = record(
        stream,
        shared,
        &path.to_string_lossy(),
        Some(Duration::from_secs(120)),
        events,
    )
    .await;
    let (name, who) = (message.to_owned(), operator.clone());
    let saved = blocking(&store, move |s| {
        s.add_message(&name, "recording", &relative, "it", &who)
    })
    .await;
    match saved {
        Ok(()) => info!(%operator, message, "alert line: message recorded by phone"),
        Err(error) => warn!(%error, "alert line: the recording was not saved"),
    }
    if outcome == Outcome::HungUp {
        return outcome;
    }
    say(shared, stream, events, RECORDED).await
}
