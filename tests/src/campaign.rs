//! Campaigns in the lab: a media core set up to dial campaigns through the carrier trunk,
//! the operator's commands run against it, citizens simulated by sipp (`uas_campaign.xml`:
//! the number's prefix says what the citizen does), and what the carrier saw, read back
//! from a capture with tshark.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::lab::{Lab, Node, Proc};
use crate::prereq;
use crate::voice::{self, Voice};

/// What a citizen does, by number prefix (see `tests/sipp/uas_campaign.xml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Citizen {
    /// Answers and presses 1 (prefix 31).
    Confirms,
    /// Answers and hangs up (32).
    HangsUp,
    /// Busy (33).
    Busy,
    /// Never answers (34).
    NoAnswer,
}

impl Citizen {
    /// The number of the `i`th citizen of this kind.
    pub fn number(self, i: usize) -> String {
        let prefix = match self {
            Self::Confirms => 31,
            Self::HangsUp => 32,
            Self::Busy => 33,
            Self::NoAnswer => 34,
        };
        format!("{prefix}{i:05}")
    }

    /// The kind a number belongs to.
    pub fn of(number: &str) -> Option<Self> {
        Some(match number.get(..2)? {
            "31" => Self::Confirms,
            "32" => Self::HangsUp,
            "33" => Self::Busy,
            "34" => Self::NoAnswer,
            _ => return None,
        })
    }
}

/// A node's voice configuration for campaigns: the outbound trunk to the carrier,
/// `lines` campaign lines, this node's name in the ledger.
pub fn campaign_voice(node: Node, lines: u32) -> Voice {
    let mut voice = Voice::alert_line(node);
    voice.manager = Some(voice::LAB_MANAGER.into());
    voice.pjsip.push('\n');
    voice.pjsip.push_str(&voice::outbound_pjsip());
    voice.extra.push_str(&format!(
        "campaign_trunk = \"carrier-out\"\ncampaign_lines = {lines}\nrtp_timeout_secs = 60\n\n\
         [node]\nname = \"{}\"\n",
        node.role()
    ));
    voice
}

/// Runs an operator's command (`allerta-mediacore … campaign …`) against the node's
/// media core.
pub fn admin(lab: &Lab, node: Node, args: &[&str]) -> Output {
    admin_with_input(lab, node, args, "")
}

