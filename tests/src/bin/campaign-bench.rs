//! `campaign-bench`: one alert campaign at scale against sipp citizens, in the lab's
//! namespaces (root).
//!
//! ```text
//! campaign-bench [--recipients 2000] [--lines 100] [--message-secs 20] [--cps 20]
//! ```
//! Citizens (`tests/sipp/uas_campaign_bench.xml`) ring for 1 s, answer, listen to the
//! message, press 1 and hang up. The bound a campaign cannot beat is set by the lines,
//! the ring time and the message: `recipients / lines × (ring + message)`, plus the
//! ramp (`lines / cps`). Printed: the completion time beside that bound, the media core's
//! CPU per call (dispatch, ledger, signalling and media together), the ledger's own
//! timings (dispatch → answer, answer → end), and how many confirmed.

use std::process::Command;
use std::time::{Duration, Instant};

use system_tests::bench::{arg, cpu_ticks, ticks_per_sec};
use system_tests::campaign;
use system_tests::lab::{Lab, Node};
use system_tests::prereq;
use system_tests::voice;

/// One number from the ledger (sqlite3 reads the live WAL database).
fn sql(db: &std::path::Path, query: &str) -> f64 {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(query)
        .output()
        .expect("sqlite3");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

fn main() {
    prereq::require_root("campaign-bench");
    prereq::require_tools("campaign-bench", &["sipp", "sqlite3"]);
    let recipients = arg("--recipients", 2000);
    let lines = arg("--lines", 100);
    let message_secs = arg("--message-secs", 20);
    let cps = arg("--cps", 20);
    let ring_secs = 1.0;

    let lab = Lab::two_nodes("cmp-bench");
    let mut v = campaign::campaign_voice(Node::A, lines as u32);
    v.prompts
        .push(("bench-message".into(), message_secs as f64));
    v.log = "warn,allerta_mediacore=info,mediacore::campaign::dialer=info".into();
    let node = voice::start_mediacore(&lab, Node::A, &v);
    assert!(voice::control(&lab, Node::A, "role master").starts_with("ok"));
    let mut csv = String::from("id,name,numbers\n");
    for i in 0..recipients {
        csv.push_str(&format!("B{i:05},Citizen {i},35{i:05}\n"));
    }
    let file = lab.write_file("bench.csv", &csv);
    campaign::admin_ok(
        &lab,
        Node::A,
        &[
            "contacts",
            "import",
            &file.to_string_lossy(),
            "--list",
            "all",
        ],
    );
    campaign::admin_ok(
        &lab,
        Node::A,
        &["message", "set", "m", "--recording", "bench-message"],
    );
    let (lines_s, cps_s) = (lines.to_string(), cps.to_string());
    campaign::admin_ok(
        &lab,
        Node::A,
        &[
            "campaign",
            "create",
            "bench",
            "--message",
            "m",
            "--list",
            "all",
            "--lines",
            &lines_s,
            "--cps",
            &cps_s,
            "--ring",
            "30",
            "--attempts",
            "1",
        ],
    );
    let sipp = voice::carrier_uas(
        &lab,
        "uas_campaign_bench.xml",
        "16000",
        &["-max_socket", "5000"],
    );
    let pid = node.pid;
    let ticks = cpu_ticks(pid);
    let started = Instant::now();
    campaign::admin_ok(&lab, Node::A, &["campaign", "start", "bench"]);
    println!(
        "campaign-bench: {recipients} recipients, {lines} lines, {message_secs} s message, {cps} calls/s"
    );
    let mut last_print = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if campaign::state(&lab, Node::A, "bench") == "done" {
            break;
        }
        if last_print.elapsed() > Duration::from_secs(30) {
            let s = campaign::admin_ok(&lab, Node::A, &["campaign", "status", "bench"]);
            println!(
                "  {:>4.0} s  {}",
                started.elapsed().as_secs_f64(),
                s.lines().nth(1).unwrap_or("")
            );
            last_print = Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "not done in an hour"
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_secs = (cpu_ticks(pid) - ticks) as f64 / ticks_per_sec();
    let db = lab.dir().join("voice-node-a/allerta.db");
    let confirmed = sql(
        &db,
        "SELECT count(*) FROM recipients WHERE status = 'confirmed'",
    );
    let first = sql(&db, "SELECT min(started_at) FROM attempts");
    let last = sql(&db, "SELECT max(ended_at) FROM attempts");
    let to_answer = sql(
        &db,
        "SELECT avg(answered_at - started_at) FROM attempts WHERE answered_at IS NOT NULL",
    );
    let answered_len = sql(
        &db,
        "SELECT avg(ended_at - answered_at) FROM attempts WHERE answered_at IS NOT NULL",
    );
    let ledger_span = (last - first) / 1000.0;
    let per_call = ring_secs + message_secs as f64;
    let bound = recipients as f64 / lines as f64 * per_call + lines as f64 / cps as f64;
    drop(sipp);
    println!();
    println!(
        "completion              {elapsed:.1} s (ledger: first dial → last end {ledger_span:.1} s)"
    );
    println!(
        "bound                   {bound:.1} s = {recipients}/{lines} × ({ring_secs:.0} s ring + {message_secs} s message) + {:.1} s ramp",
        lines as f64 / cps as f64
    );
    println!(
        "over the bound          {:+.1} %  (target: within 10 %: {})",
        (ledger_span / bound - 1.0) * 100.0,
        if ledger_span <= bound * 1.10 {
            "MET"
        } else {
            "NOT MET"
        }
    );
    println!("confirmed               {confirmed:.0} of {recipients}");
    println!(
        "per call (ledger)       dial → answer {:.0} ms, answer → end {:.0} ms",
        to_answer, answered_len
    );
    // What the campaign spent beyond the calls themselves: per round of `lines` calls,
    // the time between one call's end and the next one's dial (planner tick, ledger writes).
    let rounds = (recipients as f64 / lines as f64).ceil();
    let call_secs = (to_answer + answered_len) / 1000.0;
    let gap = (ledger_span - lines as f64 / cps as f64 - rounds * call_secs) / rounds;
    println!(
        "dispatch gap            {:.0} ms per line per round (end of a call → next dial)",
        gap * 1000.0
    );
    println!(
        "media core CPU          {cpu_secs:.1} s in all, {:.1} ms per call (dispatch, ledger, SIP, RTP)",
        cpu_secs * 1000.0 / recipients as f64
    );
}
