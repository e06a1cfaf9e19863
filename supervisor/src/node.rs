//! Pure: the node's policy. What the components, the checks, the operator and the VRRP
//! instances report goes in (with `now`); what the instances must be told comes out as
//! [`Order`]s, which the driver (`supervise.rs`) sends. Nothing here runs a process, opens
//! a socket or reads the clock, so every rule is tested with scenarios below.
//!
//! The rules:
//! - every component and check is tracked with keepalived's semantics (`health::state`):
//!   a check down with weight 0 faults the node; other weights move its priority;
//! - a component that exits is down at once, and the checks it reported go with it;
//! - a component's status may report checks of its own (`"checks": {name: {ok, reason}}`,
//!   tracked as `<component>/<name>` with its `reported_weight`) and may hold preemption
//!   back (`"hold_preempt": "<why>"`: a campaign runs on the master);
//! - maintenance faults the node until the operator turns it off;
//! - the latest change is remembered for 10 s as the cause of the next transition;
//! - a switchover needs this node to be master; a promote needs it to be out of maintenance,
//!   not in fault and running.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::control::protocol::CheckStatus;
use crate::health::state::{self, Check, Tracking};
use crate::vrrp::machine::{Input, State};

/// How long a change still counts as the cause of the next transition.
const CAUSE_WINDOW: Duration = Duration::from_secs(10);

/// The longest drain an operator may ask for.
pub const MAX_DRAIN_SECS: u32 = 600;

/// What to tell the VRRP instances: `instance` is an index into `Config::instances`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub instance: usize,
    pub input: Input,
}

#[derive(Debug)]
pub struct Node {
    /// Each instance's configured priority, in config order.
    priorities: Vec<u8>,
    /// Components first (in config order), then the periodic checks, then the checks the
    /// components report.
    checks: Vec<Check>,
    pids: Vec<Option<u32>>,
    /// What each running component said it is (`version`: "0.2.0, contract 2"), by name.
    versions: std::collections::BTreeMap<String, String>,
    components: usize,
    /// Each component's `reported_weight`, by name.
    reported_weights: Vec<(String, i32)>,
    component_status: serde_json::Map<String, serde_json::Value>,
    maintenance: bool,
    /// Why a component holds preemption back, if one does.
    preempt_hold: Option<String>,
    /// Whether the instances were last told Fault.
    faulted: bool,
    /// The latest health change (what happened, when), for the next transition's cause.
    last_cause: Option<(String, Instant)>,
}

/// Why the node refuses an operator's switchover or promote (`allertactl` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this node is not master: nothing to hand over")]
    NotMaster,
    #[error("--drain is at most {MAX_DRAIN_SECS} seconds")]
    DrainTooLong,
    #[error("no longer master when the drain ended; nothing handed over")]
    NoLongerMaster,
    #[error("in maintenance: run `allertactl maintenance off` first")]
    Maintenance,
    #[error("this node is in fault (a component, a check or its link) and cannot be master")]
    Fault,
    #[error("this node's VRRP instance is not running")]
    NotRunning,
}

impl Node {
    /// The node as configured; `maintenance` as it was left before a restart.
    pub fn new(config: &Config, maintenance: bool) -> Self {
        let mut checks = Vec::new();
        for c in &config.components {
            checks.push(Check::new(c.component.name.clone(), c.tracking));
        }
        for c in &config.checks {
            checks.push(Check::new(c.name.clone(), c.tracking));
        }
        Self {
            priorities: config.instances.iter().map(|i| i.priority).collect(),
            pids: vec![None; checks.len()],
            versions: Default::default(),
            checks,
            components: config.components.len(),
            reported_weights: config
                .components
                .iter()
                .map(|c| (c.component.name.clone(), c.reported_weight))
                .collect(),
            component_status: Default::default(),
            maintenance,
            preempt_hold: None,
            faulted: false,
            last_cause: None,
        }
    }

    pub fn maintenance(&self) -> bool {
        self.maintenance
    }

    pub fn component_status(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.component_status
    }

    /// What a change `now` is explained by, and how long ago it happened (ms), if within
    /// the window.
    pub fn cause(&self, now: Instant) -> Option<(String, f64)> {
        let (what, at) = self.last_cause.as_ref()?;
        let ago = now.saturating_duration_since(*at);
        (ago < CAUSE_WINDOW).then(|| (what.clone(), ago.as_secs_f64() * 1000.0))
    }

