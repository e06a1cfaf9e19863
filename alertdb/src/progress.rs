//! Pure: a campaign's progress and an honest ETA, from what it has done so far: the
//! confirmation rate per attempt, the mean attempt length (ring + message + confirmation)
//! and the lines and pace it may use.

use crate::store::{Campaign, Counts};

/// Where a campaign stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Recipients in all.
    pub total: u64,
    /// Recipients finished (confirmed, out of attempts, or stopped).
    pub finished: u64,
    /// Percent finished.
    pub percent: f64,
    /// Seconds until every recipient is finished, if it can be estimated.
    pub eta_secs: Option<f64>,
}

/// Estimates progress. Each pending recipient needs, on average,
/// `(1 - (1 - p)^r) / p` more attempts (geometric, at most `r` = the attempts allowed),
/// `p` being the confirmation rate per attempt so far; attempts run `lines` at a time at
/// most `cps` per second, and a recipient who needs a retry waits `retry_secs` first.
pub fn estimate(c: &Campaign, n: &Counts) -> Progress {
    let total = n.pending + n.calling + n.confirmed + n.gave_up + n.stopped;
    let finished = n.confirmed + n.gave_up + n.stopped;
    let percent = if total == 0 {
        100.0
    } else {
        finished as f64 * 100.0 / total as f64
    };
    let remaining = n.pending + n.calling;
    let eta_secs = if remaining == 0 {
        Some(0.0)
    } else if n.attempts_done == 0 {
        None
    } else {
        let p = (n.confirmed as f64 / n.attempts_done as f64).clamp(0.05, 1.0);
        let r = f64::from(c.max_attempts);
        let per_recipient = (1.0 - (1.0 - p).powf(r)) / p;
        let attempts = remaining as f64 * per_recipient;
        let mean = n.mean_attempt_ms / 1000.0;
        let by_lines = attempts * mean / f64::from(c.max_lines.max(1));
        let by_pace = attempts / c.cps.max(0.001);
        let retry_wait = if per_recipient > 1.0 {
            f64::from(c.retry_secs)
        } else {
            0.0
        };
        Some(by_lines.max(by_pace) + retry_wait + mean)
    };
    Progress {
        total,
        finished,
        percent,
        eta_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::State;

    fn campaign() -> Campaign {
        Campaign {
            id: 1,
            name: "c".into(),
            message_id: 1,
            priority: 0,
            max_lines: 10,
            cps: 100.0,
            ring_secs: 30,
            max_attempts: 3,
            retry_secs: 60,
            window: None,
            state: State::Running,
        }
    }

    #[test]
    fn everyone_confirming_at_once_means_one_round_of_calls() {
        let n = Counts {
            pending: 100,
            confirmed: 100,
            attempts_done: 100,
            answered: 100,
            mean_attempt_ms: 20_000.0,
            ..Counts::default()
        };
        let p = estimate(&campaign(), &n);
        assert_eq!(p.percent, 50.0);
        // 100 attempts of 20 s on 10 lines, plus the last one's length.
        assert_eq!(p.eta_secs, Some(200.0 + 20.0));
    }

    #[test]
    fn no_history_no_eta_and_done_is_zero() {
        let n = Counts {
            pending: 10,
            ..Counts::default()
        };
        assert_eq!(estimate(&campaign(), &n).eta_secs, None);
        let n = Counts {
            confirmed: 10,
            attempts_done: 12,
            ..Counts::default()
        };
        let p = estimate(&campaign(), &n);
        assert_eq!((p.percent, p.eta_secs), (100.0, Some(0.0)));
    }

    #[test]
    fn a_low_confirmation_rate_adds_retries() {
        let n = Counts {
            pending: 100,
            confirmed: 10,
            gave_up: 0,
            attempts_done: 100,
            mean_attempt_ms: 10_000.0,
            ..Counts::default()
        };
        let eta = estimate(&campaign(), &n).eta_secs.unwrap();
        // p = 0.1: 2.71 attempts each, 271 attempts × 10 s / 10 lines + 60 s retry wait.
        assert!((330.0..345.0).contains(&eta), "{eta}");
    }
}
