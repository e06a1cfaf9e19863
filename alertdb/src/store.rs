//! The campaign database: every read and write the application does, in one place.
//!
//! Writes go through the sync agent's journal ([`journal::Journal::write`]):
//! the changes and their replication record commit in one transaction, so nothing written
//! here can miss the backup. Each write that an operator asked for also leaves an audit
//! row in the same transaction. The dialer's ledger writes are small and frequent (before
//! and after each attempt); they are the campaign's crash safety.
//!
//! Blocking (rusqlite): async callers use `spawn_blocking`.

use std::path::Path;

use journal::{Journal, JournalError};
use rusqlite::{params, OptionalExtension, Transaction};

use crate::schema::MIGRATIONS;
use crate::{CampaignSpec, Outcome, State};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request makes no sense in the current state (said to the operator as is).
    #[error("{0}")]
    Refused(String),
    /// SQLite.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The journal.
    #[error("database journal: {0}")]
    Journal(#[from] JournalError),
}

/// A refusal raised inside a write transaction: it rolls the transaction back and reaches
/// the operator as [`StoreError::Refused`].
fn refuse(msg: impl Into<String>) -> StoreError {
    StoreError::Refused(msg.into())
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    journal::now_ms() as i64
}

/// A campaign as the dialer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Message row id.
    pub message_id: i64,
    /// Higher first.
    pub priority: i64,
    /// Concurrent lines at most.
    pub max_lines: u32,
    /// New calls per second at most.
    pub cps: f64,
    /// Ring timeout.
    pub ring_secs: u32,
    /// Attempts per recipient at most.
    pub max_attempts: u32,
    /// Between attempts.
    pub retry_secs: u32,
    /// Dialling window, minutes after local midnight (start, end).
    pub window: Option<(u32, u32)>,
    /// State.
    pub state: State,
}

/// A recipient due for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Contact row id.
    pub contact_id: i64,
    /// Attempts so far.
    pub attempts: u32,
    /// The contact's numbers, in order (attempt n calls number n mod len).
    pub numbers: Vec<String>,
}

/// A message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// `text` (spoken by TTS) or `recording` (a prompt name).
    pub kind: String,
    /// The text, or the prompt's name.
    pub body: String,
    /// Language (TTS voice).
    pub language: String,
}

/// Counts for status and ETA.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Recipients by status.
    pub pending: u64,
    /// Being called now.
    pub calling: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// Out of attempts.
    pub gave_up: u64,
    /// Stopped with the campaign.
    pub stopped: u64,
    /// Attempts finished.
    pub attempts_done: u64,
    /// Attempts that were answered.
    pub answered: u64,
    /// Mean duration of finished attempts, ms.
    pub mean_attempt_ms: f64,
}

/// One recipient's line in a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportRow {
    /// Contact's external id.
    pub external_id: String,
    /// Name.
    pub name: String,
    /// Final or current status.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's outcome.
    pub last_outcome: String,
    /// The number last called.
    pub last_number: String,
    /// The node that placed the last attempt.
    pub node: String,
}

/// The database, opened for this node.
pub struct Store {
    journal: Journal,
    node: String,
}

