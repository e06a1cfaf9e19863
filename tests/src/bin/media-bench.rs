//! `media-bench`: load on the media core with sipp as the carrier calling the node's
//! inbound trunk, in the lab's namespaces (root).
//!
//! ```text
//! media-bench [--playback 100,200,300,400,500,600] [--ack 200,500]
//!             [--short 100,200,300,400] [--window 8] [--realtime 5]
//!             [--asterisk PATH [--asterisk-modules DIR]]
//!   playback: answer, play an 8 s prompt, hang up, at N concurrent calls
//!   ack:      the same, then read a DTMF "1" (RFC 4733) the carrier sends
//!   short:    1 s calls (the carrier hangs up) at N calls per second
//!   realtime: the media core's `realtime_priority` (SCHED_FIFO; 0 = normal scheduling)
//!   asterisk: an installed Asterisk binary: the same steps run against it after ours, in
//!             the same namespace, with the same dialplan and prompt (its configuration
//!             is written for the run: pjsip.conf, extensions.conf, rtp.conf, logger.conf
//!             under the lab's directory; modules from DIR, by default the ones beside
//!             the binary's prefix). The benchmark never downloads or builds Asterisk.
//! ```
//!
//! Each step prints: concurrent calls, calls/s, the media core's CPU (% of one core, from
//! /proc over a steady window), CPU per concurrent call, answer time (INVITE → 200, by
//! sipp), failed calls, SIP retransmissions (both ways: a message seen again with the same
//! Call-ID, CSeq and method or status, in a capture at the carrier, so the same measure for
//! any server), RTP loss (both ways) and pacing (gaps of the node's RTP outside 20 ± 2 ms,
//! from a dumpcap capture at the carrier, and for ours as the media core saw them at its
//! send calls). "clean" = no failed call, no retransmission, no loss, at least 99.99 % of
//! the gaps within 20 ± 2 ms and none of 40 ms or more (the raw count outside is printed
//! too). With `--asterisk` the two runs are printed side by side with Asterisk's figures
//! over ours; without it, ours are printed beside the figures the issue gives for Asterisk
//! 22.10 on this machine, and the run says that no Asterisk was measured.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use system_tests::bench::{cpu_ticks, ticks_per_sec};
use system_tests::lab::{Lab, Node, Proc, CARRIER_IP};
use system_tests::voice::{self, Voice};
use system_tests::{prereq, rtpcap};

const DIALPLAN: &str = "[from-carrier]\n\
    exten => 300,1,Answer()\n same => n,Playback(alert8)\n same => n,Hangup()\n\
    exten => 301,1,Answer()\n same => n,Playback(alert8)\n same => n,Read(ACK,,1,,1,3)\n\
     same => n,Verbose(1,bench ack=${ACK})\n same => n,Hangup()\n\
    exten => 302,1,Answer()\n same => n,Wait(30)\n same => n,Hangup()\n";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Playback,
    Ack,
    Short,
}

struct Row {
    kind: Kind,
    load: u32,
    concurrent: f64,
    cps: f64,
    cpu: f64,
    answer_ms: (f64, f64),
    failed: u64,
    ok_calls: u64,
    retrans: u64,
    lost_out: u64,
    /// Loss toward the server, as ours counts it (Asterisk's is not read).
    lost_in: Option<u64>,
    off_pace: (u64, u64),
    max_gap: f64,
    /// The same measured by our media core at its send calls (off-pace, gaps).
    send_pace: Option<(u64, u64)>,
    acks: usize,
}

impl Row {
    /// The issue's "clean": no failed call, no SIP retransmission, no RTP loss, and pacing
    /// of 20 ± 2 ms: at least 99.99 % of the gaps inside it and none as long as two frames
    /// (no packet ever missed its slot). The raw count outside is printed beside it.
    fn clean(&self) -> bool {
        let pacing = self.off_pace.0 * 10_000 <= self.off_pace.1 && self.max_gap < 40.0;
        self.failed == 0
            && self.retrans == 0
            && self.lost_out == 0
            && self.lost_in.unwrap_or(0) == 0
            && pacing
    }
}

fn list(v: &str) -> Vec<u32> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a number"))
        .collect()
}

