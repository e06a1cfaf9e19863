//! Issue 15, reconciliation after a split brain: the pair (supervisor, media core and sync
//! agent on each node) runs a campaign; the nodes are cut apart long enough for citizens to
//! confirm on both sides and for an operator to import contacts on the isolated node (B,
//! master on its side); then the link returns. B steps down and sends what it wrote alone to
//! A's inbox; A's media core merges B's confirmations and outcomes into its ledger; the
//! import waits for `allertactl sync divergence apply`.
//!
//! Asserts: confirmations recorded on both sides during the split, all in the master's
//! ledger afterwards; nobody who confirmed on either side called after the merge; the
//! contacts back on the master (and replicated to B) after `apply`; the fault suite's
//! invariants over the whole run.
//!
//! The operator uses `allertactl sync divergence [apply N|all]` on the node, as on the
//! appliance (the lab's node file is first boot's: `shipped_node`).
//!
//! Needs root, sipp, tshark, espeak-ng, sox, nft, tc and libfaketime; fails, never skips.

use std::time::{Duration, Instant};

use system_tests::appliance::{self, Appliance};
use system_tests::faults::{Fault, Suite};
use system_tests::lab::{wait_until, Node};

/// `allertactl sync ARGS` on `node`, as the operator types it: (success, what it printed).
fn allertactl_sync(pair: &Appliance, node: Node, args: &[&str]) -> (bool, String) {
    let out = pair.allertactl(node, &[&["sync"], args].concat());
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn count(pair: &Appliance, node: Node, sql: &str) -> i64 {
    rusqlite::Connection::open_with_flags(pair.db(node), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or(-1)
}

#[test]
fn after_a_split_nobody_who_confirmed_is_called_again_and_operator_changes_come_back() {
    let mut suite = Suite::start("split", 80);
    suite.split_for = Duration::from_secs(12);
    let split_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let imported = suite
        .pair
        .lab
        .write_file(
            "split-contacts.csv",
            "id,name,numbers\nS001,Nuovo Uno,0743555001\nS002,Nuovo Due,0743555002\n",
        )
        .to_string_lossy()
        .into_owned();
    let row = suite.run_with(Fault::SplitBrain, |pair| {
        // B, cut off, takes over on its side; an operator there imports contacts.
        let b_master = wait_until(Duration::from_secs(5), || {
            pair.allertactl(
                Node::B,
                &["contacts", "import", &imported, "--list", "nuovi"],
            )
            .status
            .success()
        });
        assert!(
            b_master.is_some(),
            "B never accepted an operator's change while cut off"
        );
    });
    assert!(row.healthy.is_some(), "the pair did not heal: {}", row.note);
    let lifted = row.lifted;
    let master = suite.pair.master().expect("a master after the split");
    assert_eq!(master, Node::A, "the higher priority keeps the role");

    // B's facts reach A's ledger.
    let started = Instant::now();
    let merged = wait_until(Duration::from_secs(30), || {
        !appliance::merges(&suite.pair.db(Node::A)).is_empty()
    });
    assert!(
        merged.is_some(),
        "no merge on A:\n{}",
        allertactl_sync(&suite.pair, Node::A, &["divergence"]).1
    );
    let merge_at = appliance::merges(&suite.pair.db(Node::A))[0] as f64 / 1000.0;
    let during_split = |node: &str| {
        count(
            &suite.pair,
            Node::A,
            &format!(
                "SELECT count(*) FROM attempts WHERE outcome = 'confirmed' AND node = '{node}' \
                 AND started_at >= {split_at_ms}"
            ),
        )
    };
    let (on_a, on_b) = (during_split("node-a"), during_split("node-b"));
    assert!(
        on_a > 0 && on_b > 0,
        "confirmations during the split: A {on_a}, B {on_b} (both sides must have some)"
    );

    // The import waits for a person (the master's sync status says how many wait); applied
    // on the master, it is back on both nodes.
    let waiting = |n: u64| {
        wait_until(Duration::from_secs(5), || {
            suite.pair.sync_node(Node::A).status()["divergent_waiting"] == n
        })
        .is_some()
    };
    assert!(waiting(1), "{}", suite.pair.sync_node(Node::A).status());
    let (_, listing) = allertactl_sync(&suite.pair, Node::A, &["divergence"]);
    assert!(
        listing.contains("WAITING") && listing.contains("INSERT contacts"),
        "{listing}"
    );
    let (ok, applied) = allertactl_sync(
        &suite.pair,
        Node::A,
        &["divergence", "apply", "all", "--who", "lab-operator"],
    );
    assert!(ok, "{applied}");
    let back = |node| {
        count(
            &suite.pair,
            node,
            "SELECT count(*) FROM contacts WHERE external_id IN ('S001', 'S002')",
        )
    };
    assert_eq!(back(Node::A), 2, "{applied}");
    assert!(waiting(0), "{}", suite.pair.sync_node(Node::A).status());
    assert!(
        wait_until(Duration::from_secs(10), || back(Node::B) == 2).is_some(),
        "the applied contacts never reached B"
    );

    // A's sync agent met B after the link came back; A never gave up waiting for B's writes.
    let a_log = suite.pair.supervisor(Node::A).log_text();
    assert!(!a_log.contains("did not arrive in time"), "{a_log}");
    let met = system_tests::faults::sync_sessions(&[a_log])
        .into_iter()
        .find(|t| *t >= lifted)
        .expect("A's sync agent met B after the split");

    // Let the campaign go on past the merge (retries are due every 2 s), then judge.
    std::thread::sleep(Duration::from_secs(10));
    let inv = suite.finish();
    let table = suite.table(&inv);
    println!("{table}");
    println!(
        "split brain: {:.1} s apart; confirmations during it: A {on_a}, B {on_b}; \
         link back → A's sync agent met B: {:.2} s → B's facts merged on A: {:.2} s \
         (seen by the test after {:.1} s)",
        suite.split_for.as_secs_f64(),
        met - lifted,
        merge_at - lifted,
        started.elapsed().as_secs_f64()
    );
    assert!(inv.held(), "invariants broken: {inv:#?}\n{table}");
}
