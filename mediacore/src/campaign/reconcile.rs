//! After a split brain: the campaign facts the other node recorded while it believed itself
//! master are merged into this (the winning) node's ledger, so nobody who confirmed on
//! either side is called again.
//!
//! The node that stepped down sends what only it wrote to this node's inbox
//! (`journal::inbox`). Each of its write transactions is one of two things:
//! - **facts** of a campaign: attempts begun, ended, confirmed; recipients' progress; a
//!   campaign found done. These only grow (an attempt happened; a person pressed 1), so
//!   they merge without asking anyone: [`merge_new`], run by the dialer every tick on the
//!   master, in one journaled write per event (replicated like any change);
//! - anything else is an **operator's change** (contacts, messages, operators, a campaign
//!   created or stopped): it waits in the inbox for `allertactl sync divergence apply`,
//!   because only a person can say whether it still applies.
//!
//! The merge of one event, given the other node's row changes in order:
//! - an attempt it began (an INSERT) is added here under a new id (ids were handed out on
//!   both sides), with its final outcome, or `interrupted` if it never got one;
//! - an attempt both nodes had before the split (an UPDATE only) takes the other node's
//!   outcome if it has one and ours is missing or `interrupted` (our takeover cut it short;
//!   the call went on over there);
//! - a recipient confirmed there is confirmed here; every touched recipient counts its
//!   attempts again (both sides' attempts are now in the ledger), is due again if this node
//!   had left its call to the other (`Store::recover`: in doubt) and that call has ended,
//!   and gives up if pending and out of attempts; a campaign with nobody left pending or
//!   being called is done.
//! - facts about a campaign or contact this node does not have (created over there) are
//!   left out and counted: that campaign comes with the operator's change, if applied.
//!
//! Between the link's return and the merge, this node would still call people who confirmed
//! over there. So when the master hears the other node claim master ([`AfterSplit`]: a split
//! healing, or a frozen master thawing), campaign calls wait until this node's sync agent has
//! met the other again and the merge is done (`journal::inbox::met_since`), at most
//! [`AFTER_SPLIT_MAX`].

use std::collections::{BTreeMap, BTreeSet};

use journal::inbox::{self, Item, RowChange};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Transaction};

use super::store::{now_ms, Store, StoreError};

/// The longest campaign calls wait for the other node after it was heard claiming master
/// (its sync agent may be down: then the facts arrive later and are merged then).
pub const AFTER_SPLIT_MAX_US: u64 = 10_000_000;

/// Pure: whether campaign calls wait for the other node after a split (see the module doc).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AfterSplit {
    /// The other master's last advert as seen at the previous look while this node was
    /// master (`None`: not master then).
    last_heard: Option<Option<u64>>,
    /// Waiting since the other node was heard claiming master at this time (CLOCK_MONOTONIC,
    /// µs), until the deadline.
    waiting: Option<(u64, u64)>,
}

/// What [`AfterSplit::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// No wait, or it just ended because the other node's writes are merged.
    Go,
    /// It ended at the deadline without the other node's writes.
    GaveUp,
    /// Still waiting, at most this many µs more.
    Hold { left_us: u64 },
}

impl AfterSplit {
    /// One look at the role and the other master's last advert; true when a wait starts
    /// (a claim heard while this node was already master).
    pub fn observe(&mut self, now_us: u64, master: bool, heard_us: Option<u64>) -> bool {
        if !master {
            self.last_heard = None;
            self.waiting = None;
            return false;
        }
        let started = match (self.last_heard, heard_us) {
            (Some(before), Some(now)) => before.is_none_or(|b| now > b),
            _ => false,
        };
        self.last_heard = Some(heard_us);
        if started {
            let heard = heard_us.unwrap_or(now_us);
            // A longer claim keeps the first moment (what the sync session must follow).
            let since = self.waiting.map_or(heard, |(s, _)| s);
            self.waiting = Some((since, now_us + AFTER_SPLIT_MAX_US));
        }
        started
    }

