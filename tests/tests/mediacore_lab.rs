//! The media core against real SIP peers in the lab: sipp as the carrier calling the
//! node's inbound trunk (answer, prompt, RTP both ways, RFC 4733 digit, BYE from the
//! dialplan's Hangup). The 20 ms pacing is measured in `pacing_lab`, alone.

use std::time::Duration;

use system_tests::lab::{wait_until, Lab, Node, CARRIER_IP};
use system_tests::prereq;
use system_tests::voice::{self, Voice};

#[test]
fn a_delayed_offer_is_answered_with_our_offer_and_the_acks_answer_carries_the_call() {
    // An INVITE without SDP: the 200 must carry our offer (sipp checks it has A-law and
    // telephone-event), the ACK's answer sets where our audio goes, and the 1 sent after
    // it is read.
    let lab = Lab::two_nodes("mc-delayed");
    let (pcap, _node) = voice::alert_call(&lab, "uac_delayed_offer.xml");
    let ours: Vec<_> = voice::rtp_packets(&pcap)
        .into_iter()
        .filter(|p| p.src == Node::A.voice_ip().to_string() && p.dst == CARRIER_IP.to_string())
        .collect();
    // Over 3 s of prompts, in the codec the ACK chose (A-law, 8).
    assert!(
        ours.len() >= 150,
        "only {} RTP packets from the node",
        ours.len()
    );
    assert!(
        ours.iter().all(|p| p.payload_type == 8),
        "not all A-law: {:?}",
        ours.iter()
            .map(|p| p.payload_type)
            .collect::<std::collections::BTreeSet<_>>()
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
    let sipp = voice::carrier_answers(&lab, "16000");
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
    // A trunk qualified with OPTIONS every second at the same registrar.
    voice.pjsip.push_str(&format!(
        "\n[carrier-q]\ntype=endpoint\ncontext=from-carrier\naors=carrier-q\n\n\
         [carrier-q]\ntype=aor\ncontact=sip:{CARRIER_IP}:5060\nqualify_frequency=1\n"
    ));
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
    // kamailio logs the binding before it sends the 200 OK: the node has it a moment later
    // (a status read at once saw "registering" on a loaded machine).
    let registered = wait_until(Duration::from_secs(2), || {
        registration(&voice::status(&lab, Node::A)) == "registered"
    });
    let status = voice::status(&lab, Node::A);
    assert!(
        registered.is_some(),
        "not registered 2 s after the registrar bound it: {status}"
    );
    assert_eq!(
        status["checks"]["trunk-carrier-out"]["ok"], true,
        "{status}"
    );
    let q = trunk(&status, "carrier-q");
    assert_eq!(q["reachability"], "reachable", "{status}");
    assert!(q["rtt_ms"].as_f64().is_some_and(|ms| ms < 50.0), "{status}");
    // Granted 20 s: refreshed 10 s later, on the same binding.
    assert!(
        registrar.wait_count(bound, 2, Duration::from_secs(13)),
        "never refreshed:\n{}",
        node.log_text()
    );

    // The provider goes away: the next refresh fails and the health check says so.
    voice::stop_registrar(&lab, &registrar);
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
    assert_eq!(
        trunk(&status, "carrier-q")["reachability"],
        "unreachable",
        "{status}"
    );

    // ... and comes back: the node registers again by itself.
    let registrar = voice::start_registrar(&lab);
    assert!(
        registrar.wait_count(bound, 1, Duration::from_secs(20)),
        "never re-registered:\n{}",
        node.log_text()
    );
    let registered = wait_until(Duration::from_secs(2), || {
        registration(&voice::status(&lab, Node::A)) == "registered"
    });
    let status = voice::status(&lab, Node::A);
    assert!(
        registered.is_some(),
        "not registered again 2 s after the registrar bound it: {status}"
    );
}

/// A trunk's entry in a status report.
fn trunk(status: &serde_json::Value, name: &str) -> serde_json::Value {
    let trunks = status["trunks"].as_array().cloned().unwrap_or_default();
    trunks
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
        .unwrap_or_default()
}

/// The registration state of the outbound trunk in a status report.
fn registration(status: &serde_json::Value) -> String {
    trunk(status, "carrier-out")["registration"]
        .as_str()
        .unwrap_or("")
        .to_owned()
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

/// Sends `datagrams` from the carrier over UDP and returns the first line of each answer
/// that came back within 300 ms.
fn udp_exchange(lab: &Lab, to: std::net::SocketAddr, datagrams: Vec<Vec<u8>>) -> Vec<String> {
    system_tests::probe::in_netns(&lab.ns("carrier"), move || {
        let sock = std::net::UdpSocket::bind((CARRIER_IP, 5099)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut answers = Vec::new();
        for d in datagrams {
            sock.send_to(&d, to).expect("send");
            let mut buf = [0u8; 4096];
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                answers.push(text.lines().next().unwrap_or("").to_owned());
            }
        }
        answers
    })
}

const OPTIONS: &str = "OPTIONS sip:100@10.78.0.11 SIP/2.0\r\n\
    Via: SIP/2.0/TCP 10.78.0.1:5099;branch=z9hG4bK-tcp-1\r\n\
    From: <sip:probe@10.78.0.1>;tag=p1\r\nTo: <sip:100@10.78.0.11>\r\n\
    Call-ID: tcp-options-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

#[test]
fn garbage_and_malformed_sip_on_udp_and_tcp_get_errors_and_calls_still_work() {
    use std::io::{Read, Write};
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-garbage");
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push_str(&format!(
        "\n[transport-tcp]\ntype=transport\nprotocol=tcp\nbind={}:5060\n",
        Node::A.voice_ip()
    ));
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let to: std::net::SocketAddr = format!("{}:5060", Node::A.voice_ip()).parse().unwrap();

    // Over UDP the same request gets its own branch: same branch and sent-by would be a
    // retransmission of one transaction (RFC 3261 §17.2.3), whatever the transport.
    let udp = OPTIONS.replace("TCP", "UDP").replace("-tcp-", "-udp-");
    let no_call_id = udp.replace("Call-ID: tcp-options-1\r\n", "");
    let bad_cseq = udp
        .replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS")
        .replace("-udp-1", "-udp-2");
    let answers = udp_exchange(
        &lab,
        to,
        vec![
            b"\x00\x01\x02garbage\r\n\r\n".to_vec(),
            vec![0xff; 1400],
            b"INVITE sip:x SIP/2.0\r\n\r\n".to_vec(),
            no_call_id.into_bytes(),
            bad_cseq.into_bytes(),
            udp.replace("-udp-1", "-udp-3").into_bytes(),
        ],
    );
    assert_eq!(
        answers,
        [
            "SIP/2.0 400 Bad Request",
            "SIP/2.0 400 Bad Request",
            "SIP/2.0 200 OK"
        ],
        "unparsable datagrams are dropped, malformed requests with a Via get 400"
    );

    // TCP: a request framed by Content-Length is answered on the same connection; a
    // stream that cannot be framed is cut off.
    let (answer, closed) = system_tests::probe::in_netns(&lab.ns("carrier"), move || {
        let mut s = std::net::TcpStream::connect(to).expect("tcp connect");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(OPTIONS.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let answer = String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        s.write_all(b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP x\r\n\r\n")
            .unwrap();
        let closed = matches!(s.read(&mut buf), Ok(0) | Err(_));
        (answer, closed)
    });
    assert_eq!(answer, "SIP/2.0 200 OK");
    assert!(closed, "a stream without Content-Length must be closed");

    // An INVITE from an address no trunk identifies: one 403 and nothing else (no 100 Trying,
    // no retransmission: a spoofed source gets no more than was sent in its name), counted.
    lab.ip("carrier", &["addr", "add", "10.78.0.99/24", "dev", "eth0"]);
    let stranger = OPTIONS
        .replace("OPTIONS sip", "INVITE sip")
        .replace("1 OPTIONS", "1 INVITE")
        .replace(
            "TCP 10.78.0.1:5099;branch=z9hG4bK-tcp-1",
            "UDP 10.78.0.99:5099;branch=z9hG4bK-stranger",
        )
        .replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nContact: <sip:x@10.78.0.99:5099>\r\n",
        );
    let answer = system_tests::probe::in_netns(&lab.ns("carrier"), move || {
        let sock = std::net::UdpSocket::bind("10.78.0.99:5099").expect("bind");
        // Long enough for Timer G's first two retransmissions (0.5 s, 1.5 s).
        sock.set_read_timeout(Some(Duration::from_millis(1800)))
            .unwrap();
        sock.send_to(stranger.as_bytes(), to).unwrap();
        let mut buf = [0u8; 4096];
        let mut answers = Vec::new();
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            answers.push(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        answers
    });
    assert_eq!(answer, ["SIP/2.0 403 Forbidden"]);

    let status = voice::status(&lab, Node::A);
    assert_eq!(status["unidentified_invites"], 1, "{status}");
    assert!(status["sip"]["unparsable"].as_u64() >= Some(2), "{status}");
    // The INVITE without headers is a bad request too, but without a Via it gets no answer.
    assert!(
        status["sip"]["bad_requests"].as_u64() >= Some(3),
        "{status}"
    );

    // The core still serves calls.
    let (ok, out) = voice::carrier_calls(&lab, "uac_alert.xml", "100", &[]);
    assert!(
        ok,
        "the call after the garbage failed:\n{out}\n{}",
        node.log_text()
    );
}

#[test]
fn a_running_node_answers_each_rfc4475_torture_message_as_the_rfc_asks() {
    use mediacore::sip::message;
    use system_tests::rfc4475::{self, Outcome};
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-rfc4475");
    let node = voice::start_mediacore(&lab, Node::A, &Voice::alert_line(Node::A));
    let to: std::net::SocketAddr = format!("{}:5060", Node::A.voice_ip()).parse().unwrap();
    // The answer to a message is the one that carries its top Via (and its Call-ID): the
    // calls some messages start go on answering meanwhile.
    let key = |bytes: &[u8]| {
        let m = message::read(bytes).ok()?.message;
        let via = message::header(m.headers(), "Via")?.to_owned();
        Some((
            via,
            message::header(m.headers(), "Call-ID").map(str::to_owned),
        ))
    };
    let got = system_tests::probe::in_netns(&lab.ns("carrier"), move || {
        let sock = std::net::UdpSocket::bind((CARRIER_IP, 5099)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut got = Vec::new();
        for (tag, _, _) in rfc4475::CASES {
            let bytes = rfc4475::message(tag);
            sock.send_to(&bytes, to).expect("send");
            let want = key(&bytes);
            let deadline = std::time::Instant::now() + Duration::from_millis(400);
            let mut outcome = Outcome::Silent;
            let mut buf = [0u8; 8192];
            while std::time::Instant::now() < deadline {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if want.is_none() || key(&buf[..n]) != want {
                    continue;
                }
                let code = message::read(&buf[..n]).ok().and_then(|p| match p.message {
                    message::SipMessage::Response(r) => Some(r.status_code.code()),
                    message::SipMessage::Request(_) => None,
                });
                outcome = match code {
                    Some(100) => Outcome::Call,
                    Some(code) => Outcome::Answer(code),
                    None => continue,
                };
                break;
            }
            got.push((*tag, outcome));
        }
        got
    });
    let wrong: Vec<String> = got
        .iter()
        .filter(|(tag, outcome)| rfc4475::expected(tag) != *outcome)
        .map(|(tag, outcome)| format!("{tag}: {outcome:?}, want {:?}", rfc4475::expected(tag)))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}\n{}", node.log_text());
    // And the node still takes a call.
    let (ok, out) = voice::carrier_calls(&lab, "uac_alert.xml", "100", &[]);
    assert!(
        ok,
        "the call after the torture failed:\n{out}\n{}",
        node.log_text()
    );
}

#[test]
fn answered_and_hung_up_at_once_the_node_sends_its_bye_only_after_the_ack() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-late-ack");
    let mut voice = Voice::alert_line(Node::A);
    voice
        .dialplan
        .push_str("exten => 102,1,Answer()\n same => n,Hangup()\n");
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let (ok, out) = voice::carrier_calls(&lab, "uac_late_ack.xml", "102", &[]);
    assert!(
        ok,
        "a BYE before the ACK, or none after:\n{out}\n{}",
        node.log_text()
    );
    let status = voice::status(&lab, Node::A);
    assert_eq!(status["active_calls"], 0, "{status}");
}

#[test]
fn busy_congestion_and_hangup_causes_refuse_an_unanswered_call_with_their_sip_status() {
    prereq::require_root("mediacore lab");
    let lab = Lab::two_nodes("mc-busy");
    let mut voice = Voice::alert_line(Node::A);
    voice.dialplan.push_str(
        "exten => 103,1,Busy()\nexten => 104,1,Congestion(5)\nexten => 105,1,Hangup(21)\n",
    );
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let to: std::net::SocketAddr = format!("{}:5060", Node::A.voice_ip()).parse().unwrap();
    let finals = system_tests::probe::in_netns(&lab.ns("carrier"), move || {
        let sock = std::net::UdpSocket::bind((CARRIER_IP, 5099)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut finals = Vec::new();
        let sdp = format!(
            "v=0\r\no=c 1 1 IN IP4 {CARRIER_IP}\r\ns=-\r\nc=IN IP4 {CARRIER_IP}\r\nt=0 0\r\n\
             m=audio 16500 RTP/AVP 0\r\n"
        );
        for exten in ["103", "104", "105"] {
            let invite = format!(
                "INVITE sip:{exten}@{ip} SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER_IP}:5099;branch=z9hG4bK-busy-{exten}\r\n\
                 From: <sip:0744@{CARRIER_IP}>;tag=b{exten}\r\nTo: <sip:{exten}@{ip}>\r\n\
                 Call-ID: busy-{exten}\r\nCSeq: 1 INVITE\r\nContact: <sip:0744@{CARRIER_IP}:5099>\r\n\
                 Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len(),
                ip = Node::A.voice_ip()
            );
            sock.send_to(invite.as_bytes(), to).expect("send");
            let mut buf = [0u8; 4096];
            let code = loop {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    break 0;
                };
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let code: u16 = text.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0);
                if code >= 200 && text.contains(&format!("busy-{exten}")) {
                    break code;
                }
            };
            finals.push(code);
        }
        finals
    });
    assert_eq!(finals, [486, 503, 403], "{}", node.log_text());
}

#[test]
fn a_call_over_tcp_survives_a_re_invite_and_reads_the_digit() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-tcp");
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push_str(&format!(
        "\n[transport-tcp]\ntype=transport\nprotocol=tcp\nbind={}:5060\n",
        Node::A.voice_ip()
    ));
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let (ok, out) = voice::carrier_calls(&lab, "uac_reinvite.xml", "100", &["-t", "t1"]);
    assert!(ok, "sipp over TCP failed:\n{out}\n{}", node.log_text());
    assert!(
        node.wait_count("ack=1", 1, Duration::from_secs(2)),
        "{}",
        node.log_text()
    );
    let (ok, out) = voice::carrier_calls(&lab, "uac_reinvite.xml", "100", &[]);
    assert!(ok, "sipp over UDP failed:\n{out}\n{}", node.log_text());
}

#[test]
fn a_caller_who_cancels_gets_487_and_a_silent_caller_is_hung_up_on() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-cancel");
    let mut voice = Voice::alert_line(Node::A);
    voice.extra.push_str("rtp_timeout_secs = 2\n");
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let (ok, out) = voice::carrier_calls(&lab, "uac_cancel.xml", "101", &[]);
    assert!(ok, "cancel scenario failed:\n{out}\n{}", node.log_text());
    let started = std::time::Instant::now();
    let (ok, out) = voice::carrier_calls(&lab, "uac_silent.xml", "100", &[]);
    assert!(
        ok,
        "the node never hung up on a silent caller:\n{out}\n{}",
        node.log_text()
    );
    assert!(
        node.count("no rtp for the inactivity timeout") == 1,
        "{}",
        node.log_text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "hung up after {:?}, timeout is 2 s",
        started.elapsed()
    );
    let status = voice::status(&lab, Node::A);
    assert_eq!(status["active_calls"], 0, "{status}");
}

