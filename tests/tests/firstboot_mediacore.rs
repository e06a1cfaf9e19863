//! What first boot writes for the media core and the sync agent loads with their own
//! readers: the trunks in `pjsip.conf` (passwords with `;`, `&`, quotes survive), the
//! `[mediacore]` and `[sync]` tables of `node.toml`, for the fixture environments of both
//! roles; the supervisor and the web console load first boot's `node.toml` with their own
//! loaders; `allertactl status` says what first boot refused; and the pair's harness runs
//! first boot's node file, changed only where it says.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use firstboot::env::Environment;
use firstboot::nics::Nic;
use firstboot::refusal;
use firstboot::render::{self, NODE_TOML, PJSIP_CONF};
use firstboot::validate;
use mediacore::conf::pjsip::PjsipConfig;
use mediacore::settings::Settings;
use system_tests::prereq;

fn fixture_text(fixture: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firstboot/tests/fixtures/ovf-env")
        .join(fixture);
    std::fs::read_to_string(&path).unwrap()
}

fn rendered(fixture: &str) -> (validate::NodeSettings, render::Plan) {
    rendered_from(fixture, &fixture_text(fixture))
}

/// `xml` with the value of property `key` replaced (as the wizard would carry it: one line).
fn with_property(xml: &str, key: &str, value: &str) -> String {
    let start = format!("oe:key=\"{key}\" oe:value=\"");
    let at = xml.find(&start).unwrap_or_else(|| panic!("no {key}")) + start.len();
    let end = at + xml[at..].find('"').unwrap();
    format!(
        "{}{}{}",
        &xml[..at],
        value.trim().replace('\n', " "),
        &xml[end..]
    )
}

fn rendered_from(fixture: &str, xml: &str) -> (validate::NodeSettings, render::Plan) {
    let env = Environment::parse(xml).unwrap();
    let settings = validate::validate(&env).unwrap_or_else(|e| panic!("{fixture}: {e:?}"));
    let nic = |name: &str, mac: &str| Nic {
        name: name.into(),
        mac: mac.into(),
    };
    let plan = render::plan(
        &settings,
        &nic("ens160", "00:50:56:8a:00:01"),
        &nic("ens192", "00:50:56:8a:00:02"),
    );
    (settings, plan)
}

fn file<'a>(plan: &'a render::Plan, path: &str) -> &'a str {
    &plan.files.iter().find(|f| f.path == path).unwrap().contents
}

