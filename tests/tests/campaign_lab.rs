//! Alert campaigns against the real media core in the lab, with citizens simulated by
//! sipp at the carrier: the report matches what each citizen did, retries happen, the
//! line limit holds as the carrier sees it, the spoken message is audible, a SIGKILL
//! mid-campaign calls nobody who confirmed again, contact imports are all or nothing,
//! and the backup refuses changes.
//!
//! Needs root, sipp, tshark, espeak-ng and sox; fails, never skips, when they are missing.

use std::collections::HashMap;
use std::time::Duration;

use mediacore::campaign::pin_guard;
use system_tests::ami;
use system_tests::campaign::{self, Citizen};
use system_tests::lab::{Lab, Node};
use system_tests::prereq;
use system_tests::voice;

const NEEDS: &[&str] = &["sipp", "tshark", "espeak-ng", "sox"];

/// Starts node A's media core as master with `lines` campaign lines, a message and the
/// contacts in list `citizens`.
fn setup(lab: &Lab, lines: u32, counts: &[(Citizen, usize)]) -> system_tests::lab::Proc {
    let node = voice::start_mediacore(lab, Node::A, &campaign::campaign_voice(Node::A, lines));
    assert!(voice::control(lab, Node::A, "role master").starts_with("ok"));
    let csv = lab.write_file("citizens.csv", &campaign::contacts_csv(counts));
    campaign::admin_ok(
        lab,
        Node::A,
        &[
            "contacts",
            "import",
            &csv.to_string_lossy(),
            "--list",
            "citizens",
        ],
    );
    campaign::admin_ok(
        lab,
        Node::A,
        &[
            "message",
            "set",
            "flood",
            "--text",
            "Allerta della protezione civile: rischio di esondazione.",
        ],
    );
    node
}

#[test]
fn a_campaign_reports_what_each_citizen_did_retries_and_keeps_to_its_lines() {
    prereq::require_root("campaign lab");
    prereq::require_tools("campaign lab", NEEDS);
    let lab = Lab::two_nodes("cmp-run");
    let counts = [
        (Citizen::Confirms, 50),
        (Citizen::HangsUp, 50),
        (Citizen::Busy, 50),
        (Citizen::NoAnswer, 50),
    ];
    let node = setup(&lab, 60, &counts);
    let pcap = campaign::pcap_path(&lab, "carrier.pcap");
    let capture = voice::capture(&lab, "carrier", "eth0", &pcap);
    let citizens = campaign::start_citizens(&lab);
    campaign::admin_ok(
        &lab,
        Node::A,
        &[
            "campaign",
            "create",
            "flood",
            "--message",
            "flood",
            "--list",
            "citizens",
            "--lines",
            "40",
            "--cps",
            "50",
            "--ring",
            "5",
            "--attempts",
            "3",
            "--retry",
            "1",
        ],
    );
    campaign::admin_ok(&lab, Node::A, &["campaign", "start", "flood"]);
    let last = campaign::wait_done(&lab, Node::A, "flood", Duration::from_secs(150));
    assert_eq!(last, "done", "campaign not done:\n{}", node.log_text());
    std::thread::sleep(Duration::from_millis(500));
    drop(capture);
    drop(citizens);

    // The report: each citizen's outcome is what they did, with the retries.
    let report = campaign::report(&lab, Node::A, "flood");
    assert_eq!(report.len(), 200);
    let mut seen: HashMap<(Citizen, String, u32, String), usize> = HashMap::new();
    for (id, (status, attempts, outcome)) in &report {
        let kind = Citizen::of(&id[1..]).expect("kind");
        *seen
            .entry((kind, status.clone(), *attempts, outcome.clone()))
            .or_default() += 1;
    }
    let expect = |k, s: &str, a, o: &str| seen.get(&(k, s.into(), a, o.into())).copied();
    assert_eq!(
        expect(Citizen::Confirms, "confirmed", 1, "confirmed"),
        Some(50),
        "{seen:#?}"
    );
    assert_eq!(
        expect(Citizen::HangsUp, "gave_up", 3, "answered"),
        Some(50),
        "{seen:#?}"
    );
    assert_eq!(
        expect(Citizen::Busy, "gave_up", 3, "busy"),
        Some(50),
        "{seen:#?}"
    );
    assert_eq!(
        expect(Citizen::NoAnswer, "gave_up", 3, "no_answer"),
        Some(50),
        "{seen:#?}"
    );

    // The carrier's view: as many INVITEs per number as the report says, and never more
    // than 40 calls at once.
    let calls = campaign::calls_in(&pcap);
    let mut per_number: HashMap<&str, u32> = HashMap::new();
    for c in &calls {
        *per_number.entry(c.number.as_str()).or_default() += 1;
    }
    for (id, (_, attempts, _)) in &report {
        assert_eq!(per_number.get(&id[1..]).copied(), Some(*attempts), "{id}");
    }
    let max = campaign::max_concurrent(&calls);
    assert!(max <= 40, "the carrier saw {max} calls at once");
    assert!(max >= 20, "only {max} at once: the lines were not used");

    // The spoken message reached the citizens as sound, not silence.
    let level = campaign::node_audio_level(&pcap, &Node::A.voice_ip().to_string());
    assert!(level > 200.0, "mean amplitude {level:.0}: silence?");

    let status = campaign::admin_ok(&lab, Node::A, &["campaign", "status", "flood"]);
    assert!(status.contains("confirmed 50"), "{status}");
    assert!(status.contains("eta: finished"), "{status}");
}

