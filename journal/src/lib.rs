//! Storage: the journal, the single ordered log of everything replicated (`_sync_log`), and
//! the library a writer of the database uses.
//!
//! A write goes through [`Journal::write`]: one `BEGIN IMMEDIATE` transaction with a session
//! attached; the closure's changes come out as a changeset, which is appended to `_sync_log`
//! in the SAME transaction. The data and its log record commit together or not at all, so a
//! crash can never leave a write that the backup will not get (no fsync is added: the
//! record rides in the writer's own commit).
//!
//! File records (a file of the shared tree created, changed or removed) are journaled by
//! the agent itself with [`journal_file`] / [`journal_delete`], which also keep the
//! manifest `_sync_files` (the replicated state of the tree) in the same transaction.
//!
//! ```text
//! _sync_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, gen, kind, at_ms, body, hash)
//! _sync_gen(idx INTEGER PRIMARY KEY, gen UNIQUE, first_seq)    generation history
//! _sync_files(path PRIMARY KEY, size, mode, mtime_ns, hash)    manifest of the shared tree
//! _sync_inbox(…)                                             the master's divergent records (`inbox`)
//! _sync_peer(planned_mono_us, diverged_fork)                 the master's last session plan (`inbox`)
//! _sync_own(gen)                                             generations THIS node started
//! ```
//! A node appends only to a generation it started itself (`_sync_own`, node-local: a
//! snapshot leaves it out). A write made where the current generation is another node's (a
//! backup finishing a call after it stepped down, or an operator's change accepted in the
//! instant between the media core hearing "master" and the agent starting its generation)
//! starts a generation of its own first. Otherwise that record would sit in the other
//! master's generation at a sequence number the other master also uses, the handshake
//! (which trusts "same generation, same seq: same record") would take it for the master's,
//! and it would be lost without a trace: neither on the master nor in the divergence journal.
//! `AUTOINCREMENT` so a sequence number is never reused, even after the log is pruned
//! to nothing. Tables whose name starts with `_sync_` or `sqlite_` are never captured.

pub mod inbox;
pub mod record;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::session::Session;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::record::{encode_path, FileMeta, Kind, Pos, Record};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _sync_log(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, gen INTEGER NOT NULL, kind INTEGER NOT NULL,
  at_ms INTEGER NOT NULL, body BLOB NOT NULL, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS _sync_gen(
  idx INTEGER PRIMARY KEY, gen INTEGER NOT NULL UNIQUE, first_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _sync_files(
  path TEXT PRIMARY KEY, size INTEGER NOT NULL, mode INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS _sync_inbox(
  id INTEGER PRIMARY KEY, peer TEXT NOT NULL, event TEXT NOT NULL, fork INTEGER NOT NULL,
  total INTEGER NOT NULL, seq INTEGER NOT NULL, received_ms INTEGER NOT NULL,
  changeset BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'new', note TEXT NOT NULL DEFAULT '',
  UNIQUE (peer, event, seq));
CREATE TABLE IF NOT EXISTS _sync_peer(
  id INTEGER PRIMARY KEY CHECK (id = 1), planned_mono_us INTEGER NOT NULL,
  diverged_fork INTEGER);
CREATE TABLE IF NOT EXISTS _sync_own(gen INTEGER PRIMARY KEY);
";

/// Changesets smaller than this are stored as they are: zstd gains nothing on them.
const COMPRESS_FROM: usize = 512;
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("compressing a changeset")]
    Compress(#[source] std::io::Error),
    #[error("a journaled body is damaged: {reason}")]
    Body { reason: &'static str },
}

/// Whether a table is replicated (captured on the master, applied on the backup).
pub fn is_replicated_table(name: &str) -> bool {
    !name.starts_with("_sync_") && !name.starts_with("sqlite_")
}

/// Opens a database the way every user of it must: WAL (readers never block the writer),
/// `synchronous=FULL` (a commit is durable when it returns), a busy timeout (the agent and
/// the application share the file), and the journal tables.
pub fn open(path: &Path) -> Result<Connection, JournalError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // On a new database the media core, the agent and an operator's command may all be
    // here at once. Switching to WAL takes the file's exclusive lock after a read lock, and
    // when two connections both hold the read lock SQLite answers one of them BUSY at once
    // instead of waiting (waiting would deadlock); its documented answer is to try again.
    again_while_busy(|| conn.pragma_update(None, "journal_mode", "wal"))?;
    conn.pragma_update(None, "synchronous", "full")?;
    create_tables(&conn)?;
    Ok(conn)
}

/// How long a connection waits for another's write lock before it says "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `f` again while SQLite answers BUSY without having waited (its deadlock avoidance),
/// up to the busy timeout.
fn again_while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Creates the journal tables if they are missing, in one `BEGIN IMMEDIATE` transaction: it
/// takes the write lock before reading the schema, so it waits its turn (the busy timeout)
/// instead of being refused for holding a read lock another writer waits on.
pub fn create_tables(conn: &Connection) -> Result<(), JournalError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match conn.execute_batch(SCHEMA) {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e.into())
        }
    }
}

