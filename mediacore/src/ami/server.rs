//! Driver: the AMI TCP server. One task per client (mini-redis shape): the pure
//! [`super::session::Session`] decides, this loop moves bytes, performs the actions that
//! need the media core (Originate…) and forwards events.
//!
//! ```text
//!  listener ──accept──▶ client task ──▶ Session (login, permissions, simple actions)
//!                          ▲   ▲            └─ Perform ──▶ originate task ─┐
//!   events (broadcast) ────┘   └──────────── replies (OriginateResponse) ◀──┘
//! ```
//! Events go out through a bounded broadcast channel: a client that does not read falls
//! behind, is told why and is dropped; nobody else waits for it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::message::Message;
use super::session::{Output, Session};
use super::users::{Classes, Users};
use crate::call::{self, Originate, Shared};
use crate::dialplan::exec::DialStatus;
use crate::engine::{ChannelInfo, Command, Status};

/// Events buffered per client before a slow one is dropped.
pub const EVENT_BACKLOG: usize = 4096;

/// An event for the clients whose `Events:` include its class.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event's class (`call`, `system`, `dtmf`, …).
    pub class: Classes,
    /// The event.
    pub message: Message,
}

/// What every client task shares.
pub struct Ami {
    /// manager.conf.
    pub users: Arc<Users>,
    /// The media core (originate).
    pub shared: Arc<Shared>,
    /// The SIP engine's status (calls).
    pub status: Arc<Mutex<Status>>,
    /// Events to every client.
    pub events: broadcast::Sender<Arc<Event>>,
    /// When the media core started.
    pub started: SystemTime,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Accepts clients until `cancel`.
pub async fn serve(listener: TcpListener, ami: Arc<Ami>, cancel: CancellationToken) {
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let events = ami.events.subscribe();
                    clients.spawn(client(stream, peer, ami.clone(), events, cancel.clone()));
                }
                Err(error) => warn!(%error, "ami accept failed"),
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
    clients.shutdown().await;
}

