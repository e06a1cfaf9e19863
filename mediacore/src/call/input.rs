//! Driver: what a call takes from the caller: an extension, digits, a recording; and how
//! a wait ended, as the dialplan's outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::codec::wav::Prompt;
use crate::dialplan::exec::Outcome;
use crate::dialplan::parse::Dialplan;
use crate::media::{Source, Stream, Wake};
use crate::sip::call::CallEvent;

use super::shared::{record_path, Shared};

pub(crate) fn wake_outcome(wake: Wake) -> Outcome {
    match wake {
        Wake::Done => Outcome::Done,
        Wake::Timeout => Outcome::Timeout,
        Wake::Digit(d) => Outcome::Interrupted {
            digits: d.to_string(),
        },
        Wake::Inactive => {
            info!("no rtp for the inactivity timeout; hanging up");
            Outcome::HungUp
        }
        Wake::Hangup => Outcome::HungUp,
        // The dialplan goes where the redirect says; this outcome is not used.
        Wake::Interrupted => Outcome::Done,
    }
}

/// After a first digit in Background/WaitExten, keeps collecting while more digits could
/// still complete an extension (Asterisk's digit timeout: 5 s between digits).
pub(crate) async fn collect_exten(
    stream: &mut Stream,
    plan: &Dialplan,
    context: &str,
    first: char,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) -> Outcome {
    let mut digits = first.to_string();
    while plan.can_match_more(context, &digits) {
        let deadline = Some(Instant::now() + Duration::from_secs(5));
        match stream
            .run(Source::Silence, false, true, deadline, events)
            .await
        {
            Wake::Digit(d) => digits.push(d),
            Wake::Timeout => break,
            other => return wake_outcome(other),
        }
    }
    Outcome::Interrupted { digits }
}

/// Read(): plays the prompts (a digit stops them), then collects up to `max_digits`
/// (`#` ends early), waiting `timeout` for each digit.
pub(crate) async fn read_digits(
    stream: &mut Stream,
    prompts: &[Arc<Prompt>],
    max_digits: Option<u32>,
    timeout: Duration,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) -> Outcome {
    match read_digits_timed(stream, prompts, max_digits, timeout, events).await {
        Ok((digits, false)) => Outcome::Digits(digits),
        Ok((digits, true)) => Outcome::ReadTimeout(digits),
        Err(outcome) => outcome,
    }
}

/// As [`read_digits`]: the digits and whether the wait for one more timed out (AGI's
/// `GET DATA` says so), or how the call ended.
pub(crate) async fn read_digits_timed(
    stream: &mut Stream,
    prompts: &[Arc<Prompt>],
    max_digits: Option<u32>,
    timeout: Duration,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) -> Result<(String, bool), Outcome> {
    let max = max_digits.filter(|&m| m > 0).unwrap_or(255) as usize;
    let mut digits = String::new();
    match stream
        .run(Source::Prompts(prompts), true, true, None, events)
        .await
    {
        Wake::Digit(d) => digits.push(d),
        Wake::Done => {}
        other => return Err(wake_outcome(other)),
    }
    let mut timed_out = false;
    while digits.len() < max && !digits.ends_with('#') {
        let deadline = Some(Instant::now() + timeout);
        match stream
            .run(Source::Silence, false, true, deadline, events)
            .await
        {
            Wake::Digit(d) => digits.push(d),
            Wake::Timeout => {
                timed_out = true;
                break;
            }
            other => return Err(wake_outcome(other)),
        }
    }
    if digits.ends_with('#') {
        digits.pop();
    }
    Ok((digits, timed_out))
}

/// Record(): what the caller says goes to a WAV file until `#`, the maximum duration, or
/// hangup.
pub(crate) async fn record(
    stream: &mut Stream,
    shared: &Shared,
    file: &str,
    max: Option<Duration>,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) -> Outcome {
    let path = match record_path(&shared.recordings_dir, &shared.prompts_dir, file) {
        Ok(path) => path,
        Err(error) => {
            warn!(%error, "cannot record");
            return Outcome::Done;
        }
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let opened = std::fs::File::create(&path).and_then(|f| stream.record_to(f));
    if let Err(error) = opened {
        warn!(path = %path.display(), %error, "cannot record");
        return Outcome::Done;
    }
    let deadline = max.filter(|d| !d.is_zero()).map(|d| Instant::now() + d);
    let wake = loop {
        match stream
            .run(Source::Silence, false, true, deadline, events)
            .await
        {
            Wake::Digit('#') => break Wake::Done,
            Wake::Digit(_) => continue,
            other => break other,
        }
    };
    if let Err(error) = stream.stop_recording() {
        warn!(path = %path.display(), %error, "recording not finished cleanly");
    }
    info!(path = %path.display(), "recorded");
    match wake {
        Wake::Timeout => Outcome::Done,
        other => wake_outcome(other),
    }
}
