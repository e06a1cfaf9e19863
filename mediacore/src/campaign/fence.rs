//! Pure: who may start campaign calls, and from when. The fence that keeps two media cores
//! from dialling at once while the two nodes can talk.
//!
//! # The rule
//!
//! Each ping from the supervisor carries two stamps of its VRRP instance (the one the role
//! follows), in microseconds of the host's CLOCK_MONOTONIC ([`Adverts`]):
//! `sent`, when it last sent an advert with a priority above 0, and `heard`, when it last
//! heard one from another router. A media core starts a campaign call at `now` only if
//! 1. its role is master;
//! 2. **its own lease holds**: `now < sent + lease`;
//! 3. **the peer's lease has run out**: `heard` is unknown, or `now ≥ heard + lease + MARGIN`.
//!
//! `lease` is `supervisor_lease_ms`, the same on both nodes (first boot renders the same
//! value on both; a node cannot see the peer's, so a pair configured with different leases
//! is outside this argument).
//!
//! # Why two media cores never dial at once while adverts get through
//!
//! Suppose X starts a call at real time `t` and Y starts one at the same `t`. By (2) at X,
//! X's instance sent an advert at `s` with `t < s + lease`. That advert reached Y's instance,
//! which stamped it at `h ≥ s`: X stamps before the send, Y after the receipt (or later,
//! after a stall), so `h` can only be late. By (3) at Y, `t ≥ heard + lease + MARGIN ≥ h +
//! lease + MARGIN > s + lease > t`. Contradiction. Each node compares only its own stamps
//! with its own clock; across hosts only durations meet, and `MARGIN` covers the two clocks'
//! rate difference (ppm) many times over.
//!
//! It needs nothing else: no bound on how late a frozen supervisor, a stalled VRRP thread or
//! a slow media core is. A frozen supervisor stops renewing (its media core stops at
//! `sent + lease`); the node that takes over waits `lease + MARGIN` from the last advert it
//! heard; an old master that comes back hears the new one's adverts before its own lease
//! holds again and waits the same. A priority-0 advert renews nothing, so it needs no wait of
//! its own. What breaks the premise is adverts that do not get through: a cut or lossy link,
//! where both nodes may dial (split brain, made visible and reconciled elsewhere).
//!
//! # What it costs
//!
//! A healthy master's lease is renewed every advert interval and learnt at the next ping, so
//! `lease` must exceed `advert_interval + probe_interval + probe_timeout` with room to spare
//! ([`min_lease`]; the supervisor's `--check` refuses less). A node taking over from a silent
//! master became master `3 × advert_interval + skew` after the last advert, so it waits
//! `lease + MARGIN − 3 × advert_interval − skew` more (nothing if that is negative); after a
//! priority-0 advert it waits about `lease + MARGIN`.

use std::time::Duration;

use component::contract::Adverts;

/// Covers the rate difference of the two nodes' monotonic clocks over one lease (100 ppm
/// each is 0.2 ms per second) with a wide margin.
pub const MARGIN: Duration = Duration::from_millis(50);

pub use component::contract::min_lease;

/// Why a media core does not start campaign calls now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The supervisor made us backup.
    NotMaster,
    /// Pinged, but our instance has sent no advert yet.
    NoLease,
    /// Our lease ran out at `at_us` (our supervisor stopped renewing it).
    LeaseExpired { at_us: u64 },
    /// Another router advertised; its media core may dial until `until_us`.
    PeerLease { until_us: u64 },
    /// A planned switchover drains this node: its calls in progress finish, none starts,
    /// so the drain ends when they have and the other node takes over the campaign. Not
    /// the fence's rule (the dialer applies it before asking the fence).
    Draining,
}

impl Hold {
    /// Stable words for logs and status.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotMaster => "backup",
            Self::NoLease => "no advert sent yet",
            Self::LeaseExpired { .. } => "lease expired: no advert sent recently",
            Self::PeerLease { .. } => "the peer's lease may still hold",
            Self::Draining => "draining for a switchover: calls in progress finish, none starts",
        }
    }
}

/// The rule, for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub lease: Duration,
}

impl Fence {
    /// When the lease of the last renewal runs out (None: no renewal, or no supervisor).
    pub fn lease_end(&self, adverts: Option<Adverts>) -> Option<u64> {
        let sent = adverts?.sent_us?;
        Some(sent.saturating_add(self.lease.as_micros() as u64))
    }

