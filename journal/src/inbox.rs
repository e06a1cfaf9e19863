//! Storage: the master's inbox of divergent records. After a split brain the node that
//! steps down saves what only it wrote (`divergence::save_tail`), takes the master's state,
//! and sends those records here (`Message::Divergent`). They wait in `_sync_inbox`, a
//! table of this node only (its name starts with `_sync_`, so it is never replicated):
//!
//! ```text
//! _sync_inbox(id, peer, event, fork, total, seq, received_ms, changeset, state, note)
//!   state: new      received, not looked at yet
//!          merged   facts the application merged by itself (a confirmation, an outcome)
//!          pending  an operator's change: listed by `allerta-sync divergence`, waiting for
//!                   `divergence apply ID|all`
//!          applied  re-applied on this node (journaled: the backup gets it too)
//! ```
//! Which records are facts to merge is the application's knowledge (the media core's
//! `campaign::reconcile`); this module stores, lists and re-applies.
//!
//! A re-apply is `sqlite3changeset_apply` in one journaled write: any conflict (the row was
//! changed here since, is gone, a row with its key or a unique value exists) aborts it and is
//! explained, never resolved silently.

use std::sync::{Arc, Mutex};

use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::session::{ChangesetIter, ConflictAction, ConflictType};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};

use crate::record::Divergent;
use crate::{is_replicated_table, Journal, JournalError};

/// At most this many rows in the inbox: a peer (authenticated, but possibly broken) cannot
/// fill the master's disk through it.
pub const MAX_ROWS: i64 = 200_000;
/// The longest event name accepted (the backup's folder names are about 40 characters).
const MAX_EVENT: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("journal error")]
    Journal(#[from] JournalError),
    #[error("refused from the peer: {0}")]
    Refused(String),
    #[error("no divergent change {0} waits for apply (see `allertactl sync divergence`)")]
    NoSuchItem(i64),
    #[error("change {id} was not applied: {why}")]
    Conflict { id: i64, why: String },
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: i64,
    pub peer: String,
    pub event: String,
    pub fork: u64,
    pub total: u64,
    pub seq: u64,
    pub received_ms: u64,
    pub changeset: Vec<u8>,
    pub state: String,
    pub note: String,
}

/// A row change of a changeset, with owned values (`None`: not part of the change).
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    pub table: String,
    /// INSERT, UPDATE or DELETE.
    pub op: &'static str,
    pub old: Vec<Option<Value>>,
    pub new: Vec<Option<Value>>,
}

/// Keeps one divergent record from `peer`; a record already kept is ignored (the backup
/// sends an event again until it is told it is kept). Returns whether the event is now
/// complete (all `total` records kept).
pub fn keep(conn: &mut Connection, peer: &str, d: &Divergent) -> Result<bool, InboxError> {
    if d.event.is_empty() || d.event.len() > MAX_EVENT || d.event.contains(['/', '\n']) {
        return Err(InboxError::Refused(format!(
            "divergence event name {:?}",
            d.event.chars().take(MAX_EVENT).collect::<String>()
        )));
    }
    if d.seq <= d.fork || d.total == 0 || d.total > MAX_ROWS as u64 {
        return Err(InboxError::Refused(format!(
            "divergent record {} of {} after {}",
            d.seq, d.total, d.fork
        )));
    }
    // A changeset that SQLite cannot read is refused now, not found broken at apply time.
    rows(&d.changeset).map_err(|e| {
        InboxError::Refused(format!("divergent record {}: not a changeset ({e})", d.seq))
    })?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let held: i64 = tx.query_row("SELECT count(*) FROM _sync_inbox", [], |r| r.get(0))?;
    if held >= MAX_ROWS {
        return Err(InboxError::Refused(format!(
            "the inbox holds {held} records already"
        )));
    }
    tx.execute(
        "INSERT OR IGNORE INTO _sync_inbox(peer, event, fork, total, seq, received_ms, changeset)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            peer,
            d.event,
            d.fork as i64,
            d.total as i64,
            d.seq as i64,
            crate::now_ms() as i64,
            d.changeset
        ],
    )?;
    let kept: i64 = tx.query_row(
        "SELECT count(*) FROM _sync_inbox WHERE peer = ?1 AND event = ?2",
        params![peer, d.event],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok(kept as u64 >= d.total)
}