    /// Since when the current wait runs (the other master heard), if any.
    pub fn waiting_since(&self) -> Option<u64> {
        self.waiting.map(|(since, _)| since)
    }

    /// Whether calls may go: `met` says whether the other node was met and merged since.
    pub fn check(&mut self, now_us: u64, met: bool) -> Wait {
        let Some((_, deadline)) = self.waiting else {
            return Wait::Go;
        };
        if met {
            self.waiting = None;
            Wait::Go
        } else if now_us >= deadline {
            self.waiting = None;
            Wait::GaveUp
        } else {
            Wait::Hold {
                left_us: deadline - now_us,
            }
        }
    }
}

/// What one event's merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    pub peer: String,
    pub event: String,
    /// Attempts added or completed from the other node.
    pub attempts: usize,
    /// Recipients confirmed here because they confirmed there.
    pub confirmations: usize,
    /// Facts about campaigns or contacts this node does not have.
    pub left_out: usize,
    /// Operator's changes now waiting for `apply`.
    pub waiting: usize,
}

/// An attempt as the other node last recorded it (`None`: not in its changes).
#[derive(Debug, Clone, Default)]
struct Attempt {
    began_there: bool,
    campaign: Option<i64>,
    contact: Option<i64>,
    number: Option<String>,
    node: Option<String>,
    started_at: Option<i64>,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    outcome: Option<String>,
    sip_code: Option<i64>,
    dtmf: Option<String>,
}

/// The columns of `attempts`, `recipients` and `campaigns` the merge reads, by position
/// (the schema's migration 1; a changeset carries values by position).
mod col {
    pub(super) const A_ID: usize = 0;
    pub(super) const A_CAMPAIGN: usize = 1;
    pub(super) const A_CONTACT: usize = 2;
    pub(super) const A_NUMBER: usize = 3;
    pub(super) const A_NODE: usize = 4;
    pub(super) const A_STARTED: usize = 5;
    pub(super) const A_ANSWERED: usize = 6;
    pub(super) const A_ENDED: usize = 7;
    pub(super) const A_OUTCOME: usize = 8;
    pub(super) const A_SIP: usize = 9;
    pub(super) const A_DTMF: usize = 10;
    pub(super) const R_CAMPAIGN: usize = 0;
    pub(super) const R_CONTACT: usize = 1;
    pub(super) const R_STATUS: usize = 2;
    /// `campaigns.state` and `campaigns.finished_at`: the only columns the dialer changes.
    pub(super) const C_STATE: usize = 11;
    pub(super) const C_FINISHED: usize = 14;
}

/// Whether a transaction of the other node is campaign facts (see the module doc).
pub fn is_facts(rows: &[RowChange]) -> bool {
    !rows.is_empty()
        && rows.iter().all(|r| match r.table.as_str() {
            "attempts" => r.op != "DELETE",
            "recipients" => r.op == "UPDATE",
            "campaigns" => {
                r.op == "UPDATE"
                    && r.new.iter().enumerate().all(|(i, v)| {
                        v.is_none() || i == 0 || i == col::C_STATE || i == col::C_FINISHED
                    })
            }
            _ => false,
        })
}

fn int(v: &[Option<Value>], i: usize) -> Option<i64> {
    match v.get(i) {
        Some(Some(Value::Integer(n))) => Some(*n),
        _ => None,
    }
}

fn text(v: &[Option<Value>], i: usize) -> Option<String> {
    match v.get(i) {
        Some(Some(Value::Text(t))) => Some(t.clone()),
        _ => None,
    }
}

/// The key of an UPDATE/DELETE row: in `old` (a changeset's old values hold the key).
fn key(r: &RowChange, i: usize) -> Option<i64> {
    int(&r.old, i).or_else(|| int(&r.new, i))
}

