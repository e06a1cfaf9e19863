//! The media core against real SIP peers in the lab: sipp as the carrier calling the
//! node's inbound trunk (answer, prompt, RTP both ways with 20 ms pacing, RFC 4733 digit,
//! BYE from the dialplan's Hangup).

use std::time::Duration;

use system_tests::lab::{Lab, Node, CARRIER_IP};
use system_tests::prereq;
use system_tests::voice::{self, Voice};

#[test]
fn the_carrier_calls_the_alert_line_hears_the_prompt_and_confirms_with_1() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp", "tshark"]);
    let lab = Lab::two_nodes("mc-alert");
    let node = voice::start_mediacore(&lab, Node::A, &Voice::alert_line(Node::A));
    let pcap = lab.dir().join("carrier.pcap");
    let capture = voice::capture(&lab, "carrier", "eth0", &pcap);
    let target = format!("{}:5060", Node::A.voice_ip());
    let carrier = CARRIER_IP.to_string();
    let scenario = voice::scenario("uac_alert.xml");
    let (ok, out) = voice::sipp(
        &lab,
        &[
            &target,
            "-sf",
            &scenario.to_string_lossy(),
            "-s",
            "100",
            "-m",
            "1",
            "-i",
            &carrier,
            "-mi",
            &carrier,
            "-mp",
            "16000",
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
        ],
        Duration::from_secs(40),
    );
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

    let packets = voice::rtp_packets(&pcap, 10000..=20000);
    let ours: Vec<_> = packets
        .iter()
        .filter(|p| p.src == Node::A.voice_ip().to_string())
        .collect();
    let theirs: Vec<_> = packets.iter().filter(|p| p.src == carrier).collect();
    // alert 2 s, confirm until the digit (at ~2.6 s), thanks 0.5 s: over 3 s of audio.
    let (n, mean, outside) = voice::pacing(&ours);
    assert!(n >= 150, "only {n} RTP packets from the node");
    assert!((19.5..=20.5).contains(&mean), "mean gap {mean:.2} ms");
    // A debug build on a shared 2-core machine: a rare late wake-up is tolerated here; the
    // benchmark measures pacing on the release build.
    assert!(
        outside * 100 <= n * 3,
        "{outside} of {n} gaps outside 20 ± 2 ms"
    );
    // sipp plays g711a.pcap until the digit's pcap replaces it, ~2.6 s in.
    assert!(
        theirs.len() >= 80,
        "only {} RTP packets from the carrier",
        theirs.len()
    );
    assert!(
        ours.iter().all(|p| p.payload_type == 8),
        "the node must answer in PCMA, the only codec offered"
    );
}

#[test]
fn a_call_file_places_an_outbound_call_that_answers_a_digest_challenge_and_reads_the_digit() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-out");
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push('\n');
    voice.pjsip.push_str(&voice::outbound_pjsip());
    voice.dialplan.push('\n');
    voice.dialplan.push_str(voice::OUTBOUND_DIALPLAN);
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let carrier = CARRIER_IP.to_string();
    let scenario = voice::scenario("uas_auth_dtmf.xml");
    let sipp = voice::sipp_background(
        &lab,
        &[
            "-sf",
            &scenario.to_string_lossy(),
            "-m",
            "1",
            "-i",
            &carrier,
            "-p",
            "5070",
            "-mi",
            &carrier,
            "-mp",
            "16000",
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
        ],
    );
    voice::call_file(&lab, Node::A, "alert-1.call", "Channel: PJSIP/0744100@carrier-out\nContext: alert-out\nExtension: s\nWaitTime: 10\nArchive: yes\n");
    let status = lab.wait_exit(&sipp, Duration::from_secs(40));
    assert!(
        status.is_some_and(|s| s.success()),
        "sipp UAS failed:\n{}\nmediacore:\n{}",
        sipp.log_text(),
        node.log_text()
    );
    assert!(
        node.wait_count("outbound ack=1", 1, Duration::from_secs(2)),
        "{}",
        node.log_text()
    );
    let done = lab.dir().join("voice-node-a/outgoing_done/alert-1.call");
    assert!(
        system_tests::lab::wait_until(Duration::from_secs(3), || std::fs::read_to_string(&done)
            .is_ok_and(|t| t.contains("Status: Completed")))
        .is_some(),
        "no archived call file with Status: Completed\n{}",
        node.log_text()
    );
}

