//! Pure: RFC 4733 telephone-events: the payload format (§2.3), the DTMF event codes
//! (§3.2, events 0–15), a receiver that turns packet streams into one `Begin` and one
//! `End` per key press (§2.5.2), and the packet schedule a sender follows (§2.5.1).
//!
//! **Receiver rules.** An event is identified by its RTP timestamp (all packets of one
//! event carry the timestamp of its start). The first packet seen with a new timestamp
//! reports [`DtmfEvent::Begin`], even if earlier packets of that event were lost. The first
//! packet with the E bit reports [`DtmfEvent::End`]; the redundant end packets (the final
//! packet is sent three times) and retransmitted updates with that timestamp are then
//! ignored, as are packets with a timestamp older than the last event's. A new timestamp
//! while an event is active ends the old event first. If all end packets are lost, the
//! event ends at [`Receiver::next_deadline`]: [`END_TIMEOUT`] (120 ms) after its last
//! packet. Senders update every 20 to 50 ms, so 120 ms rides out one lost 50 ms update or
//! four lost 20 ms ones; an event cut short this way still reports exactly one `Begin` and
//! one `End` (later packets with its timestamp are ignored), only with a shorter duration.

use std::time::{Duration, Instant};

use crate::codec::g711::{CLOCK_RATE, FRAME_DURATION, FRAME_SAMPLES};

/// How long after its last packet an event without an end packet is ended.
pub const END_TIMEOUT: Duration = Duration::from_millis(120);
/// The default length of a digit we send.
pub const DEFAULT_DIGIT_DURATION: Duration = Duration::from_millis(100);
/// How many packets with the E bit we send (RFC 4733 sends the final packet three times).
pub const END_PACKETS: usize = 3;
/// The default volume we send: −10 dBm0.
pub const DEFAULT_VOLUME: u8 = 10;

/// A malformed telephone-event payload: the peer's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the 4-byte event block.
    #[error("telephone-event payload is {len} bytes, need 4")]
    Truncated {
        /// Payload length.
        len: usize,
    },
}

/// A telephone-event we cannot send as asked: the caller's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Not one of 0–9, *, #, A–D.
    #[error("{digit:?} is not a DTMF digit (0-9, *, #, A-D)")]
    NotADigit {
        /// The rejected character.
        digit: char,
    },
    /// The duration does not fit in the 16-bit field (8.19 s at 8000 Hz) or is zero.
    #[error("DTMF duration {duration:?} must be between 1 ms and 8.19 s")]
    Duration {
        /// The rejected duration.
        duration: Duration,
    },
    /// Volume is 6 bits, 0–63 (−dBm0).
    #[error("DTMF volume {volume} exceeds 63")]
    Volume {
        /// The rejected volume.
        volume: u8,
    },
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     event     |E|R| volume    |          duration             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// One telephone-event payload block (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (§3.2: 0–9, 10 = *, 11 = #, 12–15 = A–D; 16 = flash …).
    pub event: u8,
    /// E: this packet ends the event.
    pub end: bool,
    /// Volume in −dBm0, 0–63 (6 bits).
    pub volume: u8,
    /// Duration so far, in timestamp units (1/8000 s).
    pub duration: u16,
}

impl EventPayload {
    /// Size of one event block.
    pub const LEN: usize = 4;

