//! The sync agent in the lab: node-a (master) and node-b (backup) replicate over mutual TLS
//! on the data network, with real files and a real SQLite database written concurrently on
//! the master. After every case the backup's database passes `PRAGMA integrity_check` and
//! holds the master's ledger and journal head, and its tree holds the master's replicated
//! files (and nothing node-local).

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use system_tests::lab::{tail, wait_until, Lab};
use system_tests::probe::in_netns;
use system_tests::sync::{
    self, integrity_ok, replicated_tree, tree, CorruptingRelay, LedgerWriter, SmallDisk, SyncNode,
    LEDGER,
};

const STEP: Duration = Duration::from_secs(30);

/// A master with a schema, some rows and files before the agents start, then both agents,
/// in step.
fn started(
    test: &str,
    edit: impl FnOnce(&Lab, &mut SyncNode, &mut SyncNode),
) -> (Lab, SyncNode, SyncNode) {
    let lab = Lab::two_nodes(test);
    let (mut a, mut b) = sync::pair(&lab);
    edit(&lab, &mut a, &mut b);
    let mut w = a.writer();
    w.change_schema(LEDGER).unwrap();
    w.write(|tx| {
        tx.execute(
            "INSERT INTO ledger VALUES (1, 1, '+39 0743 000001', 1, 'calling', 0)",
            [],
        )
        .map(drop)
    })
    .unwrap();
    std::fs::write(
        a.shared().join("extensions.conf"),
        "[alert]\nexten => s,1,Answer()\n",
    )
    .unwrap();
    b.start(&lab, "backup");
    a.start(&lab, "master");
    assert_in_step(&a, &b, "at start");
    (lab, a, b)
}

fn assert_in_step(a: &SyncNode, b: &SyncNode, when: &str) {
    assert!(
        sync::wait_in_step(a, b, STEP),
        "{when}: the backup did not catch up\nmaster heads {:?} / backup {:?}\nmaster tree {:?}\nbackup tree {:?}\n--- master log\n{}\n--- backup log\n{}",
        sync::head(&a.db()),
        sync::head(&b.db()),
        replicated_tree(&a.shared()).keys().collect::<Vec<_>>(),
        tree(&b.shared()).keys().collect::<Vec<_>>(),
        tail(&a.log()),
        tail(&b.log()),
    );
    assert!(
        integrity_ok(&b.db()),
        "{when}: integrity_check failed on the backup"
    );
    assert!(
        integrity_ok(&a.db()),
        "{when}: integrity_check failed on the master"
    );
}

