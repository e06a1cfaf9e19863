//! Storage: the backup's apply. One record = one `BEGIN IMMEDIATE` transaction that checks
//! the record is the next one, applies it, copies it into this node's own log (so the two
//! logs are the same, and this node can serve them when it becomes master) and commits
//! with `synchronous=FULL`; only then is it acknowledged.
//!
//! A DB record is applied with `sqlite3changeset_apply`, and any conflict (the row here is
//! not what the master had before its change) aborts the whole transaction: this database
//! was written behind the journal's back, which is divergence, never something to paper
//! over with REPLACE.

use std::sync::{Arc, Mutex};

use journal::{self, is_replicated_table, JournalError};
use rusqlite::session::{ConflictAction, ConflictType};
use rusqlite::{params, Connection, TransactionBehavior};

use crate::proto::{FileMeta, Kind, Record};

/// A changeset larger than this once decompressed is refused (a hostile or broken body).
pub const MAX_CHANGESET: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("record {seq} is out of order: this node's head is {head}")]
    OutOfOrder { head: u64, seq: u64 },
    #[error("record {seq} is damaged")]
    Damaged { seq: u64 },
    #[error("record {seq}")]
    Body {
        seq: u64,
        #[source]
        source: JournalError,
    },
    #[error(
        "record {seq} changes table {table}, which this node does not have: the schemas differ"
    )]
    UnknownTable { seq: u64, table: String },
    #[error("record {seq} conflicts with this node's data ({conflict} on table {table}): the databases have diverged")]
    Conflict {
        seq: u64,
        table: String,
        conflict: &'static str,
    },
}

fn conflict_name(c: &ConflictType) -> &'static str {
    match c {
        ConflictType::SQLITE_CHANGESET_DATA => "changed row",
        ConflictType::SQLITE_CHANGESET_NOTFOUND => "missing row",
        ConflictType::SQLITE_CHANGESET_CONFLICT => "row already present",
        ConflictType::SQLITE_CHANGESET_CONSTRAINT => "constraint",
        ConflictType::SQLITE_CHANGESET_FOREIGN_KEY => "foreign key",
        _ => "unknown conflict",
    }
}

/// How a file record's content ended on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// The content was renamed into place: the manifest takes `meta`.
    Written(FileMeta),
    /// The master's file changed while it was read: a later record has the new version.
    Superseded,
}

/// Applies `rec` (for a file record: after its content was handled, see `FileOutcome`).
pub fn apply(
    conn: &mut Connection,
    rec: &Record,
    file: Option<&FileOutcome>,
) -> Result<(), ApplyError> {
    apply_batch(conn, &[(rec, file)])
}

/// Applies consecutive records in ONE transaction (group commit: the backup catches up
/// with one fsync for a burst instead of one per record). All or none of them commit.
pub fn apply_batch(
    conn: &mut Connection,
    records: &[(&Record, Option<&FileOutcome>)],
) -> Result<(), ApplyError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (rec, file) in records {
        apply_in(&tx, rec, *file)?;
    }
    tx.commit()?;
    Ok(())
}

