//! The shipped pair's metrics as a real Prometheus (Debian's) scrapes them from the client
//! network, through a campaign and a failover (node-a's media core killed):
//! - `promtool check metrics` accepts each node's exposition;
//! - the series keep their `vrrp_instance` label beside Prometheus's own `instance`;
//! - after the failover exactly one node is master, node-b, and its transitions counter
//!   and detection histogram record it;
//! - campaign, trunk, sync and build series arrive from both nodes;
//! - every query of the shipped Grafana dashboard (`supervisor/dashboards/allerta-pair.json`)
//!   is valid and returns data.
//!
//! The failover, `allerta_vrrp_state{state="master"}` graphed by Prometheus's own page, is saved as a screenshot
//! (`target/artifacts/metrics/`). Needs root, prometheus and promtool, curl, sipp, tshark,
//! chromium and chromedriver.
//!
//! Lab differences (beyond the pair's own, `shipped_node`): Prometheus scrapes every second
//! (a site would scrape every 15 to 60 s), and Grafana is not run: it is not in Debian, so
//! the dashboard's queries are evaluated by Prometheus itself.

use std::time::Duration;

use serde_json::Value;
use system_tests::appliance::{Appliance, Setup};
use system_tests::browser::Browser;
use system_tests::campaign::Citizen;
use system_tests::failover::MEDIACORE;
use system_tests::lab::{Lab, Node};
use system_tests::prereq;

const PROMETHEUS: &str = "127.0.0.1:9090";

/// Polls `f` every 250 ms (each poll runs curl) until it holds or `timeout` passes.
fn wait_until(timeout: Duration, f: impl FnMut() -> bool) -> bool {
    system_tests::lab::wait_until_every(timeout, Duration::from_millis(250), f).is_some()
}

fn target(node: Node) -> String {
    format!("{}:9480", node.data_ip())
}

/// `curl <args>` from the client network; its output.
fn curl(lab: &Lab, args: &[&str]) -> std::process::Output {
    let out = lab.exec(
        "client",
        "curl",
        &[&["-sS", "--max-time", "5"], args].concat(),
    );
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    out
}

