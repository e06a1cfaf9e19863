//! Pure: the VRRP virtual router state machine (RFC 9568 §6.4; RFC 3768 §6.4 for v2 timing),
//! with keepalived's additions: a Fault state, preempt delay, a second gratuitous-ARP burst and
//! "forcing a new election" when a lower-priority router claims mastership.
//!
//! The machine takes `now` and one [`Input`] and appends [`Action`]s for the driver to perform
//! in order. Its timers are deadlines read through [`VirtualRouter::next_deadline`].

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::packet::{Advert, Version};

/// What the machine needs to know about its instance; built from validated config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    pub version: Version,
    pub vrid: u8,
    /// Our priority, 1..=255; 255 means we own the addresses (RFC 9568 §6.1).
    pub priority: u8,
    /// Advertisement_Interval.
    pub adver_int: Duration,
    /// Preempt_Mode: take over from a lower-priority master.
    pub preempt: bool,
    /// After start-up or a cleared fault, keep deferring to a lower-priority master this long
    /// (keepalived's `preempt_delay`): time for this node to catch up before it preempts.
    pub preempt_delay: Duration,
    /// Our primary address on the interface: the tie-breaker between equal priorities.
    pub primary_ip: Ipv4Addr,
    /// The addresses we put in adverts.
    pub vips: Vec<Ipv4Addr>,
    /// A second gratuitous-ARP burst this long after becoming master (keepalived's
    /// `garp_master_delay`), for switches that missed the first; `None` for no second burst.
    pub garp_master_delay: Option<Duration>,
}

/// Where a planned handover ends, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Handover {
    to: State,
    reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// A tracked interface or component failed: no adverts, no addresses.
    Fault,
}

/// Why the state changed, for logs, history and the transition counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    /// Start-up, or a Fault cleared.
    Startup,
    /// Priority 255 at start-up: we own the addresses.
    AddressOwner,
    /// Master_Down_Timer expired: nothing heard from a master for Master_Down_Interval.
    MasterDown,
    /// The master sent priority 0 and Skew_Time passed.
    MasterLeft,
    /// We preempted a master of lower priority.
    Preempt,
    /// A router with a higher priority (or an equal one and a higher address) advertised.
    HigherPriority,
    Shutdown,
    Fault,
    /// An operator's planned switchover (`allertactl switchover`).
    Switchover,
    /// An operator's `allertactl promote`.
    Promoted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    Startup,
    Shutdown,
    Advert {
        src: Ipv4Addr,
        advert: Advert,
    },
    /// A deadline passed (or the driver just woke up); the machine checks which.
    Tick,
    /// A tracked condition failed: go to Fault, releasing the addresses at once.
    Fault,
    FaultCleared,
    /// The priority the tracked weights give (configured ± weights).
    SetPriority(u8),
    /// Planned switchover: a master hands over (priority 0) and, as a backup, does not
    /// preempt until promoted (or restarted); it still takes over if the master goes quiet.
    Yield,
    /// Become master now: advertise with priority 254 (unless an owner) until the next
    /// Yield, so a higher-priority peer steps down.
    Promote,
    /// A component asks a backup not to preempt a live master for now (an alert campaign
    /// runs there: taking the role back would cut every call in progress). It never
    /// delays a takeover from a master that is silent or leaving.
    HoldPreempt(bool),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    SendAdvert {
        priority: u8,
    },
    AddVips,
    RemoveVips,
    SendGratuitousArp,
    StateChanged {
        from: State,
        to: State,
        reason: Reason,
    },
}

/// Adverts the machine received and did not act on, by cause (the driver counts decode
/// failures itself).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    /// Another VRID on the same link: normal, not an error.
    pub other_vrid: u64,
    /// VRRPv2 requires the sender's interval to equal ours (RFC 3768 §7.1).
    pub interval_mismatch: u64,
    /// Lower priority while we are backup and preempt: we let Master_Down_Timer run.
    pub lower_priority: u64,
}

