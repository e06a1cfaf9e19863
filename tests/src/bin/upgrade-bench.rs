//! `./allerta upgrade`: the rolling upgrade of a pair in the middle of a campaign, done as the
//! README's "Upgrading a pair" says, and measured:
//! 1. the pair runs the old version (`--old DIR`: its programs), a campaign calling;
//! 2. the backup (node-b) is upgraded: stopped as `systemctl stop` stops it, moved to this
//!    build's programs, started; done when it is the backup again and in step;
//! 3. `allertactl switchover --drain 30` on the old master: node-b (new) takes over after
//!    node-a's calls end;
//! 4. node-a is upgraded the same way, and comes back as the backup;
//! 5. the campaign finishes on node-b.
//!
//! Meanwhile a client on the data network asks the VIP's AMI for its banner every 100 ms.
//! Printed: each step's time, the longest time the client went unanswered and how many of
//! its probes failed (target: none), and the campaign's invariants: no call dropped by the
//! upgrade (no attempt `interrupted`), no confirmation lost (every citizen who presses 1 is
//! confirmed once), nobody called again after confirming. Exit 1 if any invariant breaks.
//!
//! Lab differences (beyond the pair's own, `shipped_node`): a node is "upgraded" by pointing
//! it at the other programs between its stop and its start (what `dpkg -i` does to
//! /usr/bin); both versions run from first boot's node files as this build renders them
//! (the node file's format is the same in both).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use system_tests::appliance::{self, Appliance, Setup};
use system_tests::campaign::{self, Citizen};
use system_tests::lab::{wait_until_every, Node, VIP};

const CAMPAIGN: &str = "aggiornamento";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn usage() -> ! {
    eprintln!("usage: upgrade-bench --old DIR [--citizens N]   (DIR: the old version's programs)");
    std::process::exit(2)
}

/// The VIP's AMI banner, asked every 100 ms from the client's namespace.
struct Probe {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(Instant, bool)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    fn start(ns: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (stop2, samples2, path) = (stop.clone(), samples.clone(), format!("/run/netns/{ns}"));
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("the client's namespace");
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("entering the client's namespace");
            let ami = SocketAddr::from((VIP, 5038));
            while !stop2.load(Ordering::Relaxed) {
                let at = Instant::now();
                let ok = TcpStream::connect_timeout(&ami, Duration::from_millis(300))
                    .and_then(|mut s| {
                        s.set_read_timeout(Some(Duration::from_millis(300)))?;
                        let mut banner = [0u8; 64];
                        let n = s.read(&mut banner)?;
                        Ok(banner[..n].starts_with(b"Asterisk Call Manager"))
                    })
                    .unwrap_or(false);
                samples2.lock().unwrap().push((at, ok));
                std::thread::sleep(Duration::from_millis(100).saturating_sub(at.elapsed()));
            }
        });
        Self {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// (probes, failed, the longest time between two answered probes).
    fn stop(mut self) -> (usize, usize, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let samples = self.samples.lock().unwrap().clone();
        let failed = samples.iter().filter(|(_, ok)| !ok).count();
        let answered: Vec<Instant> = samples
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(t, _)| *t)
            .collect();
        let longest = answered
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        (samples.len(), failed, longest)
    }
}

