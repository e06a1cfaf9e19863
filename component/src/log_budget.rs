//! Pure: how many lines a repeated warning may write. Whatever a peer can make happen at line
//! rate (a refused request, a bad packet) is counted in full and logged within a budget:
//! `per_minute` lines, then silence until the minute is over, when the first line that follows
//! says how many were left out. The journal stays readable and the attacker does not pay us
//! in disk writes.

use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

/// One budget per kind of warning.
#[derive(Debug)]
pub struct LogBudget {
    per_minute: u32,
    since: Option<Instant>,
    written: u32,
    left_out: u64,
}

impl LogBudget {
    /// At most `per_minute` lines a minute.
    pub const fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            since: None,
            written: 0,
            left_out: 0,
        }
    }

    /// Whether to write the line for an occurrence now: `Some(n)` with the number of
    /// occurrences left out before it (to put in the line), `None` to stay silent.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        if self
            .since
            .is_none_or(|s| now.saturating_duration_since(s) >= MINUTE)
        {
            self.since = Some(now);
            self.written = 0;
        }
        if self.written >= self.per_minute {
            self.left_out += 1;
            return None;
        }
        self.written += 1;
        Some(std::mem::take(&mut self.left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_the_budget_then_one_line_a_minute_later_with_the_count() {
        let t0 = Instant::now();
        let mut b = LogBudget::new(3);
        let written: Vec<_> = (0..1000).filter_map(|_| b.admit(t0)).collect();
        assert_eq!(written, [0, 0, 0]);
        assert_eq!(b.admit(t0 + MINUTE), Some(997));
        assert_eq!(b.admit(t0 + MINUTE), Some(0));
    }
}
