//! Arbitrary text as a contacts CSV import (`mediacore::campaign::contacts::parse`), which
//! operators upload and AMI applications send line by line: all or nothing, every error
//! naming its line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediacore::campaign::contacts;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match contacts::parse(text, "contacts.csv") {
        Ok(list) => {
            for c in &list {
                assert!(!c.external_id.is_empty(), "a contact without an id");
            }
        }
        Err(errors) => assert!(!errors.is_empty(), "an error without a reason"),
    }
});
