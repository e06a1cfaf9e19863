//! VRRP between two real supervisors in the lab: election, the master killed, its link cut,
//! a graceful stop, the master returning (preempt and nopreempt), unicast mode, a node whose
//! peer address is wrong, and a frozen master (a vSphere snapshot or vMotion stun).

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use system_tests::lab::{wait_until, Lab, Node, Proc, VIP, VOICE_VIP};
use system_tests::nodes::{self, takeover_bound, Speaker, Vrrp};
use system_tests::probe::{self, EchoServer, Probe};

const MASTER: &str = "to=Master";

/// Node A (priority 200) and node B (100) running our supervisor, A elected, the client
/// probing the VIP every 10 ms.
struct Pair {
    lab: Lab,
    a: Proc,
    b: Proc,
    va: Vrrp,
    vb: Vrrp,
    probe: Probe,
    _echo: [EchoServer; 2],
}

fn pair(test: &str, advert_interval_ms: u64, edit: impl Fn(&mut Vrrp)) -> Pair {
    let lab = Lab::two_nodes(test);
    let (mut va, mut vb) = (
        Vrrp::for_node(Node::A, advert_interval_ms),
        Vrrp::for_node(Node::B, advert_interval_ms),
    );
    edit(&mut va);
    edit(&mut vb);
    let echo = [
        EchoServer::start(&lab.ns("node-a"), "node-a"),
        EchoServer::start(&lab.ns("node-b"), "node-b"),
    ];
    let a = nodes::start(&lab, Node::A, Speaker::Allerta, &va);
    let b = nodes::start(&lab, Node::B, Speaker::Allerta, &vb);
    assert!(
        a.wait_count(MASTER, 1, Duration::from_secs(10)),
        "node A never became master:\n{}",
        a.log_text()
    );
    let probe = Probe::start(&lab.ns("client"), VIP, Duration::from_millis(10));
    assert!(
        probe.wait_answered_by("node-a", Duration::from_secs(5)),
        "client cannot reach node A on the VIP"
    );
    Pair {
        lab,
        a,
        b,
        va,
        vb,
        probe,
        _echo: echo,
    }
}

#[test]
fn higher_priority_node_is_elected_and_alone_holds_the_vip() {
    let p = pair("elect", 100, |_| {});
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(p.lab.vip_holders(), [Node::A]);
    assert_eq!(
        p.b.count(MASTER),
        0,
        "node B was master at some point:\n{}",
        p.b.log_text()
    );
    assert_eq!(p.a.count(MASTER), 1, "node A flapped:\n{}", p.a.log_text());
    let samples = p.probe.samples();
    assert_eq!(
        probe::unanswered_since(&samples, samples[3].sent, 5),
        0,
        "probes lost in steady state"
    );
}

