//! Pure: what the sender does after the receiver's Hello (DRBD's generation-identifier
//! comparison, on a log).
//!
//! A history is the list of (generation, first sequence number) of a node's log, oldest
//! first. Two logs hold the same record at `seq` exactly when the generation covering `seq`
//! is the same in both: a generation has one master, and that master numbered its records
//! once. The fork point is the highest such `seq`.

use super::{Pos, SnapshotReason};

/// What the sender does for this receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The receiver's log is a prefix of ours: send records from `from`.
    Stream { from: u64 },
    /// Send a whole snapshot of the database (the receiver saves its own tail first when
    /// the reason is `Diverged`).
    Snapshot(SnapshotReason),
}

/// The sender's side of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local<'a> {
    pub head: Pos,
    pub history: &'a [(u64, u64)],
    /// The lowest sequence number still in the sender's log (older records were pruned);
    /// `head.seq + 1` when the log is empty.
    pub low: u64,
}

/// The generation that wrote `seq` in a log whose last record is `head`, and the sequence
/// number where that generation's records start.
pub fn gen_at(history: &[(u64, u64)], head: u64, seq: u64) -> Option<(u64, u64)> {
    if seq == 0 || seq > head {
        return None;
    }
    history
        .iter()
        .rev()
        .find(|(_, first)| *first <= seq)
        .copied()
}

/// The highest sequence number at which both logs hold the same record (0: none).
pub fn fork_point(a_hist: &[(u64, u64)], a_head: u64, b_hist: &[(u64, u64)], b_head: u64) -> u64 {
    let mut seq = a_head.min(b_head);
    while seq > 0 {
        match (gen_at(a_hist, a_head, seq), gen_at(b_hist, b_head, seq)) {
            (Some((ga, _)), Some((gb, _))) if ga == gb => return seq,
            (Some((_, sa)), Some((_, sb))) => seq = sa.max(sb).saturating_sub(1),
            // A log with records but no history entry for them: nothing can be proven.
            _ => return 0,
        }
    }
    0
}