    /// What a running component said it is (its answer to the contract's `version`).
    pub fn version_reported(&mut self, name: &str, version: String) {
        self.versions.insert(name.to_owned(), version);
    }

    /// A component's process started.
    pub fn started(&mut self, name: &str, pid: u32) {
        if let Some(i) = self.index(name) {
            self.pids[i] = Some(pid);
        }
    }

    /// A component's process exited (or could not start): down at once, and what it
    /// reported no longer holds.
    pub fn exited(&mut self, now: Instant, name: &str, reason: String) -> Vec<Order> {
        if let Some(i) = self.index(name) {
            self.pids[i] = None;
        }
        self.versions.remove(name);
        self.component_status.remove(name);
        let mut orders = self.update_preempt_hold();
        orders.extend(self.forget_reported_checks(name, &[]));
        orders.extend(self.health(now, name, Err(reason), true));
        orders
    }

    /// One probe of a component or one run of a check.
    pub fn probed(&mut self, now: Instant, name: &str, result: Result<(), String>) -> Vec<Order> {
        self.health(now, name, result, false)
    }

    /// A component's status: kept for `allertactl status`, its checks tracked, its hold
    /// on preemption applied.
    pub fn status_reported(
        &mut self,
        now: Instant,
        component: String,
        status: serde_json::Value,
    ) -> Vec<Order> {
        let reported = status.get("checks").and_then(|c| c.as_object());
        let names: Vec<String> = reported
            .map(|m| m.keys().map(|k| format!("{component}/{k}")).collect())
            .unwrap_or_default();
        let mut orders = self.forget_reported_checks(&component, &names);
        if let Some(reported) = reported {
            let weight = self
                .reported_weights
                .iter()
                .find(|(name, _)| *name == component)
                .map_or(0, |(_, w)| *w);
            for (check, value) in reported {
                let name = format!("{component}/{check}");
                if self.index(&name).is_none() {
                    let tracking = Tracking {
                        rise: 1,
                        fall: 1,
                        weight,
                    };
                    self.checks.push(Check::new(name.clone(), tracking));
                    self.pids.push(None);
                }
                let ok = value.get("ok").and_then(|v| v.as_bool()).unwrap_or(false);
                let reason = value
                    .get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("reported not ok");
                let result = if ok { Ok(()) } else { Err(reason.to_string()) };
                orders.extend(self.health(now, &name, result, false));
            }
        }
        self.component_status.insert(component, status);
        orders.extend(self.update_preempt_hold());
        orders
    }

    /// The operator turned maintenance on or off (the driver has recorded it on disk).
    pub fn set_maintenance(&mut self, now: Instant, on: bool) -> Vec<Order> {
        self.maintenance = on;
        let what = format!("maintenance {}", if on { "on" } else { "off" });
        self.last_cause = Some((what, now));
        self.decide()
    }

    /// Why a switchover cannot start, if it cannot (`first` is the first instance's state).
    pub fn switchover_refusal(first: Option<State>, drain_secs: u32) -> Option<Refusal> {
        if first != Some(State::Master) {
            return Some(Refusal::NotMaster);
        }
        if drain_secs > MAX_DRAIN_SECS {
            return Some(Refusal::DrainTooLong);
        }
        None
    }

    /// The drains are done: hand the role over, unless this node stopped being master
    /// meanwhile.
    pub fn switch_over(
        &mut self,
        now: Instant,
        first: Option<State>,
    ) -> Result<Vec<Order>, Refusal> {
        if first != Some(State::Master) {
            return Err(Refusal::NoLongerMaster);
        }
        self.last_cause = Some(("operator: switchover".into(), now));
        Ok(self.to_all(Input::Yield))
    }

    /// Why this node cannot be promoted now, if it cannot.
    pub fn promote_refusal(&self, first: Option<State>) -> Option<Refusal> {
        if self.maintenance {
            return Some(Refusal::Maintenance);
        }
        match first {
            Some(State::Fault) => Some(Refusal::Fault),
            Some(State::Initialize) | None => Some(Refusal::NotRunning),
            _ => None,
        }
    }