fn apply_in(
    tx: &rusqlite::Transaction<'_>,
    rec: &Record,
    file: Option<&FileOutcome>,
) -> Result<(), ApplyError> {
    let seq = rec.pos.seq;
    if !rec.is_intact() {
        return Err(ApplyError::Damaged { seq });
    }
    let head = journal::head(tx)?;
    if seq != head.seq + 1 {
        return Err(ApplyError::OutOfOrder {
            head: head.seq,
            seq,
        });
    }
    match Kind::from_u8(rec.kind) {
        Some(Kind::Db) => {
            let changeset = journal::unpack(&rec.body, MAX_CHANGESET)
                .map_err(|source| ApplyError::Body { seq, source })?;
            // sqlite3changeset_apply skips tables the database lacks, silently: that would
            // lose the master's rows, so check first.
            for table in changeset_tables(&changeset)? {
                let known: bool = tx.query_row(
                    "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [&table],
                    |r| r.get(0),
                )?;
                if !known && is_replicated_table(&table) {
                    return Err(ApplyError::UnknownTable { seq, table });
                }
            }
            let seen: Arc<Mutex<Option<(String, &'static str)>>> = Arc::default();
            let seen_in = Arc::clone(&seen);
            let applied = tx.apply_strm(
                &mut &changeset[..],
                Some(is_replicated_table),
                move |kind, item| {
                    let table = item
                        .op()
                        .map(|op| op.table_name().to_owned())
                        .unwrap_or_default();
                    if let Ok(mut s) = seen_in.lock() {
                        s.get_or_insert((table, conflict_name(&kind)));
                    }
                    ConflictAction::SQLITE_CHANGESET_ABORT
                },
            );
            let conflict = seen.lock().ok().and_then(|mut s| s.take());
            if let Some((table, conflict)) = conflict {
                return Err(ApplyError::Conflict {
                    seq,
                    table,
                    conflict,
                });
            }
            applied?;
        }
        Some(Kind::File) => {
            if let Some(FileOutcome::Written(meta)) = file {
                journal::put_manifest(tx, meta)?;
            }
        }
        Some(Kind::Schema) => {
            let sql = std::str::from_utf8(&rec.body).map_err(|_| ApplyError::Body {
                seq,
                source: JournalError::Body {
                    reason: "schema record is not UTF-8",
                },
            })?;
            tx.execute_batch(sql)?;
        }
        Some(Kind::Delete) => {
            let path =
                crate::proto::frame::decode_path(&rec.body).map_err(|_| ApplyError::Body {
                    seq,
                    source: JournalError::Body {
                        reason: "delete record without a path",
                    },
                })?;
            tx.execute("DELETE FROM _sync_files WHERE path = ?1", [path])?;
        }
        None => {
            return Err(ApplyError::Body {
                seq,
                source: JournalError::Body {
                    reason: "unknown record kind",
                },
            })
        }
    }
    tx.execute(
        "INSERT INTO _sync_log(seq, gen, kind, at_ms, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            seq as i64,
            rec.pos.gen as i64,
            rec.kind,
            journal::now_ms() as i64,
            rec.body,
            &rec.hash[..]
        ],
    )?;
    tx.execute(
        "INSERT INTO _sync_gen(gen, first_seq) VALUES (?1, ?2) ON CONFLICT(gen) DO NOTHING",
        params![rec.pos.gen as i64, seq as i64],
    )?;
    Ok(())
}