/// Merges every complete event of the inbox not looked at yet. Returns what each did.
pub fn merge_new(store: &mut Store) -> Result<Vec<Merged>, StoreError> {
    if store.schema_version()? == 0 {
        return Ok(Vec::new());
    }
    let events = inbox::complete_new_events(store.connection())?;
    let mut out = Vec::new();
    for items in events {
        out.push(store.write(|tx| Ok(merge_event(tx, &items)?))?);
    }
    Ok(out)
}

/// One event, in the caller's (journaled) transaction.
pub(super) fn merge_event(tx: &Transaction<'_>, items: &[Item]) -> rusqlite::Result<Merged> {
    let mut merged = Merged {
        peer: items.first().map(|i| i.peer.clone()).unwrap_or_default(),
        event: items.first().map(|i| i.event.clone()).unwrap_or_default(),
        ..Merged::default()
    };
    let mut attempts: BTreeMap<i64, Attempt> = BTreeMap::new();
    let mut confirmed: BTreeSet<(i64, i64)> = BTreeSet::new();
    for it in items {
        let rows = inbox::rows(&it.changeset)?;
        if rows.is_empty() {
            // The other node changed files only: nothing to merge, but the event is done.
            inbox::set_state(tx, it.id, "merged", "no database change")?;
            continue;
        }
        if !is_facts(&rows) {
            inbox::set_state(
                tx,
                it.id,
                "pending",
                "an operator's change: apply it or leave it",
            )?;
            merged.waiting += 1;
            continue;
        }
        for r in &rows {
            match r.table.as_str() {
                "attempts" => {
                    let Some(id) = key(r, col::A_ID) else {
                        continue;
                    };
                    let a = attempts.entry(id).or_default();
                    if r.op == "INSERT" {
                        a.began_there = true;
                    }
                    let v = &r.new;
                    a.campaign = int(v, col::A_CAMPAIGN).or(a.campaign);
                    a.contact = int(v, col::A_CONTACT).or(a.contact);
                    a.number = text(v, col::A_NUMBER).or(a.number.take());
                    a.node = text(v, col::A_NODE).or(a.node.take());
                    a.started_at = int(v, col::A_STARTED).or(a.started_at);
                    a.answered_at = int(v, col::A_ANSWERED).or(a.answered_at);
                    a.ended_at = int(v, col::A_ENDED).or(a.ended_at);
                    a.outcome = text(v, col::A_OUTCOME).or(a.outcome.take());
                    a.sip_code = int(v, col::A_SIP).or(a.sip_code);
                    a.dtmf = text(v, col::A_DTMF).or(a.dtmf.take());
                }
                "recipients" if text(&r.new, col::R_STATUS).as_deref() == Some("confirmed") => {
                    if let (Some(c), Some(k)) = (key(r, col::R_CAMPAIGN), key(r, col::R_CONTACT)) {
                        confirmed.insert((c, k));
                    }
                }
                _ => {}
            }
        }
        inbox::set_state(tx, it.id, "merged", "campaign facts, merged")?;
    }

    let mut touched: BTreeSet<(i64, i64)> = BTreeSet::new();
    for (id, a) in &attempts {
        let outcome = a.outcome.clone();
        if a.began_there {
            let (Some(c), Some(k)) = (a.campaign, a.contact) else {
                continue;
            };
            if !is_recipient(tx, c, k)? {
                merged.left_out += 1;
                continue;
            }
            let started = a.started_at.unwrap_or_else(now_ms);
            tx.execute(
                "INSERT INTO attempts(campaign_id, contact_id, number, node, started_at,
                                      answered_at, ended_at, outcome, sip_code, dtmf, merged_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    c,
                    k,
                    a.number.clone().unwrap_or_default(),
                    a.node.clone().unwrap_or_else(|| merged.peer.clone()),
                    started,
                    a.answered_at,
                    a.ended_at.unwrap_or(started),
                    outcome.clone().unwrap_or_else(|| "interrupted".into()),
                    a.sip_code,
                    a.dtmf,
                    now_ms(),
                ],
            )?;
            merged.attempts += 1;
            touched.insert((c, k));
            if outcome.as_deref() == Some("confirmed") {
                confirmed.insert((c, k));
            }
        } else {
            // An attempt from before the split: ours is the row with the same id.
            let ours: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT campaign_id, contact_id FROM attempts WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((c, k)) = ours else {
                merged.left_out += 1;
                continue;
            };
            touched.insert((c, k));
            let Some(outcome) = outcome.filter(|o| o != "interrupted") else {
                continue;
            };
            let changed = tx.execute(
                "UPDATE attempts SET outcome = ?2, answered_at = coalesce(?3, answered_at),
                   ended_at = coalesce(?4, ended_at), sip_code = coalesce(?5, sip_code),
                   dtmf = coalesce(?6, dtmf), merged_at = ?7
                 WHERE id = ?1 AND (outcome IS NULL OR outcome = 'interrupted')",
                params![
                    id,
                    outcome,
                    a.answered_at,
                    a.ended_at,
                    a.sip_code,
                    a.dtmf,
                    now_ms()
                ],
            )?;
            merged.attempts += changed;
            if outcome == "confirmed" {
                confirmed.insert((c, k));
            }
        }
    }

    for &(c, k) in &confirmed {
        if !is_recipient(tx, c, k)? {
            merged.left_out += 1;
            continue;
        }
        merged.confirmations += tx.execute(
            "UPDATE recipients SET status = 'confirmed', last_outcome = 'confirmed'
             WHERE campaign_id = ?1 AND contact_id = ?2 AND status != 'confirmed'",
            params![c, k],
        )?;
        touched.insert((c, k));
    }
    let mut campaigns = BTreeSet::new();
    for &(c, k) in &touched {
        tx.execute(
            "UPDATE recipients SET attempts = max(attempts,
               (SELECT count(*) FROM attempts WHERE campaign_id = ?1 AND contact_id = ?2))
             WHERE campaign_id = ?1 AND contact_id = ?2",
            params![c, k],
        )?;
        // A call this node left to the other (in doubt after its takeover) has ended
        // there: the recipient is due again after the campaign's retry delay.
        tx.execute(
            "UPDATE recipients SET status = 'pending',
               next_at = ?3 + 1000 * (SELECT retry_secs FROM campaigns WHERE id = ?1)
             WHERE campaign_id = ?1 AND contact_id = ?2 AND status = 'calling'
               AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.campaign_id = ?1
                               AND a.contact_id = ?2 AND a.outcome IS NULL)",
            params![c, k, now_ms()],
        )?;
        tx.execute(
            "UPDATE recipients SET status = 'gave_up'
             WHERE campaign_id = ?1 AND contact_id = ?2 AND status = 'pending'
               AND attempts >= (SELECT max_attempts FROM campaigns WHERE id = ?1)",
            params![c, k],
        )?;
        campaigns.insert(c);
    }
    for c in campaigns {
        tx.execute(
            "UPDATE campaigns SET state = 'done', finished_at = ?2
             WHERE id = ?1 AND state = 'running'
               AND NOT EXISTS (SELECT 1 FROM recipients WHERE campaign_id = campaigns.id
                               AND status IN ('pending', 'calling'))",
            params![c, now_ms()],
        )?;
    }
    tx.execute(
        "INSERT INTO audit(at, who, what, detail) VALUES (?1, 'sync', 'divergence merged', ?2)",
        params![
            now_ms(),
            format!(
                "from {} ({}): {} attempt(s), {} confirmation(s), {} left out, {} change(s) waiting for apply",
                merged.peer,
                merged.event,
                merged.attempts,
                merged.confirmations,
                merged.left_out,
                merged.waiting
            )
        ],
    )?;
    Ok(merged)
}

