//! Storage: the divergence journal. Before this node's state is overwritten (a snapshot
//! from a master whose log does not contain this node's latest records, or a record that
//! conflicts with data written here behind the journal), what only this node has is saved
//! under the divergence directory, one folder per event:
//!
//! ```text
//! <dir>/<UTC time>-after-<fork>/report.txt         readable: every record, row by row
//!                               records/<seq>.changeset  raw SQLite changesets (sqlite3changeset_apply)
//!                               files/<path>             this node's version of each file
//!                               database.db              (conflicts only) a copy of the whole database
//! ```

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::session::ChangesetIter;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Error as SqlError};

use crate::proto::frame::{decode_path, Divergent, FileMeta};
use crate::proto::Kind;
use journal;

#[derive(Debug, thiserror::Error)]
pub enum DivergenceError {
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("writing the divergence journal")]
    Io(#[from] io::Error),
}

/// `YYYY-MM-DDTHH-MM-SSZ` for a Unix time.
pub fn utc_stamp(unix_secs: u64) -> String {
    let secs = unix_secs % 86_400;
    let (y, m, d) =
        component::civil::civil_from_days((unix_secs / 86_400) as i64).unwrap_or((9999, 12, 31));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn value(v: Option<ValueRef<'_>>) -> String {
    match v {
        None => "-".into(),
        Some(ValueRef::Null) => "NULL".into(),
        Some(ValueRef::Integer(i)) => i.to_string(),
        Some(ValueRef::Real(f)) => f.to_string(),
        Some(ValueRef::Text(t)) => format!("{:?}", String::from_utf8_lossy(t)),
        Some(ValueRef::Blob(b)) => format!("blob({} bytes)", b.len()),
    }
}

/// Column names of `table` in `conn` (empty if it has none there).
fn column_names(conn: &Connection, table: &str) -> Vec<String> {
    let Ok(mut stmt) = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid") else {
        return Vec::new();
    };
    stmt.query_map([table], |r| r.get(0))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// One line per changed row: `UPDATE ledger: id=5 (key) state: "calling" -> "confirmed"`.
/// Column names come from `conn` (`colN` where it does not know the table).
pub fn describe_changeset(
    conn: &Connection,
    changeset: &[u8],
    out: &mut String,
) -> Result<(), SqlError> {
    let mut input: &[u8] = changeset;
    let reader: &mut dyn io::Read = &mut input;
    let mut iter = ChangesetIter::start_strm(&reader)?;
    while let Some(item) = iter.next()? {
        let op = item.op()?;
        let verb = match op.code() {
            rusqlite::hooks::Action::SQLITE_INSERT => "INSERT",
            rusqlite::hooks::Action::SQLITE_DELETE => "DELETE",
            rusqlite::hooks::Action::SQLITE_UPDATE => "UPDATE",
            _ => "CHANGE",
        };
        let table = op.table_name().to_owned();
        let columns = op.number_of_columns() as usize;
        let pk = item.pk()?.to_vec();
        let names = column_names(conn, &table);
        let name = |col: usize| {
            names
                .get(col)
                .cloned()
                .unwrap_or_else(|| format!("col{col}"))
        };
        let _ = write!(out, "    {verb} {table}:");
        for col in 0..columns {
            let old = item.old_value(col).ok();
            let new = item.new_value(col).ok();
            let is_pk = pk.get(col).is_some_and(|&p| p != 0);
            match (verb, is_pk) {
                ("INSERT", _) => {
                    let _ = write!(out, " {}={}", name(col), value(new));
                }
                ("DELETE", _) => {
                    let _ = write!(out, " {}={}", name(col), value(old));
                }
                (_, true) => {
                    let _ = write!(out, " {}={} (key)", name(col), value(old));
                }
                _ => {
                    if let Some(n) = new {
                        let _ = write!(out, " {}: {} -> {}", name(col), value(old), value(Some(n)));
                    }
                }
            }
        }
        out.push('\n');
    }
    Ok(())
}

/// Saves this node's records after `fork` (the ones the other node lacks): a readable
/// report, the raw changesets, and this node's copy of each file they touched. Returns the
/// folder, or None when there is nothing after `fork`.
pub fn save_tail(
    dir: &Path,
    conn: &Connection,
    shared: &Path,
    fork: u64,
    peer: &str,
) -> Result<Option<PathBuf>, DivergenceError> {
    let records = journal::read_from(conn, fork + 1, u64::MAX >> 1)?;
    if records.is_empty() {
        return Ok(None);
    }
    let folder = dir.join(format!(
        "{}-after-{fork}",
        utc_stamp(journal::now_ms() / 1000)
    ));
    fs::create_dir_all(folder.join("records"))?;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "Divergence: this node has {} record(s) after sequence number {fork} that {peer} does not have.\n\
         They were saved here before this node took {peer}'s state. To replay a database record on the\n\
         master: sqlite3changeset_apply with records/<seq>.changeset; files are under files/.\n",
        records.len()
    );
    for rec in &records {
        let _ = write!(
            report,
            "seq {} (generation {:016x}): ",
            rec.pos.seq, rec.pos.gen
        );
        match Kind::from_u8(rec.kind) {
            Some(Kind::Db) => match journal::unpack(&rec.body, crate::replica::MAX_CHANGESET) {
                Ok(cs) => {
                    let _ = writeln!(report, "database change");
                    fs::write(
                        folder.join(format!("records/{}.changeset", rec.pos.seq)),
                        &cs,
                    )?;
                    if let Err(e) = describe_changeset(conn, &cs, &mut report) {
                        let _ = writeln!(report, "    (unreadable: {e})");
                    }
                }
                Err(e) => {
                    let _ = writeln!(report, "database change, damaged body ({e})");
                }
            },
            Some(Kind::File) => match FileMeta::decode(&rec.body) {
                Ok(meta) => {
                    let kept = save_file(shared, &folder, &meta)?;
                    let _ = writeln!(
                        report,
                        "file {} written ({} bytes, mode {:o}){}",
                        meta.path,
                        meta.size,
                        meta.mode,
                        if kept {
                            "; saved under files/"
                        } else {
                            "; changed since, current copy saved"
                        }
                    );
                }
                Err(e) => {
                    let _ = writeln!(report, "file record, damaged body ({e})");
                }
            },
            Some(Kind::Schema) => {
                let _ = writeln!(
                    report,
                    "schema change: {}",
                    String::from_utf8_lossy(&rec.body)
                );
            }
            Some(Kind::Delete) => {
                let path = decode_path(&rec.body).unwrap_or_else(|_| "(damaged)".into());
                let _ = writeln!(report, "file {path} deleted");
            }
            None => {
                let _ = writeln!(report, "unknown record kind {}", rec.kind);
            }
        }
    }
    fs::write(folder.join("report.txt"), report)?;
    Ok(Some(folder))
}

