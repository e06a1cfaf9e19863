//! What allertactl prints for a person: a node's status, its components' reports in
//! words, the transitions, first boot's refusal.

use std::time::{SystemTime, UNIX_EPOCH};

use component::localtime;
use supervisor::alarms;
use supervisor::control::protocol::{Status, Transition};

pub(crate) fn ago(ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{:.1} s ago", now.saturating_sub(ms) as f64 / 1000.0)
}

pub(crate) fn print_status(s: &Status) {
    let why = if s.faults.is_empty() {
        String::new()
    } else {
        format!(" because: {}", s.faults.join(", "))
    };
    let version = if s.version.is_empty() {
        String::new()
    } else {
        format!(" (Allerta {})", s.version)
    };
    println!("{}: {}{why}{version}", s.node, s.role);
    // What must be acted on first, as the console says it (`allertactl problems`).
    for a in alarms::of(s, localtime::now_ms()) {
        println!("  PROBLEM: {}", a.text);
    }
    for i in &s.instances {
        let mut priority = format!("priority {}", i.priority);
        if i.priority != i.configured_priority {
            priority.push_str(&format!(
                " (configured {}; {})",
                i.configured_priority,
                if i.promoted {
                    "promoted"
                } else {
                    "tracked weights"
                }
            ));
        }
        let peer = match (i.peer_address, i.peer_last_heard_ms) {
            (Some(addr), Some(ms)) => format!(
                "last heard {addr} {} (priority {})",
                ago(ms),
                i.peer_priority.unwrap_or(0)
            ),
            _ => "no other router heard yet".into(),
        };
        let yielded = if i.yielded {
            ", yielded (switchover): will not preempt"
        } else if i.preempt_held {
            ", preemption held back while a campaign runs on the master"
        } else {
            ""
        };
        println!(
            "  instance {} (vrid {}): {:?}, {priority}{yielded}; {peer}",
            i.name, i.vrid, i.state
        );
        println!(
            "    adverts sent {}, received {}, dropped {} malformed / {} not from a peer",
            i.stats.adverts_sent,
            i.stats.adverts_received,
            i.stats.dropped_malformed,
            i.stats.dropped_not_from_peer
        );
    }
    for (title, list) in [("components", &s.components), ("checks", &s.checks)] {
        if list.is_empty() {
            continue;
        }
        println!("  {title}:");
        for c in list {
            let state = if c.up { "up" } else { "DOWN" };
            let pid = c.pid.map(|p| format!(", pid {p}")).unwrap_or_default();
            let version = c
                .version
                .as_ref()
                .map(|v| format!(", {v}"))
                .unwrap_or_default();
            let error = c
                .last_error
                .as_ref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default();
            let weight = if c.weight == 0 {
                "fault if down".to_string()
            } else {
                format!("weight {}", c.weight)
            };
            println!(
                "    {:<12} {state} ({weight}{pid}{version}, down {} times{error})",
                c.name, c.downs
            );
        }
    }
    for (component, status) in &s.component_status {
        for line in component_lines(component, status) {
            println!("  {line}");
        }
    }
    if let Some(a) = &s.availability {
        let state = match (a.up, a.down_since_ms) {
            (None, _) => "not probed yet".to_string(),
            (Some(true), _) => "up".into(),
            (Some(false), Some(since)) => format!(
                "DOWN (outage since {}; {})",
                ago(since),
                a.last_error.as_deref().unwrap_or("")
            ),
            (Some(false), None) => "DOWN".into(),
        };
        let probed = a
            .last_probe_ms
            .map(|ms| format!(", probed {}", ago(ms)))
            .unwrap_or_default();
        println!(
            "  service {} (as a client sees it): {state}{probed}",
            a.service
        );
    }
    println!(
        "  transitions to or from master: {} (flap count)",
        s.transitions_total
    );
    print_history(&s.last_transitions.iter().rev().cloned().collect::<Vec<_>>());
}