    /// May we start a campaign call at `now_us`? `adverts` is `None` when no supervisor
    /// ever pinged us with stamps (a media core run on its own, without a pair).
    pub fn check(&self, now_us: u64, master: bool, adverts: Option<Adverts>) -> Result<(), Hold> {
        if !master {
            return Err(Hold::NotMaster);
        }
        let Some(adverts) = adverts else {
            return Ok(());
        };
        let lease_us = self.lease.as_micros() as u64;
        let Some(expires) = self.lease_end(Some(adverts)) else {
            return Err(Hold::NoLease);
        };
        if now_us >= expires {
            return Err(Hold::LeaseExpired { at_us: expires });
        }
        if let Some(heard) = adverts.heard_us {
            let until = heard
                .saturating_add(lease_us)
                .saturating_add(MARGIN.as_micros() as u64);
            if now_us < until {
                return Err(Hold::PeerLease { until_us: until });
            }
        }
        Ok(())
    }
}

/// A change of whether we dispatch, at the instant it took effect (monotonic µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    On { at_us: u64 },
    Off { at_us: u64, hold: Hold },
}

/// Turns the verdicts of successive checks into edges: the media core's own record of
/// when it started and stopped dispatching.
#[derive(Debug, Clone, Copy, Default)]
pub struct Record {
    on_since: Option<u64>,
}

impl Record {
    pub fn is_on(&self) -> bool {
        self.on_since.is_some()
    }

