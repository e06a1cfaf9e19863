//! `failover-bench`: client-side outage of the VIP when the master fails, for our supervisor
//! and the real keepalived with the same settings, side by side in one run.
//!
//! ```text
//! failover-bench [--trials 10] [--intervals 1000,100,20] [--faults kill,link,graceful]
//!                [--impls allerta,keepalived] [--priorities 200,100]
//!   faults: kill, link, graceful (of the VRRP daemon or the node), component (SIGKILL of
//!   the media core), hang (SIGSTOP of it; ours only: keepalived's script cannot see it)
//! failover-bench --soak 600 [--intervals 20] [--impls allerta]   false takeovers in a soak
//! ```
//!
//! Runs inside the lab's namespaces only (root). Each (implementation, interval) gets its
//! own lab; every trial injects the fault on the master (A, priority 200), waits for the
//! client to be answered by B (100), then restores A and measures the failback as well.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use system_tests::failover::{summary, Fault, Pair, Setup, Trial};
use system_tests::nodes::Speaker;
use system_tests::probe;

/// (index of the fault in Args::faults, advert interval ms) → each implementation's trials.
type Results = BTreeMap<(usize, u64), Vec<(Speaker, Vec<Trial>)>>;

struct Args {
    trials: usize,
    intervals: Vec<u64>,
    faults: Vec<Fault>,
    impls: Vec<Speaker>,
    soak_secs: Option<u64>,
    priorities: (u8, u8),
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        trials: 10,
        intervals: vec![1000, 100, 20],
        faults: vec![Fault::Kill, Fault::LinkDown, Fault::Graceful],
        impls: vec![Speaker::Allerta, Speaker::Keepalived],
        soak_secs: None,
        priorities: (200, 100),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--trials" => args.trials = value()?.parse().map_err(|e| format!("--trials: {e}"))?,
            "--intervals" => {
                args.intervals = value()?
                    .split(',')
                    .map(|v| v.parse().map_err(|e| format!("--intervals {v}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--faults" => {
                args.faults = value()?
                    .split(',')
                    .map(|f| {
                        Fault::parse(f).ok_or(format!(
                            "--faults: unknown {f} (kill, link, graceful, component, hang)"
                        ))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--impls" => {
                args.impls = value()?
                    .split(',')
                    .map(|i| match i {
                        "allerta" => Ok(Speaker::Allerta),
                        "keepalived" => Ok(Speaker::Keepalived),
                        other => Err(format!("--impls: unknown {other} (allerta, keepalived)")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--priorities" => {
                let v = value()?;
                let (a, b) = v.split_once(',').ok_or("--priorities A,B")?;
                args.priorities = (
                    a.parse().map_err(|e| format!("--priorities {a}: {e}"))?,
                    b.parse().map_err(|e| format!("--priorities {b}: {e}"))?,
                );
            }
            "--soak" => {
                args.soak_secs = Some(value()?.parse().map_err(|e| format!("--soak: {e}"))?)
            }
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("failover-bench.rs")
                        .lines()
                        .skip(3)
                        .take(4)
                        .map(|l| l.trim_start_matches("//! "))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("failover-bench: {e}");
        std::process::exit(2);
    });
    if let Some(secs) = args.soak_secs {
        soak(&args, Duration::from_secs(secs));
        return;
    }
    let mut results = Results::new();
    let started = Instant::now();
    for &interval in &args.intervals {
        for &speaker in &args.impls {
            eprintln!("== {} at {interval} ms: starting the lab", speaker.name());
            let setup = Setup {
                interval_ms: interval,
                priorities: args.priorities,
                watch_media_core: args.faults.iter().any(|f| f.is_component()),
            };
            let mut pair = Pair::start_with(
                &format!("bench-{}-{interval}", speaker.name()),
                speaker,
                setup,
            );
            pair.settle = Duration::from_millis(5500);
            for (fi, &fault) in args.faults.iter().enumerate() {
                let mut trials = Vec::new();
                if fault == Fault::ComponentHang && speaker == Speaker::Keepalived {
                    eprintln!("   {}: skipped for keepalived (a `kill -0` script cannot see a hung process)", fault.name());
                    results
                        .entry((fi, interval))
                        .or_default()
                        .push((speaker, trials));
                    continue;
                }
                for n in 0..args.trials {
                    match pair.trial(fault) {
                        Ok(t) => {
                            eprintln!(
                                "   {} #{n}: outage {} ms, failback {} ms{}",
                                fault.name(),
                                ms(t.outage),
                                ms(t.failback),
                                if t.vip_left_behind {
                                    ", VIP left behind"
                                } else {
                                    ""
                                }
                            );
                            trials.push(t);
                        }
                        Err(e) => eprintln!("   {} #{n}: FAILED: {e}", fault.name()),
                    }
                }
                results
                    .entry((fi, interval))
                    .or_default()
                    .push((speaker, trials));
            }
        }
    }
    print_table(&args, &results);
    println!(
        "\n{} trials in {:.0} s",
        args.trials * args.faults.len() * args.intervals.len() * args.impls.len(),
        started.elapsed().as_secs_f64()
    );
}

fn ms(d: Option<Duration>) -> String {
    format!("{:.0}", d.unwrap_or_default().as_secs_f64() * 1000.0)
}

fn print_table(args: &Args, results: &Results) {
    println!(
        "\nClient-side outage of the VIP (UDP probe every 10 ms), priorities {}/{}, VRRPv3, {} trials each;\n\
         media core faults: time until the backup answers on the VIP",
        args.priorities.0, args.priorities.1, args.trials
    );
    println!(
        "{:<24} {:>8}  {:<11} {:>3} {:>7} {:>7} {:>7}   {:>13}  notes",
        "case", "advert", "impl", "n", "min", "median", "max", "ratio ka/ours"
    );
    let mut rows = Vec::new();
    for ((fi, interval), by_impl) in results {
        let fault = args.faults[*fi];
        let medians: BTreeMap<&str, f64> = by_impl
            .iter()
            .filter_map(|(s, t)| {
                Some((
                    s.name(),
                    summary(&t.iter().map(|t| t.outage).collect::<Vec<_>>())?.1,
                ))
            })
            .collect();
        for (speaker, trials) in by_impl {
            let Some((min, med, max)) =
                summary(&trials.iter().map(|t| t.outage).collect::<Vec<_>>())
            else {
                continue;
            };
            let left = trials.iter().filter(|t| t.vip_left_behind).count();
            let ratio = match (speaker, medians.get("allerta"), medians.get("keepalived")) {
                (Speaker::Allerta, Some(ours), Some(ka)) if *ours > 0.0 => {
                    format!("{:.1}x", ka / ours)
                }
                (Speaker::Allerta, Some(_), Some(_)) => "inf".into(),
                _ => String::new(),
            };
            let mut notes = Vec::new();
            if fault == Fault::Kill {
                notes.push(format!("VIP left behind {left}/{}", trials.len()));
            }
            if trials.len() < args.trials {
                notes.push(format!("{} trials failed", args.trials - trials.len()));
            }
            rows.push(format!(
                "{:<24} {:>5} ms  {:<11} {:>3} {:>7.0} {:>7.0} {:>7.0}   {:>13}  {}",
                fault.name(),
                interval,
                speaker.name(),
                trials.len(),
                min,
                med,
                max,
                ratio,
                notes.join(", ")
            ));
        }
        // Failback (A returns and preempts) for the kill case only: the same for every fault.
        if fault == args.faults[0] {
            for (speaker, trials) in by_impl {
                let Some((min, med, max)) =
                    summary(&trials.iter().map(|t| t.failback).collect::<Vec<_>>())
                else {
                    continue;
                };
                rows.push(format!(
                    "{:<24} {:>5} ms  {:<11} {:>3} {:>7.0} {:>7.0} {:>7.0}",
                    "failback (A returns)",
                    interval,
                    speaker.name(),
                    trials.len(),
                    min,
                    med,
                    max
                ));
            }
        }
    }
    for row in rows {
        println!("{row}");
    }
}

/// Runs each (implementation, interval) pair undisturbed and counts false takeovers.
fn soak(args: &Args, length: Duration) {
    println!(
        "Soak: {} s per run, no fault injected; any takeover by B is false",
        length.as_secs()
    );
    println!(
        "{:<11} {:>8} {:>16} {:>14} {:>12}",
        "impl", "advert", "false takeovers", "probes lost", "probes sent"
    );
    for &interval in &args.intervals {
        for &speaker in &args.impls {
            let pair = Pair::start(
                &format!("soak-{}-{interval}", speaker.name()),
                speaker,
                interval,
            );
            let start = Instant::now();
            let before = pair.b_takeovers();
            while start.elapsed() < length {
                std::thread::sleep(Duration::from_secs(1));
            }
            let samples = pair.probe.samples();
            let lost = probe::unanswered_since(&samples, start, 5);
            let sent = samples.iter().filter(|s| s.sent >= start).count();
            println!(
                "{:<11} {:>5} ms {:>16} {:>14} {:>12}",
                speaker.name(),
                interval,
                pair.b_takeovers() - before,
                lost,
                sent
            );
        }
    }
}