#[test]
fn a_peer_at_an_unidentified_address_gets_in_only_with_the_right_digest_credentials() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-auth");
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push_str(
        "\n[gw-auth]\ntype=auth\nauth_type=userpass\nusername=gw\npassword=pw\n\n\
         [gateway]\ntype=endpoint\ncontext=from-carrier\ndisallow=all\nallow=alaw\nauth=gw-auth\n",
    );
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    lab.ip("carrier", &["addr", "add", "10.78.0.99/24", "dev", "eth0"]);
    let stranger = ["-i", "10.78.0.99", "-mi", "10.78.0.99"];
    let (ok, out) = voice::carrier_calls(
        &lab,
        "uac_auth.xml",
        "100",
        &[&stranger[..], &["-au", "gw", "-ap", "pw"]].concat(),
    );
    assert!(
        ok,
        "an authenticated gateway was not let in:\n{out}\n{}",
        node.log_text()
    );
    assert_eq!(node.count("peer authenticated"), 1, "{}", node.log_text());
    let (ok, _) = voice::carrier_calls(
        &lab,
        "uac_auth.xml",
        "100",
        &[&stranger[..], &["-au", "gw", "-ap", "wrong"]].concat(),
    );
    assert!(!ok, "a wrong password must not get a call through");
    assert!(
        node.wait_count("wrong credentials", 1, Duration::from_secs(2)),
        "{}",
        node.log_text()
    );
    assert_eq!(voice::status(&lab, Node::A)["unidentified_invites"], 1);
}