#[test]
fn the_outbound_trunk_registers_with_kamailio_refreshes_and_comes_back_after_the_registrar_does() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["kamailio"]);
    let lab = Lab::two_nodes("mc-reg");
    let registrar = voice::start_registrar(&lab);
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push('\n');
    voice.pjsip.push_str(&voice::outbound_pjsip());
    voice.pjsip.push_str(&voice::registration_pjsip(20));
    // T1 = 100 ms: a lost registrar is noticed after 64 × T1 = 6.4 s instead of 32 s.
    voice.extra.push_str("sip_t1_ms = 100\n");
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let bound = "registrar: bound sip:alerta@";
    assert!(
        registrar.wait_count(bound, 1, Duration::from_secs(5)),
        "never registered:\n{}\n{}",
        registrar.log_text(),
        node.log_text()
    );
    let status = voice::status(&lab, Node::A);
    assert_eq!(registration(&status), "registered", "{status}");
    assert_eq!(
        status["checks"]["trunk-carrier-out"]["ok"], true,
        "{status}"
    );
    // Granted 20 s: refreshed 10 s later, on the same binding.
    assert!(
        registrar.wait_count(bound, 2, Duration::from_secs(13)),
        "never refreshed:\n{}",
        node.log_text()
    );

    // The provider goes away: the next refresh fails and the health check says so.
    lab.signal(&registrar, nix::sys::signal::Signal::SIGTERM);
    assert!(
        lab.wait_exit(&registrar, Duration::from_secs(5)).is_some(),
        "kamailio did not stop"
    );
    assert!(
        node.wait_count("registration failed", 1, Duration::from_secs(20)),
        "failure not noticed:\n{}",
        node.log_text()
    );
    let status = voice::status(&lab, Node::A);
    assert_eq!(
        status["checks"]["trunk-carrier-out"]["ok"], false,
        "{status}"
    );
    assert!(registration(&status).starts_with("failed: 408"), "{status}");

    // ... and comes back: the node registers again by itself.
    let registrar = voice::start_registrar(&lab);
    assert!(
        registrar.wait_count(bound, 1, Duration::from_secs(20)),
        "never re-registered:\n{}",
        node.log_text()
    );
    let status = voice::status(&lab, Node::A);
    assert_eq!(registration(&status), "registered", "{status}");
}

/// The registration state of the outbound trunk in a status report.
fn registration(status: &serde_json::Value) -> String {
    let trunks = status["trunks"].as_array().cloned().unwrap_or_default();
    let trunk = trunks
        .iter()
        .find(|t| t["name"] == "carrier-out")
        .cloned()
        .unwrap_or_default();
    trunk["registration"].as_str().unwrap_or("").to_owned()
}

#[test]
fn baresip_calls_the_alert_line_and_hears_the_prompt() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["baresip"]);
    let lab = Lab::two_nodes("mc-baresip");
    let node = voice::start_mediacore(&lab, Node::A, &Voice::alert_line(Node::A));
    let uri = format!("sip:100@{}:5060", Node::A.voice_ip());
    let (heard, out) = voice::baresip_call(&lab, &uri, 6);
    assert!(
        node.count("inbound call") == 1,
        "baresip's call never arrived:\n{out}\n{}",
        node.log_text()
    );
    // sndfile writes what baresip decoded from our RTP: the 440 Hz alert prompt.
    let decoded = std::fs::read_dir(&heard)
        .expect("heard dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("dec"))
        .unwrap_or_else(|| panic!("baresip recorded nothing:\n{out}"));
    let wav = std::fs::read(&decoded).expect("decoded wav");
    let samples: Vec<i16> = wav[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let loud = samples.iter().filter(|s| s.unsigned_abs() > 2000).count();
    assert!(
        loud > 8000,
        "only {loud} loud samples in what baresip heard ({} samples):\n{out}",
        samples.len()
    );
}
