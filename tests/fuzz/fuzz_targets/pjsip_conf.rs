//! Arbitrary text as `pjsip.conf`, into `mediacore::conf::pjsip` (the generic Asterisk
//! `.conf` reader, then the typed sections and the trunk resolution).
//!
//! `PjsipConfig::parse_str`; on success every resolved trunk is looked up by name. An
//! error's `Display` (what the operator sees, with `file:line`) is rendered too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediacore::conf::pjsip::PjsipConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match PjsipConfig::parse_str(text, "fuzz") {
        Ok(config) => {
            for trunk in config.trunks() {
                let found = config
                    .trunk(&trunk.name)
                    .expect("a trunk is found by its name");
                assert_eq!(found.name, trunk.name);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
