//! Driver: Local channels (`Local/<exten>@<context>`, AMI `Originate`) as Asterisk has
//! them: a pair of channels, `;1` (the originated one, which runs the Originate's target)
//! and `;2` (which runs `<exten>@<context>`). `;2`'s `Answer()` answers `;1`; each half is
//! listed (`CoreShowChannels`) and announced (Newchannel, Newstate, Hangup) like any
//! channel, and hanging up either ends both: the hangup reaches each half's media step as
//! a SIP call's would, so a `Record` in progress keeps what it recorded.
//!
//! Audio passes between the halves as in Asterisk: what one plays the other hears (a
//! `Playback` on `;1` is what `;2`'s `Record` or `Read` takes), DTMF included. Each half
//! is an ordinary RTP [`Stream`] bound on the loopback address and sending to the other
//! half's (a kernel copy instead of Asterisk's frame queue: the media steps, pacing,
//! recording and DTMF are the same code as a SIP call's, and nothing off the node can
//! reach a loopback port). When `;2` dials a trunk and the far end answers, the pair is
//! optimised away as Asterisk does: the answered channel runs the Originate's target
//! (`originate`), which is how an alert reaches a citizen through a Local channel.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::call::shared::Shared;
use crate::call::steps;
use crate::channel::ChannelState;
use crate::codec::g711::Codec;
use crate::dialplan::exec::{Action, Outcome};
use crate::dialplan::parse::Dialplan;
use crate::engine::{Command, LegId};
use crate::media::Stream;
use crate::sip::call::{CallEvent, EndCause};

/// The telephone-event payload type between the halves.
const DTMF_PT: u8 = 101;

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

    /// From now on AMI's hangup of either half ends both halves' steps.
    pub fn forward_hangups(&mut self, halves: [Ender; 2]) {
        let mut one = std::mem::replace(&mut self.hangup_one, mpsc::unbounded_channel().1);
        let mut two = std::mem::replace(&mut self.hangup_two, mpsc::unbounded_channel().1);
        tokio::spawn(async move {
            tokio::select! {
                Some(()) = one.recv() => {}
                Some(()) = two.recv() => {}
                else => return, // the pair closed first
            }
            for half in &halves {
                half.end();
            }
        });
    }

    /// Both halves are gone (Hangup, normal clearing).
    pub fn close(&self, shared: &Shared) {
        for half in [&self.one, &self.two] {
            let _ = shared.commands.send(Command::LocalGone(half.id, 16));
        }
    }
}

/// One half's media: its stream toward the other half and the events its steps wake on
/// (a hangup, from [`Pair::forward_hangups`] or the other half's end).
pub struct Media {
    /// RTP on the loopback address, to and from the other half.
    pub stream: Stream,
    /// Its steps' event channel.
    pub events: mpsc::UnboundedReceiver<CallEvent>,
    events_tx: mpsc::UnboundedSender<CallEvent>,
}

impl Media {
    /// Ends this half's current and next media steps (as a BYE would a SIP call's).
    pub fn ender(&self) -> Ender {
        Ender(self.events_tx.clone())
    }
}

/// Hangs a half up from elsewhere.
#[derive(Clone)]
pub struct Ender(mpsc::UnboundedSender<CallEvent>);

impl Ender {
    /// The half is hung up.
    pub fn end(&self) {
        let _ = self.0.send(CallEvent::Ended(EndCause::LocalHangup));
    }
}

/// The two halves' media, `;1`'s then `;2`'s, both sending from the start (silence
/// until a step plays something), so neither ever counts the other as gone quiet.
pub async fn media(shared: &Shared) -> io::Result<(Media, Media)> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let one = shared.ports.bind(loopback).await?;
    let two = shared.ports.bind(loopback).await?;
    let (one_at, two_at) = (one.0.local_addr()?, two.0.local_addr()?);
    let half = |sockets, remote| -> io::Result<Media> {
        let mut stream = Stream::new(
            sockets,
            remote,
            Codec::Pcmu,
            Some(DTMF_PT),
            shared.rtp_timeout,
            &shared.pacer,
        )?;
        stream.set_sending(true);
        let (events_tx, events) = mpsc::unbounded_channel();
        Ok(Media {
            stream,
            events,
            events_tx,
        })
    };
    Ok((half(one, two_at)?, half(two, one_at)?))
}

/// Performs a step on a Local half: the media steps as on a SIP call (`call::steps`),
/// Verbose and UserEvent; `None` for the steps the caller handles (Answer, Dial, Hangup).
pub async fn step(
    shared: &Shared,
    media: &mut Media,
    action: &Action,
    plan: &Dialplan,
    context: &str,
    channel: (&str, &str),
) -> Option<Outcome> {
    if steps::is_stream_step(action) {
        return steps::run(
            shared,
            &mut media.stream,
            &mut media.events,
            action,
            plan,
            context,
        )
        .await;
    }
    Some(match action {
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
        _ => return None,
    })
}