/// The server under load: our media core, or an installed Asterisk.
struct Target {
    name: &'static str,
    proc: Proc,
    /// Asterisk's binary, its asterisk.conf (for `-rx`) and the log its Verbose goes to.
    asterisk: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl Target {
    fn active_calls(&self, lab: &Lab) -> f64 {
        match &self.asterisk {
            None => voice::status(lab, Node::A)["active_calls"]
                .as_u64()
                .unwrap_or(0) as f64,
            // "12 active calls"
            Some((bin, conf, _)) => asterisk_cli(bin, conf, "core show calls")
                .lines()
                .find(|l| l.contains("active call"))
                .and_then(|l| l.split_whitespace().next()?.parse().ok())
                .unwrap_or(0.0),
        }
    }

    fn log_text(&self) -> String {
        match &self.asterisk {
            None => self.proc.log_text(),
            Some((_, _, log)) => std::fs::read_to_string(log).unwrap_or_default(),
        }
    }
}

fn asterisk_cli(bin: &Path, conf: &Path, command: &str) -> String {
    Command::new(bin)
        .arg("-C")
        .arg(conf)
        .args(["-rx", command])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn main() {
    prereq::require_root("media-bench");
    prereq::require_tools("media-bench", &["sipp", "dumpcap", "tshark"]);
    let (mut playback, mut ack, mut short) = (
        vec![100, 200, 300, 400, 500, 600],
        vec![200, 500],
        vec![100, 200, 300, 400],
    );
    let mut window = 8u64;
    let mut realtime = 5u8;
    let (mut asterisk, mut modules): (Option<PathBuf>, Option<PathBuf>) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--playback" => playback = list(&value),
            "--ack" => ack = list(&value),
            "--short" => short = list(&value),
            "--window" => window = value.parse().expect("--window seconds"),
            "--realtime" => realtime = value.parse().expect("--realtime priority (0: off)"),
            "--asterisk" => asterisk = Some(PathBuf::from(value)),
            "--asterisk-modules" => modules = Some(PathBuf::from(value)),
            other => {
                eprintln!("media-bench: unknown flag {other}");
                std::process::exit(2);
            }
        }
    }
    let asterisk = asterisk.map(|bin| {
        let modules = modules.unwrap_or_else(|| default_modules(&bin));
        if !bin.is_file() || !modules.is_dir() {
            eprintln!(
                "media-bench: --asterisk {} needs an installed Asterisk binary and its modules \
                 directory ({} is not one; give --asterisk-modules DIR)",
                bin.display(),
                modules.display()
            );
            std::process::exit(2);
        }
        (bin, modules)
    });
    let lab = Lab::two_nodes("media-bench");
    let mut v = Voice::alert_line(Node::A);
    v.dialplan = DIALPLAN.into();
    v.prompts = vec![("alert8".into(), 8.0)];
    v.extra = format!("max_calls = 2000\nrtp_timeout_secs = 20\nrealtime_priority = {realtime}\n");
    v.log = "info".into();
    let node = voice::start_mediacore(&lab, Node::A, &v);
    let audio = lab.dir().join("carrier-audio.alaw");
    std::fs::write(&audio, alaw_tone(10.0)).expect("audio file");
    println!(
        "media core: release build, {} (pid {})",
        prereq::workspace_bin("allerta-mediacore").display(),
        node.pid
    );
    match &asterisk {
        Some((bin, _)) => println!("Asterisk: {} (measured after ours, same steps)", bin.display()),
        None => println!(
            "Asterisk: none given (--asterisk PATH): ours only, beside the issue's figures for Asterisk 22.10"
        ),
    }
    println!("window {window} s per step; realtime_priority {realtime}; sipp streams A-law audio into every call\n");
    let steps: Vec<(Kind, u32)> = playback
        .iter()
        .map(|n| (Kind::Playback, *n))
        .chain(ack.iter().map(|n| (Kind::Ack, *n)))
        .chain(short.iter().map(|n| (Kind::Short, *n)))
        .collect();
    let ours = Target {
        name: "allerta",
        proc: node,
        asterisk: None,
    };
    let run = |target: &Target| -> Vec<Row> {
        steps
            .iter()
            .map(|(kind, load)| {
                let row = step(&lab, target, &audio, *kind, *load, window);
                print_row(target.name, &row);
                row
            })
            .collect()
    };
    let our_rows = run(&ours);
    match asterisk {
        None => summary(&our_rows),
        Some((bin, modules)) => {
            lab.signal(&ours.proc, nix::sys::signal::Signal::SIGTERM);
            lab.wait_exit(&ours.proc, Duration::from_secs(15));
            println!();
            let theirs = start_asterisk(&lab, &bin, &modules);
            let their_rows = run(&theirs);
            side_by_side(&our_rows, &their_rows);
        }
    }
}