#[test]
fn files_and_the_database_replicate_under_concurrent_writes_and_node_local_files_stay() {
    let (_lab, a, b) = started("sync-replicate", |_, a, _| {
        // Node-local material dropped into the shared tree by mistake, before start.
        let s = a.shared();
        std::fs::create_dir_all(s.join("node/tls")).unwrap();
        std::fs::write(s.join("node/pjsip.conf"), "NODE-LOCAL-SECRET trunk").unwrap();
        std::fs::write(s.join("node/tls/node.key"), "NODE-LOCAL-SECRET key").unwrap();
        std::fs::write(s.join("node.toml"), "NODE-LOCAL-SECRET identity").unwrap();
        std::fs::write(s.join("backup.pem"), "NODE-LOCAL-SECRET pem").unwrap();
    });
    let writer = LedgerWriter::start(&a, 100, 1000);
    let s = a.shared();
    std::fs::create_dir_all(s.join("prompts")).unwrap();
    for i in 0..20 {
        std::fs::write(
            s.join(format!("prompts/p{i}.wav")),
            vec![i as u8; 8000 + i * 100],
        )
        .unwrap();
        std::fs::write(s.join("manager.conf"), format!("[admin]\nsecret = v{i}\n")).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::set_permissions(
        s.join("manager.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::rename(s.join("prompts/p0.wav"), s.join("prompts/renamed.wav")).unwrap();
    std::fs::remove_file(s.join("prompts/p1.wav")).unwrap();
    // A file rewritten while it may be being read and sent.
    for i in 0..30 {
        std::fs::write(s.join("templates.txt"), format!("{i}\n").repeat(50_000)).unwrap();
    }
    // More node-local files, now that the watcher runs.
    std::fs::write(s.join("node/pjsip.conf"), "NODE-LOCAL-SECRET trunk v2").unwrap();
    std::fs::create_dir_all(s.join("x/tls")).unwrap();
    std::fs::write(s.join("x/tls/ca.key"), "NODE-LOCAL-SECRET").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let written = writer.stop();
    assert!(written > 20, "the writer wrote {written} rows");
    assert_in_step(&a, &b, "after concurrent writes");

    // Nothing node-local reached the backup: not in its tree, not in its database.
    for (path, _) in tree(&b.shared()) {
        let text = std::fs::read(b.shared().join(&path)).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains("NODE-LOCAL-SECRET"),
            "{path} came from a node-local file"
        );
    }
    let db = std::fs::read(b.db()).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("NODE-LOCAL-SECRET"));
    assert_eq!(
        std::fs::metadata(b.shared().join("manager.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600,
        "mode kept"
    );
    // The dry run lists the shared files and says the node-local ones are never sent.
    let out = std::process::Command::new(system_tests::prereq::workspace_bin("allerta-sync"))
        .args(a.args("master"))
        .arg("dry-run")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("send") && text.contains("manager.conf"),
        "{text}"
    );
    assert!(
        text.contains("skip  node/")
            && text.contains("skip  node.toml")
            && text.contains("backup.pem"),
        "{text}"
    );
    // Status on both sides.
    let (sa, sb) = (a.status(), b.status());
    assert_eq!(sa["role"], "master");
    assert_eq!(sb["checks"]["fresh"]["ok"], true, "{sb}");
    assert_eq!(sa["lag_records"], 0, "{sa}");
    assert!(sa["bytes_sent"].as_u64().unwrap() > 0);
    assert!(sb["last_change"].is_string(), "{sb}");
}

use std::os::unix::fs::PermissionsExt as _;

#[test]
fn a_cut_link_resumes_from_the_last_acknowledged_record() {
    let (lab, a, b) = started("sync-cut", |_, _, _| {});
    let writer = LedgerWriter::start(&a, 100, 1000);
    std::thread::sleep(Duration::from_millis(500));
    lab.set_port("a-data", false);
    // Longer than the sessions' silence limit, so both sides give up and reconnect.
    for i in 0..8 {
        std::fs::write(
            a.shared().join(format!("during-cut-{i}.txt")),
            format!("{i}"),
        )
        .unwrap();
        std::thread::sleep(Duration::from_secs(1));
    }
    let lag = a.status();
    assert!(
        lag["lag_records"].as_u64().unwrap() > 0,
        "records waiting during the cut: {lag}"
    );
    lab.set_port("a-data", true);
    std::thread::sleep(Duration::from_secs(1));
    writer.stop();
    assert_in_step(&a, &b, "after the cut");
    let st = a.status();
    assert!(st["sessions"].as_u64().unwrap() >= 2, "a new session: {st}");
    assert_eq!(
        st["snapshots"], 1,
        "resumed without a snapshot (only the initial one): {st}"
    );
    assert!(
        a.log().contains("plan=Stream"),
        "the session after the cut streamed from the acknowledged point:\n{}",
        tail(&a.log())
    );
}

/// Waits for the backup's temporary file of `name` to appear (a transfer in progress).
fn wait_transfer(b: &SyncNode, name: &str) -> bool {
    let tmp = b.shared().join(format!(".{name}.allerta-sync-tmp"));
    wait_until(Duration::from_secs(20), || tmp.exists()).is_some()
}

fn hash_of(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| sync_agent::snapshot::hash_file_bytes(&b))
}

#[test]
fn killed_sender_and_receiver_recover_with_each_file_old_or_new() {
    let (lab, mut a, mut b) = started("sync-kill", |_, _, _| {});
    let writer = LedgerWriter::start(&a, 100, 1000);
    // A huge file; the sender dies in the middle of it.
    let big = vec![0xabu8; 96 << 20];
    std::fs::write(a.shared().join("big.bin"), &big).unwrap();
    assert!(
        wait_transfer(&b, "big.bin"),
        "no transfer seen:\n{}",
        tail(&b.log())
    );
    lab.signal(a.proc(), Signal::SIGKILL);
    lab.wait_exit(a.proc(), Duration::from_secs(5));
    assert!(
        !b.shared().join("big.bin").exists(),
        "a partial big.bin became visible"
    );
    a.start(&lab, "master");
    assert_in_step(&a, &b, "after the sender was killed");

    // A new version; the receiver dies in the middle of it: the old one stays.
    let old = hash_of(&b.shared().join("big.bin"));
    let mut big2 = big.clone();
    big2[1000] = 1;
    std::fs::write(a.shared().join("big.bin"), &big2).unwrap();
    assert!(wait_transfer(&b, "big.bin"));
    lab.signal(b.proc(), Signal::SIGKILL);
    lab.wait_exit(b.proc(), Duration::from_secs(5));
    let now = hash_of(&b.shared().join("big.bin"));
    assert!(
        now == old || now == hash_of(&a.shared().join("big.bin")),
        "big.bin is neither version"
    );
    assert!(integrity_ok(&b.db()), "the backup's database after SIGKILL");
    b.start(&lab, "backup");
    writer.stop();
    assert_in_step(&a, &b, "after the receiver was killed");
    assert!(
        !tree(&b.shared())
            .keys()
            .any(|p| p.ends_with(".allerta-sync-tmp")),
        "a temporary file was left behind"
    );
}

#[test]
fn corrupted_bytes_end_the_session_and_nothing_damaged_is_applied() {
    let relay_addr = "127.0.0.1:7481";
    let mut relay = None;
    let (lab, a, b) = started("sync-corrupt", |lab, a, _| {
        relay = Some(CorruptingRelay::start(
            &lab.ns("node-a"),
            relay_addr,
            &format!("{}:{}", system_tests::lab::Node::B.data_ip(), sync::PORT),
        ));
        a.peer = relay_addr.into();
    });
    let relay = relay.unwrap();
    let writer = LedgerWriter::start(&a, 100, 1000);
    relay
        .corrupt
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for i in 0..10 {
        std::fs::write(
            a.shared().join(format!("c{i}.conf")),
            vec![b'x'; 20_000 + i],
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    relay
        .corrupt
        .store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(relay.flipped.load(std::sync::atomic::Ordering::Relaxed) > 0);
    writer.stop();
    assert_in_step(&a, &b, "after corruption");
    assert!(
        b.log().contains("session ended"),
        "the backup ended a corrupted session:\n{}",
        tail(&b.log())
    );
    drop(lab);
}

#[test]
fn an_unauthenticated_peer_is_refused_and_logged() {
    let (lab, _a, b) = started("sync-auth", |_, _, _| {});
    let before = sync::ledger(&b.db());
    // A peer with certificates from another CA, from the master's own address (from any
    // other address it would not even get a handshake, see below).
    let rogue_tls = sync_agent::tls::create_pair(
        &lab.dir().join("rogue-tls"),
        &["node-a".into(), "node-b".into()],
    )
    .unwrap();
    let rogue_dir = lab.dir().join("rogue");
    std::fs::create_dir_all(rogue_dir.join("shared")).unwrap();
    std::fs::write(rogue_dir.join("shared/extensions.conf"), "ROGUE").unwrap();
    let rogue = SyncNode {
        node: system_tests::lab::Node::A,
        dir: rogue_dir,
        tls: rogue_tls[0].clone(),
        peer: format!("{}:{}", system_tests::lab::Node::B.data_ip(), sync::PORT),
        scan_interval_secs: 2,
        verify_interval_secs: 1,
        proc: None,
    };
    let args = rogue.args("master");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rp = lab.spawn(
        system_tests::lab::Node::A.role(),
        "sync-rogue",
        &system_tests::prereq::workspace_bin("allerta-sync"),
        &args,
        &[],
    );
    // Plain bytes that are no TLS at all, from the master's address: a handshake, refused.
    let target = format!("{}:{}", system_tests::lab::Node::B.data_ip(), sync::PORT);
    let garbage = |role: &str| {
        let target = target.clone();
        in_netns(&lab.ns(role), move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(&target).expect("connect");
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
            let started = std::time::Instant::now();
            let _ = s.read(&mut [0u8; 64]);
            started.elapsed()
        })
    };
    garbage(system_tests::lab::Node::A.role());
    assert!(
        b.proc().wait_count(
            "refused an unauthenticated peer",
            2,
            Duration::from_secs(15)
        ),
        "backup log:\n{}",
        tail(&b.log())
    );
    // From other addresses: two handshakes at a time. Two silent connections hold them, a
    // third is closed at once, and the master (from its own address) is not held back.
    let idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let target = target.clone();
            in_netns(&lab.ns("client"), move || {
                std::net::TcpStream::connect(&target).expect("connect")
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let closed_after = garbage("client");
    assert!(closed_after < Duration::from_secs(1), "{closed_after:?}");
    assert!(
        b.proc().wait_count(
            "handshakes from its address are full",
            1,
            Duration::from_secs(5)
        ),
        "backup log:\n{}",
        tail(&b.log())
    );
    let started = std::time::Instant::now();
    let from_master = garbage(system_tests::lab::Node::A.role());
    assert!(
        from_master < Duration::from_secs(1) && started.elapsed() < Duration::from_secs(2),
        "the master's address waited behind strangers: {from_master:?}"
    );
    drop(idle);
    assert!(b.status()["refused_peers"].as_u64().unwrap() >= 4);
    assert_eq!(sync::ledger(&b.db()), before);
    assert_ne!(
        std::fs::read_to_string(b.shared().join("extensions.conf")).unwrap(),
        "ROGUE"
    );
    drop(rp);
}

#[test]
fn a_returning_master_saves_its_divergent_writes_then_catches_up() {
    let (lab, mut a, b) = started("sync-diverge", |_, _, _| {});
    let mut wa = a.writer();
    sync::insert_rows(&mut wa, 2..=20, 1, "x", "calling");
    assert_in_step(&a, &b, "before the split");
    // A is lost: its agent dies and its cable goes. B takes over and writes.
    lab.signal(a.proc(), Signal::SIGKILL);
    lab.wait_exit(a.proc(), Duration::from_secs(5));
    lab.set_port("a-data", false);
    b.set_role("master");
    let mut wb = b.writer();
    sync::insert_rows(&mut wb, 100..110, 2, "b", "calling");
    // A comes back alone and believes it is master too (split brain): it writes as well.
    a.start(&lab, "master");
    sync::insert_rows(&mut wa, 200..205, 3, "a-only", "calling");
    std::fs::write(
        a.shared().join("a-only.txt"),
        "written on A during the split",
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // The link heals; A yields and becomes backup: its own writes are saved, then it takes
    // B's state.
    lab.set_port("a-data", true);
    a.set_role("backup");
    assert_in_step(&b, &a, "after the split healed");
    assert!(
        sync::ledger(&a.db()).iter().all(|r| r.0 < 200),
        "A took B's state"
    );
    let out = std::process::Command::new(system_tests::prereq::workspace_bin("allerta-sync"))
        .args(a.args("backup"))
        .arg("divergence")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("INSERT ledger: id=200") && report.contains("phone=\"a-only\""),
        "{report}"
    );
    assert!(report.contains("that node-b does not have"), "{report}");
    assert!(report.contains("a-only.txt"), "{report}");
    // The operator's way to the same report: `allertactl sync divergence`, with a node file
    // that names node-a's places (as on the appliance, where they are the defaults).
    let node_file = lab.write_file(
        "a-node.toml",
        &format!(
            "[node]\nname = \"node-a\"\n\n[[component]]\nname = \"sync\"\ncontrol_socket = {:?}\n\n\
             [sync]\ndb = {:?}\nshared_dir = {:?}\ndivergence_dir = {:?}\n",
            a.control(),
            a.db(),
            a.shared(),
            a.divergence()
        ),
    );
    let out = std::process::Command::new(system_tests::prereq::workspace_bin("allertactl"))
        .arg("--config")
        .arg(&node_file)
        .args(["sync", "divergence"])
        .output()
        .unwrap();
    // (The journal may have grown meanwhile: a full scan saves untracked files too.)
    let via_allertactl = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && via_allertactl.contains("INSERT ledger: id=200")
            && via_allertactl.contains("a-only.txt"),
        "{via_allertactl}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved = wait_until(Duration::from_secs(1), || {
        walk_has(&a.divergence(), "a-only.txt")
    });
    assert!(saved.is_some(), "A's file saved in its divergence journal");
    assert_eq!(a.status()["divergences"], 1);

    // A sends what it wrote alone to B's inbox (issue 15: reconciliation).
    let delivered = wait_until(Duration::from_secs(10), || {
        a.status()["divergent_delivered"] == 1 && b.status()["divergent_received"] == 1
    });
    assert!(
        delivered.is_some(),
        "A's writes not in B's inbox: A {} B {}",
        a.status(),
        b.status()
    );
    // Which of them are campaign facts is the media core's to say (campaign_lab and the
    // fault suite run it); without one here, every record is taken as an operator's change.
    rusqlite::Connection::open(b.db())
        .unwrap()
        .execute("UPDATE _sync_inbox SET state = 'pending'", [])
        .unwrap();
    let sync_b = |args: &[&str]| {
        let out = std::process::Command::new(system_tests::prereq::workspace_bin("allerta-sync"))
            .args(b.args("master"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, listing) = sync_b(&["divergence"]);
    assert!(
        ok && listing.contains("from node-a")
            && listing.contains("INSERT ledger: id=200")
            && listing.contains("WAITING"),
        "{listing}"
    );
    // Refused on the backup: its database is the master's copy.
    let out = std::process::Command::new(system_tests::prereq::workspace_bin("allerta-sync"))
        .args(a.args("backup"))
        .args(["divergence", "apply", "all"])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{out:?}"
    );
    let (ok, applied) = sync_b(&["divergence", "apply", "all", "--who", "lab-operator"]);
    assert!(ok && applied.contains("applied: change"), "{applied}");
    // Back on the master, and replicated to A like any change.
    assert!(sync::ledger(&b.db()).iter().any(|r| r.0 == 204));
    assert_in_step(&b, &a, "after the apply");
    assert!(sync::ledger(&a.db()).iter().any(|r| r.0 == 204));
    let (_, again) = sync_b(&["divergence", "apply", "all"]);
    assert!(again.contains("nothing waits for apply"), "{again}");
}

fn walk_has(dir: &Path, name: &str) -> bool {
    tree(dir).keys().any(|p| p.ends_with(name))
}

/// A tmpfs mounted for one test, unmounted on drop (also when the test panics).
#[test]
fn a_full_disk_on_the_backup_keeps_old_versions_and_recovers_when_space_returns() {
    system_tests::prereq::require_tools("sync-disk-full", &["mount", "umount"]);
    let mut disk = None;
    let (lab, a, b) = started("sync-disk-full", |_, _, b| {
        disk = Some(SmallDisk::mount(&b.dir, "24m"));
        std::fs::create_dir_all(b.shared()).unwrap();
    });
    let disk = disk.unwrap();
    let writer = LedgerWriter::start(&a, 50, 1000);
    std::fs::write(a.shared().join("small.conf"), "before").unwrap();
    assert_in_step(&a, &b, "before the big file");
    // Bigger than the backup's free space.
    std::fs::write(a.shared().join("prompt.wav"), vec![1u8; 40 << 20]).unwrap();
    std::fs::write(a.shared().join("small.conf"), "after").unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || b
            .log()
            .contains("No space left"))
        .is_some(),
        "the backup never hit the full disk:\n{}",
        tail(&b.log())
    );
    // Old versions only, and an intact database, while the disk is full.
    assert_eq!(
        std::fs::read_to_string(b.shared().join("small.conf")).unwrap(),
        "before"
    );
    assert!(!b.shared().join("prompt.wav").exists());
    assert!(integrity_ok(&b.db()));
    // Space comes back: the agent gets through by itself.
    disk.grow("256m");
    writer.stop();
    assert_in_step(&a, &b, "after space returned");
    // Unmounted before the lab removes its directory (and, on a panic, by drop order).
    drop(disk);
    drop(lab);
}

/// With the real supervisors: the sync direction follows the VRRP role, and a master that
/// comes back catches up (its `sync/fresh` check lowers its priority until then) before it
/// preempts, so what the other node wrote meanwhile is not lost.
#[test]
fn the_direction_follows_the_supervisors_role_and_a_returning_master_catches_up_first() {
    use system_tests::lab::Node;
    use system_tests::nodes::{self, Speaker, Vrrp};
    let lab = Lab::two_nodes("sync-roles");
    let (a, b) = sync::pair(&lab);
    let mut w = a.writer();
    w.change_schema(LEDGER).unwrap();
    let vrrp = |node: Node, s: &SyncNode| {
        let mut v = Vrrp::for_node(node, 100);
        // The recommended priorities: 250 - 50 (sync/fresh down) < 240.
        v.priority = if node == Node::A { 250 } else { 240 };
        // Reported checks arrive with the component's first status (polled once a second):
        // a returning node holds back this long at start, so its sync/fresh is heard before
        // it may preempt (keepalived's preempt_delay, which also counts from start).
        v.preempt_delay_ms = 2000;
        v.extra_toml = s.component_toml();
        v
    };
    let sa = nodes::start(&lab, Node::A, Speaker::Allerta, &vrrp(Node::A, &a));
    assert!(
        sa.wait_count("to=Master", 1, Duration::from_secs(10)),
        "A never master:\n{}",
        sa.log_text()
    );
    let sb = nodes::start(&lab, Node::B, Speaker::Allerta, &vrrp(Node::B, &b));
    sync::insert_rows(&mut w, 1..=20, 1, "a", "calling");
    std::fs::write(a.shared().join("extensions.conf"), "[alert]\n").unwrap();
    let in_step = |m: &SyncNode, s: &SyncNode| {
        wait_until(STEP, || {
            sync::head(&m.db()) == sync::head(&s.db())
                && sync::ledger(&m.db()) == sync::ledger(&s.db())
                && replicated_tree(&m.shared()) == tree(&s.shared())
        })
        .is_some()
    };
    assert!(
        in_step(&a, &b),
        "A → B\nA: {}\nB: {}",
        tail(&sa.log_text()),
        tail(&sb.log_text())
    );
    assert_eq!(a.status()["role"], "master");
    assert_eq!(b.status()["role"], "backup");

    // A stops (its supervisor and agent, gracefully); B takes over and writes.
    lab.signal(&sa, Signal::SIGTERM);
    lab.wait_exit(&sa, Duration::from_secs(10));
    assert!(
        sb.wait_count("to=Master", 1, Duration::from_secs(10)),
        "B never master:\n{}",
        sb.log_text()
    );
    assert!(wait_until(Duration::from_secs(5), || b.status()["role"] == "master").is_some());
    let mut wb = b.writer();
    sync::insert_rows(&mut wb, 100..=130, 2, "b", "calling");
    // Enough that catching up takes a while: a bulk import and a large prompt.
    wb.write(|tx| {
        for id in 1000..40_000 {
            tx.execute(
                "INSERT INTO ledger VALUES (?1, 2, 'bulk', 1, 'queued', 0)",
                [id],
            )?;
        }
        Ok(())
    })
    .unwrap();
    std::fs::write(b.shared().join("written-on-b.conf"), "during A's absence").unwrap();
    std::fs::write(b.shared().join("prompt-b.wav"), vec![3u8; 64 << 20]).unwrap();

    // A returns, but the sync port is blocked on A (VRRP still flows): A must stay backup
    // past its preempt delay, since it has not caught up (sync/fresh down: 250 - 50 < 240).
    system_tests::prereq::require_tools("sync-roles", &["nft"]);
    let nft = |args: &[&str]| {
        let out = lab.exec("node-a", "nft", args);
        assert!(
            out.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    nft(&["add", "table", "inet", "synctest"]);
    nft(&[
        "add", "chain", "inet", "synctest", "input", "{", "type", "filter", "hook", "input",
        "priority", "0", ";", "}",
    ]);
    nft(&[
        "add", "rule", "inet", "synctest", "input", "tcp", "dport", "7480", "drop",
    ]);
    let sa2 = nodes::start(&lab, Node::A, Speaker::Allerta, &vrrp(Node::A, &a));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        sa2.count("to=Master"),
        0,
        "A preempted before catching up:\n{}",
        tail(&sa2.log_text())
    );
    assert_eq!(lab.vip_holders(), [Node::B]);
    assert_eq!(a.status()["checks"]["fresh"]["ok"], false, "{}", a.status());
    nft(&["delete", "table", "inet", "synctest"]);
    // Now it catches up, and only then takes the role back.
    assert!(
        sa2.wait_count("to=Master", 1, Duration::from_secs(30)),
        "A never took the role back:\n{}",
        tail(&sa2.log_text())
    );
    let ledger_at_preempt = sync::ledger(&a.db());
    assert!(
        ledger_at_preempt.iter().any(|r| r.0 == 39_999),
        "A became master before it had B's writes ({} rows)",
        ledger_at_preempt.len()
    );
    assert!(
        a.shared().join("written-on-b.conf").is_file(),
        "B's file reached A first"
    );
    assert_eq!(
        std::fs::metadata(a.shared().join("prompt-b.wav"))
            .map(|m| m.len())
            .ok(),
        Some(64 << 20),
        "B's large file reached A first"
    );
    assert!(wait_until(Duration::from_secs(5), || a.status()["role"] == "master").is_some());
    sync::insert_rows(&mut w, 200..=210, 3, "a again", "calling");
    assert!(
        in_step(&a, &b),
        "A → B again\nA: {}\nB: {}",
        tail(&sa2.log_text()),
        tail(&sb.log_text())
    );
    assert!(integrity_ok(&a.db()) && integrity_ok(&b.db()));
    assert_eq!(
        a.status()["divergences"],
        0,
        "nothing diverged: {}",
        a.status()
    );
}

#[test]
fn a_row_written_behind_the_journal_on_the_backup_is_found_saved_and_replaced() {
    let (_lab, a, b) = started("sync-digest", |_, _, _| {});
    sync::insert_rows(&mut a.writer(), 2..=50, 1, "x", "calling");
    assert_in_step(&a, &b, "before");
    // Quiet: the master sends its tables' digest and the backup agrees.
    let head = sync::head(&a.db()).unwrap().seq;
    assert!(
        wait_until(STEP, || b.status()["verified_seq"] == head).is_some(),
        "never verified: {}",
        b.status()
    );
    // Someone writes on the backup's database directly: no record will ever touch the row.
    let conn = rusqlite::Connection::open(b.db()).unwrap();
    conn.execute(
        "INSERT INTO ledger VALUES (9999, 9, 'behind', 1, 'x', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    assert!(
        wait_until(STEP, || b.status()["divergences"] == 1).is_some(),
        "the digest did not catch it: {}\n{}",
        b.status(),
        tail(&b.log())
    );
    assert_in_step(&a, &b, "after the resync");
    assert!(sync::ledger(&b.db()).iter().all(|r| r.0 != 9999));
    // The backup's own version is kept.
    let kept = tree(&b.divergence())
        .keys()
        .find(|p| p.ends_with("database.db"))
        .cloned()
        .expect("a saved database");
    let saved = sync::ledger(&b.divergence().join(kept));
    assert!(saved.iter().any(|r| r.0 == 9999));
}