/// `open`, for the agent's own connections: no automatic checkpoints (a checkpoint in the
/// middle of an apply or a journaling commit is the worst of the latency tail); the agent
/// runs `checkpoint` from its own thread instead.
pub fn open_for_agent(path: &Path) -> Result<Connection, JournalError> {
    let conn = open(path)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// Copies what the WAL holds into the database file without waiting for anyone (readers
/// and writers go on); the agent calls it every second.
pub fn checkpoint(path: &Path) -> Result<(), JournalError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_millis(100))?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

/// The writer's handle: a connection plus what it reuses from one write to the next.
pub struct Journal {
    conn: Connection,
    compressor: zstd::bulk::Compressor<'static>,
    wake: Option<PathBuf>,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        Self::from_connection(open(path)?)
    }

    pub fn from_connection(conn: Connection) -> Result<Self, JournalError> {
        create_tables(&conn)?;
        Ok(Self {
            conn,
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(JournalError::Compress)?,
            wake: None,
        })
    }

    /// After each commit, send one empty datagram to the agent's wake socket (`[sync]
    /// wake_socket`), so the record leaves at once instead of at the agent's next poll.
    pub fn with_wake_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.wake = Some(path.into());
        self
    }

    /// For reads, and for writes that must not be replicated (there should be none).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one write transaction and journals what it changed in the same
    /// transaction. Returns `f`'s value and the record's position (None: nothing changed).
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<(T, Option<Pos>), JournalError> {
        self.write_or_refuse(|tx| f(tx).map_err(JournalError::from))
    }

    /// [`Journal::write`] for a writer with errors of its own: `f` may refuse (its error,
    /// which rolls the transaction back and comes back as it was) or fail in SQLite.
    pub fn write_or_refuse<T, E: From<JournalError>>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<(T, Option<Pos>), E> {
        let sql = |e: rusqlite::Error| E::from(JournalError::from(e));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let mut session = Session::new(&tx).map_err(sql)?;
        session.table_filter(Some(is_replicated_table));
        session.attach(None::<&str>).map_err(sql)?;
        let out = f(&tx)?;
        let mut changeset = Vec::new();
        session.changeset_strm(&mut changeset).map_err(sql)?;
        drop(session);
        let pos = if changeset.is_empty() {
            None
        } else {
            let body = pack(&mut self.compressor, &changeset)?;
            Some(append(&tx, Kind::Db, body).map_err(sql)?)
        };
        tx.commit().map_err(sql)?;
        if pos.is_some() {
            self.wake_agent();
        }
        Ok((out, pos))
    }

    /// Runs schema SQL (CREATE/ALTER/DROP …) and journals it in the same transaction: the
    /// backup runs the same SQL in its apply transaction. DDL done any other way is not
    /// replicated (sessions see rows only), and the backup then refuses changesets for
    /// tables it lacks, which ends in a snapshot.
    pub fn change_schema(&mut self, sql: &str) -> Result<Pos, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        let pos = append(&tx, Kind::Schema, sql.as_bytes().to_vec())?;
        tx.commit()?;
        self.wake_agent();
        Ok(pos)
    }

    /// As [`Self::change_schema`], but `sql_for` decides what to run inside the write lock,
    /// from the database as it is then: two processes that migrate at once (the media core
    /// and an operator's command) would otherwise both read the old version and both apply
    /// the same step. `None`: nothing to do (another writer got there first).
    pub fn change_schema_with(
        &mut self,
        sql_for: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<Option<String>>,
    ) -> Result<Option<Pos>, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(sql) = sql_for(&tx)? else {
            return Ok(None);
        };
        tx.execute_batch(&sql)?;
        let pos = append(&tx, Kind::Schema, sql.into_bytes())?;
        tx.commit()?;
        self.wake_agent();
        Ok(Some(pos))
    }

    fn wake_agent(&self) {
        if let Some(path) = &self.wake {
            // Best effort: the agent also polls, so a missing socket only costs latency.
            if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
                let _ = sock.set_nonblocking(true);
                let _ = sock.send_to(&[], path);
            }
        }
    }
}

