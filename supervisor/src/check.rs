//! Pure: `allertactl check`, the node's state as a monitoring plugin reports it (the
//! Nagios/Icinga plugin contract that Zabbix and Checkmk also run): one line, exit 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the supervisor does not answer), and performance
//! data after `|`.
//!
//! CRITICAL is a node that cannot serve: in Fault, a component down, a VRRP instance in
//! Fault or hearing a stranger. WARNING is every other problem `alarms` lists (a trunk that
//! does not register, no sync session, a configuration that did not load) and maintenance.

use serde_json::Value;

use crate::alarms;
use crate::control::protocol::Status;

pub const OK: u8 = 0;
pub const WARNING: u8 = 1;
pub const CRITICAL: u8 = 2;
pub const UNKNOWN: u8 = 3;

/// What the plugin prints and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub code: u8,
    pub line: String,
}

fn critical(key: &str) -> bool {
    key == "node.fault"
        || key.starts_with("component.")
        || (key.starts_with("vrrp.") && (key.ends_with(".stranger") || key.ends_with(".fault")))
}

/// The verdict on `status` at `now_ms`.
pub fn verdict(status: &Status, now_ms: u64) -> Verdict {
    let found = alarms::of(status, now_ms);
    let code = if found.iter().any(|a| critical(&a.key)) {
        CRITICAL
    } else if !found.is_empty() || status.maintenance {
        WARNING
    } else {
        OK
    };
    let word = ["OK", "WARNING", "CRITICAL"][usize::from(code)];
    let mut said = format!("ALLERTA {word} - {} {}", status.node, status.role);
    if status.maintenance && !status.role.eq_ignore_ascii_case("maintenance") {
        said.push_str(", in maintenance");
    }
    for a in &found {
        said.push_str("; ");
        said.push_str(&a.text.replace('|', "/"));
    }
    Verdict {
        code,
        line: format!("{said} | {}", perfdata(status, found.len())),
    }
}

/// The plugin's answer when the supervisor does not answer.
pub fn unknown(why: &str) -> Verdict {
    Verdict {
        code: UNKNOWN,
        line: format!("ALLERTA UNKNOWN - {}", why.replace('|', "/")),
    }
}

/// `label=value[uom];warn;crit;min;max` pairs, space-separated.
fn perfdata(status: &Status, alarms: usize) -> String {
    let up = status.components.iter().filter(|c| c.up).count();
    let all = status.components.len();
    let mut out = vec![
        format!(
            "master={}",
            u8::from(status.role.eq_ignore_ascii_case("master"))
        ),
        format!("alarms={alarms};1;;0"),
        format!("components_up={up};;{};0;{all}", all.saturating_sub(1)),
        format!("transitions={}c", status.transitions_total),
    ];
    let get = |component: &str, key: &str| {
        status
            .component_status
            .get(component)
            .and_then(|s| s.get(key))
            .and_then(Value::as_u64)
    };
    if let Some(lag) = get("sync", "lag_ms") {
        out.push(format!("sync_lag={:.3}s;;;0", lag as f64 / 1000.0));
    }
    if let Some(calls) = get("mediacore", "active_calls") {
        out.push(format!("calls={calls};;;0"));
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::tests::healthy;
    use serde_json::json;

    #[test]
    fn a_healthy_node_is_ok_with_its_figures() {
        let mut s = healthy();
        s.transitions_total = 3;
        s.component_status.insert(
            "sync".into(),
            json!({"role": "backup", "lag_ms": 1250, "alone_since_ms": null}),
        );
        s.component_status
            .insert("mediacore".into(), json!({"active_calls": 7, "trunks": []}));
        let v = verdict(&s, 0);
        assert_eq!(v.code, OK, "{v:?}");
        assert_eq!(
            v.line,
            "ALLERTA OK - node-b BACKUP | master=0 alarms=0;1;;0 components_up=1;;0;0;1 \
             transitions=3c sync_lag=1.250s;;;0 calls=7;;;0"
        );
    }

    #[test]
    fn a_trunk_or_maintenance_warns_a_component_down_is_critical() {
        let mut s = healthy();
        s.component_status.insert(
            "mediacore".into(),
            json!({"trunks": [{"name": "carrier", "registration": "failed: 403 Forbidden"}]}),
        );
        let v = verdict(&s, 0);
        assert_eq!(v.code, WARNING, "{v:?}");
        assert!(
            v.line
                .starts_with("ALLERTA WARNING - node-b BACKUP; trunk carrier: registration failed"),
            "{}",
            v.line
        );
        let mut m = healthy();
        m.maintenance = true;
        assert_eq!(verdict(&m, 0).code, WARNING);
        assert!(verdict(&m, 0).line.contains("in maintenance"));
        s.components[0].up = false;
        s.components[0].last_error = Some("exited | killed".into());
        let v = verdict(&s, 0);
        assert_eq!(v.code, CRITICAL, "{v:?}");
        assert_eq!(
            v.line.matches('|').count(),
            1,
            "only the perfdata separator: {}",
            v.line
        );
        assert!(v.line.contains("components_up=0;;0;0;1"), "{}", v.line);
    }

    #[test]
    fn no_answer_is_unknown() {
        let v = unknown("the supervisor does not answer at /run/allerta/supervisor.sock");
        assert_eq!(v.code, UNKNOWN);
        assert!(v.line.starts_with("ALLERTA UNKNOWN - the supervisor"));
    }
}