/// What a component reported, for a person: the media core's trunks, calls, dispatch and
/// configuration alarms, the sync agent's peer, lag and last error, one line each; any
/// other component (or a field we do not know) as its JSON. A problem is in capitals.
/// The sync agent's report in words (`allertactl sync status`): its line in `status`, then
/// what it has done since it started.
pub(crate) fn sync_lines(doc: &serde_json::Value) -> Vec<String> {
    let mut out = component_lines("sync", doc);
    let n = |k: &str| doc.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    if let Some(change) = doc.get("last_change").and_then(serde_json::Value::as_str) {
        let when = doc
            .get("last_change_at_ms")
            .and_then(serde_json::Value::as_u64)
            .map(|ms| format!(" ({})", ago(ms)))
            .unwrap_or_default();
        out.push(format!("  last change: {change}{when}"));
    }
    out.push(format!(
        "  since start: {} record(s), {} session(s), {} snapshot(s), {} bytes sent, {} received, {} error(s), {} divergence(s)",
        n("records"),
        n("sessions"),
        n("snapshots"),
        n("bytes_sent"),
        n("bytes_received"),
        n("errors"),
        n("divergences")
    ));
    out
}

pub(crate) fn component_lines(name: &str, status: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let text = |key: &str| status.get(key).and_then(Value::as_str);
    let number = |key: &str| status.get(key).and_then(Value::as_u64).unwrap_or(0);
    let mut out = Vec::new();
    match name {
        "mediacore" => {
            let dispatch = match (
                status.get("dispatching").and_then(Value::as_bool),
                text("dispatch_hold"),
            ) {
                (Some(true), _) => "campaign calls allowed".to_owned(),
                (_, Some(why)) => format!("no campaign calls ({why})"),
                _ => "no campaign calls".to_owned(),
            };
            out.push(format!(
                "{name}: {}, {} call(s) up, {dispatch}",
                text("role").unwrap_or("no role yet"),
                number("active_calls")
            ));
            for t in status
                .get("trunks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let registration = t.get("registration").and_then(Value::as_str).unwrap_or("?");
                let registration = match registration {
                    "none" => "no registration".to_owned(),
                    r => match r.strip_prefix("failed") {
                        Some(why) => format!("REGISTRATION FAILED{why}"),
                        None => r.to_owned(),
                    },
                };
                let reach = match t.get("reachability").and_then(Value::as_str) {
                    Some("unreachable") => ", UNREACHABLE (no answer to OPTIONS)".to_owned(),
                    Some(r) => format!(", {r}"),
                    None => String::new(),
                };
                out.push(format!(
                    "  trunk {}: {registration}{reach}",
                    t.get("name").and_then(Value::as_str).unwrap_or("?")
                ));
            }
            for alarm in status
                .get("config_alarms")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(format!(
                    "  CONFIGURATION NOT LOADED (the previous one stays in force): {}",
                    alarm.as_str().unwrap_or_default()
                ));
            }
            if let Some(why) = text("hold_preempt") {
                out.push(format!("  holds the master role back: {why}"));
            }
            if number("unidentified_invites") > 0 {
                out.push(format!(
                    "  {} call(s) refused from addresses that are no trunk's",
                    number("unidentified_invites")
                ));
            }
        }
        "sync" => {
            let fresh = status.get("checks").and_then(|c| c.get("fresh"));
            let step = match fresh.and_then(|f| f.get("ok")).and_then(Value::as_bool) {
                Some(true) => "in step".to_owned(),
                _ => format!(
                    "NOT IN STEP ({})",
                    fresh
                        .and_then(|f| f.get("reason"))
                        .and_then(Value::as_str)
                        .unwrap_or("no report yet")
                ),
            };
            let lag = match status.get("lag_ms").and_then(Value::as_u64) {
                Some(ms) => format!(", lag {} record(s), {ms} ms", number("lag_records")),
                None => String::new(),
            };
            out.push(format!(
                "{name}: {}, peer {}{lag}, {step}",
                text("role").unwrap_or("no role yet"),
                text("peer").unwrap_or("none")
            ));
            if let Some(e) = text("last_error") {
                out.push(format!("  last error: {e}"));
            }
            if number("refused_peers") > 0 {
                out.push(format!(
                    "  REFUSED {} connection(s) from a peer not of this pair",
                    number("refused_peers")
                ));
            }
            if number("divergent_waiting") > 0 {
                out.push(format!(
                    "  {} change(s) made apart wait for an operator: allertactl sync divergence",
                    number("divergent_waiting")
                ));
            }
        }
        _ => out.push(format!("{name}: {status}")),
    }
    out
}

