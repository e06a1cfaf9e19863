//! Configuration takes effect where it lands (`mediacore::reload`), on the whole pair as
//! shipped: the dialplan, AMI users and prompts live in the replicated tree. An operator's
//! changes on the master (each file replaced by rename, as the sync agent and editors do)
//! must be in force on the backup without a restart: a new AMI user logs in there, a removed
//! one is refused and its open session closed, a new extension answers there; a file that
//! does not load leaves the running configuration in force, says why (file:line) in the
//! backup's status, and clears once a good version lands.
//!
//! Needs root and the pair's tools (`appliance::NEEDS`); fails, never skips, without them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use system_tests::ami::Client;
use system_tests::appliance::{Appliance, Setup};
use system_tests::lab::{replace_file as replace, tail, wait_until_every, Node};
use system_tests::voice::{self, LAB_MANAGER};

/// Whether `user` can log in to `node`'s AMI (its own address, from the client).
fn logs_in(pair: &Appliance, node: Node, user: &str, secret: &str) -> bool {
    system_tests::ami::logs_in(
        &pair.lab.ns("client"),
        SocketAddr::from((node.data_ip(), 5038)),
        user,
        secret,
    )
}

/// The media core's status on `node`.
fn media_status(pair: &Appliance, node: Node) -> serde_json::Value {
    system_tests::lab::ask(
        &pair.run_dir(node).join("mediacore.sock"),
        "status",
        Duration::from_secs(2),
    )
    .and_then(|l| serde_json::from_str(l.strip_prefix("status ")?).ok())
    .unwrap_or_default()
}

#[test]
fn changes_on_the_master_are_in_force_on_the_backup_without_a_restart() {
    let pair = Appliance::start("config", Setup::default());
    let (master, backup) = (Node::A, Node::B);
    let logs = || {
        format!(
            "A:\n{}\nB:\n{}",
            tail(&pair.supervisor(master).log_text()),
            tail(&pair.supervisor(backup).log_text())
        )
    };
    let patience = Duration::from_secs(10);
    let poll = Duration::from_millis(50);

    // An application is logged in on the backup as `app` before the change.
    let mut app = Client::connect(
        &pair.lab.ns("client"),
        SocketAddr::from((backup.data_ip(), 5038)),
    );
    app.login("app", "s3cret");

    // manager.conf on the master: `app` removed, `ops2` added.
    let manager = pair.shared(master).join("manager.conf");
    let general = LAB_MANAGER
        .split("[app]")
        .next()
        .expect("a [general] section");
    let ops2 = "[ops2]\nsecret = n3w\nread = system,call\nwrite = system,call,originate\n";
    let changed = Instant::now();
    replace(&manager, &format!("{general}{ops2}"));
    let took = wait_until_every(patience, poll, || logs_in(&pair, backup, "ops2", "n3w"));
    assert!(
        took.is_some(),
        "the new user never logged in on the backup\n{}",
        logs()
    );
    eprintln!(
        "config lab: a new AMI user in force on the backup {:.0} ms after the master's change",
        changed.elapsed().as_secs_f64() * 1000.0
    );
    assert!(
        app.closed_within(Duration::from_secs(3)),
        "the removed user's session on the backup stayed open\n{}",
        logs()
    );
    assert!(
        !logs_in(&pair, backup, "app", "s3cret"),
        "the removed user still logs in on the backup"
    );
    assert!(
        logs_in(&pair, master, "ops2", "n3w") && !logs_in(&pair, master, "app", "s3cret"),
        "the change is not in force on the master itself\n{}",
        logs()
    );

    // A manager.conf that does not load: the users in force stay, the backup says why.
    replace(&manager, &format!("{general}{ops2}colour = blue\n"));
    let alarmed = wait_until_every(patience, poll, || {
        media_status(&pair, backup)["config_alarms"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .any(|e| e.as_str().is_some_and(|e| e.contains("manager.conf:")))
            })
    });
    assert!(
        alarmed.is_some(),
        "no alarm naming manager.conf on the backup: {}\n{}",
        media_status(&pair, backup),
        logs()
    );
    assert!(
        logs_in(&pair, backup, "ops2", "n3w"),
        "a broken manager.conf took the users in force away"
    );
    // The operator's view: `allertactl status` on the backup names the file and the line.
    let operator_sees = || {
        let out = pair.allertactl(backup, &["status"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        wait_until_every(patience, poll, || operator_sees().lines().any(|l| l
            .contains("CONFIGURATION NOT LOADED")
            && l.contains("manager.conf:")))
        .is_some(),
        "allertactl status on the backup does not say manager.conf did not load:\n{}",
        operator_sees()
    );
    let metric = "allerta_config_alarms{node=\"node-b\",component=\"mediacore\"} 1";
    let metrics = || {
        system_tests::probe::http_get(
            &pair.lab.ns("client"),
            SocketAddr::from((backup.data_ip(), 9480)),
            "/metrics",
        )
    };
    assert!(
        wait_until_every(patience, Duration::from_millis(200), || metrics()
            .contains(metric))
        .is_some(),
        "no {metric} in the backup's metrics:\n{}",
        metrics()
    );
    replace(&manager, &format!("{general}{ops2}"));
    assert!(
        wait_until_every(patience, poll, || media_status(&pair, backup)
            .get("config_alarms")
            .is_none())
        .is_some(),
        "the alarm did not clear when a good manager.conf landed: {}",
        media_status(&pair, backup)
    );

    // extensions.conf on the master: a new extension on the inbound line answers on the
    // backup (before, the backup refuses it).
    let (ok, out) = voice::carrier_calls_to(&pair.lab, backup, "17000", "uac_bye.xml", "107", &[]);
    assert!(
        !ok && out.contains("received 'SIP/2.0 4"),
        "extension 107 was not refused (4xx) before it existed:\n{out}"
    );
    let extensions = pair.shared(master).join("extensions.conf");
    let dialplan = std::fs::read_to_string(&extensions).expect("extensions.conf");
    let added = dialplan.replacen(
        "[from-carrier]\n",
        "[from-carrier]\nexten => 107,1,Answer()\n same => n,Wait(5)\n same => n,Hangup()\n",
        1,
    );
    assert_ne!(added, dialplan, "no [from-carrier] context to add to");
    replace(&extensions, &added);
    let mut last = String::new();
    let answered = wait_until_every(patience, Duration::from_millis(500), || {
        let (ok, out) =
            voice::carrier_calls_to(&pair.lab, backup, "17000", "uac_bye.xml", "107", &[]);
        last = out;
        ok
    });
    assert!(
        answered.is_some(),
        "the new extension never answered on the backup; sipp said:\n{}\n{}",
        tail(&last),
        logs()
    );

    // `allertactl reload` (what `systemctl reload` sends as SIGHUP) reaches every component.
    let out = pair.allertactl(backup, &["reload"]);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.contains("mediacore") && said.contains("sync"),
        "allertactl reload: {said}"
    );
}
