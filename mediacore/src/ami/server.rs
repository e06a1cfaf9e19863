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
//!
//! Before a login a client gets as little as can be: a connection from an address no user
//! of manager.conf admits is closed at accept, before the greeting (and before a TLS
//! handshake); at most `authlimit` connections wait to log in, a newcomer taking the place
//! of the one that waited longest, and at most `waiting::PER_ADDRESS` from one address;
//! one that has not logged in within `authtimeout` is closed; a failed login is answered a
//! second later and closes the connection; and what a client may make us buffer is one
//! message (`message::MAX_MESSAGE`). Each refusal is counted in the status (`ami`) and
//! logged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
use super::waiting::WaitingRoom;

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

/// The waiting room (`waiting`) and how to close each connection in it.
#[derive(Default)]
struct Lobby {
    room: WaitingRoom,
    closers: HashMap<u64, CancellationToken>,
}

/// A connection that has not logged in yet: its place in the lobby until it logs in or
/// ends, and the token that closes it when a newcomer takes its place.
struct NotLoggedIn {
    lobby: Option<Arc<Mutex<Lobby>>>,
    id: u64,
    evicted: CancellationToken,
}

impl NotLoggedIn {
    /// A place for a connection from `addr`, closing the one it replaces, if any.
    fn take(lobby: &Arc<Mutex<Lobby>>, addr: IpAddr, limit: usize) -> Option<Self> {
        let mut l = lobby.lock().ok()?;
        let place = l.room.admit(addr, limit)?;
        if let Some(old) = place.evicts.and_then(|id| l.closers.remove(&id)) {
            old.cancel();
        }
        let evicted = CancellationToken::new();
        l.closers.insert(place.id, evicted.clone());
        Some(Self {
            lobby: Some(lobby.clone()),
            id: place.id,
            evicted,
        })
    }

    /// Not counted anywhere (tests that drive a client directly).
    #[cfg(test)]
    fn none() -> Self {
        Self {
            lobby: None,
            id: 0,
            evicted: CancellationToken::new(),
        }
    }

    /// Logged in: the place is free for another.
    fn release(&mut self) {
        if let Some(lobby) = self.lobby.take() {
            if let Ok(mut l) = lobby.lock() {
                l.room.leave(self.id);
                l.closers.remove(&self.id);
            }
        }
    }
}

impl Drop for NotLoggedIn {
    fn drop(&mut self) {
        self.release();
    }
}

