//! Driver: one sync session on an authenticated stream, as sender (master) or receiver
//! (backup). The protocol decisions are in `proto` (handshake, sender window, receiver
//! order); this moves frames, reads the journal and files, and performs the receiver's
//! steps. Every `select!` branch is cancel-safe (`FrameReader::next` keeps partial frames
//! in its buffer); writes happen outside `select!`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::divergence;
use crate::files::{self, FileError, Incoming};
use crate::journal;
use crate::node::Node;
use crate::proto::frame::{decode_path, DecodeError, CHUNK};
use crate::proto::handshake::{self, Local, Plan};
use crate::proto::receiver::{ProtocolError, Receiver, Step};
use crate::proto::sender::{AckError, Sender};
use crate::proto::{FileMeta, Hello, Kind, Message, Pos, Record, SnapshotReason};
use crate::replica::{self, ApplyError, FileOutcome};
use crate::snapshot::{self, SnapshotError};

/// The sender sends a heartbeat this often when idle, and looks at the journal at least
/// this often (a writer's wake-up datagram may be lost).
const HEARTBEAT: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(100);
/// Silence from the other side for this long ends the session (then it reconnects).
const SILENCE: Duration = Duration::from_secs(5);
/// How long the backup may take to verify and install a snapshot.
const SNAPSHOT_ACK: Duration = Duration::from_secs(600);
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
    #[error("divergence journal")]
    Divergence(#[from] divergence::DivergenceError),
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

// ---------------------------------------------------------------------------------------
// Sender (master)

/// One session as the sender, until an error, the peer leaves, or `cancel`.
#[tracing::instrument(name = "sync", skip_all, fields(%peer, role = "sender"))]
pub async fn run_sender<S>(
    node: &Node,
    stream: S,
    peer: String,
    cancel: CancellationToken,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = FrameReader::new(rd);
    let (head, history, low) = node.db(|c| -> rusqlite::Result<_> {
        Ok((journal::head(c)?, journal::history(c)?, journal::low(c)?))
    })?;
    send(
        node,
        &mut wr,
        &Message::Hello(Hello {
            node: node.cfg.node.clone(),
            head,
            history: history.clone(),
        }),
    )
    .await?;
    let hello = match tokio::time::timeout(SILENCE, reader.next()).await {
        Err(_) => {
            return Err(SessionError::Silent {
                secs: SILENCE.as_secs(),
            })
        }
        Ok(Ok(Message::Hello(h))) => h,
        Ok(Ok(Message::Error { reason })) => return Err(SessionError::Peer { reason }),
        Ok(Ok(m)) => {
            return Err(SessionError::Unexpected {
                what: format!("{m:?}").chars().take(60).collect(),
                phase: "hello",
            })
        }
        Ok(Err(e)) => return Err(e),
    };
    let plan = handshake::plan(
        &Local {
            head,
            history: &history,
            low,
        },
        hello.head,
        &hello.history,
    );
    info!(peer_node = %hello.node, ?head, peer_head = ?hello.head, ?plan, "session started");
    let mut sender = match plan {
        Plan::Stream { from } => Sender::new(from, hello.head),
        Plan::Snapshot(reason) => {
            let head = send_snapshot(node, &mut wr, reason).await?;
            wait_snapshot_ack(node, &mut reader, &mut wr, head).await?;
            Sender::new(head.seq + 1, head)
        }
    };
    {
        let mut st = node.status();
        st.peer = Some(peer.clone());
        st.other = sender.acked();
        st.settle(Instant::now());
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut poll = tokio::time::interval(POLL);
    let mut last_heard = Instant::now();
    let mut head = head;
    loop {
        let sendable = sender.sendable(head.seq);
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(()),
            m = reader.next() => {
                last_heard = Instant::now();
                match m? {
                    Message::Ack(pos) => {
                        sender.on_ack(pos)?;
                        let mut st = node.status();
                        st.other = sender.acked();
                        st.head = head;
                        st.bytes_received = reader.bytes;
                        st.settle(Instant::now());
                    }
                    Message::Want { path } => send_repair(node, &mut wr, &path).await?,
                    Message::Error { reason } => return Err(SessionError::Peer { reason }),
                    m => return Err(SessionError::Unexpected { what: format!("{m:?}").chars().take(60).collect(), phase: "streaming" }),
                }
            }
            () = std::future::ready(()), if sendable > 0 => {
                let from = sender.next();
                let records = node.db(|c| journal::read_from(c, from, sendable.min(BATCH)))?;
                if records.first().map(|r| r.pos.seq) != Some(from) {
                    // Pruned under us: the next session will send a snapshot.
                    return Err(SessionError::Unexpected { what: format!("record {from} missing from the journal"), phase: "streaming" });
                }
                for rec in records {
                    send_record(node, &mut wr, &rec).await?;
                    sender.sent(1);
                    node.status().records += 1;
                }
                wr.flush().await?;
            }
            () = node.wake.notified() => {
                head = node.db(|c| journal::head(c))?;
            }
            _ = poll.tick() => {
                head = node.db(|c| journal::head(c))?;
                if last_heard.elapsed() > SILENCE {
                    return Err(SessionError::Silent { secs: SILENCE.as_secs() });
                }
            }
            _ = heartbeat.tick() => {
                send(node, &mut wr, &Message::Heartbeat { head, now_ms: journal::now_ms() }).await?;
                node.status().head = head;
            }
        }
    }
}

/// A record, and for a file record its content as it is now on disk: if the file changed
/// or vanished since it was journaled, the content is cut short with `FileEnd { ok: false }`
/// (a later record carries the newer version).
async fn send_record<W: AsyncWrite + Unpin>(
    node: &Node,
    wr: &mut W,
    rec: &Record,
) -> Result<(), SessionError> {
    send(node, wr, &Message::Record(rec.clone())).await?;
    if rec.kind == Kind::File as u8 {
        let meta = FileMeta::decode(&rec.body)?;
        let ok = send_content(node, wr, &node.cfg.shared_dir, &meta).await?;
        if !ok {
            debug!(path = %meta.path, seq = rec.pos.seq, "file changed since journaled; superseded");
        }
    }
    Ok(())
}

/// Chunks of `meta.path` (at most `meta.size` bytes), then `FileEnd`; true if the content
/// sent is exactly the journaled version.
async fn send_content<W: AsyncWrite + Unpin>(
    node: &Node,
    wr: &mut W,
    root: &Path,
    meta: &FileMeta,
) -> Result<bool, SessionError> {
    let mut hasher = blake3::Hasher::new();
    let mut sent = 0u64;
    let mut ok = false;
    if let Ok(mut file) = tokio::fs::File::open(root.join(&meta.path)).await {
        let mut buf = vec![0; CHUNK];
        loop {
            let room = (meta.size - sent).min(CHUNK as u64) as usize;
            // One byte more than announced tells us the file grew.
            let want = if room == 0 { 1 } else { room };
            let Ok(n) = file.read(&mut buf[..want]).await else {
                break;
            };
            if n == 0 {
                ok = sent == meta.size && *hasher.finalize().as_bytes() == meta.hash;
                break;
            }
            if room == 0 {
                break; // grew
            }
            hasher.update(&buf[..n]);
            sent += n as u64;
            send(node, wr, &Message::Chunk(buf[..n].to_vec())).await?;
        }
    }
    send(node, wr, &Message::FileEnd { ok }).await?;
    Ok(ok)
}

/// Answers a `Want`: the file's current version (or nothing, if it is not replicated).
async fn send_repair<W: AsyncWrite + Unpin>(
    node: &Node,
    wr: &mut W,
    path: &str,
) -> Result<(), SessionError> {
    if node.exclusions.check(path).is_err() {
        warn!(%path, "the peer wants a path that is not replicated; ignored");
        return Ok(());
    }
    let root = node.cfg.shared_dir.clone();
    let Ok(meta) = tokio::task::block_in_place(|| files::stat_and_hash(&root, path)) else {
        return Ok(()); // gone: its delete record is in the journal
    };
    send(node, wr, &Message::Repair(meta.clone())).await?;
    send_content(node, wr, &root, &meta).await?;
    Ok(())
}

/// Takes a snapshot and sends it; returns its head once the receiver acknowledged it.
async fn send_snapshot<W: AsyncWrite + Unpin>(
    node: &Node,
    wr: &mut W,
    reason: SnapshotReason,
) -> Result<Pos, SessionError> {
    let path = node.cfg.state_dir.join("snapshot-out.db");
    tokio::fs::create_dir_all(&node.cfg.state_dir).await?;
    let started = Instant::now();
    // On its own connection and thread, while heartbeats keep the backup from giving up
    // on a silent master (a large database takes seconds).
    let (db, out) = (node.cfg.db.clone(), path.clone());
    let mut taking = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(&db)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        snapshot::take(&conn, &out)
    });
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let taken = loop {
        tokio::select! {
            r = &mut taking => break r.map_err(io::Error::other)??,
            _ = heartbeat.tick() => {
                let head = node.status().head;
                send(node, wr, &Message::Heartbeat { head, now_ms: journal::now_ms() }).await?;
                wr.flush().await?;
            }
        }
    };
    info!(?reason, head = ?taken.head, size = taken.size, took_ms = started.elapsed().as_millis() as u64, "sending a snapshot");
    send(
        node,
        wr,
        &Message::SnapshotBegin {
            reason,
            head: taken.head,
            size: taken.size,
            hash: taken.hash,
        },
    )
    .await?;
    let mut file = tokio::fs::File::open(&path).await?;
    let mut buf = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        send(node, wr, &Message::Chunk(buf[..n].to_vec())).await?;
    }
    send(node, wr, &Message::SnapshotEnd).await?;
    wr.flush().await?;
    let _ = tokio::fs::remove_file(&path).await;
    node.status().snapshots += 1;
    Ok(taken.head)
}

