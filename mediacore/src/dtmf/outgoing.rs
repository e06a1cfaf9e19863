//! Pure: the digits a call sends (AMI `PlayDTMF`, `SendDTMF()`), slot by slot. The pacer
//! asks at every 20 ms audio slot whether an event packet goes out instead of audio
//! ([`Queue::next`]); a digit's packets carry the timestamp of the slot it started in
//! (RFC 4733 §2.5.1.2), and [`GAP_FRAMES`] frames of audio separate two digits so that a
//! receiver sees two key presses.

use std::collections::VecDeque;
use std::time::Duration;

use super::rfc4733::{DigitPackets, EncodeError, EventPayload, DEFAULT_VOLUME};

/// Audio frames between two digits (100 ms).
pub const GAP_FRAMES: u8 = 5;
/// Digits that may wait: a longer queue is refused, not grown.
pub const MAX_QUEUED: usize = 64;

/// A digit that cannot be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not a digit, or a duration the event cannot carry.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Too many digits already wait to be sent on this call.
    #[error("too many DTMF digits waiting (at most {MAX_QUEUED})")]
    Full,
}

/// A packet to send in this slot instead of audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// The payload (4 bytes once written).
    pub payload: EventPayload,
    /// The marker bit (the digit's first packet).
    pub marker: bool,
    /// The digit's start timestamp.
    pub timestamp: u32,
}

/// Digits waiting to be sent, and the one being sent.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    waiting: VecDeque<(char, Duration)>,
    current: Option<(DigitPackets, Option<u32>)>,
    gap: u8,
}

impl Queue {
    /// Queues `digit` for `duration`; an error for a non-digit, a bad duration or a full
    /// queue.
    pub fn push(&mut self, digit: char, duration: Duration) -> Result<(), PushError> {
        // Checked now, so that a bad digit is refused to the asker, not dropped later.
        DigitPackets::new(digit, duration, DEFAULT_VOLUME)?;
        if self.waiting.len() >= MAX_QUEUED {
            return Err(PushError::Full);
        }
        self.waiting.push_back((digit, duration));
        Ok(())
    }

    /// How many more digits may be queued.
    pub fn room(&self) -> usize {
        MAX_QUEUED.saturating_sub(self.waiting.len())
    }

    /// Whether nothing is waiting or being sent (gaps included).
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.current.is_none() && self.gap == 0
    }

    /// For the slot whose audio timestamp is `timestamp`: the event packet to send
    /// instead of audio, or `None` to send audio.
    pub fn next(&mut self, timestamp: u32) -> Option<EventPacket> {
        if self.gap > 0 {
            self.gap -= 1;
            return None;
        }
        if self.current.is_none() {
            let (digit, duration) = self.waiting.pop_front()?;
            let packets = DigitPackets::new(digit, duration, DEFAULT_VOLUME).ok()?;
            self.current = Some((packets, None));
        }
        let (packets, start) = self.current.as_mut()?;
        let start = *start.get_or_insert(timestamp);
        match packets.next() {
            Some(p) => Some(EventPacket {
                payload: p.payload,
                marker: p.marker,
                timestamp: start,
            }),
            None => {
                self.current = None;
                self.gap = GAP_FRAMES.saturating_sub(1);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::rfc4733::{DtmfEvent, Receiver};
    use std::time::Instant;

    /// Drives the queue for `slots` slots; what a receiver makes of the event packets.
    fn received(queue: &mut Queue, slots: u32) -> (Vec<char>, usize) {
        let mut rx = Receiver::new();
        let (start, mut events, mut audio) = (Instant::now(), Vec::new(), 0);
        for slot in 0..slots {
            let now = start + Duration::from_millis(20 * u64::from(slot));
            let timestamp = 1_000 + slot * 160;
            match queue.next(timestamp) {
                Some(p) => {
                    let payload = EventPayload::parse(&p.payload.to_bytes()).unwrap();
                    rx.on_packet(now, p.timestamp, &payload, &mut events);
                }
                None => audio += 1,
            }
            rx.on_tick(now, &mut events);
        }
        let digits = events
            .iter()
            .filter_map(|e| match e {
                DtmfEvent::End { digit, .. } => Some(*digit),
                _ => None,
            })
            .collect();
        (digits, audio)
    }

    #[test]
    fn queued_digits_arrive_in_order_as_separate_presses() {
        let mut q = Queue::default();
        for d in "1123#".chars() {
            q.push(d, Duration::from_millis(100)).unwrap();
        }
        assert!(!q.is_idle());
        // Each digit: 5 updates + 3 ends = 7 packets (the 5th update is the first end),
        // then 5 frames of audio.
        let (digits, _) = received(&mut q, 100);
        assert_eq!(
            digits,
            ['1', '1', '2', '3', '#'],
            "repeated digits stay two presses"
        );
        assert!(q.is_idle());
    }

    #[test]
    fn a_digit_keeps_its_start_timestamp_and_marks_only_its_first_packet() {
        let mut q = Queue::default();
        q.push('5', Duration::from_millis(60)).unwrap();
        let packets: Vec<EventPacket> = (0..10).filter_map(|i| q.next(500 + i * 160)).collect();
        assert_eq!(packets.len(), 2 + 3, "2 updates, 3 ends");
        assert!(packets.iter().all(|p| p.timestamp == 500));
        assert!(packets[0].marker && packets[1..].iter().all(|p| !p.marker));
        assert!(packets[2..]
            .iter()
            .all(|p| p.payload.end && p.payload.duration == 480));
    }

    #[test]
    fn bad_digits_and_an_overfull_queue_are_refused() {
        let mut q = Queue::default();
        assert!(q.push('x', Duration::from_millis(100)).is_err());
        assert!(
            q.push('1', Duration::from_secs(60)).is_err(),
            "longer than 16 bits of time"
        );
        for _ in 0..MAX_QUEUED {
            q.push('1', Duration::from_millis(100)).unwrap();
        }
        assert!(q.push('1', Duration::from_millis(100)).is_err());
    }
}
