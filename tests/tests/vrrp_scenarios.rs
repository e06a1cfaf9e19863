//! Scenario tests of the VRRP state machine, in holo's conformance format:
//! `scenarios/vrrp/<case>/setup.json` (the router's config and how long to run),
//! `input.jsonl` (`{"at_ms": N, "input": …}`, events only: the runner ticks at every
//! deadline by itself) and `expected.jsonl` (`{"at_ms": N, "action": …}`, every action).
//!
//! `UPDATE_EXPECT=1 cargo test -p system-tests --test vrrp_scenarios` rewrites the expected
//! files; read the diff before committing it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use supervisor::vrrp::machine::{Action, Input, RouterConfig, VirtualRouter};
use supervisor::vrrp::packet::Version;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    version: u8,
    vrid: u8,
    priority: u8,
    adver_int_ms: u64,
    preempt: bool,
    #[serde(default)]
    preempt_delay_ms: u64,
    primary_ip: Ipv4Addr,
    vips: Vec<Ipv4Addr>,
    garp_master_delay_ms: Option<u64>,
    /// Run (ticking at deadlines) until this time.
    end_ms: u64,
    /// Windows `[from_ms, to_ms)` in which the process is frozen: a deadline falling in one
    /// is only seen at `to_ms`, after the inputs of that instant (the driver reads queued
    /// adverts before acting on a timer).
    #[serde(default)]
    freezes: Vec<(f64, f64)>,
}

#[derive(Deserialize)]
struct Step {
    at_ms: f64,
    input: Input,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Expected {
    at_ms: f64,
    action: Action,
}

fn run(setup: &Setup, steps: &[Step]) -> Vec<Expected> {
    let t0 = Instant::now();
    let at = |ms: f64| t0 + Duration::from_secs_f64(ms / 1000.0);
    let ms_of = |t: Instant| ((t - t0).as_secs_f64() * 1e6).round() / 1000.0;
    let mut vr = VirtualRouter::new(RouterConfig {
        version: if setup.version == 2 {
            Version::V2
        } else {
            Version::V3
        },
        vrid: setup.vrid,
        priority: setup.priority,
        adver_int: Duration::from_millis(setup.adver_int_ms),
        preempt: setup.preempt,
        preempt_delay: Duration::from_millis(setup.preempt_delay_ms),
        primary_ip: setup.primary_ip,
        vips: setup.vips.clone(),
        garp_master_delay: setup.garp_master_delay_ms.map(Duration::from_millis),
    });
    let mut log = Vec::new();
    let mut record = |t: Instant, actions: &mut Vec<Action>| {
        log.extend(actions.drain(..).map(|action| Expected {
            at_ms: ms_of(t),
            action,
        }));
    };
    let mut out = Vec::new();
    // When a deadline is actually seen: at once, or when the freeze it falls in ends.
    let seen = |d: Instant| {
        setup
            .freezes
            .iter()
            .find(|(from, to)| at(*from) <= d && d < at(*to))
            .map_or(d, |(_, to)| at(*to))
    };
    // Ticks strictly before `until` (inputs at `until` come first), or up to it at the end.
    let tick_until = |vr: &mut VirtualRouter,
                      until: Instant,
                      inclusive: bool,
                      out: &mut Vec<Action>,
                      record: &mut dyn FnMut(Instant, &mut Vec<Action>)| {
        while let Some(t) = vr
            .next_deadline()
            .map(seen)
            .filter(|t| *t < until || (inclusive && *t == until))
        {
            vr.handle(t, Input::Tick, out);
            record(t, out);
        }
    };
    for step in steps {
        let t = at(step.at_ms);
        tick_until(&mut vr, t, false, &mut out, &mut record);
        vr.handle(t, step.input.clone(), &mut out);
        record(t, &mut out);
    }
    tick_until(
        &mut vr,
        at(setup.end_ms as f64),
        true,
        &mut out,
        &mut record,
    );
    log
}

#[test]
fn recorded_scenarios_produce_the_expected_actions() {
    system_tests::scenarios::check("vrrp", 4, run);
}
