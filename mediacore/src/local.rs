//! Driver: Local channels (`Local/<exten>@<context>`, AMI `Originate`) as Asterisk has
//! them: a pair of channels, `;1` (the originated one, which runs the Originate's target)
//! and `;2` (which runs `<exten>@<context>`). `;2`'s `Answer()` answers `;1`; each half is
//! listed (`CoreShowChannels`) and announced (Newchannel, Newstate, Hangup) like any
//! channel, and hanging up either ends both.
//!
//! Between the two halves there is no audio here (Asterisk passes it in memory): a media
//! step on a half takes the time it would take and hears nothing — `Playback` the prompts'
//! length, `Read` its prompts and timeouts and then no digits, `Wait` its time. When `;2`
//! dials a trunk and the far end answers, the pair is optimised away as Asterisk does: the
//! answered channel runs the Originate's target (`originate`), which is how an alert reaches
//! a citizen through a Local channel.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::call::shared::Shared;
use crate::channel::ChannelState;
use crate::dialplan::exec::{Action, Outcome};
use crate::engine::{Command, LegId};

/// One half of a pair.
#[derive(Debug, Clone)]
pub struct Half {
    /// The engine's id for it.
    pub id: LegId,
    /// `Local/<exten>@<context>-<n>;1` or `;2`.
    pub name: String,
    /// Its Uniqueid.
    pub uniqueid: String,
}

/// A pair the engine lists: the halves and where AMI's hangups of each arrive.
pub struct Pair {
    /// `;1`.
    pub one: Half,
    /// `;2`.
    pub two: Half,
    /// AMI hung up `;1`.
    pub hangup_one: mpsc::UnboundedReceiver<()>,
    /// AMI hung up `;2`.
    pub hangup_two: mpsc::UnboundedReceiver<()>,
}

impl Pair {
    /// Asks the engine for a pair (Newchannel for both); `None` if it is gone.
    pub async fn open(shared: &Shared, exten: &str, context: &str, caller: &str) -> Option<Self> {
        let (one_tx, hangup_one) = mpsc::unbounded_channel();
        let (two_tx, hangup_two) = mpsc::unbounded_channel();
        let (reply, made) = oneshot::channel();
        let _ = shared.commands.send(Command::LocalPair {
            exten: exten.to_owned(),
            context: context.to_owned(),
            caller: caller.to_owned(),
            hangups: [one_tx, two_tx],
            reply,
        });
        let [one, two] = made.await.ok()?;
        let half = |(id, name, uniqueid)| Half { id, name, uniqueid };
        Some(Self {
            one: half(one),
            two: half(two),
            hangup_one,
            hangup_two,
        })
    }

    /// Both halves are up (`;2` answered).
    pub fn answered(&self, shared: &Shared) {
        for half in [&self.one, &self.two] {
            let _ = shared
                .commands
                .send(Command::LocalState(half.id, ChannelState::Up));
        }
    }

    /// Both halves are gone (Hangup, normal clearing).
    pub fn close(&self, shared: &Shared) {
        for half in [&self.one, &self.two] {
            let _ = shared.commands.send(Command::LocalGone(half.id, 16));
        }
    }
}

/// Performs a step that needs no audio path on a Local half, in the time it would take;
/// `None` for the steps the caller handles (Answer, Dial, Hangup).
pub async fn silent_step(
    shared: &Shared,
    action: &Action,
    channel: (&str, &str),
) -> Option<Outcome> {
    let prompts_length = |files: &[String]| -> Result<Duration, ()> {
        shared
            .prompts(files)
            .map(|p| p.iter().map(|p| p.duration()).sum())
            .map_err(|error| warn!(%error, "a Local channel's prompt is missing"))
    };
    Some(match action {
        Action::Answer | Action::Dial { .. } | Action::Hangup { .. } => return None,
        Action::Playback { files } | Action::Background { files } => match prompts_length(files) {
            Ok(d) => {
                tokio::time::sleep(d).await;
                Outcome::Done
            }
            Err(()) => Outcome::PlaybackFailed,
        },
        Action::Read {
            files,
            attempts,
            timeout,
            ..
        } => {
            // Saturating: a dialplan may give up to 2^32 s per attempt and 2^32 attempts.
            let once = prompts_length(files)
                .unwrap_or_default()
                .saturating_add(*timeout);
            tokio::time::sleep(once.saturating_mul((*attempts).max(1))).await;
            Outcome::Digits(String::new())
        }
        Action::WaitExten { timeout } => {
            tokio::time::sleep(*timeout).await;
            Outcome::Timeout
        }
        Action::Record { max_duration, .. } => {
            tokio::time::sleep(max_duration.unwrap_or_default()).await;
            Outcome::Done
        }
        Action::Wait(d) => {
            tokio::time::sleep(*d).await;
            Outcome::Done
        }
        Action::Verbose { message, .. } => {
            info!(%message, "verbose");
            Outcome::Done
        }
        Action::UserEvent { name, fields } => {
            shared.user_event(name, fields.clone(), Some(channel.0), Some(channel.1));
            Outcome::Done
        }
        Action::AllertaAlert | Action::AllertaRecordAlert { .. } | Action::Agi { .. } => {
            warn!(action = ?action, "not on a Local channel; step skipped");
            Outcome::Done
        }
    })
}
