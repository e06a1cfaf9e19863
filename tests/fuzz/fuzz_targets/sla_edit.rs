//! The SLA windows file as the console's settings page changes it (`sla_windows`): before
//! the first NUL byte a window as an administrator types it (kind, from, to, announced,
//! text, a line each), after it the file's text. A file that does not read is never edited;
//! an edit of one that does gives a file that reads, with the new window (or one fewer);
//! a removal past the last window is refused; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sla_windows::edit;
use sla_windows::rules::{check, NewWindow};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (typed, file) = text.split_once('\0').unwrap_or(("", text));
    let mut lines = typed.split('\n');
    let mut next = || lines.next().unwrap_or_default().to_owned();
    let w = NewWindow {
        excluded: next() == "excluded",
        from: next(),
        to: next(),
        announced: next(),
        text: next(),
    };
    let checked = check(&w);
    let Ok(windows) = sla_windows::parse(file) else {
        if let Ok(window) = &checked {
            if !file.trim().is_empty() {
                assert!(edit::add(file, window).is_err(), "a broken file was edited");
            }
        }
        return;
    };
    if let Ok(window) = &checked {
        if let Ok(out) = edit::add(file, window) {
            let after = sla_windows::parse(&out).expect("an added window leaves a file that reads");
            assert_eq!(after.len(), windows.len() + 1);
            assert!(after.iter().any(|a| a.describe() == window.describe()));
        }
    }
    for excluded in [false, true] {
        let n = windows.iter().filter(|x| x.is_excluded() == excluded).count();
        for i in 0..n.min(3) {
            if let Ok(out) = edit::remove(file, excluded, i) {
                let after = sla_windows::parse(&out).expect("a removal leaves a file that reads");
                assert_eq!(after.len(), windows.len() - 1);
            }
        }
        assert!(edit::remove(file, excluded, n).is_err());
    }
});