impl Store {
    /// The schema version a connection (or a transaction on it) sees; 0 before the first.
    fn schema_version_in(c: &rusqlite::Connection) -> rusqlite::Result<u32> {
        let exists: bool = c.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'allerta_schema'",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(0);
        }
        let v: Option<u32> =
            c.query_row("SELECT max(version) FROM allerta_schema", [], |r| r.get(0))?;
        Ok(v.unwrap_or(0))
    }

    /// Opens (creates) the database. `node` names this node in the ledger.
    pub fn open(path: &Path, node: &str) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Refused(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let journal = Journal::open(path)?;
        journal
            .connection()
            .pragma_update(None, "foreign_keys", "on")?;
        Ok(Self {
            journal,
            node: node.to_owned(),
        })
    }

    /// With a wake socket for the sync agent (records leave at once).
    pub fn with_wake_socket(mut self, path: &Path) -> Self {
        self.journal = self.journal.with_wake_socket(path);
        self
    }

    /// The schema version (0: no tables yet, e.g. a backup before the first replication).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(Self::schema_version_in(self.journal.connection())?)
    }

    /// Brings the schema up to date (the master only: the backup gets the same SQL
    /// through replication). Returns the version reached. Each step reads the version and
    /// applies the next migration under one write lock, so a media core and an operator's
    /// command that migrate at the same moment apply each step once.
    pub fn migrate(&mut self) -> Result<u32, StoreError> {
        loop {
            let applied = self.journal.change_schema_with(|tx| {
                let version = Self::schema_version_in(tx)?;
                Ok(MIGRATIONS.get(version as usize).map(|step| {
                    format!(
                        "{step}\nINSERT INTO allerta_schema(version) VALUES ({});",
                        version + 1
                    )
                }))
            })?;
            if applied.is_none() {
                return self.schema_version();
            }
        }
    }

    /// One journaled write transaction (replicated to the backup), for rules that live with
    /// their callers (the media core's `reconcile`).
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.journal.write_or_refuse(f).map(|(v, _)| v)
    }

    /// Adds an operator (argon2id password hash; an optional phone PIN, hashed too).
    pub fn add_operator(
        &mut self,
        name: &str,
        role: &str,
        password: &str,
        pin: Option<&str>,
        who: &str,
    ) -> Result<(), StoreError> {
        if !matches!(role, "admin" | "operator") {
            return Err(StoreError::Refused(format!(
                "role {role:?}: admin or operator"
            )));
        }
        if let Some(problem) = pin.and_then(crate::password::pin_problem) {
            return Err(StoreError::Refused(problem));
        }
        let hash = crate::password::hash(password).map_err(StoreError::Refused)?;
        let pin_hash = pin
            .map(crate::password::hash)
            .transpose()
            .map_err(StoreError::Refused)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO operators(name, role, password_hash, pin_hash) VALUES (?1, ?2, ?3, ?4)",
                params![name, role, hash, pin_hash],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    refuse(format!("operator {name:?} exists"))
                }
                e => e.into(),
            })?;
            Ok(audit(tx, who, "operator add", &format!("{name} ({role})"))?)
        })
    }

    /// Every operator that has a phone PIN, with its hash: read under the store's lock, then
    /// checked with [`operator_with_pin`] outside it (argon2 takes a while, and the ledger
    /// must not wait for a guess).
    pub fn operator_pins(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .journal
            .connection()
            .prepare("SELECT name, pin_hash FROM operators WHERE pin_hash IS NOT NULL")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Imports contacts into list `list` (created if needed), all or nothing. A contact
    /// already known by its external id is updated (name, language, tags, numbers).
    pub fn import_contacts(
        &mut self,
        contacts: &[crate::contacts::Contact],
        list: &str,
        who: &str,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            tx.execute("INSERT OR IGNORE INTO lists(name) VALUES (?1)", [list])?;
            let list_id: i64 =
                tx.query_row("SELECT id FROM lists WHERE name = ?1", [list], |r| r.get(0))?;
            for c in contacts {
                tx.execute(
                    "INSERT INTO contacts(external_id, name, language, tags) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(external_id) DO UPDATE SET name = excluded.name,
                       language = excluded.language, tags = excluded.tags",
                    params![c.external_id, c.name, c.language, c.tags.join(";")],
                )?;
                let id: i64 = tx.query_row(
                    "SELECT id FROM contacts WHERE external_id = ?1",
                    [&c.external_id],
                    |r| r.get(0),
                )?;
                tx.execute("DELETE FROM contact_numbers WHERE contact_id = ?1", [id])?;
                for (i, n) in c.numbers.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO contact_numbers(contact_id, position, number) VALUES (?1, ?2, ?3)",
                        params![id, i as i64, n],
                    )?;
                }
                tx.execute(
                    "INSERT OR IGNORE INTO list_members(list_id, contact_id) VALUES (?1, ?2)",
                    params![list_id, id],
                )?;
            }
            audit(
                tx,
                who,
                "contacts import",
                &format!("{} contacts into list {list}", contacts.len()),
            )?;
            Ok(contacts.len())
        })
    }

    /// Adds a message: `text` (spoken) or `recording` (a prompt name in the prompts dir).
    pub fn add_message(
        &mut self,
        name: &str,
        kind: &str,
        body: &str,
        language: &str,
        who: &str,
    ) -> Result<(), StoreError> {
        if !matches!(kind, "text" | "recording") {
            return Err(StoreError::Refused(format!(
                "message kind {kind:?}: text or recording"
            )));
        }
        if body.trim().is_empty() {
            return Err(StoreError::Refused("the message is empty".into()));
        }
        self.write(|tx| {
            tx.execute(
                "INSERT INTO messages(name, kind, body, language) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, body = excluded.body,
                   language = excluded.language",
                params![name, kind, body, language],
            )?;
            Ok(audit(tx, who, "message set", &format!("{name} ({kind})"))?)
        })
    }

    /// A message by id.
    pub fn message(&self, id: i64) -> Result<Option<MessageRow>, StoreError> {
        Ok(self
            .journal
            .connection()
            .query_row(
                "SELECT kind, body, language FROM messages WHERE id = ?1",
                [id],
                message_row,
            )
            .optional()?)
    }

    /// Creates a campaign in `draft`.
    pub fn create_campaign(&mut self, spec: &CampaignSpec, who: &str) -> Result<i64, StoreError> {
        spec.check().map_err(StoreError::Refused)?;
        self.write(|tx| {
            let message: Option<i64> = tx
                .query_row(
                    "SELECT id FROM messages WHERE name = ?1",
                    [&spec.message],
                    |r| r.get(0),
                )
                .optional()?;
            let message =
                message.ok_or_else(|| refuse(format!("no message {:?}", spec.message)))?;
            let exists: bool = tx.query_row(
                "SELECT count(*) > 0 FROM campaigns WHERE name = ?1",
                [&spec.name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(refuse(format!("campaign {:?} exists", spec.name)));
            }
            tx.execute(
                "INSERT INTO campaigns(name, message_id, priority, max_lines, cps, ring_secs,
                   max_attempts, retry_secs, window_start, window_end, state, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'draft', ?11)",
                params![
                    spec.name,
                    message,
                    spec.priority,
                    spec.max_lines,
                    spec.cps,
                    spec.ring_secs,
                    spec.max_attempts,
                    spec.retry_secs,
                    spec.window.map(|w| w.0),
                    spec.window.map(|w| w.1),
                    now_ms()
                ],
            )?;
            let id = tx.last_insert_rowid();
            for list in &spec.lists {
                let list_id: Option<i64> = tx
                    .query_row("SELECT id FROM lists WHERE name = ?1", [list], |r| r.get(0))
                    .optional()?;
                let list_id = list_id.ok_or_else(|| refuse(format!("no list {list:?}")))?;
                tx.execute(
                    "INSERT INTO campaign_lists(campaign_id, list_id) VALUES (?1, ?2)",
                    params![id, list_id],
                )?;
            }
            audit(
                tx,
                who,
                "campaign create",
                &format!(
                    "{} (message {}, lists {})",
                    spec.name,
                    spec.message,
                    spec.lists.join(",")
                ),
            )?;
            Ok(id)
        })
    }

    /// start, pause, resume, stop. Starting takes the lists' members as the campaign's
    /// recipients (a contact in two lists is called once).
    pub fn control(&mut self, name: &str, action: &str, who: &str) -> Result<State, StoreError> {
        self.write(|tx| {
            let row: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, state FROM campaigns WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (id, state) = row.ok_or_else(|| refuse(format!("no campaign {name:?}")))?;
            let state = State::parse(&state).ok_or_else(|| refuse("unknown state"))?;
            let next = state.after(action).map_err(refuse)?;
            let now = now_ms();
            if action == "start" {
                let added = tx.execute(
                    "INSERT OR IGNORE INTO recipients(campaign_id, contact_id, status, next_at)
                     SELECT DISTINCT ?1, m.contact_id, 'pending', 0
                     FROM campaign_lists cl JOIN list_members m ON m.list_id = cl.list_id
                     WHERE cl.campaign_id = ?1
                       AND EXISTS (SELECT 1 FROM contact_numbers n WHERE n.contact_id = m.contact_id)",
                    [id],
                )?;
                if added == 0 {
                    return Err(refuse(format!(
                        "campaign {name:?} has nobody to call (its lists are empty or have no numbers)"
                    )));
                }
                tx.execute(
                    "UPDATE campaigns SET started_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
            }
            if next == State::Stopped {
                tx.execute(
                    "UPDATE recipients SET status = 'stopped'
                     WHERE campaign_id = ?1 AND status = 'pending'",
                    [id],
                )?;
                tx.execute(
                    "UPDATE campaigns SET finished_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
            }
            tx.execute(
                "UPDATE campaigns SET state = ?2 WHERE id = ?1",
                params![id, next.as_str()],
            )?;
            audit(tx, who, &format!("campaign {action}"), name)?;
            Ok(next)
        })
    }

    /// The campaigns that dispatch (running), highest priority first.
    pub fn running(&self) -> Result<Vec<Campaign>, StoreError> {
        if self.schema_version()? == 0 {
            return Ok(Vec::new());
        }
        self.campaigns("WHERE state = 'running' ORDER BY priority DESC, id", [])
    }

    /// A campaign by name.
    pub fn campaign(&self, name: &str) -> Result<Option<Campaign>, StoreError> {
        let c = self.campaigns("WHERE name = ?1", [name])?;
        Ok(c.into_iter().next())
    }

    /// The campaign with row id `id`, if any.
    pub fn campaign_by_id(&self, id: i64) -> Result<Option<Campaign>, StoreError> {
        let c = self.campaigns("WHERE id = ?1", [id])?;
        Ok(c.into_iter().next())
    }

    /// Campaigns matching `filter` (an SQL tail with `?1`… placeholders for `params`).
    fn campaigns(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Campaign>, StoreError> {
        let sql = format!(
            "SELECT id, name, message_id, priority, max_lines, cps, ring_secs, max_attempts,
                    retry_secs, window_start, window_end, state FROM campaigns {filter}"
        );
        let mut stmt = self.journal.connection().prepare(&sql)?;
        let rows = stmt
            .query_map(params, |r| {
                let ws: Option<u32> = r.get(9)?;
                let we: Option<u32> = r.get(10)?;
                let state: String = r.get(11)?;
                Ok(Campaign {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    message_id: r.get(2)?,
                    priority: r.get(3)?,
                    max_lines: r.get(4)?,
                    cps: r.get(5)?,
                    ring_secs: r.get(6)?,
                    max_attempts: r.get(7)?,
                    retry_secs: r.get(8)?,
                    window: ws.zip(we),
                    state: State::parse(&state).unwrap_or(State::Paused),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Up to `limit` recipients of `campaign` due at `now`: fewest attempts first, then
    /// in the order they became due.
    pub fn due(&self, campaign: i64, now: i64, limit: usize) -> Result<Vec<Due>, StoreError> {
        let conn = self.journal.connection();
        let mut stmt = conn.prepare_cached(
            "SELECT r.contact_id, r.attempts,
                    (SELECT group_concat(number, ',') FROM
                        (SELECT number FROM contact_numbers n
                         WHERE n.contact_id = r.contact_id ORDER BY position))
             FROM recipients r
             WHERE r.campaign_id = ?1 AND r.status = 'pending' AND r.next_at <= ?2
             ORDER BY r.attempts, r.next_at, r.contact_id LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![campaign, now, limit as i64], |r| {
                let numbers: Option<String> = r.get(2)?;
                Ok(Due {
                    contact_id: r.get(0)?,
                    attempts: r.get(1)?,
                    numbers: numbers
                        .unwrap_or_default()
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The ledger before a call: the attempt row (no outcome yet), the recipient marked
    /// `calling` with its attempt counted. Returns the attempt's id.
    pub fn begin_attempt(
        &mut self,
        campaign: i64,
        contact: i64,
        number: &str,
    ) -> Result<i64, StoreError> {
        let node = self.node.clone();
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE recipients SET status = 'calling', attempts = attempts + 1
                 WHERE campaign_id = ?1 AND contact_id = ?2 AND status = 'pending'",
                params![campaign, contact],
            )?;
            if changed == 0 {
                return Err(refuse("the recipient is not pending any more"));
            }
            tx.execute(
                "INSERT INTO attempts(campaign_id, contact_id, number, node, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![campaign, contact, number, node, now_ms()],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// The person pressed 1: recorded at once, before the call goes on, so a crash from
    /// here on can never make us call them again.
    pub fn confirm(&mut self, attempt: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE attempts SET dtmf = '1', outcome = 'confirmed' WHERE id = ?1",
                [attempt],
            )?;
            tx.execute(
                "UPDATE recipients SET status = 'confirmed', last_outcome = 'confirmed'
                 WHERE (campaign_id, contact_id) =
                       (SELECT campaign_id, contact_id FROM attempts WHERE id = ?1)",
                [attempt],
            )?;
            Ok(())
        })
    }

    /// The ledger after a call: its outcome, and the recipient's next step (confirmed,
    /// another attempt at `retry_at`, or out of attempts).
    pub fn end_attempt(
        &mut self,
        attempt: i64,
        end: &AttemptEnd,
        max_attempts: u32,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE attempts SET outcome = ?2, sip_code = ?3, answered_at = ?4, ended_at = ?5,
                   dtmf = coalesce(dtmf, ?6)
                 WHERE id = ?1",
                params![
                    attempt,
                    end.outcome.as_str(),
                    end.sip_code,
                    end.answered_at,
                    now_ms(),
                    end.dtmf
                ],
            )?;
            settle_recipient(tx, attempt, end.outcome, max_attempts, retry_at)?;
            finish_if_done(tx, attempt)?;
            Ok(())
        })
    }

    /// After a crash or a takeover: attempts that never got an outcome. This node's own
    /// end as `interrupted` now (it restarted: those calls are gone); they were counted
    /// when they began, so they count once, and their recipients are due again unless out
    /// of attempts. The other node's may still be going on there (a master that loses its
    /// role finishes its calls in progress): they are left open, their recipients
    /// `calling` (nobody calls them), and returned as `in_doubt` (attempt, campaign) for
    /// [`Store::settle_in_doubt`] once the longest call could have ended. Their outcome, if
    /// the other node records one, arrives through `reconcile`.
    pub fn recover(&mut self) -> Result<Recovered, StoreError> {
        if self.schema_version()? == 0 {
            return Ok(Recovered::default());
        }
        let node = self.node.clone();
        self.write(|tx| {
            let open: Vec<(i64, u32, String, i64)> = {
                let mut stmt = tx.prepare(
                    "SELECT a.id, c.max_attempts, a.node, a.campaign_id FROM attempts a
                     JOIN campaigns c ON c.id = a.campaign_id WHERE a.outcome IS NULL",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                rows
            };
            let mut out = Recovered::default();
            for (attempt, max, by, campaign) in &open {
                if *by == node {
                    interrupt(tx, *attempt, *max)?;
                    out.interrupted += 1;
                } else {
                    out.in_doubt.push((*attempt, *campaign));
                }
            }
            // A recipient marked calling with no open attempt (a crash between the two
            // writes cannot happen: they share a transaction) — but be safe.
            tx.execute(
                "UPDATE recipients SET status = 'pending'
                 WHERE status = 'calling' AND NOT EXISTS (
                   SELECT 1 FROM attempts a WHERE a.campaign_id = recipients.campaign_id
                     AND a.contact_id = recipients.contact_id AND a.outcome IS NULL)",
                [],
            )?;
            Ok(out)
        })
    }

    /// The other node's attempts left open by `recover`, once their calls must have ended:
    /// those still without an outcome end as `interrupted` (their recipients due again).
    /// Returns how many.
    pub fn settle_in_doubt(&mut self, attempts: &[i64]) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut closed = 0;
            for attempt in attempts {
                let max: Option<u32> = tx
                    .query_row(
                        "SELECT c.max_attempts FROM attempts a JOIN campaigns c
                           ON c.id = a.campaign_id WHERE a.id = ?1 AND a.outcome IS NULL",
                        [attempt],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(max) = max {
                    interrupt(tx, *attempt, max)?;
                    closed += 1;
                }
            }
            Ok(closed)
        })
    }

    /// Counts for status and ETA.
    pub fn counts(&self, campaign: i64) -> Result<Counts, StoreError> {
        let conn = self.journal.connection();
        let mut c = Counts::default();
        let mut stmt = conn.prepare_cached(
            "SELECT status, count(*) FROM recipients WHERE campaign_id = ?1 GROUP BY status",
        )?;
        let rows: Vec<(String, i64)> = stmt
            .query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (status, n) in rows {
            let n = n.max(0) as u64;
            match status.as_str() {
                "pending" => c.pending = n,
                "calling" => c.calling = n,
                "confirmed" => c.confirmed = n,
                "gave_up" => c.gave_up = n,
                _ => c.stopped = n,
            }
        }
        let (done, answered, mean): (i64, i64, Option<f64>) = conn.query_row(
            "SELECT count(*), count(answered_at), avg(ended_at - started_at)
             FROM attempts WHERE campaign_id = ?1 AND ended_at IS NOT NULL",
            [campaign],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        c.attempts_done = done.max(0) as u64;
        c.answered = answered.max(0) as u64;
        c.mean_attempt_ms = mean.unwrap_or(0.0);
        Ok(c)
    }

    /// Every recipient with its last attempt.
    pub fn report(&self, campaign: i64) -> Result<Vec<ReportRow>, StoreError> {
        let mut stmt = self.journal.connection().prepare(
            "SELECT c.external_id, c.name, r.status, r.attempts, coalesce(r.last_outcome, ''),
                    coalesce(a.number, ''), coalesce(a.node, '')
             FROM recipients r JOIN contacts c ON c.id = r.contact_id
             LEFT JOIN (SELECT contact_id, max(id) AS id FROM attempts
                        WHERE campaign_id = ?1 GROUP BY contact_id) l
               ON l.contact_id = r.contact_id
             LEFT JOIN attempts a ON a.id = l.id
             WHERE r.campaign_id = ?1 ORDER BY c.external_id",
        )?;
        let rows = stmt
            .query_map([campaign], |r| {
                Ok(ReportRow {
                    external_id: r.get(0)?,
                    name: r.get(1)?,
                    status: r.get(2)?,
                    attempts: r.get(3)?,
                    last_outcome: r.get(4)?,
                    last_number: r.get(5)?,
                    node: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The current alert: the message of the running (or paused) campaign with the
    /// highest priority, the most recently started first. `None`: no alert in progress.
    pub fn current_alert(&self) -> Result<Option<MessageRow>, StoreError> {
        if self.schema_version()? == 0 {
            return Ok(None);
        }
        Ok(self
            .journal
            .connection()
            .query_row(
                "SELECT m.kind, m.body, m.language FROM campaigns c
                 JOIN messages m ON m.id = c.message_id
                 WHERE c.state IN ('running', 'paused')
                 ORDER BY c.priority DESC, c.started_at DESC LIMIT 1",
                [],
                message_row,
            )
            .optional()?)
    }

    /// The campaigns' names and states, for listings.
    pub fn list(&self) -> Result<Vec<(String, String)>, StoreError> {
        if self.schema_version()? == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .journal
            .connection()
            .prepare("SELECT name, state FROM campaigns ORDER BY id")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Read access for tests and reports.
    pub fn connection(&self) -> &rusqlite::Connection {
        self.journal.connection()
    }
}

/// What `recover` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// This node's attempts closed as `interrupted`.
    pub interrupted: usize,
    /// The other node's open attempts, (attempt, campaign): maybe still in progress there.
    pub in_doubt: Vec<(i64, i64)>,
}

/// Ends an attempt as `interrupted` and settles its recipient.
fn interrupt(tx: &Transaction<'_>, attempt: i64, max_attempts: u32) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE attempts SET outcome = 'interrupted', ended_at = ?2 WHERE id = ?1",
        params![attempt, now_ms()],
    )?;
    settle_recipient(tx, attempt, Outcome::Interrupted, max_attempts, now_ms())?;
    finish_if_done(tx, attempt)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptEnd {
    /// Outcome.
    pub outcome: Outcome,
    /// The SIP final response code, for failures.
    pub sip_code: Option<u16>,
    /// When it was answered.
    pub answered_at: Option<i64>,
    /// Digits pressed.
    pub dtmf: Option<String>,
}

fn settle_recipient(
    tx: &Transaction<'_>,
    attempt: i64,
    outcome: Outcome,
    max_attempts: u32,
    retry_at: i64,
) -> rusqlite::Result<()> {
    // A confirmation recorded during the call wins over whatever the call ended with.
    tx.execute(
        "UPDATE recipients SET
           last_outcome = CASE WHEN status = 'confirmed' THEN last_outcome ELSE ?2 END,
           status = CASE
             WHEN status = 'confirmed' OR ?2 = 'confirmed' THEN 'confirmed'
             WHEN status = 'stopped' THEN 'stopped'
             WHEN (SELECT state FROM campaigns WHERE id = recipients.campaign_id) = 'stopped' THEN 'stopped'
             WHEN attempts >= ?3 THEN 'gave_up'
             ELSE 'pending' END,
           next_at = ?4
         WHERE (campaign_id, contact_id) =
               (SELECT campaign_id, contact_id FROM attempts WHERE id = ?1)",
        params![attempt, outcome.as_str(), max_attempts, retry_at],
    )?;
    Ok(())
}

/// A running campaign with nobody left pending or being called is done.
fn finish_if_done(tx: &Transaction<'_>, attempt: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE campaigns SET state = 'done', finished_at = ?2
         WHERE id = (SELECT campaign_id FROM attempts WHERE id = ?1) AND state = 'running'
           AND NOT EXISTS (SELECT 1 FROM recipients WHERE campaign_id = campaigns.id
                           AND status IN ('pending', 'calling'))",
        params![attempt, now_ms()],
    )?;
    Ok(())
}

/// A `(kind, body, language)` row.
fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        kind: r.get(0)?,
        body: r.get(1)?,
        language: r.get(2)?,
    })
}

/// One line of the audit log, in the transaction that made the change it records.
pub(crate) fn audit(
    tx: &Transaction<'_>,
    who: &str,
    what: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO audit(at, who, what, detail) VALUES (?1, ?2, ?3, ?4)",
        params![now_ms(), who, what, detail],
    )?;
    Ok(())
}

/// The operator whose PIN hash `pin` matches, of `pins` (from [`Store::operator_pins`]).
pub fn operator_with_pin(pins: Vec<(String, String)>, pin: &str) -> Option<String> {
    pins.into_iter()
        .find(|(_, h)| crate::password::verify(pin, h))
        .map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{running_campaign, status};

    #[test]
    fn two_processes_migrating_at_once_apply_each_step_once() {
        // The media core and an operator's command, each with its own connection, both
        // starting on a new database (a repeat run caught "table operators already exists").
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allerta.db");
        for _ in 0..20 {
            let _ = std::fs::remove_file(&path);
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            // The barrier comes first: a thread that fails must not leave the other
            // waiting at it for ever (a failed open used to hang this test).
            let runs: Vec<_> = (0..2)
                .map(|i| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Store::open(&path, &format!("node-{i}"))?.migrate()
                    })
                })
                .collect();
            for run in runs {
                assert_eq!(run.join().unwrap().unwrap(), MIGRATIONS.len() as u32);
            }
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = running_campaign(&dir.path().join("allerta.db"), "node-a", 2);
        (dir, s)
    }

    #[test]
    fn the_ledger_counts_attempts_once_and_a_confirmation_is_final() {
        let (_dir, mut s) = store();
        let c = s.campaign("c").unwrap().unwrap();
        let due = s.due(c.id, now_ms(), 10).unwrap();
        assert_eq!(due.len(), 3);
        // 1 confirms mid-call, then the call ends "answered": still confirmed.
        let a1 = s.begin_attempt(c.id, due[0].contact_id, "n").unwrap();
        s.confirm(a1).unwrap();
        let end = |outcome| AttemptEnd {
            outcome,
            sip_code: None,
            answered_at: None,
            dtmf: None,
        };
        s.end_attempt(a1, &end(Outcome::Answered), 2, now_ms())
            .unwrap();
        assert_eq!(status(&s, due[0].contact_id), ("confirmed".into(), 1));
        // 2 is busy twice: out of attempts.
        for _ in 0..2 {
            let a = s.begin_attempt(c.id, due[1].contact_id, "n").unwrap();
            s.end_attempt(a, &end(Outcome::Busy), 2, now_ms()).unwrap();
        }
        assert_eq!(status(&s, due[1].contact_id), ("gave_up".into(), 2));
        // 3 is being called when the node dies: recovered as interrupted, counted once,
        // due again; a second begin for the same person is refused while calling.
        let a3 = s.begin_attempt(c.id, due[2].contact_id, "n").unwrap();
        assert!(matches!(
            s.begin_attempt(c.id, due[2].contact_id, "n"),
            Err(StoreError::Refused(_))
        ));
        assert_eq!(s.recover().unwrap().interrupted, 1);
        assert_eq!(status(&s, due[2].contact_id), ("pending".into(), 1));
        let outcome: String = s
            .connection()
            .query_row("SELECT outcome FROM attempts WHERE id = ?1", [a3], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(outcome, "interrupted");
        assert_eq!(s.campaign("c").unwrap().unwrap().state, State::Running);
        let a = s.begin_attempt(c.id, due[2].contact_id, "n").unwrap();
        s.confirm(a).unwrap();
        s.end_attempt(a, &end(Outcome::Confirmed), 2, now_ms())
            .unwrap();
        // Nobody left: the campaign is done, and the counts say so.
        assert_eq!(s.campaign("c").unwrap().unwrap().state, State::Done);
        let n = s.counts(c.id).unwrap();
        assert_eq!((n.confirmed, n.gave_up, n.pending), (2, 1, 0));
        let audit: i64 = s
            .connection()
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap();
        assert!(audit >= 4, "every operator change is audited");
    }

    #[test]
    fn stopping_a_campaign_stops_whoever_is_pending() {
        let (_dir, mut s) = store();
        assert_eq!(s.control("c", "stop", "test").unwrap(), State::Stopped);
        let c = s.campaign("c").unwrap().unwrap();
        assert!(s.due(c.id, now_ms(), 10).unwrap().is_empty());
        assert_eq!(s.counts(c.id).unwrap().stopped, 3);
        assert!(s.control("c", "start", "test").is_err());
    }
}