    /// Parses the first event block of a payload; trailing bytes are ignored, and the R bit.
    pub fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let Some(b) = payload.get(..Self::LEN) else {
            return Err(DecodeError::Truncated { len: payload.len() });
        };
        Ok(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4 wire bytes (volume masked to 6 bits, R bit 0).
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// The DTMF digit, if the event is one (0–15).
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

/// The DTMF digit for an event code 0–15 (RFC 4733 §3.2).
pub fn event_to_digit(event: u8) -> Option<char> {
    DIGITS.get(usize::from(event)).map(|&b| char::from(b))
}

/// The event code for a DTMF digit (`a`–`d` accepted too).
pub fn digit_to_event(digit: char) -> Option<u8> {
    let upper = digit.to_ascii_uppercase();
    DIGITS
        .iter()
        .position(|&b| char::from(b) == upper)
        .and_then(|i| u8::try_from(i).ok())
}

/// What the receiver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEvent {
    /// A key press started (reported once per event).
    Begin {
        /// The digit.
        digit: char,
    },
    /// The key press ended (reported once per event).
    End {
        /// The digit.
        digit: char,
        /// Its duration: the last duration field seen, in 1/8000 s, as a `Duration`.
        duration: Duration,
        /// Whether it ended by [`END_TIMEOUT`] or a newer event instead of an E bit.
        timed_out: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    timestamp: u32,
    digit: char,
    duration: u16,
    last_packet_at: Instant,
}

/// Turns received telephone-event packets into [`DtmfEvent`]s (module docs for the rules).
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    active: Option<Active>,
    /// Timestamp of the most recent event, active or ended.
    last_timestamp: Option<u32>,
}

impl Receiver {
    /// A receiver with no event in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet (RTP timestamp and parsed payload); appends what it
    /// causes to `out` (at most three: the old event's `End`, then `Begin` and `End`).
    pub fn on_packet(
        &mut self,
        now: Instant,
        timestamp: u32,
        payload: &EventPayload,
        out: &mut Vec<DtmfEvent>,
    ) {
        let Some(digit) = payload.digit() else {
            return; // not DTMF (flash, tones): ignored
        };
        if let Some(active) = &mut self.active {
            if active.timestamp == timestamp {
                active.duration = active.duration.max(payload.duration);
                active.last_packet_at = now;
                if payload.end {
                    out.push(end(active.digit, active.duration, false));
                    self.active = None;
                }
                return;
            }
        }
        if let Some(last) = self.last_timestamp {
            // Same or older timestamp than the last event: its redundant end packets, a
            // retransmission, or a straggler (serial-number comparison, wraps safely).
            if (timestamp.wrapping_sub(last) as i32) <= 0 {
                return;
            }
        }
        if let Some(old) = self.active.take() {
            out.push(end(old.digit, old.duration, true));
        }
        self.last_timestamp = Some(timestamp);
        out.push(DtmfEvent::Begin { digit });
        if payload.end {
            out.push(end(digit, payload.duration, false));
        } else {
            self.active = Some(Active {
                timestamp,
                digit,
                duration: payload.duration,
                last_packet_at: now,
            });
        }
    }

    /// When the active event ends if no more packets come.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.active.map(|a| a.last_packet_at + END_TIMEOUT)
    }

    /// Ends the active event if its deadline has passed.
    pub fn on_tick(&mut self, now: Instant, out: &mut Vec<DtmfEvent>) {
        if self.next_deadline().is_some_and(|d| now >= d) {
            if let Some(old) = self.active.take() {
                out.push(end(old.digit, old.duration, true));
            }
        }
    }

    /// The digit being pressed, if any.
    pub fn active_digit(&self) -> Option<char> {
        self.active.map(|a| a.digit)
    }
}

fn end(digit: char, duration: u16, timed_out: bool) -> DtmfEvent {
    let duration = Duration::from_micros(u64::from(duration) * 1_000_000 / u64::from(CLOCK_RATE));
    DtmfEvent::End {
        digit,
        duration,
        timed_out,
    }
}

/// One packet of a digit we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedPacket {
    /// When to send it, relative to the event start (whose RTP timestamp all packets carry).
    pub offset: Duration,
    /// The marker bit: set on the first packet only.
    pub marker: bool,
    /// The payload.
    pub payload: EventPayload,
}

/// The packets for one digit, in order: an update every 20 ms with growing duration (the
/// first with the marker), then [`END_PACKETS`] packets with the E bit and the final
/// duration, 20 ms apart. No allocation: an iterator.
#[derive(Debug, Clone)]
pub struct DigitPackets {
    event: u8,
    volume: u8,
    total: u16,
    updates: usize,
    index: usize,
}

