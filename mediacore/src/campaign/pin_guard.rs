//! Pure: how many wrong PINs the alert line takes. A PIN is four to eight digits, so it is
//! guessed in thousands of tries unless tries are scarce. Two limits, both counted over
//! [`WINDOW`]:
//! - per calling number: [`PER_CALLER`] wrong PINs, then that number is refused unheard;
//! - for the whole line: [`PER_LINE`] wrong PINs from any numbers (a caller ID is whatever
//!   the caller says it is), then recording by phone is closed to everyone until the window
//!   passes. An attacker can close it for that long; operators can still record through
//!   `allertactl message`, and the line's alert playback is not affected. At these rates a
//!   four-digit PIN takes days, not minutes.

use std::time::{Duration, Instant};

use crate::lockout::Lockout;

/// See the module documentation.
pub const PER_CALLER: u32 = 3;
/// See the module documentation.
pub const PER_LINE: u32 = 20;
/// See the module documentation.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why a PIN is not even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// This calling number gave too many wrong PINs.
    Caller,
    /// The line took too many wrong PINs.
    Line,
}

/// The wrong PINs of the alert line.
#[derive(Debug)]
pub struct PinGuard {
    callers: Lockout<String>,
    line: Lockout<()>,
}

impl Default for PinGuard {
    fn default() -> Self {
        Self {
            callers: Lockout::new(PER_CALLER, WINDOW, 1024),
            line: Lockout::new(PER_LINE, WINDOW, 1),
        }
    }
}

impl PinGuard {
    /// Whether `caller` may try a PIN now.
    pub fn admit(&self, now: Instant, caller: &str) -> Result<(), Closed> {
        if self.line.is_locked(now, &()) {
            return Err(Closed::Line);
        }
        if self.callers.is_locked(now, &caller.to_owned()) {
            return Err(Closed::Caller);
        }
        Ok(())
    }

    /// A wrong PIN from `caller`; what it closed, if anything.
    pub fn wrong(&mut self, now: Instant, caller: &str) -> Option<Closed> {
        let caller_closed = self.callers.failed(now, &caller.to_owned());
        let line_closed = self.line.failed(now, &());
        if line_closed {
            Some(Closed::Line)
        } else {
            caller_closed.then_some(Closed::Caller)
        }
    }

    /// A right PIN from `caller`: its own count starts again (the line's does not: other
    /// callers' wrong PINs still count).
    pub fn right(&mut self, caller: &str) {
        self.callers.succeeded(&caller.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_three_tries_and_the_line_twenty_per_window() {
        let t0 = Instant::now();
        let mut g = PinGuard::default();
        for _ in 0..PER_CALLER - 1 {
            assert_eq!(g.wrong(t0, "0744"), None);
        }
        assert_eq!(g.wrong(t0, "0744"), Some(Closed::Caller));
        assert_eq!(g.admit(t0, "0744"), Err(Closed::Caller));
        assert_eq!(g.admit(t0, "0745"), Ok(()));
        let mut closed = None;
        for i in 0..PER_LINE {
            closed = g.wrong(t0, &format!("spoofed-{i}")).or(closed);
        }
        assert_eq!(closed, Some(Closed::Line));
        assert_eq!(g.admit(t0, "0746"), Err(Closed::Line));
        assert_eq!(g.admit(t0 + WINDOW, "0746"), Ok(()));
        assert_eq!(g.admit(t0 + WINDOW, "0744"), Ok(()));
    }
}
