//! Never two dispatchers (`mediacore::campaign::fence`), on the whole pair: the master's
//! supervisor is frozen (SIGSTOP) 50 times, each time at a random phase of its advert
//! (100 ms) and ping (50 ms) cycles and for a random time on both sides of the backup's
//! Master_Down_Interval (306 ms), then thawed. The backup takes over when the freeze is
//! long enough; the thawed master, still master in its own eyes, takes the role back at
//! once. Each media core's own record of when it may start campaign calls (its `campaign
//! dispatch on|off` lines) must show no instant where both could. The cost is measured
//! too: from each takeover to the new master's first `dispatch on`.
//!
//! Needs root and the pair's tools (`appliance::NEEDS`); fails, never skips, without them.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use system_tests::appliance::{Appliance, Setup};
use system_tests::faults::{dispatch_intervals, overlaps};
use system_tests::lab::{ask, log_time_us, tail, wait_until_every, Node};

/// Whether `node`'s media core says its dialer may start calls now.
fn dispatching(pair: &Appliance, node: Node) -> bool {
    ask(
        &pair.run_dir(node).join("mediacore.sock"),
        "status",
        Duration::from_millis(300),
    )
    .and_then(|line| serde_json::from_str::<serde_json::Value>(line.strip_prefix("status ")?).ok())
    .is_some_and(|v| v["dispatching"] == true)
}

/// One VIP holder whose media core dispatches, and the other node's does not.
fn settled(pair: &Appliance) -> bool {
    pair.master()
        .is_some_and(|m| dispatching(pair, m) && !dispatching(pair, m.other()))
}

/// A small deterministic generator (xorshift64*), seeded from the clock and printed, so a
/// failing sequence of phases can be replayed with `FENCE_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Milliseconds from each `to=Master` transition in `log` to the first `campaign dispatch
/// on` after it (before any other transition).
fn takeover_to_dispatch_ms(log: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut master_at = None;
    for line in log.lines() {
        if line.contains("state changed") {
            master_at = line
                .contains("to=Master")
                .then(|| log_time_us(line))
                .flatten();
        } else if line.contains("campaign dispatch on") {
            let on = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("at_us="))
                .and_then(|n| n.parse::<i64>().ok());
            if let (Some(from), Some(on)) = (master_at.take(), on) {
                out.push((on - from) as f64 / 1000.0);
            }
        }
    }
    out
}

#[test]
fn freezing_the_master_s_supervisor_at_any_phase_never_lets_two_media_cores_dial() {
    let pair = Appliance::start("fence", Setup::default());
    let seed = std::env::var("FENCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| component::monotonic::now_us() | 1);
    eprintln!("fencing lab: seed {seed} (FENCE_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let settle = Duration::from_secs(15);
    assert!(
        wait_until_every(settle, Duration::from_millis(50), || settled(&pair)).is_some(),
        "the pair never settled with one dispatcher:\n{}",
        tail(&pair.supervisor(Node::A).log_text())
    );
    for round in 0..50 {
        let master = pair.master().expect("settled");
        let pid = Pid::from_raw(pair.supervisor(master).pid as i32);
        // Any phase of the advert and ping cycles.
        std::thread::sleep(Duration::from_micros(rng.below(100_000)));
        let frozen = Duration::from_millis(100 + rng.below(800));
        kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
        let stopped = Instant::now();
        std::thread::sleep(frozen);
        kill(pid, Signal::SIGCONT).expect("SIGCONT");
        assert!(
            wait_until_every(settle, Duration::from_millis(50), || settled(&pair)).is_some(),
            "round {round}: no single dispatcher {settle:?} after a {frozen:?} freeze of \
             {master:?}'s supervisor (stopped {:?} ago)\nA:\n{}\nB:\n{}",
            stopped.elapsed(),
            tail(&pair.supervisor(Node::A).log_text()),
            tail(&pair.supervisor(Node::B).log_text())
        );
    }
    // A starts as master and takes the role back after each thaw: B's takeovers are its
    // transitions to Master.
    let takeovers = pair
        .supervisor(Node::B)
        .log_text()
        .lines()
        .filter(|l| l.contains("state changed") && l.contains("to=Master"))
        .count();
    let records = [Node::A, Node::B].map(|n| dispatch_intervals(&pair.supervisor_logs(n)));
    let both = overlaps(&records[0], &records[1]);
    let mut costs: Vec<f64> = [Node::A, Node::B]
        .iter()
        .flat_map(|n| takeover_to_dispatch_ms(&pair.supervisor(*n).log_text()))
        .collect();
    costs.sort_by(f64::total_cmp);
    eprintln!(
        "fencing lab: 50 freezes, {takeovers} takeovers, {} + {} dispatch intervals; \
         takeover → dispatch on: median {:.0} ms, max {:.0} ms over {} role changes",
        records[0].len(),
        records[1].len(),
        costs.get(costs.len() / 2).copied().unwrap_or(f64::NAN),
        costs.last().copied().unwrap_or(f64::NAN),
        costs.len()
    );
    // Not vacuous: both media cores recorded dispatching (A before and between the freezes,
    // B after most takeovers), so an overlap would have been seen.
    assert!(
        !records[0].is_empty() && records[1].len() >= 5,
        "too few dispatch records to judge: A {}, B {} (the media cores' `campaign dispatch \
         on|off … mono_us=` lines)",
        records[0].len(),
        records[1].len()
    );
    assert!(
        takeovers >= 10,
        "only {takeovers} of 50 freezes led to a takeover: the test did not exercise the fence"
    );
    assert!(
        both.is_empty(),
        "both media cores could dial at once (wall-clock seconds): {both:?}"
    );
}
