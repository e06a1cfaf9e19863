//! Pure: what `allertactl` and the supervisor say to each other over the control socket
//! (`/run/allerta/supervisor.sock`, mode 0600): one JSON request per line, one JSON
//! response per line.

use serde::{Deserialize, Serialize};

use crate::vrrp::status::InstanceStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    Status,
    History,
    /// Planned handover to the peer: drain the components (at most `drain_secs`), then
    /// priority 0. Refused when the peer is not known healthy, unless `force`.
    Switchover {
        drain_secs: u32,
        force: bool,
    },
    Maintenance {
        on: bool,
    },
    /// Become master; refused while the peer is alive and master, unless `force`.
    Promote {
        force: bool,
    },
    /// Every component loads its configuration files again now (`systemctl reload`).
    Reload,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    Status(Box<Status>),
    History {
        transitions: Vec<Transition>,
    },
    /// The request was carried out; `message` says what happened.
    Done {
        message: String,
    },
    /// Refused or failed; `message` says why and what to do.
    Refused {
        message: String,
    },
}

/// Everything `allertactl status` shows; also served as JSON on the metrics port (`/status`)
/// and rendered as Prometheus metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub node: String,
    /// The supervisor's version ("0.2.0"); empty from one that predates it.
    #[serde(default)]
    pub version: String,
    /// MASTER, BACKUP, FAULT or MAINTENANCE: the first instance's state, the one whose VIP
    /// the service uses.
    pub role: String,
    pub maintenance: bool,
    /// Why the node is in Fault (checks down with weight 0, or "maintenance").
    pub faults: Vec<String>,
    pub instances: Vec<InstanceStatus>,
    pub components: Vec<CheckStatus>,
    pub checks: Vec<CheckStatus>,
    /// Transitions so far (to or from Master), the flap counter.
    pub transitions_total: u64,
    /// The same transitions since start, by reason (a counter per reason for the metrics;
    /// `last_transitions` keeps only the latest ten). Absent from an older supervisor.
    #[serde(default)]
    pub transitions_by_reason: std::collections::BTreeMap<String, u64>,
    /// How long the supervisor took to see each cause of a transition (`detect_ms`), since
    /// start. Absent from an older supervisor.
    #[serde(default)]
    pub detection: Detection,
    pub last_transitions: Vec<Transition>,
    /// Anything a component reports in its `status` answer (trunks, sync lag), by component.
    pub component_status: serde_json::Map<String, serde_json::Value>,
    /// The service as a client sees it (`[availability]`); absent when not probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<AvailabilityStatus>,
}

/// The latest probe of the service and the outage in progress, if any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityStatus {
    /// The address probed ("10.77.0.10:5038").
    pub service: String,
    /// The ledger file.
    pub ledger: String,
    /// When the latest probe started (ms since the epoch); None before the first.
    pub last_probe_ms: Option<u64>,
    /// Whether it got an answer.
    pub up: Option<bool>,
    /// How it failed.
    pub last_error: Option<String>,
    /// The outage in progress began at this first failed probe.
    pub down_since_ms: Option<u64>,
    /// This month so far against the SLA (`allertactl sla`'s figures, refreshed every
    /// minute and at each outage's start and end); absent before the first computation or
    /// if the files cannot be read (`sla_error` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<SlaMonth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_error: Option<String>,
}

/// A month's availability per service time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaMonth {
    /// "2026-12".
    pub month: String,
    pub service_times: Vec<crate::availability::report::ServiceTime>,
    /// Outages that touch the month.
    pub outages: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckStatus {
    pub name: String,
    pub up: bool,
    pub weight: i32,
    pub downs: u64,
    pub last_error: Option<String>,
    /// The component's process, if it runs.
    pub pid: Option<u32>,
    /// What the running component says it is ("0.2.0, contract 2"; "contract 1" from one
    /// that predates the `version` request). Absent from an older supervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A histogram of detection times: from a cause (a component down, the peer silent) to
/// the state change it brought.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Counts per bucket, one per bound of [`Detection::BOUNDS_S`]: each observation is
    /// counted once, in the first bucket whose bound it does not exceed (beyond the last
    /// bound, only in `count`).
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_s: f64,
}

impl Detection {
    /// Upper bounds in seconds. The design's targets are a second for a component down and
    /// three adverts (3 s) for a silent peer: the bounds spread either side of both.
    pub const BOUNDS_S: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0];

    pub fn observe(&mut self, secs: f64) {
        self.buckets.resize(Self::BOUNDS_S.len(), 0);
        if let Some(i) = Self::BOUNDS_S.iter().position(|bound| secs <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_s += secs;
    }
}

/// One state change, with its measured phases.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub instance: String,
    pub from: String,
    pub to: String,
    pub reason: String,
    /// What caused it, as the supervisor saw it ("mediacore: exited: signal: 9 (SIGKILL)").
    pub cause: Option<String>,
    /// From the cause to the state change (the supervisor's detection).
    pub detect_ms: Option<f64>,
    /// From the decision to the VIP configured, and to the first gratuitous ARP sent.
    pub vip_added_ms: Option<f64>,
    pub first_garp_ms: Option<f64>,
}

/// The longest line either side accepts.
pub const MAX_LINE: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_json_form() {
        let r = Request::Switchover {
            drain_secs: 30,
            force: false,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"request":"switchover","drain_secs":30,"force":false}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        assert!(serde_json::from_str::<Request>(r#"{"request":"explode"}"#).is_err());
    }
}
