//! What first boot writes for the media core loads with the media core's own readers:
//! the trunks in `pjsip.conf` (passwords with `;`, `&`, quotes survive) and the
//! `[mediacore]` table of `node.toml`, for the fixture environments of both roles.
//! (The supervisor's own test loads `node.toml` with the supervisor's loader.)

use std::path::Path;

use mediacore::conf::pjsip::PjsipConfig;
use mediacore::settings::Settings;
use supervisor::firstboot::env::Environment;
use supervisor::firstboot::nics::Nic;
use supervisor::firstboot::render::{self, NODE_TOML, PJSIP_CONF};
use supervisor::firstboot::validate;

fn rendered(fixture: &str) -> (validate::NodeSettings, render::Plan) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../supervisor/tests/fixtures/ovf-env")
        .join(fixture);
    let env = Environment::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
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