/// What `allertactl status` says a node runs (empty: a version from before versions).
fn version(pair: &Appliance, node: Node) -> String {
    let out = pair.allertactl(node, &["--json", "status"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "older (no version said)".into())
}

/// `node` is the backup again and its sync agent in step with the master.
fn back_in_step(pair: &Appliance, node: Node) -> bool {
    pair.sync_node(node)
        .status_if_up()
        .is_some_and(|s| s["role"] == "backup" && s["checks"]["fresh"]["ok"] == true)
        && pair.master().is_some_and(|m| m != node)
}

/// Stops `node` as systemd would, moves it to `programs`, starts it; waits until it is the
/// backup again and in step. The time it took.
fn upgrade(pair: &mut Appliance, node: Node, programs: &std::path::Path) -> Duration {
    let t = Instant::now();
    assert!(
        pair.stop_node(node, Signal::SIGTERM),
        "{} did not stop cleanly",
        node.role()
    );
    pair.set_programs(node, programs.to_owned());
    pair.start_node(node);
    assert!(
        wait_until_every(Duration::from_secs(90), Duration::from_millis(100), || {
            back_in_step(pair, node)
        })
        .is_some(),
        "{} never came back as the backup in step",
        node.role()
    );
    t.elapsed()
}

fn main() {
    let old = arg("--old").map(PathBuf::from).unwrap_or_else(|| usage());
    let citizens: usize = arg("--citizens").map_or(80, |n| n.parse().unwrap_or_else(|_| usage()));
    assert!(
        old.join("allerta-supervisor").is_file(),
        "{}: no allerta-supervisor there",
        old.display()
    );
    let new = system_tests::prereq::workspace_bin("allerta-supervisor")
        .parent()
        .expect("a folder")
        .to_owned();
    let mut pair = Appliance::start(
        "upgrade",
        Setup {
            lines: 6,
            programs: [Some(old.clone()), Some(old.clone())],
            ..Setup::default()
        },
    );
    let before = (version(&pair, Node::A), version(&pair, Node::B));
    let probe = Probe::start(&pair.lab.ns("client"));
    let confirmers = citizens * 3 / 4;
    pair.start_campaign(
        Node::A,
        CAMPAIGN,
        &[
            (Citizen::Confirms, confirmers),
            (Citizen::NoAnswer, citizens - confirmers),
        ],
    );
    assert!(
        wait_until_every(Duration::from_secs(60), Duration::from_millis(200), || pair
            .progress(Node::A, CAMPAIGN)
            .is_some_and(|p| p.finished() >= 5))
        .is_some(),
        "the campaign never got going"
    );
    let started = Instant::now();

    let backup = upgrade(&mut pair, Node::B, &new);
    let at_backup = pair.progress(Node::A, CAMPAIGN).unwrap_or_default();
    let mixed = pair.allertactl(Node::B, &["status"]);
    let mixed = String::from_utf8_lossy(&mixed.stdout).into_owned();

    let t = Instant::now();
    let out = pair.allertactl(Node::A, &["switchover", "--drain", "30"]);
    assert!(
        out.status.success(),
        "switchover refused: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_until_every(Duration::from_secs(40), Duration::from_millis(50), || pair
            .master()
            == Some(Node::B))
        .is_some(),
        "node-b never took over"
    );
    let switchover = t.elapsed();
    let handed = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let master = upgrade(&mut pair, Node::A, &new);
    let upgraded = started.elapsed();
    let after = (version(&pair, Node::A), version(&pair, Node::B));
    let done = wait_until_every(Duration::from_secs(600), Duration::from_millis(500), || {
        pair.progress(Node::B, CAMPAIGN)
            .is_some_and(|p| p.state == "done")
    });
    let (probes, failed, longest) = probe.stop();
    pair.stop_carrier();

    // The invariants.
    let progress = pair.progress(Node::B, CAMPAIGN).unwrap_or_default();
    let db = pair.db(Node::B);
    let interrupted = appliance::interrupted_attempts(&db);
    let mut confirmed = appliance::confirmations(&db);
    let mut per_number: std::collections::HashMap<String, usize> = Default::default();
    for c in &confirmed {
        *per_number.entry(c.number.clone()).or_default() += 1;
    }
    let twice = per_number.values().filter(|n| **n > 1).count();
    confirmed.extend(appliance::confirmations(&pair.db(Node::A)));
    let calls = campaign::calls_in(&pair.pcap());
    let again = appliance::called_after_confirming(&calls, &confirmed);

    println!("\nupgrade-bench: {citizens} citizens ({confirmers} press 1), 6 lines");
    println!("versions before: node-a {}, node-b {}", before.0, before.1);
    println!("versions after:  node-a {}, node-b {}", after.0, after.1);
    println!("\nthe backup's view with the pair mixed (its `allertactl status`, first lines):");
    for line in mixed.lines().take(4) {
        println!("  {line}");
    }
    println!("\n| step | time |");
    println!("|---|---|");
    println!(
        "| 1. upgrade the backup (node-b) until in step again | {:.1} s |",
        backup.as_secs_f64()
    );
    println!(
        "| 2. switchover with drain, node-a → node-b | {:.1} s |",
        switchover.as_secs_f64()
    );
    println!(
        "| 3. upgrade node-a until in step again | {:.1} s |",
        master.as_secs_f64()
    );
    println!("| the whole upgrade | {:.1} s |", upgraded.as_secs_f64());
    println!("\nthe old master's switchover said: {handed}");
    println!(
        "\ncampaign when the backup had been upgraded: {} of {} finished; at the end: {} ({} confirmed, {} gave up)",
        at_backup.finished(),
        at_backup.total,
        progress.state,
        progress.confirmed,
        progress.gave_up
    );
    println!(
        "client on the VIP (AMI banner every 100 ms): {probes} probes, {failed} unanswered, longest gap between answers {:.0} ms",
        longest.as_secs_f64() * 1000.0
    );
    let checks = [
        ("the campaign finished", done.is_some()),
        (
            "every citizen who pressed 1 is confirmed",
            progress.confirmed == confirmers as u64,
        ),
        ("no confirmation recorded twice", twice == 0),
        (
            "no call dropped by the upgrade (no attempt interrupted)",
            interrupted == 0,
        ),
        ("nobody called again after confirming", again.is_empty()),
        ("the client was never left unanswered", failed == 0),
    ];
    let mut held = true;
    for (what, ok) in checks {
        println!("  {} {what}", if ok { "ok  " } else { "FAIL" });
        held &= ok;
    }
    if !again.is_empty() {
        println!(
            "  called again: {:?}",
            again.iter().map(|(c, _)| &c.number).collect::<Vec<_>>()
        );
    }
    if interrupted != 0 {
        println!("  interrupted attempts: {interrupted}");
    }
    drop(pair);
    std::process::exit(if held { 0 } else { 1 });
}
