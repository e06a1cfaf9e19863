//! Pure: series from what the components report in their `status` answer (the JSON the
//! supervisor already keeps for `allertactl status`): the media core's trunks, calls, SIP
//! and AMI counters and campaigns, and the sync agent's lag and counters.
//!
//! Each component is recognised by what its answer holds, not by the name the node file
//! gives it. A field a component does not report (an older version during a rolling
//! upgrade) is left out, never shown as zero.

use std::fmt;

use serde_json::{Map, Value};

use super::exposition::{flag, Labels, Series};
use crate::control::protocol::Status;

pub fn write(out: &mut Series<'_, '_>, s: &Status) -> fmt::Result {
    config_alarms(out, s)?;
    for report in s.component_status.values() {
        let Some(report) = report.as_object() else {
            continue;
        };
        if report.contains_key("trunks") {
            mediacore(out, report)?;
        } else if report.get("component").and_then(Value::as_str) == Some("sync") {
            sync(out, report)?;
        }
    }
    Ok(())
}

/// A component's replicated files that changed and did not load (the media core's
/// `config_alarms`): the running configuration stays in force, but the operator must act.
fn config_alarms(out: &mut Series<'_, '_>, s: &Status) -> fmt::Result {
    out.gauge(
        "config_alarms",
        "configuration files that changed and did not load (the running ones stay in force)",
        s.component_status.iter().map(|(name, report)| {
            let n = report
                .get("config_alarms")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            (vec![("component", name.clone())], n as f64)
        }),
    )
}

fn mediacore(out: &mut Series<'_, '_>, m: &Map<String, Value>) -> fmt::Result {
    let trunks: Vec<&Map<String, Value>> = m
        .get("trunks")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let trunk = |t: &Map<String, Value>| -> Labels {
        vec![("trunk", text(t, "name").unwrap_or_default().to_owned())]
    };
    out.gauge(
        "trunk_registered",
        "1 while the trunk is registered (or needs no registration)",
        trunks.iter().filter_map(|t| {
            t.get("registered")
                .and_then(Value::as_bool)
                .map(|r| (trunk(t), flag(r)))
        }),
    )?;
    out.gauge(
        "trunk_reachable",
        "1 while the trunk answers OPTIONS (only trunks with qualify on)",
        trunks.iter().filter_map(|t| {
            match text(t, "reachability") {
                Some("reachable") => Some(1.0),
                Some("unreachable") => Some(0.0),
                _ => None,
            }
            .map(|v| (trunk(t), v))
        }),
    )?;
    out.gauge(
        "trunk_rtt_seconds",
        "the last OPTIONS round trip",
        trunks
            .iter()
            .filter_map(|t| number(t, "rtt_ms").map(|ms| (trunk(t), ms / 1000.0))),
    )?;
    out.gauge(
        "calls_active",
        "calls up or being set up",
        number(m, "active_calls").map(|n| (Vec::new(), n)),
    )?;
    out.counter(
        "calls",
        "call legs since the media core started (inbound and outbound)",
        number(m, "total_calls").map(|n| (Vec::new(), n)),
    )?;
    out.gauge(
        "campaign_dispatching",
        "1 while this node may start campaign calls (master, lease held)",
        m.get("dispatching")
            .and_then(Value::as_bool)
            .map(|d| (Vec::new(), flag(d))),
    )?;
    sip(out, m)?;
    ami(out, m)?;
    campaigns(out, m)
}

fn sip(out: &mut Series<'_, '_>, m: &Map<String, Value>) -> fmt::Result {
    out.counter(
        "sip_invites_unidentified",
        "INVITEs refused because they came from no trunk's address",
        number(m, "unidentified_invites").map(|n| (Vec::new(), n)),
    )?;
    out.counter(
        "sip_flood_dropped",
        "SIP messages dropped unread: an address other than a trunk's sent more than its share",
        number(m, "sip_flood_dropped").map(|n| (Vec::new(), n)),
    )?;
    let Some(sip) = m.get("sip").and_then(Value::as_object) else {
        return Ok(());
    };
    out.counter(
        "sip_messages_received",
        "SIP messages received",
        number(sip, "received").map(|n| (Vec::new(), n)),
    )?;
    out.counter(
        "sip_messages_refused",
        "SIP messages refused, by cause",
        [
            ("unparsable", "unparsable"),
            ("bad_request", "bad_requests"),
            ("overloaded", "overloaded"),
        ]
        .into_iter()
        .filter_map(|(cause, key)| {
            number(sip, key).map(|n| (vec![("cause", cause.to_owned())], n))
        }),
    )?;
    out.counter(
        "sip_retransmissions",
        "SIP retransmissions, received (in) and sent (out)",
        [("in", "retransmissions_in"), ("out", "retransmissions_out")]
            .into_iter()
            .filter_map(|(direction, key)| {
                number(sip, key).map(|n| (vec![("direction", direction.to_owned())], n))
            }),
    )
}

