//! Driver: SIP over UDP and TCP (RFC 3261 §18).
//!
//! ```text
//!  UDP socket ──recv──────────────────────────────▶ engine (reads the socket itself)
//!  TCP listener ─accept─▶ connection task ─frames─▶ net_rx ─▶ engine
//!                             ▲ write queue (bounded)
//!  engine ─send(peer)─▶ UDP send_to │ TCP: the connection's queue, or connect first
//! ```
//!
//! A TCP connection is framed by [`super::framing`]; a peer whose stream cannot be framed
//! (no Content-Length, too large) is no longer read, but the connection stays open for
//! [`DRAIN`] so that the answers owed to the requests it did send still go out on it.
//! Connections are found by the peer's address, so responses go back on the connection the
//! request came in on; when it has closed, a response goes to a new connection to the
//! request's source address and its Via sent-by port (§18.2.2, [`response_target`](super::message::response_target)).
//!
//! Limits, for a data network that may be hostile (the numbers are Kamailio's and pjsip's
//! orders of magnitude): at most [`MAX_CONNECTIONS`] accepted connections, [`PER_ADDRESS`]
//! from one address (beyond either, a connection is closed as soon as it is accepted); a
//! connection must deliver its first message within [`FIRST_MESSAGE`] and then one message
//! or keep-alive every [`IDLE`], else it is closed (a trickle of bytes that never makes a
//! message does not count). A failing `accept` (out of descriptors) is waited out, not spun on.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::endpoint::Peer;
use super::framing::{next_frame, Frame};
use super::message::{response_target, Transport};

/// What connection tasks tell the engine.
#[derive(Debug)]
pub enum NetEvent {
    /// A complete message from a stream.
    Message {
        /// From whom.
        peer: Peer,
        /// The message.
        bytes: bytes::Bytes,
    },
    /// A connection is up (accepted or connected); writes go to `writer`.
    Up {
        /// The remote address.
        addr: SocketAddr,
        /// Its write queue.
        writer: mpsc::Sender<Vec<u8>>,
    },
    /// A connection closed.
    Down {
        /// The remote address.
        addr: SocketAddr,
    },
}

/// Messages queued per TCP connection before the peer counts as stuck and is dropped.
const WRITE_QUEUE: usize = 256;
/// Accepted TCP connections open at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Accepted TCP connections open at once from one address.
pub const PER_ADDRESS: usize = 32;
/// How long an accepted connection has to send its first complete message.
pub const FIRST_MESSAGE: Duration = Duration::from_secs(10);
/// How long a connection may go without a complete message or keep-alive either way.
pub const IDLE: Duration = Duration::from_secs(600);
/// How long one write may take before the peer counts as not reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection whose stream cannot be framed stays open for our answers.
pub const DRAIN: Duration = Duration::from_secs(2);
/// How long to wait after `accept` fails before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The sockets of one SIP listening address.
pub struct Transports {
    /// The UDP socket (the engine reads it directly).
    pub udp: Arc<UdpSocket>,
    tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    net_tx: mpsc::Sender<NetEvent>,
    tasks: JoinSet<()>,
    /// Where the UDP socket is bound.
    pub local: SocketAddr,
}

impl Transports {
    /// Binds UDP (and, if `tcp`, a TCP listener) on `bind`; events go to `net_tx`.
    pub async fn bind(
        bind: SocketAddr,
        tcp: bool,
        net_tx: mpsc::Sender<NetEvent>,
    ) -> io::Result<Self> {
        let udp = UdpSocket::bind(bind).await?;
        let local = udp.local_addr()?;
        let sock = socket2::SockRef::from(&udp);
        // A burst of 400 calls/s with retransmissions must not overflow the default buffer.
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
        let mut tasks = JoinSet::new();
        if tcp {
            let listener = TcpListener::bind(local).await?;
            tasks.spawn(accept_loop(listener, net_tx.clone(), Limits::default()));
        }
        Ok(Self {
            udp: Arc::new(udp),
            tcp: HashMap::new(),
            net_tx,
            tasks,
            local,
        })
    }

    /// Notes a connection the engine learned of.
    pub fn on_event(&mut self, event: &NetEvent) {
        match event {
            NetEvent::Up { addr, writer } => {
                self.tcp.insert(*addr, writer.clone());
            }
            NetEvent::Down { addr } => {
                self.tcp.remove(addr);
            }
            NetEvent::Message { .. } => {}
        }
        while self.tasks.try_join_next().is_some() {}
    }

