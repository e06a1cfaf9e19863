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
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::context::Ami;
use super::events::{self, Event};
use super::message::Message;
use super::session::{Output, Session};
use super::users::Tls;

/// Events buffered per client before a slow one is dropped.
pub const EVENT_BACKLOG: usize = 4096;

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How long a TLS client has to finish its handshake.
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// The TLS listener's acceptor, from the PEM files `manager.conf` names.
pub fn tls_acceptor(tls: &Tls) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context as _;
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("AMI TLS certificate {}", tls.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .with_context(|| format!("AMI TLS private key {}", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("AMI TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "AMI TLS: {} and {} do not make a certificate and its key",
                tls.cert.display(),
                tls.key.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts clients until `cancel`; with `tls`, each connection first completes a TLS
/// handshake (AMI over TLS, port 5039).
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ami: Arc<Ami>,
    cancel: CancellationToken,
) {
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let events = ami.events.subscribe();
                    let (ami, cancel) = (ami.clone(), cancel.clone());
                    match tls.clone() {
                        None => {
                            clients.spawn(client(stream, peer, ami, events, cancel));
                        }
                        Some(acceptor) => {
                            clients.spawn(async move {
                                match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => client(stream, peer, ami, events, cancel).await,
                                    Ok(Err(error)) => warn!(%peer, %error, "ami tls handshake failed"),
                                    Err(_) => warn!(%peer, "ami tls handshake timed out"),
                                }
                            });
                        }
                    }
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

async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    ami: Arc<Ami>,
    mut events: broadcast::Receiver<Arc<Event>>,
    cancel: CancellationToken,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut users_rx = ami.users.subscribe();
    let mut session = Session::new(users_rx.borrow_and_update().clone(), peer.ip());
    let (replies_tx, mut replies_rx) = mpsc::unbounded_channel::<Message>();
    let mut inbuf = BytesMut::with_capacity(4096);
    let mut outbuf: Vec<u8> = Session::greeting().to_vec();
    let mut out = Vec::new();
    let mut close = false;
    debug!(%peer, "ami client connected");
    loop {
        // Flush before waiting, outside select! (a write is not cancel safe).
        if !outbuf.is_empty() {
            // TLS buffers inside the stream: flush pushes it out (a no-op on TCP).
            let write = async {
                wr.write_all(&outbuf).await?;
                wr.flush().await
            };
            match tokio::time::timeout(ami.write_timeout, write).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    warn!(%peer, "ami client stopped reading; dropping it");
                    return;
                }
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
            Ok(()) = users_rx.changed() => {
                let users = users_rx.borrow_and_update().clone();
                let user = session.user().unwrap_or("").to_owned();
                if session.users_changed(users, &mut out) {
                    info!(%peer, %user, "ami session closed: its user was removed or changed in manager.conf");
                    close = true;
                }
                out.clear();
            }
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Mutex, RwLock};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::ami::users::{Classes, Users};
    use crate::call::shared::Shared;

    /// An AMI with a small event ring, no SIP engine behind it.
    fn ami(ring: usize) -> Arc<Ami> {
        let (commands, _) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            dialplan: RwLock::new(Arc::new(
                crate::dialplan::parse::Dialplan::parse_str("", "none").expect("empty plan"),
            )),
            prompts_dir: "/nonexistent".into(),
            recordings_dir: "/nonexistent".into(),
            prompts: Mutex::new(HashMap::new()),
            ports: crate::media::Ports::new(40_000..=40_010),
            media_ip: "127.0.0.1".parse().expect("ip"),
            rtp_timeout: Duration::from_secs(30),
            codecs: HashMap::new(),
            commands,
            pacer: crate::pacer::Pacer::start(0).expect("pacer"),
            live: crate::live::LiveChannels::default(),
            store: None,
            status: Arc::default(),
        });
        let users = Users::parse_str("[u]\nsecret = s\nread = all\nwrite = all\n", "m")
            .expect("manager.conf");
        Arc::new(Ami {
            users: tokio::sync::watch::Sender::new(Arc::new(users)),
            shared,
            status: Arc::default(),
            events: broadcast::channel(ring).0,
            started: SystemTime::now(),
            write_timeout: Duration::from_millis(300),
            store: None,
            peer: None,
        })
    }

    /// Connects a client over an in-memory pipe of `window` bytes and logs it in.
    async fn connect(
        ami: &Arc<Ami>,
        window: usize,
        cancel: &CancellationToken,
    ) -> tokio::io::DuplexStream {
        let (mut ours, theirs) = tokio::io::duplex(window);
        let peer: SocketAddr = "10.0.0.1:4000".parse().expect("addr");
        tokio::spawn(client(
            theirs,
            peer,
            ami.clone(),
            ami.events.subscribe(),
            cancel.clone(),
        ));
        ours.write_all(b"Action: Login\r\nUsername: u\r\nSecret: s\r\n\r\n")
            .await
            .expect("login");
        ours
    }

    async fn read_all(stream: &mut tokio::io::DuplexStream, until: Duration) -> String {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout(until, stream.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped_and_the_others_get_every_event() {
        let ami = ami(16);
        let cancel = CancellationToken::new();
        let mut stalled = connect(&ami, 1024, &cancel).await;
        let mut reader = connect(&ami, 64 * 1024, &cancel).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reading = tokio::spawn(async move {
            let text = read_all(&mut reader, Duration::from_secs(2)).await;
            text.matches("Event: Newchannel").count()
        });
        for i in 0..500 {
            let mut e = events::fully_booted(i);
            e.message = Message::with("Event", "Newchannel");
            e.message.push("Uniqueid", i.to_string());
            e.class = Classes::named("call").expect("class");
            let _ = ami.events.send(e.shared());
            // An event every 2 ms: a reading client keeps up with a 16-event ring.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(
            reading.await.expect("reader"),
            500,
            "the reading client got all"
        );
        // The stalled one got what fitted in its window, then was cut off: reading it
        // now ends (EOF) instead of waiting for ever.
        let text = read_all(&mut stalled, Duration::from_secs(2)).await;
        let got = text.matches("Event: Newchannel").count();
        assert!(got < 500, "{got}");
        let mut buf = [0u8; 16];
        let eof = tokio::time::timeout(Duration::from_secs(1), stalled.read(&mut buf)).await;
        assert!(matches!(eof, Ok(Ok(0))), "dropped: {eof:?}");
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_told_why_before_it_is_dropped() {
        let ami = ami(16);
        let cancel = CancellationToken::new();
        let mut slow = connect(&ami, 64 * 1024, &cancel).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // 100 events at once: more than the ring holds before the client task runs.
        for i in 0..100 {
            let mut e = events::fully_booted(i);
            e.message = Message::with("Event", "Newchannel");
            e.class = Classes::named("call").expect("class");
            let _ = ami.events.send(e.shared());
        }
        let text = read_all(&mut slow, Duration::from_secs(1)).await;
        assert!(text.contains("Message: Too slow: "), "{text}");
    }
}
