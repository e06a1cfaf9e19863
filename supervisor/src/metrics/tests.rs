//! The exposition as a scraper reads it: names, labels, types, and what is left out.

use serde_json::json;

use super::render;
use crate::alarms::tests::healthy;
use crate::control::protocol::{Detection, Status, Transition};

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn has(text: &str, line: &str) {
    assert!(
        lines(text).contains(&line),
        "missing line {line:?} in:\n{text}"
    );
}

fn with_components(components: serde_json::Value) -> Status {
    let mut s = healthy();
    s.component_status = components.as_object().unwrap().clone();
    s
}

#[test]
fn vrrp_series_use_vrrp_instance_and_one_sample_per_state() {
    let text = render(&healthy());
    has(&text, "# TYPE allerta_vrrp_state gauge");
    has(
        &text,
        r#"allerta_vrrp_state{node="node-b",vrrp_instance="VI_1",state="backup"} 1"#,
    );
    has(
        &text,
        r#"allerta_vrrp_state{node="node-b",vrrp_instance="VI_1",state="master"} 0"#,
    );
    has(&text, "# TYPE allerta_vrrp_adverts_sent_total counter");
    has(
        &text,
        r#"allerta_vrrp_adverts_dropped_total{node="node-b",vrrp_instance="VI_1",cause="malformed"} 0"#,
    );
    has(
        &text,
        &format!(
            r#"allerta_build_info{{node="node-b",version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        ),
    );
    // Prometheus would rename a label `instance` to `exported_instance` on scrape.
    assert!(!text.contains("{instance=") && !text.contains(",instance="));
}

#[test]
fn transitions_count_by_reason_and_detection_is_a_histogram_in_seconds() {
    let mut s = healthy();
    s.transitions_by_reason.insert("PeerSilent".into(), 2);
    s.transitions_by_reason.insert("Preempted".into(), 1);
    let mut d = Detection::default();
    for secs in [0.04, 0.9, 3.1, 12.0] {
        d.observe(secs);
    }
    s.detection = d;
    s.last_transitions = vec![Transition {
        at_ms: 1_765_000_000_123,
        instance: "VI_1".into(),
        from: "Backup".into(),
        to: "Master".into(),
        reason: "PeerSilent".into(),
        cause: None,
        detect_ms: Some(3100.0),
        vip_added_ms: None,
        first_garp_ms: None,
    }];
    let text = render(&s);
    has(&text, "# TYPE allerta_transitions_total counter");
    has(
        &text,
        r#"allerta_transitions_total{node="node-b",reason="PeerSilent"} 2"#,
    );
    has(
        &text,
        r#"allerta_transitions_total{node="node-b",reason="Preempted"} 1"#,
    );
    has(&text, "# TYPE allerta_failover_detection_seconds histogram");
    has(
        &text,
        r#"allerta_failover_detection_seconds_bucket{node="node-b",le="0.05"} 1"#,
    );
    has(
        &text,
        r#"allerta_failover_detection_seconds_bucket{node="node-b",le="1"} 2"#,
    );
    has(
        &text,
        r#"allerta_failover_detection_seconds_bucket{node="node-b",le="6"} 3"#,
    );
    has(
        &text,
        r#"allerta_failover_detection_seconds_bucket{node="node-b",le="+Inf"} 4"#,
    );
    has(
        &text,
        r#"allerta_failover_detection_seconds_count{node="node-b"} 4"#,
    );
    has(
        &text,
        r#"allerta_last_transition_timestamp_seconds{node="node-b",vrrp_instance="VI_1",to="master",reason="PeerSilent"} 1765000000.123"#,
    );
}

#[test]
fn label_values_are_escaped() {
    let mut s = healthy();
    s.components[0].name = "odd \"name\"\\\nhere".into();
    let text = render(&s);
    has(
        &text,
        r#"allerta_component_up{node="node-b",component="odd \"name\"\\\nhere"} 1"#,
    );
}

/// The media core's answer as `mediacore::status` serializes it today.
fn mediacore_report() -> serde_json::Value {
    json!({
        "trunks": [
            {"name": "carrier", "registration": "registered", "registered": true,
             "reachability": "reachable", "rtt_ms": 12.5},
            {"name": "backup-carrier", "registration": "failed: 403", "registered": false,
             "reachability": null, "rtt_ms": null}
        ],
        "active_calls": 3, "total_calls": 41, "unidentified_invites": 2,
        "sip_flood_dropped": 0,
        "sip": {"received": 900, "unparsable": 1, "bad_requests": 2,
                "retransmissions_in": 5, "retransmissions_out": 7, "overloaded": 0},
        "role": "master", "dispatching": true,
        "ami": {"not_permitted": 1, "over_auth_limit": 0, "evicted": 0,
                "auth_timeouts": 4, "failed_logins": 2, "unframeable": 0},
        "campaigns": [
            {"name": "alluvione \"Po\"", "state": "running",
             "recipients": {"pending": 10, "calling": 2, "confirmed": 7, "gave_up": 1, "stopped": 0},
             "attempts": {"answered": 9, "no_answer": 4, "busy": 1}}
        ],
        "checks": {"trunk-carrier": {"ok": true, "reason": "registered"}}
    })
}

#[test]
fn the_media_cores_report_gives_trunks_calls_sip_ami_and_campaigns() {
    let text = render(&with_components(json!({ "mediacore": mediacore_report() })));
    for line in [
        r#"allerta_trunk_registered{node="node-b",trunk="carrier"} 1"#,
        r#"allerta_trunk_registered{node="node-b",trunk="backup-carrier"} 0"#,
        r#"allerta_trunk_reachable{node="node-b",trunk="carrier"} 1"#,
        r#"allerta_trunk_rtt_seconds{node="node-b",trunk="carrier"} 0.0125"#,
        r#"allerta_calls_active{node="node-b"} 3"#,
        r#"allerta_calls_total{node="node-b"} 41"#,
        r#"allerta_campaign_dispatching{node="node-b"} 1"#,
        r#"allerta_sip_messages_received_total{node="node-b"} 900"#,
        r#"allerta_sip_messages_refused_total{node="node-b",cause="bad_request"} 2"#,
        r#"allerta_sip_retransmissions_total{node="node-b",direction="out"} 7"#,
        r#"allerta_sip_invites_unidentified_total{node="node-b"} 2"#,
        r#"allerta_ami_refused_total{node="node-b",cause="auth_timeouts"} 4"#,
        r#"allerta_campaign_state{node="node-b",campaign="alluvione \"Po\"",state="running"} 1"#,
        r#"allerta_campaign_recipients{node="node-b",campaign="alluvione \"Po\"",status="confirmed"} 7"#,
        r#"allerta_campaign_attempts{node="node-b",campaign="alluvione \"Po\"",outcome="no_answer"} 4"#,
        r#"allerta_config_alarms{node="node-b",component="mediacore"} 0"#,
    ] {
        has(&text, line);
    }
    // No reachability without qualify: left out, not shown as unreachable.
    assert!(!text.contains(r#"allerta_trunk_reachable{node="node-b",trunk="backup-carrier"}"#));
}

#[test]
fn the_sync_agents_report_gives_lag_and_counters() {
    let text = render(&with_components(json!({
        "sync": {
            "component": "sync", "role": "backup", "peer": "10.77.1.1:7480",
            "lag_records": 0, "lag_ms": 250, "last_change_at_ms": 1_765_000_000_000u64,
            "bytes_sent": 10, "bytes_received": 5000, "records": 42, "sessions": 1,
            "snapshots": 1, "errors": 0, "refused_peers": 3, "divergences": 0,
            "divergent_waiting": 0,
        }
    })));
    for line in [
        r#"allerta_sync_connected{node="node-b"} 1"#,
        r#"allerta_sync_lag_seconds{node="node-b"} 0.25"#,
        r#"allerta_sync_lag_records{node="node-b"} 0"#,
        r#"allerta_sync_records_total{node="node-b"} 42"#,
        r#"allerta_sync_refused_peers_total{node="node-b"} 3"#,
        r#"allerta_sync_last_change_timestamp_seconds{node="node-b"} 1765000000"#,
    ] {
        has(&text, line);
    }
}

#[test]
fn what_a_component_does_not_report_is_left_out_not_zero() {
    // An older media core (a rolling upgrade) without campaigns, AMI or SIP counters, and a
    // sync agent that has never been in step.
    let text = render(&with_components(json!({
        "mediacore": {"trunks": [], "active_calls": 0},
        "sync": {"component": "sync", "peer": null, "lag_ms": null},
    })));
    has(&text, r#"allerta_calls_active{node="node-b"} 0"#);
    has(&text, r#"allerta_sync_connected{node="node-b"} 0"#);
    for absent in [
        "allerta_calls_total",
        "allerta_campaign_",
        "allerta_ami_refused",
        "allerta_sip_messages",
        "allerta_sync_lag_seconds",
        "allerta_trunk_",
    ] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
}

#[test]
fn a_status_from_an_older_supervisor_reads_without_the_new_counters() {
    let mut v = serde_json::to_value(healthy()).unwrap();
    let map = v.as_object_mut().unwrap();
    map.remove("transitions_by_reason");
    map.remove("detection");
    let s: Status = serde_json::from_value(v).unwrap();
    assert!(s.transitions_by_reason.is_empty());
    assert_eq!(s.detection.count, 0);
    has(
        &render(&s),
        r#"allerta_failover_detection_seconds_count{node="node-b"} 0"#,
    );
}