impl DigitPackets {
    /// Plans `digit` for `duration` (rounded up to whole 20 ms frames) at `volume` −dBm0.
    pub fn new(digit: char, duration: Duration, volume: u8) -> Result<Self, EncodeError> {
        let event = digit_to_event(digit).ok_or(EncodeError::NotADigit { digit })?;
        if volume > 63 {
            return Err(EncodeError::Volume { volume });
        }
        let frame_nanos = FRAME_DURATION.as_nanos();
        let frames = duration.as_nanos().div_ceil(frame_nanos);
        let total = frames * FRAME_SAMPLES as u128;
        let total = u16::try_from(total)
            .ok()
            .filter(|&t| t > 0)
            .ok_or(EncodeError::Duration { duration })?;
        let updates = usize::from(total / FRAME_SAMPLES as u16) - 1;
        Ok(Self {
            event,
            volume,
            total,
            updates,
            index: 0,
        })
    }

    /// The final duration in timestamp units.
    pub fn total_duration(&self) -> u16 {
        self.total
    }
}

impl Iterator for DigitPackets {
    type Item = PlannedPacket;

    fn next(&mut self) -> Option<PlannedPacket> {
        if self.index >= self.updates + END_PACKETS {
            return None;
        }
        let i = self.index;
        self.index += 1;
        let is_end = i >= self.updates;
        let duration = if is_end {
            self.total
        } else {
            (i as u16 + 1) * FRAME_SAMPLES as u16
        };
        Some(PlannedPacket {
            offset: FRAME_DURATION * i as u32,
            marker: i == 0,
            payload: EventPayload {
                event: self.event,
                end: is_end,
                volume: self.volume,
                duration,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn pkt(event: u8, end: bool, duration: u16) -> EventPayload {
        EventPayload {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    /// Feeds (ms after t0, timestamp, payload) and ticks at each packet time; returns events.
    fn run(packets: &[(u64, u32, EventPayload)], tick_until_ms: u64) -> Vec<DtmfEvent> {
        let t0 = Instant::now();
        let mut r = Receiver::new();
        let mut out = Vec::new();
        for &(ms, ts, p) in packets {
            r.on_tick(t0 + Duration::from_millis(ms), &mut out);
            r.on_packet(t0 + Duration::from_millis(ms), ts, &p, &mut out);
        }
        r.on_tick(t0 + Duration::from_millis(tick_until_ms), &mut out);
        out
    }

    fn end_of(digit: char, ms: u64, timed_out: bool) -> DtmfEvent {
        DtmfEvent::End {
            digit,
            duration: Duration::from_millis(ms),
            timed_out,
        }
    }

    #[test]
    fn payload_round_trips_through_wire_bytes() {
        // A baresip end packet for '5': event 5, E=1, volume 10, duration 800.
        let raw = [0x05, 0x8A, 0x03, 0x20];
        let p = EventPayload::parse(&raw).expect("4 bytes");
        assert_eq!(p, pkt(5, true, 800));
        assert_eq!(p.to_bytes(), raw);
        assert_eq!(
            EventPayload::parse(&raw[..3]),
            Err(DecodeError::Truncated { len: 3 })
        );
        // The R bit is ignored.
        assert_eq!(
            EventPayload::parse(&[0x0B, 0x4A, 0, 160])
                .expect("ok")
                .digit(),
            Some('#')
        );
    }

    #[test]
    fn events_map_to_digits_both_ways() {
        let all: String = (0..16).filter_map(event_to_digit).collect();
        assert_eq!(all, "0123456789*#ABCD");
        assert_eq!(event_to_digit(16), None);
        for (i, c) in all.chars().enumerate() {
            assert_eq!(digit_to_event(c), Some(i as u8));
        }
        assert_eq!(digit_to_event('d'), Some(15));
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn a_normal_digit_reports_begin_once_and_end_once() {
        let ts = 16_000;
        let seq = [
            (0, ts, pkt(1, false, 160)),
            (20, ts, pkt(1, false, 320)),
            (40, ts, pkt(1, false, 480)),
            (60, ts, pkt(1, false, 640)),
            (80, ts, pkt(1, true, 800)),
            (100, ts, pkt(1, true, 800)),
            (120, ts, pkt(1, true, 800)),
        ];
        assert_eq!(
            run(&seq, 1000),
            [DtmfEvent::Begin { digit: '1' }, end_of('1', 100, false)]
        );
    }

    #[test]
    fn a_digit_whose_first_packets_were_lost_still_begins() {
        let ts = 16_000;
        let seq = [
            (60, ts, pkt(9, false, 640)),
            (80, ts, pkt(9, true, 800)),
            (100, ts, pkt(9, true, 800)),
        ];
        assert_eq!(
            run(&seq, 1000),
            [DtmfEvent::Begin { digit: '9' }, end_of('9', 100, false)]
        );
    }

    #[test]
    fn a_digit_whose_end_packets_were_all_lost_ends_at_the_deadline() {
        let t0 = Instant::now();
        let mut r = Receiver::new();
        let mut out = Vec::new();
        r.on_packet(t0, 500, &pkt(10, false, 160), &mut out);
        r.on_packet(t0 + 20 * MS, 500, &pkt(10, false, 320), &mut out);
        assert_eq!(r.next_deadline(), Some(t0 + 140 * MS));
        r.on_tick(t0 + 139 * MS, &mut out);
        assert_eq!(out, [DtmfEvent::Begin { digit: '*' }]);
        r.on_tick(t0 + 140 * MS, &mut out);
        assert_eq!(
            out,
            [DtmfEvent::Begin { digit: '*' }, end_of('*', 40, true)]
        );
        assert_eq!(r.next_deadline(), None);
        // A straggling end packet of that event changes nothing.
        r.on_packet(t0 + 200 * MS, 500, &pkt(10, true, 800), &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn duplicated_and_retransmitted_packets_are_ignored() {
        let ts = 8000;
        let seq = [
            (0, ts, pkt(2, false, 160)),
            (0, ts, pkt(2, false, 160)),
            (20, ts, pkt(2, false, 320)),
            (20, ts, pkt(2, false, 160)),
            (40, ts, pkt(2, true, 480)),
            (40, ts, pkt(2, true, 480)),
            (60, ts, pkt(2, true, 480)),
            (80, ts, pkt(2, true, 480)),
        ];
        assert_eq!(
            run(&seq, 1000),
            [DtmfEvent::Begin { digit: '2' }, end_of('2', 60, false)]
        );
    }

    #[test]
    fn two_digits_back_to_back_end_the_first_before_beginning_the_second() {
        let seq = [
            (0, 1000, pkt(4, false, 160)),
            (20, 1000, pkt(4, false, 320)),
            // The end packets of '4' were lost; '5' starts at a new timestamp.
            (40, 1480, pkt(5, false, 160)),
            (60, 1480, pkt(5, true, 320)),
            (80, 1480, pkt(5, true, 320)),
            // A late end packet of '4' is older than '5': ignored.
            (90, 1000, pkt(4, true, 400)),
        ];
        assert_eq!(
            run(&seq, 1000),
            [
                DtmfEvent::Begin { digit: '4' },
                end_of('4', 40, true),
                DtmfEvent::Begin { digit: '5' },
                end_of('5', 40, false),
            ]
        );
    }

    #[test]
    fn the_same_digit_twice_is_two_events() {
        let mut seq = Vec::new();
        for ts in [1000u32, 3000] {
            seq.extend([
                (u64::from(ts) / 8, ts, pkt(1, false, 160)),
                (u64::from(ts) / 8 + 20, ts, pkt(1, true, 320)),
            ]);
            seq.push((u64::from(ts) / 8 + 40, ts, pkt(1, true, 320)));
        }
        let b = DtmfEvent::Begin { digit: '1' };
        assert_eq!(
            run(&seq, 2000),
            [b, end_of('1', 40, false), b, end_of('1', 40, false)]
        );
    }

    #[test]
    fn a_single_end_packet_reports_begin_and_end_together() {
        assert_eq!(
            run(&[(0, 77, pkt(0, true, 800))], 1000),
            [DtmfEvent::Begin { digit: '0' }, end_of('0', 100, false)]
        );
    }

    #[test]
    fn non_dtmf_events_are_ignored() {
        assert_eq!(
            run(
                &[(0, 77, pkt(16, false, 160)), (20, 77, pkt(16, true, 320))],
                1000
            ),
            []
        );
    }

    #[test]
    fn a_100_ms_digit_is_five_packets_and_three_ends() {
        let plan: Vec<_> = DigitPackets::new('#', DEFAULT_DIGIT_DURATION, DEFAULT_VOLUME)
            .expect("valid")
            .collect();
        let summary: Vec<_> = plan
            .iter()
            .map(|p| {
                (
                    p.offset.as_millis(),
                    p.marker,
                    p.payload.end,
                    p.payload.duration,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (0, true, false, 160),
                (20, false, false, 320),
                (40, false, false, 480),
                (60, false, false, 640),
                (80, false, true, 800),
                (100, false, true, 800),
                (120, false, true, 800),
            ]
        );
        assert!(plan
            .iter()
            .all(|p| p.payload.event == 11 && p.payload.volume == 10));
    }

    #[test]
    fn planning_rejects_bad_digits_durations_and_volumes() {
        assert_eq!(
            DigitPackets::new('x', DEFAULT_DIGIT_DURATION, 10).err(),
            Some(EncodeError::NotADigit { digit: 'x' })
        );
        assert_eq!(
            DigitPackets::new('1', Duration::ZERO, 10).err(),
            Some(EncodeError::Duration {
                duration: Duration::ZERO
            })
        );
        let long = Duration::from_secs(9);
        assert_eq!(
            DigitPackets::new('1', long, 10).err(),
            Some(EncodeError::Duration { duration: long })
        );
        assert_eq!(
            DigitPackets::new('1', DEFAULT_DIGIT_DURATION, 64).err(),
            Some(EncodeError::Volume { volume: 64 })
        );
        // 1 ms rounds up to one frame: one end packet ×3, duration 160.
        let short: Vec<_> = DigitPackets::new('1', MS, 10).expect("valid").collect();
        assert_eq!(short.len(), 3);
        assert!(
            short[0].marker
                && short
                    .iter()
                    .all(|p| p.payload.end && p.payload.duration == 160)
        );
    }

    #[test]
    fn what_we_send_is_what_we_receive() {
        let t0 = Instant::now();
        let mut r = Receiver::new();
        let mut out = Vec::new();
        for p in DigitPackets::new('7', Duration::from_millis(160), 10).expect("valid") {
            let payload = EventPayload::parse(&p.payload.to_bytes()).expect("4 bytes");
            r.on_packet(t0 + p.offset, 4242, &payload, &mut out);
        }
        assert_eq!(
            out,
            [DtmfEvent::Begin { digit: '7' }, end_of('7', 160, false)]
        );
    }

    proptest! {
        #[test]
        fn any_packet_stream_gives_balanced_begin_and_end(
            packets in proptest::collection::vec((0u64..50, 0u32..4, any::<[u8; 4]>()), 0..60)
        ) {
            let t0 = Instant::now();
            let mut r = Receiver::new();
            let mut out = Vec::new();
            let mut at = t0;
            for (gap_ms, ts, raw) in packets {
                at += Duration::from_millis(gap_ms);
                r.on_tick(at, &mut out);
                let p = EventPayload::parse(&raw).expect("4 bytes");
                r.on_packet(at, ts * 800, &p, &mut out);
            }
            r.on_tick(at + Duration::from_secs(1), &mut out);
            let begins = out.iter().filter(|e| matches!(e, DtmfEvent::Begin { .. })).count();
            let ends = out.iter().filter(|e| matches!(e, DtmfEvent::End { .. })).count();
            prop_assert_eq!(begins, ends);
            for pair in out.chunks(2) {
                let (DtmfEvent::Begin { digit: b }, DtmfEvent::End { digit: e, .. }) = (pair[0], pair[1]) else {
                    return Err(TestCaseError::fail(format!("unbalanced: {out:?}")));
                };
                prop_assert_eq!(b, e);
            }
        }
    }
}
