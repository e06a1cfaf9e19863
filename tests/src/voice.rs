//! The voice side of the lab: a node's mediacore configuration (node file table,
//! pjsip.conf, extensions.conf, prompts), running mediacore on its own, sipp at the
//! carrier, and reading what tshark captured.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::lab::{Lab, Node, Proc, CARRIER_IP};
use crate::prereq;

/// A node's voice configuration, with lab defaults.
#[derive(Debug, Clone)]
pub struct Voice {
    /// `extensions.conf`.
    pub dialplan: String,
    /// `pjsip.conf`.
    pub pjsip: String,
    /// Prompts to generate: (name, seconds of a 440 Hz tone).
    pub prompts: Vec<(String, f64)>,
    /// More keys for the `[mediacore]` table.
    pub extra: String,
    /// RUST_LOG for the media core.
    pub log: String,
    /// `manager.conf` (AMI), if any.
    pub manager: Option<String>,
}

/// The inbound trunk from the carrier (identified by its address) into `from-carrier`.
pub fn inbound_pjsip(node: Node) -> String {
    format!(
        "[transport-udp]\ntype=transport\nprotocol=udp\nbind={}:5060\n\n\
         [carrier-in]\ntype=endpoint\ncontext=from-carrier\ndisallow=all\nallow=alaw,ulaw\naors=carrier-in\n\n\
         [carrier-in]\ntype=aor\ncontact=sip:{CARRIER_IP}:5060\n\n\
         [carrier-in]\ntype=identify\nendpoint=carrier-in\nmatch={CARRIER_IP}\n",
        node.voice_ip()
    )
}

/// An outbound trunk to the carrier's sipp UAS on port 5070, with digest credentials.
pub fn outbound_pjsip() -> String {
    format!(
        "[carrier-out]\ntype=endpoint\ncontext=from-carrier\ndisallow=all\nallow=ulaw,alaw\n\
         outbound_auth=carrier-auth\naors=carrier-out\nfrom_user=0744999\n\n\
         [carrier-out]\ntype=aor\ncontact=sip:{CARRIER_IP}:5070\n\n\
         [carrier-auth]\ntype=auth\nauth_type=userpass\nusername=alerta\npassword=s3cret\n"
    )
}

/// The lab's `manager.conf`: AMI on every address of the node (so on the VIP on the
/// master), one application user.
pub const LAB_MANAGER: &str = "[general]\nenabled = yes\nport = 5038\nbindaddr = 0.0.0.0\n\n\
    [app]\nsecret = s3cret\nread = system,call,dtmf\nwrite = system,call,originate,reporting\n";

/// What an answered outbound alert call runs: the alert, then wait for the digit.
pub const OUTBOUND_DIALPLAN: &str = "[alert-out]\n\
    exten => s,1,Playback(alert)\n\
     same => n,Read(ACK,confirm,1,,1,5)\n\
     same => n,Verbose(1,outbound ack=${ACK})\n\
     same => n,Hangup()\n";

/// The alert IVR: answer, play the alert, read one digit, say thanks on 1.
pub const ALERT_DIALPLAN: &str = "[from-carrier]\n\
    exten => 100,1,Answer()\n\
     same => n,Playback(alert)\n\
     same => n,Read(ACK,confirm,1,,1,5)\n\
     same => n,Verbose(1,ack=${ACK})\n\
     same => n,GotoIf($[\"${ACK}\" = \"1\"]?ok:nok)\n\
     same => n(ok),Playback(thanks)\n\
     same => n,Hangup()\n\
     same => n(nok),Hangup()\n\
    exten => 101,1,Wait(5)\n\
     same => n,Answer()\n\
     same => n,Hangup()\n";

impl Voice {
    /// An inbound alert line on `node`.
    pub fn alert_line(node: Node) -> Self {
        Self {
            dialplan: ALERT_DIALPLAN.into(),
            pjsip: inbound_pjsip(node),
            prompts: vec![
                ("alert".into(), 2.0),
                ("confirm".into(), 1.0),
                ("thanks".into(), 0.5),
            ],
            extra: String::new(),
            log: "info,mediacore=debug".into(),
            manager: None,
        }
    }

