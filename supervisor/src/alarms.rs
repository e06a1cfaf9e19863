//! Pure: the problems an operator must act on, read from the supervisor's status: one line
//! each, for the console (`allertactl problems --follow`, run by `allerta-console.service`)
//! and for scripts (`allertactl problems`). `allertactl status` tells the same things in
//! context; this is the short list.
//!
//! Each alarm has a key that stays the same while the problem lasts, so a watcher says it
//! once when it appears and once when it clears, whatever numbers its text carries.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::control::protocol::Status;
use crate::vrrp::machine::State;

/// How long a node may run with no sync session before it is a problem: longer than a
/// peer's reboot or a failover's reconnection, so a planned one stays quiet.
pub const ALONE_AFTER_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// Stable while the problem lasts ("vrrp.VI_1.stranger", "trunk.carrier.registration").
    pub key: String,
    pub text: String,
}

/// The alarms of `status` at `now_ms` (ms since the epoch), by key.
pub fn of(status: &Status, now_ms: u64) -> Vec<Alarm> {
    let mut out = BTreeMap::new();
    let mut alarm = |key: String, text: String| {
        out.insert(key.clone(), Alarm { key, text });
    };
    // The checks that fault the node; maintenance is the operator's own doing, and an
    // instance in Fault for its link or a stranger has its own line below.
    let faults: Vec<&str> = status
        .faults
        .iter()
        .map(String::as_str)
        .filter(|f| *f != "maintenance" && !f.starts_with("instance "))
        .collect();
    if status.role == "FAULT" && !faults.is_empty() {
        alarm(
            "node.fault".into(),
            format!("this node is out of service (Fault): {}", faults.join(", ")),
        );
    }
    for i in &status.instances {
        if let Some(stranger) = i.stranger {
            let peers: Vec<String> = i.peers.iter().map(ToString::to_string).collect();
            alarm(
                format!("vrrp.{}.stranger", i.name),
                format!(
                    "VRRP adverts of VRID {} come from {stranger}, which is not this node's \
                     peer ({}): ha.peer_ip is wrong on one of the two nodes; this node stays \
                     out of the election until it is corrected",
                    i.vrid,
                    peers.join(", ")
                ),
            );
        } else if i.state == State::Fault && faults.is_empty() && !status.maintenance {
            alarm(
                format!("vrrp.{}.fault", i.name),
                format!(
                    "VRRP instance {} is in Fault (its interface is down)",
                    i.name
                ),
            );
        }
    }
    for c in status.components.iter().filter(|c| !c.up) {
        let why = c.last_error.as_deref().unwrap_or("no reason given");
        alarm(
            format!("component.{}", c.name),
            format!("component {} is down: {why}", c.name),
        );
    }
    for (name, s) in &status.component_status {
        match name.as_str() {
            "mediacore" => media_core(s, &mut alarm),
            "sync" => sync(s, now_ms, &mut alarm),
            _ => {}
        }
    }
    out.into_values().collect()
}

fn media_core(s: &Value, alarm: &mut impl FnMut(String, String)) {
    for t in s
        .get("trunks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = t.get("name").and_then(Value::as_str).unwrap_or("?");
        let registration = t.get("registration").and_then(Value::as_str);
        if let Some(why) = registration.and_then(|r| r.strip_prefix("failed")) {
            alarm(
                format!("trunk.{name}.registration"),
                format!("trunk {name}: registration failed{why}"),
            );
        }
        if t.get("reachability").and_then(Value::as_str) == Some("unreachable") {
            alarm(
                format!("trunk.{name}.unreachable"),
                format!("trunk {name}: unreachable (no answer to OPTIONS)"),
            );
        }
    }
    for a in s
        .get("config_alarms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        alarm(
            format!("config.{a}"),
            format!("configuration not loaded (the previous one stays in force): {a}"),
        );
    }
}