#[test]
fn dial_bridges_a_caller_to_the_outbound_trunk_until_the_caller_hangs_up() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-dial");
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push('\n');
    voice.pjsip.push_str(&voice::outbound_pjsip());
    voice.dialplan.push_str(
        "exten => 102,1,Dial(PJSIP/0744100@carrier-out,10)\n same => n,Verbose(1,dial ${DIALSTATUS})\n same => n,Hangup()\n",
    );
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let callee = voice::carrier_answers(&lab, "16100");
    let (ok, out) = voice::carrier_calls(&lab, "uac_bye.xml", "102", &[]);
    assert!(ok, "the caller's side failed:\n{out}\n{}", node.log_text());
    let status = lab.wait_exit(&callee, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "the callee never got its BYE:\n{}\n{}",
        callee.log_text(),
        node.log_text()
    );
    let bridged = node
        .log_text()
        .lines()
        .find(|l| l.contains("bridge ended"))
        .map(str::to_owned)
        .unwrap_or_default();
    let count = |key: &str| -> u64 {
        bridged
            .split(&format!("{key}="))
            .nth(1)
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    // The caller talked for 3 s (g711a.pcap): that audio reached the callee's side.
    assert!(
        count("caller_to_callee") >= 100,
        "{bridged}\n{}",
        node.log_text()
    );
    assert!(bridged.contains("end=Caller"), "{bridged}");
}