/// A changeset as stored: a flag byte (0 raw, 1 zstd) and the bytes.
pub fn pack(
    compressor: &mut zstd::bulk::Compressor<'static>,
    changeset: &[u8],
) -> Result<Vec<u8>, JournalError> {
    if changeset.len() < COMPRESS_FROM {
        let mut body = Vec::with_capacity(changeset.len() + 1);
        body.push(0);
        body.extend_from_slice(changeset);
        return Ok(body);
    }
    let mut body = vec![1];
    body.extend(
        compressor
            .compress(changeset)
            .map_err(JournalError::Compress)?,
    );
    Ok(body)
}

/// The changeset inside a stored body (at most `limit` bytes once decompressed).
pub fn unpack(body: &[u8], limit: usize) -> Result<Vec<u8>, JournalError> {
    match body.split_first() {
        Some((0, raw)) => Ok(raw.to_vec()),
        Some((1, packed)) => {
            // The decompressed size is bounded up front, so a hostile body cannot make
            // us allocate more than `limit`.
            zstd::bulk::decompress(packed, limit).map_err(|_| JournalError::Body {
                reason: "changeset does not decompress",
            })
        }
        _ => Err(JournalError::Body {
            reason: "unknown changeset encoding",
        }),
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The generation this node's next record goes in: the current one if this node started
/// it, else a new one of its own (a database that never had a master gets its first one
/// here too). See the module's notes.
fn current_gen(tx: &Connection) -> rusqlite::Result<u64> {
    let gen: Option<(i64, bool)> = tx
        .query_row(
            "SELECT gen, gen IN (SELECT gen FROM _sync_own) FROM _sync_gen ORDER BY idx DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match gen {
        Some((g, true)) => Ok(g as u64),
        _ => new_generation(tx),
    }
}

/// Starts a new generation at the next sequence number (the agent does this each time
/// its node becomes master).
pub fn new_generation(conn: &Connection) -> rusqlite::Result<u64> {
    let gen = loop {
        // 63 bits, so the value is the same as an SQLite INTEGER; never 0 (the empty log).
        let g = rand::random::<u64>() >> 1;
        if g != 0 {
            break g;
        }
    };
    let first = head(conn)?.seq + 1;
    conn.execute(
        "INSERT INTO _sync_gen(gen, first_seq) VALUES (?1, ?2)",
        params![gen as i64, first as i64],
    )?;
    conn.execute("INSERT INTO _sync_own(gen) VALUES (?1)", [gen as i64])?;
    Ok(gen)
}

/// Appends one record in the caller's transaction (`tx` must be inside one).
pub fn append(tx: &Connection, kind: Kind, body: Vec<u8>) -> rusqlite::Result<Pos> {
    let gen = current_gen(tx)?;
    let hash = blake3::hash(&body);
    tx.execute(
        "INSERT INTO _sync_log(gen, kind, at_ms, body, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            gen as i64,
            kind as u8,
            now_ms() as i64,
            body,
            &hash.as_bytes()[..]
        ],
    )?;
    Ok(Pos {
        gen,
        seq: tx.last_insert_rowid() as u64,
    })
}

/// The last record of the log (`Pos::default()` when empty).
pub fn head(conn: &Connection) -> rusqlite::Result<Pos> {
    conn.query_row(
        "SELECT gen, seq FROM _sync_log ORDER BY seq DESC LIMIT 1",
        [],
        |r| {
            Ok(Pos {
                gen: r.get::<_, i64>(0)? as u64,
                seq: r.get::<_, i64>(1)? as u64,
            })
        },
    )
    .optional()
    .map(Option::unwrap_or_default)
}

/// The lowest sequence number still in the log (head + 1 when empty).
pub fn low(conn: &Connection) -> rusqlite::Result<u64> {
    let low: Option<i64> = conn.query_row("SELECT min(seq) FROM _sync_log", [], |r| r.get(0))?;
    match low {
        Some(l) => Ok(l as u64),
        None => Ok(head(conn)?.seq + 1),
    }
}

/// The generation history, oldest first.
pub fn history(conn: &Connection) -> rusqlite::Result<Vec<(u64, u64)>> {
    let mut stmt = conn.prepare_cached("SELECT gen, first_seq FROM _sync_gen ORDER BY idx")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })?;
    rows.collect()
}

