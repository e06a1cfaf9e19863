//! Interop with the real keepalived (Debian's 2.2.7) in the same VRID: each side as master
//! and as backup, each taking over when the other dies and giving the role back when it
//! returns, never two masters in steady state. VRRPv3 at 100 ms, and VRRPv2 at 1 s.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use system_tests::lab::{Lab, Node, Proc, VIP};
use system_tests::nodes::{self, takeover_bound, Speaker, Vrrp};
use system_tests::probe::{EchoServer, Probe};

struct Interop {
    lab: Lab,
    probe: Probe,
    _echo: [EchoServer; 2],
}

fn lab(test: &str) -> Interop {
    let lab = Lab::two_nodes(test);
    system_tests::prereq::require_tools(test, &["keepalived"]);
    let echo = [
        EchoServer::start(&lab.ns("node-a"), "node-a"),
        EchoServer::start(&lab.ns("node-b"), "node-b"),
    ];
    let probe = Probe::start(&lab.ns("client"), VIP, Duration::from_millis(10));
    Interop {
        lab,
        probe,
        _echo: echo,
    }
}

fn settings(node: Node, interval_ms: u64, version: u8) -> Vrrp {
    Vrrp {
        version,
        ..Vrrp::for_node(node, interval_ms)
    }
}

/// Kills a speaker the way a crash would: SIGKILL to every process of it.
fn kill(lab: &Lab, node: Node, speaker: Speaker, proc: &Proc) {
    match speaker {
        Speaker::Allerta => lab.signal(proc, Signal::SIGKILL),
        Speaker::Keepalived => {
            for pid in lab.pids_named(node.role(), "keepalived") {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// `master` on node A (priority 200), `backup` on node B (100): elect, kill A, B takes
/// over, restart A, A takes the role back.
fn round_trip(test: &str, master: Speaker, backup: Speaker, interval_ms: u64, version: u8) {
    let t = lab(test);
    let (va, vb) = (
        settings(Node::A, interval_ms, version),
        settings(Node::B, interval_ms, version),
    );
    let a = nodes::start(&t.lab, Node::A, master, &va);
    // Let A win the election first, as in production where the master is up first.
    assert!(
        a.wait_count(master.master_line(), 1, Duration::from_secs(10)),
        "A never master:\n{}",
        a.log_text()
    );
    let b = nodes::start(&t.lab, Node::B, backup, &vb);
    assert!(
        t.probe.wait_answered_by("node-a", Duration::from_secs(5)),
        "VIP not reachable on A"
    );

    // Steady state: B hears A's adverts and stays backup.
    std::thread::sleep(Duration::from_millis(4 * interval_ms.max(500)));
    assert_eq!(
        b.count(backup.master_line()),
        0,
        "{} backup became master next to {} master:\n{}",
        backup.name(),
        master.name(),
        b.log_text()
    );
    assert_eq!(t.lab.vip_holders(), [Node::A]);

    // A dies: B takes over.
    let killed = Instant::now();
    kill(&t.lab, Node::A, master, &a);
    let bound = takeover_bound(&vb, vb.priority, Duration::from_millis(500));
    assert!(
        b.wait_count(backup.master_line(), 1, bound),
        "{} did not take over within {bound:?}:\n{}",
        backup.name(),
        b.log_text()
    );
    assert!(
        t.probe.wait_answered_by("node-b", Duration::from_secs(3)),
        "clients did not follow the VIP to B"
    );
    eprintln!(
        "{test}: {} took over {:?} after {} died",
        backup.name(),
        killed.elapsed(),
        master.name()
    );
    let _ = t.lab.wait_exit(&a, Duration::from_secs(2));

    // A returns and preempts; B steps down.
    let a2 = nodes::start(&t.lab, Node::A, master, &va);
    let back = Duration::from_secs(5) + 4 * Duration::from_millis(interval_ms);
    assert!(
        a2.wait_count(master.master_line(), 1, back),
        "A did not take the role back:\n{}",
        a2.log_text()
    );
    assert!(
        t.probe.wait_answered_by("node-a", Duration::from_secs(3)),
        "clients did not follow the VIP back to A"
    );
    std::thread::sleep(Duration::from_millis(3 * interval_ms.max(300)));
    assert_eq!(
        t.lab.vip_holders(),
        [Node::A],
        "two holders after A returned:\nB log:\n{}",
        b.log_text()
    );
}

#[test]
fn keepalived_master_and_allerta_backup_v3() {
    round_trip(
        "ka-master-v3",
        Speaker::Keepalived,
        Speaker::Allerta,
        100,
        3,
    );
}

#[test]
fn allerta_master_and_keepalived_backup_v3() {
    round_trip(
        "al-master-v3",
        Speaker::Allerta,
        Speaker::Keepalived,
        100,
        3,
    );
}

#[test]
fn allerta_master_and_keepalived_backup_v2() {
    round_trip(
        "al-master-v2",
        Speaker::Allerta,
        Speaker::Keepalived,
        1000,
        2,
    );
}

#[test]
fn keepalived_master_and_allerta_backup_v2() {
    round_trip(
        "ka-master-v2",
        Speaker::Keepalived,
        Speaker::Allerta,
        1000,
        2,
    );
}
