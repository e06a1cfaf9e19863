//! Fault injection on the appliance pair: with a campaign running and configuration
//! changes being made on the master, one fault at a time (the suite,
//! `tests/tests/fault_lab.rs`) or at random (`fault-soak`). For each fault: how long until
//! a client is served again and until the pair is healthy again. Throughout: a monitor
//! samples whether a client is served through the VIP; at the end, the invariants (at most
//! one node dispatches while the nodes can talk, by each media core's own record of when it
//! started and stopped, no confirmed citizen called again, the
//! VIP on exactly one node in steady state, no configuration change lost, both databases
//! intact).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::appliance::{self, Appliance, Setup};
use crate::campaign::{self, Citizen};
use crate::lab::{ask, tail, wait_until_every, wall_secs, Lab, Node, VIP};

/// Which node a fault hits, by its role at the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Master,
    Backup,
}

/// A process of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Supervisor,
    MediaCore,
    Sync,
}

impl Process {
    fn comm(self) -> &'static str {
        match self {
            Self::Supervisor => "allerta-supervi",
            Self::MediaCore => crate::failover::MEDIACORE,
            Self::Sync => "allerta-sync",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Supervisor => "supervisor",
            Self::MediaCore => "media core",
            Self::Sync => "sync agent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL; a killed supervisor is restarted a second later, as systemd would.
    Kill(Process, Target),
    /// SIGSTOP for a few seconds, then SIGCONT.
    Stop(Process, Target),
    /// The master's data cable out of the switch for a few seconds.
    DataLinkDown,
    /// Nothing passes between the two nodes, both ways, for a few seconds; each still
    /// reaches the client and the carrier.
    SplitBrain,
    /// 30 % loss and 200 ms delay on both nodes' data links (tc netem).
    Netem,
    /// The backup's disk full for a few seconds.
    BackupDiskFull,
    /// The master's wall clock one hour ahead, for good.
    ClockJump,
}

impl Fault {
    /// Every fault, in the suite's order.
    pub fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for p in [Process::MediaCore, Process::Sync, Process::Supervisor] {
            for t in [Target::Master, Target::Backup] {
                v.push(Self::Kill(p, t));
                v.push(Self::Stop(p, t));
            }
        }
        v.extend([
            Self::DataLinkDown,
            Self::SplitBrain,
            Self::Netem,
            Self::BackupDiskFull,
            Self::ClockJump,
        ]);
        v
    }

    pub fn name(self) -> String {
        let target = |t| match t {
            Target::Master => "master",
            Target::Backup => "backup",
        };
        match self {
            Self::Kill(p, t) => format!("SIGKILL {}'s {}", target(t), p.name()),
            Self::Stop(p, t) => format!("SIGSTOP {}'s {} (3 s)", target(t), p.name()),
            Self::DataLinkDown => "master's data link down (4 s)".into(),
            Self::SplitBrain => "nodes cut apart, both ways".into(),
            Self::Netem => "30 % loss + 200 ms delay (8 s)".into(),
            Self::BackupDiskFull => "backup's disk full (6 s)".into(),
            Self::ClockJump => "master's clock +1 h".into(),
        }
    }

    /// Whether the nodes cannot (reliably) talk while it lasts: two masters are then
    /// expected, and not a violation.
    pub fn cuts_the_link(self) -> bool {
        matches!(self, Self::DataLinkDown | Self::SplitBrain | Self::Netem)
    }
}

/// One fault's result.
#[derive(Debug, Clone)]
pub struct Row {
    pub fault: Fault,
    pub node: Node,
    /// Seconds since the epoch.
    pub injected: f64,
    /// When the fault was taken away (the same as `injected` for a kill).
    pub lifted: f64,
    /// From the injection until the client was served again (None: never interrupted).
    pub service_back: Option<Duration>,
    /// From the injection until the pair was healthy again (None: not within the limit).
    pub healthy: Option<Duration>,
    pub note: String,
}

/// What the monitor saw at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: f64,
    /// The client got the AMI banner through the VIP.
    served: bool,
}