fn is_recipient(tx: &Transaction<'_>, campaign: i64, contact: i64) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT count(*) > 0 FROM recipients WHERE campaign_id = ?1 AND contact_id = ?2",
        params![campaign, contact],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::store::AttemptEnd;
    use crate::campaign::Outcome;
    use alertdb::fixtures::{people, running_campaign, status};
    use journal;
    use journal::record::Divergent;

    fn end(outcome: Outcome) -> AttemptEnd {
        AttemptEnd {
            outcome,
            sip_code: None,
            answered_at: None,
            dtmf: None,
        }
    }

    /// A running campaign of three people on the winner (node-a) and, from the same
    /// database, the loser (node-b); the fork's sequence number.
    /// `before_fork` gets A's store, the campaign and A's database file (B, master before
    /// the split, writes there as `node-b`: what replication would have brought A).
    fn split(
        before_fork: impl FnOnce(&mut Store, i64, &std::path::Path),
    ) -> (tempfile::TempDir, Store, Store, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut a = running_campaign(&dir.path().join("a.db"), "node-a", 3);
        let c = a.campaign("c").unwrap().unwrap().id;
        before_fork(&mut a, c, &dir.path().join("a.db"));
        let b_path = dir.path().join("b.db");
        a.connection()
            .execute("VACUUM INTO ?1", [b_path.to_str().unwrap()])
            .unwrap();
        let fork = journal::head(a.connection()).unwrap().seq;
        let b = Store::open(&b_path, "node-b").unwrap();
        (dir, a, b, fork)
    }

    /// What the loser sends the winner's inbox after the split healed.
    fn deliver(loser: &Store, winner_db: &std::path::Path, fork: u64) {
        let records = journal::read_from(loser.connection(), fork + 1, 1000).unwrap();
        let mut conn = journal::open(winner_db).unwrap();
        for r in &records {
            let d = Divergent {
                event: format!("2026-12-06T18-00-00Z-after-{fork}"),
                fork,
                total: records.len() as u64,
                seq: r.pos.seq,
                changeset: journal::unpack(&r.body, 1 << 24).unwrap(),
            };
            inbox::keep(&mut conn, "node-b", &d).unwrap();
        }
    }

    #[test]
    fn confirmations_and_outcomes_from_the_other_side_merge_and_operator_changes_wait() {
        let (dir, mut a, mut b, fork) = split(|_, _, _| {});
        let c = a.campaign("c").unwrap().unwrap().id;
        // During the split, on B: 1 confirms; 2 does not answer; an operator imports C4.
        let b1 = b.begin_attempt(c, 1, "0743111111").unwrap();
        b.confirm(b1).unwrap();
        b.end_attempt(b1, &end(Outcome::Answered), 3, now_ms())
            .unwrap();
        let b2 = b.begin_attempt(c, 2, "0743111112").unwrap();
        b.end_attempt(b2, &end(Outcome::NoAnswer), 3, now_ms())
            .unwrap();
        b.import_contacts(&people(4..=4), "l2", "operator-b")
            .unwrap();
        // On A meanwhile: 1 does not answer (due again), 3 is busy.
        let a1 = a.begin_attempt(c, 1, "0743111111").unwrap();
        a.end_attempt(a1, &end(Outcome::NoAnswer), 3, now_ms())
            .unwrap();
        let a3 = a.begin_attempt(c, 3, "0743111113").unwrap();
        a.end_attempt(a3, &end(Outcome::Busy), 3, now_ms()).unwrap();

        deliver(&b, &dir.path().join("a.db"), fork);
        let merged = merge_new(&mut a).unwrap();
        assert_eq!(merged.len(), 1);
        let m = &merged[0];
        assert_eq!(
            (m.attempts, m.confirmations, m.left_out, m.waiting),
            (2, 1, 0, 1),
            "{m:?}"
        );
        // 1 confirmed over there: confirmed here, both attempts counted, never due again.
        assert_eq!(status(&a, 1), ("confirmed".into(), 2));
        assert_eq!(status(&a, 2), ("pending".into(), 1));
        assert_eq!(status(&a, 3), ("pending".into(), 1));
        let due: Vec<i64> = a
            .due(c, now_ms(), 10)
            .unwrap()
            .iter()
            .map(|d| d.contact_id)
            .collect();
        assert!(!due.contains(&1), "{due:?}");
        let from_b: i64 = a
            .connection()
            .query_row(
                "SELECT count(*) FROM attempts WHERE node = 'node-b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(from_b, 2);
        let marked: i64 = a
            .connection()
            .query_row(
                "SELECT count(*) FROM attempts WHERE node = 'node-b' AND merged_at IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(marked, 2, "merged attempts say when they arrived");
        // Once only.
        assert!(merge_new(&mut a).unwrap().is_empty());
        assert_eq!(status(&a, 1), ("confirmed".into(), 2));
        // The import waits for a person; applied, C4 is here.
        let waiting = inbox::pending_ids(a.connection()).unwrap();
        assert_eq!(waiting.len(), 1);
        let mut j = journal::Journal::open(&dir.path().join("a.db")).unwrap();
        inbox::apply(&mut j, waiting[0], "admin").unwrap();
        let c4: i64 = a
            .connection()
            .query_row(
                "SELECT count(*) FROM contacts WHERE external_id = 'C4'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(c4, 1);
        // Its audit row came along under a new id, and the apply is audited.
        let audit: Vec<String> = a
            .connection()
            .prepare(
                "SELECT who || ': ' || what || ' ' || detail FROM audit ORDER BY id DESC LIMIT 2",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(audit[0].starts_with("admin: divergence apply"), "{audit:?}");
        assert!(
            audit[1].starts_with("operator-b:")
                && audit[1].ends_with("(written on node-b during the split)"),
            "{audit:?}"
        );
    }

    #[test]
    fn an_event_of_files_only_is_done_with_nothing_merged() {
        let (dir, mut a, _b, fork) = split(|_, _, _| {});
        let mut conn = journal::open(&dir.path().join("a.db")).unwrap();
        let d = Divergent {
            event: format!("2026-12-06T18-00-00Z-after-{fork}"),
            fork,
            total: 1,
            seq: fork + 1,
            changeset: Vec::new(),
        };
        inbox::keep(&mut conn, "node-b", &d).unwrap();
        inbox::record_plan(&conn, 100, Some(fork)).unwrap();
        assert!(!inbox::met_since(&conn, 50).unwrap());
        let m = merge_new(&mut a).unwrap();
        assert_eq!((m[0].attempts, m[0].waiting), (0, 0), "{m:?}");
        assert!(inbox::met_since(&conn, 50).unwrap(), "the wait ends");
        assert!(inbox::pending_ids(&conn).unwrap().is_empty());
    }

    #[test]
    fn calls_wait_after_another_master_is_heard_until_met_or_the_deadline() {
        let mut w = AfterSplit::default();
        // Becoming master after the old master's last advert: no wait.
        assert!(!w.observe(1_000, true, Some(900)));
        assert!(!w.observe(2_000, true, Some(900)));
        assert_eq!(w.check(2_000, false), Wait::Go);
        // The other node claims master while we are: wait from when it was heard.
        assert!(w.observe(3_000, true, Some(2_500)));
        assert!(w.observe(3_100, true, Some(2_600)));
        assert_eq!(w.waiting_since(), Some(2_500));
        assert_eq!(
            w.check(3_100, false),
            Wait::Hold {
                left_us: AFTER_SPLIT_MAX_US
            }
        );
        assert_eq!(w.check(4_000, true), Wait::Go);
        assert_eq!(w.check(4_100, false), Wait::Go);
        // Never met: calls go at the deadline.
        assert!(w.observe(5_000, true, Some(4_900)));
        assert_eq!(w.check(5_000 + AFTER_SPLIT_MAX_US, false), Wait::GaveUp);
        // Stepping down forgets everything; the first look as master again starts nothing.
        assert!(w.observe(6_000, true, Some(5_900)));
        assert!(!w.observe(7_000, false, Some(6_900)));
        assert!(!w.observe(8_000, true, Some(7_900)));
        assert_eq!(w.check(8_000, false), Wait::Go);
    }

    #[test]
    fn the_old_masters_call_in_progress_is_left_to_it_and_its_outcome_merged() {
        // B, master, is calling 2 when A takes over: A has the open attempt (replicated).
        let (dir, mut a, mut b, fork) = split(|_, c, a_db| {
            let mut as_b = Store::open(a_db, "node-b").unwrap();
            as_b.begin_attempt(c, 2, "0743111112").unwrap();
        });
        let c = a.campaign("c").unwrap().unwrap().id;
        let call: i64 = a
            .connection()
            .query_row("SELECT id FROM attempts", [], |r| r.get(0))
            .unwrap();
        // A takes over: B's call may still be going on, so A leaves it open and nobody
        // calls 2. On B, where the call goes on, 2 presses 1.
        let recovered = a.recover().unwrap();
        assert_eq!(
            (recovered.interrupted, recovered.in_doubt),
            (0, vec![(call, c)])
        );
        assert_eq!(status(&a, 2), ("calling".into(), 1));
        assert!(!a
            .due(c, now_ms(), 10)
            .unwrap()
            .iter()
            .any(|d| d.contact_id == 2));
        b.confirm(call).unwrap();
        b.end_attempt(call, &end(Outcome::Answered), 3, now_ms())
            .unwrap();

        deliver(&b, &dir.path().join("a.db"), fork);
        let m = merge_new(&mut a).unwrap();
        assert_eq!((m[0].attempts, m[0].confirmations), (1, 1), "{m:?}");
        assert_eq!(status(&a, 2), ("confirmed".into(), 1));
        let (outcome, dtmf): (String, String) = a
            .connection()
            .query_row(
                "SELECT outcome, dtmf FROM attempts WHERE id = ?1",
                [call],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((outcome.as_str(), dtmf.as_str()), ("answered", "1"));
        assert!(!a
            .due(c, now_ms(), 10)
            .unwrap()
            .iter()
            .any(|d| d.contact_id == 2));
        // Settling later finds it ended.
        assert_eq!(a.settle_in_doubt(&[call]).unwrap(), 0);
    }

    #[test]
    fn the_old_masters_call_that_never_reports_ends_interrupted_and_is_due_again() {
        let (_dir, mut a, _b, _) = split(|_, c, a_db| {
            let mut as_b = Store::open(a_db, "node-b").unwrap();
            as_b.begin_attempt(c, 3, "0743111113").unwrap();
        });
        let c = a.campaign("c").unwrap().unwrap().id;
        let in_doubt = a.recover().unwrap().in_doubt;
        assert_eq!(status(&a, 3), ("calling".into(), 1));
        let ids: Vec<i64> = in_doubt.iter().map(|(id, _)| *id).collect();
        assert_eq!(a.settle_in_doubt(&ids).unwrap(), 1);
        assert_eq!(status(&a, 3), ("pending".into(), 1));
        assert!(a
            .due(c, now_ms() + 1, 10)
            .unwrap()
            .iter()
            .any(|d| d.contact_id == 3));
    }

    #[test]
    fn an_outcome_merged_for_a_call_in_doubt_settles_its_recipient() {
        // B's call to 1 did not get through; A, which left it to B, learns so and 1 is due.
        let (dir, mut a, mut b, fork) = split(|_, c, a_db| {
            let mut as_b = Store::open(a_db, "node-b").unwrap();
            as_b.begin_attempt(c, 1, "0743111111").unwrap();
        });
        let c = a.campaign("c").unwrap().unwrap().id;
        let call = a.recover().unwrap().in_doubt[0].0;
        b.end_attempt(call, &end(Outcome::NoAnswer), 3, now_ms())
            .unwrap();
        deliver(&b, &dir.path().join("a.db"), fork);
        merge_new(&mut a).unwrap();
        assert_eq!(status(&a, 1), ("pending".into(), 1));
        assert!(a
            .due(c, now_ms() + 60_000, 10)
            .unwrap()
            .iter()
            .any(|d| d.contact_id == 1));
    }
}