#[test]
fn killed_master_releases_its_vip_and_the_backup_takes_over_in_skew_time() {
    let p = pair("sigkill", 100, |_| {});
    let t = Instant::now();
    p.lab.signal(&p.a, Signal::SIGKILL);
    assert!(
        p.b.wait_count(MASTER, 1, Duration::from_secs(2)),
        "B did not take over:\n{}",
        p.b.log_text()
    );
    let took = t.elapsed();
    // The guard sends priority 0: Skew_Time (61 ms), not Master_Down_Interval (361 ms).
    assert!(took < Duration::from_millis(300), "takeover took {took:?}");
    assert!(
        wait_until(Duration::from_secs(1), || p.lab.vip_holders() == [Node::B]).is_some(),
        "VIP holders {:?}: the killed node must not keep the VIP",
        p.lab.vip_holders()
    );
    assert!(
        p.probe.wait_answered_by("node-b", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-b; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
    let outage = probe::outage(&p.probe.samples(), t).unwrap_or_default();
    assert!(outage < Duration::from_millis(300), "outage {outage:?}");
}

#[test]
fn master_link_down_makes_backup_take_over_and_healed_master_preempts_back() {
    let p = pair("linkdown", 100, |_| {});
    let t = Instant::now();
    p.lab.set_port(Node::A.data_port(), false);
    let bound = takeover_bound(&p.vb, 100, Duration::from_millis(250));
    assert!(
        p.b.wait_count(MASTER, 1, bound),
        "B did not take over within {bound:?}:\n{}",
        p.b.log_text()
    );
    assert!(
        p.a.wait_count("to=Fault", 1, Duration::from_secs(1)),
        "A did not notice its link:\n{}",
        p.a.log_text()
    );
    assert!(!p.lab.holds_vip(Node::A), "a faulty node must drop its VIP");
    assert!(
        p.probe.wait_answered_by("node-b", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-b; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
    let outage = probe::outage(&p.probe.samples(), t).expect("an outage");
    assert!(outage < bound, "outage {outage:?}");

    p.lab.set_port(Node::A.data_port(), true);
    assert!(
        p.a.wait_count(MASTER, 2, Duration::from_secs(3)),
        "A did not preempt back:\n{}",
        p.a.log_text()
    );
    assert!(
        p.b.wait_count("to=Backup", 2, Duration::from_secs(2)),
        "B did not step down:\n{}",
        p.b.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(p.lab.vip_holders(), [Node::A]);
    assert!(
        p.probe.wait_answered_by("node-a", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-a; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
}

#[test]
fn graceful_stop_hands_over_with_priority_zero() {
    let p = pair("sigterm", 100, |_| {});
    let t = Instant::now();
    p.lab.signal(&p.a, Signal::SIGTERM);
    let status = p
        .lab
        .wait_exit(&p.a, Duration::from_secs(5))
        .expect("A did not exit on SIGTERM");
    assert!(
        status.success(),
        "A exited with {status}:\n{}",
        p.a.log_text()
    );
    assert!(
        p.b.wait_count(MASTER, 1, Duration::from_secs(1)),
        "B did not take over:\n{}",
        p.b.log_text()
    );
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "handover took {:?}",
        t.elapsed()
    );
    assert!(p
        .a
        .log_text()
        .contains("from=Master to=Initialize reason=Shutdown"));
    assert!(p.a.log_text().contains("virtual address removed"));
    assert_eq!(p.lab.vip_holders(), [Node::B]);
    assert!(
        p.probe.wait_answered_by("node-b", Duration::from_secs(2)),
        "waited {:?} for 3 probes in a row answered by node-b; last answers: {}",
        Duration::from_secs(2),
        p.probe.recent()
    );
    // Make before break: A kept the VIP until B spoke, so the client lost nothing (one
    // probe in flight at the switch at most).
    let lost = probe::unanswered_since(&p.probe.samples(), t, 5);
    assert!(lost <= 1, "{lost} probes lost in a graceful stop");
}

#[test]
fn returning_master_preempts_and_with_nopreempt_stays_backup() {
    for preempt in [true, false] {
        let test = if preempt { "preempt" } else { "nopreempt" };
        let p = pair(test, 100, |v| v.preempt = preempt);
        p.lab.signal(&p.a, Signal::SIGKILL);
        assert!(p.b.wait_count(MASTER, 1, Duration::from_secs(2)));
        let _ = p.lab.wait_exit(&p.a, Duration::from_secs(2));
        let a2 = nodes::start(&p.lab, Node::A, Speaker::Allerta, &p.va);
        assert!(
            a2.wait_count("to=Backup", 1, Duration::from_secs(5)),
            "{}",
            a2.log_text()
        );
        if preempt {
            assert!(
                a2.wait_count(MASTER, 1, Duration::from_secs(3)),
                "A did not preempt:\n{}",
                a2.log_text()
            );
            assert!(p.b.wait_count("to=Backup", 2, Duration::from_secs(2)));
            assert!(
                p.probe.wait_answered_by("node-a", Duration::from_secs(2)),
                "waited {:?} for 3 probes in a row answered by node-a; last answers: {}",
                Duration::from_secs(2),
                p.probe.recent()
            );
            assert_eq!(p.lab.vip_holders(), [Node::A]);
        } else {
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(
                a2.count(MASTER),
                0,
                "nopreempt A took over:\n{}",
                a2.log_text()
            );
            assert_eq!(p.lab.vip_holders(), [Node::B]);
        }
    }
}

#[test]
fn unicast_peers_work_where_multicast_is_dropped() {
    let lab = Lab::two_nodes("unicast");
    // The "VMware port group" drops VRRP multicast.
    system_tests::prereq::require_tools("unicast", &["nft"]);
    let nft = "table bridge lab { chain filt { type filter hook forward priority 0; \
               ether daddr 01:00:5e:00:00:12 counter drop; ip protocol vrrp counter accept; }; }";
    let out = lab.exec("sw", "nft", &[nft]);
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut va, mut vb) = (Vrrp::for_node(Node::A, 100), Vrrp::for_node(Node::B, 100));
    va.unicast = true;
    vb.unicast = true;
    let a = nodes::start(&lab, Node::A, Speaker::Allerta, &va);
    let b = nodes::start(&lab, Node::B, Speaker::Allerta, &vb);
    assert!(a.wait_count(MASTER, 1, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        b.count(MASTER),
        0,
        "B did not hear A's unicast adverts:\n{}",
        b.log_text()
    );
    assert_eq!(lab.vip_holders(), [Node::A]);
    let rules = String::from_utf8_lossy(
        &lab.exec("sw", "nft", &["list", "table", "bridge", "lab"])
            .stdout,
    )
    .into_owned();
    let unicast_adverts: u64 = rules
        .lines()
        .find(|l| l.contains("ip protocol vrrp"))
        .and_then(|l| {
            l.split_whitespace()
                .skip_while(|w| *w != "packets")
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    assert!(
        unicast_adverts >= 15,
        "the switch saw {unicast_adverts} unicast adverts in 2 s:\n{rules}"
    );
    lab.signal(&a, Signal::SIGKILL);
    assert!(
        b.wait_count(MASTER, 1, Duration::from_secs(2)),
        "{}",
        b.log_text()
    );
    assert!(wait_until(Duration::from_secs(1), || lab.vip_holders() == [Node::B]).is_some());
}

/// `allertactl problems` on a node of the lab: (exit code, output).
fn problems(lab: &Lab, node: Node) -> (i32, String) {
    allertactl(lab, node, "problems")
}

/// `allertactl check` (the monitoring plugin) on a node of the lab: (exit code, output).
fn check(lab: &Lab, node: Node) -> (i32, String) {
    allertactl(lab, node, "check")
}

fn allertactl(lab: &Lab, node: Node, command: &str) -> (i32, String) {
    let socket = nodes::run_dir(lab, node).join("supervisor.sock");
    let out = std::process::Command::new(system_tests::prereq::workspace_bin("allertactl"))
        .arg("--socket")
        .arg(&socket)
        .arg(command)
        .output()
        .expect("allertactl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Unicast adverts to `peer` instead of the other node (a typo in `ha.peer_ip`).
fn wrong_peer(v: &mut Vrrp, peer: &str) {
    v.unicast = false;
    v.instance_toml = format!("unicast_peers = [\"{peer}\"]\n");
}

#[test]
fn a_backup_whose_peer_address_is_wrong_stays_out_of_the_election_and_says_why() {
    let lab = Lab::two_nodes("strangerb");
    let (mut va, mut vb) = (Vrrp::for_node(Node::A, 100), Vrrp::for_node(Node::B, 100));
    va.unicast = true;
    wrong_peer(&mut vb, "10.77.0.99");
    let a = nodes::start(&lab, Node::A, Speaker::Allerta, &va);
    assert!(a.wait_count(MASTER, 1, Duration::from_secs(5)));
    let b = nodes::start(&lab, Node::B, Speaker::Allerta, &vb);
    // Without the rule B drops A's adverts as "not from a peer" and becomes a second master
    // after its Master_Down_Interval (about 0.35 s here): give it ten times that.
    assert!(
        b.wait_count("not our peer", 1, Duration::from_secs(5)),
        "{}",
        b.log_text()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.count(MASTER), 0, "B became master:\n{}", b.log_text());
    assert_eq!(lab.vip_holders(), [Node::A]);
    let (code, said) = problems(&lab, Node::B);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("VRRP adverts of VRID 51 come from 10.77.0.11, which is not this node's peer (10.77.0.99)"),
        "{said}"
    );
    assert_eq!(problems(&lab, Node::A), (0, String::new()));
    // The monitoring plugin: B critical (out of the election), A OK.
    let (code, line) = check(&lab, Node::B);
    assert_eq!(code, 2, "{line}");
    assert!(line.starts_with("ALLERTA CRITICAL - node-b "), "{line}");
    let (code, line) = check(&lab, Node::A);
    assert_eq!(code, 0, "{line}");
    assert!(
        line.starts_with("ALLERTA OK - node-a MASTER | master=1 "),
        "{line}"
    );
    // The stranger gone (A dead), B rejoins and, hearing no one, takes over: a node alone
    // serves whatever its settings.
    lab.signal(&a, Signal::SIGKILL);
    assert!(
        b.wait_count(MASTER, 1, Duration::from_secs(3)),
        "{}",
        b.log_text()
    );
    assert!(b.count("rejoining the election") == 1, "{}", b.log_text());
    assert!(wait_until(Duration::from_secs(1), || lab.vip_holders() == [Node::B]).is_some());
    assert_eq!(problems(&lab, Node::B), (0, String::new()));
    assert_eq!(check(&lab, Node::B).0, 0);
    let (code, line) = check(&lab, Node::A);
    assert_eq!(code, 3, "no supervisor on node-a: {line}");
    assert!(
        line.starts_with("ALLERTA UNKNOWN - the supervisor does not answer"),
        "{line}"
    );
}

#[test]
fn a_master_whose_peer_address_is_wrong_gives_the_role_to_the_node_that_hears_nothing() {
    let lab = Lab::two_nodes("strangera");
    let (mut va, mut vb) = (Vrrp::for_node(Node::A, 100), Vrrp::for_node(Node::B, 100));
    wrong_peer(&mut va, "10.77.0.99");
    vb.unicast = true;
    let a = nodes::start(&lab, Node::A, Speaker::Allerta, &va);
    assert!(a.wait_count(MASTER, 1, Duration::from_secs(5)));
    // A's adverts go to 10.77.0.99: B hears nothing, becomes master, and its adverts reach
    // A from an address that is not A's peer. A leaves; B alone holds the VIP.
    let b = nodes::start(&lab, Node::B, Speaker::Allerta, &vb);
    assert!(
        a.wait_count("not our peer", 1, Duration::from_secs(5)),
        "{}",
        a.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(2), || lab.vip_holders() == [Node::B]).is_some(),
        "VIP on {:?}",
        lab.vip_holders()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.vip_holders(), [Node::B], "{}", a.log_text());
    assert_eq!(b.count(MASTER), 1, "{}", b.log_text());
    let (code, said) = problems(&lab, Node::A);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("come from 10.77.0.12"), "{said}");
}

/// Freezes every process of a node (a VM stun), then thaws them.
fn freeze(lab: &Lab, role: &str, for_: Duration) {
    let out = lab.exec("sw", "ip", &["netns", "pids", &lab.ns(role)]);
    let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(!pids.is_empty(), "nothing runs in {role}");
    let signal_all = |s| {
        for pid in &pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), s);
        }
    };
    signal_all(Signal::SIGSTOP);
    std::thread::sleep(for_);
    signal_all(Signal::SIGCONT);
}

#[test]
fn frozen_master_at_the_default_interval_never_leaves_two_masters() {
    // The default advert interval (100 ms): Master_Down_Interval is 361 ms at priority 100.
    for (freeze_ms, test) in [(300, "freeze300"), (2000, "freeze2s")] {
        let p = pair(test, 100, |_| {});
        freeze(&p.lab, "node-a", Duration::from_millis(freeze_ms));
        let thawed = Instant::now();
        // The master's last advert may precede the freeze by up to one interval, so the
        // backup's timer can expire in the instant of the thaw, racing the thawed master's
        // first advert: count what the freeze caused once that instant has passed.
        std::thread::sleep(Duration::from_millis(200));
        let took_over = p.b.count(MASTER);
        assert!(
            took_over <= 1,
            "B became master {took_over} times during a {freeze_ms} ms freeze"
        );
        if freeze_ms >= 1000 {
            assert_eq!(
                took_over,
                1,
                "a 2 s freeze must fail over:\n{}",
                p.b.log_text()
            );
        }
        // Once both run again, A (priority 200) must hold the role alone within a moment.
        let settled = wait_until(Duration::from_secs(2), || p.lab.vip_holders() == [Node::A]);
        assert!(
            settled.is_some(),
            "after thaw, VIP holders {:?}",
            p.lab.vip_holders()
        );
        assert!(
            p.probe.wait_answered_by("node-a", Duration::from_secs(2)),
            "waited {:?} for 3 probes in a row answered by node-a; last answers: {}",
            Duration::from_secs(2),
            p.probe.recent()
        );
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            p.lab.vip_holders(),
            [Node::A],
            "two masters after the thaw ({:?} later)",
            thawed.elapsed()
        );
        assert_eq!(
            p.b.count(MASTER),
            took_over,
            "B took over again after the thaw:\n{}",
            p.b.log_text()
        );
        eprintln!(
            "{test}: B took over {took_over} time(s); settled {:?} after thaw",
            settled.unwrap()
        );
    }
}

#[test]
fn vips_on_the_data_and_voice_networks_move_together() {
    let p = pair("twovips", 100, |v| v.voice_vip = true);
    let holds_voice = |node: Node| p.lab.addrs(node.role(), "voice0").contains(&VOICE_VIP);
    assert!(holds_voice(Node::A) && !holds_voice(Node::B));
    p.lab.signal(&p.a, Signal::SIGKILL);
    assert!(p.b.wait_count(MASTER, 1, Duration::from_secs(2)));
    let moved = wait_until(Duration::from_secs(1), || {
        p.lab.vip_holders() == [Node::B] && holds_voice(Node::B) && !holds_voice(Node::A)
    });
    assert!(moved.is_some(), "both VIPs must move to B and leave A");
}

/// Sends raw IPv4 packets (header included) from the client, to the VRRP group.
fn send_raw(lab: &Lab, packets: Vec<Vec<u8>>) {
    probe::in_netns(&lab.ns("client"), move || {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let s =
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).expect("raw socket");
        s.set_header_included_v4(true).unwrap();
        // The client has no multicast route: name the interface.
        s.bind_device(Some(b"eth0")).unwrap();
        s.set_multicast_if_v4(&system_tests::lab::CLIENT_IP)
            .unwrap();
        let to = SockAddr::from(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::new(224, 0, 0, 18),
            0,
        ));
        for p in &packets {
            s.send_to(p, &to).expect("send");
        }
    });
}

#[test]
fn malformed_adverts_are_dropped_and_counted_and_change_nothing() {
    use supervisor::vrrp::packet::{encode_ip_header, Advert, PseudoHeader, Version};
    let p = pair("garbage", 100, |_| {});
    let (src, dst) = (
        system_tests::lab::CLIENT_IP,
        std::net::Ipv4Addr::new(224, 0, 0, 18),
    );
    // A priority-255 advert for our VRID would take the role from A, if it were accepted.
    let evil = Advert {
        version: Version::V3,
        vrid: 51,
        priority: 255,
        adver_int_cs: 10,
        addrs: vec![VIP],
    };
    let mut good = Vec::new();
    evil.encode(PseudoHeader { src, dst }, &mut good);
    let with_ip = |payload: &[u8], ttl: u8| {
        let mut pkt = Vec::new();
        encode_ip_header(src, dst, payload.len(), &mut pkt);
        pkt[8] = ttl;
        pkt.extend_from_slice(payload);
        pkt
    };
    let mut bad_sum = good.clone();
    bad_sum[7] ^= 0xff;
    let mut bad_count = good.clone();
    bad_count[3] = 5;
    let mut v2_in_v3 = good.clone();
    v2_in_v3[0] = 0x21;
    let packets = vec![
        with_ip(&good, 64),        // TTL not 255: from beyond the link
        with_ip(&bad_sum, 255),    // checksum
        with_ip(&bad_count, 255),  // address count vs length
        with_ip(&v2_in_v3, 255),   // a v2 advert to a v3 instance
        with_ip(&good[..5], 255),  // truncated
        with_ip(&[0xff; 40], 255), // noise
    ];
    for _ in 0..50 {
        send_raw(&p.lab, packets.clone());
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        p.a.count(MASTER),
        1,
        "A lost the role to garbage:\n{}",
        p.a.log_text()
    );
    assert_eq!(p.b.count(MASTER), 0);
    assert_eq!(p.lab.vip_holders(), [Node::A]);
    assert!(
        p.a.count("dropping malformed advert") >= 300,
        "drops not logged at debug"
    );
    // The counters are reported when the instance stops.
    p.lab.signal(&p.a, Signal::SIGTERM);
    assert!(p.lab.wait_exit(&p.a, Duration::from_secs(5)).is_some());
    let stopped =
        p.a.log_text()
            .lines()
            .find(|l| l.contains("vrrp instance stopped"))
            .map(str::to_string);
    let stopped = stopped.expect("stats line");
    assert!(stopped.contains("dropped_malformed: 300"), "{stopped}");
}

#[test]
fn a_killed_vip_guard_is_replaced_so_a_later_crash_still_releases_the_vip() {
    let p = pair("guard", 100, |_| {});
    let guards = |lab: &Lab| -> Vec<i32> {
        lab.pids_named("node-a", "allerta-supervi")
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.windows(7).any(|w| w == b"--guard"))
            })
            .collect()
    };
    let first = guards(&p.lab);
    assert_eq!(first.len(), 1, "one guard: {first:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first[0]), Signal::SIGKILL).unwrap();
    let replaced = wait_until(Duration::from_secs(3), || {
        guards(&p.lab).iter().any(|g| *g != first[0])
    });
    assert!(replaced.is_some(), "no new guard:\n{}", p.a.log_text());
    std::thread::sleep(Duration::from_millis(200));
    p.lab.signal(&p.a, Signal::SIGKILL);
    assert!(p.b.wait_count(MASTER, 1, Duration::from_secs(2)));
    assert!(
        wait_until(Duration::from_secs(1), || p.lab.vip_holders() == [Node::B]).is_some(),
        "the new guard did not release the VIP"
    );
}

#[test]
fn a_stale_vip_left_with_another_prefix_is_removed_at_start_up() {
    let lab = Lab::two_nodes("stale");
    // Left behind by hand or by an older configuration, as a /32.
    lab.ip(
        "node-b",
        &["addr", "add", &format!("{VIP}/32"), "dev", "data0"],
    );
    assert!(lab.holds_vip(Node::B));
    let b = nodes::start(
        &lab,
        Node::B,
        Speaker::Allerta,
        &Vrrp::for_node(Node::B, 100),
    );
    assert!(
        b.wait_count("stale virtual address removed", 1, Duration::from_secs(5)),
        "{}",
        b.log_text()
    );
    assert!(b.wait_count("to=Backup", 1, Duration::from_secs(5)));
    let _ = nodes::start(
        &lab,
        Node::A,
        Speaker::Allerta,
        &Vrrp::for_node(Node::A, 100),
    );
    assert!(
        wait_until(Duration::from_secs(3), || lab.vip_holders() == [Node::A]).is_some(),
        "holders {:?}",
        lab.vip_holders()
    );
}
