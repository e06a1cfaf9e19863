//! Pure: turns a guesser away. A key (a peer's address, an operator) that failed `limit`
//! times within `window` is locked out until `window` has passed since its last failure;
//! a success clears it. This is fail2ban's rule, kept inside the process so it holds without
//! one.
//!
//! The table is bounded: it only grows on failures, and when it is full the key whose last
//! failure is oldest is forgotten (it is the least likely to be in the middle of a guessing
//! run). Someone with more addresses than the table holds can make it forget, but never make
//! it grow.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Failures {
    count: u32,
    first: Instant,
    last: Instant,
}

/// Failures per key.
#[derive(Debug)]
pub struct Lockout<K> {
    limit: u32,
    window: Duration,
    capacity: usize,
    keys: HashMap<K, Failures>,
}

impl<K: Hash + Eq + Clone> Lockout<K> {
    /// At most `limit` failures per `window`; at most `capacity` keys remembered.
    pub fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        Self {
            limit: limit.max(1),
            window,
            capacity: capacity.max(1),
            keys: HashMap::new(),
        }
    }

    /// Whether `key` is locked out now.
    pub fn is_locked(&self, now: Instant, key: &K) -> bool {
        self.keys.get(key).is_some_and(|f| {
            f.count >= self.limit && now.saturating_duration_since(f.last) < self.window
        })
    }

    /// A failed attempt by `key`; true if that locked it out.
    pub fn failed(&mut self, now: Instant, key: &K) -> bool {
        if !self.keys.contains_key(key) && self.keys.len() >= self.capacity {
            self.forget_one(now);
        }
        let window = self.window;
        let f = self.keys.entry(key.clone()).or_insert(Failures {
            count: 0,
            first: now,
            last: now,
        });
        if now.saturating_duration_since(f.first) >= window
            && now.saturating_duration_since(f.last) >= window
        {
            *f = Failures {
                count: 0,
                first: now,
                last: now,
            };
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        f.count >= self.limit
    }

    /// A success by `key`: its failures are forgotten.
    pub fn succeeded(&mut self, key: &K) {
        self.keys.remove(key);
    }

    /// How many keys are remembered (bounded by the capacity).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Makes room: the expired entries if any, else the one whose last failure is oldest.
    fn forget_one(&mut self, now: Instant) {
        let window = self.window;
        self.keys
            .retain(|_, f| now.saturating_duration_since(f.last) < window);
        if self.keys.len() < self.capacity {
            return;
        }
        let oldest = self
            .keys
            .iter()
            .min_by_key(|(_, f)| f.last)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.keys.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn the_limit_th_failure_locks_out_until_a_window_passes_without_failures() {
        let t0 = Instant::now();
        let mut l = Lockout::new(3, MIN, 10);
        assert!(!l.failed(t0, &"a"));
        assert!(!l.failed(t0, &"a"));
        assert!(!l.is_locked(t0, &"a"));
        assert!(l.failed(t0, &"a"));
        assert!(l.is_locked(t0 + MIN - Duration::from_secs(1), &"a"));
        assert!(!l.is_locked(t0, &"b"), "others are not affected");
        assert!(!l.is_locked(t0 + MIN, &"a"));
        assert!(
            !l.failed(t0 + MIN, &"a"),
            "a new window starts from one failure"
        );
    }

    #[test]
    fn a_success_clears_and_the_table_never_outgrows_its_capacity() {
        let t0 = Instant::now();
        let mut l = Lockout::new(2, MIN, 100);
        l.failed(t0, &0u32);
        l.succeeded(&0);
        assert!(!l.failed(t0, &0), "counting starts again");
        for k in 0..10_000u32 {
            l.failed(t0 + Duration::from_millis(k.into()), &k);
            assert!(l.len() <= 100);
        }
        l.failed(t0 + Duration::from_secs(11), &9_999);
        assert!(
            l.is_locked(t0 + Duration::from_secs(11), &9_999),
            "the recent ones stay"
        );
    }
}