/// Whether a node's media core may start campaign calls now (its dialer's own verdict,
/// `dispatching` in its status); None if it does not answer within 300 ms.
fn media_core_dispatching(run: &Path) -> Option<bool> {
    let line = ask(
        &run.join("mediacore.sock"),
        "status",
        Duration::from_millis(300),
    )?;
    let v: serde_json::Value = serde_json::from_str(line.strip_prefix("status ")?).ok()?;
    Some(v["dispatching"] == true)
}

/// A client's question: does the VIP answer AMI (the banner) within 300 ms?
fn served(client_ns: &str) -> bool {
    let ns = client_ns.to_owned();
    crate::probe::in_netns(&ns, || {
        let addr = std::net::SocketAddr::from((VIP, 5038));
        let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300))
        else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
        let mut buf = [0u8; 22];
        s.read_exact(&mut buf).is_ok() && buf.starts_with(b"Asterisk Call Manager/")
    })
}

/// The media core's own record of when it started and stopped dispatching (its `campaign
/// dispatch on|off … mono_us=…` lines), as intervals of this process's wall-clock seconds,
/// from the logs of one node's supervisors in order. The edges are stamped in the host's
/// CLOCK_MONOTONIC, which every namespace shares and libfaketime leaves alone, so a node
/// whose wall clock was moved is still compared right. An interval left open in a log ends
/// at the media core's exit as its supervisor saw it, or, in a log that ends (a killed
/// supervisor, whose media core dies with it by PDEATHSIG), at that log's last line; the
/// open interval of the latest log ends now.
pub fn dispatch_intervals(logs: &[String]) -> Vec<(f64, f64)> {
    let at = mono_time;
    let stamp = |line: &str| crate::lab::log_time_us(line).map(|us| us as f64 / 1e6);
    let mut out = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let latest = i + 1 == logs.len();
        let mut on: Option<f64> = None;
        let mut last = None;
        for line in log.lines() {
            last = stamp(line).or(last);
            if line.contains("campaign dispatch on") {
                on = on.or(at(line));
            } else if line.contains("campaign dispatch off") {
                if let (Some(start), Some(end)) = (on.take(), at(line)) {
                    out.push((start, end));
                }
            } else if line.contains("component exited") && line.contains("mediacore") {
                if let (Some(start), Some(end)) = (on.take(), stamp(line)) {
                    out.push((start, end));
                }
            }
        }
        let end = if latest {
            Some(crate::lab::wall_secs())
        } else {
            last
        };
        if let (Some(start), Some(end)) = (on, end) {
            out.push((start, end));
        }
    }
    out
}

/// A log line's `mono_us=` (the host's CLOCK_MONOTONIC, which libfaketime leaves alone) as
/// wall-clock seconds of this machine.
fn mono_time(line: &str) -> Option<f64> {
    let offset_us = crate::lab::wall_us() - component::monotonic::now_us() as i64;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("mono_us="))
        .and_then(|n| n.parse::<i64>().ok())
        .map(|us| (us + offset_us) as f64 / 1e6)
}