    /// The peer check is done: take the role, unless something changed meanwhile.
    pub fn promote(&mut self, now: Instant, first: Option<State>) -> Result<Vec<Order>, Refusal> {
        if let Some(refusal) = self.promote_refusal(first) {
            return Err(refusal);
        }
        self.last_cause = Some(("operator: promote".into(), now));
        Ok(self.to_all(Input::Promote))
    }

    /// Tells every instance what the checks and maintenance mode ask of it: its priority,
    /// and Fault or FaultCleared when that changes.
    pub fn decide(&mut self) -> Vec<Order> {
        let mut orders = Vec::new();
        let mut fault_reasons = Vec::new();
        for (instance, &priority) in self.priorities.iter().enumerate() {
            let verdict = state::verdict(priority, &self.checks);
            orders.push(Order {
                instance,
                input: Input::SetPriority(verdict.priority),
            });
            fault_reasons = verdict.faults;
        }
        if self.maintenance {
            fault_reasons.push("maintenance".into());
        }
        let fault = !fault_reasons.is_empty();
        if fault != self.faulted {
            self.faulted = fault;
            if fault {
                tracing::warn!(reasons = ?fault_reasons, "node in fault");
                orders.extend(self.to_all(Input::Fault));
            } else {
                tracing::info!("fault cleared");
                orders.extend(self.to_all(Input::FaultCleared));
            }
        }
        orders
    }

    /// The components' and the checks' state for `allertactl status`.
    pub fn check_statuses(&self) -> (Vec<CheckStatus>, Vec<CheckStatus>) {
        let mut all: Vec<CheckStatus> = self
            .checks
            .iter()
            .zip(&self.pids)
            .map(|(c, pid)| CheckStatus {
                name: c.name.clone(),
                up: c.is_up,
                weight: c.tracking.weight,
                downs: c.downs,
                last_error: c.last_error.clone(),
                pid: *pid,
                version: self.versions.get(&c.name).cloned(),
            })
            .collect();
        let checks = all.split_off(self.components);
        (all, checks)
    }

    /// What faults the node, as the operator reads it: checks down with weight 0 and
    /// maintenance; else `link_faults` (instances in Fault for their link).
    pub fn faults(&self, link_faults: Vec<String>) -> Vec<String> {
        let mut faults: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.is_up && c.tracking.weight == 0)
            .map(|c| c.name.clone())
            .collect();
        if self.maintenance {
            faults.push("maintenance".into());
        }
        if faults.is_empty() {
            link_faults
        } else {
            faults
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.checks.iter().position(|c| c.name == name)
    }

    fn to_all(&self, input: Input) -> Vec<Order> {
        (0..self.priorities.len())
            .map(|instance| Order {
                instance,
                input: input.clone(),
            })
            .collect()
    }

    /// Records a result for check `name` and, if it changed state, re-decides.
    fn health(
        &mut self,
        now: Instant,
        name: &str,
        result: Result<(), String>,
        at_once: bool,
    ) -> Vec<Order> {
        let Some(check) = self.checks.iter_mut().find(|c| c.name == name) else {
            return Vec::new();
        };
        let changed = match (&result, at_once) {
            (Err(reason), true) => check.fail_now(now, reason.clone()),
            _ => check.record(now, result),
        };
        if !changed {
            return Vec::new();
        }
        let what = if check.is_up {
            tracing::info!(check = %name, "check up");
            "up".to_string()
        } else {
            let reason = check.last_error.clone().unwrap_or_default();
            tracing::warn!(check = %name, %reason, "check down");
            reason
        };
        self.last_cause = Some((format!("{name}: {what}"), now));
        self.decide()
    }

    /// Drops the checks `component` reported that are not in `keep`.
    fn forget_reported_checks(&mut self, component: &str, keep: &[String]) -> Vec<Order> {
        let prefix = format!("{component}/");
        let before = self.checks.len();
        let mut i = 0;
        while i < self.checks.len() {
            let name = &self.checks[i].name;
            if name.starts_with(&prefix) && !keep.contains(name) {
                self.checks.remove(i);
                self.pids.remove(i);
            } else {
                i += 1;
            }
        }
        if self.checks.len() == before {
            return Vec::new();
        }
        self.decide()
    }