    /// Writes everything under `dir`; returns the node file for `--config`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("voice dir");
        let prompts = dir.join("prompts");
        std::fs::create_dir_all(&prompts).expect("prompts dir");
        for (name, secs) in &self.prompts {
            let path = prompts.join(format!("{name}.wav"));
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("prompt dir");
            }
            std::fs::write(path, tone_wav(*secs)).expect("prompt");
        }
        std::fs::write(dir.join("pjsip.conf"), &self.pjsip).expect("pjsip.conf");
        std::fs::write(dir.join("extensions.conf"), &self.dialplan).expect("extensions.conf");
        let mut node = format!(
            "[mediacore]\npjsip = \"{0}/pjsip.conf\"\nextensions = \"{0}/extensions.conf\"\n\
             prompts_dir = \"{0}/prompts\"\nrecordings_dir = \"{0}/recordings\"\n\
             outgoing_dir = \"{0}/outgoing\"\ndatabase = \"{0}/allerta.db\"\n",
            dir.display()
        );
        if let Some(manager) = &self.manager {
            std::fs::write(dir.join("manager.conf"), manager).expect("manager.conf");
            node.push_str(&format!("manager = \"{}/manager.conf\"\n", dir.display()));
        }
        node.push_str(&self.extra);
        let path = dir.join("mediacore.toml");
        std::fs::write(&path, node).expect("mediacore.toml");
        path
    }
}

/// An 8 kHz mono 16-bit PCM WAV of a 440 Hz tone.
pub fn tone_wav(secs: f64) -> Vec<u8> {
    tone_wav_hz(secs, 440.0)
}

