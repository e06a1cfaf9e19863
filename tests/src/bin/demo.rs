//! `demo`: the appliance pair during an alert, as a municipality would see it.
//!
//! In network namespaces: node A and node B (supervisor, media core and sync agent each,
//! their own configuration and trunks), a carrier with a few hundred citizens' phones
//! (sipp) and an operator. The operator starts an alert campaign on the master; halfway
//! through, node A's media core is killed. A live timeline shows node B taking the VIP,
//! the campaign resuming there from the replicated ledger, node A coming back as backup,
//! catching up, holding back until the campaign is over and then taking its role back. A
//! summary gives the failover phases, the calls, the confirmations and the duplicates.
//! `--keep` leaves the lab up for exploring with `allertactl` inside the namespaces.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use system_tests::appliance::{self, Appliance, Progress, Setup};
use system_tests::campaign::{self, Citizen};
use system_tests::failover::MEDIACORE;
use system_tests::lab::{wall_secs, Node, VIP};

const CAMPAIGN: &str = "esondazione";

fn usage() -> ! {
    eprintln!(
        "usage: demo [--keep] [--citizens N]   (as root; `./allerta demo` builds and runs it)\n\
         \x20 --keep          leave the lab up afterwards, for exploring with allertactl\n\
         \x20 --citizens N    citizens to alert (default 300, at least 20)"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut keep = false;
    let mut citizens = 300usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--keep" => keep = true,
            "--citizens" => {
                citizens = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n >= 20)
                    .unwrap_or_else(|| usage())
            }
            _ => usage(),
        }
    }
    let ui = Ui::new();
    ui.title("Allerta demo: an alert campaign on the appliance pair, and a failure halfway");
    ui.say(
        "lab",
        &format!(
            "building it: node-a {} and node-b {} on the data network (VIP {VIP}), a carrier with {citizens} citizens' phones",
            Node::A.data_ip(),
            Node::B.data_ip()
        ),
    );
    let mut pair = Appliance::start("demo", Setup::default());
    let watcher = LogWatcher::start(pair.lab.dir().to_path_buf(), ui.wall0);
    let mut run = Run::default();
    std::thread::sleep(Duration::from_millis(300));
    ui.events(&watcher, &mut run);
    ui.say(
        "lab",
        "node-a is MASTER (priority 250) and holds the VIP; node-b is its BACKUP (240), its database replicated from node-a",
    );

    // The operator, on the master.
    let counts = mix(citizens);
    ui.say(
        "operator",
        &format!(
            "on node-a: allertactl contacts import citizens.csv; message set flood --text …; campaign create {CAMPAIGN} --lines 30; campaign start {CAMPAIGN}"
        ),
    );
    pair.start_campaign(Node::A, CAMPAIGN, &counts);

    // Halfway, node A's media core dies.
    let half = citizens as u64 / 2;
    let started = Instant::now();
    loop {
        ui.events(&watcher, &mut run);
        let p = pair.progress(Node::A, CAMPAIGN).unwrap_or_default();
        ui.progress(&p, "node-a");
        // Halfway, and with calls in progress (the citizens answer alike, so calls come
        // in waves): the kill cuts some.
        if p.finished() >= half && p.calling > 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(240) {
            ui.fail("the campaign made no progress on node-a");
            finish(pair, keep, false);
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let Some(pid) = pair.pid_of(Node::A, MEDIACORE) else {
        ui.fail("node-a's media core is not running");
        finish(pair, keep, false);
        return;
    };
    let calling = pair.progress(Node::A, CAMPAIGN).map_or(0, |p| p.calling);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    run.kill = Some(ui.now());
    ui.fault(&format!(
        "SIGKILL of node-a's media core (pid {pid}) with {calling} calls in progress"
    ));

    // Until the campaign is over on whichever node is master.
    let mut done = false;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(300) {
        ui.events(&watcher, &mut run);
        let master = pair.master();
        if let Some(node) = master {
            if let Some(p) = pair.progress(node, CAMPAIGN) {
                ui.progress(&p, node.role());
                if p.state == "done" {
                    done = true;
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ui.clear_bar();
    if !done {
        ui.fail("the campaign did not finish within 5 minutes after the fault");
        finish(pair, keep, false);
        return;
    }
    let master = pair.master().unwrap_or(Node::B);
    let last = pair.progress(master, CAMPAIGN).unwrap_or_default();
    ui.say(
        master.role(),
        &format!(
            "campaign {CAMPAIGN} done: {} of {} confirmed, {} gave up",
            last.confirmed, last.total, last.gave_up
        ),
    );

    // Node A, back as backup, takes its role back once the campaign is over.
    let back = system_tests::lab::wait_until(Duration::from_secs(30), || {
        ui.events(&watcher, &mut run);
        std::thread::sleep(Duration::from_millis(100));
        pair.master() == Some(Node::A)
    });
    if back.is_none() {
        ui.say("node-a", "did not take the master role back within 30 s");
    }
    std::thread::sleep(Duration::from_millis(500));
    ui.events(&watcher, &mut run);

    // What the carrier saw, against both ledgers.
    pair.stop_carrier();
    let calls = campaign::calls_in(&pair.pcap());
    let mut confirmed = appliance::confirmations(&pair.db(Node::A));
    confirmed.extend(appliance::confirmations(&pair.db(Node::B)));
    let again = appliance::called_after_confirming(&calls, &confirmed);
    let in_step = system_tests::lab::wait_until(Duration::from_secs(10), || {
        pair.progress(Node::A, CAMPAIGN) == pair.progress(Node::B, CAMPAIGN)
    })
    .is_some();
    let intact = [Node::A, Node::B]
        .iter()
        .all(|n| system_tests::sync::integrity_ok(&pair.db(*n)));
    let expected_confirms = counts
        .iter()
        .find(|(c, _)| *c == Citizen::Confirms)
        .map_or(0, |(_, n)| *n as u64);

    println!("\nSummary");
    let ms = |t: Option<f64>| match (t, run.kill) {
        (Some(t), Some(k)) => format!("{:>8.0} ms", (t - k) * 1000.0),
        _ => format!("{:>11}", "—"),
    };
    println!("  failover, after the kill of node-a's media core:");
    for (what, at) in [
        ("node-a's supervisor saw it die", run.detected),
        ("node-a released the VIP (FAULT)", run.a_fault),
        ("node-b MASTER, VIP taken", run.b_master),
        ("campaign dispatch resumed on node-b", run.b_dispatch),
        ("node-a back as BACKUP", run.a_backup),
        (
            "node-a MASTER again, after the campaign",
            run.a_master_again,
        ),
    ] {
        println!("    {what:<42}{}", ms(at));
    }
    println!("  calls placed (INVITEs the carrier got): {}", calls.len());
    println!(
        "  confirmations: {} of {} citizens who press 1 ({} recipients)",
        last.confirmed, expected_confirms, last.total
    );
    println!("  called again after confirming: {}", again.len());
    println!(
        "  databases: integrity {} on both, campaign ledgers {}",
        if intact { "ok" } else { "FAILED" },
        if in_step { "identical" } else { "DIFFERENT" }
    );
    let ok = again.is_empty()
        && intact
        && in_step
        && last.confirmed == expected_confirms
        && run.b_master.is_some();
    println!("  result: {}", if ok { "OK" } else { "FAILED" });
    finish(pair, keep, ok);
}

/// The citizens: most confirm, some hang up, some are busy, some never answer.
fn mix(n: usize) -> Vec<(Citizen, usize)> {
    let hang = n / 10;
    let busy = n / 20;
    let silent = n / 20;
    vec![
        (Citizen::Confirms, n - hang - busy - silent),
        (Citizen::HangsUp, hang),
        (Citizen::Busy, busy),
        (Citizen::NoAnswer, silent),
    ]
}

fn finish(pair: Appliance, keep: bool, ok: bool) {
    if keep {
        let bin = system_tests::prereq::workspace_bin("allertactl");
        println!("\nThe lab stays up (--keep). Explore it, for example:");
        for node in [Node::A, Node::B] {
            let run = pair.run_dir(node);
            println!(
                "  ip netns exec {} {} --config {}/node.toml status",
                pair.lab.ns(node.role()),
                bin.display(),
                run.display()
            );
        }
        println!("  (also: campaign status, campaign report {CAMPAIGN}, trunks, calls, sync status, switchover)");
        println!(
            "  logs, configurations and databases: {}",
            pair.lab.dir().display()
        );
        println!("Press Ctrl-C to tear it down.");
        let _ = std::io::stdout().flush();
        wait_for_ctrl_c();
    }
    drop(pair);
    println!("lab torn down; nothing left running");
    if !ok {
        std::process::exit(1);
    }
}

fn wait_for_ctrl_c() {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGINT);
    set.add(nix::sys::signal::Signal::SIGTERM);
    let _ = set.thread_block();
    let _ = set.wait();
}

/// The moments of the failover (seconds since the epoch), from the nodes' logs.
#[derive(Debug, Default)]
struct Run {
    kill: Option<f64>,
    detected: Option<f64>,
    a_fault: Option<f64>,
    b_master: Option<f64>,
    b_dispatch: Option<f64>,
    a_backup: Option<f64>,
    a_master_again: Option<f64>,
    /// Each node's last state, from its log.
    masters: [bool; 2],
}

/// Something a node's log said.
struct Event {
    node: Node,
    at: f64,
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Master,
    Backup,
    Fault,
    MediaCoreDied,
    Dispatch,
    HoldReleased,
    Other,
}

/// What a log line means for the timeline, if anything.
fn interpret(line: &str) -> Option<(Kind, String)> {
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(|v| v.trim_matches('"').to_owned())
    };
    if line.contains("state changed") {
        let reason = field("reason=").unwrap_or_default();
        return match field("to=")?.as_str() {
            "Master" => Some((
                Kind::Master,
                format!("MASTER: holds the VIP {VIP} ({reason})"),
            )),
            "Backup" => Some((Kind::Backup, format!("BACKUP ({reason})"))),
            "Fault" => Some((
                Kind::Fault,
                "FAULT: released the VIP, told the peer (priority 0)".into(),
            )),
            _ => None,
        };
    }
    if line.contains("component exited") && line.contains("component=mediacore") {
        return Some((
            Kind::MediaCoreDied,
            "supervisor: the media core died".into(),
        ));
    }
    if line.contains("component started") && line.contains("component=mediacore") {
        return Some((Kind::Other, "supervisor: media core started".into()));
    }
    if line.contains("campaigns dispatch from the ledger") {
        let n = field("recovered=").unwrap_or_default();
        return Some((
            Kind::Dispatch,
            format!("media core: campaign dispatch from the replicated ledger ({n} interrupted calls closed)"),
        ));
    }
    if line.contains("campaign dispatch stops") {
        return Some((
            Kind::Other,
            "media core: campaign dispatch stops (backup)".into(),
        ));
    }
    if line.contains("preemption held back") && !line.contains("no longer") {
        return Some((
            Kind::Other,
            "holds back from preempting: a campaign runs on the master".into(),
        ));
    }
    if line.contains("preemption no longer held back") {
        return Some((
            Kind::HoldReleased,
            "the campaign is over: may take its role back".into(),
        ));
    }
    if line.contains("check up") && line.contains("sync/fresh") {
        return Some((Kind::Other, "sync: caught up with the master".into()));
    }
    if line.contains("check down") && line.contains("sync/fresh") {
        return Some((
            Kind::Other,
            "sync: behind the master (priority lowered until caught up)".into(),
        ));
    }
    None
}

/// Follows every supervisor log of the lab (a restarted supervisor gets a new one).
struct LogWatcher {
    rx: mpsc::Receiver<Event>,
    stop: Arc<AtomicBool>,
}

impl LogWatcher {
    fn start(dir: PathBuf, since: f64) -> Self {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut offsets: HashMap<PathBuf, usize> = HashMap::new();
            while !flag.load(Ordering::Relaxed) {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    break;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let node = if name.starts_with("allerta-node-a") && name.ends_with(".log") {
                        Node::A
                    } else if name.starts_with("allerta-node-b") && name.ends_with(".log") {
                        Node::B
                    } else {
                        continue;
                    };
                    let Ok(text) = std::fs::read_to_string(&path) else {
                        continue;
                    };
                    let seen = offsets.entry(path).or_default();
                    // Only whole lines.
                    let Some(end) = text.rfind('\n').map(|i| i + 1) else {
                        continue;
                    };
                    if end <= *seen {
                        continue;
                    }
                    for line in text[*seen..end].lines() {
                        let Some(at) =
                            system_tests::lab::log_time_us(line).map(|us| us as f64 / 1e6)
                        else {
                            continue;
                        };
                        if at < since {
                            continue;
                        }
                        if let Some((kind, text)) = interpret(line) {
                            let _ = tx.send(Event {
                                node,
                                at,
                                text,
                                kind,
                            });
                        }
                    }
                    *seen = end;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Self { rx, stop }
    }
}

impl Drop for LogWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The terminal: a timeline of events and, on a terminal, one progress bar kept at the
/// bottom (elsewhere, a progress line every few seconds).
struct Ui {
    wall0: f64,
    tty: bool,
    last_line: std::cell::Cell<f64>,
    bar_shown: std::cell::Cell<bool>,
}

impl Ui {
    fn new() -> Self {
        Self {
            wall0: wall_secs(),
            tty: std::io::stdout().is_terminal(),
            last_line: std::cell::Cell::new(0.0),
            bar_shown: std::cell::Cell::new(false),
        }
    }

    fn now(&self) -> f64 {
        wall_secs()
    }

    fn clear_bar(&self) {
        if self.tty && self.bar_shown.replace(false) {
            print!("\r\x1b[2K");
        }
    }

    fn line(&self, at: f64, who: &str, text: &str) {
        self.clear_bar();
        println!("[{:>7.3} s] {who:<9} {text}", at - self.wall0);
    }

    fn title(&self, text: &str) {
        println!("{text}\n");
    }

    fn say(&self, who: &str, text: &str) {
        self.line(self.now(), who, text);
    }

    fn fault(&self, text: &str) {
        let bold = if self.tty {
            ("\x1b[1;31m", "\x1b[0m")
        } else {
            ("", "")
        };
        self.line(self.now(), "FAULT", &format!("{}{text}{}", bold.0, bold.1));
    }

    fn fail(&self, text: &str) {
        self.line(self.now(), "FAILED", text);
    }

    /// Prints the events the logs produced since last time, and notes the phases.
    fn events(&self, watcher: &LogWatcher, run: &mut Run) {
        let mut batch: Vec<Event> = watcher.rx.try_iter().collect();
        batch.sort_by(|a, b| a.at.total_cmp(&b.at));
        for e in batch {
            let after_kill = run.kill.is_some_and(|k| e.at >= k);
            let slot = match (e.node, e.kind) {
                (Node::A, Kind::MediaCoreDied) if after_kill => &mut run.detected,
                (Node::A, Kind::Fault) if after_kill => &mut run.a_fault,
                (Node::B, Kind::Master) if after_kill => &mut run.b_master,
                (Node::B, Kind::Dispatch) if after_kill => &mut run.b_dispatch,
                (Node::A, Kind::Backup) if after_kill => &mut run.a_backup,
                (Node::A, Kind::Master) if run.b_master.is_some() => &mut run.a_master_again,
                _ => &mut None,
            };
            slot.get_or_insert(e.at);
            let i = usize::from(e.node == Node::B);
            match e.kind {
                Kind::Master => run.masters[i] = true,
                Kind::Backup | Kind::Fault => run.masters[i] = false,
                // A node that just became master stops holding: nothing to tell.
                Kind::HoldReleased if run.masters[i] => continue,
                _ => {}
            }
            self.line(e.at, e.node.role(), &e.text);
        }
    }

    fn progress(&self, p: &Progress, node: &str) {
        if p.total == 0 {
            return;
        }
        let width = 32usize;
        let done = (p.finished() * width as u64 / p.total) as usize;
        let bar: String = "█".repeat(done) + &"░".repeat(width - done);
        let text = format!(
            "{CAMPAIGN} [{bar}] {:>3}/{} done · {} confirmed · {} calling · on {node}",
            p.finished(),
            p.total,
            p.confirmed,
            p.calling
        );
        if self.tty {
            print!("\r\x1b[2K  {text}");
            self.bar_shown.set(true);
            let _ = std::io::stdout().flush();
        } else if self.now() - self.last_line.get() >= 5.0 {
            self.last_line.set(self.now());
            self.say("progress", &text);
        }
    }
}