    /// Sends `bytes` to `peer`; a TCP peer without a connection is connected first.
    pub fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        match peer.transport {
            Transport::Udp => {
                if let Err(error) = self.udp.try_send_to(&bytes, peer.addr) {
                    // WouldBlock under overload is a dropped datagram, which SIP retransmits.
                    debug!(peer = %peer.addr, %error, "udp send failed");
                }
            }
            Transport::Tcp => match self.tcp.get(&peer.addr) {
                Some(writer) => {
                    debug!(peer = %peer.addr, len = bytes.len(), "tcp send");
                    if writer.try_send(bytes).is_err() {
                        warn!(peer = %peer.addr, "tcp peer not reading; dropping the connection");
                        self.tcp.remove(&peer.addr);
                    }
                }
                None => {
                    // A response whose connection has closed goes where §18.2.2 says.
                    let addr = response_target(&bytes, peer.addr);
                    if let Some(writer) = self.tcp.get(&addr) {
                        if writer.try_send(bytes).is_err() {
                            self.tcp.remove(&addr);
                        }
                        return;
                    }
                    debug!(peer = %addr, "tcp connect");
                    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
                    let _ = writer.try_send(bytes);
                    self.tcp.insert(addr, writer.clone());
                    self.tasks
                        .spawn(connect(addr, writer, queue, self.net_tx.clone()));
                }
            },
        }
    }
}

/// The limits of accepted TCP connections ([`Limits::default`]: the constants above; the
/// tests shorten the times).
#[derive(Debug, Clone, Copy)]
struct Limits {
    connections: usize,
    per_address: usize,
    first_message: Duration,
    idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections: MAX_CONNECTIONS,
            per_address: PER_ADDRESS,
            first_message: FIRST_MESSAGE,
            idle: IDLE,
        }
    }
}

async fn accept_loop(listener: TcpListener, net_tx: mpsc::Sender<NetEvent>, limits: Limits) {
    let mut conns = JoinSet::new();
    // Each connection task's address, by task id (a task that panicked still gives it back).
    let mut addresses: HashMap<tokio::task::Id, IpAddr> = HashMap::new();
    let mut per_address: HashMap<IpAddr, usize> = HashMap::new();
    let mut refusals = component::log_budget::LogBudget::new(10);
    loop {
        let accepted = listener.accept().await;
        // Connections that ended while we waited give their places back first.
        while let Some(ended) = conns.try_join_next_with_id() {
            let id = ended.map_or_else(|e| e.id(), |(id, ())| id);
            if let Some(ip) = addresses.remove(&id) {
                release(&mut per_address, ip);
            }
        }
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "tcp accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let from_there = per_address.get(&addr.ip()).copied().unwrap_or(0);
        if conns.len() >= limits.connections || from_there >= limits.per_address {
            if let Some(left_out) = refusals.admit(std::time::Instant::now()) {
                warn!(peer = %addr, open = conns.len(), from_there, left_out, "too many sip tcp connections; closed");
            }
            continue; // dropping the stream closes it
        }
        *per_address.entry(addr.ip()).or_default() += 1;
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        if net_tx.send(NetEvent::Up { addr, writer }).await.is_err() {
            return;
        }
        let net_tx = net_tx.clone();
        let task = conns.spawn(connection(
            stream,
            addr,
            queue,
            net_tx,
            limits.first_message,
            limits.idle,
        ));
        addresses.insert(task.id(), addr.ip());
    }
}

fn release(per_address: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = per_address.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_address.remove(&ip);
        }
    }
}

async fn connect(
    addr: SocketAddr,
    writer: mpsc::Sender<Vec<u8>>,
    queue: mpsc::Receiver<Vec<u8>>,
    net_tx: mpsc::Sender<NetEvent>,
) {
    match TcpStream::connect(addr).await {
        Ok(stream) => {
            if net_tx.send(NetEvent::Up { addr, writer }).await.is_ok() {
                connection(stream, addr, queue, net_tx, IDLE, IDLE).await;
            }
        }
        Err(error) => {
            warn!(peer = %addr, %error, "tcp connect failed");
            let _ = net_tx.send(NetEvent::Down { addr }).await;
        }
    }
}

/// Runs one connection until it closes; `first` is how long the peer has for its first
/// message, `idle` how long it may then stay silent.
async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    queue: mpsc::Receiver<Vec<u8>>,
    net_tx: mpsc::Sender<NetEvent>,
    first: Duration,
    idle: Duration,
) {
    serve(stream, addr, queue, &net_tx, first, idle).await;
    let _ = net_tx.send(NetEvent::Down { addr }).await;
}

