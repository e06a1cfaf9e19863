//! Arbitrary logs into the sync handshake's plan (`sync_agent::proto::handshake`): what the
//! master sends a backup given both heads and generation histories (from the peer: any
//! values), and the fork point between two histories. Nothing may panic; a plan to stream
//! starts inside the master's log and never past its head; a fork point is never past either
//! head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_agent::proto::handshake::{fork_point, gen_at, plan, Local, Plan};
use sync_agent::proto::Pos;

fn numbers(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(2)
        .map(|c| u64::from(u16::from_be_bytes([c[0], c[1]])))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let n = numbers(data);
    if n.len() < 6 {
        return;
    }
    let (head_a, head_b, low) = (
        Pos {
            gen: n[0],
            seq: n[1],
        },
        Pos {
            gen: n[2],
            seq: n[3],
        },
        n[4],
    );
    let split = (n[5] as usize).min(n.len() - 6);
    let hist = &n[6..];
    let pairs =
        |xs: &[u64]| -> Vec<(u64, u64)> { xs.chunks_exact(2).map(|p| (p[0], p[1])).collect() };
    let (a_hist, b_hist) = (pairs(&hist[..split]), pairs(&hist[split..]));
    let local = Local {
        head: head_a,
        history: &a_hist,
        low,
    };
    match plan(&local, head_b, &b_hist) {
        Plan::Stream { from } => {
            assert!(
                from <= head_a.seq + 1,
                "streams past the head: {from} > {}",
                head_a.seq
            );
        }
        Plan::Snapshot(_) => {}
    }
    let fork = fork_point(&a_hist, head_a.seq, &b_hist, head_b.seq);
    assert!(
        fork <= head_a.seq.min(head_b.seq),
        "fork {fork} past a head"
    );
    for seq in [0, head_a.seq, head_b.seq, fork] {
        let _ = gen_at(&a_hist, head_a.seq, seq);
    }
});
