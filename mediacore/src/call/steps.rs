//! Driver: the dialplan's media steps on a call's stream (play, collect an extension or
//! digits, record, wait, tones, send digits), the same on a SIP call (`runner`) and on a half of a Local
//! channel (`crate::local`). Answering first is the caller's business.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::warn;

use crate::dialplan::exec::{Action, Outcome};
use crate::dialplan::parse::Dialplan;
use crate::media::{Source, Stream, Wake};
use crate::sip::call::CallEvent;

use super::input::{collect_exten, read_digits, record, wake_outcome};
use super::shared::Shared;

/// Whether `action` is one of [`run`]'s steps.
pub(crate) fn is_stream_step(action: &Action) -> bool {
    matches!(
        action,
        Action::Playback { .. }
            | Action::Background { .. }
            | Action::Read { .. }
            | Action::WaitExten { .. }
            | Action::Record { .. }
            | Action::Wait(_)
            | Action::Playtones(_)
            | Action::StopPlaytones
            | Action::SendDtmf { .. }
    )
}

/// Performs a media step on `stream`; `None` when `action` is not one ([`is_stream_step`]).
/// `context` is where Background and WaitExten look for the extension dialled.
pub(crate) async fn run(
    shared: &Shared,
    stream: &mut Stream,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
    action: &Action,
    plan: &Dialplan,
    context: &str,
) -> Option<Outcome> {
    Some(match action {
        Action::Playback { files } => match shared.prompts(files) {
            Ok(prompts) => wake_outcome(
                stream
                    .run(Source::Prompts(&prompts), true, false, None, events)
                    .await,
            ),
            Err(error) => {
                warn!(%error, "playback failed");
                Outcome::PlaybackFailed
            }
        },
        Action::Background { files } => match shared.prompts(files) {
            Ok(prompts) => match stream
                .run(Source::Prompts(&prompts), true, true, None, events)
                .await
            {
                Wake::Digit(d) => collect_exten(stream, plan, context, d, events).await,
                other => wake_outcome(other),
            },
            Err(error) => {
                warn!(%error, "background failed");
                Outcome::PlaybackFailed
            }
        },
        Action::Read {
            files,
            max_digits,
            timeout,
            ..
        } => {
            let prompts = shared.prompts(files).unwrap_or_else(|error| {
                warn!(%error, "read prompt missing; collecting digits anyway");
                Vec::new()
            });
            read_digits(stream, &prompts, *max_digits, *timeout, events).await
        }
        Action::WaitExten { timeout } => {
            let deadline = Some(Instant::now() + *timeout);
            match stream
                .run(Source::Silence, false, true, deadline, events)
                .await
            {
                Wake::Digit(d) => collect_exten(stream, plan, context, d, events).await,
                other => wake_outcome(other),
            }
        }
        Action::Record {
            file, max_duration, ..
        } => record(stream, shared, file, *max_duration, events).await,
        Action::Wait(d) => {
            let deadline = Some(Instant::now() + *d);
            wake_outcome(
                stream
                    .run(Source::Silence, false, false, deadline, events)
                    .await,
            )
        }
        Action::Playtones(tones) => {
            stream.set_tones(Some(crate::codec::tones::Generator::new(tones.clone())));
            Outcome::Done
        }
        Action::StopPlaytones => {
            stream.set_tones(None);
            Outcome::Done
        }
        Action::SendDtmf { digits, duration } => send_dtmf(stream, events, digits, *duration).await,
        _ => return None,
    })
}

/// SendDTMF(): queues the digits on the stream and waits until the pacer has sent them
/// (the call's audio goes on around them).
async fn send_dtmf(
    stream: &mut Stream,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
    digits: &str,
    duration: Duration,
) -> Outcome {
    let sender = stream.dtmf_sender();
    if let Err(error) = sender.send(digits, duration) {
        warn!(%error, "SendDTMF: nothing sent");
        return Outcome::Done;
    }
    loop {
        if sender.idle() {
            return Outcome::Done;
        }
        let deadline = Some(Instant::now() + Duration::from_millis(20));
        match stream
            .run(Source::Silence, false, false, deadline, events)
            .await
        {
            Wake::Timeout | Wake::Done => {}
            other => return wake_outcome(other),
        }
    }
}
