//! Failover trials, shared by the benchmark and the demo: a pair of nodes running one VRRP
//! implementation, the client probing the VIP, faults injected on the master and the
//! outage measured from the client's side.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::lab::{wait_until, Lab, Node, Proc, VIP};
use crate::nodes::{self, Speaker, Vrrp};
use crate::probe::{self, EchoServer, Probe};

/// What happens to the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL of the VRRP daemon (all keepalived processes; our supervisor's main process).
    Kill,
    /// The master's data cable unplugged at the switch.
    LinkDown,
    /// SIGTERM: a planned stop, priority 0.
    Graceful,
    /// SIGKILL of the watched service (the media core) on the master.
    ComponentKill,
    /// SIGSTOP of the watched service: alive but hung.
    ComponentHang,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "SIGKILL of the daemon",
            Self::LinkDown => "master's link down",
            Self::Graceful => "graceful stop",
            Self::ComponentKill => "media core killed",
            Self::ComponentHang => "media core hung (SIGSTOP)",
        }
    }
    /// Component faults are measured as the time until the backup answers on the VIP (the
    /// master's own service may keep answering meanwhile); the others as the outage.
    pub fn is_component(self) -> bool {
        matches!(self, Self::ComponentKill | Self::ComponentHang)
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kill" => Some(Self::Kill),
            "link" => Some(Self::LinkDown),
            "graceful" => Some(Self::Graceful),
            "component" => Some(Self::ComponentKill),
            "hang" => Some(Self::ComponentHang),
            _ => None,
        }
    }
}

/// What one trial measured.
#[derive(Debug, Clone)]
pub struct Trial {
    /// Client-side outage when the master failed (None: not a single probe lost).
    pub outage: Option<Duration>,
    /// Client-side outage when the master came back and took its role back.
    pub failback: Option<Duration>,
    /// The failed master still had the VIP configured after the backup took over.
    pub vip_left_behind: bool,
}

pub struct Pair {
    pub lab: Lab,
    pub speaker: Speaker,
    pub va: Vrrp,
    pub vb: Vrrp,
    pub a: Proc,
    pub b: Proc,
    pub probe: Probe,
    /// Quiet time after each trial. The benchmark waits out garp_master_delay (5 s) so a
    /// late gratuitous-ARP burst of either implementation cannot land in the next trial.
    pub settle: Duration,
    /// The service on each node; A's dies with A in the kill case.
    echo_a: Option<EchoServer>,
    _echo_b: EchoServer,
    /// keepalived only: the media cores the harness runs itself (ours are the supervisor's).
    media_cores: Vec<(Node, Proc)>,
}

/// `comm` of the media core (15 characters at most).
pub const MEDIACORE: &str = "allerta-mediaco";

/// How a pair is set up.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub interval_ms: u64,
    /// Priorities of A and B.
    pub priorities: (u8, u8),
    /// Run the media core and watch it: our supervisor as its parent; keepalived through a
    /// `vrrp_script` (interval 1 s, fall 1, the shortest keepalived accepts).
    pub watch_media_core: bool,
}

impl Pair {
    /// Starts A (priority 200) then B (100) and waits until the client reaches A on the VIP.
    pub fn start(name: &str, speaker: Speaker, interval_ms: u64) -> Self {
        Self::start_with(
            name,
            speaker,
            Setup {
                interval_ms,
                priorities: (200, 100),
                watch_media_core: false,
            },
        )
    }

