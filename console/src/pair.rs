//! Pure: both nodes at a glance, from the two supervisors' `/status` JSON (the same the
//! `allertactl status` command reads): each node green, yellow or red and why, who holds
//! the VIP and dials, each node's trunks, the sync lag, the last failover and its phases,
//! and the alarms. Read loosely (a field missing is "unknown", not an error), since the
//! peer may run another version during an upgrade.

use serde_json::Value;

/// At a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Working, nothing to do.
    Green,
    /// Working, with something to look at (a trunk down, sync behind, maintenance).
    Yellow,
    /// Not working, or not answering.
    Red,
}

impl Health {
    pub fn class(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    pub name: String,
    pub registered: bool,
    /// `registered`, `failed: …`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// Its name, or the address asked when it did not answer.
    pub name: String,
    /// MASTER, BACKUP, FAULT, MAINTENANCE; "" when it did not answer.
    pub role: String,
    pub answered: bool,
    pub health: Health,
    /// Why it is not green.
    pub reasons: Vec<String>,
    pub trunks: Vec<Trunk>,
    /// How far its database is behind the master's, on a backup.
    pub sync_lag_ms: Option<u64>,
    /// The alarms the supervisor raises for it.
    pub alarms: Vec<String>,
    /// This month against the SLA, as this node's supervisor measured the service.
    pub sla: Option<Sla>,
}

/// A month's availability per service time (`allertactl sla`'s figures).
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    /// "2026-12".
    pub month: String,
    /// (hours, availability %, target %, met).
    pub service_times: Vec<(String, f64, f64, bool)>,
}

impl NodeView {
    pub fn is_master(&self) -> bool {
        self.role == "MASTER"
    }
}

/// The last change of role, with its measured phases.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    pub node: String,
    pub at_ms: u64,
    pub from: String,
    pub to: String,
    pub cause: String,
    pub detect_ms: Option<f64>,
    pub vip_added_ms: Option<f64>,
    pub first_garp_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PairView {
    /// This node first, then its peer (when one is configured).
    pub nodes: Vec<NodeView>,
    /// The node holding the VIP; none while neither says MASTER, both if both do.
    pub masters: Vec<String>,
    pub last_failover: Option<Failover>,
}

