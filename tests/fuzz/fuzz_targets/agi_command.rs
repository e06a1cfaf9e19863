//! Arbitrary bytes as what a FastAGI server (or a local AGI script) writes to us, into
//! `mediacore::agi::protocol`: each line through `parse` (a command or a refusal, whose
//! reply must be well formed), and the first line also through `Target::parse` (an `AGI()`
//! argument from the dialplan). Nothing may panic; a refusal's reply ends in a line end and
//! a 510 or 520 code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediacore::agi::protocol::{self, Target};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Target::parse(text.lines().next().unwrap_or(""));
    for line in text.lines() {
        if let Err(refusal) = protocol::parse(line) {
            let reply = refusal.reply();
            assert!(reply.ends_with('\n'));
            assert!(reply.starts_with("510 ") || reply.starts_with("520"), "{reply}");
        }
        let _ = protocol::result(line, Some(line), Some(1));
    }
});