/// Waits for the backup to acknowledge the snapshot's head (it verifies and installs it
/// first, which takes seconds for a large database), answering its `Want`s meanwhile.
async fn wait_snapshot_ack<R, W>(
    node: &Node,
    reader: &mut FrameReader<R>,
    wr: &mut W,
    head: Pos,
) -> Result<(), SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + SNAPSHOT_ACK;
    loop {
        let m = tokio::time::timeout_at(deadline, reader.next())
            .await
            .map_err(|_| SessionError::Silent {
                secs: SNAPSHOT_ACK.as_secs(),
            })??;
        match m {
            Message::Ack(pos) if pos.seq >= head.seq => return Ok(()),
            Message::Ack(_) => {}
            Message::Want { path } => send_repair(node, wr, &path).await?,
            Message::Error { reason } => return Err(SessionError::Peer { reason }),
            m => {
                return Err(SessionError::Unexpected {
                    what: format!("{m:?}").chars().take(60).collect(),
                    phase: "snapshot",
                })
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Receiver (backup)

enum Pending {
    Record(Record, Incoming),
    Repair(Incoming),
    Snapshot {
        file: std::fs::File,
        path: PathBuf,
        head: Pos,
        hash: [u8; 32],
    },
}

/// One session as the receiver.
#[tracing::instrument(name = "sync", skip_all, fields(%peer, role = "receiver"))]
pub async fn run_receiver<S>(
    node: &Node,
    stream: S,
    peer: String,
    cancel: CancellationToken,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = FrameReader::new(rd);
    let first = match tokio::time::timeout(SILENCE, reader.next()).await {
        Err(_) => {
            return Err(SessionError::Silent {
                secs: SILENCE.as_secs(),
            })
        }
        Ok(m) => m?,
    };
    let (head, history) =
        node.db(|c| -> rusqlite::Result<_> { Ok((journal::head(c)?, journal::history(c)?)) })?;
    // A database that conflicted asks for a snapshot by presenting an empty log.
    let needs_snapshot = node.resync_flag().exists();
    let mut rx = Receiver::new(if needs_snapshot { Pos::default() } else { head });
    rx.on_message(first)?;
    send(node, &mut wr, &rx.hello(&node.cfg.node, history)).await?;
    info!(?head, master_head = ?rx.sender_head(), needs_snapshot, "session started");
    {
        let mut st = node.status();
        st.peer = Some(peer.clone());
        st.head = head;
        st.other = rx.sender_head();
        st.settle(Instant::now());
    }
    if !needs_snapshot {
        request_repairs(node, &mut wr).await?;
    }
    let mut pending: Option<Pending> = None;
    let result = receive_loop(node, &mut reader, &mut wr, &mut rx, &mut pending, &cancel).await;
    match pending {
        Some(Pending::Record(_, inc) | Pending::Repair(inc)) => inc.abort(),
        Some(Pending::Snapshot { path, .. }) => {
            let _ = std::fs::remove_file(path);
        }
        None => {}
    }
    if let Err(SessionError::Apply(ApplyError::Conflict { .. } | ApplyError::UnknownTable { .. })) =
        &result
    {
        let reason = result
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let _ = send(node, &mut wr, &Message::Error { reason }).await;
    }
    result
}

async fn receive_loop<R, W>(
    node: &Node,
    reader: &mut FrameReader<R>,
    wr: &mut W,
    rx: &mut Receiver,
    pending: &mut Option<Pending>,
    cancel: &CancellationToken,
) -> Result<(), SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let root = node.cfg.shared_dir.clone();
    // A message read while gathering a batch, to be handled next.
    let mut carry: Option<Message> = None;
    loop {
        let m = match carry.take() {
            Some(m) => m,
            None => tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(SILENCE) => return Err(SessionError::Silent { secs: SILENCE.as_secs() }),
                m = reader.next() => m?,
            },
        };
        node.status().bytes_received = reader.bytes;
        if let Message::Error { reason } = m {
            return Err(SessionError::Peer { reason });
        }
        let step = rx.on_message(m)?;
        let applied: Option<(Pos, String, u64)> = match step {
            Step::None => {
                // A heartbeat: answer with our position (the master's keepalive and lag).
                {
                    let mut st = node.status();
                    st.other = rx.sender_head();
                    st.settle(Instant::now());
                }
                send(node, wr, &Message::Ack(rx.head())).await?;
                None
            }
            Step::Apply(rec) => {
                // Group commit: the records already buffered behind this one go into the
                // same transaction (one fsync for a burst), up to BATCH.
                let mut batch = vec![rec];
                while (batch.len() as u64) < BATCH {
                    match reader.buffered()? {
                        Some(Message::Record(r)) if r.kind != Kind::File as u8 => {
                            match rx.on_message(Message::Record(r))? {
                                Step::Apply(r) => batch.push(r),
                                other => {
                                    return Err(SessionError::Unexpected {
                                        what: format!("{other:?}").chars().take(60).collect(),
                                        phase: "batch",
                                    })
                                }
                            }
                        }
                        Some(other) => {
                            carry = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                for rec in batch.iter().filter(|r| r.kind == Kind::Delete as u8) {
                    let path = decode_path(&rec.body)?;
                    check_path(node, &path)?;
                    tokio::task::block_in_place(|| files::remove(&root, &path))?;
                }
                let items: Vec<_> = batch.iter().map(|r| (r, None)).collect();
                apply(node, &items)?;
                let last = batch.last().expect("at least one record");
                Some((last.pos, describe(last), batch.len() as u64))
            }
            Step::BeginFile { record, meta } => {
                check_path(node, &meta.path)?;
                let inc = tokio::task::block_in_place(|| Incoming::begin(&root, meta))?;
                *pending = Some(Pending::Record(record, inc));
                None
            }
            Step::BeginRepair(meta) => {
                check_path(node, &meta.path)?;
                let inc = tokio::task::block_in_place(|| Incoming::begin(&root, meta))?;
                *pending = Some(Pending::Repair(inc));
                None
            }
            Step::Write(data) => {
                tokio::task::block_in_place(|| -> Result<(), SessionError> {
                    match pending {
                        Some(Pending::Record(_, inc) | Pending::Repair(inc)) => inc.write(&data)?,
                        Some(Pending::Snapshot { file, .. }) => io::Write::write_all(file, &data)?,
                        None => {}
                    }
                    Ok(())
                })?;
                None
            }
            Step::EndFile { ok } => match pending.take() {
                Some(Pending::Record(rec, inc)) => {
                    let outcome = if ok {
                        FileOutcome::Written(tokio::task::block_in_place(|| inc.commit())?)
                    } else {
                        inc.abort();
                        FileOutcome::Superseded
                    };
                    apply(node, &[(&rec, Some(&outcome))])?;
                    Some((rec.pos, describe(&rec), 1))
                }
                Some(Pending::Repair(inc)) => {
                    if ok {
                        let meta = tokio::task::block_in_place(|| inc.commit())?;
                        info!(path = %meta.path, "file repaired");
                    } else {
                        inc.abort();
                    }
                    None
                }
                _ => None,
            },
            Step::BeginSnapshot {
                reason,
                head,
                size,
                hash,
            } => {
                if let SnapshotReason::Diverged { fork } = reason {
                    save_divergence(node, fork, rx.sender_node())?;
                }
                info!(?reason, ?head, size, "receiving a snapshot");
                std::fs::create_dir_all(&node.cfg.state_dir)?;
                let path = node.cfg.state_dir.join("resync.db");
                let file = std::fs::File::create(&path)?;
                *pending = Some(Pending::Snapshot {
                    file,
                    path,
                    head,
                    hash,
                });
                None
            }
            Step::EndSnapshot => match pending.take() {
                Some(Pending::Snapshot {
                    file,
                    path,
                    head,
                    hash,
                }) => {
                    tokio::task::block_in_place(|| file.sync_all())?;
                    drop(file);
                    let installed = node.db(|c| snapshot::install(c, &path, &hash))?;
                    let _ = std::fs::remove_file(&path);
                    let _ = std::fs::remove_file(node.resync_flag());
                    if installed != head {
                        warn!(
                            ?installed,
                            ?head,
                            "snapshot head differs from the announced one"
                        );
                    }
                    node.status().snapshots += 1;
                    info!(head = ?installed, "snapshot installed");
                    Some((installed, format!("snapshot at seq {}", installed.seq), 1))
                }
                _ => None,
            },
        };
        if let Some((pos, what, count)) = applied {
            let ack = rx.applied(pos);
            send(node, wr, &ack).await?;
            {
                let mut st = node.status();
                st.head = pos;
                st.other = rx.sender_head();
                st.records += count;
                st.last_change = Some(what.clone());
                st.last_change_at_ms = Some(journal::now_ms());
                st.settle(Instant::now());
            }
            // `first_seq`: a group commit applied records first_seq..=seq together.
            debug!(seq = pos.seq, first_seq = pos.seq + 1 - count.max(1), %what, "applied");
            if what.starts_with("snapshot") {
                request_repairs(node, wr).await?;
            }
        }
    }
}

fn check_path(node: &Node, path: &str) -> Result<(), SessionError> {
    node.exclusions.check(path).map_err(|e| {
        warn!(%path, error = &e as &dyn std::error::Error, "refused a path from the master");
        SessionError::Refused {
            path: path.to_owned(),
        }
    })
}

fn apply(node: &Node, records: &[(&Record, Option<&FileOutcome>)]) -> Result<(), SessionError> {
    match node.db(|c| replica::apply_batch(c, records)) {
        Err(e @ (ApplyError::Conflict { .. } | ApplyError::UnknownTable { .. })) => {
            // This database was written behind the journal: keep all of it, then ask the
            // master for a snapshot in the next session.
            let why = e.to_string();
            let saved =
                node.db(|c| divergence::save_database(&node.cfg.divergence_dir, c, &why))?;
            std::fs::create_dir_all(&node.cfg.state_dir)?;
            std::fs::write(node.resync_flag(), &why)?;
            warn!(folder = %saved.display(), error = %why, "database diverged; saved, a snapshot follows");
            let mut st = node.status();
            st.divergences += 1;
            st.last_divergence = Some(saved.display().to_string());
            Err(e.into())
        }
        other => other.map_err(Into::into),
    }
}

fn save_divergence(node: &Node, fork: u64, peer: &str) -> Result<(), SessionError> {
    let peer = if peer.is_empty() { "the master" } else { peer };
    let saved = node.db(|c| {
        divergence::save_tail(
            &node.cfg.divergence_dir,
            c,
            &node.cfg.shared_dir,
            fork,
            peer,
        )
    })?;
    if let Some(folder) = saved {
        warn!(folder = %folder.display(), fork, "this node had writes the master lacks; saved before resync");
        let mut st = node.status();
        st.divergences += 1;
        st.last_divergence = Some(folder.display().to_string());
    }
    Ok(())
}

/// The full scan of the backup's tree against its manifest: asks for every file that
/// differs or is missing; files the manifest does not know are saved to the divergence
/// journal and removed (they are no version the master has).
async fn request_repairs<W: AsyncWrite + Unpin>(
    node: &Node,
    wr: &mut W,
) -> Result<(), SessionError> {
    let root = node.cfg.shared_dir.clone();
    let (wants, extras) = node.db(|c| -> Result<_, SessionError> {
        let manifest = journal::manifest(c)?;
        let (disk, _) = files::scan(&root, &node.exclusions);
        let mut wants = Vec::new();
        for m in &manifest {
            match disk.binary_search_by(|d| d.path.cmp(&m.path)) {
                Ok(i) if disk[i].hash == m.hash && disk[i].mode == m.mode => {}
                _ => wants.push(m.path.clone()),
            }
        }
        let extras: Vec<String> = disk
            .iter()
            .filter(|d| manifest.binary_search_by(|m| m.path.cmp(&d.path)).is_err())
            .map(|d| d.path.clone())
            .collect();
        Ok((wants, extras))
    })?;
    if !extras.is_empty() {
        let folder = node.cfg.divergence_dir.join(format!(
            "{}-untracked",
            divergence::utc_stamp(journal::now_ms() / 1000)
        ));
        tokio::task::block_in_place(|| -> io::Result<()> {
            let mut report = String::from(
                "Files this node had in its shared tree that the master's manifest does not list;\n\
                 saved here, then removed from the tree:\n",
            );
            for rel in &extras {
                let dst = folder.join("files").join(rel);
                std::fs::create_dir_all(dst.parent().unwrap_or(&folder))?;
                std::fs::copy(root.join(rel), &dst)?;
                report.push_str(&format!("  {rel}\n"));
                let _ = files::remove(&root, rel);
            }
            std::fs::write(folder.join("report.txt"), report)
        })?;
        warn!(count = extras.len(), folder = %folder.display(), "untracked files saved and removed");
    }
    for path in wants {
        debug!(%path, "asking for a file");
        send(node, wr, &Message::Want { path }).await?;
    }
    Ok(())
}