    pub fn start_with(name: &str, speaker: Speaker, setup: Setup) -> Self {
        let lab = Lab::two_nodes(name);
        let interval_ms = setup.interval_ms;
        let (mut va, mut vb) = (
            Vrrp::for_node(Node::A, interval_ms),
            Vrrp::for_node(Node::B, interval_ms),
        );
        (va.priority, vb.priority) = setup.priorities;
        let mut media_cores = Vec::new();
        if setup.watch_media_core {
            match speaker {
                Speaker::Allerta => {
                    va.components = true;
                    vb.components = true;
                }
                Speaker::Keepalived => {
                    for (node, v) in [(Node::A, &mut va), (Node::B, &mut vb)] {
                        media_cores.push((node, start_media_core(&lab, node)));
                        let check = lab.write_file(
                            &format!("check-mediacore-{}.sh", node.role()),
                            // Alive = the process exists and is not a zombie (the harness reaps it later; a
                            // real daemon's parent would at once).
                            &format!(
                                "#!/bin/sh\nstate=$(awk '/^State:/ {{print $2}}' /proc/\"$(cat {})\"/status 2>/dev/null)\n\
                                 [ -n \"$state\" ] && [ \"$state\" != Z ]\n",
                                pid_file(&lab, node).display()
                            ),
                        );
                        std::fs::set_permissions(
                            &check,
                            std::os::unix::fs::PermissionsExt::from_mode(0o755),
                        )
                        .expect("chmod");
                        v.keepalived_check = Some(check);
                    }
                }
            }
        }
        let echo_a = Some(EchoServer::start(&lab.ns("node-a"), "node-a"));
        let echo_b = EchoServer::start(&lab.ns("node-b"), "node-b");
        let a = nodes::start(&lab, Node::A, speaker, &va);
        assert!(
            a.wait_count(speaker.master_line(), 1, Duration::from_secs(15)),
            "node A never became master:\n{}",
            a.log_text()
        );
        let b = nodes::start(&lab, Node::B, speaker, &vb);
        let probe = Probe::start(&lab.ns("client"), VIP, Duration::from_millis(10));
        assert!(
            probe.wait_answered_by("node-a", Duration::from_secs(10)),
            "client cannot reach A on the VIP"
        );
        // Let B settle as backup.
        std::thread::sleep(Duration::from_millis(4 * interval_ms).max(Duration::from_millis(300)));
        let settle = Duration::from_millis(3 * interval_ms).max(Duration::from_millis(300));
        Self {
            lab,
            speaker,
            va,
            vb,
            a,
            b,
            probe,
            settle,
            echo_a,
            _echo_b: echo_b,
            media_cores,
        }
    }

    /// Bound on any single wait in a trial.
    fn patience(&self) -> Duration {
        Duration::from_secs(5) + 10 * Duration::from_millis(self.va.advert_interval_ms)
    }