fn item(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        id: r.get(0)?,
        peer: r.get(1)?,
        event: r.get(2)?,
        fork: r.get::<_, i64>(3)? as u64,
        total: r.get::<_, i64>(4)? as u64,
        seq: r.get::<_, i64>(5)? as u64,
        received_ms: r.get::<_, i64>(6)? as u64,
        changeset: r.get(7)?,
        state: r.get(8)?,
        note: r.get(9)?,
    })
}

const COLUMNS: &str = "id, peer, event, fork, total, seq, received_ms, changeset, state, note";

/// The events whose records have all arrived and none has been looked at, each in the
/// order the peer wrote them.
pub fn complete_new_events(conn: &Connection) -> rusqlite::Result<Vec<Vec<Item>>> {
    let mut stmt = conn.prepare(
        "SELECT peer, event FROM _sync_inbox GROUP BY peer, event
         HAVING count(*) = max(total) AND min(state = 'new') = 1
         ORDER BY min(id)",
    )?;
    let events: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (peer, event) in events {
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM _sync_inbox WHERE peer = ?1 AND event = ?2 ORDER BY seq"
        ))?;
        out.push(
            stmt.query_map(params![peer, event], item)?
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(out)
}

/// Every record in the inbox, oldest first (`allerta-sync divergence`).
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Item>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM _sync_inbox ORDER BY id"))?;
    let items = stmt.query_map([], item)?.collect::<Result<_, _>>()?;
    Ok(items)
}

/// Records a record's new state (inside the caller's transaction).
pub fn set_state(conn: &Connection, id: i64, state: &str, note: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _sync_inbox SET state = ?2, note = ?3 WHERE id = ?1",
        params![id, state, note],
    )?;
    Ok(())
}

/// The rows a changeset changes, in order.
pub fn rows(changeset: &[u8]) -> rusqlite::Result<Vec<RowChange>> {
    let mut input: &[u8] = changeset;
    let reader: &mut dyn std::io::Read = &mut input;
    let mut iter = ChangesetIter::start_strm(&reader)?;
    let mut out = Vec::new();
    while let Some(item) = iter.next()? {
        let op = item.op()?;
        let verb = match op.code() {
            rusqlite::hooks::Action::SQLITE_INSERT => "INSERT",
            rusqlite::hooks::Action::SQLITE_DELETE => "DELETE",
            _ => "UPDATE",
        };
        let n = op.number_of_columns() as usize;
        let owned = |v: rusqlite::Result<ValueRef<'_>>| v.ok().map(owned_value);
        out.push(RowChange {
            table: op.table_name().to_owned(),
            op: verb,
            old: (0..n)
                .map(|c| {
                    if verb == "INSERT" {
                        None
                    } else {
                        owned(item.old_value(c))
                    }
                })
                .collect(),
            new: (0..n)
                .map(|c| {
                    if verb == "DELETE" {
                        None
                    } else {
                        owned(item.new_value(c))
                    }
                })
                .collect(),
        });
    }
    Ok(out)
}

fn owned_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn conflict_text(kind: &ConflictType) -> &'static str {
    match kind {
        ConflictType::SQLITE_CHANGESET_DATA => "the row was changed on this node since",
        ConflictType::SQLITE_CHANGESET_NOTFOUND => "the row is no longer on this node",
        ConflictType::SQLITE_CHANGESET_CONFLICT => {
            "a row with the same key exists on this node (it was added here meanwhile)"
        }
        ConflictType::SQLITE_CHANGESET_CONSTRAINT => {
            "it breaks a rule of the table here (a name or number that must be unique is taken)"
        }
        ConflictType::SQLITE_CHANGESET_FOREIGN_KEY => "it refers to a row that is not on this node",
        _ => "a conflict",
    }
}

/// The application's audit trail, if the database has one: `audit(id, at, who, what,
/// detail)`. Both nodes append to it during a split under ids that collide, so its rows in a
/// re-applied change are appended again under new ids (never a conflict), and the apply
/// itself is audited there.
const AUDIT: &str = "audit";

