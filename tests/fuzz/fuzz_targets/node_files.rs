//! Arbitrary text as the node's own files, which first boot renders and an operator may edit:
//! `node.toml` for the supervisor (`supervisor::config::parse`) and for the media core
//! (`mediacore::settings::Settings::parse`), and the availability files `allertactl sla`
//! reads (`availability::windows::parse`: announced work; `availability::ledger::parse`: the
//! probe's ledger, appended line by line and possibly cut short by a power loss), and the web
//! console's `[console]` table (`console::config::Config::parse`). Each is a value or an
//! error naming the file; never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use supervisor::availability::{ledger, windows};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = supervisor::config::parse(Path::new("node.toml"), text);
    let _ = mediacore::settings::Settings::parse(text, Path::new("node.toml"));
    let _ = windows::parse(Path::new("sla.toml"), text);
    let _ = ledger::parse(Path::new("availability.log"), text);
    let _ = console::config::Config::parse(text, Path::new("node.toml"));
});