/// An 8 kHz mono 16-bit PCM WAV of a tone of `hz`.
pub fn tone_wav_hz(secs: f64, hz: f64) -> Vec<u8> {
    let n = (secs * 8000.0) as usize;
    let mut data = Vec::with_capacity(n * 2);
    for i in 0..n {
        let v = (f64::sin(i as f64 * 2.0 * std::f64::consts::PI * hz / 8000.0) * 8000.0) as i16;
        data.extend_from_slice(&v.to_le_bytes());
    }
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

/// A registration of the outbound trunk at the carrier's registrar (kamailio), with a
/// short expiry so the test sees refreshes.
pub fn registration_pjsip(expiration_secs: u32) -> String {
    format!(
        "\n[carrier-reg]\ntype=registration\nserver_uri=sip:{CARRIER_IP}\nclient_uri=sip:alerta@{CARRIER_IP}\n\
         contact_user=alerta\noutbound_auth=carrier-auth\nexpiration={expiration_secs}\nretry_interval=5\n"
    )
}

/// Starts kamailio as the carrier's registrar (digest, SHA-256, qop=auth).
pub fn start_registrar(lab: &Lab) -> Proc {
    start_kamailio(lab, "registrar.cfg")
}

/// Starts kamailio at the carrier, port 5060, with `config` from `tests/kamailio/`.
pub fn start_kamailio(lab: &Lab, config: &str) -> Proc {
    prereq::require_tools("registrar", &["kamailio"]);
    let bin = prereq::which("kamailio").expect("checked");
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("kamailio")
        .join(config);
    let run = lab.dir().join("kamailio");
    std::fs::create_dir_all(&run).expect("kamailio run dir");
    let listen = format!("udp:{CARRIER_IP}:5060");
    let proc = lab.spawn(
        "carrier",
        "kamailio",
        &bin,
        &[
            "-f",
            &cfg.to_string_lossy(),
            "-DD",
            "-E",
            "-l",
            &listen,
            "-Y",
            &run.to_string_lossy(),
            "-m",
            "64",
            "-M",
            "8",
        ],
        &[],
    );
    assert!(
        proc.wait_count("INFO", 3, Duration::from_secs(10)),
        "kamailio did not start:\n{}",
        proc.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    proc
}

/// Takes the registrar away: SIGTERM as kamailio's documentation says (its main process
/// then ends its children and waits for them, up to the config's `exit_timeout`), and
/// SIGKILL to every kamailio process in the carrier namespace if that took over 5 s.
pub fn stop_registrar(lab: &Lab, registrar: &Proc) {
    lab.stop(
        "carrier",
        registrar,
        "kamailio",
        nix::sys::signal::Signal::SIGTERM,
        Duration::from_secs(5),
    );
}

/// Runs baresip in the carrier namespace to call `uri` for `secs` seconds: it sends a
/// 440 Hz sine and writes what it hears to WAV files under the returned directory.
pub fn baresip_call(lab: &Lab, uri: &str, secs: u32) -> (PathBuf, String) {
    prereq::require_tools("baresip", &["baresip"]);
    let dir = lab.dir().join("baresip");
    let heard = dir.join("heard");
    std::fs::create_dir_all(&heard).expect("baresip dir");
    let config = format!(
        "poll_method epoll\nsip_listen {CARRIER_IP}:5080\naudio_player aufile,/dev/null\n\
         audio_source ausine,440\nausrc_srate 48000\nausrc_channels 2\nauplay_srate 48000\naudio_alert aufile,/dev/null\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule ausine.so\nmodule aufile.so\nmodule sndfile.so\nmodule menu.so\n\
         module_app account.so\nsnd_path {}\n",
        heard.display()
    );
    std::fs::write(dir.join("config"), config).expect("baresip config");
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:carrier@{CARRIER_IP}:5080>;regint=0\n"),
    )
    .expect("accounts");
    let out = Command::new("timeout")
        .args([
            &(secs + 10).to_string(),
            "ip",
            "netns",
            "exec",
            &lab.ns("carrier"),
            "baresip",
        ])
        .args([
            "-f",
            &dir.to_string_lossy(),
            "-e",
            &format!("/dial {uri}"),
            "-t",
            &secs.to_string(),
        ])
        .output()
        .expect("running baresip");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (heard, text)
}

/// Sends one request line to a media core's control socket (what the supervisor does)
/// and returns the answer line.
pub fn control(lab: &Lab, node: Node, request: &str) -> String {
    let sock = lab
        .dir()
        .join(format!("voice-{}", node.role()))
        .join("mediacore.sock");
    crate::lab::ask(&sock, request, Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer to {request:?} on {}", sock.display()))
}

/// Asks a media core's control socket for its status (the supervisor's `status` request).
pub fn status(lab: &Lab, node: Node) -> serde_json::Value {
    let line = control(lab, node, "status");
    let json = line.strip_prefix("status ").unwrap_or("null");
    serde_json::from_str(json).unwrap_or(serde_json::Value::Null)
}

/// Drops an Asterisk call file into the node's spool (written aside, then renamed in).
pub fn call_file(lab: &Lab, node: Node, name: &str, text: &str) {
    let dir = lab.dir().join(format!("voice-{}", node.role()));
    let spool = dir.join("outgoing");
    std::fs::create_dir_all(&spool).expect("spool dir");
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("call file");
    std::fs::rename(&tmp, spool.join(name)).expect("call file rename");
}

/// Starts mediacore alone on `node` (no supervisor) with `voice`; waits until it serves.
pub fn start_mediacore(lab: &Lab, node: Node, voice: &Voice) -> Proc {
    start_mediacore_bin(
        lab,
        node,
        voice,
        &prereq::workspace_bin("allerta-mediacore"),
    )
}

/// As [`start_mediacore`], with the binary at `bin` (a benchmark's "before" build).
pub fn start_mediacore_bin(lab: &Lab, node: Node, voice: &Voice, bin: &Path) -> Proc {
    let dir = lab.dir().join(format!("voice-{}", node.role()));
    std::fs::create_dir_all(&dir).expect("voice dir");
    let config = voice.write(&dir);
    let control = dir.join("mediacore.sock");
    let proc = lab.spawn(
        node.role(),
        &format!("mediacore-{}", node.role()),
        bin,
        &[
            "--config",
            &config.to_string_lossy(),
            "--control",
            &control.to_string_lossy(),
        ],
        &[("NO_COLOR", "1"), ("RUST_LOG", &voice.log)],
    );
    assert!(
        proc.wait_count("mediacore ready", 1, Duration::from_secs(10)),
        "mediacore did not start:\n{}",
        proc.log_text()
    );
    proc
}

/// The sipp scenarios shipped in `tests/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sipp")
        .join(name)
}

/// Starts a sipp UAS at the carrier on port 5070, where the lab's outbound trunk sends its
/// calls: `scenario` is a file in `tests/sipp/` or sipp's built-in `uas`, its RTP on
/// `media_port`, `extra` more sipp options. Fails at once if sipp refuses the scenario
/// (it exits straight away), rather than later as calls nobody answered.
pub fn carrier_uas(lab: &Lab, scenario: &str, media_port: &str, extra: &[&str]) -> Proc {
    let carrier = CARRIER_IP.to_string();
    let path = self::scenario(scenario).to_string_lossy().into_owned();
    let mut args = if scenario == "uas" {
        vec!["-sn", "uas"]
    } else {
        vec!["-sf", path.as_str()]
    };
    args.extend([
        "-i", &carrier, "-p", "5070", "-mi", &carrier, "-mp", media_port, "-nostdin",
    ]);
    args.extend_from_slice(extra);
    let sipp = sipp_background(lab, &args);
    assert!(
        lab.wait_exit(&sipp, Duration::from_millis(500)).is_none(),
        "sipp did not start:\n{}",
        sipp.log_text()
    );
    sipp
}

/// Starts the carrier's sipp UAS on port 5070 (challenges with digest, answers, presses
/// 1, waits for the BYE), with its media on `media_port`.
pub fn carrier_answers(lab: &Lab, media_port: &str) -> Proc {
    let extra = ["-m", "1", "-timeout", "30s", "-timeout_error"];
    carrier_uas(lab, "uas_auth_dtmf.xml", media_port, &extra)
}

/// Runs sipp in the carrier namespace to completion; returns (exit ok, its output).
pub fn sipp(lab: &Lab, args: &[&str], timeout: Duration) -> (bool, String) {
    prereq::require_tools("sipp", &["sipp"]);
    let secs = timeout.as_secs().max(1).to_string();
    let out = Command::new("timeout")
        .args([&secs, "ip", "netns", "exec", &lab.ns("carrier"), "sipp"])
        .args(args)
        .output()
        .expect("running sipp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Starts sipp in the carrier namespace in the background (a UAS waiting for calls).
pub fn sipp_background(lab: &Lab, args: &[&str]) -> Proc {
    prereq::require_tools("sipp", &["sipp"]);
    let bin = prereq::which("sipp").expect("checked");
    let proc = lab.spawn("carrier", "sipp", &bin, args, &[]);
    // sipp binds before it prints its screen; give it a moment to be listening.
    std::thread::sleep(Duration::from_millis(300));
    proc
}

/// RTP packets as tshark decoded them: (arrival seconds, source, destination, PT, seq).
#[derive(Debug, Clone)]
pub struct RtpPacket {
    pub time: f64,
    pub src: String,
    pub dst: String,
    pub payload_type: u8,
    pub seq: u16,
}

/// Reads RTP out of a capture (tshark's heuristic RTP dissector finds it on any port).
pub fn rtp_packets(pcap: &Path) -> Vec<RtpPacket> {
    let mut args = vec!["-r".to_string(), pcap.to_string_lossy().into_owned()];
    // tshark decodes RTP on any UDP port with its heuristic dissector on.
    args.extend(["-o".into(), "rtp.heuristic_rtp:TRUE".into(), "-Y".into()]);
    args.push("rtp && !rtcp".into());
    args.extend(
        [
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "rtp.p_type",
            "-e",
            "rtp.seq",
        ]
        .map(String::from),
    );
    let out = Command::new("tshark")
        .args(&args)
        .output()
        .expect("running tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some(RtpPacket {
                time: f.first()?.parse().ok()?,
                src: f.get(1)?.to_string(),
                dst: f.get(2)?.to_string(),
                payload_type: f.get(3)?.parse().ok()?,
                seq: f.get(4)?.parse().ok()?,
            })
        })
        .collect()
}

