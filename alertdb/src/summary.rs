//! Driver: recent campaigns' figures for the metrics: recipients by status and finished
//! attempts by outcome, read from the ledger (replicated, so both nodes read the same).

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

/// A campaign finished longer ago than this is no longer reported.
pub const RECENT_MS: i64 = 24 * 3600 * 1000;
/// At most this many campaigns are reported, the newest first: a label per campaign stays
/// a handful of series, whatever the history holds.
pub const MAX_CAMPAIGNS: usize = 20;

/// One campaign's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub name: String,
    /// `running`, `paused`, `stopped` or `done`.
    pub state: String,
    /// Recipients by status (`pending`, `calling`, `confirmed`, `gave_up`, `stopped`).
    pub recipients: BTreeMap<String, u64>,
    /// Finished attempts by outcome (`answered`, `no_answer`, `busy`…).
    pub attempts: BTreeMap<String, u64>,
}

/// Campaigns running or paused, and those that finished within [`RECENT_MS`] of `now_ms`;
/// never a draft. Empty before the schema exists.
pub fn recent(c: &Connection, now_ms: i64) -> rusqlite::Result<Vec<Summary>> {
    let has_schema: bool = c.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'campaigns'",
        [],
        |r| r.get(0),
    )?;
    if !has_schema {
        return Ok(Vec::new());
    }
    let mut campaigns = c.prepare_cached(
        "SELECT id, name, state FROM campaigns
         WHERE state IN ('running', 'paused')
            OR (state IN ('stopped', 'done') AND finished_at >= ?1)
         ORDER BY id DESC LIMIT ?2",
    )?;
    let list: Vec<(i64, String, String)> = campaigns
        .query_map(
            rusqlite::params![now_ms - RECENT_MS, MAX_CAMPAIGNS as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut recipients = c.prepare_cached(
        "SELECT status, count(*) FROM recipients WHERE campaign_id = ?1 GROUP BY status",
    )?;
    let mut attempts = c.prepare_cached(
        "SELECT outcome, count(*) FROM attempts
         WHERE campaign_id = ?1 AND ended_at IS NOT NULL AND outcome IS NOT NULL
         GROUP BY outcome",
    )?;
    let mut out = Vec::with_capacity(list.len());
    for (id, name, state) in list {
        let by = |stmt: &mut rusqlite::CachedStatement<'_>| {
            stmt.query_map([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?
            .collect::<rusqlite::Result<BTreeMap<_, _>>>()
        };
        out.push(Summary {
            name,
            state,
            recipients: by(&mut recipients)?,
            attempts: by(&mut attempts)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::running_campaign;
    use crate::store::now_ms;

    #[test]
    fn recent_campaigns_with_recipients_by_status_and_attempts_by_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let empty = Connection::open(dir.path().join("empty.db")).unwrap();
        assert_eq!(recent(&empty, now_ms()).unwrap(), vec![]);

        let s = running_campaign(&dir.path().join("a.db"), "node-a", 3);
        let c = s.connection();
        c.execute_batch(
            "UPDATE recipients SET status = 'confirmed' WHERE contact_id = 1;
             INSERT INTO attempts(campaign_id, contact_id, number, node, started_at, ended_at, outcome)
               VALUES (1, 1, 'x', 'node-a', 1, 2, 'confirmed'),
                      (1, 2, 'x', 'node-a', 1, 2, 'no_answer'),
                      (1, 2, 'x', 'node-a', 1, 2, 'no_answer'),
                      (1, 3, 'x', 'node-a', 1, NULL, NULL);",
        )
        .unwrap();
        let now = now_ms();
        let got = recent(c, now).unwrap();
        let want = Summary {
            name: "c".into(),
            state: "running".into(),
            recipients: [("confirmed".into(), 1), ("pending".into(), 2)].into(),
            attempts: [("confirmed".into(), 1), ("no_answer".into(), 2)].into(),
        };
        assert_eq!(got, vec![want], "the open attempt is not counted");

        c.execute(
            "UPDATE campaigns SET state = 'done', finished_at = ?1",
            [now - RECENT_MS + 1000],
        )
        .unwrap();
        assert_eq!(recent(c, now).unwrap().len(), 1, "done within the day");
        assert_eq!(recent(c, now + 2000).unwrap(), vec![], "done a day ago");
        c.execute("UPDATE campaigns SET state = 'draft'", [])
            .unwrap();
        assert_eq!(recent(c, now).unwrap(), vec![], "never a draft");
    }
}