fn sync(s: &Value, now_ms: u64, alarm: &mut impl FnMut(String, String)) {
    if let Some(problem) = s.get("pair_problem").and_then(Value::as_str) {
        alarm("sync.pair".into(), format!("sync: {problem}"));
    }
    let alone = s.get("alone_since_ms").and_then(Value::as_u64);
    let Some(secs) = alone
        .map(|since| now_ms.saturating_sub(since))
        .filter(|ms| *ms >= ALONE_AFTER_MS)
        .map(|ms| ms / 1000)
    else {
        return;
    };
    let last = s
        .get("last_error")
        .and_then(Value::as_str)
        .map(|e| format!(" (last error: {e})"))
        .unwrap_or_default();
    let text = match s.get("role").and_then(Value::as_str) {
        Some("master") => format!(
            "sync: no backup connected for {secs} s{last}: the pair has no up-to-date \
             standby until one does"
        ),
        _ => format!(
            "sync: the master has not connected for {secs} s{last}: this node's copy may be \
             out of date"
        ),
    };
    alarm("sync.alone".into(), text);
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use serde_json::json;

    use super::*;
    use crate::control::protocol::CheckStatus;
    use crate::vrrp::status::InstanceStatus;

    /// A healthy backup with one component (also `check`'s starting point).
    pub(crate) fn healthy() -> Status {
        Status {
            node: "node-b".into(),
            version: String::new(),
            role: "BACKUP".into(),
            maintenance: false,
            faults: vec![],
            instances: vec![InstanceStatus {
                state: State::Backup,
                ..InstanceStatus::new("VI_1", 51, 100, vec![Ipv4Addr::new(10, 77, 0, 11)])
            }],
            components: vec![CheckStatus {
                name: "mediacore".into(),
                up: true,
                weight: 0,
                downs: 0,
                last_error: None,
                pid: Some(10),
                version: None,
            }],
            checks: vec![],
            transitions_total: 0,
            transitions_by_reason: Default::default(),
            detection: Default::default(),
            last_transitions: vec![],
            component_status: serde_json::Map::new(),
            availability: None,
        }
    }

    fn keys(s: &Status, now_ms: u64) -> Vec<String> {
        of(s, now_ms).into_iter().map(|a| a.key).collect()
    }

    #[test]
    fn a_healthy_node_and_maintenance_raise_nothing() {
        let mut s = healthy();
        assert!(of(&s, 0).is_empty());
        s.role = "FAULT".into();
        s.maintenance = true;
        s.faults = vec!["maintenance".into()];
        assert!(of(&s, 0).is_empty());
    }

    #[test]
    fn a_stranger_names_itself_and_the_configured_peer() {
        let mut s = healthy();
        s.role = "FAULT".into();
        s.instances[0].state = State::Fault;
        s.instances[0].stranger = Some(Ipv4Addr::new(10, 77, 0, 99));
        s.faults = vec![
            "instance VI_1 (adverts of its VRID from 10.77.0.99, which is not its peer)".into(),
        ];
        let alarms = of(&s, 0);
        let stranger = alarms
            .iter()
            .find(|a| a.key == "vrrp.VI_1.stranger")
            .unwrap();
        assert!(
            stranger
                .text
                .contains("from 10.77.0.99, which is not this node's peer (10.77.0.11)")
                && stranger.text.contains("ha.peer_ip is wrong"),
            "{}",
            stranger.text
        );
        assert_eq!(keys(&s, 0), ["vrrp.VI_1.stranger"]);
    }

    #[test]
    fn trunks_config_and_down_components_each_have_their_line() {
        let mut s = healthy();
        s.components[0].up = false;
        s.components[0].last_error = Some("exited: signal: 9 (SIGKILL)".into());
        s.component_status.insert(
            "mediacore".into(),
            json!({
                "trunks": [
                    {"name": "carrier", "registration": "failed: 403 Forbidden", "reachability": "unreachable"},
                    {"name": "inbound", "registration": "registered"},
                ],
                "config_alarms": ["extensions.conf:12: unknown application Dail"],
            }),
        );
        let alarms = of(&s, 0);
        let text = |key: &str| &alarms.iter().find(|a| a.key == key).unwrap().text;
        assert_eq!(
            text("trunk.carrier.registration"),
            "trunk carrier: registration failed: 403 Forbidden"
        );
        assert!(text("trunk.carrier.unreachable").contains("no answer to OPTIONS"));
        assert!(text("config.extensions.conf:12: unknown application Dail")
            .contains("previous one stays"));
        assert_eq!(
            text("component.mediacore"),
            "component mediacore is down: exited: signal: 9 (SIGKILL)"
        );
        assert_eq!(alarms.len(), 4);
    }

    #[test]
    fn sync_alone_is_a_problem_only_after_a_minute_and_keeps_its_key_as_it_ages() {
        let mut s = healthy();
        s.component_status.insert(
            "sync".into(),
            json!({"role": "master", "alone_since_ms": 1_000_000,
                   "last_error": "cannot reach the backup at 10.77.0.12:7480: timed out"}),
        );
        assert!(of(&s, 1_000_000 + ALONE_AFTER_MS - 1).is_empty());
        let first = of(&s, 1_000_000 + ALONE_AFTER_MS);
        let later = of(&s, 1_000_000 + 10 * ALONE_AFTER_MS);
        assert_eq!(
            (first[0].key.as_str(), later[0].key.as_str()),
            ("sync.alone", "sync.alone")
        );
        assert!(
            first[0]
                .text
                .starts_with("sync: no backup connected for 60 s (last error: cannot reach"),
            "{}",
            first[0].text
        );
    }

    #[test]
    fn a_peer_of_another_pair_is_said_at_once() {
        let mut s = healthy();
        s.component_status.insert(
            "sync".into(),
            json!({"role": "backup", "pair_problem": "the peer's certificate is not from this pair: give both nodes the same pairing secret"}),
        );
        let alarms = of(&s, 0);
        assert_eq!(alarms.len(), 1);
        assert!(alarms[0]
            .text
            .starts_with("sync: the peer's certificate is not from this pair"));
    }
}
