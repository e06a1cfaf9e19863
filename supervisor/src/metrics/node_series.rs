//! Pure: the supervisor's own series: the build, VRRP per instance, transitions and how
//! fast their causes were seen, maintenance, component and check health, the service probe.
//!
//! The VRRP instance's label is `vrrp_instance`: a label named `instance` would collide with
//! the one Prometheus sets on every scrape, and be renamed `exported_instance`.

use std::fmt;

use super::exposition::{flag, one, Labels, Series};
use crate::control::protocol::{CheckStatus, Detection, Status};
use crate::vrrp::machine::State;
use crate::vrrp::status::InstanceStatus;

/// What the binary was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn write(out: &mut Series<'_, '_>, s: &Status) -> fmt::Result {
    out.gauge(
        "build_info",
        "the supervisor's version (always 1)",
        [(vec![("version", VERSION.to_owned())], 1.0)],
    )?;
    vrrp(out, &s.instances)?;
    out.gauge(
        "maintenance",
        "1 while in maintenance",
        one(flag(s.maintenance)),
    )?;
    out.counter(
        "transitions",
        "transitions to or from master since the supervisor started, by reason",
        s.transitions_by_reason
            .iter()
            .map(|(reason, n)| (vec![("reason", reason.clone())], *n as f64)),
    )?;
    if let Some(last) = s.last_transitions.first() {
        out.gauge(
            "last_transition_timestamp_seconds",
            "when the latest state change happened (Unix time)",
            [(
                vec![
                    ("vrrp_instance", last.instance.clone()),
                    ("to", last.to.to_lowercase()),
                    ("reason", last.reason.clone()),
                ],
                last.at_ms as f64 / 1000.0,
            )],
        )?;
    }
    detection(out, &s.detection)?;
    out.gauge(
        "component_up",
        "1 while the component is healthy",
        health("component", &s.components),
    )?;
    out.gauge(
        "component_downs",
        "times the component went down since the supervisor started",
        s.components
            .iter()
            .map(|c| (vec![("component", c.name.clone())], c.downs as f64)),
    )?;
    out.gauge(
        "check_up",
        "1 while the check passes",
        health("check", &s.checks),
    )?;
    if let Some(a) = s.availability.as_ref().filter(|a| a.up.is_some()) {
        out.gauge(
            "service_up",
            "1 while the service answers as a client sees it (the availability probe)",
            [(
                vec![("service", a.service.clone())],
                flag(a.up == Some(true)),
            )],
        )?;
    }
    Ok(())
}

fn vrrp(out: &mut Series<'_, '_>, instances: &[InstanceStatus]) -> fmt::Result {
    let per = |f: &dyn Fn(&InstanceStatus) -> f64| {
        instances
            .iter()
            .map(|i| (vec![("vrrp_instance", i.name.clone())], f(i)))
            .collect::<Vec<_>>()
    };
    let states = [
        (State::Initialize, "initialize"),
        (State::Backup, "backup"),
        (State::Master, "master"),
        (State::Fault, "fault"),
    ];
    out.gauge(
        "vrrp_state",
        "1 for the state the instance is in, 0 for the others",
        instances.iter().flat_map(|i| {
            states.map(|(state, name)| {
                (
                    vec![
                        ("vrrp_instance", i.name.clone()),
                        ("state", name.to_owned()),
                    ],
                    flag(i.state == state),
                )
            })
        }),
    )?;
    out.gauge(
        "vrrp_priority",
        "priority advertised now",
        per(&|i| f64::from(i.priority)),
    )?;
    out.counter(
        "vrrp_adverts_sent",
        "adverts sent",
        per(&|i| i.stats.adverts_sent as f64),
    )?;
    out.counter(
        "vrrp_adverts_received",
        "adverts received and accepted",
        per(&|i| i.stats.adverts_received as f64),
    )?;
    out.counter(
        "vrrp_adverts_dropped",
        "adverts dropped, by cause",
        instances.iter().flat_map(|i| {
            [
                ("malformed", i.stats.dropped_malformed),
                ("not_from_peer", i.stats.dropped_not_from_peer),
            ]
            .map(|(cause, n)| {
                let labels: Labels = vec![
                    ("vrrp_instance", i.name.clone()),
                    ("cause", cause.to_owned()),
                ];
                (labels, n as f64)
            })
        }),
    )?;
    out.gauge(
        "vrrp_peer_last_seen_timestamp_seconds",
        "when the last advert from another router was heard (Unix time)",
        instances.iter().filter_map(|i| {
            i.peer_last_heard_ms
                .map(|ms| (vec![("vrrp_instance", i.name.clone())], ms as f64 / 1000.0))
        }),
    )
}

fn detection(out: &mut Series<'_, '_>, d: &Detection) -> fmt::Result {
    let buckets: Vec<(f64, u64)> = Detection::BOUNDS_S
        .iter()
        .enumerate()
        .map(|(i, bound)| (*bound, d.buckets.get(i).copied().unwrap_or(0)))
        .collect();
    out.histogram(
        "failover_detection_seconds",
        "from a cause (a component down, the peer silent) to the transition it brought",
        d.sum_s,
        d.count,
        &buckets,
    )
}

fn health(kind: &'static str, list: &[CheckStatus]) -> Vec<(Labels, f64)> {
    list.iter()
        .map(|c| (vec![(kind, c.name.clone())], flag(c.up)))
        .collect()
}