#[test]
fn an_ami_application_written_with_panoramisk_originates_an_alert_call() {
    // This application hangs the call up itself (AMI Hangup) while the carrier's sipp is
    // still waiting to press 1, so sipp reports an unexpected BYE: not its success.
    ami_application("panoramisk", "originate_panoramisk.py", false);
}

#[test]
fn an_ami_application_written_with_asterisk_ami_originates_an_alert_call() {
    ami_application("asterisk.ami", "originate_asterisk_ami.py", true);
}

/// Runs a Python AMI application (tests/ami/<script>) from the client namespace against
/// node A's AMI; it originates an alert call through the outbound trunk to a sipp UAS.
#[test]
fn a_local_channel_that_answers_itself_is_originated_listed_and_hung_up_as_asterisk_does() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["python3"]);
    // Three PyPI libraries, unmodified: panoramisk, asterisk-ami and pyst2's manager.
    let libraries = [
        ("panoramisk", "local_panoramisk.py"),
        ("asterisk.ami", "local_asterisk_ami.py"),
        ("asterisk.manager", "local_pyst2.py"),
    ];
    for (module, _) in libraries {
        prereq::require_python_module("mediacore lab", module);
    }
    let lab = Lab::two_nodes("mc-local");
    let mut voice = Voice::alert_line(Node::A);
    voice.dialplan.push_str(
        "\n[local-test]\nexten => 200,1,Answer()\n same => n,Wait(3)\n same => n,Hangup()\n",
    );
    voice.manager = Some(alertapp_manager());
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    for (module, script) in libraries {
        let (ok, text) = ami_script(&lab, script);
        assert!(
            ok && text.contains("done"),
            "the {module} application failed:\n{text}\nmediacore:\n{}",
            node.log_text()
        );
    }
}

