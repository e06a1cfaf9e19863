//! `ami-bench`: the Asterisk Manager Interface under load, against the real media core
//! in the lab's namespaces (root), with plain AMI clients in the client namespace.
//!
//! ```text
//! ami-bench [--ping-clients 20] [--ping-rate 1000] [--ping-secs 10]
//!           [--listeners 50] [--calls 200]
//!   ping:    N clients together send `rate` Pings per second (each paced on its own
//!            schedule) for `secs`; round trips: median, p99, max
//!   fan-out: `listeners` clients with call events on; one more originates `calls` calls
//!            at once (a sipp UAS at the carrier answers, the dialplan waits 1 s and hangs
//!            up); every listener must receive every event of every call
//! ```
//! The issue's targets are printed beside the figures: 1000 Pings/s from 20 clients with
//! p99 < 5 ms; a 200-call burst to 50 clients with no event lost. No anchor runs here
//! (Asterisk is not in Debian 12).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use system_tests::ami::Client;
use system_tests::bench::{arg, ms, percentile};
use system_tests::lab::{Lab, Node};
use system_tests::prereq;
use system_tests::voice::{self, Voice};

const MANAGER: &str = "[general]\nenabled = yes\nport = 5038\nbindaddr = 0.0.0.0\n\n\
    [bench]\nsecret = bench\nread = system,call\nwrite = system,call,originate\n";

const DIALPLAN: &str = "[bench-out]\nexten => s,1,Wait(1)\n same => n,Hangup()\n";

fn main() {
    prereq::require_root("ami-bench");
    prereq::require_tools("ami-bench", &["sipp"]);
    let ping_clients = arg("--ping-clients", 20);
    let ping_rate = arg("--ping-rate", 1000);
    let ping_secs = arg("--ping-secs", 10);
    let listeners = arg("--listeners", 50);
    let calls = arg("--calls", 200);

    let lab = Lab::two_nodes("ami-bench");
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push('\n');
    voice.pjsip.push_str(&voice::outbound_pjsip());
    voice.dialplan.push('\n');
    voice.dialplan.push_str(DIALPLAN);
    voice.manager = Some(MANAGER.into());
    voice.log = "warn,allerta_mediacore=info".into();
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let addr = SocketAddr::new(Node::A.data_ip().into(), 5038);
    let ns = lab.ns("client");

    println!("ami-bench: the media core's AMI on {addr}, clients in {ns}");
    let ping = ping_phase(&ns, addr, ping_clients, ping_rate, ping_secs);
    let fan = fanout_phase(&lab, &ns, addr, listeners, calls);
    println!();
    println!("                         ours                      target");
    println!(
        "Ping round trips         {:>6.0}/s from {:>2} clients  {}/s from {} clients",
        ping.rate, ping_clients, 1000, 20
    );
    println!(
        "  median / p99 / max     {:.2} / {:.2} / {:.2} ms   p99 < 5 ms  {}",
        ms(ping.median),
        ms(ping.p99),
        ms(ping.max),
        if ping.p99 < Duration::from_millis(5) && ping.rate >= 0.99 * ping_rate as f64 {
            "MET"
        } else {
            "NOT MET"
        }
    );
    println!(
        "Fan-out                  {} calls to {} listeners    200 calls to 50 listeners",
        calls, listeners
    );
    println!(
        "  events per listener    {} (every listener: {})",
        fan.per_listener,
        if fan.identical {
            "the same"
        } else {
            "NOT the same"
        }
    );
    println!(
        "  lost                   {}                          none  {}",
        fan.lost,
        if fan.lost == 0 && fan.identical && fan.hangups == calls {
            "MET"
        } else {
            "NOT MET"
        }
    );
    println!(
        "  calls ended            {} of {} in {:.1} s; {} events delivered ({:.0}/s)",
        fan.hangups,
        calls,
        fan.elapsed.as_secs_f64(),
        fan.delivered,
        fan.delivered as f64 / fan.elapsed.as_secs_f64().max(0.001)
    );
    drop(node);
}

struct PingResult {
    rate: f64,
    median: Duration,
    p99: Duration,
    max: Duration,
}

