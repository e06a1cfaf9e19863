//! Pure: how many SIP messages one address may send before the rest are dropped unread,
//! Kamailio's `pike` in substance. A flood from a few addresses would otherwise take the
//! engine's whole turn (parse, answer, log) and the carrier's own messages would wait
//! behind it, or be dropped by the kernel with the flood.
//!
//! Counting is in fixed windows of [`WINDOW`]: an address may send [`PER_WINDOW`]
//! messages in one; beyond, its messages are dropped without a word (an answer is what a
//! reflection attack wants). The trunks' own addresses (`identify`, the registrar and
//! outbound proxy) are not counted at all: the engine asks only for the rest. The table is
//! bounded: once [`ADDRESSES`] addresses are counted in a window, every further address
//! shares one allowance of [`PER_WINDOW`] until the window ends, so a flood from spoofed
//! random sources costs one map lookup per packet and cannot grow memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The counting window (Kamailio's `sampling_time_unit` is 2 s).
pub const WINDOW: Duration = Duration::from_secs(2);
/// Messages one address may send per window: 50 a second, far above what one PBX's alert
/// calls need (a call is a handful of messages) and far below a flood.
pub const PER_WINDOW: u32 = 100;
/// Addresses counted one by one per window.
pub const ADDRESSES: usize = 4096;

/// What [`Pike::admit`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Take the message.
    Yes,
    /// Drop it; `first` the first time this address (or the shared allowance) went over
    /// in this window, for a log line.
    No {
        /// The first message dropped for this source in this window.
        first: bool,
    },
}

/// The per-address counts.
#[derive(Debug)]
pub struct Pike {
    started: Option<Instant>,
    counts: HashMap<IpAddr, u32>,
    shared: u32,
}

impl Default for Pike {
    fn default() -> Self {
        Self {
            started: None,
            counts: HashMap::with_capacity(ADDRESSES),
            shared: 0,
        }
    }
}

impl Pike {
    /// Counts a message from `ip` now.
    pub fn admit(&mut self, now: Instant, ip: IpAddr) -> Admit {
        if self
            .started
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW)
        {
            self.started = Some(now);
            self.counts.clear();
            self.shared = 0;
        }
        let room = self.counts.len() < ADDRESSES;
        let count = if room || self.counts.contains_key(&ip) {
            self.counts.entry(ip).or_insert(0)
        } else {
            &mut self.shared
        };
        *count = count.saturating_add(1);
        if *count <= PER_WINDOW {
            Admit::Yes
        } else {
            Admit::No {
                first: *count == PER_WINDOW + 1,
            }
        }
    }

    /// Addresses counted in this window (bounded by [`ADDRESSES`]).
    pub fn addresses(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn an_address_gets_its_allowance_per_window_and_others_are_not_affected() {
        let t0 = Instant::now();
        let mut p = Pike::default();
        for _ in 0..PER_WINDOW {
            assert_eq!(p.admit(t0, ip(1)), Admit::Yes);
        }
        assert_eq!(p.admit(t0, ip(1)), Admit::No { first: true });
        assert_eq!(p.admit(t0, ip(1)), Admit::No { first: false });
        assert_eq!(p.admit(t0, ip(2)), Admit::Yes);
        assert_eq!(p.admit(t0 + WINDOW, ip(1)), Admit::Yes, "a new window");
    }

    #[test]
    fn spoofed_sources_share_one_allowance_once_the_table_is_full() {
        let t0 = Instant::now();
        let mut p = Pike::default();
        let admitted = (0..(ADDRESSES as u32 + 10_000))
            .filter(|n| p.admit(t0, ip(*n)) == Admit::Yes)
            .count();
        assert_eq!(admitted, ADDRESSES + PER_WINDOW as usize);
        assert_eq!(p.addresses(), ADDRESSES);
    }
}
