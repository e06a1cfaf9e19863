//! Driver: the master's side of the shared tree. A `notify` (inotify) watcher on the shared
//! root, plus a full scan with hashes at start and every `scan_interval` (and whenever the
//! kernel's queue overflowed), so no event is relied on alone. Each file whose content,
//! mode or mtime differs from the manifest becomes a journal record; each manifest entry
//! gone from disk becomes a delete record. Runs on its own thread with its own database
//! connection (rusqlite and notify are blocking), and wakes the sender after each batch.
//!
//! Only completed writes count: `close(write)`, renames, removals, metadata changes and new
//! directories. A plain `modify(data)` is skipped, so a file being written is not shipped
//! half-written (its `close(write)` follows).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use rusqlite::Connection;
use tracing::{debug, info, warn};

use crate::files;
use crate::node::Node;
use crate::proto::FileMeta;
use journal;

/// How soon the tree is scanned again after a directory appeared.
const RESCAN_AFTER_NEW_DIR: Duration = Duration::from_millis(300);

/// Starts the watcher thread; it stops when `stop` is set. `scanned` is told once the
/// first full scan is journaled: until then the journal does not describe the tree, and a
/// backup judging its own files by it would take files the master has for strays.
pub fn spawn(
    node: Arc<Node>,
    stop: Arc<AtomicBool>,
    scanned: tokio::sync::oneshot::Sender<()>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            if let Err(e) = run(&node, &stop, scanned) {
                warn!(error = %e, "shared tree watcher stopped");
                node.status().error(format!("watcher: {e}"));
            }
        })
}

fn run(
    node: &Node,
    stop: &AtomicBool,
    scanned: tokio::sync::oneshot::Sender<()>,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = node.cfg.shared_dir.clone();
    std::fs::create_dir_all(&root)?;
    let mut conn = journal::open_for_agent(&node.cfg.db)?;
    // File records need no fsync of their own: a file's state is on disk, and the full scan
    // at start journals anything a power cut took from the journal's tail. (In WAL mode
    // the next FULL commit, e.g. a writer's, makes these durable too.) One fsync less per
    // file change on the master.
    conn.pragma_update(None, "synchronous", "normal")?;
    let (events_tx, events_rx) = mpsc::channel::<notify::Result<Event>>();
    let mut watcher = notify::recommended_watcher(move |ev| {
        let _ = events_tx.send(ev);
    })?;
    watcher.watch(&root, RecursiveMode::Recursive)?;
    info!(root = %root.display(), "watching the shared tree");
    if full_scan(node, &mut conn) {
        node.wake.notify_one();
    }
    let _ = scanned.send(());
    let mut next_scan = Instant::now() + node.cfg.scan_interval;
    while !stop.load(Ordering::Relaxed) {
        let first = match events_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(ev) => Some(ev),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut paths = BTreeSet::new();
        let mut rescan = false;
        for ev in first.into_iter().chain(events_rx.try_iter()) {
            match ev {
                Ok(ev) if ev.need_rescan() => rescan = true,
                Ok(ev) if counts(&ev.kind) => {
                    for p in ev.paths {
                        if let Ok(rel) = p.strip_prefix(&root) {
                            if let Some(rel) = rel.to_str().filter(|r| !r.is_empty()) {
                                paths.insert(rel.to_owned());
                            }
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "watch error; rescanning");
                    rescan = true;
                }
            }
        }
        let mut grew = false;
        if !paths.is_empty() {
            // Files are read and hashed first, outside any transaction (the application's
            // writers must not wait for our reads); then one transaction, one fsync, for
            // the whole burst.
            let seen: Vec<Seen> = paths
                .iter()
                .filter(|rel| !node.exclusions.is_excluded(rel))
                .map(|rel| observe(node, &root, rel))
                .collect();
            grew |= in_transaction(&mut conn, |tx| {
                seen.iter()
                    .fold(false, |grew, s| journal_seen(tx, &root, s) | grew)
            });
            // A new directory's files can be written before inotify watches it, so their
            // close(write) is never seen and the look above may have come too early (or
            // read one half written): scan again once the writers are likely done.
            if seen.iter().any(|s| matches!(s, Seen::Dir(..))) {
                next_scan = next_scan.min(Instant::now() + RESCAN_AFTER_NEW_DIR);
            }
        }
        if rescan || Instant::now() >= next_scan {
            grew |= full_scan(node, &mut conn);
            next_scan = Instant::now() + node.cfg.scan_interval;
        }
        if grew {
            node.wake.notify_one();
        }
    }
    Ok(())
}

fn counts(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Data(_)) => false,
        // An empty file is created, then written and closed: wait for the close.
        EventKind::Create(CreateKind::File) => false,
        _ => true,
    }
}