async fn serve(
    mut stream: TcpStream,
    addr: SocketAddr,
    mut queue: mpsc::Receiver<Vec<u8>>,
    net_tx: &mpsc::Sender<NetEvent>,
    first: Duration,
    idle_after: Duration,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.split();
    let mut buf = BytesMut::with_capacity(8192);
    let peer = Peer {
        addr,
        transport: Transport::Tcp,
    };
    let idle = tokio::time::sleep(first);
    tokio::pin!(idle);
    // Set once the stream cannot be framed: nothing more is read, and the connection closes
    // when `idle` (now [`DRAIN`]) runs out, whatever is written meanwhile.
    let mut draining = false;
    loop {
        tokio::select! {
            () = &mut idle => {
                debug!(peer = %addr, draining, "sip tcp connection idle; closing");
                return;
            }
            read = rd.read_buf(&mut buf), if !draining => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => loop {
                    match next_frame(&mut buf) {
                        Ok(Some(Frame::Message(bytes))) => {
                            idle.as_mut().reset(tokio::time::Instant::now() + idle_after);
                            if net_tx.send(NetEvent::Message { peer, bytes }).await.is_err() {
                                return;
                            }
                        }
                        Ok(Some(Frame::Ping)) => {
                            idle.as_mut().reset(tokio::time::Instant::now() + idle_after);
                            if wr.write_all(b"\r\n").await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            warn!(peer = %addr, %error, "unframeable tcp stream; closing after our answers");
                            draining = true;
                            buf.clear();
                            idle.as_mut().reset(tokio::time::Instant::now() + DRAIN);
                            break;
                        }
                    }
                },
            },
            out = queue.recv() => match out {
                Some(bytes) => {
                    if !draining {
                        idle.as_mut().reset(tokio::time::Instant::now() + idle_after);
                    }
                    // A peer that stops reading must not hold the connection forever.
                    let written = tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&bytes)).await;
                    if !matches!(written, Ok(Ok(()))) {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::AsyncReadExt;

    const LIMITS: Limits = Limits {
        connections: 6,
        per_address: 3,
        first_message: Duration::from_millis(1000),
        idle: Duration::from_millis(1500),
    };

    const OPTIONS: &[u8] =
        b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\n\
        From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    async fn listening() -> (SocketAddr, mpsc::Receiver<NetEvent>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (net_tx, net_rx) = mpsc::channel(1024);
        tokio::spawn(accept_loop(listener, net_tx, LIMITS));
        (addr, net_rx)
    }

    /// How long until the server closes `stream` (reads everything until EOF).
    async fn closed_after(stream: &mut TcpStream) -> Duration {
        let start = Instant::now();
        let mut buf = [0u8; 256];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
        }
        start.elapsed()
    }

    #[tokio::test]
    async fn past_its_share_an_address_is_closed_at_once() {
        let (addr, _events) = listening().await;
        let mut held = Vec::new();
        for _ in 0..LIMITS.per_address {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut extra = TcpStream::connect(addr).await.unwrap();
        assert!(closed_after(&mut extra).await < LIMITS.first_message / 2);
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut again = TcpStream::connect(addr).await.unwrap();
        again.write_all(OPTIONS).await.unwrap();
        assert!(
            closed_after(&mut again).await >= LIMITS.idle / 2,
            "a closed connection gives its place back"
        );
    }

    #[tokio::test]
    async fn a_silent_or_trickling_connection_is_closed_and_a_talking_one_kept() {
        let (addr, mut events) = listening().await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let waited = closed_after(&mut silent).await;
        // tokio's timer counts whole milliseconds, so it may fire a fraction of one early.
        assert!(
            waited >= LIMITS.first_message - Duration::from_millis(2)
                && waited < LIMITS.first_message * 3,
            "{waited:?}"
        );
        // A byte at a time never makes a message, so it never buys time.
        let mut trickle = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        for b in OPTIONS.iter().take(30) {
            if trickle.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let waited = start.elapsed() + closed_after(&mut trickle).await;
        assert!(waited < LIMITS.first_message * 2, "{waited:?}");
        // Messages keep a connection open past the first deadline, each buying `idle`.
        let mut talking = TcpStream::connect(addr).await.unwrap();
        let opened = Instant::now();
        for i in 0..3 {
            if i > 0 {
                tokio::time::sleep(LIMITS.first_message - Duration::from_millis(50)).await;
            }
            talking.write_all(OPTIONS).await.unwrap();
        }
        let last = Instant::now();
        closed_after(&mut talking).await;
        let (lived, after_last) = (opened.elapsed(), last.elapsed());
        assert!(lived > LIMITS.first_message, "{lived:?}");
        assert!(
            after_last >= LIMITS.idle - Duration::from_millis(2) && after_last < LIMITS.idle * 2,
            "{after_last:?}"
        );
        let mut messages = 0;
        while let Ok(event) = events.try_recv() {
            messages += usize::from(matches!(event, NetEvent::Message { .. }));
        }
        assert_eq!(messages, 3);
    }

    #[tokio::test]
    async fn an_unframeable_stream_still_gets_the_answers_it_is_owed() {
        let (addr, mut events) = listening().await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        // A good request, then one whose two Content-Lengths differ: the stream is lost
        // after the first (RFC 4475 §3.3.9 over TCP).
        client.write_all(OPTIONS).await.unwrap();
        client
            .write_all(b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n")
            .await
            .unwrap();
        let mut writer = None;
        let mut got_message = false;
        while !(got_message && writer.is_some()) {
            match tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
                Ok(Some(NetEvent::Up { writer: w, .. })) => writer = Some(w),
                Ok(Some(NetEvent::Message { .. })) => got_message = true,
                other => panic!("{other:?}"),
            }
        }
        // The engine answers a little later, as it would.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let answer = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
        writer.unwrap().send(answer.clone()).await.unwrap();
        let mut got = Vec::new();
        let start = Instant::now();
        let mut buf = [0u8; 256];
        while let Ok(Ok(n)) = tokio::time::timeout(DRAIN * 2, client.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, answer, "the answer went out before the close");
        assert!(
            start.elapsed() < DRAIN + Duration::from_millis(500),
            "closed after draining"
        );
    }
}
