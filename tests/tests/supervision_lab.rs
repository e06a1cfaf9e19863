//! Component supervision in the lab, with the real mediacore and sync binaries as children
//! of the real supervisor: a killed or hung media core on the master moves the VIP, check
//! scripts with weights, flap damping, switchover / maintenance / promote through
//! `allertactl`, keepalived-style notify hooks, the metrics endpoint, and the availability
//! ledger (`allertactl sla`).

use std::process::Output;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use system_tests::lab::{wait_until, Lab, Node, Proc, VIP};
use system_tests::nodes::{self, run_dir, Speaker, Vrrp};
use system_tests::probe::{self, EchoServer, Probe};
use system_tests::{ami, prereq};

const MASTER: &str = "to=Master";
/// `comm` of the media core (15 characters at most).
const MEDIACORE: &str = "allerta-mediaco";

struct Pair {
    lab: Lab,
    a: Proc,
    b: Proc,
    probe: Probe,
    _echo: [EchoServer; 2],
}

fn pair(test: &str, edit_a: impl Fn(&mut Vrrp), edit_b: impl Fn(&mut Vrrp)) -> Pair {
    let lab = Lab::two_nodes(test);
    let (mut va, mut vb) = (Vrrp::for_node(Node::A, 100), Vrrp::for_node(Node::B, 100));
    va.components = true;
    vb.components = true;
    edit_a(&mut va);
    edit_b(&mut vb);
    let echo = [
        EchoServer::start(&lab.ns("node-a"), "node-a"),
        EchoServer::start(&lab.ns("node-b"), "node-b"),
    ];
    let a = nodes::start(&lab, Node::A, Speaker::Allerta, &va);
    assert!(
        a.wait_count(MASTER, 1, Duration::from_secs(10)),
        "A never master:\n{}",
        a.log_text()
    );
    let b = nodes::start(&lab, Node::B, Speaker::Allerta, &vb);
    let probe = Probe::start(&lab.ns("client"), VIP, Duration::from_millis(10));
    assert!(
        probe.wait_answered_by("node-a", Duration::from_secs(5)),
        "waited {:?} for 3 probes in a row answered by node-a; last answers: {}",
        Duration::from_secs(5),
        probe.recent()
    );
    // Both media cores told their roles.
    assert!(
        a.wait_count("role acknowledged", 2, Duration::from_secs(5)),
        "A's components not told their role:\n{}",
        a.log_text()
    );
    assert!(
        b.wait_count("role acknowledged", 2, Duration::from_secs(5)),
        "B's components not told their role:\n{}",
        b.log_text()
    );
    Pair {
        lab,
        a,
        b,
        probe,
        _echo: echo,
    }
}

