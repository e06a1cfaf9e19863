//! What first boot writes for the media core and the sync agent loads with their own
//! readers: the trunks in `pjsip.conf` (passwords with `;`, `&`, quotes survive), the
//! `[mediacore]` and `[sync]` tables of `node.toml`, for the fixture environments of both
//! roles; and first boot sets every key the lab's pair sets, or the test says why not.
//! (The supervisor's own test loads `node.toml` with the supervisor's loader.)

use std::path::Path;

use mediacore::conf::pjsip::PjsipConfig;
use mediacore::settings::Settings;
use supervisor::firstboot::env::Environment;
use supervisor::firstboot::nics::Nic;
use supervisor::firstboot::render::{self, NODE_TOML, PJSIP_CONF};
use supervisor::firstboot::validate;

fn fixture_text(fixture: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../supervisor/tests/fixtures/ovf-env")
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
fn first_boot_sets_every_media_core_key_the_lab_sets_or_says_why_not() {
    use system_tests::lab::Node;
    // What the lab's pair runs its media core with: the campaign node's file and the
    // harness's additions.
    let dir = tempfile::tempdir().unwrap();
    let mut voice = system_tests::campaign::campaign_voice(Node::A, 30);
    voice
        .extra
        .push_str(&system_tests::appliance::media_core_extra(Path::new(
            "/run/w",
        )));
    let lab_text = std::fs::read_to_string(voice.write(dir.path())).unwrap();
    let lab: toml::Table = lab_text.parse().unwrap();
    let (_, plan) = rendered("master.xml");
    let ours: toml::Table = file(&plan, NODE_TOML).parse().unwrap();
    // Keys first boot leaves to the media core's default, and why that is right there.
    let defaulted: &[(&str, &str)] = &[
        (
            "manager",
            "the default is the replicated /etc/allerta/shared/manager.conf",
        ),
        (
            "campaign_lines",
            "the default (30) fits the shipped trunk; the lab sizes its own",
        ),
        (
            "rtp_timeout_secs",
            "the default (30 s); the lab's long campaign calls need 60",
        ),
        (
            "supervisor_lease_ms",
            "the default (500 ms); the lab runs the shortest its timing allows",
        ),
    ];
    let media = ours["mediacore"].as_table().expect("[mediacore]");
    for key in lab["mediacore"].as_table().unwrap().keys() {
        assert!(
            media.contains_key(key) || defaulted.iter().any(|(k, _)| k == key),
            "the lab sets [mediacore] {key} but first boot does not, and no reason is given"
        );
    }
    for table in lab.keys() {
        assert!(
            ours.contains_key(table),
            "the lab has a [{table}] table, first boot none"
        );
    }
}
