//! The fault-injection suite: the whole pair (supervisor, media core and sync agent on
//! each node) with a campaign running and configuration changes being made on the master;
//! every fault of `faults::Fault::all()` once, in turn. Each must heal (one VIP holder, the
//! right roles, the backup caught up) and, over the whole run, the invariants must hold.
//! Prints the table: fault, time until the client is served again, until the pair is
//! healthy.
//!
//! Needs root, sipp, tshark, espeak-ng, sox, nft, tc and libfaketime; fails, never skips,
//! when they are missing. `fault-soak` runs the same faults at random for longer.

use system_tests::faults::{Fault, Suite};

#[test]
fn every_fault_heals_and_the_invariants_hold() {
    let mut suite = Suite::start("faults", 600);
    for fault in Fault::all() {
        let row = suite.run(fault);
        eprintln!(
            "{}: healthy after {:?} {}",
            row.fault.name(),
            row.healthy,
            row.note
        );
    }
    let inv = suite.finish();
    let table = suite.table(&inv);
    println!("{table}");
    assert!(
        suite.rows.iter().all(|r| r.healthy.is_some()),
        "a fault did not heal:\n{table}"
    );
    assert!(inv.changes_made > 20, "too few changes made: {inv:?}");
    assert!(inv.held(), "invariants broken: {inv:#?}\n{table}");
}
