//! Pure: how many calls each running campaign may place right now. Campaigns take the
//! trunk's free lines in priority order (a higher-priority campaign first), each within
//! its own line limit, its calls-per-second rate (a token bucket with 100 ms of burst)
//! and its dialling window. The dialer asks every tick and places what it is allowed.

use std::collections::HashMap;

/// A running campaign as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Campaign id.
    pub id: i64,
    /// Higher first.
    pub priority: i64,
    /// Its line limit.
    pub max_lines: u32,
    /// Its calls per second.
    pub cps: f64,
    /// Its calls in progress.
    pub in_flight: u32,
    /// Its dialling window (minutes after local midnight).
    pub window: Option<(u32, u32)>,
}

/// Whether `minute` (after local midnight) is inside `window` (end excluded; a window
/// whose end is before its start runs past midnight).
pub fn in_window(minute: u32, window: Option<(u32, u32)>) -> bool {
    match window {
        None => true,
        Some((start, end)) if start < end => (start..end).contains(&minute),
        Some((start, end)) => minute >= start || minute < end,
    }
}

/// Per-campaign token buckets (calls per second).
#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<i64, (f64, i64)>,
}

impl Throttle {
    /// Tokens available to `id` at `now_ms`, refilled at `cps` up to a burst of
    /// `max(1, cps / 10)` calls.
    fn available(&mut self, id: i64, cps: f64, now_ms: i64) -> f64 {
        let burst = (cps / 10.0).max(1.0);
        let (tokens, at) = self.buckets.entry(id).or_insert((burst, now_ms));
        let elapsed = (now_ms - *at).max(0) as f64 / 1000.0;
        *tokens = (*tokens + elapsed * cps).min(burst);
        *at = now_ms;
        *tokens
    }

    /// Spends `n` of `id`'s tokens.
    pub fn spend(&mut self, id: i64, n: u32) {
        if let Some((tokens, _)) = self.buckets.get_mut(&id) {
            *tokens -= f64::from(n);
        }
    }

    /// Forgets campaigns that no longer run.
    pub fn retain(&mut self, running: &[i64]) {
        self.buckets.retain(|id, _| running.contains(id));
    }
}

/// How many calls each campaign may start now, in priority order. `trunk_lines` is
/// the trunk's capacity for all campaigns together. Tokens are not spent here: the dialer
/// spends what it actually placed (a campaign may have fewer recipients due).
pub fn allocate(
    campaigns: &[Load],
    trunk_lines: u32,
    minute: u32,
    now_ms: i64,
    throttle: &mut Throttle,
) -> Vec<(i64, u32)> {
    let busy: u32 = campaigns.iter().map(|c| c.in_flight).sum();
    let mut free = trunk_lines.saturating_sub(busy);
    let mut order: Vec<&Load> = campaigns.iter().collect();
    // Stable: equal priorities keep the caller's order (oldest campaign first).
    order.sort_by_key(|c| std::cmp::Reverse(c.priority));
    let mut out = Vec::new();
    for c in order {
        if free == 0 {
            break;
        }
        if !in_window(minute, c.window) {
            continue;
        }
        let lines = c.max_lines.saturating_sub(c.in_flight);
        // The epsilon keeps sums of tenths (0.1 × 10 = 0.999…) from losing a token.
        let tokens = (throttle.available(c.id, c.cps, now_ms) + 1e-9)
            .floor()
            .max(0.0) as u32;
        let n = lines.min(tokens).min(free);
        if n > 0 {
            out.push((c.id, n));
            free -= n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(id: i64, priority: i64, max_lines: u32, in_flight: u32) -> Load {
        Load {
            id,
            priority,
            max_lines,
            cps: 1000.0,
            in_flight,
            window: None,
        }
    }

    #[test]
    fn a_higher_priority_campaign_takes_the_lines_first() {
        let mut t = Throttle::default();
        let c = [load(1, 0, 10, 0), load(2, 5, 8, 0)];
        assert_eq!(allocate(&c, 12, 0, 0, &mut t), [(2, 8), (1, 4)]);
        // With the trunk full, nobody gets a line.
        let c = [load(1, 0, 10, 4), load(2, 5, 8, 8)];
        assert!(allocate(&c, 12, 0, 0, &mut t).is_empty());
    }

    #[test]
    fn lines_never_exceed_the_campaign_limit() {
        let mut t = Throttle::default();
        assert_eq!(allocate(&[load(1, 0, 5, 3)], 100, 0, 0, &mut t), [(1, 2)]);
        assert!(allocate(&[load(1, 0, 5, 5)], 100, 0, 0, &mut t).is_empty());
    }

    #[test]
    fn calls_per_second_are_paced_by_the_bucket() {
        let mut t = Throttle::default();
        let mut c = load(1, 0, 100, 0);
        c.cps = 5.0;
        // A full bucket holds one call (5 cps / 10 < 1).
        assert_eq!(allocate(&[c.clone()], 100, 0, 0, &mut t), [(1, 1)]);
        t.spend(1, 1);
        assert!(
            allocate(&[c.clone()], 100, 0, 100, &mut t).is_empty(),
            "100 ms: half a token"
        );
        assert_eq!(allocate(&[c.clone()], 100, 0, 200, &mut t), [(1, 1)]);
        t.spend(1, 1);
        // Over 10 s, 50 calls, never more.
        let mut placed = 0;
        for ms in (220..10_200).step_by(20) {
            if let [(_, n)] = allocate(&[c.clone()], 100, 0, ms, &mut t)[..] {
                t.spend(1, n);
                placed += n;
            }
        }
        assert!((48..=50).contains(&placed), "{placed}");
    }

    #[test]
    fn outside_its_window_a_campaign_waits() {
        let mut t = Throttle::default();
        let mut c = load(1, 0, 10, 0);
        c.window = Some((8 * 60, 20 * 60));
        assert!(allocate(&[c.clone()], 10, 7 * 60, 0, &mut t).is_empty());
        assert_eq!(allocate(&[c.clone()], 10, 9 * 60, 0, &mut t), [(1, 10)]);
        assert!(in_window(23 * 60, Some((22 * 60, 6 * 60))));
        assert!(in_window(60, Some((22 * 60, 6 * 60))));
        assert!(!in_window(12 * 60, Some((22 * 60, 6 * 60))));
    }
}
