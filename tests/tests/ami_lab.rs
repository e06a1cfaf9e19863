//! The Asterisk Manager Interface against the real media core in the lab: the wire
//! format byte by byte (framing edge cases, errors), the events of an originated call,
//! and the actions that reach a running call (Getvar, Setvar, Status, Redirect).
//! Applications written with PyPI client libraries are in `mediacore_lab.rs`.
//!
//! Needs root (namespaces) and sipp; fails, never skips, when they are missing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use system_tests::ami::{Client, Msg};
use system_tests::lab::{Lab, Node};
use system_tests::prereq;
use system_tests::voice::{self, Voice};

const MANAGER: &str = "[general]\nenabled = yes\nport = 5038\nbindaddr = 0.0.0.0\n\n\
    [app]\nsecret = s3cret\ndeny = 0.0.0.0/0.0.0.0\npermit = 10.77.0.0/255.255.255.0\n\
    read = system,call,dtmf\nwrite = system,call,originate\n\n\
    [viewer]\nsecret = look\nread = call\nwrite = reporting\n";

/// An answered call sits in a long prompt (time to act on it), a redirect leads to
/// `redirected`; `dial-out` is what a Local channel runs.
const DIALPLAN: &str = "[ami-test]\n\
    exten => s,1,Set(STAGE=prompt)\n\
     same => n,Playback(long)\n\
     same => n,Verbose(1,not redirected)\n\
     same => n,Hangup()\n\
    exten => redirected,1,Verbose(1,redirected ALERT_ID=${ALERT_ID} NOTE=${NOTE} STAGE=${STAGE})\n\
     same => n,Hangup()\n\n\
    [dial-out]\n\
    exten => _X.,1,Verbose(1,local dialling ${EXTEN})\n\
     same => n,Dial(PJSIP/${EXTEN}@carrier-out,20)\n\
     same => n,Hangup()\n\n\
    [local-audio]\n\
    exten => rec,1,Answer()\n\
     same => n,Record(${FILE}.wav,0,3)\n\
     same => n,Verbose(1,local recorded ${FILE})\n\
     same => n,Hangup()\n\
    exten => rec6,1,Answer()\n\
     same => n,Record(${FILE}.wav,0,6)\n\
     same => n,Verbose(1,local recorded ${FILE})\n\
     same => n,Hangup()\n\
    exten => read,1,Answer()\n\
     same => n,Read(DIGITS,,4,,1,5)\n\
     same => n,Verbose(1,local read ${DIGITS})\n\
     same => n,Hangup()\n\n\
    [say-test]\n\
    exten => s,1,SayNumber(21)\n\
     same => n,SayDigits(21)\n\
     same => n,Playtones(busy)\n\
     same => n,Wait(2)\n\
     same => n,StopPlaytones()\n\
     same => n,Wait(2)\n\n\
    [dtmf-test]\n\
    exten => s,1,Wait(0.3)\n\
     same => n,SendDTMF(42#)\n\
     same => n,Wait(3)\n";

fn ami_addr() -> SocketAddr {
    SocketAddr::new(Node::A.data_ip().into(), 5038)
}

fn start(lab: &Lab) -> system_tests::lab::Proc {
    let mut voice = Voice::alert_line(Node::A);
    voice.pjsip.push('\n');
    voice.pjsip.push_str(&voice::outbound_pjsip());
    voice.dialplan.push('\n');
    voice.dialplan.push_str(DIALPLAN);
    voice.prompts.push(("long".into(), 8.0));
    voice.manager = Some(MANAGER.into());
    voice::start_mediacore(lab, Node::A, &voice)
}

fn connect(lab: &Lab) -> Client {
    Client::connect(&lab.ns("client"), ami_addr())
}