#[test]
fn an_integrations_housekeeping_through_panoramisk_cli_listings_astdb_userevent_reload() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["python3"]);
    prereq::require_python_module("mediacore lab", "panoramisk");
    let lab = Lab::two_nodes("mc-ami-admin");
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push('\n');
    voice.pjsip.push_str(&voice::outbound_pjsip());
    voice.pjsip.push_str(&voice::registration_pjsip(3600));
    voice.manager = Some(format!(
        "[general]\nenabled = yes\nport = 5038\nbindaddr = {}\n\n\
         [admin]\nsecret = s3cret\ndeny = 0.0.0.0/0.0.0.0\npermit = 10.77.0.0/255.255.255.0\n\
         read = all\nwrite = system,command,config,user,reporting\n",
        Node::A.data_ip()
    ));
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    // AstDB writes are the master's.
    assert!(voice::control(&lab, Node::A, "role master").starts_with("ok"));
    // A reload must name what did not load: break the dialplan first.
    let extensions = lab
        .dir()
        .join(format!("voice-{}", Node::A.role()))
        .join("extensions.conf");
    std::fs::write(&extensions, "[broken\n").unwrap();
    let (ok, text) = ami_script(&lab, "admin_panoramisk.py");
    assert!(
        ok && text.contains("done"),
        "the panoramisk application failed:\n{text}\nmediacore:\n{}",
        node.log_text()
    );
}

