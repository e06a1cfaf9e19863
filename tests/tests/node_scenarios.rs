//! Scenario tests of the node's policy (`supervisor::node`), in the format of the VRRP and
//! SIP scenarios: `scenarios/node/<case>/setup.json` (the node file, as lines, and whether
//! maintenance was left on), `input.jsonl` (`{"at_ms": N, "event": …}`: what the components,
//! the checks and the operator report) and `expected.jsonl` (after each event: the orders to
//! the VRRP instances, a refusal if any, the faults and the cause an operator would read).
//!
//! `UPDATE_EXPECT=1 cargo test -p system-tests --test node_scenarios` rewrites the expected
//! files; read the diff before committing it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use supervisor::node::{Node, Order};
use supervisor::vrrp::machine::State;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    /// What the case shows, for a reader.
    #[allow(dead_code)]
    about: String,
    maintenance: bool,
    node_toml: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Event {
    /// The driver asks for the first decision (at start-up).
    Decide,
    Started {
        component: String,
        pid: u32,
    },
    Exited {
        component: String,
        reason: String,
    },
    /// A probe of a component or a run of a check: `error` is why it failed.
    Probed {
        check: String,
        error: Option<String>,
    },
    /// A component's `status` answer.
    Status {
        component: String,
        status: serde_json::Value,
    },
    Maintenance {
        on: bool,
    },
    /// `allertactl switchover --drain N`, with the first instance in `first`.
    Switchover {
        first: Option<State>,
        drain_secs: u32,
    },
    /// The switchover's drains are over.
    DrainEnded {
        first: Option<State>,
    },
    /// `allertactl promote` (after its peer check).
    Promote {
        first: Option<State>,
    },
}

#[derive(Deserialize)]
struct Step {
    at_ms: u64,
    event: Event,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Expected {
    at_ms: u64,
    orders: Vec<Order>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
    faults: Vec<String>,
    cause: Option<String>,
}

fn run(setup: &Setup, steps: &[Step]) -> Vec<Expected> {
    let config = supervisor::config::parse(Path::new("node.toml"), &setup.node_toml.join("\n"))
        .expect("the case's node file");
    let mut node = Node::new(&config, setup.maintenance);
    let t0 = Instant::now();
    steps
        .iter()
        .map(|step| {
            let now = t0 + Duration::from_millis(step.at_ms);
            let mut refused = None;
            let mut refusal = |r: supervisor::node::Refusal| {
                refused = Some(r.to_string());
                Vec::new()
            };
            let orders = match &step.event {
                Event::Decide => node.decide(),
                Event::Started { component, pid } => {
                    node.started(component, *pid);
                    Vec::new()
                }
                Event::Exited { component, reason } => node.exited(now, component, reason.clone()),
                Event::Probed { check, error } => {
                    node.probed(now, check, error.clone().map_or(Ok(()), Err))
                }
                Event::Status { component, status } => {
                    node.status_reported(now, component.clone(), status.clone())
                }
                Event::Maintenance { on } => node.set_maintenance(now, *on),
                Event::Switchover { first, drain_secs } => {
                    match Node::switchover_refusal(*first, *drain_secs) {
                        Some(r) => refusal(r),
                        None => Vec::new(),
                    }
                }
                Event::DrainEnded { first } => {
                    node.switch_over(now, *first).unwrap_or_else(refusal)
                }
                Event::Promote { first } => node.promote(now, *first).unwrap_or_else(refusal),
            };
            Expected {
                at_ms: step.at_ms,
                orders,
                refused,
                faults: node.faults(Vec::new()),
                cause: node.cause(now).map(|(what, _)| what),
            }
        })
        .collect()
}

#[test]
fn recorded_node_scenarios() {
    system_tests::scenarios::check("node", 8, run);
}
