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
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::events::{self, Event};
use super::message::Message;
use super::session::{Output, Session};
use super::users::Users;
use crate::call::Shared;
use crate::engine::Status;

/// Events buffered per client before a slow one is dropped.
pub const EVENT_BACKLOG: usize = 4096;

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
    // Each client task sees the cancel too and sends its Shutdown event: give them a
    // moment to flush it before aborting what is left (a client that does not read).
    let flushed = async { while clients.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), flushed).await;
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
                // We stop on purpose (the service is stopping): Asterisk says Cleanly.
                debug!(%peer, "ami client told of the shutdown");
                if session.wants(&events::shutdown(true)) {
                    events::shutdown(true).message.encode(&mut outbuf);
                }
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
                                if let Some(reply) = super::actions::perform(&ami, &m, &replies_tx) {
                                    reply.encode(&mut outbuf);
                                }
                            }
                        }
                    }
                    if !was_in && session.user().is_some() {
                        info!(%peer, user = session.user().unwrap_or(""), "ami login");
                        let uptime = ami.started.elapsed().map_or(0, |d| d.as_secs());
                        let booted = events::fully_booted(uptime);
                        if session.wants(&booted) {
                            booted.message.encode(&mut outbuf);
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
                    if session.wants(&event) {
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
