//! Pure: qualify, i.e. OPTIONS pings to a trunk's contact (what Asterisk's
//! `qualify_frequency` does): round-trip time and reachability.
//!
//! Any final response counts as "reachable" (a 404 or 405 still proves the peer is there);
//! a transaction timeout (Timer F) marks it unreachable.

use std::time::{Duration, Instant};

/// Reachability as shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    /// No answer yet.
    Unknown,
    /// The last ping was answered.
    Reachable,
    /// The last ping timed out.
    Unreachable,
}

/// One trunk's qualify schedule and result.
#[derive(Debug, Clone)]
pub struct Qualify {
    every: Duration,
    next_at: Instant,
    sent_at: Option<Instant>,
    reachability: Reachability,
    rtt: Option<Duration>,
}

impl Qualify {
    /// Pings every `every`, the first one at `now`.
    pub fn new(every: Duration, now: Instant) -> Self {
        Self {
            every,
            next_at: now,
            sent_at: None,
            reachability: Reachability::Unknown,
            rtt: None,
        }
    }

    /// When to send the next OPTIONS (none while one is in flight).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sent_at.is_none().then_some(self.next_at)
    }

    /// Whether an OPTIONS is due now; if so, it counts as sent.
    pub fn due(&mut self, now: Instant) -> bool {
        if self.sent_at.is_none() && now >= self.next_at {
            self.sent_at = Some(now);
            true
        } else {
            false
        }
    }

    /// A final response arrived.
    pub fn on_response(&mut self, now: Instant) {
        if let Some(sent) = self.sent_at.take() {
            self.rtt = Some(now - sent);
            self.reachability = Reachability::Reachable;
            self.next_at = sent + self.every;
        }
    }

    /// The OPTIONS timed out.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.sent_at.take().is_some() {
            self.reachability = Reachability::Unreachable;
            self.rtt = None;
            self.next_at = now + self.every;
        }
    }

    /// The current reachability.
    pub fn reachability(&self) -> Reachability {
        self.reachability
    }

    /// The last round-trip time, when reachable.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answered_ping_measures_rtt_and_schedules_the_next_from_the_send_time() {
        let t0 = Instant::now();
        let mut q = Qualify::new(Duration::from_secs(30), t0);
        assert!(q.due(t0));
        assert_eq!(q.next_deadline(), None);
        q.on_response(t0 + Duration::from_millis(12));
        assert_eq!(q.rtt(), Some(Duration::from_millis(12)));
        assert_eq!(q.reachability(), Reachability::Reachable);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn a_timed_out_ping_marks_the_trunk_unreachable() {
        let t0 = Instant::now();
        let mut q = Qualify::new(Duration::from_secs(30), t0);
        q.due(t0);
        q.on_timeout(t0 + Duration::from_secs(32));
        assert_eq!(q.reachability(), Reachability::Unreachable);
        assert_eq!(q.rtt(), None);
    }
}
