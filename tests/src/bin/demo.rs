//! `demo`: the two-node Allerta pair in network namespaces, with a live timeline.
//!
//! Node A (priority 250) and node B (240) run the supervisor, each wrapping its media core and
//! sync agent; a client probes the virtual IP every 10 ms. The demo kills A's media core,
//! hangs it, kills A's supervisor, stops it gracefully and cuts its cable, bringing A back
//! each time, and prints what the client saw. `--keep` leaves the lab up.
//! (Media core, sync and campaigns join the demo as their issues land.)

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use system_tests::failover::{Fault, Pair, Setup};
use system_tests::lab::{Node, VIP};
use system_tests::nodes::Speaker;

const INTERVAL_MS: u64 = 100;

fn main() {
    let keep = std::env::args().any(|a| a == "--keep");
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!("usage: demo [--keep]   (as root; ./allerta demo builds and runs it)");
        return;
    }
    let t0 = Instant::now();
    let say = |text: &str| println!("[{:>7.3} s] {text}", t0.elapsed().as_secs_f64());
    println!("Allerta demo: two appliance nodes in network namespaces\n");
    say(&format!(
        "building the lab: node-a {} and node-b {} on the data network, VIP {VIP}, a client at 10.77.0.100",
        Node::A.data_ip(),
        Node::B.data_ip()
    ));
    say(&format!(
        "starting the supervisors (each with its media core and sync agent): advert every {INTERVAL_MS} ms, node-a priority 250, node-b 240"
    ));
    let setup = Setup {
        interval_ms: INTERVAL_MS,
        priorities: (250, 240),
        watch_media_core: true,
    };
    let mut pair = Pair::start_with("demo", Speaker::Allerta, setup);
    let stop = Arc::new(AtomicBool::new(false));
    let tail = spawn_log_tail(pair.lab.dir().to_path_buf(), t0, stop.clone());
    say(&format!(
        "the client reaches the VIP on node-a (lab {})",
        pair.lab.prefix()
    ));

    let mut summary = Vec::new();
    for (fault, what) in [
        (Fault::ComponentKill, "SIGKILL of node-a's media core"),
        (
            Fault::ComponentHang,
            "node-a's media core hangs (SIGSTOP; resumed once node-b answers)",
        ),
        (Fault::Kill, "SIGKILL of node-a's supervisor (a crash)"),
        (
            Fault::Graceful,
            "SIGTERM to node-a's supervisor (a planned stop)",
        ),
        (
            Fault::LinkDown,
            "node-a's data cable unplugged at the switch",
        ),
    ] {
        std::thread::sleep(Duration::from_secs(2));
        println!();
        say(&format!("FAULT: {what}"));
        match pair.trial(fault) {
            Ok(trial) => {
                let out = trial.outage.unwrap_or_default();
                let back = trial.failback.unwrap_or_default();
                say(&format!(
                    "client: the VIP answered from node-b after {:.0} ms; node-a came back and took its role back ({:.0} ms of probes lost)",
                    out.as_secs_f64() * 1000.0,
                    back.as_secs_f64() * 1000.0
                ));
                if fault == Fault::Kill {
                    say(if trial.vip_left_behind {
                        "  node-a kept the VIP after dying (keepalived's behaviour)"
                    } else {
                        "  node-a's VIP guard released the VIP and sent priority 0 the moment the supervisor died"
                    });
                }
                summary.push((fault, Some((out, back))));
            }
            Err(e) => {
                say(&format!("FAILED: {e}"));
                summary.push((fault, None));
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let _ = tail.join();

    println!("\nSummary (client side, probe every 10 ms, advert interval {INTERVAL_MS} ms; failover = the outage the client saw,");
    println!("or for a media core fault the time until node-b answered, since node-a's own VIP kept answering)");
    println!(
        "{:<28} {:>12} {:>18}",
        "fault on the master", "failover", "failback (A back)"
    );
    let mut ok = true;
    for (fault, result) in &summary {
        match result {
            Some((out, back)) => println!(
                "{:<28} {:>9.0} ms {:>15.0} ms",
                fault.name(),
                out.as_secs_f64() * 1000.0,
                back.as_secs_f64() * 1000.0
            ),
            None => {
                ok = false;
                println!("{:<28} {:>12}", fault.name(), "FAILED");
            }
        }
    }
    println!("VIP holders now: {:?}", pair.lab.vip_holders());

    if keep {
        println!("\nThe lab stays up (--keep). Explore it, for example:");
        for role in ["node-a", "node-b", "client"] {
            println!("  ip netns exec {} ip -br addr", pair.lab.ns(role));
        }
        println!("  logs and configs: {}", pair.lab.dir().display());
        println!("Press Ctrl-C to tear it down.");
        let _ = std::io::stdout().flush();
        wait_for_ctrl_c();
    }
    drop(pair);
    println!("lab torn down; nothing left running");
    if !ok {
        std::process::exit(1);
    }
}

fn wait_for_ctrl_c() {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGINT);
    set.add(nix::sys::signal::Signal::SIGTERM);
    let _ = set.thread_block();
    let _ = set.wait();
}

/// Prints the supervisors' state changes and VIP moves as they appear in their logs.
fn spawn_log_tail(dir: PathBuf, t0: Instant, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut offsets: HashMap<PathBuf, usize> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.retain(|p| p.extension().is_some_and(|e| e == "log"));
            files.sort();
            for path in files {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let seen = offsets.entry(path.clone()).or_insert(0);
                let node = if path.to_string_lossy().contains("node-a") {
                    "node-a"
                } else {
                    "node-b"
                };
                // Only whole lines: the writer may be half-way through one.
                let new = &text[*seen..];
                let complete = new.rfind('\n').map_or(0, |i| i + 1);
                for line in new[..complete].lines() {
                    if let Some(event) = describe(line) {
                        println!("[{:>7.3} s]   {node}: {event}", t0.elapsed().as_secs_f64());
                    }
                }
                *seen += complete;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

/// A readable form of the log lines worth showing.
fn describe(line: &str) -> Option<String> {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    if line.contains("state changed") {
        return Some(format!(
            "{} → {} ({})",
            field("from")?,
            field("to")?,
            field("reason")?
        ));
    }
    if line.contains("virtual address added") {
        return Some(format!("VIP {} added", field("net")?));
    }
    if line.contains("virtual address removed") {
        return Some(format!("VIP {} removed", field("net")?));
    }
    if line.contains("guard: sent priority 0") {
        return Some("VIP guard: supervisor gone, sent priority 0".into());
    }
    if line.contains("check down") {
        return Some(format!(
            "{} down: {}",
            field("check")?,
            field("reason").unwrap_or_default()
        ));
    }
    if line.contains("check up") {
        return Some(format!("{} up again", field("check")?));
    }
    if line.contains("component started") {
        return Some(format!(
            "{} started (pid {})",
            field("component")?,
            field("pid")?
        ));
    }
    if line.contains("interface down") || line.contains("interface up") {
        return Some(
            if line.contains("down") {
                "data link down"
            } else {
                "data link up"
            }
            .into(),
        );
    }
    None
}
