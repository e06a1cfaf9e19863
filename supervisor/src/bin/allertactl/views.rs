//! `allertactl trunks` and `allertactl calls` as tables, the way `pjsip show
//! registrations` and `core show channels` show them to an Asterisk administrator.

use serde_json::{json, Value};
use supervisor::control::protocol::Status;

/// Each trunk of a node's media core, from its report in the node's status.
pub(crate) fn trunk_rows(s: &Status) -> Vec<Value> {
    let media = s
        .component_status
        .values()
        .find(|v| v.get("trunks").is_some());
    media
        .and_then(|m| m["trunks"].as_array())
        .into_iter()
        .flatten()
        .map(|t| {
            json!({
                "node": s.node,
                "trunk": t["name"],
                "registration": t["registration"],
                "registered": t["registered"],
                "reachability": t["reachability"],
                "rtt_ms": t["rtt_ms"],
            })
        })
        .collect()
}

/// The trunks as a table, problems in capitals.
pub(crate) fn trunks_table(rows: &[Value]) -> String {
    let mut lines = vec![format!(
        "{:<10} {:<20} {:<28} {:<14} {:>8}",
        "Node", "Trunk", "Registration", "Reachability", "RTT"
    )];
    for r in rows {
        let text = |k: &str| r[k].as_str().unwrap_or("").to_owned();
        let registration = match text("registration").as_str() {
            "none" => "no registration".to_owned(),
            reg if reg.starts_with("failed") => reg.to_uppercase(),
            reg => reg.to_owned(),
        };
        let reach = match text("reachability").as_str() {
            "" => "(no qualify)".to_owned(),
            "unreachable" => "UNREACHABLE".to_owned(),
            r => r.to_owned(),
        };
        let rtt = r["rtt_ms"]
            .as_f64()
            .map_or("-".to_owned(), |ms| format!("{ms:.1} ms"));
        lines.push(format!(
            "{:<10} {:<20} {:<28} {:<14} {:>8}",
            text("node"),
            text("trunk"),
            registration,
            reach,
            rtt
        ));
    }
    lines.push(format!("{} trunk(s)", rows.len()));
    lines.join("\n") + "\n"
}

/// The calls of the contract's `calls` answer as a table.
pub(crate) fn calls_table(doc: &Value) -> String {
    let calls = doc["calls"].as_array().cloned().unwrap_or_default();
    let mut lines = vec![format!(
        "{:<28} {:<22} {:<8} {:<16} {:>8}",
        "Channel", "Location", "State", "Caller", "Duration"
    )];
    for c in &calls {
        let text = |k: &str| c[k].as_str().unwrap_or("").to_owned();
        let secs = c["duration_secs"].as_u64().unwrap_or(0);
        lines.push(format!(
            "{:<28} {:<22} {:<8} {:<16} {:>8}",
            text("channel"),
            format!("{}@{}", text("exten"), text("context")),
            text("state"),
            text("caller"),
            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
        ));
    }
    let more = doc["more"].as_u64().unwrap_or(0);
    let total = calls.len() as u64 + more;
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    lines.push(format!("{total} active call(s)"));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunks_and_calls_read_like_asterisks() {
        let rows = vec![
            json!({"node": "node-a", "trunk": "carrier", "registration": "registered",
                   "registered": true, "reachability": "reachable", "rtt_ms": 12.34}),
            json!({"node": "node-b", "trunk": "carrier", "registration": "failed: 403 Forbidden",
                   "registered": false, "reachability": null, "rtt_ms": null}),
        ];
        assert_eq!(
            trunks_table(&rows),
            "Node       Trunk                Registration                 Reachability        RTT\n\
             node-a     carrier              registered                   reachable       12.3 ms\n\
             node-b     carrier              FAILED: 403 FORBIDDEN        (no qualify)          -\n\
             2 trunk(s)\n"
        );
        let doc = json!({"calls": [
            {"channel": "PJSIP/carrier-0000001a", "state": "Up", "caller": "0743111111",
             "context": "alert", "exten": "3100", "duration_secs": 3725}
        ], "more": 2});
        assert_eq!(
            calls_table(&doc),
            "Channel                      Location               State    Caller           Duration\n\
             PJSIP/carrier-0000001a       3100@alert             Up       0743111111       01:02:05\n\
             … and 2 more\n\
             3 active call(s)\n"
        );
    }
}