pub struct VirtualRouter {
    cfg: RouterConfig,
    state: State,
    /// Master_Adver_Interval: learned from the master's adverts (v3).
    master_adver_int: Duration,
    /// Adver_Timer in Master, Master_Down_Timer in Backup; no timer otherwise.
    deadline: Option<Instant>,
    /// The second gratuitous-ARP burst, in Master.
    garp_deadline: Option<Instant>,
    /// Before this instant a Backup does not preempt (preempt delay).
    preempt_after: Option<Instant>,
    /// When we last sent an advert: limits how often a master re-asserts itself.
    last_sent: Option<Instant>,
    /// Why Master_Down_Timer will have fired, for the transition's reason.
    down_reason: Reason,
    /// The priority in force: configured, adjusted by tracked weights, or raised by Promote.
    priority: u8,
    /// Priority from the tracked weights (what SetPriority said last).
    tracked_priority: u8,
    /// After a Yield: do not preempt.
    yielded: bool,
    /// A component holds preemption back (see [`Input::HoldPreempt`]).
    preempt_held: bool,
    /// After a Promote: advertise 254.
    promoted: bool,
    /// A planned handover in progress (shutdown or switchover): priority 0 is sent, the
    /// addresses stay until the new master is heard or `deadline` passes.
    handover: Option<Handover>,
    ignored: Ignored,
}

impl VirtualRouter {
    /// # Panics
    /// If the priority is 0: config validation allows 1..=255 only.
    pub fn new(cfg: RouterConfig) -> Self {
        assert!(cfg.priority > 0, "priority 0 is reserved for leaving");
        Self {
            master_adver_int: cfg.adver_int,
            state: State::Initialize,
            deadline: None,
            garp_deadline: None,
            preempt_after: None,
            last_sent: None,
            down_reason: Reason::MasterDown,
            priority: cfg.priority,
            tracked_priority: cfg.priority,
            yielded: false,
            preempt_held: false,
            promoted: false,
            handover: None,
            ignored: Ignored::default(),
            cfg,
        }
    }

    /// The priority in force (what adverts carry).
    pub fn priority(&self) -> u8 {
        self.priority
    }

    pub fn is_yielded(&self) -> bool {
        self.yielded
    }

    pub fn is_preempt_held(&self) -> bool {
        self.preempt_held
    }

    pub fn is_promoted(&self) -> bool {
        self.promoted
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn vrid(&self) -> u8 {
        self.cfg.vrid
    }

    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    pub fn ignored(&self) -> Ignored {
        self.ignored
    }

    /// Master_Adver_Interval as currently learned.
    pub fn master_adver_int(&self) -> Duration {
        self.master_adver_int
    }

    /// The earliest instant at which the machine wants a [`Input::Tick`].
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.deadline, self.garp_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The advert this router sends, at `priority` (0 when leaving).
    pub fn advert(&self, priority: u8) -> Advert {
        Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            adver_int_cs: (self.cfg.adver_int.as_millis() / 10) as u16,
            addrs: self.cfg.vips.clone(),
        }
    }