/// First boot refused the wizard's settings at this node's last power-on.
pub(crate) fn print_refusal(json: bool, problems: &[String]) {
    let mut text = String::from(
        "FIRST BOOT REFUSED the wizard's settings at the last power-on: this node runs with \
         the settings of its last good boot (none if it never had one). Fix the vApp \
         properties (Edit Settings > vApp Options) and power the node off and on:\n",
    );
    for p in problems {
        text.push_str(&format!("  {p}\n"));
    }
    // With --json, standard output is the supervisor's answer alone.
    if json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

pub(crate) fn print_history(transitions: &[Transition]) {
    for t in transitions {
        let mut phases = Vec::new();
        if let Some(ms) = t.detect_ms {
            phases.push(format!("detect {ms:.1} ms"));
        }
        if let Some(ms) = t.vip_added_ms {
            phases.push(format!("VIP added {ms:.2} ms"));
        }
        if let Some(ms) = t.first_garp_ms {
            phases.push(format!("first GARP {ms:.2} ms"));
        }
        let cause = t
            .cause
            .as_ref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let phases = if phases.is_empty() {
            String::new()
        } else {
            format!("; {}", phases.join(", "))
        };
        println!(
            "    {} {}: {} -> {} ({}){cause}{phases}",
            ago(t.at_ms),
            t.instance,
            t.from,
            t.to,
            t.reason
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_told_in_words_with_problems_in_capitals() {
        let media = serde_json::json!({
            "role": "backup", "active_calls": 2, "dispatching": false,
            "dispatch_hold": "backup",
            "trunks": [
                {"name": "trunk-in", "registration": "registered", "registered": true},
                {"name": "trunk-out", "registration": "failed: 403 Forbidden", "registered": false,
                 "reachability": "unreachable"}
            ],
            "config_alarms": ["/etc/allerta/shared/extensions.conf:12: unknown application Foo"],
        });
        assert_eq!(
            component_lines("mediacore", &media),
            [
                "mediacore: backup, 2 call(s) up, no campaign calls (backup)",
                "  trunk trunk-in: registered",
                "  trunk trunk-out: REGISTRATION FAILED: 403 Forbidden, UNREACHABLE (no answer to OPTIONS)",
                "  CONFIGURATION NOT LOADED (the previous one stays in force): \
                 /etc/allerta/shared/extensions.conf:12: unknown application Foo",
            ]
        );
        let sync = serde_json::json!({
            "role": "backup", "peer": "10.77.0.11:7480", "lag_records": 0, "lag_ms": null,
            "last_error": "the peer's certificate is not from this pair: refused 10.77.0.11",
            "refused_peers": 3,
            "checks": {"fresh": {"ok": false, "reason": "never in step since start"}},
        });
        assert_eq!(
            component_lines("sync", &sync),
            [
                "sync: backup, peer 10.77.0.11:7480, NOT IN STEP (never in step since start)",
                "  last error: the peer's certificate is not from this pair: refused 10.77.0.11",
                "  REFUSED 3 connection(s) from a peer not of this pair",
            ]
        );
        assert_eq!(
            component_lines("other", &serde_json::json!({"x": 1})),
            [r#"other: {"x":1}"#]
        );
    }
}