#[test]
fn an_ivr_in_a_fastagi_server_written_with_panoramisk_or_a_local_script_answers_plays_and_reads_the_digit(
) {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp", "python3"]);
    prereq::require_python_module("mediacore lab", "panoramisk");
    let lab = Lab::two_nodes("mc-agi");
    let client = "10.77.0.100";
    let mut voice = Voice::alert_line(Node::A);
    for digit in ["digits/1", "digits/2", "digits/21"] {
        voice.prompts.push((digit.into(), 0.2));
    }
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agi/local_agi.py");
    let local_log = lab.dir().join("local-agi.log");
    voice.dialplan.push_str(&format!(
        "exten => 106,1,AGI(agi://{client}/alert,drill)\n\
         same => n,Verbose(1,after agi ack=${{ACK}} status=${{AGISTATUS}})\n\
         same => n,Hangup()\n\
         exten => 107,1,AGI({},{})\n\
         same => n,Verbose(1,after agi ack=${{ACK}} status=${{AGISTATUS}})\n\
         same => n,Hangup()\n",
        local.display(),
        local_log.display()
    ));
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    // AstDB writes are the master's: on a backup the local script's DATABASE PUT gets 0.
    let (ok, out) = voice::carrier_calls(&lab, "uac_alert.xml", "107", &[]);
    let seen = std::fs::read_to_string(&local_log).unwrap_or_default();
    assert!(ok && seen.contains("dbput 200 result=0"), "{out}\n{seen}");
    assert!(voice::control(&lab, Node::A, "role master").starts_with("ok"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agi/fastagi_panoramisk.py");
    let server = lab.spawn(
        "client",
        "fastagi",
        std::path::Path::new("python3"),
        &[&script.to_string_lossy(), client, "4573"],
        &[],
    );
    assert!(
        server.wait_count("listening", 1, Duration::from_secs(10)),
        "{}",
        server.log_text()
    );
    let (ok, out) = voice::carrier_calls(&lab, "uac_alert.xml", "106", &[]);
    assert!(
        ok,
        "the caller's side failed:\n{out}\nfastagi:\n{}\nmediacore:\n{}",
        server.log_text(),
        node.log_text()
    );
    assert!(
        server.wait_count("done 1", 1, Duration::from_secs(10)),
        "fastagi:\n{}\nmediacore:\n{}",
        server.log_text(),
        node.log_text()
    );
    assert!(
        node.wait_count("after agi ack=1 status=SUCCESS", 2, Duration::from_secs(5)),
        "{}",
        node.log_text()
    );
    // The same IVR as a local script (stdin and stdout, no library), by absolute path.
    let (ok, out) = voice::carrier_calls(&lab, "uac_alert.xml", "107", &[]);
    let seen = std::fs::read_to_string(&local_log).unwrap_or_default();
    assert!(
        ok,
        "the local script's call failed:\n{out}\n{seen}\n{}",
        node.log_text()
    );
    assert!(
        seen.contains("data 200 result=1") && seen.contains("done"),
        "{seen}"
    );
    // EXEC runs the applications that are one dialplan step, with the dialplan's
    // arguments and variables; others are "no such application" (-2).
    for expected in [
        "saydigits 200 result=0",
        "saynumber 200 result=0",
        "read 200 result=0",
        "readstatus 200 result=1 (TIMEOUT)",
        "from-exec 200 result=1 (yes,ignored)",
        "badargs 200 result=-1",
        "dbput 200 result=1",
        "dial 200 result=-2",
        "unknown 200 result=-2",
    ] {
        assert!(seen.contains(expected), "{expected}:\n{seen}");
    }
    assert!(
        node.wait_count("after agi ack=1 status=SUCCESS", 3, Duration::from_secs(5)),
        "{}",
        node.log_text()
    );
    let status = voice::status(&lab, Node::A);
    assert_eq!(status["active_calls"], 0, "{status}");
}

/// `manager.conf` on node A's data address with the one user the applications log in as.
fn alertapp_manager() -> String {
    format!(
        "[general]\nenabled = yes\nport = 5038\nbindaddr = {}\n\n\
         [alertapp]\nsecret = s3cret\ndeny = 0.0.0.0/0.0.0.0\npermit = 10.77.0.0/255.255.255.0\n\
         read = system,call\nwrite = system,call,originate\n",
        Node::A.data_ip()
    )
}

/// Runs `tests/ami/<script>` against node A's AMI from the client namespace: whether it
/// succeeded, and what it printed.
fn ami_script(lab: &Lab, script: &str) -> (bool, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ami")
        .join(script);
    let out = std::process::Command::new("timeout")
        .args(["60", "ip", "netns", "exec", &lab.ns("client"), "python3"])
        .arg(&script)
        .args([&Node::A.data_ip().to_string(), "5038"])
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ami_application(module: &str, script: &str, callee_finishes: bool) {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp", "python3"]);
    prereq::require_python_module("mediacore lab", module);
    let lab = Lab::two_nodes("mc-ami");
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push('\n');
    voice.pjsip.push_str(&voice::outbound_pjsip());
    voice.dialplan.push('\n');
    voice.dialplan.push_str(voice::OUTBOUND_DIALPLAN);
    voice.manager = Some(alertapp_manager());
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let callee = voice::carrier_answers(&lab, "16000");
    let (ok, text) = ami_script(&lab, script);
    assert!(
        ok,
        "the {module} application failed:\n{text}\nmediacore:\n{}",
        node.log_text()
    );
    assert!(text.contains("done"), "{text}");
    let status = lab.wait_exit(&callee, Duration::from_secs(20));
    if !callee_finishes {
        return;
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "the carrier's side failed:\n{}\n{}",
        callee.log_text(),
        node.log_text()
    );
}

#[test]
fn a_third_party_s_dtmf_on_the_call_s_rtp_port_confirms_nothing() {
    prereq::require_root("mediacore lab");
    prereq::require_tools("mediacore lab", &["sipp"]);
    let lab = Lab::two_nodes("mc-inject");
    let mut voice = Voice::alert_line(Node::A);
    // A narrow RTP range, so the attacker can cover every port of it.
    voice.extra.push_str(
        "rtp_port_min = 10000\nrtp_port_max = 10019\nmax_calls = 10\ncampaign_lines = 5\n",
    );
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    lab.ip("carrier", &["addr", "add", "10.78.0.99/24", "dev", "eth0"]);
    let attacker =
        system_tests::probe::udp_socket_in(&lab.ns("carrier"), "10.78.0.99:0".parse().unwrap());
    let target = Node::A.voice_ip();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spraying = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // RFC 4733 event "1" (payload type 101, as the carrier's SDP offers), a press of
            // five packets and three end packets, to every RTP port, over and over.
            let mut sent = 0u64;
            let (mut seq, mut ts) = (1u16, 160u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for i in 0..8u16 {
                    let end = i >= 5;
                    let mut p = vec![0x80, 101 | if i == 0 { 0x80 } else { 0 }];
                    p.extend(seq.to_be_bytes());
                    p.extend(ts.to_be_bytes());
                    p.extend(0x0bad_cafe_u32.to_be_bytes());
                    p.extend([1, if end { 0x80 | 10 } else { 10 }]);
                    p.extend((160 * (i.min(5) + 1)).to_be_bytes());
                    for port in (10_000..10_020).step_by(2) {
                        if attacker.send_to(&p, (target, port)).is_ok() {
                            sent += 1;
                        }
                    }
                    seq = seq.wrapping_add(1);
                    std::thread::sleep(Duration::from_millis(20));
                }
                ts = ts.wrapping_add(2000);
            }
            sent
        })
    };
    // The carrier talks for 3 s and hangs up: it presses nothing.
    let (ok, out) = voice::carrier_calls(&lab, "uac_bye.xml", "100", &[]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = spraying.join().unwrap();
    assert!(ok, "sipp failed:\n{out}\n{}", node.log_text());
    assert!(sent > 500, "the attacker sent only {sent} packets");
    assert!(
        node.wait_count("call ended", 1, Duration::from_secs(5)),
        "{}",
        node.log_text()
    );
    let log = node.log_text();
    assert_eq!(
        node.count("ack=1"),
        0,
        "a third party confirmed the call:\n{log}"
    );
    let foreign: u64 = log
        .lines()
        .find(|l| l.contains("call ended"))
        .and_then(|l| l.split("foreign=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        foreign > 10,
        "the attacker's packets were not counted:\n{log}"
    );
}