/// Counts a refusal in the status the supervisor and operators read.
fn count(ami: &Ami, which: impl FnOnce(&mut crate::status::AmiRefusals) -> &mut u64) {
    if let Ok(mut status) = ami.status.lock() {
        *which(&mut status.ami) += 1;
    }
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
    let lobby = Arc::new(Mutex::new(Lobby::default()));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // No greeting, no handshake, no task for an address nobody may log in
                    // from, nor beyond `authlimit` connections waiting to log in.
                    let users = ami.users.borrow().clone();
                    if !users.admits(peer.ip()) {
                        count(&ami, |c| &mut c.not_permitted);
                        debug!(%peer, "ami connection from an address no user is permitted from; closed");
                        continue;
                    }
                    let Some(place) = NotLoggedIn::take(&lobby, peer.ip(), users.auth_limit) else {
                        count(&ami, |c| &mut c.over_auth_limit);
                        debug!(%peer, "ami: this address has its share of connections waiting to log in; closed");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let events = ami.events.subscribe();
                    let (ami, cancel) = (ami.clone(), cancel.clone());
                    match tls.clone() {
                        None => {
                            clients.spawn(client(stream, peer, place, ami, events, cancel));
                        }
                        Some(acceptor) => {
                            clients.spawn(async move {
                                match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => client(stream, peer, place, ami, events, cancel).await,
                                    Ok(Err(error)) => warn!(%peer, %error, "ami tls handshake failed"),
                                    Err(_) => warn!(%peer, "ami tls handshake timed out"),
                                }
                            });
                        }
                    }
                }
                Err(error) => {
                    // Out of descriptors, most likely: wait it out rather than spin on it.
                    warn!(%error, "ami accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
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
    mut place: NotLoggedIn,
    ami: Arc<Ami>,
    mut events: broadcast::Receiver<Arc<Event>>,
    cancel: CancellationToken,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut users_rx = ami.users.subscribe();
    let users = users_rx.borrow_and_update().clone();
    let login_by = tokio::time::Instant::now() + users.auth_timeout;
    let mut session = Session::new(users, peer.ip());
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
                Ok(Err(error)) => {
                    debug!(%peer, %error, "ami client: write failed; closing");
                    return;
                }
                Err(_) => {
                    warn!(%peer, "ami client stopped reading; dropping it");
                    return;
                }
            }
            outbuf.clear();
        }
        if close {
            debug!(%peer, "ami connection closed by us");
            let _ = wr.shutdown().await;
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(login_by), if session.user().is_none() => {
                count(&ami, |c| &mut c.auth_timeouts);
                debug!(%peer, "ami client did not log in within authtimeout; closing");
                close = true;
            }
            _ = place.evicted.cancelled(), if session.user().is_none() => {
                count(&ami, |c| &mut c.evicted);
                debug!(%peer, "ami client waited longest without logging in and a newcomer took its place; closing");
                close = true;
            }
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
                    Ok(0) => {
                        debug!(%peer, "ami client closed the connection");
                        return;
                    }
                    Err(error) => {
                        debug!(%peer, %error, "ami client: read failed; closing");
                        return;
                    }
                    Ok(_) => {}
                }
                loop {
                    let msg = match Message::decode(&mut inbuf) {
                        Ok(Some(msg)) => msg,
                        Ok(None) => break,
                        Err(error) => {
                            count(&ami, |c| &mut c.unframeable);
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
                            // Only a failed login pauses (the session's FAILED_LOGIN_PAUSE).
                            Output::Pause(pause) => {
                                count(&ami, |c| &mut c.failed_logins);
                                warn!(%peer, "ami login failed; closing the connection");
                                tokio::time::sleep(pause).await;
                            }
                            Output::Perform(m) => {
                                if let Some(reply) = super::actions::perform(&ami, &m, &replies_tx) {
                                    reply.encode(&mut outbuf);
                                }
                            }
                        }
                    }
                    if !was_in && session.user().is_some() {
                        place.release();
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
            pins: Mutex::default(),
            events: None,
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
            pjsip: None,
            reload: None,
            timeouts: Arc::default(),
        })
    }

    /// Connects a client over an in-memory pipe of `window` bytes and logs it in.
    async fn connect(
        ami: &Arc<Ami>,
        window: usize,
        cancel: &CancellationToken,
    ) -> tokio::io::DuplexStream {
        let mut ours = open(ami, window, cancel);
        ours.write_all(b"Action: Login\r\nUsername: u\r\nSecret: s\r\n\r\n")
            .await
            .expect("login");
        ours
    }

    /// A client connected over an in-memory pipe, not logged in.
    fn open(ami: &Arc<Ami>, window: usize, cancel: &CancellationToken) -> tokio::io::DuplexStream {
        let (ours, theirs) = tokio::io::duplex(window);
        let peer: SocketAddr = "10.0.0.1:4000".parse().expect("addr");
        tokio::spawn(client(
            theirs,
            peer,
            NotLoggedIn::none(),
            ami.clone(),
            ami.events.subscribe(),
            cancel.clone(),
        ));
        ours
    }

    fn with_users(ami: Arc<Ami>, conf: &str) -> Arc<Ami> {
        let users = Users::parse_str(conf, "manager.conf").expect("manager.conf");
        ami.users.send_replace(Arc::new(users));
        ami
    }

    fn refusals(ami: &Ami) -> crate::status::AmiRefusals {
        ami.status.lock().expect("status").ami
    }

    #[tokio::test]
    async fn a_client_that_does_not_log_in_is_closed_after_authtimeout() {
        let ami = with_users(
            ami(16),
            "[general]\nauthtimeout = 1\n[u]\nsecret = s\nread = all\nwrite = all\n",
        );
        let cancel = CancellationToken::new();
        let mut idle = open(&ami, 4096, &cancel);
        let started = std::time::Instant::now();
        let text = read_all(&mut idle, Duration::from_secs(3)).await;
        let took = started.elapsed();
        assert!(text.starts_with("Asterisk Call Manager/"), "{text}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
            "closed after {took:?}"
        );
        assert_eq!(refusals(&ami).auth_timeouts, 1);
        // A client that logs in in time stays.
        let mut in_time = connect(&ami, 4096, &cancel).await;
        let text = read_all(&mut in_time, Duration::from_millis(1500)).await;
        assert!(text.contains("Authentication accepted"), "{text}");
        in_time
            .write_all(b"Action: Ping\r\n\r\n")
            .await
            .expect("ping");
        let text = read_all(&mut in_time, Duration::from_millis(300)).await;
        assert!(text.contains("Ping: Pong"), "{text}");
    }

    #[tokio::test]
    async fn a_failed_login_is_answered_a_second_later_and_closes_the_connection() {
        let ami = ami(16);
        let cancel = CancellationToken::new();
        let mut guesser = open(&ami, 4096, &cancel);
        guesser
            .write_all(b"Action: Login\r\nUsername: u\r\nSecret: guess\r\n\r\n")
            .await
            .expect("login");
        let started = std::time::Instant::now();
        let text = read_all(&mut guesser, Duration::from_secs(3)).await;
        assert!(
            text.ends_with("Message: Authentication failed\r\n\r\n"),
            "{text}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(950),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(refusals(&ami).failed_logins, 1);
    }

    #[tokio::test]
    async fn a_stream_of_lines_without_a_colon_is_cut_off_at_one_message() {
        // `yes | nc node 5038` (issue 16): closed once one message's worth has come, so
        // the client never holds more than that of ours.
        let ami = ami(16);
        let cancel = CancellationToken::new();
        let mut flood = open(&ami, 1 << 20, &cancel);
        let writer = tokio::spawn(async move {
            let chunk = b"y\n".repeat(4096);
            for _ in 0..256 {
                if flood.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            read_all(&mut flood, Duration::from_secs(1)).await
        });
        let text = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("closed in time")
            .expect("writer");
        assert!(
            text.contains("Message: more than 512 lines in one message"),
            "{text}"
        );
        assert_eq!(refusals(&ami).unframeable, 1);
    }

    #[tokio::test]
    async fn no_greeting_for_an_address_nobody_is_permitted_from_nor_beyond_authlimit() {
        let ami = with_users(
            ami(16),
            "[general]\nauthlimit = 2\n\
             [u]\nsecret = s\nread = all\nwrite = all\n\
             deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n",
        );
        let cancel = CancellationToken::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(serve(listener, None, ami.clone(), cancel.clone()));
        let from = |ip: &str| {
            let ip: std::net::IpAddr = ip.parse().expect("ip");
            async move {
                let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                socket.bind((ip, 0).into()).expect("bind");
                socket.connect(addr).await.expect("connect")
            }
        };
        let greeting = |mut s: tokio::net::TcpStream| async move {
            let mut buf = [0u8; 64];
            match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                Ok(Ok(n)) => (String::from_utf8_lossy(&buf[..n]).into_owned(), s),
                other => panic!("no answer: {other:?}"),
            }
        };
        let (said, _) = greeting(from("127.0.0.2").await).await;
        assert_eq!(said, "", "closed at accept, before the greeting");
        assert_eq!(refusals(&ami).not_permitted, 1);
        let (first, mut first_stream) = greeting(from("127.0.0.1").await).await;
        let (second, _second_stream) = greeting(from("127.0.0.1").await).await;
        assert!(first.starts_with("Asterisk Call Manager/") && second.starts_with("Asterisk"));
        let (third, _) = greeting(from("127.0.0.1").await).await;
        assert_eq!(
            third, "",
            "a third from one address is over its share (authlimit 2)"
        );
        assert_eq!(refusals(&ami).over_auth_limit, 1);
        // One logs in: its place is free for another.
        first_stream
            .write_all(b"Action: Login\r\nUsername: u\r\nSecret: s\r\n\r\n")
            .await
            .expect("login");
        let mut buf = [0u8; 256];
        let n = first_stream.read(&mut buf).await.expect("answer");
        assert!(String::from_utf8_lossy(&buf[..n]).contains("Authentication accepted"));
        let (fourth, _) = greeting(from("127.0.0.1").await).await;
        assert!(fourth.starts_with("Asterisk Call Manager/"), "{fourth:?}");
        cancel.cancel();
    }

    #[tokio::test]
    async fn connections_that_only_wait_cannot_keep_a_login_out() {
        // authlimit 4, all places held by silent connections from other addresses: a newcomer
        // takes the longest-waiting one's place and logs in; the evicted one is closed.
        let ami = with_users(
            ami(16),
            "[general]\nauthlimit = 4\n[u]\nsecret = s\nread = all\nwrite = all\n",
        );
        let cancel = CancellationToken::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(serve(listener, None, ami.clone(), cancel.clone()));
        let mut holders = Vec::new();
        for last in 2..6u8 {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.bind(([127, 0, 0, last], 0).into()).expect("bind");
            let mut s = socket.connect(addr).await.expect("connect");
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.expect("greeting");
            assert!(n > 0);
            holders.push(s);
        }
        let mut app = tokio::net::TcpStream::connect(addr).await.expect("connect");
        app.write_all(b"Action: Login\r\nUsername: u\r\nSecret: s\r\n\r\n")
            .await
            .expect("login");
        let text = read_tcp(&mut app, Duration::from_millis(500)).await;
        assert!(text.contains("Authentication accepted"), "{text}");
        let oldest = read_tcp(&mut holders[0], Duration::from_secs(1)).await;
        assert_eq!(oldest, "", "the longest-waiting holder was closed");
        assert_eq!(refusals(&ami).evicted, 1);
        cancel.cancel();
    }

    /// What arrives on `s` until it closes or is quiet for `quiet`.
    async fn read_tcp(s: &mut tokio::net::TcpStream, quiet: Duration) -> String {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout(quiet, s.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&text).into_owned()
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
