//! Driver: the receiver's (backup's) side of a session: its Hello, the repairs its tree
//! needs, then each step of `proto::receiver` performed: files staged and renamed, records
//! applied in order (a burst in one transaction), snapshots staged, checked and installed,
//! divergence saved first; each durable position acknowledged.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{describe, join_digest, send, start_digest, FrameReader, SessionError, BATCH, SILENCE};
use crate::divergence;
use crate::files::{self, Incoming};
use crate::node::Node;
use crate::proto::frame::decode_path;
use crate::proto::receiver::{Receiver, Step};
use crate::proto::{Divergent, Kind, Message, Pos, Record, SnapshotReason};
use crate::replica::{self, ApplyError, FileOutcome};
use crate::snapshot;
use journal;

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
    let first = reader.next_within(SILENCE).await?;
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
        st.met(peer.clone());
        st.head = head;
        st.other = rx.sender_head();
        st.settle(Instant::now());
    }
    // An empty log has no manifest to judge the tree by: a new pair's backup holds the
    // image's files, which the master's snapshot is about to list. Repairs follow the
    // snapshot (below); judged now, every file would count as untracked and be removed.
    if !needs_snapshot && head != Pos::default() {
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
    if let Err(
        SessionError::Apply(ApplyError::Conflict { .. } | ApplyError::UnknownTable { .. })
        | SessionError::DigestMismatch { .. },
    ) = &result
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
    // Messages read while gathering a batch or while sending, to be handled next, in order.
    let mut carry: VecDeque<Message> = VecDeque::new();
    // What this node wrote alone during a split brain, for the master's inbox: one record
    // in flight at a time, so the master's answer paces it.
    let mut outbox = Outbox::default();
    outbox.load(node)?;
    // The master's digest being compared, and ours being computed.
    let mut comparing: Option<(Pos, [u8; 32])> = None;
    let mut digesting = None;
    loop {
        if let Some(d) = outbox.next_to_send() {
            debug!(event = %d.event, seq = d.seq, "sending a divergent record to the master");
            send_reading(node, wr, reader, &Message::Divergent(d), &mut carry).await?;
        }
        let m = match carry.pop_front() {
            Some(m) => m,
            None => tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(SILENCE) => return Err(SessionError::Silent { secs: SILENCE.as_secs() }),
                m = reader.next() => m?,
                digest = join_digest(&mut digesting) => {
                    if let Some((at, hash)) = comparing.take() {
                        compare(node, at, &hash, digest?)?;
                    }
                    continue;
                }
            },
        };
        node.status().bytes_received = reader.bytes;
        if let Message::Error { reason } = m {
            return Err(SessionError::Peer { reason });
        }
        let step = rx.on_message(m)?;
        let applied: Option<(Pos, String, u64)> = match step {
            Step::Delivered { event, seq } => {
                if outbox.kept(&event, seq) {
                    divergence::mark_delivered(&node.cfg.divergence_dir, &event, rx.sender_node())?;
                    info!(%event, "this node's divergent writes are in the master's inbox");
                    node.status().divergent_delivered += 1;
                }
                None
            }
            Step::Verify { at, hash } => {
                // Only at that very position, and one at a time.
                if rx.head() == at && digesting.is_none() {
                    comparing = Some((at, hash));
                    digesting = Some(start_digest(node));
                } else {
                    debug!(?at, head = ?rx.head(), "digest for another position; skipped");
                }
                None
            }
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
                    let next = match carry.pop_front() {
                        Some(m) => Some(m),
                        None => reader.buffered()?,
                    };
                    match next {
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
                            carry.push_front(other);
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
                // A divergence saved before this snapshot: its records go to the master now.
                outbox.load(node)?;
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
            keep_and_resync(node, &e.to_string())?;
            Err(e.into())
        }
        other => other.map_err(Into::into),
    }
}

/// Compares this node's tables (taken at `pos`) with the master's digest at `at`.
/// A mismatch keeps a copy of this database and asks for a snapshot (like a conflict).
fn compare(
    node: &Node,
    at: Pos,
    hash: &[u8; 32],
    (pos, ours): (Pos, [u8; 32]),
) -> Result<(), SessionError> {
    if pos != at {
        debug!(?at, ?pos, "moved on before the digest was taken; skipped");
        return Ok(());
    }
    if ours == *hash {
        info!(seq = at.seq, "tables verified against the master's digest");
        let mut st = node.status();
        st.verified_seq = Some(at.seq);
        st.verified_at_ms = Some(journal::now_ms());
        return Ok(());
    }
    let e = SessionError::DigestMismatch { seq: at.seq };
    keep_and_resync(node, &e.to_string())?;
    Err(e)
}

/// The divergent records waiting for the master's inbox.
#[derive(Default)]
struct Outbox {
    waiting: VecDeque<Divergent>,
    /// (event, seq, last of its event) sent and not yet kept.
    in_flight: Option<(String, u64, bool)>,
}

impl Outbox {
    /// Adds the saved events' records not delivered yet and not already queued.
    fn load(&mut self, node: &Node) -> Result<(), SessionError> {
        let saved =
            tokio::task::block_in_place(|| divergence::undelivered(&node.cfg.divergence_dir))?;
        for d in saved {
            let queued = self
                .waiting
                .iter()
                .any(|w| w.event == d.event && w.seq == d.seq)
                || self
                    .in_flight
                    .as_ref()
                    .is_some_and(|(e, s, _)| *e == d.event && *s == d.seq);
            if !queued {
                self.waiting.push_back(d);
            }
        }
        Ok(())
    }

    fn next_to_send(&mut self) -> Option<Divergent> {
        if self.in_flight.is_some() {
            return None;
        }
        let d = self.waiting.pop_front()?;
        let last = self.waiting.front().is_none_or(|n| n.event != d.event);
        self.in_flight = Some((d.event.clone(), d.seq, last));
        Some(d)
    }

    /// The master kept `seq` of `event`; true when that completes the event.
    fn kept(&mut self, event: &str, seq: u64) -> bool {
        match &self.in_flight {
            Some((e, s, last)) if e == event && *s == seq => {
                let last = *last;
                self.in_flight = None;
                last
            }
            _ => false,
        }
    }
}

/// Sends `m` while reading what the master sends meanwhile into `carry`: neither side can
/// then block the other with a full socket buffer, however large the frame.
async fn send_reading<R, W>(
    node: &Node,
    wr: &mut W,
    reader: &mut FrameReader<R>,
    m: &Message,
    carry: &mut VecDeque<Message>,
) -> Result<(), SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = Vec::new();
    m.encode(&mut out);
    let len = out.len() as u64;
    let write = async {
        wr.write_all(&out).await?;
        wr.flush().await
    };
    tokio::pin!(write);
    loop {
        tokio::select! {
            done = &mut write => {
                done?;
                node.status().bytes_sent += len;
                return Ok(());
            }
            // Bounded: the master stops after its window of unacknowledged records.
            m = reader.next() => carry.push_back(m?),
        }
    }
}

/// This database was written behind the journal: keep a copy of all of it in the
/// divergence journal, and ask the master for a snapshot in the next session.
fn keep_and_resync(node: &Node, why: &str) -> Result<(), SessionError> {
    let saved = node.db(|c| divergence::save_database(&node.cfg.divergence_dir, c, why))?;
    std::fs::create_dir_all(&node.cfg.state_dir)?;
    std::fs::write(node.resync_flag(), why)?;
    warn!(folder = %saved.display(), error = %why, "database diverged; saved, a snapshot follows");
    let mut st = node.status();
    st.divergences += 1;
    st.last_divergence = Some(saved.display().to_string());
    Ok(())
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