    /// Injects `fault` on A, measures until B answers, restores A, measures the failback.
    pub fn trial(&mut self, fault: Fault) -> Result<Trial, String> {
        let patience = self.patience();
        // Hit a random point of the advert cycle: our adverts keep an exact grid, so a fault
        // a fixed time after the last takeover would always land at the same phase. For a
        // media core fault, a random point of keepalived's 1 s check-script cycle too.
        let interval = if fault.is_component() {
            1000
        } else {
            self.va.advert_interval_ms.max(1)
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        std::thread::sleep(Duration::from_micros(u64::from(nanos) % (interval * 1000)));
        let t = Instant::now();
        match fault {
            Fault::Kill => {
                // "The master dies": its service goes with the daemon. (Kill only the
                // daemon and keepalived's stale VIP keeps being answered by the old node.)
                self.echo_a = None;
                self.kill_a();
            }
            Fault::LinkDown => self.lab.set_port(Node::A.data_port(), false),
            Fault::Graceful => self.lab.signal(&self.a, Signal::SIGTERM),
            Fault::ComponentKill => self.signal_media_core(Signal::SIGKILL),
            Fault::ComponentHang => self.signal_media_core(Signal::SIGSTOP),
        }
        if !self.probe.wait_answered_by("node-b", patience) {
            return Err(format!("{}: B never answered on the VIP", fault.name()));
        }
        // Give the lost probes' successors time to come back before reading the outage.
        std::thread::sleep(Duration::from_millis(50));
        let samples = self.probe.samples();
        let outage = if fault.is_component() {
            // Until the backup answers.
            samples
                .iter()
                .find(|s| s.sent >= t && s.answered_by.as_deref() == Some("node-b"))
                .map(|s| s.sent - t)
        } else {
            probe::outage(&samples, t)
        };
        let vip_left_behind = fault == Fault::Kill && {
            // The guard (or nothing, for keepalived) acts within milliseconds.
            std::thread::sleep(Duration::from_millis(200));
            self.lab.holds_vip(Node::A)
        };

        // Restore A; it comes back as backup and preempts (priority 200 > 100).
        let back = Instant::now();
        match fault {
            Fault::LinkDown => self.lab.set_port(Node::A.data_port(), true),
            Fault::ComponentHang => self.signal_media_core(Signal::SIGCONT),
            Fault::ComponentKill => {
                // Ours restarts it by itself; keepalived's operator (here the harness) does.
                if self.speaker == Speaker::Keepalived {
                    let pos = self
                        .media_cores
                        .iter()
                        .position(|(n, _)| *n == Node::A)
                        .expect("A's media core");
                    let (_, old) = self.media_cores.remove(pos);
                    let _ = self.lab.wait_exit(&old, Duration::from_secs(2));
                    self.media_cores
                        .push((Node::A, start_media_core(&self.lab, Node::A)));
                }
            }
            Fault::Kill | Fault::Graceful => {
                let _ = self.lab.wait_exit(&self.a, Duration::from_secs(5));
                if self.speaker == Speaker::Keepalived {
                    // keepalived killed while master leaves its VIP; a restart clears it.
                    wait_until(Duration::from_secs(2), || {
                        self.lab.pids_named("node-a", "keepalived").is_empty()
                    });
                }
                self.a = nodes::start(&self.lab, Node::A, self.speaker, &self.va);
                if self.echo_a.is_none() {
                    self.echo_a = Some(EchoServer::start(&self.lab.ns("node-a"), "node-a"));
                }
            }
        }
        if !self.probe.wait_answered_by("node-a", patience) {
            return Err(format!("{}: A never took the VIP back", fault.name()));
        }
        std::thread::sleep(Duration::from_millis(50));
        let failback = probe::outage(&self.probe.samples(), back);
        // Settle: B back to backup, nothing in flight.
        std::thread::sleep(self.settle);
        Ok(Trial {
            outage,
            failback,
            vip_left_behind,
        })
    }

    fn signal_media_core(&self, signal: Signal) {
        let pid = match self.speaker {
            Speaker::Allerta => *self
                .lab
                .pids_named("node-a", MEDIACORE)
                .first()
                .expect("A's media core runs"),
            Speaker::Keepalived => {
                self.media_cores
                    .iter()
                    .find(|(n, _)| *n == Node::A)
                    .expect("A's media core")
                    .1
                    .pid as i32
            }
        };
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
    }

    fn kill_a(&self) {
        match self.speaker {
            Speaker::Allerta => self.lab.signal(&self.a, Signal::SIGKILL),
            Speaker::Keepalived => {
                for pid in self.lab.pids_named("node-a", "keepalived") {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
    }

    /// How often node B became master so far (false takeovers, in a soak).
    pub fn b_takeovers(&self) -> usize {
        self.b.count(self.speaker.master_line())
    }
}

fn pid_file(lab: &Lab, node: Node) -> std::path::PathBuf {
    lab.dir().join(format!("mediacore-{}.pid", node.role()))
}

/// Starts a media core on `node` outside any supervisor (for keepalived to watch) and
/// records its PID where the check script looks.
fn start_media_core(lab: &Lab, node: Node) -> Proc {
    let socket = lab.dir().join(format!("mediacore-{}.sock", node.role()));
    let socket = socket.to_string_lossy().into_owned();
    let bin = crate::prereq::workspace_bin("allerta-mediacore");
    let proc = lab.spawn(
        node.role(),
        &format!("mediacore-{}", node.role()),
        &bin,
        &["--control", &socket],
        &[],
    );
    std::fs::write(pid_file(lab, node), proc.pid.to_string()).expect("pid file");
    proc
}

/// min, median, max of some durations (None counts as zero: no probe lost).
pub fn summary(values: &[Option<Duration>]) -> Option<(f64, f64, f64)> {
    let mut ms: Vec<f64> = values
        .iter()
        .map(|v| v.unwrap_or_default().as_secs_f64() * 1000.0)
        .collect();
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    let median = if ms.len() % 2 == 1 {
        ms[ms.len() / 2]
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
    };
    Some((ms[0], median, ms[ms.len() - 1]))
}