    /// A component's status may say `"hold_preempt": "<why>"`: the media core does while a
    /// campaign runs on the master, so that a returning node takes its role back after
    /// the campaign, not in the middle of it (every call in progress would be cut).
    fn update_preempt_hold(&mut self) -> Vec<Order> {
        let hold = self.component_status.iter().find_map(|(name, st)| {
            st.get("hold_preempt")
                .and_then(|h| h.as_str())
                .map(|why| format!("{name}: {why}"))
        });
        if hold == self.preempt_hold {
            return Vec::new();
        }
        match &hold {
            Some(why) => tracing::info!(reason = %why, "preemption held back"),
            None => tracing::info!("preemption no longer held back"),
        }
        let orders = self.to_all(Input::HoldPreempt(hold.is_some()));
        self.preempt_hold = hold;
        orders
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    /// Two components (the media core faults the node after 3 missed probes and is back
    /// after 2; the sync agent lowers the priority by 20, its reported checks by 30), one
    /// disk check (lowers it by 50 after 2 failures), one instance at priority 250.
    fn node() -> Node {
        let text = r#"
[node]
name = "a"
[[vrrp_instance]]
name = "data"
interface = "eth0"
vrid = 51
priority = 250
virtual_ips = ["192.0.2.10/24"]
[[component]]
name = "mediacore"
command = "/usr/bin/allerta-mediacore"
control_socket = "/run/allerta/mediacore.sock"
fall = 3
rise = 2
[[component]]
name = "sync"
command = "/usr/bin/allerta-sync"
control_socket = "/run/allerta/sync.sock"
fall = 1
rise = 1
weight = -20
reported_weight = -30
[[check]]
name = "disk"
disk_path = "/var/lib/allerta"
min_free_mb = 100
fall = 2
rise = 1
weight = -50
"#;
        let config = crate::config::parse(Path::new("node.toml"), text).unwrap();
        Node::new(&config, false)
    }

    fn priority(p: u8) -> Order {
        Order {
            instance: 0,
            input: Input::SetPriority(p),
        }
    }

    fn all(input: Input) -> Order {
        Order { instance: 0, input }
    }

    fn t(ms: u64) -> Instant {
        // A fixed origin: scenarios are about the order of events and the gaps between them.
        thread_local!(static ORIGIN: Instant = Instant::now());
        ORIGIN.with(|o| *o + Duration::from_millis(ms))
    }

    #[test]
    fn a_component_that_exits_faults_the_node_at_once_and_a_probe_brings_it_back() {
        let mut n = node();
        assert_eq!(n.decide(), [priority(250)]);
        n.started("mediacore", 41);
        let orders = n.exited(t(0), "mediacore", "exited with status 1".into());
        assert_eq!(orders, [priority(250), all(Input::Fault)]);
        assert_eq!(
            n.cause(t(500)),
            Some(("mediacore: exited with status 1".into(), 500.0))
        );
        assert_eq!(n.faults(vec![]), ["mediacore"]);
        let (components, _) = n.check_statuses();
        assert_eq!((components[0].up, components[0].pid), (false, None));
        // The restarted process answers two probes (rise 2).
        n.started("mediacore", 42);
        let mut orders = n.probed(t(1000), "mediacore", Ok(()));
        orders.extend(n.probed(t(2000), "mediacore", Ok(())));
        assert_eq!(orders, [priority(250), all(Input::FaultCleared)]);
        assert_eq!(n.cause(t(2000)), Some(("mediacore: up".into(), 0.0)));
        assert_eq!(n.cause(t(12_001)), None, "a cause counts for 10 s");
    }

    #[test]
    fn a_hung_component_goes_down_after_its_fall_count_of_missed_probes() {
        let mut n = node();
        n.decide();
        let hung = || Err("no answer in 100 ms".to_string());
        let mut orders = Vec::new();
        for i in 0..3 {
            orders.extend(n.probed(t(i * 100), "mediacore", hung()));
        }
        assert_eq!(orders, [priority(250), all(Input::Fault)]);
    }

    #[test]
    fn weights_move_the_priority_and_only_weight_zero_faults() {
        let mut n = node();
        n.decide();
        let down = || Err("full".to_string());
        assert_eq!(n.probed(t(0), "disk", down()), []);
        assert_eq!(n.probed(t(1), "disk", down()), [priority(200)]);
        assert_eq!(
            n.exited(t(2), "sync", "killed".into()),
            [priority(180)],
            "the sync agent lowers the priority by 20, no fault"
        );
        assert_eq!(n.faults(vec!["link".into()]), ["link"]);
    }

    #[test]
    fn reported_checks_are_tracked_with_the_components_weight_and_dropped_with_it() {
        let mut n = node();
        n.decide();
        let status =
            json!({"role": "master", "checks": {"trunk-out": {"ok": false, "reason": "401"}}});
        assert_eq!(
            n.status_reported(t(0), "sync".into(), status),
            [priority(220)]
        );
        let (_, checks) = n.check_statuses();
        assert_eq!(checks.last().unwrap().name, "sync/trunk-out");
        assert_eq!(n.cause(t(0)), Some(("sync/trunk-out: 401".into(), 0.0)));
        // A status without it drops it; so does the component's exit.
        let orders = n.status_reported(t(1), "sync".into(), json!({"role": "master"}));
        assert_eq!(orders, [priority(250)]);
        n.status_reported(
            t(2),
            "sync".into(),
            json!({"checks": {"fresh": {"ok": false}}}),
        );
        let orders = n.exited(t(3), "sync", "killed".into());
        assert_eq!(orders, [priority(250), priority(230)]);
        assert_eq!(n.check_statuses().1.len(), 1, "only the disk check is left");
    }

    #[test]
    fn a_campaign_holds_preemption_until_it_ends_or_its_component_dies() {
        let mut n = node();
        let held = json!({"hold_preempt": "campaign 7 running"});
        assert_eq!(
            n.status_reported(t(0), "mediacore".into(), held.clone()),
            [all(Input::HoldPreempt(true))]
        );
        assert_eq!(n.status_reported(t(1), "mediacore".into(), held), []);
        assert_eq!(
            n.status_reported(t(2), "mediacore".into(), json!({})),
            [all(Input::HoldPreempt(false))]
        );
        n.status_reported(t(3), "mediacore".into(), json!({"hold_preempt": "x"}));
        let orders = n.exited(t(4), "mediacore", "killed".into());
        assert_eq!(orders[0], all(Input::HoldPreempt(false)));
    }

    #[test]
    fn maintenance_faults_the_node_and_refuses_a_promote_until_off() {
        let mut n = node();
        n.decide();
        assert_eq!(
            n.set_maintenance(t(0), true),
            [priority(250), all(Input::Fault)]
        );
        assert_eq!(n.faults(vec![]), ["maintenance"]);
        assert_eq!(
            n.promote_refusal(Some(State::Backup)),
            Some(Refusal::Maintenance)
        );
        assert!(Refusal::Maintenance.to_string().contains("maintenance off"));
        assert_eq!(
            n.set_maintenance(t(1), false),
            [priority(250), all(Input::FaultCleared)]
        );
        assert_eq!(n.cause(t(1)), Some(("maintenance off".into(), 0.0)));
        assert_eq!(
            n.promote(t(2), Some(State::Backup)),
            Ok(vec![all(Input::Promote)])
        );
        assert_eq!(n.promote(t(3), Some(State::Fault)), Err(Refusal::Fault));
        assert_eq!(n.promote(t(3), None), Err(Refusal::NotRunning));
    }

    #[test]
    fn a_switchover_needs_a_master_before_and_after_the_drain() {
        let mut n = node();
        assert_eq!(
            Node::switchover_refusal(Some(State::Backup), 30),
            Some(Refusal::NotMaster)
        );
        assert_eq!(
            Node::switchover_refusal(Some(State::Master), MAX_DRAIN_SECS + 1),
            Some(Refusal::DrainTooLong)
        );
        assert_eq!(Node::switchover_refusal(Some(State::Master), 30), None);
        assert_eq!(
            n.switch_over(t(0), Some(State::Backup)),
            Err(Refusal::NoLongerMaster)
        );
        assert_eq!(
            n.switch_over(t(1), Some(State::Master)),
            Ok(vec![all(Input::Yield)])
        );
        assert_eq!(n.cause(t(1)), Some(("operator: switchover".into(), 0.0)));
    }

    #[test]
    fn maintenance_left_on_before_a_restart_faults_the_first_decision() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/node.toml.example"),
        )
        .unwrap();
        let config = crate::config::parse(Path::new("node.toml"), &text).unwrap();
        let mut n = Node::new(&config, true);
        let orders = n.decide();
        assert!(orders.contains(&all(Input::Fault)), "{orders:?}");
    }
}