/// Copies this node's current version of `meta.path` under `folder/files/`; true if it is
/// still the journaled version.
fn save_file(shared: &Path, folder: &Path, meta: &FileMeta) -> io::Result<bool> {
    let src = shared.join(&meta.path);
    let dst = folder.join("files").join(&meta.path);
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::copy(&src, &dst) {
        Ok(_) => Ok(crate::snapshot::hash_file(&dst).is_ok_and(|(h, _)| h == meta.hash)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Saves a whole copy of this node's database (its data was changed behind the journal, so
/// there is no record of what changed) with a report saying why.
pub fn save_database(dir: &Path, conn: &Connection, why: &str) -> Result<PathBuf, DivergenceError> {
    let folder = dir.join(format!("{}-conflict", utc_stamp(journal::now_ms() / 1000)));
    fs::create_dir_all(&folder)?;
    crate::snapshot::take(conn, &folder.join("database.db")).map_err(|e| match e {
        crate::snapshot::SnapshotError::Sqlite(e) => DivergenceError::Sqlite(e),
        other => DivergenceError::Io(io::Error::other(other.to_string())),
    })?;
    fs::write(
        folder.join("report.txt"),
        format!(
            "Divergence: {why}.\nThis node's database was changed outside the sync journal; a full copy\n\
             of it, as it was before the master's snapshot replaced it, is database.db.\n"
        ),
    )?;
    Ok(folder)
}

/// Written into an event's folder once the master holds all of its database records.
const DELIVERED: &str = "delivered-to-master";

/// The database records of every saved event not yet delivered to the master, oldest event
/// first, each event's records in order; an event without any, as one empty changeset.
/// Only `-after-<fork>` events count (a `-conflict` copy is for a person to read).
pub fn undelivered(dir: &Path) -> io::Result<Vec<Divergent>> {
    let mut events: Vec<(PathBuf, u64)> = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(fork) = name
            .rsplit_once("-after-")
            .and_then(|(_, f)| f.parse::<u64>().ok())
        else {
            continue;
        };
        if !entry.path().join(DELIVERED).exists() {
            events.push((entry.path(), fork));
        }
    }
    events.sort();
    let mut out = Vec::new();
    for (folder, fork) in events {
        let event = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut records: Vec<(u64, PathBuf)> = Vec::new();
        if let Ok(files) = fs::read_dir(folder.join("records")) {
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if let Some(seq) = name
                    .strip_suffix(".changeset")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    records.push((seq, f.path()));
                }
            }
        }
        records.sort();
        // An event that changed no database row (only files) still tells the master it is
        // complete, as one empty changeset: the master waits for it before calling anyone.
        if records.is_empty() {
            out.push(Divergent {
                event,
                fork,
                total: 1,
                seq: fork + 1,
                changeset: Vec::new(),
            });
            continue;
        }
        let total = records.len() as u64;
        for (seq, path) in records {
            out.push(Divergent {
                event: event.clone(),
                fork,
                total,
                seq,
                changeset: fs::read(path)?,
            });
        }
    }
    Ok(out)
}

