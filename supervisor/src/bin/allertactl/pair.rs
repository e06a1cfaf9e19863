//! Both nodes at a glance, as `pcs status` shows a cluster: who is master, each node's
//! role, priority, components, trunks, calls and replication, the other node as its own
//! supervisor serves it (`GET /status` at `[supervisor] peer_status`).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use supervisor::control::protocol::Status;

/// How long the other node may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(2);

/// The other node's status, or why there is none (the supervisor's own fetch, with its
/// size limit).
pub(crate) fn fetch(addr: &str) -> Result<Status, String> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("peer_status {addr:?}: {e}"))?;
    super::block_on(supervisor::metrics::fetch_status(addr, PEER_TIMEOUT))
}

/// `status --json`'s `peer`: the address, and the status or the error.
pub(crate) fn peer_json(addr: &str, peer: &Result<Status, String>) -> Value {
    match peer {
        Ok(s) => serde_json::json!({ "address": addr, "status": s, "error": null }),
        Err(e) => serde_json::json!({ "address": addr, "status": null, "error": e }),
    }
}

/// The lines that head `allertactl status`: the pair's verdict, then one line per node.
pub(crate) fn summary(this: &Status, addr: &str, peer: &Result<Status, String>) -> Vec<String> {
    let mut out = Vec::new();
    let is_master = |s: &Status| s.role == "MASTER";
    let verdict = match peer {
        Ok(p) => match (is_master(this), is_master(p)) {
            (true, true) => format!(
                "Pair: SPLIT BRAIN: both {} and {} are master",
                this.node, p.node
            ),
            (true, false) => master_and(this, p),
            (false, true) => master_and(p, this),
            (false, false) => format!(
                "Pair: NO MASTER ({} {}, {} {})",
                this.node, this.role, p.node, p.role
            ),
        },
        Err(_) => format!(
            "Pair: the other node does not answer; {} is {}",
            this.node,
            this.role.to_lowercase()
        ),
    };
    out.push(verdict);
    out.push(format!("  {} (this node): {}", this.node, node_line(this)));
    match peer {
        Ok(p) => {
            out.push(format!("  {}: {}", p.node, node_line(p)));
            if p.version != this.version {
                out.push(format!(
                    "  versions differ ({} {}, {} {}): a rolling upgrade is under way; finish it",
                    this.node,
                    version(this),
                    p.node,
                    version(p)
                ));
            }
        }
        Err(e) => out.push(format!("  other node at {addr}: NOT ANSWERING ({e})")),
    }
    out
}

/// A supervisor's version; one from before versions says none.
fn version(s: &Status) -> &str {
    if s.version.is_empty() {
        "older than 0.2.0"
    } else {
        &s.version
    }
}

fn master_and(master: &Status, other: &Status) -> String {
    format!(
        "Pair: {} is master; {} is {}",
        master.node,
        other.node,
        other.role.to_lowercase()
    )
}

/// One node: role and priority, components, trunks, calls, replication.
fn node_line(s: &Status) -> String {
    let priority = s
        .instances
        .first()
        .map(|i| format!(", priority {}", i.priority))
        .unwrap_or_default();
    let down: Vec<&str> = s
        .components
        .iter()
        .filter(|c| !c.up)
        .map(|c| c.name.as_str())
        .collect();
    let components = if down.is_empty() {
        format!("{} component(s) up", s.components.len())
    } else {
        format!("DOWN: {}", down.join(", "))
    };
    let mut parts = vec![format!("{}{priority}", s.role), components];
    if let Some(m) = s
        .component_status
        .values()
        .find(|v| v.get("trunks").is_some())
    {
        let trunks = m["trunks"].as_array().cloned().unwrap_or_default();
        let registered = trunks.iter().filter(|t| t["registered"] == true).count();
        parts.push(if registered == trunks.len() {
            format!("trunks {registered}/{} registered", trunks.len())
        } else {
            format!("TRUNKS {registered}/{} registered", trunks.len())
        });
        parts.push(format!(
            "{} call(s)",
            m.get("active_calls").and_then(Value::as_u64).unwrap_or(0)
        ));
    }
    if let Some(sync) = s
        .component_status
        .values()
        .find(|v| v.get("component").and_then(Value::as_str) == Some("sync"))
    {
        let lag = match (sync.get("lag_ms").and_then(Value::as_u64), sync.get("peer")) {
            (_, Some(Value::Null)) | (_, None) => "sync: NO SESSION".to_owned(),
            (Some(ms), _) => format!(
                "sync lag {} record(s), {ms} ms",
                sync.get("lag_records").and_then(Value::as_u64).unwrap_or(0)
            ),
            (None, _) => "sync: not yet in step".to_owned(),
        };
        parts.push(lag);
    }
    if s.maintenance {
        parts.push("IN MAINTENANCE".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use supervisor::control::protocol::CheckStatus;

    fn node(name: &str, role: &str) -> Status {
        let mut s: Status = serde_json::from_value(serde_json::json!({
            "node": name, "role": role, "maintenance": false, "faults": [],
            "instances": [], "components": [], "checks": [], "transitions_total": 0,
            "last_transitions": [], "component_status": {
                "mediacore": {"trunks": [{"name": "in", "registered": true},
                                         {"name": "out", "registered": false}],
                              "active_calls": 4},
                "sync": {"component": "sync", "peer": "10.0.0.2:7480", "lag_ms": 120, "lag_records": 1},
            },
        }))
        .unwrap();
        s.components.push(CheckStatus {
            name: "mediacore".into(),
            up: true,
            weight: 0,
            downs: 0,
            last_error: None,
            pid: None,
            version: None,
        });
        s
    }

    #[test]
    fn both_nodes_on_one_screen_and_the_problems_in_capitals() {
        let a = node("node-a", "MASTER");
        let b = node("node-b", "BACKUP");
        assert_eq!(
            summary(&a, "10.0.0.2:9480", &Ok(b.clone())),
            [
                "Pair: node-a is master; node-b is backup",
                "  node-a (this node): MASTER; 1 component(s) up; TRUNKS 1/2 registered; 4 call(s); sync lag 1 record(s), 120 ms",
                "  node-b: BACKUP; 1 component(s) up; TRUNKS 1/2 registered; 4 call(s); sync lag 1 record(s), 120 ms",
            ]
        );
        assert_eq!(
            summary(&b, "10.0.0.1:9480", &Ok(a.clone()))[0],
            "Pair: node-a is master; node-b is backup"
        );
        let split = summary(&a, "x", &Ok(node("node-b", "MASTER")));
        assert_eq!(
            split[0],
            "Pair: SPLIT BRAIN: both node-a and node-b are master"
        );
        let mut old = b.clone();
        old.version = String::new();
        let mut new = a.clone();
        new.version = "0.2.0".into();
        assert_eq!(
            summary(&new, "x", &Ok(old))[3],
            "  versions differ (node-a 0.2.0, node-b older than 0.2.0): a rolling upgrade is under way; finish it"
        );
        let alone = summary(&b, "10.0.0.1:9480", &Err("connection refused".into()));
        assert_eq!(
            alone[0],
            "Pair: the other node does not answer; node-b is backup"
        );
        assert_eq!(
            alone[2],
            "  other node at 10.0.0.1:9480: NOT ANSWERING (connection refused)"
        );
    }
}