/// Journals what `rel` is now (a file, a directory's files, or nothing); true if a record
/// was written.
/// Runs `f` in one write transaction; false (nothing journaled) if it cannot commit.
fn in_transaction(conn: &mut Connection, f: impl FnOnce(&Connection) -> bool) -> bool {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            warn!(error = &e as &dyn std::error::Error, "journal transaction");
            return false;
        }
    };
    let grew = f(&tx);
    match tx.commit() {
        Ok(()) => grew,
        Err(e) => {
            warn!(error = &e as &dyn std::error::Error, "journal commit");
            false
        }
    }
}

/// What a path of the shared tree is now.
enum Seen {
    File(FileMeta),
    /// A directory (created, or moved in or out): its files now.
    Dir(String, Vec<FileMeta>),
    Gone(String),
    /// A symlink or special file, or a file that vanished while read.
    Other,
}

fn observe(node: &Node, root: &Path, rel: &str) -> Seen {
    match std::fs::symlink_metadata(root.join(rel)) {
        Ok(md) if md.is_file() => files::stat_and_hash(root, rel).map_or(Seen::Other, Seen::File),
        Ok(md) if md.is_dir() => Seen::Dir(
            rel.to_owned(),
            files::scan_under(root, rel, &node.exclusions),
        ),
        Ok(_) => Seen::Other,
        Err(_) => Seen::Gone(rel.to_owned()),
    }
}

/// Journals what `observe` saw (in the caller's transaction); true if a record was written.
fn journal_seen(conn: &Connection, root: &Path, seen: &Seen) -> bool {
    match seen {
        Seen::File(meta) => record(journal::journal_file_in(conn, meta), &meta.path),
        Seen::Dir(rel, found) => {
            let mut grew = false;
            for meta in found {
                grew |= record(journal::journal_file_in(conn, meta), &meta.path);
            }
            grew | delete_missing(conn, root, Some(rel))
        }
        Seen::Gone(rel) => {
            record(journal::journal_delete_in(conn, rel), rel)
                | delete_missing(conn, root, Some(rel))
        }
        Seen::Other => false,
    }
}

fn record(result: rusqlite::Result<Option<crate::proto::Pos>>, rel: &str) -> bool {
    match result {
        Ok(Some(pos)) => {
            debug!(path = %rel, seq = pos.seq, "journaled");
            true
        }
        Ok(None) => false,
        Err(e) => {
            warn!(path = %rel, error = &e as &dyn std::error::Error, "journaling a file");
            false
        }
    }
}

/// Delete records for manifest entries (under `prefix`, or all) that are gone from disk.
fn delete_missing(conn: &Connection, root: &Path, prefix: Option<&str>) -> bool {
    let Ok(manifest) = journal::manifest(conn) else {
        return false;
    };
    let mut grew = false;
    for m in manifest {
        let under = prefix.is_none_or(|p| m.path == p || m.path.starts_with(&format!("{p}/")));
        if under && !root.join(&m.path).is_file() {
            grew |= record(journal::journal_delete_in(conn, &m.path), &m.path);
        }
    }
    grew
}

/// The full scan: every file against the manifest, and every manifest entry against disk.
/// Hashing happens before the transaction; the transaction only compares and journals.
pub fn full_scan(node: &Node, conn: &mut Connection) -> bool {
    let root = &node.cfg.shared_dir;
    let started = Instant::now();
    let (found, skipped) = files::scan(root, &node.exclusions);
    let grew = in_transaction(conn, |tx| {
        let mut grew = false;
        for meta in &found {
            grew |= record(journal::journal_file_in(tx, meta), &meta.path);
        }
        grew | delete_missing(tx, root, None)
    });
    debug!(
        files = found.len(),
        skipped = skipped.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "full scan"
    );
    grew
}