/// The sender's decision for a receiver that says `remote`.
pub fn plan(local: &Local<'_>, remote_head: Pos, remote_history: &[(u64, u64)]) -> Plan {
    if remote_head.seq == 0 {
        // An empty receiver lacks whatever the database held before journaling began.
        return Plan::Snapshot(SnapshotReason::Behind);
    }
    let fork = fork_point(
        local.history,
        local.head.seq,
        remote_history,
        remote_head.seq,
    );
    if fork < remote_head.seq {
        return Plan::Snapshot(SnapshotReason::Diverged { fork });
    }
    let from = remote_head.seq + 1;
    if from < local.low {
        return Plan::Snapshot(SnapshotReason::Behind);
    }
    Plan::Stream { from }
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::Journal;

    fn decide(
        l_head: Pos,
        l_hist: &[(u64, u64)],
        low: u64,
        r_head: Pos,
        r_hist: &[(u64, u64)],
    ) -> Plan {
        plan(
            &Local {
                head: l_head,
                history: l_hist,
                low,
            },
            r_head,
            r_hist,
        )
    }

    #[test]
    fn a_receiver_behind_in_the_same_generation_streams_from_its_next_record() {
        let hist = [(7, 1)];
        assert_eq!(
            decide(
                Pos { gen: 7, seq: 50 },
                &hist,
                1,
                Pos { gen: 7, seq: 20 },
                &hist
            ),
            Plan::Stream { from: 21 }
        );
        // Caught up: streaming starts after the head (nothing to send yet).
        assert_eq!(
            decide(
                Pos { gen: 7, seq: 50 },
                &hist,
                1,
                Pos { gen: 7, seq: 50 },
                &hist
            ),
            Plan::Stream { from: 51 }
        );
    }

    #[test]
    fn a_receiver_from_an_older_generation_catches_up_across_the_promotion() {
        // B was backup at 95 when A died; B became master (gen 9) at 96.
        let b_hist = [(7, 1), (9, 96)];
        let a_hist = [(7, 1)];
        assert_eq!(
            decide(
                Pos { gen: 9, seq: 120 },
                &b_hist,
                1,
                Pos { gen: 7, seq: 95 },
                &a_hist
            ),
            Plan::Stream { from: 96 }
        );
    }

    #[test]
    fn an_old_master_with_a_tail_the_new_master_lacks_has_diverged() {
        // A wrote 96..=100 in gen 7 that never reached B; B promoted at 96 with gen 9.
        let b_hist = [(7, 1), (9, 96)];
        let a_hist = [(7, 1)];
        assert_eq!(
            decide(
                Pos { gen: 9, seq: 120 },
                &b_hist,
                1,
                Pos { gen: 7, seq: 100 },
                &a_hist
            ),
            Plan::Snapshot(SnapshotReason::Diverged { fork: 95 })
        );
        // Same if B has written nothing yet since its promotion.
        assert_eq!(
            decide(
                Pos { gen: 9, seq: 95 },
                &b_hist,
                1,
                Pos { gen: 7, seq: 100 },
                &a_hist
            ),
            Plan::Snapshot(SnapshotReason::Diverged { fork: 95 })
        );
    }

    #[test]
    fn both_nodes_written_as_masters_is_divergence_at_the_split() {
        // Split brain: both promoted at 96 with their own generations.
        let a_hist = [(7, 1), (8, 96)];
        let b_hist = [(7, 1), (9, 96)];
        assert_eq!(
            decide(
                Pos { gen: 9, seq: 130 },
                &b_hist,
                1,
                Pos { gen: 8, seq: 110 },
                &a_hist
            ),
            Plan::Snapshot(SnapshotReason::Diverged { fork: 95 })
        );
    }

    #[test]
    fn unrelated_logs_fork_at_zero() {
        assert_eq!(
            decide(
                Pos { gen: 2, seq: 10 },
                &[(2, 1)],
                1,
                Pos { gen: 3, seq: 4 },
                &[(3, 1)]
            ),
            Plan::Snapshot(SnapshotReason::Diverged { fork: 0 })
        );
    }

    #[test]
    fn an_empty_or_pruned_past_receiver_gets_a_snapshot() {
        let hist = [(7, 1)];
        assert_eq!(
            decide(Pos { gen: 7, seq: 50 }, &hist, 1, Pos::default(), &[]),
            Plan::Snapshot(SnapshotReason::Behind)
        );
        assert_eq!(
            decide(
                Pos { gen: 7, seq: 500 },
                &hist,
                400,
                Pos { gen: 7, seq: 20 },
                &hist
            ),
            Plan::Snapshot(SnapshotReason::Behind)
        );
        assert_eq!(
            decide(
                Pos { gen: 7, seq: 500 },
                &hist,
                21,
                Pos { gen: 7, seq: 20 },
                &hist
            ),
            Plan::Stream { from: 21 }
        );
    }

    #[test]
    fn empty_generations_do_not_count() {
        // A became master twice without writing (gens 8 and 9 both start at 51).
        let hist = [(7, 1), (8, 51), (9, 51)];
        assert_eq!(gen_at(&hist, 60, 51), Some((9, 51)));
        assert_eq!(gen_at(&hist, 60, 50), Some((7, 1)));
        assert_eq!(gen_at(&hist, 60, 61), None);
        assert_eq!(
            decide(
                Pos { gen: 9, seq: 60 },
                &hist,
                1,
                Pos { gen: 7, seq: 50 },
                &[(7, 1)]
            ),
            Plan::Stream { from: 51 }
        );
    }

    /// The journal's side of a fork: a write made in another node's generation starts one
    /// of its own, which is where the handshake sees the fork.
    #[test]
    fn a_write_in_another_nodes_generation_starts_one_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("a.db")).unwrap();
        j.connection()
            .execute_batch("CREATE TABLE ledger(id INTEGER PRIMARY KEY, who TEXT, state TEXT);")
            .unwrap();
        let insert = |j: &mut Journal, id: i64| {
            j.write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (?1, 'x', 'y')", [id])
                    .map(drop)
            })
            .unwrap()
            .1
            .unwrap()
        };
        let own = insert(&mut j, 1);
        assert_eq!(insert(&mut j, 2).gen, own.gen, "its own generation goes on");
        // Records of another master's generation arrive (the receiver's path).
        let theirs = 0x1234_5678_i64;
        let conn = j.connection();
        conn.execute(
            "INSERT INTO _sync_log(seq, gen, kind, at_ms, body, hash) VALUES (3, ?1, 0, 0, x'', x'')",
            [theirs],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO _sync_gen(gen, first_seq) VALUES (?1, 3)",
            [theirs],
        )
        .unwrap();
        // A local write now (a call ending on a backup) goes in a generation of its own,
        // so the handshake sees the fork at 3 instead of taking seq 4 for the master's.
        let local = insert(&mut j, 3);
        assert_eq!(local.seq, 4);
        assert!(local.gen != theirs as u64 && local.gen != own.gen);
        let hist = journal::history(j.connection()).unwrap();
        assert_eq!(hist.last(), Some(&(local.gen, 4)));
        assert_eq!(
            fork_point(&[(own.gen, 1), (theirs as u64, 3)], 9, &hist, 4),
            3
        );
    }
}