/// The master holds every record of `event`: it is not sent again.
pub fn mark_delivered(dir: &Path, event: &str, master: &str) -> io::Result<()> {
    if event.contains('/') || event.starts_with('.') {
        return Ok(());
    }
    fs::write(
        dir.join(event).join(DELIVERED),
        format!(
            "delivered to {master} at {}\n",
            utc_stamp(journal::now_ms() / 1000)
        ),
    )
}

/// Delivered events (the master holds their records) are kept this long for people to read.
pub const KEEP_DELIVERED: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);
/// Whole-database copies (`-conflict`) kept: the newest this many. Each is as large as the
/// database, and a node that keeps being written behind the journal would fill its disk.
pub const KEEP_COPIES: usize = 5;

/// Removes what the divergence journal no longer needs as of `now`: delivered events older
/// than [`KEEP_DELIVERED`], and whole-database copies beyond the newest [`KEEP_COPIES`].
/// An event not yet delivered to the master is never removed: it may hold the only record
/// of a confirmation. Returns how many folders went.
pub fn prune(dir: &Path, now: std::time::SystemTime) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut copies = Vec::new();
    let mut gone = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.ends_with("-conflict") {
            copies.push(path);
        } else if name.contains("-after-") {
            let delivered = fs::metadata(path.join(DELIVERED)).and_then(|m| m.modified());
            let old = delivered
                .is_ok_and(|at| now.duration_since(at).unwrap_or_default() >= KEEP_DELIVERED);
            if old {
                gone.push(path);
            }
        }
    }
    // Folder names start with their UTC time: the newest copies sort last.
    copies.sort();
    let excess = copies.len().saturating_sub(KEEP_COPIES);
    gone.extend(copies.into_iter().take(excess));
    for path in &gone {
        fs::remove_dir_all(path)?;
    }
    Ok(gone.len())
}

