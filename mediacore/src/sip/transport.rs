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
//! (no Content-Length, too large) is disconnected. Connections are found by the peer's
//! address, so responses go back on the connection the request came in on (§18.2.2).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::endpoint::Peer;
use super::framing::{next_frame, Frame};
use super::message::Transport;

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
            tasks.spawn(accept_loop(listener, net_tx.clone()));
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
                    debug!(peer = %peer.addr, "tcp connect");
                    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
                    let _ = writer.try_send(bytes);
                    self.tcp.insert(peer.addr, writer.clone());
                    self.tasks
                        .spawn(connect(peer.addr, writer, queue, self.net_tx.clone()));
                }
            },
        }
    }
}

async fn accept_loop(listener: TcpListener, net_tx: mpsc::Sender<NetEvent>) {
    let mut conns = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let (writer, queue) = mpsc::channel(WRITE_QUEUE);
                if net_tx.send(NetEvent::Up { addr, writer }).await.is_err() {
                    return;
                }
                conns.spawn(connection(stream, addr, queue, net_tx.clone()));
            }
            Err(error) => warn!(%error, "tcp accept failed"),
        }
        while conns.try_join_next().is_some() {}
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
                connection(stream, addr, queue, net_tx).await;
            }
        }
        Err(error) => {
            warn!(peer = %addr, %error, "tcp connect failed");
            let _ = net_tx.send(NetEvent::Down { addr }).await;
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    addr: SocketAddr,
    mut queue: mpsc::Receiver<Vec<u8>>,
    net_tx: mpsc::Sender<NetEvent>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.split();
    let mut buf = BytesMut::with_capacity(8192);
    let peer = Peer {
        addr,
        transport: Transport::Tcp,
    };
    loop {
        tokio::select! {
            read = rd.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => loop {
                    match next_frame(&mut buf) {
                        Ok(Some(Frame::Message(bytes))) => {
                            if net_tx.send(NetEvent::Message { peer, bytes }).await.is_err() {
                                return;
                            }
                        }
                        Ok(Some(Frame::Ping)) => {
                            if wr.write_all(b"\r\n").await.is_err() {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            warn!(peer = %addr, %error, "closing unframeable tcp stream");
                            let _ = net_tx.send(NetEvent::Down { addr }).await;
                            return;
                        }
                    }
                },
            },
            out = queue.recv() => match out {
                Some(bytes) => {
                    if wr.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let _ = net_tx.send(NetEvent::Down { addr }).await;
}
