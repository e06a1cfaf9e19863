//! `allertactl` as one command tree on the shipped pair (first boot's node files, the real
//! binaries): both nodes in `status` (and under `peer` with `--json`), both nodes' trunks,
//! the master's calls in progress during a campaign, campaign status as JSON, the sync
//! agent in words, arguments checked before anything runs, a page per command from `man
//! --dir`, completions that know the whole tree; then node-a's supervisor killed, and
//! node-b's `status` says the other node does not answer. Needs root, sipp and tshark.
//!
//! Lab differences: the pair's own (`shipped_node`).

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use system_tests::appliance::{Appliance, Setup};
use system_tests::campaign::Citizen;
use system_tests::lab::{wait_until_every, Node};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(pair: &Appliance, node: Node, args: &[&str]) -> String {
    let out = pair.allertactl(node, args);
    assert!(
        out.status.success(),
        "allertactl {args:?} on {}: {}",
        node.role(),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(pair: &Appliance, node: Node, args: &[&str]) -> Value {
    let out = ok(pair, node, &[&["--json"], args].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("allertactl --json {args:?}: {e}: {out}"))
}

#[test]
fn one_command_tree_shows_both_nodes_trunks_and_calls() {
    let mut pair = Appliance::start(
        "ctl",
        Setup {
            lines: 4,
            ..Setup::default()
        },
    );

    // Both nodes, from either: the pair's verdict first.
    for node in [Node::A, Node::B] {
        let status = ok(&pair, node, &["status"]);
        let lines: Vec<&str> = status.lines().collect();
        assert_eq!(
            lines[0], "Pair: node-a is master; node-b is backup",
            "{status}"
        );
        let this = format!("  {} (this node): ", node.role());
        assert!(
            lines[1].starts_with(&this) && lines[1].contains("3 component(s) up"),
            "{status}"
        );
        assert!(lines[2].starts_with("  node-"), "{status}");
    }
    let doc = json(&pair, Node::B, &["status"]);
    assert_eq!(doc["node"], "node-b");
    assert_eq!(doc["peer"]["status"]["node"], "node-a");
    assert_eq!(doc["peer"]["status"]["role"], "MASTER");

    // Both nodes' trunks, registered (the lab's carrier answers REGISTER).
    assert!(
        wait_until_every(Duration::from_secs(20), Duration::from_millis(250), || {
            let rows = json(&pair, Node::A, &["trunks"]);
            let rows = rows.as_array().cloned().unwrap_or_default();
            rows.iter().filter(|r| r["node"] == "node-a").count() >= 1
                && rows.iter().filter(|r| r["node"] == "node-b").count() >= 1
                && rows.iter().all(|r| r["registered"] == true)
        })
        .is_some(),
        "{}",
        ok(&pair, Node::A, &["trunks"])
    );
    let table = ok(&pair, Node::A, &["trunks"]);
    assert!(table.starts_with("Node       Trunk"), "{table}");

    // Arguments are checked before anything runs: usage error, exit 2, nothing created.
    let missing = pair.allertactl(Node::A, &["campaign", "create", "x"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("--message"), "{}", text(&missing));

    // A campaign whose citizens let it ring: calls stay up for a while on the master.
    pair.start_campaign(Node::A, "ctl", &[(Citizen::NoAnswer, 4)]);
    assert!(
        wait_until_every(Duration::from_secs(20), Duration::from_millis(200), || {
            json(&pair, Node::A, &["calls"])["calls"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .is_some(),
        "no call listed on the master"
    );
    let calls = ok(&pair, Node::A, &["calls"]);
    assert!(calls.starts_with("Channel"), "{calls}");
    assert!(calls.lines().any(|l| l.starts_with("PJSIP/")), "{calls}");
    assert!(calls.trim_end().ends_with("active call(s)"), "{calls}");
    let backup_calls = json(&pair, Node::B, &["calls"]);
    assert_eq!(
        backup_calls["calls"],
        serde_json::json!([]),
        "the backup dials nobody"
    );

    let campaign = json(&pair, Node::A, &["campaign", "status", "ctl"]);
    assert_eq!(campaign["campaign"], "ctl");
    assert_eq!(campaign["state"], "running");
    assert_eq!(campaign["recipients"], 4);

    // The sync agent in words, and as its JSON.
    let sync = ok(&pair, Node::B, &["sync"]);
    assert!(sync.starts_with("sync: backup, peer "), "{sync}");
    assert!(sync.contains("since start: "), "{sync}");
    assert_eq!(json(&pair, Node::B, &["sync", "status"])["role"], "backup");
    let refused = pair.allertactl(Node::B, &["--json", "sync", "divergence"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));

    // The whole tree in the man pages and the completions.
    let pages = pair.lab.dir().join("man");
    ok(&pair, Node::A, &["man", "--dir", &pages.to_string_lossy()]);
    for page in [
        "allertactl.1",
        "allertactl-campaign-create.1",
        "allertactl-sync-divergence-apply.1",
        "allertactl-trunks.1",
    ] {
        let roff =
            std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(roff.contains(".TH"), "{page}");
    }
    let bash = ok(&pair, Node::A, &["completions", "bash"]);
    for word in ["campaign", "--retry", "divergence", "trunks", "calls"] {
        assert!(bash.contains(word), "completions without {word}");
    }

    // node-a's supervisor dies: node-b takes over and says the other node does not answer.
    assert!(pair.stop_node(Node::A, nix::sys::signal::Signal::SIGKILL));
    assert!(
        wait_until_every(Duration::from_secs(20), Duration::from_millis(200), || pair
            .master()
            == Some(Node::B))
        .is_some(),
        "node-b never took over"
    );
    let status = ok(&pair, Node::B, &["status"]);
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(
        lines[0], "Pair: the other node does not answer; node-b is master",
        "{status}"
    );
    assert!(
        lines[2].starts_with("  other node at ") && lines[2].contains("NOT ANSWERING"),
        "{status}"
    );
    let doc = json(&pair, Node::B, &["status"]);
    assert!(doc["peer"]["status"].is_null() && doc["peer"]["error"].is_string());
}
