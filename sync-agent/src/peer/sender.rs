//! Driver: the sender's (master's) side of a session: Hello and the plan, a snapshot when
//! the plan says so, then records from the journal (file content read as it is sent) within
//! the window, heartbeats when idle, and `Want`s answered.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use journal::inbox;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    join_digest, send, start_digest, FrameReader, SessionError, BATCH, HEARTBEAT, POLL, SILENCE,
    SNAPSHOT_ACK, VERIFY_IDLE,
};
use crate::files;
use crate::node::Node;
use crate::proto::frame::CHUNK;
use crate::proto::handshake::{self, Local, Plan};
use crate::proto::sender::Sender;
use crate::proto::{FileMeta, Hello, Kind, Message, Pos, Record, SnapshotReason};
use crate::snapshot;

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
    let hello = match reader.next_within(SILENCE).await? {
        Message::Hello(h) => h,
        Message::Error { reason } => return Err(SessionError::Peer { reason }),
        m => {
            return Err(SessionError::Unexpected {
                what: format!("{m:?}").chars().take(60).collect(),
                phase: "hello",
            })
        }
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
    let mono_us = component::monotonic::now_us();
    info!(peer_node = %hello.node, ?head, peer_head = ?hello.head, ?plan, mono_us, "session started");
    let diverged = match plan {
        Plan::Snapshot(SnapshotReason::Diverged { fork }) => Some(fork),
        _ => None,
    };
    node.db(|c| inbox::record_plan(c, mono_us, diverged))?;
    let mut sender = match plan {
        Plan::Stream { from } => Sender::new(from, hello.head),
        Plan::Snapshot(reason) => {
            let head = send_snapshot(node, &mut wr, reason).await?;
            wait_snapshot_ack(node, &mut reader, &mut wr, head, &hello.node).await?;
            Sender::new(head.seq + 1, head)
        }
    };
    {
        let mut st = node.status();
        st.met(peer.clone());
        st.other = sender.acked();
        st.settle(Instant::now());
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut poll = tokio::time::interval(POLL);
    let mut last_heard = Instant::now();
    let mut head = head;
    // The digest comparison waits for a quiet moment: everything acknowledged and no new
    // record for VERIFY_IDLE, so the backup is at the very position the digest is for.
    let mut head_moved_at = Instant::now();
    // The first comparison one interval into the session (not at once after a snapshot).
    let mut verified_at = Instant::now();
    let mut digesting = None;
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
                    Message::Divergent(d) => keep_divergent(node, &mut wr, &hello.node, d).await?,
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
                let now_head = node.db(|c| journal::head(c))?;
                if now_head != head {
                    head_moved_at = Instant::now();
                }
                head = now_head;
                if last_heard.elapsed() > SILENCE {
                    return Err(SessionError::Silent { secs: SILENCE.as_secs() });
                }
            }
            _ = heartbeat.tick() => {
                send(node, &mut wr, &Message::Heartbeat { head, now_ms: journal::now_ms() }).await?;
                node.status().head = head;
                let due = verified_at.elapsed() >= node.cfg.verify_interval;
                if due && digesting.is_none() && head.seq > 0 && sender.acked() == head
                    && head_moved_at.elapsed() >= VERIFY_IDLE
                {
                    verified_at = Instant::now();
                    digesting = Some(start_digest(node));
                }
            }
            digest = join_digest(&mut digesting) => {
                let (at, hash) = digest?;
                // Only if still quiet: the backup must be at that very position.
                if at == head && sender.acked() == head {
                    debug!(seq = at.seq, "sending the tables' digest");
                    send(node, &mut wr, &Message::Digest { at, hash }).await?;
                }
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

/// Keeps a record the backup wrote alone during a split brain in this node's inbox (see
/// `inbox`), then tells the backup it is kept. A record the inbox refuses ends the session
/// with the reason (the backup sends it again next session; the refusal is logged there).
async fn keep_divergent<W: AsyncWrite + Unpin>(
    node: &Node,
    wr: &mut W,
    peer_node: &str,
    d: crate::proto::Divergent,
) -> Result<(), SessionError> {
    let complete = node.db(|c| inbox::keep(c, peer_node, &d))?;
    if complete {
        info!(peer_node, event = %d.event, records = d.total, "the backup's divergent writes are in the inbox");
        node.status().divergent_received += 1;
    }
    send(
        node,
        wr,
        &Message::DivergentKept {
            event: d.event,
            seq: d.seq,
        },
    )
    .await?;
    wr.flush().await?;
    Ok(())
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
    peer_node: &str,
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
            Message::Divergent(d) => keep_divergent(node, wr, peer_node, d).await?,
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