/// `allerta-firstboot` on a fixture, writing under `root` (never `/`): its exit code.
fn run_firstboot(root: &Path, fixture: &str) -> i32 {
    let env_file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firstboot/tests/fixtures/ovf-env")
        .join(fixture);
    let out = Command::new(prereq::workspace_bin("allerta-firstboot"))
        .arg("--root")
        .arg(root)
        .arg("--env-file")
        .arg(env_file)
        .args(["--no-guestinfo", "--no-cdrom"])
        .args([
            "--nics",
            "ens160=00:50:56:8a:00:01,ens192=00:50:56:8a:00:02",
        ])
        .output()
        .unwrap();
    out.status.code().unwrap_or(-1)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("allerta-fbm-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_supervisor_loads_the_node_file_first_boot_writes() {
    for fixture in ["master.xml", "backup.xml"] {
        let (settings, plan) = rendered(fixture);
        let text = file(&plan, NODE_TOML);
        let config = supervisor::config::parse(Path::new(NODE_TOML), text)
            .unwrap_or_else(|e| panic!("{fixture}: {e}\n{text}"));
        let instance = &config.instances[0];
        assert_eq!(instance.interface, "ens160");
        assert_eq!(instance.priority, settings.priority);
        assert_eq!(instance.vips[0].net.addr(), settings.vip);
        assert_eq!(
            instance.vips[0].net.prefix_len(),
            settings.data.prefix_len()
        );
        assert_eq!(instance.unicast_peers, [settings.peer]);
        assert_eq!(config.node_name, settings.hostname);
        let names: Vec<_> = config
            .components
            .iter()
            .map(|c| c.component.name.as_str())
            .collect();
        assert_eq!(names, ["mediacore", "sync", "web"]);
    }
}

#[test]
fn the_web_console_loads_the_node_file_first_boot_writes() {
    for fixture in ["master.xml", "backup.xml"] {
        let (settings, plan) = rendered(fixture);
        let text = file(&plan, NODE_TOML);
        let c = console::config::Config::parse(text, Path::new(NODE_TOML))
            .unwrap_or_else(|e| panic!("{fixture}: {e}\n{text}"));
        assert_eq!(c.node, settings.hostname);
        assert_eq!(c.listen, "0.0.0.0:443".parse().unwrap());
        assert_eq!(c.vip, Some(std::net::IpAddr::V4(settings.vip)));
        assert_eq!(
            c.local_status.map(|a| a.ip()),
            Some(std::net::IpAddr::V4(settings.data.addr()))
        );
        assert_eq!(
            c.peer_status.map(|a| a.ip()),
            Some(std::net::IpAddr::V4(settings.peer))
        );
        assert_eq!(c.database, Path::new("/var/lib/allerta/allerta.db"));
        assert_eq!(c.prompts_dir, Path::new("/etc/allerta/shared/prompts"));
        assert!(c.sync_wake_socket.is_some(), "writes wake the sync agent");
        assert_eq!(c.tls, None, "the pair's own certificate, from the database");
        let supervisor = supervisor::config::parse(Path::new(NODE_TOML), text).unwrap();
        assert_eq!(
            c.sla_windows, supervisor.availability.windows,
            "the settings page changes the file the supervisor reads"
        );
    }
}

#[test]
fn the_media_core_loads_the_trunks_first_boot_writes() {
    for fixture in ["master.xml", "backup.xml"] {
        let (settings, plan) = rendered(fixture);
        let pjsip = PjsipConfig::parse_str(file(&plan, PJSIP_CONF), PJSIP_CONF)
            .unwrap_or_else(|e| panic!("{fixture}: {e}\n{}", file(&plan, PJSIP_CONF)));
        assert_eq!(pjsip.transports[0].bind.ip(), settings.voice.addr());
        for (name, trunk) in [
            ("trunk-in", &settings.trunk_in),
            ("trunk-out", &settings.trunk_out),
        ] {
            let t = pjsip
                .trunk(name)
                .unwrap_or_else(|| panic!("{fixture}: no {name}"));
            let auth = t.outbound_auth.as_ref().unwrap();
            assert_eq!(
                (auth.username.as_str(), auth.password.as_str()),
                (trunk.user.as_str(), trunk.password.as_str())
            );
            let registration = t.registration.as_ref().unwrap();
            assert!(
                registration.server_uri.ends_with(&trunk.registrar),
                "{registration:?}"
            );
        }
        let media = Settings::parse(file(&plan, NODE_TOML), Path::new(NODE_TOML))
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        assert_eq!(media.pjsip, Path::new(PJSIP_CONF));
    }
}

#[test]
fn awkward_passwords_reach_the_media_core_intact() {
    let (_, plan) = rendered("master.xml");
    let pjsip = PjsipConfig::parse_str(file(&plan, PJSIP_CONF), PJSIP_CONF).unwrap();
    let password = |name: &str| {
        pjsip
            .trunk(name)
            .unwrap()
            .outbound_auth
            .clone()
            .unwrap()
            .password
    };
    assert_eq!(password("trunk-in"), "in&pass;word");
    assert_eq!(password("trunk-out"), "p&w\"<x>");
}

#[test]
fn the_sync_agent_loads_its_table_and_its_tls_from_the_secret_or_the_material() {
    // The backup's fixture carries TLS material: real material here, made as an
    // administrator would (`allerta-sync tls-pair`) and pasted into the wizard.
    let material = tempfile::tempdir().unwrap();
    let dirs =
        sync_agent::tls::create_pair(material.path(), &["node-a".into(), "node-b".into()]).unwrap();
    let read = |name: &str| std::fs::read_to_string(dirs[1].join(name)).unwrap();
    let mut backup = fixture_text("backup.xml");
    for (key, name) in [
        ("sync.tls_cert", "node.pem"),
        ("sync.tls_key", "node.key"),
        ("sync.peer_ca", "ca.pem"),
    ] {
        backup = with_property(&backup, key, &read(name));
    }
    for (fixture, xml) in [
        ("master.xml", fixture_text("master.xml")),
        ("backup.xml", backup),
    ] {
        let (settings, plan) = rendered_from(fixture, &xml);
        let dir = tempfile::tempdir().unwrap();
        let node_toml = dir.path().join("node.toml");
        std::fs::write(&node_toml, file(&plan, NODE_TOML)).unwrap();
        let (node, raw) = sync_agent::config::load(&node_toml)
            .unwrap_or_else(|e| panic!("{fixture}: {e}"))
            .unwrap_or_else(|| panic!("{fixture}: no [sync] table"));
        let mut cfg = sync_agent::config::Config::from_raw(node, raw)
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        assert_eq!(cfg.node, settings.hostname);
        assert_eq!(cfg.peer, Some((settings.peer, 7480).into()));
        assert_eq!(cfg.listen, Some((settings.data.addr(), 7480).into()));
        // As on the node, with the files where first boot puts them (here: copies).
        let copy = |name: &str| {
            let f = plan
                .files
                .iter()
                .find(|f| Path::new(f.path).file_name() == Some(name.as_ref()))
                .unwrap_or_else(|| panic!("{fixture}: first boot wrote no {name}"));
            std::fs::write(dir.path().join(name), &f.contents).unwrap();
            f.mode
        };
        match settings.sync {
            validate::SyncAuth::Pairing { .. } => {
                assert_eq!(
                    cfg.pairing_secret_file.as_deref(),
                    Some(Path::new(render::PAIRING_SECRET))
                );
                assert_eq!(copy("pairing.secret"), 0o600);
                cfg.pairing_secret_file = Some(dir.path().join("pairing.secret"));
            }
            validate::SyncAuth::Tls { .. } => {
                assert_eq!(cfg.pairing_secret_file, None);
                assert_eq!(copy("node.key"), 0o600);
                copy("node.pem");
                copy("ca.pem");
                cfg.tls_dir = dir.path().to_owned();
            }
        }
        sync_agent::tls::for_node(&cfg).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    }
}

#[test]
fn the_pairs_harness_runs_first_boots_node_file_with_only_its_stated_differences() {
    use system_tests::lab::Node;
    use system_tests::shipped_node::{self, Places};
    // The harness's own transformation (`shipped_node::node_toml`): it fails itself when
    // first boot writes a path the lab has no place for, stops writing a key the lab
    // replaces, or starts writing one the lab adds.
    let (_, plan) = rendered("master.xml");
    let dir = tempfile::tempdir().unwrap();
    let sync = system_tests::sync::SyncNode {
        node: Node::A,
        dir: dir.path().join("data"),
        tls: dir.path().join("tls"),
        peer: String::new(),
        scan_interval_secs: 2,
        verify_interval_secs: 1,
        proc: None,
    };
    let places = Places {
        run: dir.path().join("run"),
        sync: &sync,
        bin: system_tests::prereq::workspace_bin("allerta-supervisor")
            .parent()
            .expect("a folder")
            .to_owned(),
    };
    let differences = shipped_node::harness_differences(100, 2000, 30);
    let text = shipped_node::node_toml(file(&plan, NODE_TOML), &places, &differences);
    // No path of the appliance is left: every one is inside the lab node's directories
    // (or the workspace's binaries).
    let doc: toml::Table = text.parse().unwrap();
    let bins = system_tests::prereq::workspace_bin("allerta-sync");
    let bins = bins.parent().unwrap();
    fn strings(v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::String(s) => out.push(s.clone()),
            toml::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            toml::Value::Table(t) => t.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    doc.values().for_each(|v| strings(v, &mut all));
    for s in all.iter().filter(|s| s.starts_with('/')) {
        assert!(
            Path::new(s).starts_with(dir.path()) || Path::new(s).starts_with(bins),
            "{s} is not a lab place:\n{text}"
        );
    }
    // Each program loads it, and sees the lab's differences.
    let path = dir.path().join("node.toml");
    std::fs::write(&path, &text).unwrap();
    let supervisor =
        supervisor::config::parse(&path, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        supervisor.instances[0].preempt_delay,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(supervisor.state_dir, sync.dir.join("supervisor"));
    assert_eq!(
        supervisor.availability.windows,
        sync.shared().join("sla.toml")
    );
    let media = Settings::parse(&text, &path).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(media.campaign_trunk.as_deref(), Some("carrier-out"));
    assert_eq!(
        media.supervisor_lease,
        std::time::Duration::from_millis(300)
    );
    assert_eq!(media.manager, sync.shared().join("manager.conf"));
    assert_eq!(media.database, sync.db());
    assert_eq!(
        media.sync_wake_socket.as_deref(),
        Some(sync.wake().as_path())
    );
    let (node, raw) = sync_agent::config::load(&path)
        .unwrap()
        .expect("a [sync] table");
    let cfg = sync_agent::config::Config::from_raw(node, raw).unwrap();
    assert_eq!(cfg.shared_dir, sync.shared());
    assert_eq!(cfg.wake_socket, sync.wake());
    assert_eq!(cfg.scan_interval, std::time::Duration::from_secs(2));
    assert_eq!(
        cfg.pairing_secret_file,
        Some(places.run.join("node/tls/pairing.secret"))
    );
}

#[test]
fn allertactl_status_says_first_boot_refused_until_a_boot_uses_the_environment() {
    let root = scratch("refused-then-fixed");
    let refused = root.join(refusal::FILE.trim_start_matches('/'));
    let status = || {
        // No supervisor here (as on a node first boot never configured): exit 3, but the
        // refusal is said first.
        let out = Command::new(prereq::workspace_bin("allertactl"))
            .arg("--socket")
            .arg(root.join("absent.sock"))
            .arg("--config")
            .arg(root.join("absent.toml"))
            .arg("--firstboot-refused")
            .arg(&refused)
            .arg("status")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(run_firstboot(&root, "bad-addresses.xml"), 1);
    let (code, text) = status();
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("FIRST BOOT REFUSED")
            && text.contains("  ha.vip: 192.0.3.10 is not in the data network 192.0.2.0/24"),
        "{text}"
    );
    // The administrator fixes the vApp properties and powers the node on again.
    assert_eq!(run_firstboot(&root, "master.xml"), 0);
    assert!(!refused.exists());
    let (code, text) = status();
    assert_eq!(code, Some(3), "{text}");
    assert!(!text.contains("REFUSED"), "{text}");
    fs::remove_dir_all(root).unwrap();
}
