//! Pure: the nonces of our digest challenges, issued without keeping anything.
//!
//! A challenge goes to whoever sends an INVITE, so it must cost no memory: like a SYN cookie,
//! the nonce carries when it was issued and a MAC over that time and the address it was
//! issued to, under a key only this process knows. Checking it needs nothing stored. What
//! must be stored is that a nonce has been answered (right or wrong): each nonce buys one
//! attempt, so a guesser needs a fresh challenge per guess and a captured INVITE cannot be
//! replayed. That record lasts the nonce's lifetime and is bounded ([`SPENT_MAX`]); only a
//! peer that received a challenge at its own address can add to it.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a nonce we issued may be answered.
pub const LIFETIME: Duration = Duration::from_secs(60);
/// At most this many answered nonces are remembered; past it, answers are turned away until
/// the oldest expire (a flood of authentication attempts, not a call rate).
pub const SPENT_MAX: usize = 8192;

/// Why an answer's nonce is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Not one of ours (or issued to another address, or mangled).
    Foreign,
    /// Ours, but older than [`LIFETIME`].
    Expired,
    /// Ours, and already answered once.
    Spent,
    /// Too many answers in the last [`LIFETIME`] to remember another.
    Busy,
}

/// Issues and checks nonces.
#[derive(Debug)]
pub struct Nonces {
    key: [u8; 32],
    epoch: Instant,
    spent: HashSet<String>,
    /// The spent nonces in the order they were answered, to forget them when they expire.
    order: VecDeque<(Instant, String)>,
}

impl Nonces {
    /// A fresh key; nonces of another process (or before a restart) are foreign.
    pub fn new(now: Instant) -> Self {
        Self {
            key: rand::random(),
            epoch: now,
            spent: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// A nonce for a challenge sent to `peer` now.
    pub fn issue(&self, now: Instant, peer: IpAddr) -> String {
        let issued = now.saturating_duration_since(self.epoch).as_secs();
        // Random, so that two challenges in the same second are two nonces.
        let salt: u64 = rand::random();
        format!("{issued:x}.{salt:x}.{}", self.mac(issued, salt, peer))
    }

    /// Takes `nonce` as answered by `peer`: `Ok` if it is ours, for this address, live and
    /// not answered before; it is spent either way it is judged after that.
    pub fn spend(&mut self, now: Instant, nonce: &str, peer: IpAddr) -> Result<(), Stale> {
        let mut parts = nonce.splitn(3, '.');
        let mut number = || {
            parts
                .next()
                .and_then(|p| u64::from_str_radix(p, 16).ok())
                .ok_or(Stale::Foreign)
        };
        let (issued, salt) = (number()?, number()?);
        let mac = parts.next().ok_or(Stale::Foreign)?;
        if !same(mac.as_bytes(), self.mac(issued, salt, peer).as_bytes()) {
            return Err(Stale::Foreign);
        }
        let age = now
            .saturating_duration_since(self.epoch)
            .saturating_sub(Duration::from_secs(issued));
        if age >= LIFETIME {
            return Err(Stale::Expired);
        }
        self.forget_expired(now);
        if self.spent.contains(nonce) {
            return Err(Stale::Spent);
        }
        if self.spent.len() >= SPENT_MAX {
            return Err(Stale::Busy);
        }
        self.spent.insert(nonce.to_owned());
        self.order.push_back((now, nonce.to_owned()));
        Ok(())
    }

    /// How many answered nonces are remembered (bounded by [`SPENT_MAX`]).
    pub fn spent(&self) -> usize {
        self.spent.len()
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < LIFETIME {
                break;
            }
            if let Some((_, nonce)) = self.order.pop_front() {
                self.spent.remove(&nonce);
            }
        }
    }

    fn mac(&self, issued: u64, salt: u64, peer: IpAddr) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(issued.to_be_bytes());
        h.update(salt.to_be_bytes());
        match peer {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// Equal, without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "203.0.113.5";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_nonce_is_good_once_for_its_own_address_while_it_lives() {
        let t0 = Instant::now();
        let mut n = Nonces::new(t0);
        let a = n.issue(t0, ip(PEER));
        assert_eq!(n.spend(t0, &a, ip("203.0.113.6")), Err(Stale::Foreign));
        assert_eq!(n.spend(t0, &a, ip(PEER)), Ok(()));
        assert_eq!(n.spend(t0, &a, ip(PEER)), Err(Stale::Spent));
        let b = n.issue(t0, ip(PEER));
        assert_eq!(n.spend(t0 + LIFETIME, &b, ip(PEER)), Err(Stale::Expired));
        for forged in ["", "0", "0.00", "0.0.00", "zz.1.1", &a.replace('.', "")] {
            assert_eq!(
                n.spend(t0, forged, ip(PEER)),
                Err(Stale::Foreign),
                "{forged}"
            );
        }
        assert_eq!(
            Nonces::new(t0).spend(t0, &n.issue(t0, ip(PEER)), ip(PEER)),
            Err(Stale::Foreign),
            "another key (a restart) does not know it"
        );
    }

    #[test]
    fn issuing_stores_nothing_and_the_spent_record_is_bounded_and_forgets() {
        let t0 = Instant::now();
        let mut n = Nonces::new(t0);
        for _ in 0..100_000 {
            n.issue(t0, ip(PEER));
        }
        assert_eq!(n.spent(), 0);
        let mut now = t0;
        for i in 0..SPENT_MAX {
            now = t0 + Duration::from_millis(i as u64);
            let nonce = n.issue(now, ip(PEER));
            assert_eq!(n.spend(now, &nonce, ip(PEER)), Ok(()));
        }
        let one_more = n.issue(now, ip(PEER));
        assert_eq!(n.spend(now, &one_more, ip(PEER)), Err(Stale::Busy));
        let later = t0 + LIFETIME + Duration::from_millis(1);
        let fresh = n.issue(later, ip(PEER));
        assert_eq!(n.spend(later, &fresh, ip(PEER)), Ok(()));
        assert!(n.spent() < SPENT_MAX, "the expired ones were forgotten");
    }
}
