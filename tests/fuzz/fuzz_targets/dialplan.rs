//! Arbitrary text as `extensions.conf`, into `mediacore::dialplan` (load, patterns,
//! expressions, execution).
//!
//! The input is split at its first NUL byte: the text before it (if UTF-8) is the
//! dialplan, the bytes after it script the call.
//!
//! - `Dialplan::parse_str`; on success an `Execution` runs in the first context, at `s`
//!   (or, without one, at its first literal extension), with `step(Outcome::Start)`,
//!   then one outcome per script byte (`Done`, `Timeout`, `PlaybackFailed`,
//!   `DialStatus`, `Digits`/`Interrupted`/`ReadTimeout` with up to 4 digits, `HungUp`), then
//!   `step(Outcome::HungUp)` until `is_finished()`. No step may panic, and the call must
//!   finish within 10 000 `HungUp` steps (the `h` extension skips media, so only a
//!   `Verbose` loop in `h` could keep it going). Once finished, `step` keeps returning
//!   `Hangup`;
//! - the text also goes whole through `expr::expand` (no variables defined),
//!   `expr::evaluate` and `expr::check`.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mediacore::dialplan::{expr, Action, DialStatus, Dialplan, Execution, Outcome};

/// After the script, `HungUp` steps allowed before the call must be over.
const MAX_HANGUP_STEPS: usize = 10_000;

const STATUSES: [DialStatus; 6] = [
    DialStatus::Answer,
    DialStatus::Busy,
    DialStatus::NoAnswer,
    DialStatus::Cancel,
    DialStatus::Congestion,
    DialStatus::ChanUnavail,
];

/// Up to `n` digits from the bytes after `at`, consuming them.
fn digits(script: &[u8], at: &mut usize, n: usize) -> String {
    const KEYS: &[u8; 12] = b"0123456789*#";
    let mut s = String::new();
    for _ in 0..n {
        let Some(&b) = script.get(*at) else { break };
        *at += 1;
        s.push(char::from(KEYS[usize::from(b) % KEYS.len()]));
    }
    s
}

fn run(plan: Dialplan, script: &[u8]) {
    let Some(first) = plan.contexts().first() else {
        return;
    };
    let context = first.name.clone();
    // `s`, as for a call that arrives without a number; else the first literal name, as
    // for an inbound call to that number.
    let exten = match first.extensions.iter().find_map(|e| e.pattern.literal()) {
        Some(name) if !plan.exists(&context, "s") => name.to_owned(),
        _ => "s".to_owned(),
    };
    let plan = Arc::new(plan);
    let vars = [("CHANNEL".to_owned(), "PJSIP/fuzz-00000001".to_owned())];
    let mut call = Execution::new(Arc::clone(&plan), &context, &exten, vars);
    let mut action = call.step(Outcome::Start);
    let mut at = 0;
    while let Some(&b) = script.get(at) {
        at += 1;
        if call.is_finished() {
            break;
        }
        if let Action::Background { .. } | Action::WaitExten { .. } = action {
            let _ = call.can_match_more(&digits(script, &mut at.clone(), 2));
        }
        let outcome = match b % 8 {
            0 => Outcome::Done,
            1 => Outcome::Timeout,
            2 => Outcome::PlaybackFailed,
            3 => Outcome::DialStatus(STATUSES[usize::from(b / 8) % STATUSES.len()]),
            4 => Outcome::Digits(digits(script, &mut at, usize::from(b / 8) % 5)),
            5 => Outcome::Interrupted {
                digits: digits(script, &mut at, usize::from(b / 8) % 5),
            },
            6 => Outcome::HungUp,
            _ => Outcome::ReadTimeout(digits(script, &mut at, usize::from(b / 8) % 5)),
        };
        action = call.step(outcome);
        let _ = (
            call.context(),
            call.exten(),
            call.priority(),
            call.var("EXTEN"),
        );
    }
    let mut steps = 0;
    while !call.is_finished() {
        assert!(
            steps < MAX_HANGUP_STEPS,
            "not finished after {MAX_HANGUP_STEPS} HungUp steps: at {},{},{}, last action {action:?}",
            call.context(),
            call.exten(),
            call.priority()
        );
        action = call.step(Outcome::HungUp);
        steps += 1;
    }
    let _ = call.hangup_reason();
    assert!(
        matches!(call.step(Outcome::Done), Action::Hangup { .. }),
        "a finished call did something"
    );
}

fuzz_target!(|data: &[u8]| {
    let (text, script) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let _ = expr::expand(text, &|_| None);
    let _ = expr::evaluate(text);
    let _ = expr::check(text);
    if let Ok(plan) = Dialplan::parse_str(text, "fuzz") {
        for context in plan.contexts() {
            let _ = plan.exists(&context.name, "s");
            let _ = plan.can_match_more(&context.name, "1");
        }
        run(plan, script);
    }
});