#[test]
fn the_wire_format_edge_cases_get_the_answers_asterisk_gives() {
    prereq::require_root("ami lab");
    let lab = Lab::two_nodes("ami-wire");
    let node = start(&lab);
    let t = Duration::from_secs(5);

    // Login sent before the banner was read, together with a Ping: two actions in one
    // segment, keys in any case and order.
    let mut c = connect(&lab);
    c.send_raw(
        b"Action: Login\r\nUsername: app\r\nSecret: s3cret\r\nActionID: l-1\r\n\r\n\
          actionid: order-1\r\nACTION: ping\r\n\r\n",
    );
    let login = c.next(t).expect("login response");
    assert!(
        c.banner
            .as_deref()
            .is_some_and(|b| b.starts_with("Asterisk Call Manager/")),
        "{:?}",
        c.banner
    );
    assert_eq!(
        login.0[..3],
        Msg(vec![
            ("Response".into(), "Success".into()),
            ("ActionID".into(), "l-1".into()),
            ("Message".into(), "Authentication accepted".into()),
        ])
        .0[..]
    );
    let (booted, _) = c
        .wait_for(t, |m| m.is_event("FullyBooted"))
        .expect("FullyBooted");
    assert_eq!(booted.get("Status"), Some("Fully Booted"));
    let (pong, _) = c
        .wait_for(t, |m| m.get("ActionID") == Some("order-1"))
        .expect("pong");
    assert_eq!(pong.get("Ping"), Some("Pong"));

    // An action split across segments.
    c.send_raw(b"Action: Pi");
    std::thread::sleep(Duration::from_millis(100));
    c.send_raw(b"ng\r\nActionID: split-1\r");
    std::thread::sleep(Duration::from_millis(100));
    c.send_raw(b"\n\r\n");
    let (r, _) = c
        .wait_for(t, |m| m.get("ActionID") == Some("split-1"))
        .expect("split ping answered");
    assert_eq!(r.get("Ping"), Some("Pong"));

    // Bare LF line ends.
    c.send_raw(b"Action: Ping\nActionID: lf-1\n\n");
    assert!(c
        .wait_for(t, |m| m.get("ActionID") == Some("lf-1"))
        .is_some());

    // No ActionID: the response has none.
    c.send_raw(b"Action: CoreStatus\r\n\r\n");
    let (r, _) = c
        .wait_for(t, |m| m.get("CoreCurrentCalls").is_some())
        .expect("CoreStatus");
    assert_eq!(r.get("ActionID"), None);
    assert_eq!(r.keys()[0], "Response");

    // Unknown action: Asterisk's words.
    let (r, _) = c.action("unknown-1", &[("Action", "Frobnicate")]);
    assert_eq!(
        r.get("Message"),
        Some("Invalid/unknown command: Frobnicate. Use Action: ListCommands to show available commands.")
    );

    // A very long value survives the round trip (a 60 KB global variable).
    let long = "x".repeat(60_000);
    let (r, _) = c.action(
        "set-long",
        &[("Action", "Setvar"), ("Variable", "LONG"), ("Value", &long)],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let (r, _) = c.action("get-long", &[("Action", "Getvar"), ("Variable", "LONG")]);
    assert_eq!(r.get("Value").map(str::len), Some(60_000));

    // An Originate with an unknown channel type: an error, not a call.
    let (r, _) = c.action(
        "bad-orig",
        &[
            ("Action", "Originate"),
            ("Channel", "SIP/100@old"),
            ("Context", "ami-test"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Error"));
    assert!(
        r.get("Message").is_some_and(|m| m.contains("PJSIP/")),
        "{r:?}"
    );

    // A ring timeout past 32 bits of milliseconds: refused like Asterisk, not a deadline that
    // overflows and takes the media core down.
    let (r, _) = c.action(
        "huge-timeout",
        &[
            ("Action", "Originate"),
            ("Channel", "PJSIP/100@nowhere"),
            ("Context", "ami-test"),
            ("Timeout", "18446744073709551615"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");
    assert_eq!(
        r.get("Message"),
        Some("Invalid timeout 18446744073709551615")
    );

    // A number with what a SIP URI would read as parameters: refused, never dialled.
    let (r, _) = c.action(
        "bad-number",
        &[
            ("Action", "Originate"),
            ("Channel", "PJSIP/1;transport=tcp@carrier-out"),
            ("Context", "ami-test"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");
    assert!(
        r.get("Message")
            .is_some_and(|m| m.contains("a number holds digits")),
        "{r:?}"
    );

    // Event filters: only what matches.
    let (r, _) = c.action(
        "f-1",
        &[
            ("Action", "Filter"),
            ("Operation", "Add"),
            ("Filter", "Event: AllertaRoleChanged"),
        ],
    );
    assert_eq!(r.get("Message"), Some("Filter Added Successfully"));
    assert!(voice::control(&lab, Node::A, "role master").starts_with("ok"));
    let (role, skipped) = c
        .wait_for(t, |m| m.is_event("AllertaRoleChanged"))
        .expect("role event");
    assert_eq!(
        (role.get("Role"), role.get("PreviousRole")),
        (Some("master"), Some("backup"))
    );
    assert!(skipped.is_empty(), "filtered out: {skipped:?}");

    // Another client: a user without the write class gets Permission denied; one
    // without `system` read gets no FullyBooted.
    let mut viewer = connect(&lab);
    viewer.login("viewer", "look");
    let (r, before) = viewer.action(
        "o-1",
        &[
            ("Action", "Originate"),
            ("Channel", "PJSIP/1@carrier-out"),
            ("Context", "ami-test"),
        ],
    );
    assert_eq!(r.get("Message"), Some("Permission denied"));
    assert!(before.iter().all(|m| !m.is_event("FullyBooted")));
    // `reporting` sees a campaign's figures, never the citizens' names and numbers.
    let (r, _) = viewer.action(
        "rep-1",
        &[("Action", "AllertaCampaignReport"), ("Name", "any")],
    );
    assert_eq!(r.get("Message"), Some("Permission denied"));
    let (r, _) = viewer.action(
        "rep-2",
        &[("Action", "AllertaCampaignStatus"), ("Name", "any")],
    );
    assert_ne!(r.get("Message"), Some("Permission denied"), "{r:?}");

    // Bad credentials, as Asterisk 22 (references/ami/01_bad_login): Authentication failed
    // a second later, and the connection closed.
    let mut intruder = connect(&lab);
    let asked = Instant::now();
    let (r, _) = intruder.action(
        "bad-0",
        &[
            ("Action", "Login"),
            ("Username", "app"),
            ("Secret", "guess"),
        ],
    );
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    assert!(
        asked.elapsed() >= Duration::from_millis(950),
        "answered after {:?}",
        asked.elapsed()
    );
    assert!(intruder.closed_within(t), "closed after the failure");

    // A line longer than 64 KiB cannot be framed: an error, then the connection closes.
    let mut flood = connect(&lab);
    flood.send_raw(format!("Action: Ping\r\nX: {}", "y".repeat(70_000)).as_bytes());
    let r = flood.next(t).expect("an error before the close");
    assert_eq!(r.get("Response"), Some("Error"));
    assert!(flood.closed_within(t));

    // Logoff.
    let (r, _) = viewer.action("bye", &[("Action", "Logoff")]);
    assert_eq!(r.get("Response"), Some("Goodbye"));
    assert!(viewer.closed_within(t));

    // The media core stops: clients hear Shutdown first (the filter lets it through
    // only if it matches, so a fresh client listens).
    let mut last = connect(&lab);
    last.login("app", "s3cret");
    lab.signal(&node, nix::sys::signal::Signal::SIGTERM);
    let mut seen = Vec::new();
    let (r, _) = last
        .wait_for(t, |m| {
            seen.push(m.clone());
            m.is_event("Shutdown")
        })
        .unwrap_or_else(|| panic!("no Shutdown event; got {seen:?}\n{}", node.log_text()));
    assert_eq!(r.get("Shutdown"), Some("Cleanly"));
    assert!(last.closed_within(t));
}

/// The events of one channel, in order, by name.
fn names_for(events: &[Msg], channel: &str) -> Vec<String> {
    events
        .iter()
        .filter(|m| m.get("Channel") == Some(channel) || m.get("DestChannel") == Some(channel))
        .filter_map(|m| m.get("Event").map(str::to_owned))
        .collect()
}

#[test]
fn an_originated_call_reports_its_events_and_obeys_getvar_setvar_status_and_redirect() {
    prereq::require_root("ami lab");
    prereq::require_tools("ami lab", &["sipp"]);
    prereq::require_tools("ami lab", &["tshark"]);
    let lab = Lab::two_nodes("ami-call");
    let node = start(&lab);
    let pcap = lab.dir().join("carrier.pcap");
    let capture = voice::capture(&lab, "carrier", "eth0", &pcap);
    let callee = voice::carrier_answers(&lab, "16000");
    let t = Duration::from_secs(10);
    let mut c = connect(&lab);
    c.login("app", "s3cret");
    let (r, mut events) = c.action(
        "orig-1",
        &[
            ("Action", "Originate"),
            ("Channel", "PJSIP/0612345678@carrier-out"),
            ("Context", "ami-test"),
            ("Exten", "s"),
            ("Priority", "1"),
            ("CallerID", "\"Alert Center\" <112>"),
            ("Timeout", "20000"),
            ("Variable", "ALERT_ID=42"),
            ("Async", "true"),
        ],
    );
    assert_eq!(r.get("Message"), Some("Originate successfully queued"));
    let (answered, skipped) = c
        .wait_for(t, |m| m.is_event("OriginateResponse"))
        .unwrap_or_else(|| panic!("no OriginateResponse\n{}", node.log_text()));
    events.extend(skipped);
    assert_eq!(answered.get("ActionID"), Some("orig-1"));
    assert_eq!(answered.get("Response"), Some("Success"), "{answered:?}");
    assert_eq!(answered.get("Reason"), Some("4"));
    assert_eq!(answered.get("CallerIDName"), Some("Alert Center"));
    let channel = answered.get("Channel").expect("channel").to_owned();
    assert!(channel.starts_with("PJSIP/carrier-out-"), "{channel}");
    assert_ne!(answered.get("Uniqueid"), Some("<null>"));

    // The call is in its long prompt: read, set, list.
    let (r, _) = c.action(
        "gv-1",
        &[
            ("Action", "Getvar"),
            ("Channel", &channel),
            ("Variable", "ALERT_ID"),
        ],
    );
    assert_eq!(r.get("Value"), Some("42"), "{r:?}");
    let (r, _) = c.action(
        "sv-1",
        &[
            ("Action", "Setvar"),
            ("Channel", &channel),
            ("Variable", "NOTE"),
            ("Value", "from-ami"),
        ],
    );
    assert_eq!(r.get("Message"), Some("Variable Set"));
    let (r, _) = c.action(
        "gv-2",
        &[
            ("Action", "Getvar"),
            ("Channel", "PJSIP/nobody-00000099"),
            ("Variable", "X"),
        ],
    );
    assert_eq!(r.get("Message"), Some("No such channel"));
    let (r, mut more) = c.action("st-1", &[("Action", "Status")]);
    assert_eq!(r.get("EventList"), Some("start"));
    let (done, listed) = c
        .wait_for(t, |m| m.is_event("StatusComplete"))
        .expect("StatusComplete");
    assert_eq!(done.get("Items"), Some("1"));
    let status: Vec<&Msg> = listed.iter().filter(|m| m.is_event("Status")).collect();
    assert_eq!(status.len(), 1, "{listed:?}");
    assert_eq!(status[0].get("Channel"), Some(channel.as_str()));
    assert_eq!(status[0].get("ChannelStateDesc"), Some("Up"));
    assert_eq!(status[0].get("ActionID"), Some("st-1"));
    more.extend(listed.into_iter().filter(|m| !m.is_event("Status")));
    events.extend(more);

    // The carrier presses 1 about 1.5 s after answering.
    let (end, skipped) = c
        .wait_for(t, |m| m.is_event("DTMFEnd"))
        .unwrap_or_else(|| panic!("no DTMFEnd\n{}", node.log_text()));
    events.extend(skipped);
    assert_eq!(end.get("Digit"), Some("1"));
    assert_eq!(end.get("Direction"), Some("Received"));
    assert!(end
        .get("DurationMs")
        .is_some_and(|d| d.parse::<u32>().is_ok()));
    events.push(end);

    // PlayDTMF: a 200 ms "5" to the carrier as RFC 4733 events (checked in the capture
    // below); bad requests get Asterisk's errors.
    let (r, _) = c.action(
        "dtmf-1",
        &[
            ("Action", "PlayDTMF"),
            ("Channel", &channel),
            ("Digit", "5"),
            ("Duration", "200"),
        ],
    );
    assert_eq!(r.get("Message"), Some("DTMF successfully queued"), "{r:?}");
    for (fields, message) in [
        (
            vec![("Channel", channel.as_str()), ("Digit", "x")],
            "'x' is not a DTMF digit",
        ),
        (vec![("Channel", channel.as_str())], "No digit specified"),
        (
            vec![("Channel", "PJSIP/nobody-00000099"), ("Digit", "1")],
            "Channel not found",
        ),
        (
            vec![
                ("Channel", channel.as_str()),
                ("Digit", "1"),
                ("Duration", "0"),
            ],
            "Invalid Duration 0",
        ),
    ] {
        let mut request = vec![("Action", "PlayDTMF")];
        request.extend(fields);
        let (r, _) = c.action("dtmf-bad", &request);
        assert_eq!(r.get("Response"), Some("Error"), "{request:?}: {r:?}");
        assert!(
            r.get("Message").is_some_and(|m| m.contains(message)),
            "{request:?}: {r:?}"
        );
    }
    std::thread::sleep(Duration::from_millis(500)); // the digit goes out

    // Redirect out of the prompt; the dialplan sees the variables AMI set. The new dialplan
    // may run and hang up before the action's response is written (events and responses
    // are independent in AMI, as in Asterisk): events that came first are kept.
    let (r, during) = c.action(
        "rd-1",
        &[
            ("Action", "Redirect"),
            ("Channel", &channel),
            ("Context", "ami-test"),
            ("Exten", "redirected"),
            ("Priority", "1"),
        ],
    );
    assert_eq!(r.get("Message"), Some("Redirect successful"), "{r:?}");
    let (hangup, skipped, after) = match during.iter().position(|m| m.is_event("Hangup")) {
        Some(i) => {
            let mut before = during;
            let mut after = before.split_off(i);
            let hangup = after.remove(0);
            (hangup, before, after)
        }
        None => {
            let (hangup, mut skipped) = c
                .wait_for(t, |m| m.is_event("Hangup"))
                .unwrap_or_else(|| panic!("no Hangup\n{}", node.log_text()));
            skipped.splice(0..0, during);
            (hangup, skipped, Vec::new())
        }
    };
    events.extend(skipped);
    assert_eq!(hangup.get("Cause"), Some("16"));
    assert_eq!(hangup.get("Cause-txt"), Some("Normal Clearing"));
    events.push(hangup);
    events.extend(after);
    assert!(
        node.wait_count(
            "redirected ALERT_ID=42 NOTE=from-ami STAGE=prompt",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        node.log_text()
    );
    assert_eq!(node.count("not redirected"), 0);
    lab.signal(&capture, nix::sys::signal::Signal::SIGINT);
    lab.wait_exit(&capture, Duration::from_secs(10));
    let node_ip = Node::A.voice_ip().to_string();
    let sent_events = voice::rtp_packets(&pcap)
        .iter()
        .filter(|p| p.src == node_ip && p.payload_type == 101)
        .count();
    // 200 ms: 9 updates and 3 end packets, one per 20 ms slot.
    assert_eq!(sent_events, 12, "telephone-event packets from the node");
    let names = names_for(&events, &channel);
    assert_eq!(
        names
            .iter()
            .filter(|n| !n.starts_with("Newstate"))
            .collect::<Vec<_>>(),
        [
            "Newchannel",
            "DialBegin",
            "DialEnd",
            "DTMFBegin",
            "DTMFEnd",
            "Hangup"
        ],
        "all: {names:?}"
    );
    let dial_end = events
        .iter()
        .find(|m| m.is_event("DialEnd"))
        .expect("DialEnd");
    assert_eq!(dial_end.get("DialStatus"), Some("ANSWER"));
    let status = lab.wait_exit(&callee, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "the carrier's side:\n{}",
        callee.log_text()
    );
}

#[test]
fn absolute_timeout_hangs_the_channel_up_when_it_says_and_zero_cancels_it() {
    prereq::require_root("ami lab");
    prereq::require_tools("ami lab", &["sipp"]);
    let lab = Lab::two_nodes("ami-timeout");
    let node = start(&lab);
    let callee = voice::carrier_answers(&lab, "16000");
    let t = Duration::from_secs(10);
    let mut c = connect(&lab);
    c.login("app", "s3cret");
    let originate = |c: &mut Client, id: &str| -> String {
        let (r, _) = c.action(
            id,
            &[
                ("Action", "Originate"),
                ("Channel", "PJSIP/0612345678@carrier-out"),
                ("Context", "ami-test"),
                ("Exten", "s"),
                ("Priority", "1"),
                ("Timeout", "20000"),
                ("Async", "true"),
            ],
        );
        assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
        let (answered, _) = c
            .wait_for(t, |m| m.is_event("OriginateResponse"))
            .unwrap_or_else(|| panic!("no OriginateResponse\n{}", node.log_text()));
        answered.get("Channel").expect("channel").to_owned()
    };
    // The call sits in an 8 s prompt; the timeout ends it after 1 s.
    let channel = originate(&mut c, "orig-t1");
    let set = Instant::now();
    let (r, _) = c.action(
        "to-1",
        &[
            ("Action", "AbsoluteTimeout"),
            ("Channel", &channel),
            ("Timeout", "1"),
        ],
    );
    assert_eq!(r.get("Message"), Some("Timeout Set"), "{r:?}");
    let (hangup, _) = c
        .wait_for(t, |m| {
            m.is_event("Hangup") && m.get("Channel") == Some(channel.as_str())
        })
        .unwrap_or_else(|| panic!("no Hangup\n{}", node.log_text()));
    let took = set.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(hangup.get("Cause").is_some());
    let (r, _) = c.action(
        "to-2",
        &[
            ("Action", "AbsoluteTimeout"),
            ("Channel", "PJSIP/nobody-00000000"),
            ("Timeout", "1"),
        ],
    );
    assert_eq!(r.get("Message"), Some("No such channel"), "{r:?}");
    // A timeout set and then set to 0 is off: the call is still up 2 s later (the carrier's
    // sipp takes one call: a new one for this).
    lab.wait_exit(&callee, t);
    let _callee = voice::carrier_answers(&lab, "16002");
    let channel = originate(&mut c, "orig-t2");
    for (id, secs) in [("to-3", "1"), ("to-4", "0")] {
        let (r, _) = c.action(
            id,
            &[
                ("Action", "AbsoluteTimeout"),
                ("Channel", &channel),
                ("Timeout", secs),
            ],
        );
        assert_eq!(r.get("Message"), Some("Timeout Set"), "{r:?}");
    }
    let early = c.wait_for(Duration::from_secs(2), |m| {
        m.is_event("Hangup") && m.get("Channel") == Some(channel.as_str())
    });
    assert!(early.is_none(), "hung up though the timeout was cancelled");
    let (r, _) = c.action("h-1", &[("Action", "Hangup"), ("Channel", &channel)]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
}

#[test]
fn a_local_channel_originate_dials_through_the_dialplan_and_runs_the_application() {
    prereq::require_root("ami lab");
    prereq::require_tools("ami lab", &["sipp"]);
    let lab = Lab::two_nodes("ami-local");
    let node = start(&lab);
    let callee = voice::carrier_answers(&lab, "16000");
    let mut c = connect(&lab);
    c.login("app", "s3cret");
    let (r, _) = c.action(
        "orig-local-1",
        &[
            ("Action", "Originate"),
            ("Channel", "Local/5559876@dial-out"),
            ("Application", "Playback"),
            ("Data", "long"),
            ("CallerID", "\"Alert Center\" <112>"),
            ("Timeout", "30000"),
            ("Async", "true"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Success"));
    let (answered, _) = c
        .wait_for(Duration::from_secs(15), |m| m.is_event("OriginateResponse"))
        .unwrap_or_else(|| panic!("no OriginateResponse\n{}", node.log_text()));
    assert_eq!(answered.get("Response"), Some("Success"), "{answered:?}");
    let shown = answered.get("Channel").unwrap_or("");
    assert!(
        shown.starts_with("Local/5559876@dial-out-") && shown.ends_with(";1"),
        "{shown}"
    );
    assert_eq!(answered.get("Application"), Some("Playback"));
    assert_eq!(answered.get("Data"), Some("long"));
    assert_eq!(answered.get("Context"), None);
    assert!(
        node.count("local dialling 5559876") == 1,
        "{}",
        node.log_text()
    );
    // The application plays the 8 s prompt, then hangs up: the carrier gets its BYE.
    let status = lab.wait_exit(&callee, Duration::from_secs(25));
    assert!(
        status.is_some_and(|s| s.success()),
        "the carrier's side:\n{}\n{}",
        callee.log_text(),
        node.log_text()
    );
}

#[test]
fn a_local_channels_halves_hear_each_other_playback_on_one_is_recorded_by_the_other() {
    prereq::require_root("ami lab");
    let lab = Lab::two_nodes("ami-local-audio");
    let node = start(&lab);
    let mut c = connect(&lab);
    c.login("app", "s3cret");
    // `;1` plays the 8 s 440 Hz prompt (or, the control, waits); `;2` records 3 s of it.
    for (file, application, data) in [("heard", "Playback", "long"), ("quiet", "Wait", "5")] {
        let (r, _) = c.action(
            &format!("orig-{file}"),
            &[
                ("Action", "Originate"),
                ("Channel", "Local/rec@local-audio"),
                ("Application", application),
                ("Data", data),
                ("Variable", &format!("FILE={file}")),
                ("Async", "true"),
            ],
        );
        assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
        assert!(
            node.wait_count(
                &format!("local recorded {file}"),
                1,
                Duration::from_secs(15)
            ),
            "{}",
            node.log_text()
        );
    }
    let recording = |file: &str| {
        let path = lab
            .dir()
            .join(format!("voice-{}", Node::A.role()))
            .join("recordings")
            .join(format!("{file}.wav"));
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), node.log_text()))
    };
    let (heard, quiet) = (recording("heard"), recording("quiet"));
    // 3 s of 8 kHz 16-bit audio, give or take a frame or two at each end.
    for wav in [&heard, &quiet] {
        assert!(
            (47_000..=49_000).contains(&wav.len()),
            "{} bytes",
            wav.len()
        );
    }
    let share = voice::tone_share(&heard, 440.0);
    assert!(
        share > 0.8,
        "the prompt was not heard on ;2: 440 Hz share {share:.3}"
    );
    let loudest = quiet[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs())
        .max()
        .unwrap_or(0);
    assert!(loudest < 64, "the control heard something: peak {loudest}");
}

/// The 16-bit samples of a WAV file's data chunk.
fn wav_samples(wav: &[u8]) -> Vec<i16> {
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .map_or(wav.len(), |i| i + 8);
    wav[data.min(wav.len())..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn say_number_say_digits_playtones_and_send_dtmf_are_heard_across_a_local_channel() {
    prereq::require_root("ami lab");
    let lab = Lab::two_nodes("ami-say");
    let node = start(&lab);
    // Distinct tones stand for the spoken digit prompts (the image speaks them with
    // espeak-ng; here each is a frequency the analysis can tell apart).
    let digits = lab
        .dir()
        .join(format!("voice-{}", Node::A.role()))
        .join("prompts")
        .join("digits");
    std::fs::create_dir_all(&digits).unwrap();
    for (name, hz) in [("21", 700.0), ("20", 1000.0), ("2", 500.0), ("1", 300.0)] {
        std::fs::write(
            digits.join(format!("{name}.wav")),
            voice::tone_wav_hz(0.4, hz),
        )
        .unwrap();
    }
    let mut c = connect(&lab);
    c.login("app", "s3cret");
    // `;1` runs [say-test], `;2` records 6 s of it.
    let (r, _) = c.action(
        "orig-say",
        &[
            ("Action", "Originate"),
            ("Channel", "Local/rec6@local-audio"),
            ("Context", "say-test"),
            ("Exten", "s"),
            ("Priority", "1"),
            ("Variable", "FILE=said"),
            ("Async", "true"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    // `;1` sends 4, 2, # as RFC 4733 events; `;2`'s Read takes them ('#' ends it).
    let (r, _) = c.action(
        "orig-dtmf",
        &[
            ("Action", "Originate"),
            ("Channel", "Local/read@local-audio"),
            ("Context", "dtmf-test"),
            ("Exten", "s"),
            ("Priority", "1"),
            ("Async", "true"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    assert!(
        node.wait_count("local read 42", 1, Duration::from_secs(10)),
        "{}",
        node.log_text()
    );
    // `;1` ends (and so `;2`) before the 6 s are up: the recording is kept, as Asterisk's.
    assert!(
        node.wait_count("recordings/said.wav", 1, Duration::from_secs(15)),
        "{}",
        node.log_text()
    );
    let path = lab
        .dir()
        .join(format!("voice-{}", Node::A.role()))
        .join("recordings")
        .join("said.wav");
    let samples = wav_samples(&std::fs::read(&path).unwrap());
    let onset = samples
        .iter()
        .position(|s| s.unsigned_abs() > 1000)
        .unwrap_or_else(|| panic!("nothing heard\n{}", node.log_text()));
    assert!(onset < 2400, "the first prompt began {onset} samples in");
    // Windows (in samples from the onset) well inside each part, 50 ms margins or more.
    let window = |from_ms: usize, to_ms: usize| &samples[onset + from_ms * 8..onset + to_ms * 8];
    let expect = [
        ("SayNumber(21): digits/21", 50, 350, 700.0),
        ("SayDigits(21): digits/2", 450, 750, 500.0),
        ("SayDigits(21): digits/1", 850, 1150, 300.0),
        ("Playtones(busy): on", 1300, 1650, 425.0),
        ("Playtones(busy): on again", 2300, 2650, 425.0),
    ];
    for (what, from, to, hz) in expect {
        let got = voice::share_of(window(from, to), hz, 8000.0);
        assert!(got > 0.8, "{what}: {hz} Hz share {got:.3}");
    }
    let loudest = |from, to| {
        window(from, to)
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0)
    };
    assert!(loudest(1800, 2150) < 64, "busy's off half is silent");
    assert!(loudest(3400, 4800) < 64, "StopPlaytones stopped the tone");
}

#[test]
fn ami_over_tls_on_5039_verifies_and_serves_and_refuses_plain_text() {
    prereq::require_root("ami lab");
    prereq::require_tools("ami lab", &["openssl", "python3"]);
    let lab = Lab::two_nodes("ami-tls");
    // A self-signed certificate for the node's data address (what a pair's setup makes).
    let dir = lab.dir().to_path_buf();
    let (cert, key) = (dir.join("ami.crt"), dir.join("ami.key"));
    let ip = Node::A.data_ip().to_string();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=allerta-ami"])
        .arg("-addext")
        .arg(format!("subjectAltName=IP:{ip}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut voice = Voice::alert_line(Node::A);
    voice.manager = Some(MANAGER.replace(
        "bindaddr = 0.0.0.0\n",
        &format!(
            "bindaddr = 0.0.0.0\ntlsenable = yes\ntlsbindaddr = 0.0.0.0:5039\n\
             tlscertfile = {}\ntlsprivatekey = {}\n",
            cert.display(),
            key.display()
        ),
    ));
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ami/tls_ping.py");
    let out = std::process::Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &lab.ns("client"), "python3"])
        .arg(&script)
        .args([ip.as_str(), "5039"])
        .arg(&cert)
        .args(["app", "s3cret"])
        .output()
        .expect("python3");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{}", node.log_text());
    assert!(text.contains("banner Asterisk Call Manager/"), "{text}");
    assert!(text.contains("Ping: Pong"), "{text}");
    assert!(text.contains("done"), "{text}");

    // Plain text on the TLS port: no banner, the handshake fails and the node logs it.
    let mut plain = Client::connect(
        &lab.ns("client"),
        SocketAddr::new(Node::A.data_ip().into(), 5039),
    );
    plain.send(&[
        ("Action", "Login"),
        ("Username", "app"),
        ("Secret", "s3cret"),
    ]);
    assert!(plain.next(Duration::from_secs(3)).is_none());
    assert!(plain.banner.is_none(), "{:?}", plain.banner);
    assert!(node.wait_count("ami tls handshake failed", 1, Duration::from_secs(5)));
}

/// The appliance ships without `manager.conf` (no AMI until an operator wants one): AMI
/// comes on when one is written, moves when its port changes and goes off when it is
/// removed, each without a restart (the media core watches the file, `reload`), and a
/// change of users alone keeps an open session.
#[test]
fn ami_comes_on_moves_and_goes_off_as_manager_conf_is_written_changed_and_removed() {
    use system_tests::ami::login_outcome;
    use system_tests::lab::{replace_file, wait_until_every};
    prereq::require_root("ami lab");
    let lab = Lab::two_nodes("ami-onoff");
    let manager = lab.dir().join("voice-node-a/manager.conf");
    let mut voice = Voice::alert_line(Node::A);
    voice
        .extra
        .push_str(&format!("manager = \"{}\"\n", manager.display()));
    let node = voice::start_mediacore(&lab, Node::A, &voice);
    let ns = lab.ns("client");
    let at = |port: u16| SocketAddr::new(Node::A.data_ip().into(), port);
    let outcome = |port: u16, user: &str, secret: &str| login_outcome(&ns, at(port), user, secret);
    let within = |what: &str, check: &dyn Fn() -> bool| {
        assert!(
            wait_until_every(Duration::from_secs(5), Duration::from_millis(50), check).is_some(),
            "{what} within 5 s:\n{}",
            system_tests::lab::tail(&node.log_text())
        );
    };
    assert_eq!(
        outcome(5038, "app", "s3cret"),
        None,
        "AMI listens with no manager.conf"
    );

    replace_file(&manager, MANAGER);
    within("AMI on once manager.conf is written", &|| {
        outcome(5038, "app", "s3cret") == Some(true)
    });
    // A session open across a change of users alone stays open and answers.
    let mut session = connect(&lab);
    session.login("app", "s3cret");
    replace_file(
        &manager,
        &format!("{MANAGER}\n[nuovo]\nsecret = n3w\nread = call\nwrite = call\n"),
    );
    within("the new user in force", &|| {
        outcome(5038, "nuovo", "n3w") == Some(true)
    });
    let (pong, _) = session.action("ping", &[("Action", "Ping")]);
    assert_eq!(pong.get("Response"), Some("Success"), "{pong:?}");

    replace_file(&manager, &MANAGER.replace("port = 5038", "port = 5040"));
    within("AMI moved to port 5040", &|| {
        outcome(5040, "app", "s3cret") == Some(true) && outcome(5038, "app", "s3cret").is_none()
    });

    std::fs::remove_file(&manager).expect("removing manager.conf");
    within("AMI off once manager.conf is removed", &|| {
        outcome(5040, "app", "s3cret").is_none()
    });
}
