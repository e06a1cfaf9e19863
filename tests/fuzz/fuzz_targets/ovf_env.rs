//! Arbitrary bytes as the OVF environment first boot reads (`firstboot`): the
//! XML reader, then validation through the property spec, then rendering of every file.
//! Nothing may panic; an environment that parses is written back (`to_xml`) and must read
//! back the same, and a valid one must render a node.toml the supervisor loads.
#![no_main]

use std::path::Path;

use firstboot::env::Environment;
use firstboot::nics::Nic;
use firstboot::{render, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(env) = Environment::parse(text) else {
        return;
    };
    assert_eq!(Environment::parse(&env.to_xml()).ok().as_ref(), Some(&env));
    let _ = validate::unknown_keys(&env);
    let Ok(settings) = validate::validate(&env) else {
        return;
    };
    let nic = |name: &str, mac: &str| Nic {
        name: name.into(),
        mac: mac.into(),
    };
    let plan = render::plan(
        &settings,
        &nic("ens160", "00:50:56:00:00:01"),
        &nic("ens192", "00:50:56:00:00:02"),
    );
    let node = plan
        .files
        .iter()
        .find(|f| f.path == render::NODE_TOML)
        .expect("node.toml");
    if let Err(e) = supervisor::config::parse(Path::new(render::NODE_TOML), &node.contents) {
        panic!(
            "a valid environment rendered a node.toml the supervisor refuses: {e}\n{}",
            node.contents
        );
    }
});