/// The tables a changeset touches, in order of first appearance.
pub fn changeset_tables(changeset: &[u8]) -> Result<Vec<String>, rusqlite::Error> {
    use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
    let mut input: &[u8] = changeset;
    let reader: &mut dyn std::io::Read = &mut input;
    let mut iter = rusqlite::session::ChangesetIter::start_strm(&reader)?;
    let mut tables: Vec<String> = Vec::new();
    while let Some(item) = iter.next()? {
        let op = item.op()?;
        if !tables.iter().any(|t| t == op.table_name()) {
            tables.push(op.table_name().to_owned());
        }
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::Journal;

    const SCHEMA: &str = "CREATE TABLE ledger(id INTEGER PRIMARY KEY, who TEXT, state TEXT);";

    fn pair() -> (tempfile::TempDir, Journal, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let master = Journal::open(&dir.path().join("m.db")).unwrap();
        master.connection().execute_batch(SCHEMA).unwrap();
        let backup = journal::open(&dir.path().join("b.db")).unwrap();
        backup.execute_batch(SCHEMA).unwrap();
        (dir, master, backup)
    }

    fn ship(master: &Journal, backup: &mut Connection) -> Result<(), ApplyError> {
        let from = journal::head(backup)?.seq + 1;
        for rec in journal::read_from(master.connection(), from, 100)? {
            apply(backup, &rec, None)?;
        }
        Ok(())
    }

    fn rows(conn: &Connection) -> Vec<(i64, String, String)> {
        let mut stmt = conn.prepare("SELECT * FROM ledger ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_backup_ends_equal_with_the_same_log() {
        let (_dir, mut master, mut backup) = pair();
        master
            .write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (1, 'rossi', 'calling')", [])
                    .map(drop)
            })
            .unwrap();
        master
            .write(|tx| {
                tx.execute("UPDATE ledger SET state = 'confirmed' WHERE id = 1", [])
                    .map(drop)
            })
            .unwrap();
        ship(&master, &mut backup).unwrap();
        assert_eq!(rows(&backup), rows(master.connection()));
        assert_eq!(
            journal::head(&backup).unwrap(),
            journal::head(master.connection()).unwrap()
        );
        assert_eq!(
            journal::history(&backup).unwrap(),
            journal::history(master.connection()).unwrap()
        );
        let ok: String = backup
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn a_record_out_of_order_or_twice_is_refused_and_changes_nothing() {
        let (_dir, mut master, mut backup) = pair();
        for i in 0..3 {
            master
                .write(|tx| {
                    tx.execute("INSERT INTO ledger VALUES (?1, 'x', 'y')", [i])
                        .map(drop)
                })
                .unwrap();
        }
        let recs = journal::read_from(master.connection(), 1, 10).unwrap();
        assert!(matches!(
            apply(&mut backup, &recs[1], None),
            Err(ApplyError::OutOfOrder { head: 0, seq: 2 })
        ));
        apply(&mut backup, &recs[0], None).unwrap();
        assert!(matches!(
            apply(&mut backup, &recs[0], None),
            Err(ApplyError::OutOfOrder { head: 1, seq: 1 })
        ));
        assert_eq!(rows(&backup).len(), 1);
    }

    #[test]
    fn a_backup_written_behind_the_journal_conflicts_and_keeps_its_data() {
        let (_dir, mut master, mut backup) = pair();
        master
            .write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (1, 'rossi', 'calling')", [])
                    .map(drop)
            })
            .unwrap();
        ship(&master, &mut backup).unwrap();
        backup
            .execute("UPDATE ledger SET state = 'local edit' WHERE id = 1", [])
            .unwrap();
        master
            .write(|tx| {
                tx.execute("UPDATE ledger SET state = 'confirmed' WHERE id = 1", [])
                    .map(drop)
            })
            .unwrap();
        let err = ship(&master, &mut backup).unwrap_err();
        assert!(
            matches!(&err, ApplyError::Conflict { seq: 2, table, .. } if table == "ledger"),
            "{err:?}"
        );
        assert_eq!(rows(&backup)[0].2, "local edit");
        assert_eq!(journal::head(&backup).unwrap().seq, 1);
    }

    #[test]
    fn schema_changes_travel_as_records_and_unknown_tables_are_refused() {
        let (_dir, mut master, mut backup) = pair();
        master
            .change_schema("CREATE TABLE campaigns(id INTEGER PRIMARY KEY, name TEXT)")
            .unwrap();
        master
            .write(|tx| {
                tx.execute("INSERT INTO campaigns VALUES (1, 'flood')", [])
                    .map(drop)
            })
            .unwrap();
        ship(&master, &mut backup).unwrap();
        let name: String = backup
            .query_row("SELECT name FROM campaigns", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "flood");
        // DDL behind the journal's back: the backup refuses rather than drop the rows.
        master
            .connection()
            .execute_batch("CREATE TABLE sneaky(id INTEGER PRIMARY KEY)")
            .unwrap();
        master
            .write(|tx| tx.execute("INSERT INTO sneaky VALUES (1)", []).map(drop))
            .unwrap();
        assert!(matches!(
            ship(&master, &mut backup),
            Err(ApplyError::UnknownTable { table, .. }) if table == "sneaky"
        ));
    }

    #[test]
    fn a_damaged_record_is_refused() {
        let (_dir, mut master, mut backup) = pair();
        master
            .write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (1, 'a', 'b')", [])
                    .map(drop)
            })
            .unwrap();
        let mut rec = journal::read_from(master.connection(), 1, 1)
            .unwrap()
            .remove(0);
        let last = rec.body.len() - 1;
        rec.body[last] ^= 0xff;
        assert!(matches!(
            apply(&mut backup, &rec, None),
            Err(ApplyError::Damaged { seq: 1 })
        ));
    }
}