/// Asterisk's modules beside its prefix: `<prefix>/sbin/asterisk` → `<prefix>/lib/asterisk/modules`
/// (Debian-style installs put them under `/usr/lib/x86_64-linux-gnu/asterisk/modules`).
fn default_modules(bin: &Path) -> PathBuf {
    let prefix = bin
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/usr"));
    [
        prefix.join("lib/asterisk/modules"),
        prefix.join("lib64/asterisk/modules"),
        prefix.join("lib/x86_64-linux-gnu/asterisk/modules"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .unwrap_or_else(|| prefix.join("lib/asterisk/modules"))
}

/// Asterisk in node A's namespace, answering the carrier's calls with the same dialplan
/// and prompt as ours: its configuration is written under the lab's directory.
fn start_asterisk(lab: &Lab, bin: &Path, modules: &Path) -> Target {
    let dir = lab.dir().join("asterisk");
    for sub in ["etc", "lib", "run", "log", "spool", "data/sounds/en"] {
        std::fs::create_dir_all(dir.join(sub)).expect("asterisk dirs");
    }
    let d = dir.display();
    let conf = dir.join("etc/asterisk.conf");
    let files = [
        (
            "asterisk.conf",
            format!(
                "[directories]\nastetcdir => {d}/etc\nastmoddir => {}\nastvarlibdir => {d}/lib\n\
                 astdbdir => {d}/lib\nastkeydir => {d}/lib\nastdatadir => {d}/data\n\
                 astagidir => {d}/data/agi-bin\nastspooldir => {d}/spool\nastrundir => {d}/run\n\
                 astlogdir => {d}/log\n\n[options]\nverbose = 1\nnocolor = yes\nmaxfiles = 65536\n",
                modules.display()
            ),
        ),
        (
            "modules.conf",
            "[modules]\nautoload = yes\nnoload = chan_iax2.so\nnoload = chan_unistim.so\n\
             noload = chan_mgcp.so\nnoload = chan_skinny.so\nnoload = res_pjsip_phoneprov.so\n"
                .to_owned(),
        ),
        (
            "pjsip.conf",
            format!(
                "[transport-udp]\ntype = transport\nprotocol = udp\nbind = {}:5060\n\n\
                 [carrier]\ntype = endpoint\ntransport = transport-udp\ncontext = from-carrier\n\
                 disallow = all\nallow = ulaw,alaw\ndtmf_mode = rfc4733\nrtp_symmetric = yes\n\
                 direct_media = no\n\n[carrier-identify]\ntype = identify\nendpoint = carrier\n\
                 match = {CARRIER_IP}\n",
                Node::A.voice_ip()
            ),
        ),
        ("extensions.conf", DIALPLAN.to_owned()),
        (
            "rtp.conf",
            "[general]\nrtpstart = 10000\nrtpend = 20000\n".to_owned(),
        ),
        (
            "logger.conf",
            "[general]\n[logfiles]\nbench.log => verbose(1),notice,warning,error\n".to_owned(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join("etc").join(name), text).expect("asterisk config");
    }
    let prompt = voice::tone_wav(8.0);
    std::fs::write(dir.join("data/sounds/en/alert8.wav"), &prompt).expect("prompt");
    std::fs::write(dir.join("data/sounds/alert8.wav"), &prompt).expect("prompt");
    let proc = lab.spawn(
        Node::A.role(),
        "asterisk",
        bin,
        &["-f", "-C", &conf.to_string_lossy()],
        &[],
    );
    let booted = (0..60).any(|_| {
        std::thread::sleep(Duration::from_millis(500));
        asterisk_cli(bin, &conf, "core waitfullybooted").contains("fully booted")
    });
    assert!(booted, "Asterisk did not boot:\n{}", proc.log_text());
    println!("Asterisk: {} (pid {})", bin.display(), proc.pid);
    Target {
        name: "asterisk",
        proc,
        asterisk: Some((bin.to_path_buf(), conf, dir.join("log/bench.log"))),
    }
}

fn step(lab: &Lab, target: &Target, audio: &Path, kind: Kind, load: u32, window: u64) -> Row {
    let (template, service) = match kind {
        Kind::Playback => ("bench_playback.xml", "300"),
        Kind::Ack => ("bench_ack.xml", "301"),
        Kind::Short => ("bench_short.xml", "302"),
    };
    let name = format!("{}-{template}-{load}", target.name);
    let scenario = lab.dir().join(format!("{name}.xml"));
    let text = std::fs::read_to_string(voice::scenario(template)).expect("scenario");
    std::fs::write(
        &scenario,
        text.replace("[field0]", &audio.to_string_lossy()),
    )
    .expect("scenario copy");
    // The node's RTP (headers only: 64 bytes), and the signalling, for retransmissions
    // counted the same way whichever server answers.
    let pcap = lab.dir().join(format!("{name}.pcap"));
    let rtp_filter = format!("udp and src host {} and not port 5060", Node::A.voice_ip());
    let cap = dumpcap(
        lab,
        &format!("dumpcap-{name}"),
        &rtp_filter,
        &pcap,
        &["-s", "64"],
    );
    let sip_pcap = lab.dir().join(format!("{name}-sip.pcap"));
    let sip_filter = format!("udp port 5060 and host {}", Node::A.voice_ip());
    let sip_cap = dumpcap(
        lab,
        &format!("dumpcap-sip-{name}"),
        &sip_filter,
        &sip_pcap,
        &[],
    );
    let log_lines = target.log_text().lines().count();
    // Playback: keep `load` calls up (ramp over ~5 s); short calls: `load` per second.
    let (limit, rate, total, ramp) = match kind {
        Kind::Short => (load * 4, load, load * (window as u32 + 8), 3),
        _ => (
            load,
            (load / 5).max(20),
            load * 2,
            load / (load / 5).max(20) + 2,
        ),
    };
    let stat = lab.dir().join(format!("{name}.csv"));
    let server = format!("{}:5060", Node::A.voice_ip());
    let carrier = CARRIER_IP.to_string();
    let args: Vec<String> = [
        server.as_str(),
        "-sf",
        &scenario.to_string_lossy(),
        "-s",
        service,
        "-i",
        &carrier,
        "-mi",
        &carrier,
        "-l",
        &limit.to_string(),
        "-r",
        &rate.to_string(),
        "-m",
        &total.to_string(),
        "-nostdin",
        "-trace_stat",
        "-stf",
        &stat.to_string_lossy(),
        "-fd",
        "1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-timeout",
        "120s",
        "-max_socket",
        "60000",
        "-rtp_threadtasks",
        "50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ns = lab.ns("carrier");
    let rtt_dir = lab.dir().to_path_buf();
    let sipp = std::thread::spawn(move || {
        Command::new("ip")
            .args(["netns", "exec", &ns, "sipp"])
            .args(&args)
            .current_dir(&rtt_dir)
            .output()
            .expect("sipp")
    });
    std::thread::sleep(Duration::from_secs(u64::from(ramp) + 1));
    let (t0, c0) = (Instant::now(), cpu_ticks(target.proc.pid));
    let mid = Instant::now() + Duration::from_secs(window / 2);
    std::thread::sleep(mid.saturating_duration_since(Instant::now()));
    let concurrent = target.active_calls(lab);
    std::thread::sleep(Duration::from_secs(window) - t0.elapsed().min(Duration::from_secs(window)));
    let (t1, c1) = (Instant::now(), cpu_ticks(target.proc.pid));
    let cpu = (c1 - c0) as f64 / ticks_per_sec() / (t1 - t0).as_secs_f64() * 100.0;
    let out = sipp.join().expect("sipp thread");
    std::thread::sleep(Duration::from_millis(500));
    for c in [&cap, &sip_cap] {
        lab.signal(c, nix::sys::signal::Signal::SIGINT);
        lab.wait_exit(c, Duration::from_secs(10));
    }
    let retrans = sip_retransmissions(&sip_pcap);
    let (ok_calls, failed) = sipp_counts(&stat);
    if !out.status.success() && failed == 0 {
        eprintln!(
            "sipp: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let rtp = rtpcap::summarize(&pcap, Node::A.voice_ip()).unwrap_or_default();
    let log = target.log_text();
    let ours = target.asterisk.is_none();
    let new_lines: Vec<&str> = log.lines().skip(log_lines).collect();
    let lost_in: u64 = new_lines
        .iter()
        .filter(|l| l.contains("call ended"))
        .filter_map(|l| {
            l.split("lost=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<i64>()
                .ok()
        })
        .map(|l| l.max(0) as u64)
        .sum();
    let acks = new_lines
        .iter()
        .filter(|l| l.contains("bench ack=1"))
        .count();
    let field = |name: &str| -> u64 {
        new_lines
            .iter()
            .filter(|l| l.contains("call ended"))
            .filter_map(|l| {
                l.split(&format!("{name}="))
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let send_pace = ours.then(|| (field("send_off_pace"), field("send_gaps")));
    let _ = std::fs::remove_file(&pcap); // hundreds of MB at the higher steps
    let _ = std::fs::remove_file(&sip_pcap);
    let cps = match kind {
        Kind::Short => f64::from(load),
        _ => concurrent / 8.1,
    };
    Row {
        kind,
        load,
        concurrent,
        cps,
        cpu,
        answer_ms: answer_times(&find_rtt(lab.dir())),
        failed,
        ok_calls,
        retrans,
        lost_out: rtp.lost,
        lost_in: ours.then_some(lost_in),
        off_pace: (rtp.off_pace, rtp.gaps),
        max_gap: rtp.max_gap_ms,
        send_pace,
        acks,
    }
}

/// dumpcap at the carrier, capturing what `filter` takes into `pcap`, once it says it runs.
fn dumpcap(lab: &Lab, name: &str, filter: &str, pcap: &Path, extra: &[&str]) -> Proc {
    let program = prereq::which("dumpcap").expect("checked");
    let pcap = pcap.to_string_lossy();
    let mut args = vec!["-i", "eth0", "-P", "-B", "64", "-f", filter, "-w", &pcap];
    args.extend_from_slice(extra);
    let cap = lab.spawn("carrier", name, &program, &args, &[]);
    assert!(
        cap.wait_count("Capturing on", 1, Duration::from_secs(10)),
        "dumpcap: {}",
        cap.log_text()
    );
    cap
}

/// SIP messages seen again: the same sender, Call-ID, CSeq and method or status, in a
/// capture at the carrier (a retransmission either way, whoever the server is).
fn sip_retransmissions(pcap: &Path) -> u64 {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", "sip", "-T", "fields"])
        .args(["-e", "ip.src", "-e", "sip.Call-ID", "-e", "sip.CSeq"])
        .args(["-e", "sip.Method", "-e", "sip.Status-Code"])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seen = std::collections::HashSet::new();
    text.lines().filter(|l| !seen.insert(*l)).count() as u64
}

/// sipp names the RTT file after the scenario and its pid; take the newest one.
fn find_rtt(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with("_rtt.csv"))
                .collect()
        })
        .unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let newest = files.pop().unwrap_or_default();
    // Move it aside so the next step finds its own.
    let done = newest.with_extension("csv.done");
    let _ = std::fs::rename(&newest, &done);
    done
}

/// (successful, failed) from sipp's last statistics line.
fn sipp_counts(csv: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(csv).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
    let last: Vec<&str> = text.lines().last().unwrap_or("").split(';').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (col("SuccessfulCall(C)"), col("FailedCall(C)"))
}

/// Mean and p99 of sipp's response times (INVITE → 200), in ms.
fn answer_times(path: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut v: Vec<f64> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(';').nth(1)?.trim().parse().ok())
        .collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (mean, v[(v.len() * 99 / 100).min(v.len() - 1)])
}

fn alaw_tone(secs: f64) -> Vec<u8> {
    let wav = voice::tone_wav(secs);
    wav[44..]
        .chunks_exact(2)
        .map(|c| alaw(i16::from_le_bytes([c[0], c[1]])))
        .collect()
}

/// G.711 A-law of one sample (ITU-T G.711, the classic segment search).
fn alaw(pcm: i16) -> u8 {
    let mut x = i32::from(pcm) >> 3;
    let mask = if x >= 0 { 0xd5 } else { 0x55 };
    if x < 0 {
        x = -x - 1;
    }
    let seg_end = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
    let seg = seg_end.iter().position(|&e| x <= e).unwrap_or(8);
    let aval = if seg >= 8 {
        0x7f
    } else {
        let shifted = if seg < 2 { x >> 1 } else { x >> seg };
        ((seg as i32) << 4) | (shifted & 0x0f)
    };
    (aval as u8) ^ mask
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Playback => "playback",
        Kind::Ack => "playback+ack",
        Kind::Short => "short 1 s",
    }
}

fn print_row(server: &str, r: &Row) {
    let load = match r.kind {
        Kind::Short => format!("{} cps", r.load),
        _ => format!("{} calls", r.load),
    };
    let per_call = if r.concurrent > 0.0 {
        r.cpu / r.concurrent
    } else {
        f64::NAN
    };
    let lost_in = r.lost_in.map_or("-".to_owned(), |l| l.to_string());
    let at_send = r.send_pace.map_or(String::new(), |(off, gaps)| {
        format!("; at send {off}/{gaps}")
    });
    println!(
        "{:<8} {:<13} {:>10}  up {:>5.0}  {:>5.1} cps  cpu {:>6.1} %  {:>6.3} %/call  answer {:>6.1} ms (p99 {:>6.1})  \
         ok {:>5} failed {:>3}  retrans {:>3}  lost out/in {:>3}/{:>3}  off-pace {}/{} (max {:.1} ms{}){}  {}",
        server,
        kind_name(r.kind),
        load,
        r.concurrent,
        r.cps,
        r.cpu,
        per_call,
        r.answer_ms.0,
        r.answer_ms.1,
        r.ok_calls,
        r.failed,
        r.retrans,
        r.lost_out,
        lost_in,
        r.off_pace.0,
        r.off_pace.1,
        r.max_gap,
        at_send,
        if r.kind == Kind::Ack { format!("  acks {}", r.acks) } else { String::new() },
        if r.clean() { "clean" } else { "NOT clean" },
    );
}

fn summary(rows: &[Row]) {
    println!("\n                         Allerta (this run)          Asterisk 22.10 (issue's figures, same machine)");
    let best = |k: Kind| {
        rows.iter()
            .filter(|r| r.kind == k && r.clean())
            .map(|r| r.load)
            .max()
    };
    let per_call: Vec<f64> = rows
        .iter()
        .filter(|r| r.kind == Kind::Playback && r.concurrent > 0.0)
        .map(|r| r.cpu / r.concurrent)
        .collect();
    let worst = per_call.iter().copied().fold(0.0, f64::max);
    println!(
        "clean playback calls     {:<27} ~200 (target ≥ 500)",
        best(Kind::Playback).map_or("none".into(), |n| format!("≥ {n}"))
    );
    println!(
        "CPU per playback call    {:<27} ≈0.48 % (target ≤ 0.24 %)",
        format!("≤ {worst:.3} % of a core")
    );
    println!(
        "clean short calls/s      {:<27} ~200 (target ≥ 400)",
        best(Kind::Short).map_or("none".into(), |n| format!("≥ {n}"))
    );
}

/// Ours and Asterisk's, step by step: Asterisk's figure over ours (a ratio above 1 means
/// Asterisk used more, or did worse).
fn side_by_side(ours: &[Row], theirs: &[Row]) {
    println!(
        "\n{:<13} {:>10}  {:>22}  {:>17}  {:>15}  {:>19}  {:>13}",
        "step",
        "load",
        "CPU %/call A / ours",
        "retrans A / ours",
        "failed A / ours",
        "off-pace A / ours",
        "clean A / ours"
    );
    let per_call = |r: &Row| {
        if r.concurrent > 0.0 {
            r.cpu / r.concurrent
        } else {
            f64::NAN
        }
    };
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("×{:.2}", a / b)
        } else {
            "-".to_owned()
        }
    };
    for (o, a) in ours.iter().zip(theirs) {
        let load = match o.kind {
            Kind::Short => format!("{} cps", o.load),
            _ => format!("{} calls", o.load),
        };
        let (pa, po) = (per_call(a), per_call(o));
        println!(
            "{:<13} {:>10}  {:>6.3}/{:>6.3} {:>7}  {:>5}/{:>5} {:>5}  {:>6}/{:>6}  {:>8}/{:>8} {:>5}  {:>5}/{:>5}",
            kind_name(o.kind),
            load,
            pa,
            po,
            ratio(pa, po),
            a.retrans,
            o.retrans,
            ratio(a.retrans as f64, o.retrans as f64),
            a.failed,
            o.failed,
            a.off_pace.0,
            o.off_pace.0,
            ratio(a.off_pace.0 as f64, o.off_pace.0 as f64),
            if a.clean() { "yes" } else { "no" },
            if o.clean() { "yes" } else { "no" },
        );
    }
    println!("(A = Asterisk, measured in this run; RTP loss toward the server is ours only)");
}