/// Starts tshark capturing UDP on `iface` in `role`'s namespace into `pcap`.
pub fn capture(lab: &Lab, role: &str, iface: &str, pcap: &Path) -> Proc {
    prereq::require_tools("capture", &["tshark"]);
    let tshark = prereq::which("tshark").expect("checked");
    let pcap = pcap.to_string_lossy().into_owned();
    let proc = lab.spawn(
        role,
        "tshark",
        &tshark,
        &["-i", iface, "-f", "udp", "-w", &pcap],
        &[],
    );
    // tshark says "Capturing on" once the capture runs.
    assert!(
        proc.wait_count("Capturing on", 1, Duration::from_secs(10)),
        "tshark: {}",
        proc.log_text()
    );
    proc
}

/// Summary of one direction's pacing: (packets, mean gap ms, gaps outside 20 ± 2 ms).
pub fn pacing(packets: &[&RtpPacket]) -> (usize, f64, usize) {
    let gaps: Vec<f64> = packets
        .windows(2)
        .map(|w| (w[1].time - w[0].time) * 1000.0)
        .collect();
    let mean = if gaps.is_empty() {
        0.0
    } else {
        gaps.iter().sum::<f64>() / gaps.len() as f64
    };
    let outside = gaps.iter().filter(|g| !(18.0..=22.0).contains(*g)).count();
    (packets.len(), mean, outside)
}