/// The saved events, newest first: (folder, report text).
pub fn list(dir: &Path) -> io::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let report = entry.path().join("report.txt");
        if let Ok(text) = fs::read_to_string(&report) {
            out.push((entry.path(), text));
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_undelivered_events_recent_deliveries_and_the_newest_copies() {
        use std::time::{Duration, SystemTime};
        let dir = tempfile::tempdir().unwrap();
        let mk = |name: &str, delivered: bool| {
            let f = dir.path().join(name);
            fs::create_dir_all(&f).unwrap();
            fs::write(f.join("report.txt"), "r").unwrap();
            if delivered {
                fs::write(f.join(DELIVERED), "d").unwrap();
            }
        };
        mk("2026-01-01T00-00-00Z-after-10", false);
        mk("2026-01-02T00-00-00Z-after-20", true);
        for day in 1..=8 {
            mk(&format!("2026-02-{day:02}T00-00-00Z-conflict"), false);
        }
        let now = SystemTime::now();
        assert_eq!(prune(dir.path(), now).unwrap(), 8 - KEEP_COPIES);
        let left = |name: &str| dir.path().join(name).exists();
        assert!(left("2026-02-08T00-00-00Z-conflict") && left("2026-02-04T00-00-00Z-conflict"));
        assert!(!left("2026-02-03T00-00-00Z-conflict"));
        assert!(
            left("2026-01-02T00-00-00Z-after-20"),
            "delivered today: kept"
        );
        let later = now + KEEP_DELIVERED + Duration::from_secs(60);
        assert_eq!(prune(dir.path(), later).unwrap(), 1);
        assert!(!left("2026-01-02T00-00-00Z-after-20"));
        assert!(
            left("2026-01-01T00-00-00Z-after-10"),
            "never delivered: never pruned"
        );
    }

    use journal::Journal;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(0), "1970-01-01T00-00-00Z");
        assert_eq!(utc_stamp(1_795_000_000), "2026-11-18T11-06-40Z");
        assert_eq!(utc_stamp(951_782_400), "2000-02-29T00-00-00Z");
    }

    #[test]
    fn the_tail_after_the_fork_is_saved_with_a_readable_report() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir_all(&shared).unwrap();
        let mut j = Journal::open(&dir.path().join("a.db")).unwrap();
        j.connection()
            .execute_batch("CREATE TABLE ledger(id INTEGER PRIMARY KEY, state TEXT)")
            .unwrap();
        j.write(|tx| {
            tx.execute("INSERT INTO ledger VALUES (1, 'calling')", [])
                .map(drop)
        })
        .unwrap();
        j.write(|tx| {
            tx.execute("UPDATE ledger SET state = 'confirmed' WHERE id = 1", [])
                .map(drop)
        })
        .unwrap();
        fs::write(shared.join("extensions.conf"), b"[alert]\n").unwrap();
        let meta = crate::files::stat_and_hash(&shared, "extensions.conf").unwrap();
        let mut conn = journal::open(&dir.path().join("a.db")).unwrap();
        journal::journal_file(&mut conn, &meta).unwrap();

        let out = dir.path().join("divergence");
        let folder = save_tail(&out, &conn, &shared, 1, "node-b")
            .unwrap()
            .unwrap();
        let report = fs::read_to_string(folder.join("report.txt")).unwrap();
        assert!(
            report.contains("2 record(s) after sequence number 1"),
            "{report}"
        );
        assert!(
            report.contains("UPDATE ledger: id=1 (key) state: \"calling\" -> \"confirmed\""),
            "{report}"
        );
        assert!(report.contains("file extensions.conf written"), "{report}");
        assert!(folder.join("records/2.changeset").is_file());
        assert_eq!(
            fs::read(folder.join("files/extensions.conf")).unwrap(),
            b"[alert]\n"
        );
        assert_eq!(save_tail(&out, &conn, &shared, 3, "node-b").unwrap(), None);
        let listed = list(&out).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, folder);
        // Its database records wait for the master, in order, until it holds them.
        let waiting = undelivered(&out).unwrap();
        assert_eq!(waiting.iter().map(|d| d.seq).collect::<Vec<_>>(), [2]);
        assert_eq!((waiting[0].fork, waiting[0].total), (1, 1));
        assert_eq!(
            waiting[0].changeset,
            fs::read(folder.join("records/2.changeset")).unwrap()
        );
        mark_delivered(&out, &waiting[0].event, "node-b").unwrap();
        assert!(undelivered(&out).unwrap().is_empty());
        // Files only: the master still hears that the event is complete.
        let files_only = out.join("2026-12-06T18-00-00Z-after-9");
        fs::create_dir_all(files_only.join("files")).unwrap();
        fs::write(files_only.join("report.txt"), "file x written").unwrap();
        let waiting = undelivered(&out).unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(
            (waiting[0].fork, waiting[0].total, waiting[0].seq),
            (9, 1, 10)
        );
        assert!(waiting[0].changeset.is_empty());
    }
}