    /// Skew_Time: RFC 9568 §6.1 scales it by Master_Adver_Interval; RFC 3768 §6.1 does not.
    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u32::from(self.priority);
        match self.cfg.version {
            Version::V3 => self.master_adver_int * weight / 256,
            Version::V2 => Duration::from_secs(1) * weight / 256,
        }
    }

    /// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        3 * self.master_adver_int + self.skew_time()
    }

    /// Whether a planned handover is waiting for the new master.
    pub fn is_handing_over(&self) -> bool {
        self.handover.is_some()
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) {
        if let Input::HoldPreempt(held) = input {
            // A standing request, whatever the state (even during a handover).
            self.preempt_held = held;
            return;
        }
        let expired = self.deadline.is_some_and(|d| now >= d);
        if let Some(handover) = self.handover {
            // Make before break: the addresses go when the new master speaks (its gratuitous
            // ARPs move the traffic) or when waiting is pointless; nothing else happens.
            let new_master = matches!(&input, Input::Advert { advert, .. } if advert.priority > 0 && advert.vrid == self.cfg.vrid);
            let give_up = matches!(input, Input::Fault | Input::Shutdown)
                || (expired && matches!(input, Input::Tick));
            if new_master || give_up {
                self.finish_handover(now, handover, out);
            }
            return;
        }
        match (self.state, input) {
            (State::Initialize, Input::Startup) => self.start(now, out, Reason::Startup),
            (State::Fault, Input::FaultCleared) => self.start(now, out, Reason::Startup),
            (State::Backup, Input::Tick) if expired => {
                self.become_master(now, out, self.down_reason)
            }
            (State::Backup, Input::Advert { src, advert }) => self.backup_rx(now, src, advert),
            (State::Master, Input::Tick) => {
                if expired {
                    self.advertise(now, out);
                }
                if self.garp_deadline.is_some_and(|d| now >= d) {
                    self.garp_deadline = None;
                    out.push(Action::SendGratuitousArp);
                }
            }
            (State::Master, Input::Advert { src, advert }) => self.master_rx(now, src, advert, out),
            (State::Master, Input::Shutdown) => {
                self.start_handover(now, State::Initialize, Reason::Shutdown, out);
            }
            (State::Master, Input::Fault) => {
                self.release(out);
                self.enter(State::Fault, None, Reason::Fault, out);
            }
            (State::Backup | State::Fault, Input::Shutdown) => {
                self.enter(State::Initialize, None, Reason::Shutdown, out)
            }
            (State::Backup | State::Initialize, Input::Fault) => {
                self.enter(State::Fault, None, Reason::Fault, out)
            }
            (_, Input::SetPriority(p)) => {
                self.tracked_priority = p.max(1);
                self.update_priority();
            }
            (State::Master, Input::Yield) => {
                self.promoted = false;
                self.update_priority();
                self.yielded = true;
                self.start_handover(now, State::Backup, Reason::Switchover, out);
            }
            (State::Backup, Input::Yield) => {
                self.promoted = false;
                self.update_priority();
                self.yielded = true;
            }
            (State::Backup, Input::Promote) => {
                self.yielded = false;
                self.promoted = true;
                self.update_priority();
                self.become_master(now, out, Reason::Promoted);
            }
            (State::Master, Input::Promote) => {
                self.yielded = false;
                self.promoted = true;
                self.update_priority();
            }
            _ => {} // early Tick, adverts while Initialize/Fault, duplicate Startup
        }
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Action>, reason: Reason) {
        self.preempt_after = Some(now + self.cfg.preempt_delay);
        if self.priority == 255 {
            self.become_master(now, out, Reason::AddressOwner);
        } else {
            self.master_adver_int = self.cfg.adver_int;
            self.down_reason = Reason::MasterDown;
            let down = now + self.master_down_interval();
            self.enter(State::Backup, Some(down), reason, out);
        }
    }

    fn backup_rx(&mut self, now: Instant, _src: Ipv4Addr, advert: Advert) {
        if !self.accept(&advert) {
            return;
        }
        if advert.priority == 0 {
            // The master is leaving: the backup with the highest priority has the
            // shortest skew and takes over first (RFC 9568 §6.4.2).
            self.deadline = Some(now + self.skew_time());
            self.down_reason = Reason::MasterLeft;
            return;
        }
        let holding =
            self.preempt_after.is_some_and(|t| now < t) || self.yielded || self.preempt_held;
        if !self.cfg.preempt || holding || advert.priority >= self.priority {
            self.learn_interval(&advert);
            self.deadline = Some(now + self.master_down_interval());
            self.down_reason = Reason::MasterDown;
        } else {
            // We preempt: let Master_Down_Timer fire.
            self.ignored.lower_priority += 1;
            self.down_reason = Reason::Preempt;
        }
    }

    fn master_rx(&mut self, now: Instant, src: Ipv4Addr, advert: Advert, out: &mut Vec<Action>) {
        if !self.accept(&advert) {
            return;
        }
        if advert.priority == 0 {
            // A backup (or a second master) is leaving: re-assert at once.
            self.advertise(now, out);
        } else if advert.priority > self.priority
            || (advert.priority == self.priority && src > self.cfg.primary_ip)
        {
            self.learn_interval(&advert);
            out.push(Action::RemoveVips);
            self.garp_deadline = None;
            let down = now + self.master_down_interval();
            self.down_reason = Reason::MasterDown;
            self.enter(State::Backup, Some(down), Reason::HigherPriority, out);
        } else {
            // A lower-priority router believes it is master (we came back from a freeze, or
            // the link healed). RFC 9568 says discard; like keepalived we re-advertise and
            // re-announce the addresses, or hosts would keep its MAC in their ARP caches.
            // Its own gratuitous ARPs left as it became master, maybe just after our last
            // announcement (after a freeze it takes over in the very instant we come back):
            // so once more an interval later, when it has heard us and stopped
            // (keepalived's garp_lower_prio_delay).
            let again = now + self.cfg.adver_int;
            if self
                .last_sent
                .is_none_or(|t| now >= t + self.cfg.adver_int / 4)
            {
                // Once per quarter interval: after a freeze dozens of its adverts are queued.
                self.advertise(now, out);
                out.push(Action::SendGratuitousArp);
                self.garp_deadline = Some(again);
            } else {
                self.garp_deadline = Some(self.garp_deadline.map_or(again, |d| d.min(again)));
            }
        }
    }

    /// Checks that apply in every state; false means ignore the advert.
    fn accept(&mut self, advert: &Advert) -> bool {
        if advert.vrid != self.cfg.vrid {
            self.ignored.other_vrid += 1;
            return false;
        }
        let ours = (self.cfg.adver_int.as_millis() / 10) as u16;
        if self.cfg.version == Version::V2 && advert.adver_int_cs != ours {
            self.ignored.interval_mismatch += 1;
            return false;
        }
        true
    }

    fn learn_interval(&mut self, advert: &Advert) {
        if self.cfg.version == Version::V3 {
            self.master_adver_int = Duration::from_millis(u64::from(advert.adver_int_cs) * 10);
        }
    }

    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>, reason: Reason) {
        self.deadline = None;
        self.yielded = false;
        self.advertise(now, out);
        out.extend([Action::AddVips, Action::SendGratuitousArp]);
        self.garp_deadline = self.cfg.garp_master_delay.map(|d| now + d);
        let deadline = self.deadline;
        self.enter(State::Master, deadline, reason, out);
    }

    /// Sends an advert and re-arms Adver_Timer. On schedule, the next one keeps the grid so
    /// wake-up latency does not add up; sent early (re-asserting) or after a stall, the next
    /// one is due a whole interval from now.
    fn advertise(&mut self, now: Instant, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        let int = self.cfg.adver_int;
        let next = match self.deadline {
            Some(d) if d <= now && d + int > now => d + int,
            _ => now + int,
        };
        self.deadline = Some(next);
        self.last_sent = Some(now);
    }

    /// Sends priority 0 and keeps the addresses until the new master is heard, at most one
    /// advert interval and a margin (the longest Skew_Time of any backup, plus its wake-up),
    /// and never more than 2 s (a stop must not hang on a very long interval).
    fn start_handover(&mut self, now: Instant, to: State, reason: Reason, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert { priority: 0 });
        self.garp_deadline = None;
        let wait = self.cfg.adver_int.min(Duration::from_millis(1950)) + Duration::from_millis(50);
        self.deadline = Some(now + wait);
        self.handover = Some(Handover { to, reason });
    }

    fn finish_handover(&mut self, now: Instant, handover: Handover, out: &mut Vec<Action>) {
        self.handover = None;
        out.push(Action::RemoveVips);
        let deadline = (handover.to == State::Backup).then(|| {
            self.down_reason = Reason::MasterDown;
            now + self.master_down_interval()
        });
        self.enter(handover.to, deadline, handover.reason, out);
    }

    fn update_priority(&mut self) {
        self.priority = if self.cfg.priority == 255 {
            255
        } else if self.promoted {
            254
        } else {
            self.tracked_priority
        };
    }

    /// Leaving Master: tell the backups (priority 0) and drop the addresses.
    fn release(&mut self, out: &mut Vec<Action>) {
        out.extend([Action::SendAdvert { priority: 0 }, Action::RemoveVips]);
        self.garp_deadline = None;
    }

    fn enter(
        &mut self,
        to: State,
        deadline: Option<Instant>,
        reason: Reason,
        out: &mut Vec<Action>,
    ) {
        let from = self.state;
        self.state = to;
        self.deadline = deadline;
        if from != to {
            out.push(Action::StateChanged { from, to, reason });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 12);

    fn config(priority: u8) -> RouterConfig {
        RouterConfig {
            version: Version::V3,
            vrid: 51,
            priority,
            adver_int: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary_ip: ME,
            vips: vec![Ipv4Addr::new(10, 77, 0, 10)],
            garp_master_delay: Some(Duration::from_secs(5)),
        }
    }

    fn advert(priority: u8, adver_int_cs: u16) -> Input {
        Input::Advert {
            src: PEER,
            advert: Advert {
                version: Version::V3,
                vrid: 51,
                priority,
                adver_int_cs,
                addrs: vec![Ipv4Addr::new(10, 77, 0, 10)],
            },
        }
    }

    fn took_over(reason: Reason, priority: u8) -> Vec<Action> {
        vec![
            Action::SendAdvert { priority },
            Action::AddVips,
            Action::SendGratuitousArp,
            Action::StateChanged {
                from: State::Backup,
                to: State::Master,
                reason,
            },
        ]
    }

    #[test]
    fn backup_takes_over_when_master_goes_quiet() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(100)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        assert_eq!(
            out,
            [Action::StateChanged {
                from: State::Initialize,
                to: State::Backup,
                reason: Reason::Startup
            }]
        );
        let down = t0 + Duration::from_micros(3_609_375); // 3 × 1 s + Skew_Time (156/256 s)
        assert_eq!(vr.next_deadline(), Some(down));
        out.clear();
        vr.handle(down - Duration::from_millis(1), Input::Tick, &mut out);
        assert!(out.is_empty(), "fired early: {out:?}");
        vr.handle(down, Input::Tick, &mut out);
        assert_eq!(out, took_over(Reason::MasterDown, 100));
    }

    #[test]
    fn a_master_announces_again_after_a_lower_priority_router_claimed_the_addresses() {
        // A master (200) alone: it becomes master when nobody advertises.
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(200)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        let up = vr.next_deadline().unwrap();
        vr.handle(up, Input::Tick, &mut out);
        assert_eq!(vr.state(), State::Master);
        // Thawed, it sends an advert at t; the backup (100) took over in that instant and
        // its advert (after its gratuitous ARPs) arrives 20 ms later: too soon to answer
        // at once (the quarter-interval limit), so no burst now ...
        let t = up + Duration::from_secs(1);
        vr.handle(t, Input::Tick, &mut out);
        out.clear();
        let heard = t + Duration::from_millis(20);
        vr.handle(heard, advert(100, 100), &mut out);
        assert!(out.is_empty(), "{out:?}");
        // ... but one interval later the addresses are announced again, so hosts that took
        // the backup's MAC come back.
        let again = heard + Duration::from_secs(1);
        vr.handle(again - Duration::from_millis(1), Input::Tick, &mut out);
        assert!(!out.contains(&Action::SendGratuitousArp), "{out:?}");
        vr.handle(again, Input::Tick, &mut out);
        assert!(out.contains(&Action::SendGratuitousArp), "{out:?}");
    }

    #[test]
    fn adverts_from_a_higher_priority_master_keep_the_backup_quiet() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(100)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        for s in 1..10 {
            vr.handle(t0 + Duration::from_secs(s), advert(200, 100), &mut out);
            vr.handle(
                t0 + Duration::from_secs(s) + Duration::from_millis(999),
                Input::Tick,
                &mut out,
            );
        }
        assert_eq!(vr.state(), State::Backup);
        assert_eq!(out.len(), 1, "only the start-up transition: {out:?}");
    }

    #[test]
    fn backup_learns_the_masters_interval_in_v3() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(100)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        vr.handle(t0, advert(200, 10), &mut out); // master advertises every 100 ms
        assert_eq!(vr.master_adver_int(), Duration::from_millis(100));
        // 3 × 100 ms + 156/256 × 100 ms
        assert_eq!(
            vr.next_deadline(),
            Some(t0 + Duration::from_nanos(360_937_500))
        );
    }

    #[test]
    fn priority_zero_advert_makes_backup_take_over_after_skew_time() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(250)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        vr.handle(t0, advert(254, 2), &mut out); // 20 ms interval, learned
        out.clear();
        let t1 = t0 + Duration::from_millis(10);
        vr.handle(t1, advert(0, 2), &mut out);
        let skew = Duration::from_millis(20) * 6 / 256;
        assert_eq!(vr.next_deadline(), Some(t1 + skew));
        vr.handle(t1 + skew, Input::Tick, &mut out);
        assert_eq!(out, took_over(Reason::MasterLeft, 250));
    }

    #[test]
    fn master_advertises_on_an_absolute_schedule() {
        let t0 = Instant::now();
        let mut cfg = config(255);
        cfg.garp_master_delay = None;
        let (mut vr, mut out) = (VirtualRouter::new(cfg), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        assert_eq!(
            out[3],
            Action::StateChanged {
                from: State::Initialize,
                to: State::Master,
                reason: Reason::AddressOwner
            }
        );
        // Woken 3 ms late: the next deadline stays on the 1 s grid.
        out.clear();
        vr.handle(t0 + Duration::from_millis(1003), Input::Tick, &mut out);
        assert_eq!(out, [Action::SendAdvert { priority: 255 }]);
        assert_eq!(vr.next_deadline(), Some(t0 + Duration::from_secs(2)));
        // Stalled for 5 s: restart from now rather than sending a burst.
        vr.handle(t0 + Duration::from_secs(7), Input::Tick, &mut out);
        assert_eq!(vr.next_deadline(), Some(t0 + Duration::from_secs(8)));
    }

    #[test]
    fn master_sends_second_garp_burst_after_the_delay() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(255)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        out.clear();
        for s in 1..=5 {
            vr.handle(t0 + Duration::from_secs(s), Input::Tick, &mut out);
        }
        assert_eq!(
            out.iter()
                .filter(|a| **a == Action::SendGratuitousArp)
                .count(),
            1
        );
        assert_eq!(out.last(), Some(&Action::SendGratuitousArp));
    }

    #[test]
    fn master_yields_to_higher_priority_and_to_equal_priority_with_higher_address() {
        for (priority, yields) in [(101, true), (100, true), (99, false)] {
            let t0 = Instant::now();
            let mut cfg = config(100);
            cfg.priority = 100;
            let (mut vr, mut out) = (VirtualRouter::new(cfg), Vec::new());
            vr.handle(t0, Input::Startup, &mut out);
            vr.handle(t0 + Duration::from_secs(4), Input::Tick, &mut out);
            assert_eq!(vr.state(), State::Master);
            out.clear();
            vr.handle(t0 + Duration::from_secs(5), advert(priority, 100), &mut out);
            if yields {
                assert_eq!(
                    out,
                    [
                        Action::RemoveVips,
                        Action::StateChanged {
                            from: State::Master,
                            to: State::Backup,
                            reason: Reason::HigherPriority
                        }
                    ]
                );
            } else {
                // PEER (.12) > ME (.11) only matters at equal priority; 99 forces an election.
                assert_eq!(
                    out,
                    [
                        Action::SendAdvert { priority: 100 },
                        Action::SendGratuitousArp
                    ]
                );
            }
        }
    }

    #[test]
    fn master_back_from_a_freeze_reasserts_once_and_keeps_advertising() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(255)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        // Thawed after 2 s: twenty adverts of the backup that took over are queued.
        let thaw = t0 + Duration::from_secs(2);
        out.clear();
        for _ in 0..20 {
            vr.handle(thaw, advert(100, 100), &mut out);
        }
        assert_eq!(
            out,
            [
                Action::SendAdvert { priority: 255 },
                Action::SendGratuitousArp
            ]
        );
        assert_eq!(vr.next_deadline(), Some(thaw + Duration::from_secs(1)));
    }

    #[test]
    fn shutdown_of_master_keeps_the_addresses_until_the_new_master_speaks() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(200)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        vr.handle(t0 + Duration::from_secs(4), Input::Tick, &mut out);
        let t = t0 + Duration::from_secs(5);
        out.clear();
        vr.handle(t, Input::Shutdown, &mut out);
        assert_eq!(
            out,
            [Action::SendAdvert { priority: 0 }],
            "make before break"
        );
        assert!(vr.is_handing_over());
        out.clear();
        vr.handle(t + Duration::from_millis(5), advert(0, 100), &mut out);
        vr.handle(t + Duration::from_millis(6), Input::Tick, &mut out);
        assert!(out.is_empty(), "nothing until the new master: {out:?}");
        vr.handle(t + Duration::from_millis(7), advert(100, 100), &mut out);
        assert_eq!(
            out,
            [
                Action::RemoveVips,
                Action::StateChanged {
                    from: State::Master,
                    to: State::Initialize,
                    reason: Reason::Shutdown
                }
            ]
        );
        assert!(!vr.is_handing_over());
    }

    #[test]
    fn a_handover_nobody_answers_ends_after_one_interval() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(255)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        out.clear();
        vr.handle(t0, Input::Shutdown, &mut out);
        assert_eq!(vr.next_deadline(), Some(t0 + Duration::from_millis(1050)));
        vr.handle(t0 + Duration::from_millis(1050), Input::Tick, &mut out);
        assert_eq!(
            out,
            [
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
                Action::StateChanged {
                    from: State::Master,
                    to: State::Initialize,
                    reason: Reason::Shutdown
                }
            ]
        );
        assert_eq!(vr.next_deadline(), None);
    }

    #[test]
    fn nopreempt_backup_never_takes_over_from_a_live_lower_priority_master() {
        let t0 = Instant::now();
        let mut cfg = config(200);
        cfg.preempt = false;
        let (mut vr, mut out) = (VirtualRouter::new(cfg), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        for ms in (100..20_000).step_by(1000) {
            vr.handle(t0 + Duration::from_millis(ms), advert(100, 100), &mut out);
            vr.handle(t0 + Duration::from_millis(ms + 999), Input::Tick, &mut out);
        }
        assert_eq!(vr.state(), State::Backup);
    }

    #[test]
    fn a_held_backup_does_not_preempt_but_still_takes_over_from_a_silent_master() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(200)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        vr.handle(t0, Input::HoldPreempt(true), &mut out);
        let mut t = t0;
        for ms in (100..10_000).step_by(1000) {
            t = t0 + Duration::from_millis(ms);
            vr.handle(t, advert(100, 100), &mut out);
            vr.handle(t + Duration::from_millis(999), Input::Tick, &mut out);
        }
        assert_eq!(vr.state(), State::Backup, "held: no preempt");
        // Released: the next lower-priority advert is ignored and Master_Down_Timer fires.
        vr.handle(
            t + Duration::from_millis(1000),
            Input::HoldPreempt(false),
            &mut out,
        );
        vr.handle(t + Duration::from_millis(1000), advert(100, 100), &mut out);
        vr.handle(t + Duration::from_secs(5), Input::Tick, &mut out);
        assert_eq!(vr.state(), State::Master);

        // Held, and the master goes quiet: we take over all the same.
        let (mut vr, mut out) = (VirtualRouter::new(config(200)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        vr.handle(t0, Input::HoldPreempt(true), &mut out);
        vr.handle(t0 + Duration::from_millis(100), advert(100, 100), &mut out);
        vr.handle(t0 + Duration::from_secs(5), Input::Tick, &mut out);
        assert_eq!(vr.state(), State::Master);
    }

    #[test]
    fn preempt_delay_defers_to_a_lower_priority_master_for_a_while() {
        let t0 = Instant::now();
        let mut cfg = config(200);
        cfg.preempt_delay = Duration::from_secs(10);
        let (mut vr, mut out) = (VirtualRouter::new(cfg), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        let mut took_over_at = None;
        for ms in (500..20_000).step_by(1000) {
            let t = t0 + Duration::from_millis(ms);
            vr.handle(t, advert(100, 100), &mut out);
            vr.handle(t + Duration::from_millis(999), Input::Tick, &mut out);
            if vr.state() == State::Master && took_over_at.is_none() {
                took_over_at = Some(ms);
            }
        }
        let at = took_over_at.expect("takes over once the delay is over");
        assert!((10_000..14_000).contains(&at), "took over at {at} ms");
    }

    #[test]
    fn fault_on_master_releases_at_once_and_clearing_it_restarts_as_backup() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(200)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        vr.handle(t0 + Duration::from_secs(4), Input::Tick, &mut out);
        out.clear();
        vr.handle(t0 + Duration::from_secs(5), Input::Fault, &mut out);
        assert_eq!(
            out,
            [
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
                Action::StateChanged {
                    from: State::Master,
                    to: State::Fault,
                    reason: Reason::Fault
                }
            ]
        );
        assert_eq!(vr.next_deadline(), None);
        out.clear();
        vr.handle(t0 + Duration::from_secs(6), advert(100, 100), &mut out);
        assert!(out.is_empty(), "a faulty router ignores adverts");
        vr.handle(t0 + Duration::from_secs(7), Input::FaultCleared, &mut out);
        assert_eq!(vr.state(), State::Backup);
    }

    #[test]
    fn v2_ignores_adverts_with_another_interval_and_uses_unscaled_skew() {
        let t0 = Instant::now();
        let mut cfg = config(100);
        cfg.version = Version::V2;
        let (mut vr, mut out) = (VirtualRouter::new(cfg), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        let mut a = advert(200, 200);
        if let Input::Advert { advert, .. } = &mut a {
            advert.version = Version::V2;
        }
        vr.handle(t0, a, &mut out);
        assert_eq!(vr.ignored().interval_mismatch, 1);
        assert_eq!(vr.skew_time(), Duration::from_micros(609_375));
    }

    fn master_at(priority: u8) -> (VirtualRouter, Instant) {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(priority)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        vr.handle(t0 + Duration::from_secs(4), Input::Tick, &mut out);
        assert_eq!(vr.state(), State::Master);
        (vr, t0 + Duration::from_secs(4))
    }

    #[test]
    fn switchover_hands_over_and_the_yielded_node_does_not_preempt_back() {
        let (mut vr, t) = master_at(200);
        let mut out = Vec::new();
        vr.handle(t, Input::Yield, &mut out);
        assert_eq!(out, [Action::SendAdvert { priority: 0 }]);
        // The peer takes over after its Skew_Time and advertises: now the VIP goes.
        vr.handle(t + Duration::from_millis(3), advert(100, 100), &mut out);
        assert_eq!(
            out,
            [
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
                Action::StateChanged {
                    from: State::Master,
                    to: State::Backup,
                    reason: Reason::Switchover
                }
            ]
        );
        out.clear();
        // The peer (priority 100) is master now; we would preempt it, but we yielded.
        for ms in (100..5000).step_by(1000) {
            vr.handle(t + Duration::from_millis(ms), advert(100, 100), &mut out);
            vr.handle(t + Duration::from_millis(ms + 999), Input::Tick, &mut out);
        }
        assert_eq!(vr.state(), State::Backup, "{out:?}");
        // If the peer then goes quiet, we take over as usual.
        vr.handle(t + Duration::from_secs(10), Input::Tick, &mut out);
        assert_eq!(vr.state(), State::Master);
    }

    #[test]
    fn promote_takes_the_role_with_priority_254_until_the_next_yield() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(100)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        vr.handle(t0, advert(200, 100), &mut out);
        out.clear();
        vr.handle(t0 + Duration::from_millis(10), Input::Promote, &mut out);
        assert_eq!(out[0], Action::SendAdvert { priority: 254 });
        assert_eq!(vr.state(), State::Master);
        out.clear();
        // The 200 peer hears 254 and steps down; its adverts no longer beat ours.
        vr.handle(t0 + Duration::from_millis(20), advert(200, 100), &mut out);
        assert_eq!(vr.state(), State::Master);
        vr.handle(t0 + Duration::from_millis(30), Input::Yield, &mut out);
        assert_eq!(vr.priority(), 100);
    }

    #[test]
    fn tracked_weights_change_the_advertised_priority_and_skew() {
        let (mut vr, t) = master_at(200);
        let mut out = Vec::new();
        vr.handle(t, Input::SetPriority(140), &mut out);
        assert!(out.is_empty());
        vr.handle(t + Duration::from_secs(1), Input::Tick, &mut out);
        assert_eq!(out, [Action::SendAdvert { priority: 140 }]);
        // A peer at 150 now wins.
        out.clear();
        vr.handle(t + Duration::from_millis(1100), advert(150, 100), &mut out);
        assert_eq!(vr.state(), State::Backup);
    }

    #[test]
    fn other_vrids_are_ignored() {
        let t0 = Instant::now();
        let (mut vr, mut out) = (VirtualRouter::new(config(100)), Vec::new());
        vr.handle(t0, Input::Startup, &mut out);
        let deadline = vr.next_deadline();
        let mut a = advert(200, 100);
        if let Input::Advert { advert, .. } = &mut a {
            advert.vrid = 52;
        }
        vr.handle(t0 + Duration::from_secs(1), a, &mut out);
        assert_eq!(vr.next_deadline(), deadline);
        assert_eq!(vr.ignored().other_vrid, 1);
    }
}
