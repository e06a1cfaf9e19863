//! `fault-soak`: the fault-injection suite's faults at random, for longer. The pair runs a
//! long campaign with configuration changes being made on the master; a fault is drawn
//! at random from every kind, injected, lifted, and the pair must heal before the next.
//! Prints the table and the invariants; exits 1 if a fault did not heal or an invariant
//! broke.
//!
//! usage: fault-soak [--minutes N] [--seed S]   (as root; `./allerta soak` builds and runs it)

use std::time::{Duration, Instant};

use system_tests::bench::arg;
use system_tests::faults::{self, Fault, Suite};

fn main() {
    let minutes = arg("--minutes", 10);
    let mut seed = arg("--seed", 0);
    if seed == 0 {
        seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
    }
    println!(
        "fault-soak: {minutes} min of random faults, seed {seed} (--seed {seed} repeats the draw)"
    );
    let all = Fault::all();
    // A campaign that outlasts the soak: about 1.5 recipients a second on 10 lines.
    let mut suite = Suite::start("soak", (minutes as usize * 60 * 2).max(600));
    let end = Instant::now() + Duration::from_secs(minutes * 60);
    let mut x = seed;
    while Instant::now() < end {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let fault = all[(x % all.len() as u64) as usize];
        let row = suite.run(fault);
        println!(
            "{:>4.0} s  {:<40} on {}: healthy after {}",
            suite_elapsed(&end, minutes),
            row.fault.name(),
            row.node.role(),
            row.healthy.map_or("NOT".to_owned(), |d| format!(
                "{:.0} ms",
                d.as_secs_f64() * 1000.0
            ))
        );
        if row.healthy.is_none() {
            break;
        }
    }
    let inv = suite.finish();
    println!("\n{}", suite.table(&inv));
    println!("by kind (runs, healed):");
    for (name, (n, ok)) in faults::count_rows(&suite.rows) {
        println!("  {name:<40} {n:>3} {ok:>3}");
    }
    let healed = suite.rows.iter().all(|r| r.healthy.is_some());
    println!("invariants: {}", if inv.held() { "held" } else { "BROKEN" });
    if !inv.held() {
        println!("{inv:#?}");
    }
    if !(healed && inv.held()) {
        std::process::exit(1);
    }
}

fn suite_elapsed(end: &Instant, minutes: u64) -> f64 {
    (minutes * 60) as f64 - end.saturating_duration_since(Instant::now()).as_secs_f64()
}
