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
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "SIGKILL of the daemon",
            Self::LinkDown => "master's link down",
            Self::Graceful => "graceful stop",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kill" => Some(Self::Kill),
            "link" => Some(Self::LinkDown),
            "graceful" => Some(Self::Graceful),
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
}

impl Pair {
    /// Starts A (priority 200) then B (100) and waits until the client reaches A on the VIP.
    pub fn start(name: &str, speaker: Speaker, interval_ms: u64) -> Self {
        let lab = Lab::two_nodes(name);
        let (va, vb) = (
            Vrrp::for_node(Node::A, interval_ms),
            Vrrp::for_node(Node::B, interval_ms),
        );
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
        }
    }

    /// Bound on any single wait in a trial.
    fn patience(&self) -> Duration {
        Duration::from_secs(5) + 10 * Duration::from_millis(self.va.advert_interval_ms)
    }

    /// Injects `fault` on A, measures until B answers, restores A, measures the failback.
    pub fn trial(&mut self, fault: Fault) -> Result<Trial, String> {
        let patience = self.patience();
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
        }
        if !self.probe.wait_answered_by("node-b", patience) {
            return Err(format!("{}: B never answered on the VIP", fault.name()));
        }
        // Give the lost probes' successors time to come back before reading the outage.
        std::thread::sleep(Duration::from_millis(50));
        let outage = probe::outage(&self.probe.samples(), t);
        let vip_left_behind = fault == Fault::Kill && {
            // The guard (or nothing, for keepalived) acts within milliseconds.
            std::thread::sleep(Duration::from_millis(200));
            self.lab.holds_vip(Node::A)
        };

        // Restore A; it comes back as backup and preempts (priority 200 > 100).
        let back = Instant::now();
        match fault {
            Fault::LinkDown => self.lab.set_port(Node::A.data_port(), true),
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
