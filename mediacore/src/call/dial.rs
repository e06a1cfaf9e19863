//! Driver: a call placed through a trunk (`Dial`, a campaign's call, an AMI Originate):
//! the INVITE, the media once answered, and why it failed when it did.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::codec::g711::Codec;
use crate::dialplan::exec::DialStatus;
use crate::engine::{Command, Placed};
use crate::media::Stream;
use crate::sdp::{LocalMedia, SessionDescription};
use crate::sip::call::CallEvent;

use super::shared::Shared;

/// Why an outbound call was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DialFailure {
    /// Asterisk's DIALSTATUS.
    pub(crate) status: DialStatus,
    /// The far end's final response, when it sent one.
    pub(crate) sip_code: Option<u16>,
}

impl From<DialStatus> for DialFailure {
    fn from(status: DialStatus) -> Self {
        Self {
            status,
            sip_code: None,
        }
    }
}

/// An answered outbound leg with its media.
pub(crate) struct Answered {
    /// The leg, its channel name and Uniqueid.
    pub(crate) placed: Placed,
    pub(crate) stream: Stream,
    pub(crate) events: mpsc::UnboundedReceiver<CallEvent>,
}

/// Calls `number` through `trunk` and waits up to `ring_timeout` for an answer. With
/// `caller`, the events of the call that dialled are watched too: if it hangs up while
/// this one rings, this one is cancelled and the result is `Cancel`.
pub(crate) async fn dial_out(
    shared: &Shared,
    trunk: &str,
    number: &str,
    ring_timeout: Duration,
    mut caller: Option<&mut mpsc::UnboundedReceiver<CallEvent>>,
) -> Result<Answered, DialFailure> {
    let sockets = shared.ports.bind(shared.media_ip).await.map_err(|error| {
        warn!(%error, "no rtp port");
        DialFailure::from(DialStatus::Congestion)
    })?;
    let local = LocalMedia {
        address: shared.media_ip,
        port: sockets.0.local_addr().map(|a| a.port()).unwrap_or(0),
        codecs: shared
            .codecs
            .get(trunk)
            .cloned()
            .unwrap_or_else(|| Codec::ALL.to_vec()),
        telephone_event: true,
        session_id: rand::random::<u32>().into(),
        session_version: 1,
    };
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
    let dial = Command::Dial {
        trunk: trunk.to_owned(),
        number: number.to_owned(),
        offer: local.offer().into_bytes(),
        events: events_tx,
        reply: reply_tx,
    };
    shared
        .commands
        .send(dial)
        .map_err(|_| DialStatus::ChanUnavail)?;
    let placed = match reply_rx.await {
        Ok(Ok(placed)) => placed,
        Ok(Err(reason)) => {
            warn!(%reason, "cannot dial");
            return Err(DialStatus::ChanUnavail.into());
        }
        Err(_) => return Err(DialStatus::ChanUnavail.into()),
    };
    let leg = placed.leg;
    let hang_up = |status: DialStatus| {
        let _ = shared.commands.send(Command::Hangup(leg));
        Err(status.into())
    };
    let ring_deadline = tokio::time::Instant::now() + ring_timeout;
    let mut sip_code = None;
    let answer = loop {
        let caller_gone = async {
            match caller.as_deref_mut() {
                Some(rx) => loop {
                    if matches!(rx.recv().await, Some(CallEvent::Ended(_)) | None) {
                        return;
                    }
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => match event {
                Some(CallEvent::Answered { sdp }) => break sdp,
                Some(CallEvent::Refused { code }) => sip_code = Some(code),
                Some(CallEvent::Ended(cause)) => {
                    info!(status = cause.dial_status(), ?sip_code, "not answered");
                    return Err(DialFailure {
                        status: dial_status(cause.dial_status()),
                        sip_code,
                    });
                }
                Some(_) => {}
                None => return Err(DialStatus::ChanUnavail.into()),
            },
            () = caller_gone => {
                info!("the caller hung up while ringing; cancelling");
                return hang_up(DialStatus::Cancel);
            }
            _ = tokio::time::sleep_until(ring_deadline) => {
                info!("ring timeout; cancelling");
                return hang_up(DialStatus::NoAnswer);
            }
        }
    };
    let negotiated = SessionDescription::parse(&answer)
        .map_err(|e| e.to_string())
        .and_then(|sdp| local.accept_answer(&sdp).map_err(|e| e.to_string()));
    let negotiated = match negotiated {
        Ok(n) => n,
        Err(error) => {
            warn!(%error, "unusable sdp answer; hanging up");
            return hang_up(DialStatus::Congestion);
        }
    };
    info!(leg, "answered");
    match Stream::new(
        sockets,
        negotiated.remote,
        negotiated.codec,
        negotiated.telephone_event,
        shared.rtp_timeout,
        &shared.pacer,
    ) {
        Ok(mut stream) => {
            watch_dtmf(shared, leg, &mut stream);
            Ok(Answered {
                placed,
                stream,
                events,
            })
        }
        Err(error) => {
            warn!(%error, "cannot set up media; hanging up");
            hang_up(DialStatus::Congestion)
        }
    }
}

fn dial_status(word: &str) -> DialStatus {
    match word {
        "BUSY" => DialStatus::Busy,
        "NOANSWER" => DialStatus::NoAnswer,
        "CANCEL" => DialStatus::Cancel,
        "CONGESTION" => DialStatus::Congestion,
        "ANSWER" => DialStatus::Answer,
        _ => DialStatus::ChanUnavail,
    }
}

/// Tells the engine of every key press on `stream` (AMI DTMFBegin/DTMFEnd).
pub(crate) fn watch_dtmf(shared: &Shared, leg: crate::engine::LegId, stream: &mut Stream) {
    let commands = shared.commands.clone();
    stream.observe_dtmf(Box::new(move |event| {
        let _ = commands.send(Command::Dtmf(leg, event));
    }));
}