/// Runs one sipp UAC scenario from the carrier against node A's alert line.
pub fn carrier_calls(lab: &Lab, scenario: &str, service: &str, extra: &[&str]) -> (bool, String) {
    carrier_calls_to(lab, Node::A, "16000", scenario, service, extra)
}

/// Runs one sipp UAC scenario from the carrier against `node`'s alert line, its RTP on
/// `media_port` (16000 is taken where the appliance's citizens answer).
pub fn carrier_calls_to(
    lab: &Lab,
    node: Node,
    media_port: &str,
    scenario: &str,
    service: &str,
    extra: &[&str],
) -> (bool, String) {
    let target = format!("{}:5060", node.voice_ip());
    let carrier = CARRIER_IP.to_string();
    let scenario = self::scenario(scenario);
    let scenario = scenario.to_string_lossy();
    let mut args = vec![
        target.as_str(),
        "-sf",
        &scenario,
        "-s",
        service,
        "-m",
        "1",
        "-i",
        &carrier,
        "-mi",
        &carrier,
        "-mp",
        media_port,
        "-nostdin",
        "-timeout",
        "30s",
        "-timeout_error",
    ];
    args.extend_from_slice(extra);
    sipp(lab, &args, Duration::from_secs(40))
}

/// The relative power of a tone of `hz` in a 16-bit PCM WAV (Goertzel over the whole
/// first channel, normalised by the signal's energy): near 1 when the audio is that tone,
/// near 0 when it is another or silence.
pub fn tone_share(wav: &[u8], hz: f64) -> f64 {
    let field = |at: usize, len: usize| -> u32 {
        wav.get(at..at + len).map_or(0, |b| {
            b.iter()
                .rev()
                .fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
        })
    };
    let channels = field(22, 2).max(1) as usize;
    let rate = f64::from(field(24, 4).max(1));
    let Some(data) = wav.windows(4).position(|w| w == b"data").map(|i| i + 8) else {
        return 0.0;
    };
    let samples: Vec<i16> = wav[data..]
        .chunks_exact(2 * channels)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    share_of(&samples, hz, rate)
}

/// The relative power of a tone of `hz` in `samples` at `rate` (Goertzel, normalised by
/// the signal's energy): near 1 for that tone, near 0 for another or silence.
pub fn share_of(samples: &[i16], hz: f64, rate: f64) -> f64 {
    let energy: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    if samples.is_empty() || energy == 0.0 {
        return 0.0;
    }
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / rate).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for x in samples {
        let s0 = f64::from(*x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // A pure tone over N samples gives power = energy * N / 2.
    power / (energy * samples.len() as f64 / 2.0)
}

/// The carrier calls the alert line (service 100) with `scenario`, captured at the
/// carrier; the call must succeed and its 1 reach `Read`. The capture, and the node.
pub fn alert_call(lab: &Lab, scenario: &str) -> (PathBuf, Proc) {
    prereq::require_root("alert call");
    prereq::require_tools("alert call", &["sipp", "tshark"]);
    let node = start_mediacore(lab, Node::A, &Voice::alert_line(Node::A));
    let pcap = lab.dir().join("carrier.pcap");
    let capture = capture(lab, "carrier", "eth0", &pcap);
    let (ok, out) = carrier_calls(lab, scenario, "100", &[]);
    std::thread::sleep(Duration::from_millis(300));
    lab.signal(&capture, nix::sys::signal::Signal::SIGINT);
    lab.wait_exit(&capture, Duration::from_secs(5));
    assert!(ok, "sipp failed:\n{out}\nmediacore:\n{}", node.log_text());
    assert!(
        node.wait_count("ack=1", 1, Duration::from_secs(2)),
        "the digit never reached Read:\n{}",
        node.log_text()
    );
    assert_eq!(node.count("call ended"), 1, "{}", node.log_text());
    (pcap, node)
}