/// Re-applies a waiting operator's change on this node, in one journaled write (replicated
/// like any change). Any conflict aborts it; nothing is half done.
pub fn apply(journal: &mut Journal, id: i64, who: &str) -> Result<String, InboxError> {
    let found = journal
        .connection()
        .query_row(
            &format!("SELECT {COLUMNS} FROM _sync_inbox WHERE id = ?1 AND state = 'pending'"),
            [id],
            item,
        )
        .optional()?;
    let it = found.ok_or(InboxError::NoSuchItem(id))?;
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let seen_in = Arc::clone(&seen);
    let audit_rows: Vec<RowChange> = rows(&it.changeset)?
        .into_iter()
        .filter(|r| r.table == AUDIT && r.op == "INSERT")
        .collect();
    let result = journal.write(|tx| {
        let applied = tx.apply_strm(
            &mut &it.changeset[..],
            Some(|t: &str| is_replicated_table(t) && t != AUDIT),
            move |kind, change| {
                let table = change
                    .op()
                    .map(|op| op.table_name().to_owned())
                    .unwrap_or_default();
                if let Ok(mut s) = seen_in.lock() {
                    s.get_or_insert(format!("{table}: {}", conflict_text(&kind)));
                }
                ConflictAction::SQLITE_CHANGESET_ABORT
            },
        );
        // An aborted apply has undone its own changes; the transaction commits nothing.
        if let Some(why) = seen.lock().ok().and_then(|s| s.clone()) {
            return Ok(Err(why));
        }
        applied?;
        let has_audit: bool = tx.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'audit'",
            [],
            |r| r.get(0),
        )?;
        let what = format!(
            "change {} written on {} during the split ({}, record {})",
            it.id, it.peer, it.event, it.seq
        );
        if has_audit {
            for r in &audit_rows {
                let v = |i: usize| r.new.get(i).cloned().flatten().unwrap_or(Value::Null);
                let detail = match v(4) {
                    Value::Text(t) => format!("{t} (written on {} during the split)", it.peer),
                    _ => format!("(written on {} during the split)", it.peer),
                };
                tx.execute(
                    "INSERT INTO audit(at, who, what, detail) VALUES (?1, ?2, ?3, ?4)",
                    params![v(1), v(2), v(3), detail],
                )?;
            }
            tx.execute(
                "INSERT INTO audit(at, who, what, detail) VALUES (?1, ?2, 'divergence apply', ?3)",
                params![crate::now_ms() as i64, who, what],
            )?;
        }
        set_state(tx, id, "applied", &format!("applied by {who}"))?;
        Ok(Ok(what))
    });
    match result {
        Ok((Ok(what), _)) => Ok(what),
        Ok((Err(why), _)) => Err(InboxError::Conflict { id, why }),
        Err(JournalError::Sqlite(e @ rusqlite::Error::SqliteFailure(..))) => {
            Err(InboxError::Conflict {
                id,
                why: format!("the database refused it ({e})"),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// The master planned a session with the backup: when (CLOCK_MONOTONIC, µs) and whether
/// the backup diverged (after `fork`). The media core reads it to know when a split is
/// reconciled ([`met_since`]).
pub fn record_plan(
    conn: &Connection,
    mono_us: u64,
    diverged_fork: Option<u64>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO _sync_peer(id, planned_mono_us, diverged_fork) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET planned_mono_us = ?1, diverged_fork = ?2",
        params![mono_us as i64, diverged_fork.map(|f| f as i64)],
    )?;
    Ok(())
}

/// The last session plan: (when, diverged after).
fn last_plan(conn: &Connection) -> rusqlite::Result<Option<(i64, Option<i64>)>> {
    conn.query_row(
        "SELECT planned_mono_us, diverged_fork FROM _sync_peer WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Whether this (master) node has met the backup since `mono_us` and holds what it wrote
/// alone: a session planned after then, whose backup had not diverged, or whose divergent
/// records have all been looked at (merged, or waiting for apply).
pub fn met_since(conn: &Connection, mono_us: u64) -> rusqlite::Result<bool> {
    match last_plan(conn)? {
        Some((planned, _)) if (planned as u64) < mono_us => Ok(false),
        Some((_, None)) => Ok(true),
        Some((_, Some(fork))) => conn.query_row(
            "SELECT count(*) > 0 FROM _sync_inbox WHERE fork = ?1 AND state != 'new'",
            [fork],
            |r| r.get(0),
        ),
        None => Ok(false),
    }
}

/// Whether the last session found the backup diverged less than `max_us` ago (CLOCK_MONOTONIC
/// `now_us`) and its divergent records are not all looked at yet: the media core holds
/// campaign calls meanwhile.
pub fn awaiting_divergent(conn: &Connection, now_us: u64, max_us: u64) -> rusqlite::Result<bool> {
    match last_plan(conn)? {
        // A plan stamped after `now` is from before this boot: not this session's.
        Some((planned, Some(_)))
            if (planned as u64) <= now_us && now_us - (planned as u64) < max_us =>
        {
            Ok(!met_since(conn, planned as u64)?)
        }
        _ => Ok(false),
    }
}

/// The ids of every change waiting for apply, oldest first.
pub fn pending_ids(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt =
        conn.prepare("SELECT id FROM _sync_inbox WHERE state = 'pending' ORDER BY id")?;
    let ids = stmt.query_map([], |r| r.get(0))?.collect();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn winner_conn(dir: &tempfile::TempDir) -> Connection {
        crate::open(&dir.path().join("base.db")).unwrap()
    }

    fn fork() -> (tempfile::TempDir, Journal, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.db");
        let j = Journal::open(&base).unwrap();
        j.connection()
            .execute_batch(
                "CREATE TABLE contacts(id INTEGER PRIMARY KEY, external_id TEXT UNIQUE, name TEXT);
                 CREATE TABLE audit(id INTEGER PRIMARY KEY, at, who, what, detail);
                 INSERT INTO contacts VALUES (1, 'C1', 'Anna');",
            )
            .unwrap();
        drop(j);
        std::fs::copy(&base, dir.path().join("loser.db")).unwrap();
        let winner = Journal::open(&base).unwrap();
        let loser = Journal::open(&dir.path().join("loser.db")).unwrap();
        (dir, winner, loser)
    }

    fn tail(loser: &mut Journal, sql: &str) -> Vec<u8> {
        let (_, pos) = loser.write(|tx| tx.execute_batch(sql)).unwrap();
        let rec = crate::read_from(loser.connection(), pos.unwrap().seq, 1).unwrap();
        crate::unpack(&rec[0].body, 1 << 20).unwrap()
    }

    fn divergent(seq: u64, total: u64, changeset: Vec<u8>) -> Divergent {
        Divergent {
            event: "2026-12-06T17-30-00Z-after-0".into(),
            fork: 0,
            total,
            seq,
            changeset,
        }
    }

    #[test]
    fn an_event_is_complete_when_every_record_is_kept_and_repeats_are_ignored() {
        let (_dir, mut winner, mut loser) = fork();
        let a = tail(&mut loser, "INSERT INTO contacts VALUES (2, 'C2', 'Bruno')");
        let b = tail(
            &mut loser,
            "UPDATE contacts SET name = 'Anna B.' WHERE id = 1",
        );
        let mut conn = winner_conn(&_dir);
        assert!(!keep(&mut conn, "node-b", &divergent(1, 2, a.clone())).unwrap());
        assert!(!keep(&mut conn, "node-b", &divergent(1, 2, a)).unwrap());
        assert!(complete_new_events(&conn).unwrap().is_empty());
        assert!(keep(&mut conn, "node-b", &divergent(2, 2, b)).unwrap());
        let events = complete_new_events(&conn).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].iter().map(|i| i.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(rows(&events[0][0].changeset).unwrap()[0].table, "contacts");
        // Nothing of the inbox is replicated.
        let (_, pos) = winner
            .write(|tx| set_state(tx, events[0][0].id, "pending", ""))
            .unwrap();
        assert_eq!(pos, None);
    }

    #[test]
    fn the_master_has_met_the_backup_once_a_later_session_holds_its_divergent_writes() {
        let (dir, _winner, mut loser) = fork();
        let mut conn = winner_conn(&dir);
        assert!(!met_since(&conn, 100).unwrap(), "never met");
        // A session before the split does not count; one after it does.
        record_plan(&conn, 50, None).unwrap();
        assert!(!met_since(&conn, 100).unwrap());
        record_plan(&conn, 200, None).unwrap();
        assert!(met_since(&conn, 100).unwrap());
        assert!(!awaiting_divergent(&conn, 300, 10_000).unwrap());
        // The backup diverged after record 0: not met until its records are looked at.
        record_plan(&conn, 400, Some(0)).unwrap();
        assert!(!met_since(&conn, 100).unwrap());
        assert!(awaiting_divergent(&conn, 500, 10_000).unwrap());
        assert!(
            !awaiting_divergent(&conn, 10_400, 10_000).unwrap(),
            "at most max_us"
        );
        assert!(
            !awaiting_divergent(&conn, 300, 10_000).unwrap(),
            "stamped before this boot"
        );
        let cs = tail(&mut loser, "INSERT INTO contacts VALUES (2, 'C2', 'Bruno')");
        keep(&mut conn, "node-b", &divergent(1, 1, cs)).unwrap();
        assert!(
            awaiting_divergent(&conn, 500, 10_000).unwrap(),
            "kept, not looked at"
        );
        let id = list(&conn).unwrap()[0].id;
        set_state(&conn, id, "pending", "").unwrap();
        assert!(met_since(&conn, 100).unwrap());
        assert!(!awaiting_divergent(&conn, 500, 10_000).unwrap());
    }

    #[test]
    fn a_bad_record_from_the_peer_is_refused_with_the_reason() {
        let (dir, _winner, _loser) = fork();
        let mut conn = winner_conn(&dir);
        for (d, want) in [
            (
                divergent(1, 1, b"not a changeset".to_vec()),
                "not a changeset",
            ),
            (divergent(0, 1, Vec::new()), "record 0 of 1"),
            (
                Divergent {
                    event: "../x".into(),
                    ..divergent(1, 1, Vec::new())
                },
                "event name",
            ),
        ] {
            let e = keep(&mut conn, "node-b", &d).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn apply_replays_an_operators_change_and_refuses_a_conflict_with_the_reason() {
        let (_dir, mut winner, mut loser) = fork();
        let added = tail(&mut loser, "INSERT INTO contacts VALUES (2, 'C2', 'Bruno')");
        let clash = tail(&mut loser, "INSERT INTO contacts VALUES (3, 'C3', 'Carla')");
        // Meanwhile on the winner: contact 3 exists with another person.
        winner
            .write(|tx| tx.execute_batch("INSERT INTO contacts VALUES (3, 'C9', 'Dario')"))
            .unwrap();
        let mut conn = winner_conn(&_dir);
        keep(&mut conn, "node-b", &divergent(1, 2, added)).unwrap();
        keep(&mut conn, "node-b", &divergent(2, 2, clash)).unwrap();
        for it in list(&conn).unwrap() {
            set_state(&conn, it.id, "pending", "").unwrap();
        }
        let ids = pending_ids(&conn).unwrap();
        let what = apply(&mut winner, ids[0], "admin").unwrap();
        assert!(what.contains("node-b"), "{what}");
        let name: String = winner
            .connection()
            .query_row("SELECT name FROM contacts WHERE id = 2", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "Bruno");
        let audited: i64 = winner
            .connection()
            .query_row("SELECT count(*) FROM audit WHERE who = 'admin'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(audited, 1);
        let e = apply(&mut winner, ids[1], "admin").unwrap_err().to_string();
        assert!(
            e.contains("contacts: a row with the same key exists"),
            "{e}"
        );
        let name: String = winner
            .connection()
            .query_row("SELECT name FROM contacts WHERE id = 3", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "Dario", "the winner's row is untouched");
        assert_eq!(pending_ids(winner.connection()).unwrap(), [ids[1]]);
        // Applied once only.
        assert!(matches!(
            apply(&mut winner, ids[0], "admin"),
            Err(InboxError::NoSuchItem(_))
        ));
    }
}