    /// The edge a verdict taken at `now_us` makes, if any. An off edge is dated when the
    /// lease ran out (`lease_end_us`: no call starts after it, since every start checks) if
    /// that came first, else at `now_us`, the first check that saw the hold. A media core
    /// that was frozen (SIGSTOP, a stalled VM) sees its holds late; its lease dates them.
    pub fn observe(
        &mut self,
        now_us: u64,
        verdict: Result<(), Hold>,
        lease_end_us: Option<u64>,
    ) -> Option<Edge> {
        match (self.on_since, verdict) {
            (None, Ok(())) => {
                self.on_since = Some(now_us);
                Some(Edge::On { at_us: now_us })
            }
            (Some(since), Err(hold)) => {
                self.on_since = None;
                let at_us = lease_end_us.map_or(now_us, |end| end.clamp(since, now_us));
                Some(Edge::Off { at_us, hold })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000;

    fn fence(lease_ms: u64) -> Fence {
        Fence {
            lease: Duration::from_millis(lease_ms),
        }
    }

    fn adverts(sent: Option<u64>, heard: Option<u64>) -> Option<Adverts> {
        Some(Adverts {
            sent_us: sent,
            heard_us: heard,
        })
    }

    #[test]
    fn a_master_renewing_its_lease_with_nobody_else_advertising_dispatches() {
        let f = fence(300);
        assert_eq!(
            f.check(1_000 * MS, true, adverts(Some(900 * MS), None)),
            Ok(())
        );
    }

    #[test]
    fn a_backup_or_a_master_with_no_advert_yet_holds_dispatch() {
        let f = fence(300);
        let a = adverts(Some(990 * MS), None);
        assert_eq!(f.check(MS * 1000, false, a), Err(Hold::NotMaster));
        assert_eq!(
            f.check(MS * 1000, true, adverts(None, None)),
            Err(Hold::NoLease)
        );
    }

    #[test]
    fn the_lease_expires_exactly_a_lease_after_the_last_advert_sent() {
        let f = fence(300);
        let a = adverts(Some(1_000 * MS), None);
        assert_eq!(f.check(1_300 * MS - 1, true, a), Ok(()));
        assert_eq!(
            f.check(1_300 * MS, true, a),
            Err(Hold::LeaseExpired { at_us: 1_300 * MS })
        );
    }

    #[test]
    fn a_new_master_waits_a_lease_and_the_margin_after_the_last_advert_it_heard() {
        let f = fence(300);
        // Took over 361 ms after the last advert (3 × 100 ms + skew); sending since.
        let a = adverts(Some(1_361 * MS), Some(1_000 * MS));
        assert_eq!(f.check(1_361 * MS, true, a), Ok(()));
        // Had it taken over sooner, it would wait until 1350 ms.
        let a = adverts(Some(1_340 * MS), Some(1_000 * MS));
        assert_eq!(
            f.check(1_340 * MS, true, a),
            Err(Hold::PeerLease {
                until_us: 1_350 * MS
            })
        );
        assert_eq!(f.check(1_350 * MS, true, a), Ok(()));
    }

    #[test]
    fn a_media_core_without_a_supervisor_dispatches_as_master() {
        assert_eq!(fence(300).check(5, true, None), Ok(()));
    }

    #[test]
    fn the_record_dates_an_end_at_the_lease_expiry_or_when_seen_whichever_came_first() {
        let mut r = Record::default();
        assert_eq!(
            r.observe(100, Ok(()), Some(170)),
            Some(Edge::On { at_us: 100 })
        );
        assert_eq!(r.observe(150, Ok(()), Some(170)), None);
        let hold = Hold::LeaseExpired { at_us: 170 };
        assert_eq!(
            r.observe(200, Err(hold), Some(170)),
            Some(Edge::Off { at_us: 170, hold })
        );
        assert_eq!(r.observe(250, Err(hold), Some(170)), None);
        assert_eq!(
            r.observe(300, Ok(()), Some(900)),
            Some(Edge::On { at_us: 300 })
        );
        assert_eq!(
            r.observe(400, Err(Hold::NotMaster), Some(900)),
            Some(Edge::Off {
                at_us: 400,
                hold: Hold::NotMaster
            })
        );
        // Frozen from 450 to 3000: told "backup" meanwhile, it sees it late, but its lease
        // (renewed last at 500, out at 800) dates the end.
        assert_eq!(
            r.observe(450, Ok(()), Some(800)),
            Some(Edge::On { at_us: 450 })
        );
        assert_eq!(
            r.observe(3_000, Err(Hold::NotMaster), Some(800)),
            Some(Edge::Off {
                at_us: 800,
                hold: Hold::NotMaster
            })
        );
    }

    #[test]
    fn the_minimum_lease_covers_a_renewal_and_its_ping() {
        assert_eq!(
            min_lease(
                Duration::from_millis(100),
                Duration::from_millis(50),
                Duration::from_millis(100)
            ),
            Duration::from_millis(300)
        );
    }

    /// One pair on a working link, simulated in real time (µs), with every phase drawn:
    /// node X is master and renews by advert every `adv`; its supervisor pings every `ping`
    /// and freezes at `freeze` (no adverts, no pings after it). Y hears each advert `delay`
    /// later, takes over `3 × adv + skew` after the last, and sends its own adverts, which X
    /// hears after it wakes at `wake`. Each media core checks at every `check` µs with the
    /// stamps of its last ping. Claim: never both allowed at one instant.
    #[allow(clippy::too_many_arguments)]
    fn simulate(
        adv: u64,
        ping: u64,
        ping_phase: u64,
        check: u64,
        delay: u64,
        freeze: u64,
        frozen_for: u64,
        lease: u64,
    ) -> Result<(), String> {
        let f = Fence {
            lease: Duration::from_micros(lease),
        };
        let skew = adv / 20;
        let wake = freeze + frozen_for;
        // X's adverts: every adv from 0 while not frozen, and again after waking (X still
        // believes it is master).
        let x_sends = |t: u64| -> Option<u64> {
            // The last advert X sent at or before t.
            let last_before = |upto: u64| (upto / adv) * adv;
            if t < freeze {
                Some(last_before(t))
            } else if t < wake {
                Some(last_before(freeze.saturating_sub(1)))
            } else {
                // After waking X sends at once, then every adv.
                Some(wake + last_before(t - wake))
            }
        };
        let x_last_before_freeze = x_sends(freeze.saturating_sub(1)).unwrap();
        let y_master_at = x_last_before_freeze + delay + 3 * adv + skew;
        // Y steps down when it hears X's first advert after waking.
        let y_backup_at = wake + delay;
        let y_is_master = |t: u64| t >= y_master_at && t < y_backup_at;
        // Y's adverts: every adv from y_master_at while master.
        let y_sends = |t: u64| -> Option<u64> {
            let upto = t.min(y_backup_at.saturating_sub(1));
            if upto < y_master_at {
                return None; // never master, or not yet
            }
            Some(y_master_at + ((upto - y_master_at) / adv) * adv)
        };
        // Pings: X's stop while frozen; each carries the stamps as of its send.
        let x_ping_before = |t: u64| -> Option<u64> {
            let last = |upto: u64| (upto.saturating_sub(ping_phase) / ping) * ping + ping_phase;
            if t < ping_phase {
                None
            } else if t < freeze {
                Some(last(t))
            } else if t < wake {
                Some(last(freeze.saturating_sub(1)))
            } else {
                Some(wake + ((t - wake) / ping) * ping)
            }
        };
        let y_ping_before =
            |t: u64| -> Option<u64> { Some((t.saturating_sub(ping_phase) / ping) * ping) };
        let x_allowed = |t: u64| -> bool {
            let Some(p) = x_ping_before(t) else {
                return false;
            };
            let sent = x_sends(p);
            // X hears Y's adverts (priority above 0) once awake; while frozen it hears
            // nothing new, and after waking it stamps the queued ones at once.
            let heard = y_sends(p.saturating_sub(delay)).map(|s| (s + delay).max(wake.min(p)));
            let heard = heard.filter(|h| *h <= p);
            f.check(
                t,
                true,
                Some(Adverts {
                    sent_us: sent,
                    heard_us: heard,
                }),
            )
            .is_ok()
        };
        let y_allowed = |t: u64| -> bool {
            if !y_is_master(t) {
                return false;
            }
            let Some(p) = y_ping_before(t) else {
                return false;
            };
            if p < y_master_at {
                return false; // not yet told it is master
            }
            let sent = y_sends(p);
            let heard = x_sends(p.saturating_sub(delay)).map(|s| s + delay);
            f.check(
                t,
                true,
                Some(Adverts {
                    sent_us: sent,
                    heard_us: heard,
                }),
            )
            .is_ok()
        };
        let end = wake + 3 * lease + 10 * adv;
        let mut t = 18 * adv;
        while t < end {
            if x_allowed(t) && y_allowed(t) {
                return Err(format!("both dispatch at {t} µs"));
            }
            t += check;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn no_phase_of_a_freeze_lets_two_media_cores_dial_at_once(
            adv_ms in prop::sample::select(vec![20u64, 50, 100, 250, 1000]),
            ping_ms in prop::sample::select(vec![20u64, 50, 100]),
            phase_frac in 0.0f64..1.0,
            check_us in 2_000u64..60_000,
            delay_us in 0u64..5_000,
            freeze_frac in 0.0f64..1.0,
            frozen_ms in 0u64..4_000,
            lease_extra_ms in 0u64..1_000,
        ) {
            let (adv, ping) = (adv_ms * MS, ping_ms * MS);
            let lease = min_lease(
                Duration::from_micros(adv),
                Duration::from_micros(ping),
                Duration::from_millis(100),
            ).as_micros() as u64 + lease_extra_ms * MS;
            // Freeze somewhere in the 20th advert period, at any phase of both cycles.
            let freeze = 20 * adv + (freeze_frac * adv as f64) as u64;
            let phase = (phase_frac * ping as f64) as u64;
            simulate(adv, ping, phase, check_us, delay_us, freeze, frozen_ms * MS, lease)
                .map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn without_the_peer_term_the_simulation_finds_two_dispatchers() {
        // The simulation is not blind: a fence with no wait for the peer (the old design)
        // is caught at a lease well above Master_Down_Interval.
        let f = Fence {
            lease: Duration::from_millis(1000),
        };
        // X froze right after an advert at 2000 ms; Y took over at 2305 ms and may dial at
        // once without the peer term, while X's lease runs to 3000 ms.
        let x = f.check(2_400 * MS, true, adverts(Some(2_000 * MS), None));
        let y_without_peer_term = f.check(2_400 * MS, true, adverts(Some(2_305 * MS), None));
        assert!(x.is_ok() && y_without_peer_term.is_ok());
        let y = f.check(
            2_400 * MS,
            true,
            adverts(Some(2_305 * MS), Some(2_000 * MS)),
        );
        assert_eq!(
            y,
            Err(Hold::PeerLease {
                until_us: 3_050 * MS
            })
        );
    }
}