/// When a master's sync agent met the backup (a session planned), in seconds, from the
/// nodes' logs.
pub fn sync_sessions(logs: &[String]) -> Vec<f64> {
    let mut out: Vec<f64> = logs
        .iter()
        .flat_map(|log| log.lines())
        .filter(|l| l.contains("role=\"sender\"") && l.contains("session started"))
        .filter_map(mono_time)
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Where two nodes' dispatch intervals overlap: (start, end) in seconds.
pub fn overlaps(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (a0, a1) in a {
        for (b0, b1) in b {
            let (s, e) = (a0.max(*b0), a1.min(*b1));
            if s < e {
                out.push((s, e));
            }
        }
    }
    out.sort_by(|x, y| x.0.total_cmp(&y.0));
    out
}

/// Samples every 100 ms in its own thread.
struct Monitor {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    fn start(pair: &Appliance) -> Self {
        let client = pair.lab.ns("client");
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, f) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !f.load(Ordering::Relaxed) {
                let at = wall_secs();
                let served = served(&client);
                s.lock().unwrap().push(Sample { at, served });
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    fn last_unserved_since(&self, since: f64) -> Option<f64> {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.at >= since && !s.served)
            .map(|s| s.at)
            .next_back()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Configuration changes made on whichever node holds the VIP, one a second: a file in
/// the shared tree (`change-NNNN.conf`). Each is remembered with the node it was made on.
struct ChangeWriter {
    made: Arc<Mutex<Vec<(String, Node, f64)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChangeWriter {
    /// `holder` is the VIP holder as the suite last saw it (the lab's address queries stay
    /// on the suite's thread).
    fn start(pair: &Appliance, holder: Arc<Mutex<Option<Node>>>) -> Self {
        let shared = [pair.shared(Node::A), pair.shared(Node::B)];
        let made = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, f) = (made.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0u32;
            while !f.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let Some(node) = *holder.lock().unwrap() else {
                    continue;
                };
                n += 1;
                let name = format!("change-{n:04}.conf");
                let dir = &shared[usize::from(node == Node::B)];
                if std::fs::write(
                    dir.join(&name),
                    format!("change {n} made on {}\n", node.role()),
                )
                .is_ok()
                {
                    m.lock().unwrap().push((name, node, wall_secs()));
                }
            }
        });
        Self {
            made,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Vec<(String, Node, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.made.lock().unwrap().clone()
    }
}

/// The invariants, over the whole run.
#[derive(Debug, Clone, Default)]
pub struct Invariants {
    /// Where both media cores dispatched while the nodes could talk, by their own
    /// records: (start, end) in wall-clock seconds.
    pub both_dispatching: Vec<(f64, f64)>,
    /// How many dispatch intervals each node's media core recorded: both were master at
    /// some time, so none means the record is missing and the check above proves nothing.
    pub dispatch_records: [usize; 2],
    /// Numbers called after their confirmation was recorded, with the call's time.
    pub called_after_confirming: Vec<(String, f64)>,
    /// Calls to someone who had confirmed on the other node, by a node that could not know
    /// it yet (excused; counted so the cost of asynchronous replication stays visible).
    pub called_before_knowing: usize,
    /// Faults after which the VIP was not on exactly one node.
    pub vip_not_single: Vec<String>,
    /// Configuration changes on neither node's tree nor in a divergence report, with
    /// when they were made.
    pub changes_lost: Vec<(String, f64)>,
    pub changes_made: usize,
    /// Databases that failed `PRAGMA integrity_check`.
    pub databases_damaged: Vec<String>,
}

impl Invariants {
    pub fn held(&self) -> bool {
        self.both_dispatching.is_empty()
            && self.dispatch_records.iter().all(|n| *n > 0)
            && self.called_after_confirming.is_empty()
            && self.vip_not_single.is_empty()
            && self.changes_lost.is_empty()
            && self.databases_damaged.is_empty()
    }
}

pub struct Suite {
    pub pair: Appliance,
    monitor: Option<Monitor>,
    changes: Option<ChangeWriter>,
    /// Where the change writer makes its changes (kept fresh while the suite waits).
    vip_holder: Arc<Mutex<Option<Node>>>,
    pub rows: Vec<Row>,
    /// How long a fault may take to heal before it counts as not recovered.
    pub patience: Duration,
    /// How long `SplitBrain` keeps the nodes apart.
    pub split_for: Duration,
}

/// The campaign the suite runs.
pub const CAMPAIGN: &str = "prova";

impl Suite {
    /// The pair with small disks and movable clocks, a long campaign started on the
    /// master, configuration changes being made, the monitor running.
    pub fn start(name: &str, citizens: usize) -> Self {
        let setup = Setup {
            lines: 10,
            small_disks: Some("256m"),
            faketime: true,
            ..Setup::default()
        };
        let pair = Appliance::start(name, setup);
        let counts = [
            (Citizen::Confirms, citizens * 8 / 10),
            (Citizen::HangsUp, citizens / 10),
            (
                Citizen::NoAnswer,
                citizens - citizens * 8 / 10 - citizens / 10,
            ),
        ];
        pair.start_campaign(Node::A, CAMPAIGN, &counts);
        let mut suite = Self {
            monitor: Some(Monitor::start(&pair)),
            changes: None,
            vip_holder: Arc::new(Mutex::new(None)),
            pair,
            rows: Vec::new(),
            patience: Duration::from_secs(30),
            split_for: Duration::from_secs(5),
        };
        suite.note_vip_holder();
        suite.changes = Some(ChangeWriter::start(&suite.pair, suite.vip_holder.clone()));
        // Let the campaign and the changes get going.
        std::thread::sleep(Duration::from_secs(3));
        suite
    }

    fn note_vip_holder(&self) {
        *self.vip_holder.lock().unwrap() = self.pair.master();
    }

    fn node_for(&self, target: Target) -> Node {
        let master = self.pair.master().unwrap_or(Node::A);
        match target {
            Target::Master => master,
            Target::Backup => master.other(),
        }
    }

    /// Polls `check` every 100 ms for up to `patience`.
    fn wait(&self, check: impl FnMut() -> bool) -> bool {
        wait_until_every(self.patience, Duration::from_millis(100), check).is_some()
    }

    /// Sleeps `d`, keeping the VIP holder note fresh for the change writer.
    fn hold(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.note_vip_holder();
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Injects `fault`, lifts it, waits until the pair is healthy; records a row.
    pub fn run(&mut self, fault: Fault) -> &Row {
        self.run_with(fault, |_| {})
    }

    /// `run`, with `during` done on the pair while a split brain lasts (before the nodes are
    /// joined again; the split lasts at least `split_for`).
    pub fn run_with(&mut self, fault: Fault, during: impl FnOnce(&Appliance)) -> &Row {
        assert!(
            self.wait(|| self.healthy()),
            "not healthy before {}:\nA: {}\nB: {}",
            fault.name(),
            tail(&self.pair.supervisor(Node::A).log_text()),
            tail(&self.pair.supervisor(Node::B).log_text())
        );
        let node = match fault {
            Fault::Kill(_, t) | Fault::Stop(_, t) => self.node_for(t),
            Fault::BackupDiskFull => self.node_for(Target::Backup),
            _ => self.node_for(Target::Master),
        };
        let injected = wall_secs();
        let start = Instant::now();
        let mut note = String::new();
        match fault {
            Fault::Kill(Process::Supervisor, _) => {
                if !self.pair.stop_node(node, Signal::SIGKILL) {
                    note = "components outlived their supervisor".into();
                }
                self.hold(Duration::from_secs(1));
                self.pair.start_node(node);
            }
            Fault::Kill(p, _) => self.signal(node, p, Signal::SIGKILL),
            Fault::Stop(p, _) => {
                self.signal(node, p, Signal::SIGSTOP);
                self.hold(Duration::from_secs(3));
                self.signal(node, p, Signal::SIGCONT);
            }
            Fault::DataLinkDown => {
                self.pair.lab.set_port(node.data_port(), false);
                self.hold(Duration::from_secs(4));
                self.pair.lab.set_port(node.data_port(), true);
            }
            Fault::SplitBrain => {
                for n in [Node::A, Node::B] {
                    cut(&self.pair.lab, n, true);
                }
                let until = Instant::now() + self.split_for;
                during(&self.pair);
                self.hold(until.saturating_duration_since(Instant::now()));
                for n in [Node::A, Node::B] {
                    cut(&self.pair.lab, n, false);
                }
            }
            Fault::Netem => {
                let impaired: Vec<_> = [Node::A, Node::B]
                    .iter()
                    .map(|n| Impaired::start(&self.pair.lab, *n))
                    .collect();
                self.hold(Duration::from_secs(8));
                for i in impaired {
                    i.stop(&self.pair.lab);
                }
            }
            Fault::BackupDiskFull => {
                let disk = &self.pair.disks[usize::from(node == Node::B)];
                disk.fill();
                self.hold(Duration::from_secs(6));
                disk.unfill();
            }
            Fault::ClockJump => {
                std::fs::write(self.pair.clock_file(node), "+1h\n").expect("faketime file");
                self.hold(Duration::from_secs(2));
            }
        }
        let lifted = wall_secs();
        let healthy = self
            .wait(|| {
                self.note_vip_holder();
                self.healthy()
            })
            .then(|| start.elapsed());
        if healthy.is_none() {
            note.push_str(&self.why_unhealthy());
        }
        let service_back = self
            .monitor
            .as_ref()
            .and_then(|m| m.last_unserved_since(injected))
            .map(|t| Duration::from_secs_f64((t - injected).max(0.0) + 0.1));
        self.rows.push(Row {
            fault,
            node,
            injected,
            lifted,
            service_back,
            healthy,
            note,
        });
        self.rows.last().expect("just pushed")
    }

    fn signal(&self, node: Node, p: Process, signal: Signal) {
        for pid in self.pair.lab.pids_named(node.role(), p.comm()) {
            // The supervisor's VIP guard shares its name; only the supervisor is meant.
            if p == Process::Supervisor && pid as u32 != self.pair.supervisor(node).pid {
                continue;
            }
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }

    /// Steady state: one node holds the VIP, its supervisor is master without faults, the
    /// other is backup without faults, and the backup's sync agent has caught up.
    pub fn healthy(&self) -> bool {
        let Some(m) = self.pair.master() else {
            return false;
        };
        let b = m.other();
        let role_ok = |node: Node, want: &str| {
            self.supervisor_status(node).is_some_and(|s| {
                s["role"] == want && s["faults"].as_array().is_some_and(Vec::is_empty)
            })
        };
        role_ok(m, "MASTER")
            && role_ok(b, "BACKUP")
            && media_core_dispatching(&self.pair.run_dir(m)) == Some(true)
            && media_core_dispatching(&self.pair.run_dir(b)) == Some(false)
            && self
                .pair
                .sync_node(b)
                .status_if_up()
                .is_some_and(|s| s["role"] == "backup" && s["checks"]["fresh"]["ok"] == true)
    }

    fn why_unhealthy(&self) -> String {
        let holders = self.pair.lab.vip_holders();
        let roles: Vec<String> = [Node::A, Node::B]
            .iter()
            .map(|n| {
                self.supervisor_status(*n).map_or("no answer".into(), |s| {
                    format!("{} {}", s["role"], s["faults"])
                })
            })
            .collect();
        format!(
            "not healthy after {:?}: VIP on {holders:?}, A {} B {}",
            self.patience, roles[0], roles[1]
        )
    }

    fn supervisor_status(&self, node: Node) -> Option<serde_json::Value> {
        let out = self.pair.allertactl(node, &["--json", "status"]);
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Stops the campaign and the changes, lets replication settle, and checks the
    /// invariants over the whole run.
    pub fn finish(&mut self) -> Invariants {
        let made = self
            .changes
            .take()
            .map(ChangeWriter::stop)
            .unwrap_or_default();
        let monitor = self.monitor.take();
        if let Some(m) = self.pair.master() {
            let _ = self.pair.allertactl(m, &["campaign", "stop", CAMPAIGN]);
        }
        // Calls in progress end (ring 5 s, message ~8 s) and the backup catches up.
        std::thread::sleep(Duration::from_secs(10));
        let _ = self.wait(|| self.healthy());
        self.pair.stop_carrier();
        let mut inv = Invariants {
            changes_made: made.len(),
            ..Invariants::default()
        };

        // At most one node dispatching while the nodes can talk (a link fault, and the
        // 2 s after it is lifted, excused).
        let excused: Vec<(f64, f64)> = self
            .rows
            .iter()
            .filter(|r| r.fault.cuts_the_link())
            .map(|r| (r.injected, r.lifted + 2.0))
            .collect();
        let records = [Node::A, Node::B].map(|n| dispatch_intervals(&self.pair.supervisor_logs(n)));
        inv.dispatch_records = [records[0].len(), records[1].len()];
        inv.both_dispatching = overlaps(&records[0], &records[1])
            .into_iter()
            .filter(|(s, e)| !excused.iter().any(|(a, b)| s >= a && e <= b))
            .collect();
        drop(monitor);

        // No confirmed citizen called again (confirmations on either node), except by a node
        // that could not know of the confirmation when it called (500 ms for an INVITE on
        // its way): while the nodes are cut apart each may call someone who confirmed on
        // the other (issue 15 allows both to dispatch), until they meet again; and a
        // confirmation the other node recorded while its writes could not reach this one (a
        // split, or an old master's last writes before its sync agent stopped) is known here
        // from its merge (`merged_at`), not before. Replication is asynchronous: that last
        // window is the product's, and is said in the README.
        let calls = campaign::calls_in(&self.pair.pcap());
        let mut confirmed = appliance::confirmations(&self.pair.db(Node::A));
        confirmed.extend(appliance::confirmations(&self.pair.db(Node::B)));
        let logs: Vec<String> = [Node::A, Node::B]
            .iter()
            .flat_map(|n| self.pair.supervisor_logs(*n))
            .collect();
        let sessions = sync_sessions(&logs);
        let cuts: Vec<(f64, f64, f64)> = self
            .rows
            .iter()
            .filter(|r| r.fault.cuts_the_link())
            .map(|r| {
                let met = sessions.iter().copied().find(|t| *t >= r.lifted);
                (r.injected, r.lifted, met.unwrap_or(r.lifted) + 0.5)
            })
            .collect();
        let again = appliance::called_after_confirming(&calls, &confirmed);
        let total = again.len();
        inv.called_after_confirming = again
            .into_iter()
            .filter(|(call, conf)| {
                let by_other = [Node::A, Node::B]
                    .iter()
                    .any(|n| n.role() == conf.node && call.from != n.voice_ip().to_string());
                let at = conf.at_ms as f64 / 1000.0;
                let unknown_until_merged = conf
                    .merged_ms
                    .is_some_and(|m| call.start < m as f64 / 1000.0 + 0.5);
                let excused = by_other
                    && (unknown_until_merged
                        || cuts.iter().any(|(cut, lifted, met)| {
                            at >= *cut && at <= *lifted && call.start < *met
                        }));
                !excused
            })
            .map(|(call, _)| (call.number.clone(), call.start))
            .collect();
        inv.called_before_knowing = total - inv.called_after_confirming.len();

        inv.vip_not_single = self
            .rows
            .iter()
            .filter(|r| r.healthy.is_none())
            .map(|r| r.fault.name())
            .collect();
        if self.pair.lab.vip_holders().len() != 1 {
            inv.vip_not_single.push("at the end".into());
        }

        // Every change on both nodes, or in a divergence report.
        let diverged = divergence_text(&self.pair);
        for (name, _, at) in &made {
            let on_both = [Node::A, Node::B]
                .iter()
                .all(|n| self.pair.shared(*n).join(name).is_file());
            if !on_both && !diverged.contains(name.as_str()) {
                inv.changes_lost.push((name.clone(), *at));
            }
        }
        for node in [Node::A, Node::B] {
            if !crate::sync::integrity_ok(&self.pair.db(node)) {
                inv.databases_damaged.push(node.role().into());
            }
        }
        inv
    }

    /// The invariants broken between fault `i`'s injection and the next fault's.
    fn broken_during(&self, i: usize, inv: &Invariants) -> Vec<&'static str> {
        let from = self.rows[i].injected;
        let to = self.rows.get(i + 1).map_or(f64::MAX, |r| r.injected);
        let within = |t: f64| t >= from && t < to;
        let mut broken = Vec::new();
        if inv.both_dispatching.iter().any(|(t, _)| within(*t)) {
            broken.push("two dispatching");
        }
        if inv.called_after_confirming.iter().any(|(_, t)| within(*t)) {
            broken.push("confirmed called again");
        }
        if self.rows[i].healthy.is_none() {
            broken.push("VIP not single");
        }
        if inv.changes_lost.iter().any(|(_, t)| within(*t)) {
            broken.push("change lost");
        }
        broken
    }

    /// The table of faults, with the invariants over each fault's time (up to the next).
    pub fn table(&self, inv: &Invariants) -> String {
        let mut t = format!(
            "{:<40} {:<7} {:>13} {:>13}  {:<10} {}\n",
            "fault", "node", "service back", "pair healthy", "invariants", "note"
        );
        let ms = |d: Option<Duration>, none: &str| {
            d.map_or(none.to_owned(), |d| {
                format!("{:.0} ms", d.as_secs_f64() * 1000.0)
            })
        };
        for (i, r) in self.rows.iter().enumerate() {
            let broken = self.broken_during(i, inv);
            let held = if broken.is_empty() {
                "held".to_owned()
            } else {
                format!("BROKEN: {}", broken.join(", "))
            };
            t.push_str(&format!(
                "{:<40} {:<7} {:>13} {:>13}  {:<10} {}\n",
                r.fault.name(),
                r.node.role(),
                ms(r.service_back, "no outage"),
                ms(r.healthy, "NOT"),
                held,
                r.note
            ));
        }
        t.push_str(&format!(
            "over the whole run: {} configuration changes made, {} lost; dispatch intervals \
             recorded: node-a {}, node-b {}, overlapping {}; confirmed citizens called again \
             by a node that could not know yet: {}; databases {}\n",
            inv.changes_made,
            inv.changes_lost.len(),
            inv.dispatch_records[0],
            inv.dispatch_records[1],
            inv.both_dispatching.len(),
            inv.called_before_knowing,
            if inv.databases_damaged.is_empty() {
                "intact on both nodes".to_owned()
            } else {
                format!("DAMAGED on {:?}", inv.databases_damaged)
            }
        ));
        t
    }
}

/// Drops everything `node` receives from the other node, or stops doing so. Done on both
/// nodes, nothing passes between them either way, and each still sends without an error, as
/// when the link between two switches is cut (dropping on the way out instead makes each
/// node's sends fail with EPERM: its adverts then stop, its lease runs out, and neither
/// node dispatches, which is not what a real split looks like).
fn cut(lab: &Lab, node: Node, on: bool) {
    let other = node.other().data_ip().to_string();
    let nft = |args: &[&str]| {
        let out = lab.exec(node.role(), "nft", args);
        assert!(
            out.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if on {
        nft(&["add", "table", "inet", "splitbrain"]);
        nft(&[
            "add",
            "chain",
            "inet",
            "splitbrain",
            "in",
            "{",
            "type",
            "filter",
            "hook",
            "input",
            "priority",
            "0",
            ";",
            "}",
        ]);
        nft(&[
            "add",
            "rule",
            "inet",
            "splitbrain",
            "in",
            "ip",
            "saddr",
            &other,
            "drop",
        ]);
    } else {
        nft(&["delete", "table", "inet", "splitbrain"]);
    }
}

/// 30 % loss and 200 ms delay on what `node` sends on its data link: what
/// `tc qdisc add dev data0 root netem loss 30% delay 200ms` does, by an NFQUEUE and the
/// lab's `impair` (this machine's kernel has no sch_netem).
struct Impaired {
    node: Node,
    proc: crate::lab::Proc,
}

const IMPAIR_RULE: &[&str] = &[
    "OUTPUT",
    "-o",
    "data0",
    "-j",
    "NFQUEUE",
    "--queue-num",
    "0",
    "--queue-bypass",
];

fn iptables(lab: &Lab, node: Node, op: &str) {
    let mut args = vec![op];
    args.extend_from_slice(IMPAIR_RULE);
    let out = lab.exec(node.role(), "iptables", &args);
    assert!(
        out.status.success(),
        "iptables {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Impaired {
    fn start(lab: &Lab, node: Node) -> Self {
        let proc = lab.spawn(
            node.role(),
            &format!("impair-{}", node.role()),
            &crate::prereq::workspace_bin("impair"),
            &["--queue", "0", "--loss", "30", "--delay-ms", "200"],
            &[],
        );
        assert!(
            proc.wait_count("impair: queue", 1, Duration::from_secs(5)),
            "impair did not start: {}",
            proc.log_text()
        );
        iptables(lab, node, "-A");
        Self { node, proc }
    }

    fn stop(self, lab: &Lab) {
        iptables(lab, self.node, "-D");
        lab.signal(&self.proc, Signal::SIGTERM);
        let _ = lab.wait_exit(&self.proc, Duration::from_secs(5));
    }
}

/// Everything in both nodes' divergence reports (file names and row dumps), as text.
fn divergence_text(pair: &Appliance) -> String {
    let mut text = String::new();
    for node in [Node::A, Node::B] {
        let mut stack = vec![pair.sync_node(node).divergence()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                text.push_str(&p.display().to_string());
                text.push('\n');
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(s) = std::fs::read_to_string(&p) {
                    text.push_str(&s);
                }
            }
        }
    }
    text
}

/// Counts by kind, for the soak's summary.
pub fn count_rows(rows: &[Row]) -> BTreeMap<String, (usize, usize)> {
    let mut m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in rows {
        let e = m.entry(r.fault.name()).or_default();
        e.0 += 1;
        if r.healthy.is_some() {
            e.1 += 1;
        }
    }
    m
}
