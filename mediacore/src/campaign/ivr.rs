//! Driver: what a citizen hears when they answer a campaign call. The message, then
//! "press 1 to confirm, 9 to hear again"; a 1 is recorded at once (before the thanks is
//! played: a hang-up right after pressing still counts), a 9 replays the message, silence
//! repeats the instructions. At most three rounds, then we hang up. A 1 that cannot be
//! recorded (the disk is full) gets no thanks: the instructions come again, and the next 1
//! tries again; the citizen is never told a confirmation was taken when it was not.

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::tts::CallPrompts;
use crate::call::dial::Answered;
use crate::call::shared::Shared;
use crate::engine::Command;
use crate::media::{Source, Wake};

/// Rounds of message + instructions before giving up on a confirmation.
const ROUNDS: u32 = 3;
/// How long to wait for a key after the instructions.
const KEY_WAIT: Duration = Duration::from_secs(5);

/// The longest an answered campaign call with these prompts lasts: every round played to
/// the end with the full wait for a key, then the thanks. A prompt that cannot be read
/// counts as a minute.
pub(crate) fn longest_answered(shared: &Shared, prompts: &CallPrompts) -> Duration {
    let length = |name: &String| {
        shared
            .prompts(std::slice::from_ref(name))
            .map(|p| p.iter().map(|x| x.duration()).sum())
            .unwrap_or(Duration::from_secs(60))
    };
    (length(&prompts.message) + length(&prompts.instructions) + KEY_WAIT) * ROUNDS
        + length(&prompts.thanks)
}

/// How the answered call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvrEnd {
    /// Pressed 1.
    pub confirmed: bool,
    /// Every key pressed, in order.
    pub digits: String,
}

/// Plays the campaign to an answered call; `confirm` runs (and is awaited) the moment
/// the person presses 1, and says whether the confirmation was recorded. Hangs the call up
/// at the end.
pub(crate) async fn run<F, Fut>(
    shared: &Shared,
    answered: Answered,
    prompts: &CallPrompts,
    mut confirm: F,
) -> IvrEnd
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let Answered {
        placed,
        mut stream,
        mut events,
    } = answered;
    let mut end = IvrEnd {
        confirmed: false,
        digits: String::new(),
    };
    let load =
        |names: &[&String]| shared.prompts(&names.iter().map(|n| (*n).clone()).collect::<Vec<_>>());
    let (message, instructions, thanks) = match (
        load(&[&prompts.message]),
        load(&[&prompts.instructions]),
        load(&[&prompts.thanks]),
    ) {
        (Ok(m), Ok(i), Ok(t)) => (m, i, t),
        (m, i, t) => {
            let error = [m.err(), i.err(), t.err()].into_iter().flatten().next();
            warn!(?error, "campaign prompts missing; hanging up");
            let _ = shared.commands.send(Command::Hangup(placed.leg));
            return end;
        }
    };
    stream.set_sending(true);
    let mut play_message = true;
    'rounds: for _ in 0..ROUNDS {
        let mut key = None;
        if play_message {
            // Keys are taken during the message too: people press 1 as soon as they know.
            match stream
                .run(Source::Prompts(&message), true, true, None, &mut events)
                .await
            {
                Wake::Digit(d) => key = Some(d),
                Wake::Done | Wake::Timeout | Wake::Interrupted => {}
                Wake::Hangup | Wake::Inactive => break 'rounds,
            }
        }
        if key.is_none() {
            match stream
                .run(
                    Source::Prompts(&instructions),
                    true,
                    true,
                    None,
                    &mut events,
                )
                .await
            {
                Wake::Digit(d) => key = Some(d),
                Wake::Done | Wake::Timeout | Wake::Interrupted => {}
                Wake::Hangup | Wake::Inactive => break 'rounds,
            }
        }
        if key.is_none() {
            let deadline = Some(Instant::now() + KEY_WAIT);
            match stream
                .run(Source::Silence, false, true, deadline, &mut events)
                .await
            {
                Wake::Digit(d) => key = Some(d),
                Wake::Timeout | Wake::Done | Wake::Interrupted => {}
                Wake::Hangup | Wake::Inactive => break 'rounds,
            }
        }
        let Some(key) = key else {
            // Silence: the instructions again, not the whole message.
            play_message = false;
            continue;
        };
        end.digits.push(key);
        match key {
            '1' => {
                if !confirm().await {
                    warn!(
                        leg = placed.leg,
                        "a 1 that could not be recorded: asking again"
                    );
                    play_message = false;
                    continue;
                }
                end.confirmed = true;
                info!(leg = placed.leg, "confirmed");
                let _ = stream
                    .run(Source::Prompts(&thanks), true, false, None, &mut events)
                    .await;
                break 'rounds;
            }
            '9' => play_message = true,
            _ => play_message = false,
        }
    }
    stream.bye();
    let _ = shared.commands.send(Command::Hangup(placed.leg));
    end
}