/// Up to `limit` records from `from` on, in order.
pub fn read_from(conn: &Connection, from: u64, limit: u64) -> rusqlite::Result<Vec<Record>> {
    let mut stmt = conn.prepare_cached(
        "SELECT gen, seq, kind, body, hash FROM _sync_log WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![from as i64, limit as i64], |r| {
        let hash: Vec<u8> = r.get(4)?;
        let mut h = [0; 32];
        if hash.len() == 32 {
            h.copy_from_slice(&hash);
        }
        Ok(Record {
            pos: Pos {
                gen: r.get::<_, i64>(0)? as u64,
                seq: r.get::<_, i64>(1)? as u64,
            },
            kind: r.get(2)?,
            body: r.get(3)?,
            hash: h,
        })
    })?;
    rows.collect()
}

/// Deletes records older than `keep` behind the head (the head itself always stays, it is
/// the node's position). A backup further behind than that gets a snapshot.
pub fn prune(conn: &Connection, keep: u64) -> rusqlite::Result<usize> {
    let head = head(conn)?.seq;
    conn.execute(
        "DELETE FROM _sync_log WHERE seq < ?1",
        params![head.saturating_sub(keep) as i64],
    )
}

/// The manifest entry of `path`, if the file is in the replicated tree.
pub fn manifest_entry(conn: &Connection, path: &str) -> rusqlite::Result<Option<FileMeta>> {
    conn.query_row(
        "SELECT size, mode, mtime_ns, hash FROM _sync_files WHERE path = ?1",
        [path],
        |r| {
            let hash: Vec<u8> = r.get(3)?;
            let mut h = [0; 32];
            if hash.len() == 32 {
                h.copy_from_slice(&hash);
            }
            Ok(FileMeta {
                path: path.to_owned(),
                size: r.get::<_, i64>(0)? as u64,
                mode: r.get(1)?,
                mtime_ns: r.get(2)?,
                hash: h,
            })
        },
    )
    .optional()
}

/// Every manifest entry, by path.
pub fn manifest(conn: &Connection) -> rusqlite::Result<Vec<FileMeta>> {
    let mut stmt = conn.prepare_cached("SELECT path FROM _sync_files ORDER BY path")?;
    let paths: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        if let Some(m) = manifest_entry(conn, &p)? {
            out.push(m);
        }
    }
    Ok(out)
}

/// Sets the manifest entry (in the caller's transaction).
pub fn put_manifest(conn: &Connection, meta: &FileMeta) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO _sync_files(path, size, mode, mtime_ns, hash) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(path) DO UPDATE SET size = ?2, mode = ?3, mtime_ns = ?4, hash = ?5",
        params![
            meta.path,
            meta.size as i64,
            meta.mode,
            meta.mtime_ns,
            &meta.hash[..]
        ],
    )?;
    Ok(())
}

/// Journals a file's new state, unless the manifest already has exactly it.
pub fn journal_file(conn: &mut Connection, meta: &FileMeta) -> rusqlite::Result<Option<Pos>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let pos = journal_file_in(&tx, meta)?;
    tx.commit()?;
    Ok(pos)
}

/// `journal_file` in the caller's transaction (the watcher journals a burst in one).
pub fn journal_file_in(tx: &Connection, meta: &FileMeta) -> rusqlite::Result<Option<Pos>> {
    if manifest_entry(tx, &meta.path)?.as_ref() == Some(meta) {
        return Ok(None);
    }
    put_manifest(tx, meta)?;
    append(tx, Kind::File, meta.to_bytes()).map(Some)
}

/// Journals a file's removal, if the manifest has it.
pub fn journal_delete(conn: &mut Connection, path: &str) -> rusqlite::Result<Option<Pos>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let pos = journal_delete_in(&tx, path)?;
    tx.commit()?;
    Ok(pos)
}