/// A node's raw `/metrics`, fetched from the client network.
fn scrape(lab: &Lab, node: Node) -> String {
    let out = curl(lab, &[&format!("http://{}/metrics", target(node))]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An instant query's result vector (each element has `metric` and `value`).
fn query(lab: &Lab, expr: &str) -> Vec<Value> {
    let out = curl(
        lab,
        &[
            "-G",
            &format!("http://{PROMETHEUS}/api/v1/query"),
            "--data-urlencode",
            &format!("query={expr}"),
        ],
    );
    let body: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "Prometheus's answer to {expr}: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(body["status"], "success", "query {expr}: {body}");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The single sample of `expr` for `node`, if there is one.
fn one(lab: &Lab, expr: &str, node: Node) -> Option<f64> {
    let found: Vec<f64> = query(lab, expr)
        .iter()
        .filter(|s| s["metric"]["node"] == node.role())
        .map(value)
        .collect();
    assert!(found.len() <= 1, "{expr} for {}: {found:?}", node.role());
    found.first().copied()
}

#[test]
fn prometheus_scrapes_the_pair_through_a_campaign_and_a_failover() {
    let name = "metrics";
    prereq::require_tools(name, &["prometheus", "promtool", "curl"]);
    let pair = Appliance::start(
        name,
        Setup {
            lines: 4,
            ..Setup::default()
        },
    );
    let lab = &pair.lab;
    let config = lab.write_file(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: allerta\n    static_configs:\n      \
             - targets: [\"{}\", \"{}\"]\n",
            target(Node::A),
            target(Node::B)
        ),
    );
    let storage = lab.dir().join("prometheus-data");
    let prometheus = lab.spawn(
        "client",
        "prometheus",
        &prereq::which("prometheus").expect("prometheus"),
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", storage.display()),
            &format!("--web.listen-address={PROMETHEUS}"),
        ],
        &[],
    );

    // Each node's exposition passes Prometheus's own linter.
    for node in [Node::A, Node::B] {
        let text = scrape(lab, node);
        let exposition = lab.write_file(&format!("metrics-{}.txt", node.role()), &text);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "promtool check metrics < '{}'",
                exposition.display()
            ))
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "promtool check metrics on {}:\n{}{}",
            node.role(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A campaign, and the master's media core killed in the middle of it.
    let confirm = 8;
    pair.start_campaign(
        Node::A,
        "allerta-metriche",
        &[(Citizen::Confirms, confirm), (Citizen::NoAnswer, 2)],
    );
    assert!(
        wait_until(Duration::from_secs(60), || pair
            .progress(Node::A, "allerta-metriche")
            .is_some_and(|p| p.finished() >= 3)),
        "the campaign never got going"
    );
    pair.kill_component(Node::A, MEDIACORE);
    assert!(
        wait_until(Duration::from_secs(20), || pair.master() == Some(Node::B)),
        "node-b never took the VIP"
    );
    assert!(
        wait_until(Duration::from_secs(120), || pair
            .progress(Node::B, "allerta-metriche")
            .is_some_and(|p| p.state == "done")),
        "the campaign never finished on node-b: {:?}",
        pair.progress(Node::B, "allerta-metriche")
    );

    // Prometheus sees it: one master, node-b, with Prometheus's `instance` beside ours.
    assert!(
        wait_until(Duration::from_secs(30), || {
            let masters = query(lab, r#"allerta_vrrp_state{state="master"} == 1"#);
            masters.len() == 1 && masters[0]["metric"]["node"] == "node-b"
        }),
        "Prometheus never saw node-b alone as master: {:?}",
        query(lab, r#"allerta_vrrp_state{state="master"}"#)
    );
    let master = &query(lab, r#"allerta_vrrp_state{state="master"} == 1"#)[0]["metric"];
    assert_eq!(master["vrrp_instance"], "data");
    assert_eq!(master["instance"], target(Node::B).as_str());
    assert!(master.get("exported_instance").is_none(), "{master}");

    // node-a went to Fault for its media core, node-b took over as node-a left.
    for (node, reason) in [(Node::A, "Fault"), (Node::B, "MasterLeft")] {
        let expr = format!(r#"allerta_transitions_total{{reason="{reason}"}}"#);
        assert_eq!(
            one(lab, &expr, node),
            Some(1.0),
            "{}: {:?}",
            node.role(),
            query(lab, "allerta_transitions_total")
        );
    }
    // The node that saw the cause (its media core killed) measured how fast it saw it.
    assert_eq!(
        one(lab, "allerta_failover_detection_seconds_count", Node::A),
        Some(1.0),
        "node-a's detection histogram"
    );
    let mean = one(
        lab,
        "allerta_failover_detection_seconds_sum / allerta_failover_detection_seconds_count",
        Node::A,
    )
    .unwrap();
    assert!(
        mean < 2.0,
        "a killed media core is seen within a second or two, not {mean} s"
    );

    // The campaign's figures, the same from both nodes (the ledger is replicated).
    assert!(
        wait_until(Duration::from_secs(20), || {
            [Node::A, Node::B].iter().all(|n| {
                one(
                    lab,
                    r#"allerta_campaign_recipients{campaign="allerta-metriche",status="confirmed"}"#,
                    *n,
                ) == Some(confirm as f64)
            }) && one(
                lab,
                r#"allerta_campaign_state{campaign="allerta-metriche",state="done"}"#,
                Node::B,
            ) == Some(1.0)
        }),
        "the finished campaign: {:?} {:?}",
        query(
            lab,
            r#"allerta_campaign_state{campaign="allerta-metriche"}"#
        ),
        query(
            lab,
            r#"allerta_campaign_recipients{campaign="allerta-metriche"}"#
        )
    );
    for node in [Node::A, Node::B] {
        for expr in [
            "allerta_build_info",
            "allerta_trunk_registered",
            "allerta_calls_total",
            "allerta_sync_lag_records",
            "allerta_vrrp_peer_last_seen_timestamp_seconds",
        ] {
            assert!(
                query(lab, expr)
                    .iter()
                    .any(|s| s["metric"]["node"] == node.role()),
                "{expr} from {}: {:?}",
                node.role(),
                query(lab, expr)
            );
        }
    }
    assert!(
        wait_until(Duration::from_secs(30), || {
            one(lab, "allerta_sync_connected", Node::A) == Some(1.0)
                && one(lab, "allerta_sync_connected", Node::B) == Some(1.0)
        }),
        "the sync agents never met again after node-a's media core restarted"
    );

    // Every query of the shipped dashboard is valid and has data.
    let dashboard: Value = serde_json::from_str(include_str!(
        "../../supervisor/dashboards/allerta-pair.json"
    ))
    .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("expr");
            // Grafana's interval variable, as Grafana would fill it in for a short range.
            let expr = expr.replace("$__rate_interval", "1m");
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            exprs.push((title, expr));
        }
    }
    assert!(exprs.len() >= 14, "{} queries", exprs.len());
    for (title, expr) in &exprs {
        assert!(
            !query(lab, expr).is_empty(),
            "the dashboard's panel {title:?} has no data: {expr}"
        );
    }

    // The failover as Prometheus's own page graphs it, for the README.
    let graphs = [r#"allerta_vrrp_state{state="master"}"#];
    let url = graphs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("g{i}.expr={}&g{i}.tab=0&g{i}.range_input=1m", urlencode(e)))
        .collect::<Vec<_>>()
        .join("&");
    let browser = Browser::start_in(lab, "client", name, "metrics");
    browser.goto(&format!("http://{PROMETHEUS}/graph?{url}"));
    // Debian's Prometheus serves its classic page: a Rickshaw graph (SVG) per query.
    browser.wait(".graph_area svg", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    browser.execute("window.scrollTo(0, 0); return true;");
    browser.screenshot("prometheus-after-failover");
    drop(browser);
    lab.signal(&prometheus, nix::sys::signal::Signal::SIGTERM);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