impl PairView {
    /// The one master, if exactly one.
    pub fn master(&self) -> Option<&str> {
        match self.masters.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    pub fn split_brain(&self) -> bool {
        self.masters.len() > 1
    }
}

/// A node from its status, or from why it could not be read (`Err`, with the address).
pub fn node(status: Result<&Value, (&str, &str)>) -> NodeView {
    let s = match status {
        Ok(s) => s,
        Err((address, error)) => {
            return NodeView {
                name: address.to_owned(),
                role: String::new(),
                answered: false,
                health: Health::Red,
                reasons: vec![error.to_owned()],
                trunks: vec![],
                sync_lag_ms: None,
                alarms: vec![],
                sla: None,
            }
        }
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let role = text(&s["role"]);
    let mut reds = Vec::new();
    let mut yellows = Vec::new();
    if role == "FAULT" {
        reds.extend(strings(&s["faults"]));
        if reds.is_empty() {
            reds.push("fault".to_owned());
        }
    }
    if s["maintenance"].as_bool() == Some(true) {
        yellows.push("maintenance".to_owned());
    }
    for c in list(&s["components"]) {
        if c["up"].as_bool() == Some(false) {
            let why = c["last_error"].as_str().unwrap_or("down");
            reds.push(format!("{}: {why}", text(&c["name"])));
        }
    }
    for c in list(&s["checks"]) {
        if c["up"].as_bool() == Some(false) {
            let why = c["last_error"].as_str().unwrap_or("down");
            let line = format!("{}: {why}", text(&c["name"]));
            if c["weight"].as_i64() == Some(0) {
                reds.push(line);
            } else {
                yellows.push(line);
            }
        }
    }
    let trunks: Vec<Trunk> = list(&s["component_status"]["mediacore"]["trunks"])
        .map(|t| Trunk {
            name: text(&t["name"]),
            registered: t["registered"].as_bool().unwrap_or(false),
            state: text(&t["registration"]),
        })
        .collect();
    for t in trunks.iter().filter(|t| !t.registered) {
        yellows.push(format!("trunk {}: {}", t.name, t.state));
    }
    let sync = &s["component_status"]["sync"];
    let sync_lag_ms = sync["lag_ms"].as_u64();
    if sync["role"].as_str() == Some("backup") && sync["peer"].is_null() {
        yellows.push("sync: no session with the master".to_owned());
    }
    let alarms: Vec<String> = list(&s["alarms"]).map(|a| text(&a["text"])).collect();
    let month = &s["availability"]["month"];
    let sla = month["month"].as_str().map(|m| Sla {
        month: m.to_owned(),
        service_times: list(&month["service_times"])
            .map(|st| {
                (
                    text(&st["hours"]),
                    st["availability_percent"].as_f64().unwrap_or(0.0),
                    st["target_percent"].as_f64().unwrap_or(0.0),
                    st["met"].as_bool().unwrap_or(false),
                )
            })
            .collect(),
    });
    let health = if !reds.is_empty() {
        Health::Red
    } else if !yellows.is_empty() || !alarms.is_empty() {
        Health::Yellow
    } else {
        Health::Green
    };
    reds.extend(yellows);
    reds.dedup();
    NodeView {
        name: text(&s["node"]),
        role,
        answered: true,
        health,
        reasons: reds,
        trunks,
        sync_lag_ms,
        alarms,
        sla,
    }
}

/// The pair, from this node's status and the peer's (when a peer is configured).
pub fn pair(
    local: Result<&Value, (&str, &str)>,
    peer: Option<Result<&Value, (&str, &str)>>,
) -> PairView {
    let statuses: Vec<_> = std::iter::once(local).chain(peer).collect();
    let last_failover = statuses
        .iter()
        .filter_map(|s| s.ok())
        .flat_map(|s| {
            let node = s["node"].as_str().unwrap_or_default().to_owned();
            list(&s["last_transitions"]).map(move |t| (node.clone(), t))
        })
        .filter(|(_, t)| t["to"].as_str() == Some("Master") || t["from"].as_str() == Some("Master"))
        .max_by_key(|(_, t)| t["at_ms"].as_u64().unwrap_or(0))
        .map(|(node, t)| Failover {
            node,
            at_ms: t["at_ms"].as_u64().unwrap_or(0),
            from: t["from"].as_str().unwrap_or_default().to_owned(),
            to: t["to"].as_str().unwrap_or_default().to_owned(),
            cause: t["cause"]
                .as_str()
                .or(t["reason"].as_str())
                .unwrap_or_default()
                .to_owned(),
            detect_ms: t["detect_ms"].as_f64(),
            vip_added_ms: t["vip_added_ms"].as_f64(),
            first_garp_ms: t["first_garp_ms"].as_f64(),
        });
    let nodes: Vec<NodeView> = statuses.into_iter().map(node).collect();
    let masters = nodes
        .iter()
        .filter(|n| n.is_master())
        .map(|n| n.name.clone())
        .collect();
    PairView {
        nodes,
        masters,
        last_failover,
    }
}

fn list(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn strings(v: &Value) -> impl Iterator<Item = String> + '_ {
    list(v).filter_map(|s| s.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn master() -> Value {
        json!({
            "node": "node-a", "role": "MASTER", "maintenance": false, "faults": [],
            "components": [{"name": "mediacore", "up": true, "weight": 0}],
            "checks": [{"name": "disk", "up": true, "weight": 0}],
            "component_status": {
                "mediacore": {"trunks": [{"name": "trunk-out", "registered": true, "registration": "registered"}]},
                "sync": {"role": "master", "peer": "10.77.0.12:7480", "lag_ms": null}
            },
            "last_transitions": [
                {"at_ms": 1000, "instance": "data", "from": "Backup", "to": "Master", "reason": "peer silent"},
            ],
            "alarms": [],
            "availability": {"month": {"month": "2026-12", "outages": 1, "service_times": [
                {"hours": "07:00-18:00", "availability_percent": 99.5, "target_percent": 98.0, "met": true},
                {"hours": "18:00-07:00", "availability_percent": 85.0, "target_percent": 90.0, "met": false}
            ]}}
        })
    }

    fn backup() -> Value {
        json!({
            "node": "node-b", "role": "BACKUP", "maintenance": false, "faults": [],
            "components": [{"name": "mediacore", "up": true}],
            "checks": [],
            "component_status": {
                "mediacore": {"trunks": [{"name": "trunk-out", "registered": false, "registration": "failed: 403"}]},
                "sync": {"role": "backup", "peer": "10.77.0.11:50000", "lag_ms": 40}
            },
            "last_transitions": [
                {"at_ms": 2000, "instance": "data", "from": "Master", "to": "Backup", "reason": "preempted",
                 "cause": "mediacore: exited: signal: 9 (SIGKILL)", "detect_ms": 3.5}
            ]
        })
    }

    #[test]
    fn a_healthy_master_is_green_and_a_backup_with_a_failed_trunk_yellow() {
        let (a, b) = (master(), backup());
        let view = pair(Ok(&a), Some(Ok(&b)));
        assert_eq!(view.master(), Some("node-a"));
        assert_eq!(view.nodes[0].health, Health::Green);
        assert_eq!(view.nodes[1].health, Health::Yellow);
        assert_eq!(view.nodes[1].reasons, ["trunk trunk-out: failed: 403"]);
        assert_eq!(view.nodes[1].sync_lag_ms, Some(40));
        let sla = view.nodes[0].sla.as_ref().unwrap();
        assert_eq!(sla.month, "2026-12");
        assert_eq!(
            sla.service_times[1],
            ("18:00-07:00".into(), 85.0, 90.0, false)
        );
        assert_eq!(view.nodes[1].sla, None);
        let f = view.last_failover.unwrap();
        assert_eq!((f.node.as_str(), f.at_ms), ("node-b", 2000));
        assert_eq!(f.cause, "mediacore: exited: signal: 9 (SIGKILL)");
        assert_eq!(f.detect_ms, Some(3.5));
    }

    #[test]
    fn a_silent_peer_is_red_and_two_masters_are_a_split_brain() {
        let a = master();
        let view = pair(Ok(&a), Some(Err(("10.77.0.12:9480", "connection refused"))));
        assert_eq!(view.nodes[1].health, Health::Red);
        assert_eq!(view.nodes[1].name, "10.77.0.12:9480");
        assert!(!view.split_brain());
        let mut b = master();
        b["node"] = json!("node-b");
        let view = pair(Ok(&a), Some(Ok(&b)));
        assert!(view.split_brain());
        assert_eq!(view.master(), None);
    }

    #[test]
    fn a_fault_or_a_component_down_is_red_with_the_reason() {
        let mut a = master();
        a["role"] = json!("FAULT");
        a["faults"] = json!(["mediacore"]);
        a["components"] =
            json!([{"name": "mediacore", "up": false, "last_error": "exited: signal: 9"}]);
        a["alarms"] = json!([{"key": "x", "text": "extensions.conf:12: unknown application"}]);
        let n = node(Ok(&a));
        assert_eq!(n.health, Health::Red);
        assert_eq!(n.reasons, ["mediacore", "mediacore: exited: signal: 9"]);
        assert_eq!(n.alarms, ["extensions.conf:12: unknown application"]);
        // An older peer's status without the newer fields still reads.
        let n = node(Ok(&json!({"node": "old", "role": "BACKUP"})));
        assert_eq!((n.health, n.trunks.len()), (Health::Green, 0));
    }
}