/// `clients` connections, each paced at rate/clients Pings per second for `secs`.
fn ping_phase(ns: &str, addr: SocketAddr, clients: u64, rate: u64, secs: u64) -> PingResult {
    let period = Duration::from_secs_f64(clients as f64 / rate as f64);
    let per_client = secs * rate / clients;
    let mut conns: Vec<Client> = (0..clients)
        .map(|_| {
            let mut c = Client::connect(ns, addr);
            c.login_with_events("bench", "bench", "off");
            c
        })
        .collect();
    let start = Instant::now() + Duration::from_millis(200);
    let threads: Vec<_> = conns
        .drain(..)
        .enumerate()
        .map(|(k, mut c)| {
            std::thread::spawn(move || {
                // Spread the clients' schedules over one period.
                let offset = period.mul_f64(k as f64 / clients as f64);
                let mut rtts = Vec::with_capacity(per_client as usize);
                for i in 0..per_client {
                    let due = start + offset + period.mul_f64(i as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let id = format!("p{i}");
                    let sent = Instant::now();
                    c.send(&[("Action", "Ping"), ("ActionID", &id)]);
                    c.wait_for(Duration::from_secs(5), |m| {
                        m.get("ActionID") == Some(id.as_str())
                    })
                    .expect("pong");
                    rtts.push(sent.elapsed());
                }
                rtts
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("ping thread"))
        .collect();
    let elapsed = start.elapsed();
    all.sort();
    let result = PingResult {
        rate: all.len() as f64 / elapsed.as_secs_f64(),
        median: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        max: all.last().copied().unwrap_or_default(),
    };
    println!(
        "ping: {} round trips in {:.1} s ({:.0}/s): median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        elapsed.as_secs_f64(),
        result.rate,
        ms(result.median),
        ms(result.p99),
        ms(result.max)
    );
    result
}

struct FanResult {
    per_listener: String,
    identical: bool,
    lost: u64,
    hangups: u64,
    delivered: u64,
    elapsed: Duration,
}

/// `listeners` clients with call events; `calls` originated at once.
fn fanout_phase(lab: &Lab, ns: &str, addr: SocketAddr, listeners: u64, calls: u64) -> FanResult {
    let uas = voice::carrier_uas(lab, "uas", "16000", &["-m", &calls.to_string()]);
    let threads: Vec<_> = (0..listeners)
        .map(|_| {
            let mut c = Client::connect(ns, addr);
            c.login_with_events("bench", "bench", "call");
            std::thread::spawn(move || {
                let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                let mut hangups = 0;
                let mut dropped = false;
                while hangups < calls {
                    let Some(m) = c.next(Duration::from_secs(60)) else {
                        break;
                    };
                    if m.get("Response") == Some("Error") {
                        dropped = true;
                        break;
                    }
                    if let Some(e) = m.get("Event") {
                        *counts.entry(e.to_owned()).or_default() += 1;
                        if e == "Hangup" {
                            hangups += 1;
                        }
                    }
                }
                (counts, dropped, Instant::now())
            })
        })
        .collect();
    let mut control = Client::connect(ns, addr);
    control.login("bench", "bench");
    control.send(&[("Action", "Events"), ("EventMask", "off")]);
    let started = Instant::now();
    for i in 0..calls {
        control.send(&[
            ("Action", "Originate"),
            ("Channel", "PJSIP/0612345678@carrier-out"),
            ("Context", "bench-out"),
            ("Exten", "s"),
            ("Async", "true"),
            ("ActionID", &format!("o{i}")),
        ]);
    }
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("listener"))
        .collect();
    let last = results.iter().map(|r| r.2).max().unwrap_or(started);
    let _ = lab.wait_exit(&uas, Duration::from_secs(10));
    let first = &results[0].0;
    let identical = results.iter().all(|r| &r.0 == first);
    let dropped = results.iter().filter(|r| r.1).count();
    let hangups = results
        .iter()
        .map(|r| r.0.get("Hangup").copied().unwrap_or(0))
        .min()
        .unwrap_or(0);
    let most: u64 = results
        .iter()
        .map(|r| r.0.values().sum::<u64>())
        .max()
        .unwrap_or(0);
    let lost: u64 = results
        .iter()
        .map(|r| most - r.0.values().sum::<u64>())
        .sum::<u64>()
        + dropped as u64;
    let delivered: u64 = results.iter().map(|r| r.0.values().sum::<u64>()).sum();
    let per_listener = first
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "fan-out: {calls} calls, {listeners} listeners: {per_listener}; dropped listeners {dropped}"
    );
    FanResult {
        per_listener,
        identical,
        lost,
        hangups,
        delivered,
        elapsed: last.duration_since(started),
    }
}
