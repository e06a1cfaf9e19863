//! Arbitrary text as an Asterisk call file, into `mediacore::callfile::CallFile::parse`.
//!
//! On success the channel must have named a non-empty number and trunk; an error's
//! `Display` (logged for the operator) is rendered too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediacore::callfile::CallFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match CallFile::parse(text) {
        Ok(file) => {
            assert!(
                !file.number.is_empty() && !file.trunk.is_empty(),
                "{file:?}"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
