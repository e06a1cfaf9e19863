//! `config-bench`: how soon an operator's change on the master is in force on the backup.
//! The whole pair runs as shipped (the media core's files in the replicated tree); each
//! round the master's `manager.conf` gains a user (replaced by rename, as an editor or the
//! sync agent does), and the clock runs until that user logs in to the backup's AMI (a try
//! every 10 ms from the client, each on its own connection: `ami::first_login`). Prints the median, p99 and max over the rounds against
//! the target (p99 ≤ 1 s).
//!
//! `config-bench [--changes 50]`; needs root and the pair's tools.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use system_tests::appliance::{Appliance, Setup};
use system_tests::lab::{replace_file, Node};
use system_tests::voice::LAB_MANAGER;

fn main() {
    let mut changes = 50usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--changes" => {
                changes = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--changes N")
            }
            other => {
                eprintln!("config-bench: unknown argument {other} (known: --changes N)");
                std::process::exit(2);
            }
        }
    }
    let pair = Appliance::start("config-bench", Setup::default());
    let manager = pair.shared(Node::A).join("manager.conf");
    let backup = SocketAddr::from((Node::B.data_ip(), 5038));
    let client = pair.lab.ns("client");
    let from = system_tests::ami::extra_client_ips();
    for ip in &from {
        pair.lab.ip(
            "client",
            &["addr", "add", &format!("{ip}/24"), "dev", "eth0"],
        );
    }
    let mut text = LAB_MANAGER.to_owned();
    let mut took = Vec::with_capacity(changes);
    for i in 0..changes {
        let user = format!("bench{i}");
        text.push_str(&format!(
            "\n[{user}]\nsecret = s{i}\nread = system\nwrite = system\n"
        ));
        let start = Instant::now();
        replace_file(&manager, &text);
        let seen = system_tests::ami::first_login(
            &client,
            &from,
            backup,
            &user,
            &format!("s{i}"),
            Duration::from_millis(10),
            Duration::from_secs(10),
        );
        match seen {
            Some(at) => took.push(at.saturating_duration_since(start).as_secs_f64() * 1000.0),
            None => {
                eprintln!("config-bench: change {i} not in force on the backup within 10 s");
                std::process::exit(1);
            }
        }
        // Changes a second apart, as an operator makes them.
        std::thread::sleep(Duration::from_millis(300));
    }
    took.sort_by(f64::total_cmp);
    let pct = |p: f64| took[((took.len() as f64 * p).ceil() as usize).clamp(1, took.len()) - 1];
    println!(
        "config-bench: {changes} changes of manager.conf on the master, in force on the backup \
         (a new AMI user logs in) after: median {:.0} ms, p99 {:.0} ms, max {:.0} ms \
         (target p99 <= 1000 ms: {})",
        pct(0.5),
        pct(0.99),
        took[took.len() - 1],
        if pct(0.99) <= 1000.0 { "met" } else { "MISSED" }
    );
}