fn ami(out: &mut Series<'_, '_>, m: &Map<String, Value>) -> fmt::Result {
    let Some(ami) = m.get("ami").and_then(Value::as_object) else {
        return Ok(());
    };
    out.counter(
        "ami_refused",
        "AMI connections refused or closed before a login, by cause",
        ami.iter()
            .filter_map(|(cause, n)| n.as_f64().map(|n| (vec![("cause", cause.clone())], n))),
    )
}

/// The media core's `campaigns`: each recent campaign's recipients by status and its
/// finished attempts by outcome, from the replicated ledger (so both nodes report the same
/// figures; a dashboard takes the master's).
fn campaigns(out: &mut Series<'_, '_>, m: &Map<String, Value>) -> fmt::Result {
    let list: Vec<&Map<String, Value>> = m
        .get("campaigns")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let per = |key: &'static str, label: &'static str| {
        list.iter()
            .flat_map(move |c| {
                let name = text(c, "name").unwrap_or_default().to_owned();
                c.get(key)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter_map(move |(k, n)| {
                        let labels: Labels = vec![("campaign", name.clone()), (label, k.clone())];
                        n.as_f64().map(|n| (labels, n))
                    })
            })
            .collect::<Vec<_>>()
    };
    out.gauge(
        "campaign_state",
        "1 for each recent campaign, labelled with its state",
        list.iter().map(|c| {
            (
                vec![
                    ("campaign", text(c, "name").unwrap_or_default().to_owned()),
                    ("state", text(c, "state").unwrap_or_default().to_owned()),
                ],
                1.0,
            )
        }),
    )?;
    out.gauge(
        "campaign_recipients",
        "a campaign's recipients by status (pending, calling, confirmed, gave_up, stopped)",
        per("recipients", "status"),
    )?;
    out.gauge(
        "campaign_attempts",
        "a campaign's finished attempts by outcome, from the ledger",
        per("attempts", "outcome"),
    )
}

fn sync(out: &mut Series<'_, '_>, s: &Map<String, Value>) -> fmt::Result {
    out.gauge(
        "sync_connected",
        "1 while a session with the other node is up",
        s.get("peer").map(|p| (Vec::new(), flag(!p.is_null()))),
    )?;
    out.gauge(
        "sync_lag_seconds",
        "how long the two nodes have been out of step (0 in step; absent when unknown)",
        number(s, "lag_ms").map(|ms| (Vec::new(), ms / 1000.0)),
    )?;
    out.gauge(
        "sync_lag_records",
        "changes not yet on the backup",
        number(s, "lag_records").map(|n| (Vec::new(), n)),
    )?;
    out.gauge(
        "sync_last_change_timestamp_seconds",
        "when the last change was applied (backup) or acknowledged (master) (Unix time)",
        number(s, "last_change_at_ms").map(|ms| (Vec::new(), ms / 1000.0)),
    )?;
    out.gauge(
        "sync_divergent_waiting",
        "the other node's operator changes waiting for `divergence apply`",
        number(s, "divergent_waiting").map(|n| (Vec::new(), n)),
    )?;
    for (name, key, help) in [
        (
            "sync_bytes_sent",
            "bytes_sent",
            "bytes sent to the other node",
        ),
        (
            "sync_bytes_received",
            "bytes_received",
            "bytes received from the other node",
        ),
        ("sync_records", "records", "changes replicated"),
        ("sync_sessions", "sessions", "sessions with the other node"),
        (
            "sync_snapshots",
            "snapshots",
            "whole snapshots sent or taken",
        ),
        (
            "sync_errors",
            "errors",
            "errors (the last is in allertactl status)",
        ),
        (
            "sync_refused_peers",
            "refused_peers",
            "connections refused as not of this pair",
        ),
        (
            "sync_divergences",
            "divergences",
            "split brains found (both nodes wrote alone)",
        ),
    ] {
        out.counter(name, help, number(s, key).map(|n| (Vec::new(), n)))?;
    }
    Ok(())
}

fn number(m: &Map<String, Value>, key: &str) -> Option<f64> {
    m.get(key).and_then(Value::as_f64)
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}