/// As [`admin`], with `input` on standard input.
pub fn admin_with_input(lab: &Lab, node: Node, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let dir = lab.dir().join(format!("voice-{}", node.role()));
    let mut child = Command::new(prereq::workspace_bin("allerta-mediacore"))
        .arg("--config")
        .arg(dir.join("mediacore.toml"))
        .arg("--control")
        .arg(dir.join("mediacore.sock"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("USER", "lab-operator")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("allerta-mediacore");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    child.wait_with_output().expect("admin command")
}

/// `admin`, asserting success; returns stdout.
pub fn admin_ok(lab: &Lab, node: Node, args: &[&str]) -> String {
    let out = admin(lab, node, args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A contacts CSV with `counts` citizens of each kind; ids are `P<number>`.
pub fn contacts_csv(counts: &[(Citizen, usize)]) -> String {
    let mut csv = String::from("id,name,numbers\n");
    for (kind, n) in counts {
        for i in 0..*n {
            let number = kind.number(i);
            csv.push_str(&format!("P{number},Citizen {number},{number}\n"));
        }
    }
    csv
}

/// Starts the citizens (sipp UAS at the carrier, port 5070, as many calls as come).
pub fn start_citizens(lab: &Lab) -> Proc {
    voice::carrier_uas(lab, "uas_campaign.xml", "16000", &[])
}

/// A campaign's report as CSV rows keyed by contact id: (status, attempts, last outcome).
pub fn report(lab: &Lab, node: Node, name: &str) -> HashMap<String, (String, u32, String)> {
    let text = admin_ok(lab, node, &["campaign", "report", name, "--csv"]);
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((
                f.first()?.to_string(),
                (
                    f.get(2)?.to_string(),
                    f.get(3)?.parse().ok()?,
                    f.get(4)?.to_string(),
                ),
            ))
        })
        .collect()
}

/// The state line of `campaign status`.
pub fn state(lab: &Lab, node: Node, name: &str) -> String {
    let text = admin_ok(lab, node, &["campaign", "status", name]);
    text.lines()
        .next()
        .and_then(|l| l.rsplit_once(": "))
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default()
}

/// One SIP call as the carrier saw it.
#[derive(Debug, Clone)]
pub struct SeenCall {
    /// The dialled number (Request-URI user).
    pub number: String,
    /// When the INVITE arrived.
    pub start: f64,
    /// The address the INVITE came from (a node's voice address).
    pub from: String,
    /// When it ended (final failure response, or the BYE's 200).
    pub end: Option<f64>,
}

/// The calls in a capture, by Call-ID.
pub fn calls_in(pcap: &Path) -> Vec<SeenCall> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", "sip", "-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "frame.time_epoch",
            "-e",
            "sip.Call-ID",
            "-e",
            "sip.Method",
        ])
        .args([
            "-e",
            "sip.Status-Code",
            "-e",
            "sip.r-uri.user",
            "-e",
            "sip.CSeq.method",
            "-e",
            "ip.src",
        ])
        .output()
        .expect("tshark");
    let mut calls: HashMap<String, SeenCall> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('|').collect();
        let [time, id, method, status, user, cseq_method, src] = f[..] else {
            continue;
        };
        let time: f64 = time.parse().unwrap_or(0.0);
        if method == "INVITE" {
            calls.entry(id.to_owned()).or_insert(SeenCall {
                number: user.to_owned(),
                start: time,
                from: src.to_owned(),
                end: None,
            });
            continue;
        }
        let status: u16 = status.parse().unwrap_or(0);
        let ends =
            (cseq_method == "INVITE" && status >= 300) || (cseq_method == "BYE" && status == 200);
        if ends {
            if let Some(c) = calls.get_mut(id) {
                c.end.get_or_insert(time);
            }
        }
    }
    let mut v: Vec<SeenCall> = calls.into_values().collect();
    v.sort_by(|a, b| a.start.total_cmp(&b.start));
    v
}

/// The most calls in progress at once.
pub fn max_concurrent(calls: &[SeenCall]) -> usize {
    let mut edges: Vec<(f64, i32)> = Vec::new();
    for c in calls {
        edges.push((c.start, 1));
        edges.push((c.end.unwrap_or(f64::MAX), -1));
    }
    // At equal times, ends before starts.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        max = max.max(now);
    }
    max as usize
}

/// The mean absolute amplitude (0..32768) of the µ-law RTP the node sent in `pcap`.
pub fn node_audio_level(pcap: &Path, node_ip: &str) -> f64 {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-o", "rtp.heuristic_rtp:TRUE", "-Y"])
        .arg(format!("rtp && ip.src == {node_ip} && rtp.p_type == 0"))
        .args(["-T", "fields", "-e", "rtp.payload"])
        .output()
        .expect("tshark");
    let (mut sum, mut n) = (0f64, 0u64);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let hex: String = line.chars().filter(char::is_ascii_hexdigit).collect();
        for i in (0..hex.len().saturating_sub(1)).step_by(2) {
            if let Ok(b) = u8::from_str_radix(&hex[i..i + 2], 16) {
                sum += f64::from(ulaw(b).unsigned_abs());
                n += 1;
            }
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

fn ulaw(b: u8) -> i16 {
    let b = !b;
    let exp = (b >> 4) & 7;
    let mant = i16::from(b & 0x0f);
    let mag = (((mant << 3) + 0x84) << exp) - 0x84;
    if b & 0x80 != 0 {
        -mag
    } else {
        mag
    }
}

/// Where a capture goes.
pub fn pcap_path(lab: &Lab, name: &str) -> PathBuf {
    lab.dir().join(name)
}

/// Waits until the campaign is `done` (or `timeout`); returns the last state seen.
pub fn wait_done(lab: &Lab, node: Node, name: &str, timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let s = state(lab, node, name);
        if s == "done" || std::time::Instant::now() >= deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
