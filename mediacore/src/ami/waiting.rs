//! Pure: the AMI connections waiting to log in, and who gets a place among them.
//!
//! Each waiting connection costs a task and up to one message of buffer, so there are at
//! most `authlimit` of them (Asterisk's setting, default 50) and at most
//! [`PER_ADDRESS`] from one address. Where Asterisk turns a new connection away once
//! `authlimit` wait, here the new one takes the place of the connection that has waited
//! longest, which is closed: an application logs in right after it connects, so
//! connections that only wait (an attacker holding places) cannot keep it out, and a host
//! that opens too many is refused without touching the others' places.

use std::collections::VecDeque;
use std::net::IpAddr;

/// The most connections one address may have waiting to log in.
pub const PER_ADDRESS: usize = 8;

/// A place given to a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub id: u64,
    /// The connection that waited longest, whose place this is: close it.
    pub evicts: Option<u64>,
}

/// The waiting connections, oldest first.
#[derive(Debug, Default)]
pub struct WaitingRoom {
    next: u64,
    waiting: VecDeque<(u64, IpAddr)>,
}

impl WaitingRoom {
    /// A place for a connection from `addr` when at most `limit` may wait, or None when its
    /// address already has [`PER_ADDRESS`] waiting.
    pub fn admit(&mut self, addr: IpAddr, limit: usize) -> Option<Place> {
        let from_addr = self.waiting.iter().filter(|(_, a)| *a == addr).count();
        if from_addr >= PER_ADDRESS.min(limit) {
            return None;
        }
        let evicts = (self.waiting.len() >= limit)
            .then(|| self.waiting.pop_front().map(|(id, _)| id))
            .flatten();
        self.next += 1;
        self.waiting.push_back((self.next, addr));
        Some(Place {
            id: self.next,
            evicts,
        })
    }

    /// The connection logged in or ended: its place is free.
    pub fn leave(&mut self, id: u64) {
        self.waiting.retain(|(w, _)| *w != id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 77, 0, last])
    }

    #[test]
    fn one_address_gets_at_most_its_share_and_the_others_are_untouched() {
        let mut room = WaitingRoom::default();
        for _ in 0..PER_ADDRESS {
            assert!(room.admit(ip(102), 50).is_some_and(|p| p.evicts.is_none()));
        }
        assert_eq!(room.admit(ip(102), 50), None, "its share is taken");
        assert!(
            room.admit(ip(100), 50).is_some(),
            "another address still gets in"
        );
        assert_eq!(room.len(), PER_ADDRESS + 1);
    }

    #[test]
    fn when_full_a_newcomer_takes_the_place_of_the_longest_waiting() {
        let mut room = WaitingRoom::default();
        let first = room.admit(ip(1), 3).unwrap();
        let second = room.admit(ip(2), 3).unwrap();
        room.admit(ip(3), 3).unwrap();
        let fourth = room.admit(ip(4), 3).unwrap();
        assert_eq!(fourth.evicts, Some(first.id));
        assert_eq!(room.len(), 3);
        // One logs in: the next newcomer evicts nobody.
        room.leave(second.id);
        assert_eq!(room.admit(ip(5), 3).unwrap().evicts, None);
        // Leaving twice, or after eviction, changes nothing.
        room.leave(first.id);
        room.leave(second.id);
        assert_eq!(room.len(), 3);
    }

    #[test]
    fn a_limit_below_the_share_caps_one_address_too() {
        let mut room = WaitingRoom::default();
        assert!(room.admit(ip(1), 2).is_some());
        assert!(room.admit(ip(1), 2).is_some());
        assert_eq!(room.admit(ip(1), 2), None);
    }
}
