//! Scenario tests of the media core's SIP switch (`mediacore::sip::switch`), in the format of
//! the VRRP scenarios: `scenarios/sip/<case>/setup.json` (the trunks as `pjsip.conf` lines and
//! the call limit), `input.jsonl` (`{"at_ms": N, "from": ip, "calls": n, "request": [lines],
//! "authorize": {"username", "password"}}`: a request as a peer sends it; `authorize` answers
//! the latest challenge the switch gave, as a SIP client would) and `expected.jsonl` (what the
//! switch decided for each request).
//!
//! `UPDATE_EXPECT=1 cargo test -p system-tests --test sip_scenarios` rewrites the expected
//! files; read the diff before committing it.

use std::time::{Duration, Instant};

use mediacore::conf::pjsip::{PjsipConfig, Trunk};
use mediacore::sip::switch::{Decision, Switch};
use mediacore::sip::{digest, message};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    max_calls: usize,
    pjsip: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at_ms: u64,
    from: String,
    #[serde(default)]
    calls: usize,
    request: Vec<String>,
    authorize: Option<Login>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

/// A decision as the scenario files write it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Drop,
    InDialog {
        call_id: String,
    },
    Respond {
        code: u16,
        challenge: bool,
    },
    Refuse {
        code: u16,
        reason: String,
    },
    Call {
        trunk: String,
        exten: String,
        caller: String,
        authenticated: bool,
    },
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Expected {
    at_ms: u64,
    outcome: Outcome,
}

fn run(setup: &Setup, steps: &[Step]) -> Vec<Expected> {
    let pjsip = PjsipConfig::parse_str(&(setup.pjsip.join("\n") + "\n"), "pjsip.conf")
        .expect("setup.json: pjsip");
    let trunks: Vec<&Trunk> = pjsip.trunks().iter().collect();
    let t0 = Instant::now();
    let mut switch = Switch::new(setup.max_calls, t0);
    let mut challenge: Option<digest::Challenge> = None;
    let mut out = Vec::new();
    for step in steps {
        let mut lines = step.request.clone();
        if let Some(login) = &step.authorize {
            let c = challenge.as_ref().expect("authorize before any challenge");
            let uri = lines[0].split(' ').nth(1).unwrap().to_owned();
            let method = lines[0].split(' ').next().unwrap().to_owned();
            let value = digest::authorization(
                c,
                &login.username,
                &login.password,
                &method,
                &uri,
                1,
                "c0ffee",
            );
            lines.push(format!("Authorization: {value}"));
        }
        lines.push("Content-Length: 0".into());
        let text = lines.join("\r\n") + "\r\n\r\n";
        let request = match message::parse(text.as_bytes()) {
            Ok(message) => message.try_into().expect("a request, not a response"),
            Err(e) => panic!("not a SIP message ({e}):\n{text}"),
        };
        let now = t0 + Duration::from_millis(step.at_ms);
        let peer = step.from.parse().expect("from: an IP address");
        let outcome = match switch.request(now, &request, peer, trunks.iter().copied(), step.calls)
        {
            Decision::Drop => Outcome::Drop,
            Decision::InDialog(d) => Outcome::InDialog { call_id: d.call_id },
            Decision::Respond(r) => {
                let offered = message::header(&r.headers, "WWW-Authenticate");
                if let Some(value) = offered {
                    challenge = Some(digest::Challenge::parse(value).expect("our challenge"));
                }
                Outcome::Respond {
                    code: r.status_code.code(),
                    challenge: offered.is_some(),
                }
            }
            Decision::Refuse { response, reason } => Outcome::Refuse {
                code: response.status_code.code(),
                reason: reason.into(),
            },
            Decision::Call {
                trunk,
                exten,
                caller,
                authenticated,
            } => Outcome::Call {
                trunk: trunks[trunk].name.clone(),
                exten,
                caller,
                authenticated,
            },
        };
        out.push(Expected {
            at_ms: step.at_ms,
            outcome,
        });
    }
    out
}

#[test]
fn recorded_scenarios_produce_the_expected_decisions() {
    system_tests::scenarios::check("sip", 5, run);
}