fn allertactl(lab: &Lab, node: Node, args: &[&str]) -> Output {
    let socket = run_dir(lab, node).join("supervisor.sock");
    std::process::Command::new(prereq::workspace_bin("allertactl"))
        .arg("--socket")
        .arg(&socket)
        .args(args)
        .output()
        .expect("allertactl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn mediacore_pid(lab: &Lab, node: Node) -> i32 {
    let pids = lab.pids_named(node.role(), MEDIACORE);
    assert_eq!(pids.len(), 1, "one media core on {}: {pids:?}", node.role());
    pids[0]
}

fn kill(pid: i32, signal: Signal) {
    nix::sys::signal::kill(Pid::from_raw(pid), signal).expect("kill");
}

#[test]
fn killed_media_core_on_the_master_moves_the_vip_at_once_and_is_restarted() {
    let p = pair("mc-kill", |_| {}, |_| {});
    let old = mediacore_pid(&p.lab, Node::A);
    let t = Instant::now();
    kill(old, Signal::SIGKILL);
    assert!(
        p.b.wait_count(MASTER, 1, Duration::from_secs(2)),
        "B did not take over:\n{}",
        p.b.log_text()
    );
    let took = t.elapsed();
    // No polling: the exit is seen at once and priority 0 gives Skew_Time (61 ms here).
    assert!(took < Duration::from_millis(250), "takeover took {took:?}");
    assert!(
        p.probe.wait_answered_by("node-b", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-b; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
    // The media core comes back, A recovers and (preempt) takes its role back.
    assert!(wait_until(Duration::from_secs(5), || p
        .lab
        .pids_named("node-a", MEDIACORE)
        .iter()
        .any(|&pid| pid != old))
    .is_some());
    assert!(
        p.a.wait_count(MASTER, 2, Duration::from_secs(5)),
        "A did not come back:\n{}",
        p.a.log_text()
    );
    assert!(
        p.probe.wait_answered_by("node-a", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-a; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
    let history = text(&allertactl(&p.lab, Node::A, &["history"]));
    assert!(
        history.contains("[mediacore: exited"),
        "history names the cause:\n{history}"
    );
}

#[test]
fn hung_media_core_is_detected_by_its_probe_and_taken_over() {
    let p = pair("mc-stop", |_| {}, |_| {});
    let pid = mediacore_pid(&p.lab, Node::A);
    let t = Instant::now();
    kill(pid, Signal::SIGSTOP);
    assert!(
        p.b.wait_count(MASTER, 1, Duration::from_secs(2)),
        "B did not take over:\n{}",
        p.b.log_text()
    );
    let took = t.elapsed();
    kill(pid, Signal::SIGCONT);
    // Probes every 50 ms, 100 ms timeout, fall 2: ≤ 250 ms, plus Skew_Time.
    assert!(
        took < Duration::from_millis(400),
        "hang detected and taken over in {took:?}"
    );
    let status = text(&allertactl(&p.lab, Node::A, &["status"]));
    assert!(status.contains("mediacore"), "{status}");
    assert!(
        p.a.wait_count(MASTER, 2, Duration::from_secs(5)),
        "A did not recover:\n{}",
        p.a.log_text()
    );
}

#[test]
fn weighted_check_moves_the_role_only_when_priority_falls_below_the_peer() {
    let flags = std::env::temp_dir().join(format!("allerta-weights-{}", std::process::id()));
    std::fs::create_dir_all(&flags).unwrap();
    let check = |name: &str, weight: i32| {
        format!(
            "\n[[check]]\nname = \"{name}\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"test ! -e {}/{name}\"]\n\
             interval_ms = 100\nfall = 1\nrise = 1\nweight = {weight}\n",
            flags.display()
        )
    };
    let p = pair(
        "weights",
        |v| v.extra_toml = check("gw", -50) + &check("dns", -60),
        |_| {},
    );
    std::fs::write(flags.join("gw"), "").unwrap();
    // 200 - 50 = 150 > 100: A stays master.
    assert!(wait_until(Duration::from_secs(2), || text(&allertactl(
        &p.lab,
        Node::A,
        &["status"]
    ))
    .contains("priority 150"))
    .is_some());
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(p.b.count(MASTER), 0, "B took over at 150 > 100");
    std::fs::write(flags.join("dns"), "").unwrap();
    // 200 - 110 = 90 < 100: B preempts.
    assert!(
        p.b.wait_count(MASTER, 1, Duration::from_secs(3)),
        "B did not preempt a master at 90:\n{}",
        p.b.log_text()
    );
    std::fs::remove_file(flags.join("gw")).unwrap();
    std::fs::remove_file(flags.join("dns")).unwrap();
    assert!(
        p.a.wait_count(MASTER, 2, Duration::from_secs(3)),
        "A did not take back its role at 200"
    );
    let _ = std::fs::remove_dir_all(&flags);
}

#[test]
fn flapping_media_core_causes_one_round_trip_within_the_damping_window() {
    // Damping: after a fault clears, A waits 4 s before preempting.
    let p = pair("flap", |v| v.preempt_delay_ms = 4000, |_| {});
    for _ in 0..3 {
        let pid = mediacore_pid(&p.lab, Node::A);
        kill(pid, Signal::SIGKILL);
        assert!(wait_until(Duration::from_secs(3), || p
            .lab
            .pids_named("node-a", MEDIACORE)
            .iter()
            .any(|&q| q != pid))
        .is_some());
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(
        p.a.wait_count(MASTER, 2, Duration::from_secs(8)),
        "A never came back:\n{}",
        p.a.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        p.b.count(MASTER),
        1,
        "B became master more than once:\n{}",
        p.b.log_text()
    );
    assert_eq!(p.a.count(MASTER), 2, "A flapped:\n{}", p.a.log_text());
    let status = text(&allertactl(&p.lab, Node::A, &["status"]));
    assert!(
        status.contains("down 3 times"),
        "the flaps are counted:\n{status}"
    );
    assert!(
        status.contains("transitions to or from master: 3"),
        "{status}"
    );
}

#[test]
fn switchover_maintenance_and_promote_do_what_the_operator_asked() {
    let p = pair("operator", |_| {}, |_| {});
    // Promote on the master: nothing to do.
    let out = allertactl(&p.lab, Node::A, &["promote"]);
    assert!(
        out.status.success() && text(&out).contains("already master"),
        "{}",
        text(&out)
    );
    // An AMI application connects through the VIP: it reaches the master's media core.
    let ami_on_vip = std::net::SocketAddr::new(VIP.into(), 5038);
    let mut app = ami::Client::connect(&p.lab.ns("client"), ami_on_vip);
    app.login("app", "s3cret");
    let (r, _) = app.action("st", &[("Action", "AllertaStatus")]);
    assert_eq!(r.get("Role"), Some("master"), "{r:?}");
    // A monitor connected to B's own address hears it take over.
    let b_own = std::net::SocketAddr::new(Node::B.data_ip().into(), 5038);
    let mut monitor = ami::Client::connect(&p.lab.ns("client"), b_own);
    monitor.login("app", "s3cret");
    // Switchover: B must be healthy (asked over its metrics endpoint), then A yields.
    let out = allertactl(&p.lab, Node::A, &["switchover", "--drain", "5"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("mediacore drained"), "{}", text(&out));
    assert!(p.b.wait_count(MASTER, 1, Duration::from_secs(2)));
    assert!(
        p.probe.wait_answered_by("node-b", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-b; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
    let (changed, _) = monitor
        .wait_for(Duration::from_secs(5), |m| m.is_event("AllertaRoleChanged"))
        .expect("role event on the new master's AMI");
    assert_eq!(changed.get("Role"), Some("master"));
    // The application's connection went with the VIP; reconnecting reaches B.
    let mut app = ami::Client::connect(&p.lab.ns("client"), ami_on_vip);
    app.login("app", "s3cret");
    let (r, _) = app.action("st", &[("Action", "AllertaStatus")]);
    assert_eq!(r.get("Role"), Some("master"), "{r:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        p.a.count(MASTER),
        1,
        "A took the role back after a switchover"
    );
    // Promote without --force is refused while B is alive and master.
    let out = allertactl(&p.lab, Node::A, &["promote"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("alive and master"), "{}", text(&out));
    let out = allertactl(&p.lab, Node::A, &["promote", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(p.a.wait_count(MASTER, 2, Duration::from_secs(2)));
    assert!(
        p.probe.wait_answered_by("node-a", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-a; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
    // A switchover to a node in maintenance is refused: the peer is not healthy.
    let out = allertactl(&p.lab, Node::B, &["maintenance", "on"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        allertactl(&p.lab, Node::B, &["status"]).status.code(),
        Some(4)
    );
    let out = allertactl(&p.lab, Node::A, &["switchover"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("MAINTENANCE"), "{}", text(&out));
    // Maintenance on the master releases the VIP; the node is not elected until off.
    let _ = allertactl(&p.lab, Node::B, &["maintenance", "off"]);
    let out = allertactl(&p.lab, Node::A, &["maintenance", "on"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        p.probe.wait_answered_by("node-b", Duration::from_secs(2)),
        "maintenance did not release the VIP"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(p.lab.vip_holders(), [Node::B]);
    assert!(text(&allertactl(&p.lab, Node::A, &["status"])).contains("MAINTENANCE"));
    let out = allertactl(&p.lab, Node::A, &["maintenance", "off"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        p.probe.wait_answered_by("node-a", Duration::from_secs(3)),
        "A did not return after maintenance"
    );
    // JSON for scripts.
    let out = allertactl(&p.lab, Node::A, &["--json", "status"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    assert_eq!(json["role"], "MASTER");
}

#[test]
fn notify_hooks_get_keepalived_s_arguments_and_metrics_are_served() {
    let log = std::env::temp_dir().join(format!("allerta-notify-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let hook = std::env::temp_dir().join(format!("allerta-notify-{}.sh", std::process::id()));
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let instance_toml = format!("notify = \"{}\"\n", hook.display());
    let p = pair(
        "notify",
        |v| v.instance_toml = instance_toml.clone(),
        |_| {},
    );
    assert!(
        wait_until(Duration::from_secs(3), || std::fs::read_to_string(&log)
            .is_ok_and(|t| t.contains("INSTANCE data MASTER 200")))
        .is_some()
    );
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(
        lines.starts_with("INSTANCE data BACKUP 200\n"),
        "first BACKUP, then MASTER:\n{lines}"
    );
    let metrics = http_get(&p.lab, Node::A, "/metrics");
    assert!(
        metrics.contains(
            "allerta_vrrp_state{node=\"node-a\",vrrp_instance=\"data\",state=\"master\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("allerta_component_up{node=\"node-a\",component=\"mediacore\"} 1"),
        "{metrics}"
    );
    p.lab.signal(&p.a, Signal::SIGTERM);
    assert!(
        p.lab
            .wait_exit(&p.a, Duration::from_secs(8))
            .is_some_and(|s| s.success()),
        "{}",
        p.a.log_text()
    );
    assert!(p.b.wait_count(MASTER, 1, Duration::from_secs(2)));
    assert!(
        wait_until(Duration::from_secs(3), || std::fs::read_to_string(&log)
            .is_ok_and(|t| t.contains("INSTANCE data STOP")))
        .is_some()
    );
    assert!(
        p.lab.pids_named("node-a", MEDIACORE).is_empty(),
        "the media core outlived its supervisor"
    );
    let _ = (std::fs::remove_file(&log), std::fs::remove_file(&hook));
}

/// A plain HTTP GET from the client namespace to a node's metrics port.
fn http_get(lab: &Lab, node: Node, path: &str) -> String {
    probe::http_get(
        &lab.ns("client"),
        std::net::SocketAddr::from((node.data_ip(), 9480)),
        path,
    )
}

#[test]
fn maintenance_survives_a_link_flap_and_a_restart() {
    let p = pair("maint-flap", |_| {}, |_| {});
    let out = allertactl(&p.lab, Node::A, &["maintenance", "on"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(p.b.wait_count(MASTER, 1, Duration::from_secs(2)));
    // The link going down and up must not clear the maintenance fault.
    p.lab.set_port(Node::A.data_port(), false);
    std::thread::sleep(Duration::from_millis(300));
    p.lab.set_port(Node::A.data_port(), true);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        p.a.count(MASTER),
        1,
        "A left maintenance on a link flap:\n{}",
        p.a.log_text()
    );
    // Nor a restart of the supervisor.
    p.lab.signal(&p.a, Signal::SIGTERM);
    assert!(p.lab.wait_exit(&p.a, Duration::from_secs(8)).is_some());
    let v = Vrrp {
        components: true,
        ..Vrrp::for_node(Node::A, 100)
    };
    let a2 = nodes::start(&p.lab, Node::A, Speaker::Allerta, &v);
    assert!(
        a2.wait_count("in maintenance", 1, Duration::from_secs(5)),
        "{}",
        a2.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        a2.count(MASTER),
        0,
        "A was elected while in maintenance:\n{}",
        a2.log_text()
    );
    assert!(allertactl(&p.lab, Node::A, &["maintenance", "off"])
        .status
        .success());
    assert!(
        a2.wait_count(MASTER, 1, Duration::from_secs(3)),
        "A did not come back after maintenance off"
    );
}

#[test]
fn voice_interface_carrier_is_tracked_and_systemd_is_notified() {
    // systemd's side of sd_notify: a datagram socket the supervisor is pointed at.
    let dir = std::env::temp_dir().join(format!("allerta-sdnotify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let notify = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let lab = Lab::two_nodes("voicetrack");
    let mut v = Vrrp::for_node(Node::A, 100);
    v.extra_toml =
        "\n[[check]]\nname = \"voice\"\ninterface = \"voice0\"\ninterval_ms = 100\n".into();
    let config = lab.write_file(
        "a.toml",
        &nodes::supervisor_config(Node::A, &v, &run_dir(&lab, Node::A)),
    );
    std::fs::create_dir_all(run_dir(&lab, Node::A)).unwrap();
    let config = config.to_string_lossy().into_owned();
    let socket = socket_path.to_string_lossy().into_owned();
    let a = lab.spawn(
        "node-a",
        "allerta-node-a",
        &prereq::workspace_bin("allerta-supervisor"),
        &["--config", &config],
        &[
            ("NOTIFY_SOCKET", &socket),
            ("WATCHDOG_USEC", "200000"),
            ("NO_COLOR", "1"),
        ],
    );
    let mut seen = String::new();
    let got = wait_until(Duration::from_secs(5), || {
        let mut buf = [0u8; 256];
        if let Ok(n) = notify.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('\n');
        }
        seen.contains("READY=1") && seen.contains("WATCHDOG=1") && seen.contains("STATUS=Master")
    });
    assert!(
        got.is_some(),
        "sd_notify messages: {seen:?}\n{}",
        a.log_text()
    );
    // The voice network's cable: the node goes to Fault and releases the data VIP.
    lab.set_port("a-voice", false);
    assert!(
        a.wait_count("to=Fault", 1, Duration::from_secs(2)),
        "{}",
        a.log_text()
    );
    assert!(!lab.holds_vip(Node::A));
    lab.set_port("a-voice", true);
    assert!(
        a.wait_count(MASTER, 2, Duration::from_secs(3)),
        "{}",
        a.log_text()
    );
    lab.signal(&a, Signal::SIGTERM);
    let _ = lab.wait_exit(&a, Duration::from_secs(8));
    let mut buf = [0u8; 256];
    let mut tail = String::new();
    while let Ok(n) = notify.recv(&mut buf) {
        tail.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(tail.contains("STOPPING=1"), "{tail}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_component_that_dies_at_start_backs_off_and_keeps_the_node_in_fault() {
    let lab = Lab::two_nodes("crashloop");
    let mut v = Vrrp::for_node(Node::A, 100);
    v.extra_toml = "\n[[component]]\nname = \"broken\"\ncommand = \"/bin/false\"\ncontrol_socket = \"/nonexistent/broken.sock\"\nstart_grace_ms = 500\n".into();
    let a = nodes::start(&lab, Node::A, Speaker::Allerta, &v);
    std::thread::sleep(Duration::from_secs(4));
    // 100, 200, 400, 800, 1600 ms: about six starts in four seconds, not hundreds.
    let starts = a.count("component started");
    assert!(
        (3..=8).contains(&starts),
        "{starts} starts in 4 s:\n{}",
        a.log_text()
    );
    assert_eq!(
        a.count(MASTER),
        0,
        "a node whose component never runs must not be master"
    );
    assert!(a.count("to=Fault") >= 1, "{}", a.log_text());
}

/// The outages in a node's availability ledger (its state_dir).
fn ledger_outages(lab: &Lab, node: Node) -> Vec<supervisor::availability::ledger::Outage> {
    use supervisor::availability::{ledger, store};
    let path = run_dir(lab, node).join("availability.jsonl");
    let read = store::load(&path).unwrap_or_else(|e| panic!("{e}"));
    ledger::fold(&path, &read).unwrap_or_else(|e| panic!("{e}"))
}

fn sla_json(lab: &Lab, node: Node, month: &str) -> serde_json::Value {
    let config = lab.dir().join(format!("allerta-{}.toml", node.role()));
    let out = std::process::Command::new(prereq::workspace_bin("allertactl"))
        .arg("--config")
        .arg(&config)
        .args(["sla", "--json", "--month", month])
        .output()
        .expect("allertactl sla");
    assert!(out.status.success(), "allertactl sla: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[test]
fn a_killed_media_core_is_one_short_outage_in_both_ledgers() {
    use component::localtime;
    use supervisor::availability::ledger::{End, Ending};
    use supervisor::availability::windows::format_local;

    let dir = std::env::temp_dir().join(format!("allerta-sla-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let windows = dir.join("sla.toml");
    let _ = std::fs::remove_file(&windows);
    // Adverts every second: after A releases the VIP nobody holds it for B's Skew_Time
    // (0.6 s at priority 100), which probes every 50 ms cannot miss. A does not preempt, so
    // no failback adds a second outage.
    let availability = format!(
        "\n[availability]\ninterval_ms = 50\ntimeout_ms = 200\nwindows = \"{}\"\n",
        windows.display()
    );
    let p = pair(
        "sla",
        |v| {
            v.advert_interval_ms = 1000;
            v.preempt = false;
            v.extra_toml = availability.clone();
        },
        |v| {
            v.advert_interval_ms = 1000;
            v.extra_toml = availability.clone();
        },
    );
    // B hears A's adverts (one a second) before the fault.
    std::thread::sleep(Duration::from_millis(1500));
    // A started alone: until it became master nobody answered, and its ledger says so.
    let before = ledger_outages(&p.lab, Node::A);
    assert!(
        before
            .iter()
            .all(|o| o.end == Ending::Closed(End::Answered)),
        "A's cold start: {before:?}"
    );
    assert_eq!(ledger_outages(&p.lab, Node::B), [], "B found A answering");

    kill(mediacore_pid(&p.lab, Node::A), Signal::SIGKILL);
    assert!(
        p.b.wait_count(MASTER, 1, Duration::from_secs(5)),
        "B did not take over:\n{}",
        p.b.log_text()
    );
    assert!(
        p.probe.wait_answered_by("node-b", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-b; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
    let since_kill = |node: Node| -> Vec<_> {
        let skip = if node == Node::A { before.len() } else { 0 };
        ledger_outages(&p.lab, node)
            .into_iter()
            .skip(skip)
            .collect()
    };
    let closed = |node: Node| {
        let o = since_kill(node);
        !o.is_empty() && o.iter().all(|o| o.end != Ending::Open)
    };
    assert!(
        wait_until(Duration::from_secs(5), || closed(Node::A)
            && closed(Node::B))
        .is_some(),
        "outages not closed: A {:?}, B {:?}",
        since_kill(Node::A),
        since_kill(Node::B)
    );
    // Nothing more comes (A's media core restarts, A stays backup).
    std::thread::sleep(Duration::from_secs(2));
    for node in [Node::A, Node::B] {
        let o = since_kill(node);
        assert_eq!(o.len(), 1, "{}: {o:?}", node.role());
        let length = o[0].close_ms - o[0].open_ms;
        assert!(
            o[0].end == Ending::Closed(End::Answered) && length > 0 && length < 5000,
            "{}: {o:?}",
            node.role()
        );
    }
    assert_eq!(ledger_outages(&p.lab, Node::A).len(), before.len() + 1);

    // allertactl reads the files itself: short, so forgiven; 100 %.
    let outage_ms = since_kill(Node::A)[0].open_ms;
    let local = localtime::local_secs(outage_ms);
    let month = &format_local(local)[..7];
    let is_it = |o: &serde_json::Value| o["start_ms"].as_u64() == Some(outage_ms);
    let json = sla_json(&p.lab, Node::A, month);
    let outage = json["outages"]
        .as_array()
        .and_then(|all| all.iter().find(|o| is_it(o)))
        .unwrap_or_else(|| panic!("the outage is not reported: {json:#}"));
    assert_eq!(outage["verdict"], "forgiven", "{json:#}");
    for st in json["service_times"].as_array().expect("service times") {
        assert_eq!(st["availability_percent"], 100.0, "{json:#}");
        assert_eq!(st["met"], true, "{json:#}");
    }

    // The same outage inside an excluded window is excluded instead.
    let minute = |secs: i64| format_local(secs)[..16].to_string();
    std::fs::write(
        &windows,
        format!(
            "[[excluded]]\nfrom = \"{}\"\nto = \"{}\"\nreason = \"lab: force majeure\"\n",
            minute(local - 3600),
            minute(local + 3600)
        ),
    )
    .unwrap();
    let json = sla_json(&p.lab, Node::A, month);
    let outage = json["outages"]
        .as_array()
        .and_then(|all| all.iter().find(|o| is_it(o)))
        .unwrap_or_else(|| panic!("the outage is not reported: {json:#}"));
    assert_eq!(outage["verdict"], "excluded", "{json:#}");
    assert!(outage["windows"][0]
        .as_str()
        .is_some_and(|w| w.contains("lab: force majeure")));
    // The human form says the same.
    let config = p.lab.dir().join("allerta-node-a.toml");
    let human = std::process::Command::new(prereq::workspace_bin("allertactl"))
        .arg("--config")
        .arg(&config)
        .args(["sla", "--month", month])
        .output()
        .expect("allertactl sla");
    let human = text(&human);
    assert!(
        human.contains("excluded; excluded: lab: force majeure"),
        "{human}"
    );
    // The status shows the latest probe.
    let status = allertactl(&p.lab, Node::B, &["--json", "status"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let a = &status["availability"];
    assert_eq!(a["up"], true, "{status:#}");
    assert_eq!(a["down_since_ms"], serde_json::Value::Null, "{status:#}");
    assert_eq!(a["service"], "10.77.0.10:5038", "{status:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
