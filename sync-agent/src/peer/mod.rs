//! Driver: one sync session on an authenticated stream, as sender (master, `sender.rs`)
//! or receiver (backup, `receiver.rs`). The protocol decisions are in `proto` (handshake,
//! sender window, receiver order); this moves frames, reads the journal and files, and
//! performs the receiver's steps. Every `select!` branch is cancel-safe (`FrameReader::next`
//! keeps partial frames in its buffer); writes happen outside `select!`.

mod receiver;
mod sender;

pub use receiver::run_receiver;
pub use sender::run_sender;

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::divergence;
use crate::files::FileError;
use crate::node::Node;
use crate::proto::frame::{decode_path, DecodeError, CHUNK};
use crate::proto::receiver::ProtocolError;
use crate::proto::sender::AckError;
use crate::proto::{FileMeta, Kind, Message, Record};
use crate::replica::ApplyError;
use crate::snapshot::SnapshotError;

/// The sender sends a heartbeat this often when idle, and looks at the journal at least
/// this often (a writer's wake-up datagram may be lost).
const HEARTBEAT: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(100);
/// Silence from the other side for this long ends the session (then it reconnects).
const SILENCE: Duration = Duration::from_secs(5);
/// How long the backup may take to verify and install a snapshot.
const SNAPSHOT_ACK: Duration = Duration::from_secs(600);
/// The digests are compared only after this long without a new record.
const VERIFY_IDLE: Duration = Duration::from_secs(3);
/// Records read from the journal per batch.
const BATCH: u64 = 256;

/// Why a session ended. Peer faults and link faults end the session only; the next one
/// resumes from the last acknowledged record.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connection")]
    Io(#[from] io::Error),
    #[error("the peer closed the connection")]
    Closed,
    #[error("nothing heard from the peer for {secs} s")]
    Silent { secs: u64 },
    #[error("bad frame from the peer")]
    Decode(#[from] DecodeError),
    #[error("protocol")]
    Protocol(#[from] ProtocolError),
    #[error("bad acknowledgement")]
    Ack(#[from] AckError),
    #[error("the peer gave up: {reason}")]
    Peer { reason: String },
    #[error("unexpected message {what} during {phase}")]
    Unexpected { what: String, phase: &'static str },
    #[error("the peer sent a path this node refuses: {path}")]
    Refused { path: String },
    #[error("applying a record")]
    Apply(#[from] ApplyError),
    #[error("file")]
    File(#[from] FileError),
    #[error("snapshot")]
    Snapshot(#[from] SnapshotError),
    #[error("database")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "this node's tables differ from the master's at record {seq}: written behind the journal"
    )]
    DigestMismatch { seq: u64 },
    #[error("divergence journal")]
    Divergence(#[from] divergence::DivergenceError),
    #[error("divergent writes from the backup")]
    Inbox(#[from] journal::inbox::InboxError),
}

/// A digest of the tables being computed on a blocking thread with its own connection (a
/// read transaction beside the session's writes), so the session loop keeps moving.
type Digesting = tokio::task::JoinHandle<rusqlite::Result<(crate::proto::Pos, [u8; 32])>>;

fn start_digest(node: &Node) -> Digesting {
    let db = node.cfg.db.clone();
    tokio::task::spawn_blocking(move || {
        crate::digest::tables(&rusqlite::Connection::open_with_flags(
            db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?)
    })
}

/// The running digest's result; pending forever when none runs. Cancel-safe: the handle
/// stays in `digesting` until it has finished.
async fn join_digest(
    digesting: &mut Option<Digesting>,
) -> Result<(crate::proto::Pos, [u8; 32]), SessionError> {
    let Some(handle) = digesting else {
        return std::future::pending().await;
    };
    let result = handle.await;
    *digesting = None;
    Ok(result.map_err(io::Error::other)??)
}

/// Frames off a byte stream; `next` is cancel-safe.
pub struct FrameReader<R> {
    rd: R,
    buf: Vec<u8>,
    /// Bytes read so far (status).
    pub bytes: u64,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(rd: R) -> Self {
        Self {
            rd,
            buf: Vec::with_capacity(64 * 1024),
            bytes: 0,
        }
    }

    /// The next message if a whole one is already buffered (never waits).
    pub fn buffered(&mut self) -> Result<Option<Message>, SessionError> {
        match Message::decode(&self.buf)? {
            Some((m, used)) => {
                self.buf.drain(..used);
                Ok(Some(m))
            }
            None => Ok(None),
        }
    }

    /// The next message, or `Silent` if none comes within `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Message, SessionError> {
        tokio::time::timeout(limit, self.next())
            .await
            .map_err(|_| SessionError::Silent {
                secs: limit.as_secs(),
            })?
    }

    /// The next message; `Err(Closed)` at the end of the stream.
    pub async fn next(&mut self) -> Result<Message, SessionError> {
        loop {
            if let Some((m, used)) = Message::decode(&self.buf)? {
                self.buf.drain(..used);
                return Ok(m);
            }
            self.buf.reserve(CHUNK + 64);
            let n = self.rd.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(SessionError::Closed);
            }
            self.bytes += n as u64;
        }
    }
}

async fn send<W: AsyncWrite + Unpin>(
    node: &Node,
    wr: &mut W,
    m: &Message,
) -> Result<(), SessionError> {
    let mut out = Vec::new();
    m.encode(&mut out);
    wr.write_all(&out).await?;
    node.status().bytes_sent += out.len() as u64;
    Ok(())
}

fn describe(rec: &Record) -> String {
    match Kind::from_u8(rec.kind) {
        Some(Kind::Db) => format!("seq {}: database transaction", rec.pos.seq),
        Some(Kind::File) => match FileMeta::decode(&rec.body) {
            Ok(m) => format!("seq {}: file {} ({} bytes)", rec.pos.seq, m.path, m.size),
            Err(_) => format!("seq {}: file", rec.pos.seq),
        },
        Some(Kind::Schema) => format!("seq {}: schema change", rec.pos.seq),
        Some(Kind::Delete) => format!(
            "seq {}: delete {}",
            rec.pos.seq,
            decode_path(&rec.body).unwrap_or_default()
        ),
        None => format!("seq {}: unknown", rec.pos.seq),
    }
}