async fn client(
    mut stream: TcpStream,
    peer: SocketAddr,
    ami: Arc<Ami>,
    mut events: broadcast::Receiver<Arc<Event>>,
    cancel: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.split();
    let mut session = Session::new(ami.users.clone(), peer.ip());
    let (replies_tx, mut replies_rx) = mpsc::unbounded_channel::<Message>();
    let mut inbuf = BytesMut::with_capacity(4096);
    let mut outbuf: Vec<u8> = Session::greeting().to_vec();
    let mut out = Vec::new();
    let mut close = false;
    debug!(%peer, "ami client connected");
    loop {
        // Flush before waiting, outside select! (a write is not cancel safe).
        if !outbuf.is_empty() {
            if wr.write_all(&outbuf).await.is_err() {
                return;
            }
            outbuf.clear();
        }
        if close {
            let _ = wr.shutdown().await;
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => {
                let mut m = Message::with("Event", "Shutdown");
                m.push("Privilege", "system,all").push("Shutdown", "Uncleanly").push("Restart", "False");
                m.encode(&mut outbuf);
                close = true;
            }
            read = rd.read_buf(&mut inbuf) => {
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                loop {
                    let msg = match Message::decode(&mut inbuf) {
                        Ok(Some(msg)) => msg,
                        Ok(None) => break,
                        Err(error) => {
                            warn!(%peer, %error, "ami client sent what cannot be framed; closing");
                            let mut m = Message::with("Response", "Error");
                            m.push("Message", error.to_string());
                            m.encode(&mut outbuf);
                            close = true;
                            break;
                        }
                    };
                    let was_in = session.user().is_some();
                    session.on_action(&msg, now_secs(), rand::random::<u32>() % 1_000_000_000, &mut out);
                    for o in out.drain(..) {
                        match o {
                            Output::Send(m) => m.encode(&mut outbuf),
                            Output::Close => close = true,
                            Output::Perform(m) => {
                                if let Some(reply) = perform(&ami, &m, &replies_tx) {
                                    reply.encode(&mut outbuf);
                                }
                            }
                        }
                    }
                    if !was_in && session.user().is_some() {
                        info!(%peer, user = session.user().unwrap_or(""), "ami login");
                        if session.wants(Classes::named("system").unwrap_or_default()) {
                            fully_booted(&ami).encode(&mut outbuf);
                        }
                    }
                    if close {
                        break;
                    }
                }
            }
            Some(reply) = replies_rx.recv() => reply.encode(&mut outbuf),
            event = events.recv() => match event {
                Ok(event) => {
                    if session.wants(event.class) {
                        event.message.encode(&mut outbuf);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    warn!(%peer, missed, "ami client too slow; dropping it");
                    let mut m = Message::with("Response", "Error");
                    m.push("Message", format!("Too slow: {missed} events lost; closing the connection"));
                    m.encode(&mut outbuf);
                    close = true;
                }
                Err(broadcast::error::RecvError::Closed) => close = true,
            },
        }
    }
}

/// CoreShowChannels as Asterisk 22 answers it: the response, one CoreShowChannel event
/// per channel, CoreShowChannelsComplete — sent as one block so nothing interleaves.
fn core_show_channels(id: Option<&str>, channels: &[ChannelInfo]) -> Message {
    let with_id = |m: &mut Message| {
        if let Some(id) = id {
            m.push("ActionID", id);
        }
    };
    let mut block = Message::with("Response", "Success");
    with_id(&mut block);
    block
        .push("EventList", "start")
        .push("Message", "Channels will follow");
    let mut parts = vec![block];
    for c in channels {
        let mut e = Message::with("Event", "CoreShowChannel");
        with_id(&mut e);
        let secs = c.duration_secs;
        push_channel(&mut e, c);
        e.push("Application", "")
            .push("ApplicationData", "")
            .push(
                "Duration",
                format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
            )
            .push("BridgeId", "");
        parts.push(e);
    }
    let mut done = Message::with("Event", "CoreShowChannelsComplete");
    with_id(&mut done);
    done.push("EventList", "Complete")
        .push("ListItems", channels.len().to_string());
    parts.push(done);
    Message::batch(parts)
}

/// The channel fields Asterisk puts in channel events and listings, in its order.
pub fn push_channel(m: &mut Message, c: &ChannelInfo) {
    m.push("Channel", c.name.clone())
        .push("ChannelState", c.state.0)
        .push("ChannelStateDesc", c.state.1)
        .push("CallerIDNum", c.caller.clone())
        .push("CallerIDName", "<unknown>")
        .push("ConnectedLineNum", "<unknown>")
        .push("ConnectedLineName", "<unknown>")
        .push("Language", "en")
        .push("AccountCode", "")
        .push("Context", c.context.clone())
        .push("Exten", c.exten.clone())
        .push("Priority", "1")
        .push("Uniqueid", c.uniqueid.clone())
        .push("Linkedid", c.uniqueid.clone());
}

fn fully_booted(ami: &Ami) -> Message {
    let uptime = ami.started.elapsed().map_or(0, |d| d.as_secs());
    let mut m = Message::with("Event", "FullyBooted");
    m.push("Privilege", "system,all")
        .push("Uptime", uptime.to_string())
        .push("LastReload", uptime.to_string())
        .push("Status", "Fully Booted");
    m
}

/// An action that needs the media core: the immediate response, if any (Originate's
/// outcome follows later on `replies`).
fn perform(ami: &Ami, msg: &Message, replies: &mpsc::UnboundedSender<Message>) -> Option<Message> {
    let id = msg.get("ActionID").map(str::to_owned);
    let response = |kind: &str| {
        let mut m = Message::with("Response", kind);
        if let Some(id) = &id {
            m.push("ActionID", id.clone());
        }
        m
    };
    let action = msg.get("Action").unwrap_or("").to_ascii_lowercase();
    match action.as_str() {
        "originate" => originate(ami, msg, id.clone(), replies).unwrap_or_else(|reason| {
            let mut m = response("Error");
            m.push("Message", reason);
            Some(m)
        }),
        "corestatus" => {
            let status = ami.status.lock().map(|s| s.clone()).unwrap_or_default();
            let started: chrono_free::Stamp = ami.started.into();
            let mut m = response("Success");
            m.push("CoreStartupDate", started.date())
                .push("CoreStartupTime", started.time())
                .push("CoreReloadDate", started.date())
                .push("CoreReloadTime", started.time())
                .push("CoreCurrentCalls", status.active_calls.to_string())
                .push("CoreProcessedCalls", status.total_calls.to_string());
            Some(m)
        }
        "coreshowchannels" => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = ami.shared.commands.send(Command::Channels(tx));
            let replies = replies.clone();
            tokio::spawn(async move {
                let channels = rx.await.unwrap_or_default();
                let _ = replies.send(core_show_channels(id.as_deref(), &channels));
            });
            None
        }
        "hangup" => {
            let Some(channel) = msg.get("Channel").map(str::to_owned) else {
                let mut m = response("Error");
                m.push("Message", "No channel specified");
                return Some(m);
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = ami
                .shared
                .commands
                .send(Command::HangupChannel(channel, tx));
            let replies = replies.clone();
            tokio::spawn(async move {
                let found = rx.await.unwrap_or(false);
                let mut m = Message::with("Response", if found { "Success" } else { "Error" });
                if let Some(id) = id {
                    m.push("ActionID", id);
                }
                m.push(
                    "Message",
                    if found {
                        "Channel Hungup"
                    } else {
                        "No such channel"
                    },
                );
                let _ = replies.send(m);
            });
            None
        }
        other => {
            let mut m = response("Error");
            m.push(
                "Message",
                format!("{other}: not available in this version of Allerta yet"),
            );
            Some(m)
        }
    }
}

/// Asterisk's OriginateResponse `Reason` (the last control frame seen).
fn reason(status: DialStatus) -> u8 {
    match status {
        DialStatus::Answer => 4,
        DialStatus::Busy => 5,
        DialStatus::Congestion => 8,
        DialStatus::NoAnswer => 3,
        DialStatus::Cancel => 1,
        DialStatus::ChanUnavail => 0,
    }
}

fn originate(
    ami: &Ami,
    msg: &Message,
    id: Option<String>,
    replies: &mpsc::UnboundedSender<Message>,
) -> Result<Option<Message>, String> {
    let channel = msg
        .get("Channel")
        .ok_or("Channel not specified")?
        .to_owned();
    let rest = channel
        .strip_prefix("PJSIP/")
        .ok_or("only PJSIP/<number>@<trunk> channels can be originated")?;
    let (number, trunk) = rest
        .split_once('@')
        .ok_or("Channel must be PJSIP/<number>@<trunk>")?;
    if msg.get("Application").is_some() {
        return Err("Application/Data originate is not supported; use Context/Exten".into());
    }
    let context = msg
        .get("Context")
        .ok_or("Context not specified")?
        .to_owned();
    let exten = msg.get("Exten").unwrap_or("s").to_owned();
    let timeout_ms: u64 = msg
        .get("Timeout")
        .and_then(|t| t.parse().ok())
        .unwrap_or(30_000);
    let vars = msg
        .get_all("Variable")
        .flat_map(|v| v.split(','))
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let is_async = msg
        .get("Async")
        .is_some_and(|a| matches!(a.to_ascii_lowercase().as_str(), "true" | "yes" | "1"));
    let request = Originate {
        trunk: trunk.to_owned(),
        number: number.to_owned(),
        context: context.clone(),
        exten: exten.clone(),
        ring_timeout: Duration::from_millis(timeout_ms),
        vars,
    };
    let (dialled_tx, dialled_rx) = tokio::sync::oneshot::channel();
    let shared = ami.shared.clone();
    tokio::spawn(call::originate_reporting(request, shared, Some(dialled_tx)));
    let replies = replies.clone();
    let caller_id = msg.get("CallerID").unwrap_or("").to_owned();
    let id2 = id.clone();
    tokio::spawn(async move {
        let status = dialled_rx.await.unwrap_or(DialStatus::ChanUnavail);
        let ok = status == DialStatus::Answer;
        if !is_async {
            let mut m = Message::with("Response", if ok { "Success" } else { "Error" });
            if let Some(id) = &id2 {
                m.push("ActionID", id.clone());
            }
            m.push(
                "Message",
                if ok {
                    "Originate successfully queued"
                } else {
                    "Originate failed"
                },
            );
            let _ = replies.send(m);
        }
        let mut ev = Message::with("Event", "OriginateResponse");
        ev.push("Privilege", "call,all");
        if let Some(id) = &id2 {
            ev.push("ActionID", id.clone());
        }
        ev.push("Response", if ok { "Success" } else { "Failure" })
            .push("Channel", channel)
            .push("Context", context)
            .push("Exten", exten)
            .push("Application", "")
            .push("Data", "")
            .push("Reason", reason(status).to_string())
            .push("Uniqueid", "<null>")
            .push("CallerIDNum", caller_id)
            .push("CallerIDName", "<unknown>");
        let _ = replies.send(ev);
    });
    if is_async {
        let mut m = Message::with("Response", "Success");
        if let Some(id) = id {
            m.push("ActionID", id);
        }
        m.push("Message", "Originate successfully queued");
        return Ok(Some(m));
    }
    // Synchronous: the response comes when the dial ends, through `replies`.
    Ok(None)
}

/// Calendar date and time of a `SystemTime`, UTC, without a date crate.
mod chrono_free {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// A point in time split into a civil date and time (UTC).
    pub(super) struct Stamp {
        days: i64,
        secs: u64,
    }

    impl From<SystemTime> for Stamp {
        fn from(t: SystemTime) -> Self {
            let s = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            Self {
                days: (s / 86_400) as i64,
                secs: s % 86_400,
            }
        }
    }

    impl Stamp {
        /// `YYYY-MM-DD` (Howard Hinnant's civil_from_days).
        pub(super) fn date(&self) -> String {
            let z = self.days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z - era * 146_097;
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = doy - (153 * mp + 2) / 5 + 1;
            let m = if mp < 10 { mp + 3 } else { mp - 9 };
            let y = yoe + era * 400 + i64::from(m <= 2);
            format!("{y:04}-{m:02}-{d:02}")
        }

        /// `HH:MM:SS`.
        pub(super) fn time(&self) -> String {
            format!(
                "{:02}:{:02}:{:02}",
                self.secs / 3600,
                self.secs / 60 % 60,
                self.secs % 60
            )
        }
    }
}
