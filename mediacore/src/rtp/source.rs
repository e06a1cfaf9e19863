//! Pure: which packets arriving on a call's RTP port are the far end's.
//!
//! The port is open to anyone who can reach it, and a packet of RFC 4733 "1" from a third
//! party would mark a citizen confirmed. The rule, Asterisk's `strictrtp` in substance:
//!
//! 1. Before any packet is accepted, a source qualifies if its IP is the one the far end's
//!    SDP gave (any port: NAT may remap it), or, for a carrier behind NAT whose SDP carries a
//!    private address, once it has sent [`PROBATION`] packets in sequence (one SSRC,
//!    consecutive sequence numbers), which a blind attacker cannot do before the carrier.
//! 2. The first source that qualifies is latched (IP and port), and our audio goes there
//!    (symmetric RTP).
//! 3. From then on only the latched address is accepted; packets from anywhere else are
//!    dropped and counted.
//! 4. A carrier that moves its media mid-call without a re-INVITE: once the latched address
//!    has been silent for [`QUIET`], a new source is latched by the test of rule 1. A pause
//!    shorter than that (silence suppression, a hold) keeps the latch.
//!
//! The SSRC is not part of the latch: a packet carrying the latched address comes from the
//! carrier or from someone able to forge the carrier's address, and against the latter an
//! SSRC, sent in clear in every packet, protects nothing; gateways also send RFC 4733 events
//! under an SSRC of their own. It is part of the probation, where it costs a blind attacker.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Packets in sequence that make an address other than the SDP's acceptable.
pub const PROBATION: u8 = 4;
/// Silence from the latched address after which another source may take over.
pub const QUIET: Duration = Duration::from_secs(2);

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The far end's: use it. `latched` is set when this packet latched a new address
    /// (send our audio there from now on).
    Accept {
        /// The newly latched address, if this packet latched one.
        latched: Option<SocketAddr>,
    },
    /// Not the far end's: drop it.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    from: SocketAddr,
    ssrc: u32,
    sequence: u16,
    count: u8,
}

/// The source rule of one stream.
#[derive(Debug)]
pub struct Source {
    sdp: SocketAddr,
    latched: Option<(SocketAddr, Instant)>,
    candidate: Option<Candidate>,
}

impl Source {
    /// A stream whose far end's SDP gave `sdp`.
    pub fn new(sdp: SocketAddr) -> Self {
        Self {
            sdp,
            latched: None,
            candidate: None,
        }
    }

    /// The latched address, if any.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched.map(|(at, _)| at)
    }

    /// Judges a well-formed RTP packet from `from`.
    pub fn on_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ssrc: u32,
        sequence: u16,
    ) -> Verdict {
        if let Some((at, last)) = &mut self.latched {
            if *at == from {
                *last = now;
                return Verdict::Accept { latched: None };
            }
            if now.saturating_duration_since(*last) < QUIET {
                return Verdict::Drop;
            }
        }
        if !self.qualifies(from, ssrc, sequence) {
            return Verdict::Drop;
        }
        self.candidate = None;
        self.latched = Some((from, now));
        Verdict::Accept {
            latched: Some(from),
        }
    }

    fn qualifies(&mut self, from: SocketAddr, ssrc: u32, sequence: u16) -> bool {
        if from.ip() == self.sdp.ip() {
            return true;
        }
        let next = match self.candidate {
            Some(c)
                if c.from == from && c.ssrc == ssrc && sequence == c.sequence.wrapping_add(1) =>
            {
                Candidate {
                    sequence,
                    count: c.count + 1,
                    ..c
                }
            }
            _ => Candidate {
                from,
                ssrc,
                sequence,
                count: 1,
            },
        };
        self.candidate = Some(next);
        next.count >= PROBATION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const SDP: &str = "198.51.100.7:30000";

    #[test]
    fn the_sdp_address_latches_at_once_and_then_only_the_latched_address_counts() {
        let t0 = Instant::now();
        let mut s = Source::new(addr(SDP));
        let natted = addr("198.51.100.7:40002");
        assert_eq!(
            s.on_packet(t0, natted, 1, 10),
            Verdict::Accept {
                latched: Some(natted)
            },
            "same IP, remapped port"
        );
        assert_eq!(
            s.on_packet(t0, natted, 9, 500),
            Verdict::Accept { latched: None }
        );
        for seq in 0..10 {
            assert_eq!(
                s.on_packet(t0, addr("203.0.113.66:40000"), 7, seq),
                Verdict::Drop,
                "a third party, however regular"
            );
        }
        assert_eq!(
            s.on_packet(t0, addr(SDP), 1, 11),
            Verdict::Drop,
            "the port is part of the latch"
        );
    }

    #[test]
    fn another_address_needs_probation_before_the_first_latch() {
        let t0 = Instant::now();
        let mut s = Source::new(addr("10.0.0.5:30000")); // a private address in the SDP
        let public = addr("198.51.100.9:30000");
        let blind = addr("203.0.113.66:30000");
        assert_eq!(s.on_packet(t0, blind, 7, 100), Verdict::Drop);
        assert_eq!(s.on_packet(t0, public, 1, 10), Verdict::Drop);
        assert_eq!(s.on_packet(t0, public, 1, 11), Verdict::Drop);
        assert_eq!(
            s.on_packet(t0, blind, 7, 101),
            Verdict::Drop,
            "interleaving restarts it"
        );
        for seq in 10..13 {
            assert_eq!(s.on_packet(t0, public, 1, seq), Verdict::Drop);
        }
        assert_eq!(
            s.on_packet(t0, public, 1, 13),
            Verdict::Accept {
                latched: Some(public)
            }
        );
        assert_eq!(s.latched(), Some(public));
    }

    #[test]
    fn a_carrier_that_moves_mid_call_is_followed_after_a_quiet_spell() {
        let t0 = Instant::now();
        let mut s = Source::new(addr(SDP));
        s.on_packet(t0, addr(SDP), 1, 1);
        let moved = addr("198.51.100.8:31000");
        let soon = t0 + QUIET - Duration::from_millis(1);
        for seq in 0..PROBATION.into() {
            assert_eq!(s.on_packet(soon, moved, 2, seq), Verdict::Drop);
        }
        let later = t0 + QUIET;
        let verdicts: Vec<_> = (0..PROBATION.into())
            .map(|seq| s.on_packet(later, moved, 2, 100 + seq))
            .collect();
        assert_eq!(
            verdicts.last(),
            Some(&Verdict::Accept {
                latched: Some(moved)
            })
        );
        assert_eq!(
            s.on_packet(later, addr(SDP), 1, 2),
            Verdict::Drop,
            "the old one is now a stranger"
        );
    }
}
