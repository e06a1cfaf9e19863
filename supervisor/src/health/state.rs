//! Pure: tracked conditions and what they do to an instance, with keepalived's semantics.
//!
//! Each tracked check (a component's health, an interface's carrier, a check script, disk
//! space, trunk registration, sync freshness) reports raw results; `rise` consecutive
//! successes make it up, `fall` consecutive failures make it down. A check that is down
//! either lowers the priority by its weight or, with weight 0, puts the node in Fault
//! (keepalived's `track_script` / `track_interface`). A positive weight raises the priority
//! while the check is up, as in keepalived.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// How a check acts on the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    /// Consecutive successes to come up.
    pub rise: u32,
    /// Consecutive failures to go down.
    pub fall: u32,
    /// 0: down means Fault. Negative: subtracted from the priority while down. Positive:
    /// added while up.
    pub weight: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub tracking: Tracking,
    /// Whether the check is up. Checks start up (like keepalived's scripts with `init_fail`
    /// off) so that a node does not flap into Fault while its components start; a
    /// component that never answers still goes down after `fall` probes.
    pub is_up: bool,
    successes: u32,
    failures: u32,
    /// The latest result's reason when it failed ("exited with status 1", "no answer in 200 ms").
    pub last_error: Option<String>,
    /// How many times it went down.
    pub downs: u64,
    #[serde(skip)]
    pub changed_at: Option<Instant>,
}

impl Check {
    pub fn new(name: impl Into<String>, tracking: Tracking) -> Self {
        Self {
            name: name.into(),
            tracking,
            is_up: true,
            successes: 0,
            failures: 0,
            last_error: None,
            downs: 0,
            changed_at: None,
        }
    }

    /// Records one result; true if the check changed state.
    pub fn record(&mut self, now: Instant, result: Result<(), String>) -> bool {
        match result {
            Ok(()) => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                self.last_error = None;
                if !self.is_up && self.successes >= self.tracking.rise.max(1) {
                    self.is_up = true;
                    self.changed_at = Some(now);
                    return true;
                }
            }
            Err(reason) => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                self.last_error = Some(reason);
                if self.is_up && self.failures >= self.tracking.fall.max(1) {
                    self.is_up = false;
                    self.downs += 1;
                    self.changed_at = Some(now);
                    return true;
                }
            }
        }
        false
    }

    /// A failure that counts at once whatever `fall` says: the component process exited.
    pub fn fail_now(&mut self, now: Instant, reason: String) -> bool {
        self.successes = 0;
        self.failures = self.tracking.fall.max(1);
        self.last_error = Some(reason);
        if self.is_up {
            self.is_up = false;
            self.downs += 1;
            self.changed_at = Some(now);
            return true;
        }
        false
    }
}

/// What the checks together ask of the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The checks that put the node in Fault (down, weight 0).
    pub faults: Vec<String>,
    /// Configured priority adjusted by the weights, clamped to 1..=254 (255 stays 255: an
    /// address owner is not adjusted, as in keepalived).
    pub priority: u8,
}

/// Combines the checks into a verdict for an instance of configured priority `base`.
pub fn verdict(base: u8, checks: &[Check]) -> Verdict {
    let faults = checks
        .iter()
        .filter(|c| !c.is_up && c.tracking.weight == 0)
        .map(|c| c.name.clone())
        .collect();
    if base == 255 {
        return Verdict {
            faults,
            priority: 255,
        };
    }
    let delta: i32 = checks
        .iter()
        .map(|c| match (c.is_up, c.tracking.weight) {
            (true, w) if w > 0 => w,
            (false, w) if w < 0 => w,
            _ => 0,
        })
        .sum();
    let priority = (i32::from(base) + delta).clamp(1, 254) as u8;
    Verdict { faults, priority }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(weight: i32) -> Check {
        Check::new(
            "c",
            Tracking {
                rise: 2,
                fall: 3,
                weight,
            },
        )
    }

    #[test]
    fn goes_down_after_fall_failures_and_up_after_rise_successes() {
        let now = Instant::now();
        let mut c = check(0);
        assert!(!c.record(now, Err("x".into())));
        assert!(!c.record(now, Err("x".into())));
        assert!(c.record(now, Err("x".into())), "third failure");
        assert!(!c.is_up);
        assert!(!c.record(now, Ok(())));
        assert!(c.record(now, Ok(())), "second success");
        assert!(c.is_up);
        assert_eq!(c.downs, 1);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let now = Instant::now();
        let mut c = check(0);
        for _ in 0..10 {
            c.record(now, Err("x".into()));
            c.record(now, Err("x".into()));
            c.record(now, Ok(()));
        }
        assert!(c.is_up, "never three failures in a row");
    }

    #[test]
    fn a_process_exit_fails_at_once() {
        let mut c = check(0);
        assert!(c.fail_now(Instant::now(), "exited".into()));
        assert!(!c.is_up);
    }

    #[test]
    fn weight_zero_means_fault_and_weights_move_the_priority() {
        let now = Instant::now();
        let mut fatal = check(0);
        let mut minus = check(-60);
        let plus = check(10);
        assert_eq!(
            verdict(100, &[fatal.clone(), minus.clone(), plus.clone()]).priority,
            110
        );
        minus.fail_now(now, "x".into());
        assert_eq!(
            verdict(100, &[fatal.clone(), minus.clone(), plus.clone()]).priority,
            50
        );
        fatal.fail_now(now, "x".into());
        let v = verdict(100, &[fatal, minus, plus]);
        assert_eq!(v.faults, ["c"]);
        assert_eq!(
            verdict(30, &[check(-60)]).priority,
            30,
            "up checks with negative weight change nothing"
        );
    }

    #[test]
    fn priority_is_clamped_and_an_owner_is_not_adjusted() {
        let now = Instant::now();
        let mut minus = check(-250);
        minus.fail_now(now, "x".into());
        assert_eq!(verdict(100, std::slice::from_ref(&minus)).priority, 1);
        assert_eq!(verdict(250, &[check(50)]).priority, 254);
        assert_eq!(verdict(255, &[minus]).priority, 255);
    }
}