/// `journal_delete` in the caller's transaction.
pub fn journal_delete_in(tx: &Connection, path: &str) -> rusqlite::Result<Option<Pos>> {
    if tx.execute("DELETE FROM _sync_files WHERE path = ?1", [path])? == 0 {
        return Ok(None);
    }
    append(tx, Kind::Delete, encode_path(path)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("a.db")).unwrap();
        j.connection()
            .execute_batch("CREATE TABLE ledger(id INTEGER PRIMARY KEY, who TEXT, state TEXT);")
            .unwrap();
        (dir, j)
    }

    #[test]
    fn processes_opening_a_new_database_at_once_all_succeed() {
        // First boot: the media core, the agent and an operator's command open the new
        // database together (one of them used to get "database is locked" at once).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        for _ in 0..20 {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
            let opens: Vec<_> = (0..3)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Journal::open(&path).map(|_| ())
                    })
                })
                .collect();
            for open in opens {
                open.join().unwrap().unwrap();
            }
        }
    }

    #[test]
    fn a_write_and_its_record_commit_together() {
        let (_dir, mut j) = db();
        let ((), pos) = j
            .write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (1, 'rossi', 'calling')", [])
                    .map(drop)
            })
            .unwrap();
        let pos = pos.expect("a record");
        assert_eq!(pos.seq, 1);
        assert_eq!(head(j.connection()).unwrap(), pos);
        let recs = read_from(j.connection(), 1, 10).unwrap();
        assert_eq!(recs.len(), 1);
        assert!(recs[0].is_intact());
        assert_eq!(recs[0].kind, Kind::Db as u8);
        assert_eq!(history(j.connection()).unwrap(), vec![(pos.gen, 1)]);
    }

    #[test]
    fn a_failed_write_leaves_neither_data_nor_record() {
        let (_dir, mut j) = db();
        let err = j.write(|tx| {
            tx.execute("INSERT INTO ledger VALUES (1, 'a', 'b')", [])?;
            tx.execute("INSERT INTO nonexistent VALUES (1)", [])
                .map(drop)
        });
        assert!(err.is_err());
        let n: i64 = j
            .connection()
            .query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        assert_eq!(head(j.connection()).unwrap(), Pos::default());
    }

    #[test]
    fn a_write_that_changes_nothing_journals_nothing() {
        let (_dir, mut j) = db();
        let (n, pos) = j
            .write(|tx| tx.query_row("SELECT count(*) FROM ledger", [], |r| r.get::<_, i64>(0)))
            .unwrap();
        assert_eq!((n, pos), (0, None));
    }

    #[test]
    fn large_changesets_are_compressed_and_come_back_whole() {
        let (_dir, mut j) = db();
        j.write(|tx| {
            for i in 0..500 {
                tx.execute(
                    "INSERT INTO ledger VALUES (?1, 'someone with a long name', 'calling')",
                    [i],
                )?;
            }
            Ok(())
        })
        .unwrap();
        let rec = &read_from(j.connection(), 1, 1).unwrap()[0];
        assert_eq!(rec.body[0], 1, "zstd");
        let cs = unpack(&rec.body, 1 << 20).unwrap();
        assert!(
            cs.len() > rec.body.len() * 2,
            "{} vs {}",
            cs.len(),
            rec.body.len()
        );
        assert!(unpack(&rec.body, 100).is_err(), "the size limit holds");
    }

    #[test]
    fn file_records_follow_the_manifest() {
        let (_dir, j) = db();
        let mut conn = j.conn;
        let meta = FileMeta {
            path: "extensions.conf".into(),
            size: 3,
            mode: 0o644,
            mtime_ns: 1,
            hash: [1; 32],
        };
        assert_eq!(
            journal_file(&mut conn, &meta).unwrap().map(|p| p.seq),
            Some(1)
        );
        assert_eq!(journal_file(&mut conn, &meta).unwrap(), None, "unchanged");
        let newer = FileMeta {
            hash: [2; 32],
            ..meta.clone()
        };
        assert_eq!(
            journal_file(&mut conn, &newer).unwrap().map(|p| p.seq),
            Some(2)
        );
        assert_eq!(manifest(&conn).unwrap(), vec![newer]);
        assert_eq!(
            journal_delete(&mut conn, "extensions.conf")
                .unwrap()
                .map(|p| p.seq),
            Some(3)
        );
        assert_eq!(journal_delete(&mut conn, "extensions.conf").unwrap(), None);
        assert!(manifest(&conn).unwrap().is_empty());
    }

    #[test]
    fn generations_start_at_the_next_record_and_pruning_keeps_the_head() {
        let (_dir, mut j) = db();
        for i in 0..5 {
            j.write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (?1, 'x', 'y')", [i])
                    .map(drop)
            })
            .unwrap();
        }
        let g2 = new_generation(j.connection()).unwrap();
        let ((), pos) = j
            .write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (9, 'x', 'y')", [])
                    .map(drop)
            })
            .unwrap();
        assert_eq!(pos, Some(Pos { gen: g2, seq: 6 }));
        assert_eq!(history(j.connection()).unwrap()[1], (g2, 6));
        prune(j.connection(), 0).unwrap();
        assert_eq!(low(j.connection()).unwrap(), 6);
        prune(j.connection(), 0).unwrap();
        j.connection().execute("DELETE FROM _sync_log", []).unwrap();
        let ((), pos) = j
            .write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (10, 'x', 'y')", [])
                    .map(drop)
            })
            .unwrap();
        assert_eq!(
            pos.map(|p| p.seq),
            Some(7),
            "sequence numbers are never reused"
        );
    }
}
