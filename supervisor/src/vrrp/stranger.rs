//! Pure: adverts of our VRID from a router that is not our unicast peer.
//!
//! In unicast mode a router sends its adverts only to the addresses it was given, so an
//! advert of our VRID that reaches us from any other address says that the pair is not
//! configured as one: most often one node's `ha.peer_ip` is wrong. Dropping such adverts
//! silently (what the filter alone did) makes the node that received them master as well:
//! two VIP holders and two media cores dialling, since the dispatch fence only knows the
//! adverts it heard. Obeying them instead would keep a wrongly configured master in charge
//! beside a backup that hears nothing from it. So the node that hears a stranger is the
//! misconfigured one, and it stays out of the election (Fault) while the stranger's adverts
//! keep coming, and says so; the other node runs the pair alone, as it does when its peer is
//! down. Once they stop for a Master_Down_Interval, the node rejoins.
//!
//! An attacker on the link gains nothing new from this: VRRP has no authentication, and
//! adverts with the peer's address as their source already hold both nodes back.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// What changed when a stranger was heard or the quiet period ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The first stranger advert after a quiet period: leave the election.
    Began(Ipv4Addr),
    /// Quiet for the whole period: rejoin.
    Ended(Ipv4Addr),
}

/// The stranger last heard, and until when we stay out because of it.
#[derive(Debug, Default)]
pub struct Strangers {
    current: Option<(Ipv4Addr, Instant)>,
}

impl Strangers {
    /// An advert of our VRID from `src`, not a configured peer, at `now`; we stay out until
    /// `quiet` has passed without another.
    pub fn heard(&mut self, now: Instant, src: Ipv4Addr, quiet: Duration) -> Option<Change> {
        let began = self.current.is_none();
        self.current = Some((src, now + quiet));
        began.then_some(Change::Began(src))
    }

    /// When [`Strangers::tick`] has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        self.current.map(|(_, until)| until)
    }

    pub fn tick(&mut self, now: Instant) -> Option<Change> {
        match self.current {
            Some((src, until)) if now >= until => {
                self.current = None;
                Some(Change::Ended(src))
            }
            _ => None,
        }
    }

    /// The stranger that keeps us out now (the driver learns it from each [`Change`]).
    #[cfg(test)]
    fn current(&self) -> Option<Ipv4Addr> {
        self.current.map(|(src, _)| src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_secs(3);

    #[test]
    fn a_stranger_keeps_us_out_until_it_has_been_quiet_for_the_whole_period() {
        let (t0, a) = (Instant::now(), Ipv4Addr::new(10, 0, 0, 11));
        let mut s = Strangers::default();
        assert_eq!(s.heard(t0, a, QUIET), Some(Change::Began(a)));
        assert_eq!(s.heard(t0 + Duration::from_secs(1), a, QUIET), None);
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(4)));
        assert_eq!(s.tick(t0 + Duration::from_millis(3999)), None);
        assert_eq!(s.current(), Some(a));
        assert_eq!(s.tick(t0 + Duration::from_secs(4)), Some(Change::Ended(a)));
        assert_eq!((s.current(), s.deadline()), (None, None));
        assert_eq!(s.tick(t0 + Duration::from_secs(9)), None);
        assert_eq!(
            s.heard(t0 + Duration::from_secs(9), a, QUIET),
            Some(Change::Began(a))
        );
    }

    #[test]
    fn the_last_stranger_heard_is_the_one_named() {
        let t0 = Instant::now();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 11), Ipv4Addr::new(10, 0, 0, 13));
        let mut s = Strangers::default();
        s.heard(t0, a, QUIET);
        assert_eq!(s.heard(t0, b, QUIET), None);
        assert_eq!(s.current(), Some(b));
        assert_eq!(s.tick(t0 + QUIET), Some(Change::Ended(b)));
    }
}