#[test]
fn a_media_core_killed_mid_campaign_resumes_without_calling_a_confirmed_citizen_again() {
    prereq::require_root("campaign lab");
    prereq::require_tools("campaign lab", NEEDS);
    let lab = Lab::two_nodes("cmp-kill");
    let node = setup(
        &lab,
        10,
        &[(Citizen::Confirms, 60), (Citizen::NoAnswer, 10)],
    );
    let pcap = campaign::pcap_path(&lab, "carrier.pcap");
    let capture = voice::capture(&lab, "carrier", "eth0", &pcap);
    let citizens = campaign::start_citizens(&lab);
    campaign::admin_ok(
        &lab,
        Node::A,
        &[
            "campaign",
            "create",
            "k",
            "--message",
            "flood",
            "--list",
            "citizens",
            "--lines",
            "10",
            "--cps",
            "20",
            "--ring",
            "5",
            "--attempts",
            "3",
            "--retry",
            "1",
        ],
    );
    campaign::admin_ok(&lab, Node::A, &["campaign", "start", "k"]);
    // Kill it once a good part is confirmed, with calls in flight.
    let killed_at = system_tests::lab::wait_until(Duration::from_secs(60), || {
        let s = campaign::admin_ok(&lab, Node::A, &["campaign", "status", "k"]);
        s.split("confirmed ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n >= 20)
    });
    assert!(killed_at.is_some(), "no progress:\n{}", node.log_text());
    lab.signal(&node, nix::sys::signal::Signal::SIGKILL);
    let _ = lab.wait_exit(&node, Duration::from_secs(5));
    let node = voice::start_mediacore(&lab, Node::A, &campaign::campaign_voice(Node::A, 10));
    assert!(voice::control(&lab, Node::A, "role master").starts_with("ok"));
    assert!(
        node.wait_count(
            "campaigns dispatch from the ledger",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        node.log_text()
    );
    let last = campaign::wait_done(&lab, Node::A, "k", Duration::from_secs(120));
    assert_eq!(last, "done", "{}", node.log_text());
    std::thread::sleep(Duration::from_millis(500));
    drop(capture);
    drop(citizens);

    let report = campaign::report(&lab, Node::A, "k");
    let calls = campaign::calls_in(&pcap);
    let mut per_number: HashMap<&str, u32> = HashMap::new();
    for c in &calls {
        *per_number.entry(c.number.as_str()).or_default() += 1;
    }
    let mut interrupted = 0;
    for (id, (status, attempts, _)) in &report {
        let number = &id[1..];
        let invites = per_number.get(number).copied().unwrap_or(0);
        // The ledger counts every call the carrier saw, the interrupted ones once.
        assert_eq!(
            invites, *attempts,
            "{id}: carrier saw {invites}, ledger {attempts}"
        );
        if Citizen::of(number) == Some(Citizen::Confirms) {
            assert_eq!(status, "confirmed", "{id}");
            // Called again only if the kill cut the call before the 1 was recorded.
            if *attempts > 1 {
                interrupted += 1;
            }
        }
    }
    assert!(
        interrupted <= 10,
        "{interrupted} re-called: more than the 10 lines in flight"
    );
    // Confirmed citizens were never called after they confirmed (from the ledger's
    // attempt times, which the capture's counts match).
    let status = campaign::admin_ok(&lab, Node::A, &["campaign", "status", "k"]);
    assert!(status.contains("confirmed 60"), "{status}");
}

#[test]
fn contact_imports_are_all_or_nothing_and_the_backup_refuses_changes() {
    prereq::require_root("campaign lab");
    let lab = Lab::two_nodes("cmp-admin");
    let _node = voice::start_mediacore(&lab, Node::A, &campaign::campaign_voice(Node::A, 10));
    // Backup (the default until the supervisor says otherwise): refused, naming the master.
    let csv = lab.write_file("good.csv", "id,name,numbers\nC1,Anna,0743111111\n");
    let out = campaign::admin(
        &lab,
        Node::A,
        &["contacts", "import", &csv.to_string_lossy(), "--list", "l"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("refused: this node is the backup"), "{err}");
    assert!(voice::control(&lab, Node::A, "role master").starts_with("ok"));

    let bad = lab.write_file(
        "bad.csv",
        "id,name,numbers\nC1,Anna,0743111111\nC2,,0743111112\nC3,Bruno,call me\nC4,Carla,0743111114\n",
    );
    let out = campaign::admin(
        &lab,
        Node::A,
        &["contacts", "import", &bad.to_string_lossy(), "--list", "l"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bad.csv:3: no name"), "{err}");
    assert!(
        err.contains("bad.csv:4:") && err.contains("not a phone number"),
        "{err}"
    );
    assert!(err.contains("nothing imported"), "{err}");
    // Nothing was imported: a campaign on the list has nobody to call.
    campaign::admin_ok(&lab, Node::A, &["message", "set", "m", "--text", "prova"]);
    let out = campaign::admin(
        &lab,
        Node::A,
        &["campaign", "create", "c", "--message", "m", "--list", "l"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no list \"l\""));
    let out = campaign::admin_ok(
        &lab,
        Node::A,
        &["contacts", "import", &csv.to_string_lossy(), "--list", "l"],
    );
    assert!(out.contains("imported 1 contacts"), "{out}");
    campaign::admin_ok(
        &lab,
        Node::A,
        &["campaign", "create", "c", "--message", "m", "--list", "l"],
    );
    let out = campaign::admin(&lab, Node::A, &["campaign", "resume", "c"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot resume a campaign that is draft"));
    // The same through allertactl, the operator's one command.
    let dir = lab.dir().join("voice-node-a");
    let out = std::process::Command::new(prereq::workspace_bin("allertactl"))
        .arg("--config")
        .arg(dir.join("mediacore.toml"))
        .arg("--mediacore-socket")
        .arg(dir.join("mediacore.sock"))
        .args(["campaign", "status", "c"])
        .output()
        .expect("allertactl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("campaign c: draft"),
        "{text}"
    );
    // An operator with a PIN: the password comes on stdin and is never stored in clear.
    let out = campaign::admin_with_input(
        &lab,
        Node::A,
        &[
            "operator", "add", "rossi", "--role", "admin", "--pin", "4321",
        ],
        "s3cret-pass\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = std::fs::read(lab.dir().join("voice-node-a/allerta.db")).unwrap_or_default();
    let wal = std::fs::read(lab.dir().join("voice-node-a/allerta.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(11).any(|w| w == b"s3cret-pass"),
            "password in clear"
        );
    }
}

#[test]
fn an_ami_application_drives_a_campaign_with_allerta_s_own_actions() {
    prereq::require_root("campaign lab");
    prereq::require_tools("campaign lab", NEEDS);
    let lab = Lab::two_nodes("cmp-ami");
    let node = voice::start_mediacore(&lab, Node::A, &campaign::campaign_voice(Node::A, 10));
    let _citizens = campaign::start_citizens(&lab);
    let ami_addr = std::net::SocketAddr::new(Node::A.data_ip().into(), 5038);
    let mut app = ami::Client::connect(&lab.ns("client"), ami_addr);
    app.login("app", "s3cret");
    let contacts: Vec<String> = (0..10)
        .map(|i| {
            let n = Citizen::Confirms.number(i);
            format!("P{n},Citizen {n},{n}")
        })
        .collect();
    let mut import: Vec<(&str, &str)> =
        vec![("Action", "AllertaContactsImport"), ("List", "ami-list")];
    for c in &contacts {
        import.push(("Contact", c));
    }
    // The backup refuses, naming the way to the master.
    let (r, _) = app.action("i-0", &import);
    assert_eq!(r.get("Response"), Some("Error"));
    assert!(
        r.get("Message")
            .is_some_and(|m| m.contains("This node is the backup")),
        "{r:?}"
    );
    assert!(voice::control(&lab, Node::A, "role master").starts_with("ok"));
    let (r, _) = app.action("i-1", &import);
    assert_eq!(
        r.get("Message"),
        Some("Imported 10 contacts into list ami-list"),
        "{r:?}"
    );
    let (r, _) = app.action(
        "i-2",
        &[
            ("Action", "AllertaContactsImport"),
            ("List", "x"),
            ("Contact", "Z1,,0743"),
        ],
    );
    assert!(
        r.get("Message")
            .is_some_and(|m| m.starts_with("nothing imported")),
        "{r:?}"
    );
    let (r, _) = app.action(
        "m-1",
        &[
            ("Action", "AllertaMessageSet"),
            ("Name", "m"),
            ("Text", "Prova di allerta."),
        ],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let (r, _) = app.action(
        "c-1",
        &[
            ("Action", "AllertaCampaignCreate"),
            ("Name", "ami"),
            ("Message", "m"),
            ("List", "ami-list"),
            ("Lines", "5"),
            ("CPS", "10"),
            ("RingTime", "5"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let (r, _) = app.action(
        "s-1",
        &[("Action", "AllertaCampaignStart"), ("Name", "ami")],
    );
    assert_eq!(r.get("State"), Some("running"), "{r:?}");
    let done = system_tests::lab::wait_until(Duration::from_secs(60), || {
        let (r, _) = app.action(
            "st",
            &[("Action", "AllertaCampaignStatus"), ("Name", "ami")],
        );
        r.get("State") == Some("done")
    });
    assert!(done.is_some(), "{}", node.log_text());
    let (r, _) = app.action(
        "st-2",
        &[("Action", "AllertaCampaignStatus"), ("Name", "ami")],
    );
    assert_eq!(
        (r.get("Confirmed"), r.get("ETASeconds")),
        (Some("10"), Some("0")),
        "{r:?}"
    );
    let (r, _) = app.action(
        "rp",
        &[("Action", "AllertaCampaignReport"), ("Name", "ami")],
    );
    assert_eq!(r.get("EventList"), Some("start"));
    let (complete, recipients) = app
        .wait_for(Duration::from_secs(5), |m| {
            m.is_event("AllertaCampaignReportComplete")
        })
        .expect("report");
    assert_eq!(complete.get("ListItems"), Some("10"));
    assert!(recipients
        .iter()
        .filter(|m| m.is_event("AllertaCampaignRecipient"))
        .all(|m| m.get("Status") == Some("confirmed") && m.get("Node") == Some("node-a")));
}

#[test]
fn the_inbound_alert_line_plays_the_current_alert_and_an_operator_records_one_by_phone() {
    prereq::require_root("campaign lab");
    prereq::require_tools("campaign lab", NEEDS);
    let lab = Lab::two_nodes("cmp-line");
    let mut v = campaign::campaign_voice(Node::A, 5);
    v.dialplan = v.dialplan.replace(
        "[from-carrier]\n",
        "[from-carrier]\n\
         exten => 200,1,Answer()\n same => n,AllertaAlert()\n same => n,Hangup()\n\
         exten => 201,1,Answer()\n same => n,AllertaRecordAlert(phone-alert)\n same => n,Hangup()\n",
    );
    let node = voice::start_mediacore(&lab, Node::A, &v);
    assert!(voice::control(&lab, Node::A, "role master").starts_with("ok"));
    // No campaign yet: "no alert in progress".
    let (ok, out) = voice::carrier_calls(&lab, "uac_silent.xml", "200", &[]);
    assert!(ok, "{out}\n{}", node.log_text());
    assert_eq!(node.count("alert line: no alert in progress"), 1);
    // An operator with a PIN records a message by phone.
    let out = campaign::admin_with_input(
        &lab,
        Node::A,
        &["operator", "add", "rossi", "--pin", "1234"],
        "pw\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, out) = voice::carrier_calls(&lab, "uac_record_alert.xml", "201", &[]);
    assert!(ok, "{out}\n{}", node.log_text());
    assert!(
        node.wait_count(
            "alert line: message recorded by phone",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        node.log_text()
    );
    // Three wrong PINs from one number close recording by phone to it: the right PIN is then
    // refused unheard.
    for _ in 0..pin_guard::PER_CALLER {
        let (ok, out) = voice::carrier_calls(&lab, "uac_wrong_pin.xml", "201", &[]);
        assert!(ok, "{out}\n{}", node.log_text());
    }
    assert_eq!(
        node.count("a recording was refused (wrong PIN)"),
        pin_guard::PER_CALLER as usize,
        "{}",
        node.log_text()
    );
    let (ok, _) = voice::carrier_calls(&lab, "uac_record_alert.xml", "201", &[]);
    assert!(!ok, "the node hangs up on the locked-out number");
    assert_eq!(
        node.count("recording by phone is closed after wrong PINs"),
        1,
        "{}",
        node.log_text()
    );
    assert_eq!(node.count("alert line: message recorded by phone"), 1);
    let wav = lab
        .dir()
        .join("voice-node-a/prompts/recorded/phone-alert.wav");
    let size = std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0);
    assert!(size > 8_000 * 2, "{} is {size} bytes", wav.display());
    // A campaign with that message makes it the current alert.
    let csv = lab.write_file("one.csv", "id,name,numbers\nC1,Anna,3400001\n");
    campaign::admin_ok(
        &lab,
        Node::A,
        &["contacts", "import", &csv.to_string_lossy(), "--list", "l"],
    );
    campaign::admin_ok(
        &lab,
        Node::A,
        &[
            "campaign",
            "create",
            "now",
            "--message",
            "phone-alert",
            "--list",
            "l",
        ],
    );
    campaign::admin_ok(&lab, Node::A, &["campaign", "start", "now"]);
    campaign::admin_ok(&lab, Node::A, &["campaign", "pause", "now"]);
    let (ok, out) = voice::carrier_calls(&lab, "uac_silent.xml", "200", &[]);
    assert!(ok, "{out}\n{}", node.log_text());
    assert!(
        node.count("playing the current alert prompt=recorded/phone-alert") == 1,
        "{}",
        node.log_text()
    );
}
