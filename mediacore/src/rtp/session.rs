//! Pure: per-stream RTP state (RFC 3550): the [`Sender`] (sequence, timestamp, marker,
//! pacing, SR counters, §5.1 and §6.4.1), the [`Receiver`] (Appendix A.1 sequence
//! tracking, A.3 loss, A.8 jitter, LSR/DLSR of §6.4.1, duplicates, reordering, arrival
//! gaps), and the RTCP report timer (a §6.3.1 simplification, see [`rtcp_interval`]).
//!
//! Nothing here reads a clock: every method that needs the time takes `now: Instant`.
//!
//! **Pacing.** Packet `n` of a stream is due at `start + n × 20 ms`, computed from the
//! stream's start instant rather than by sleeping 20 ms after each send, so scheduling
//! delays never accumulate into drift. If the driver wakes late and several slots are
//! overdue, [`Sender::poll`] hands them out back to back, but never more than
//! [`MAX_CATCH_UP`] (3 packets, 60 ms of audio): slots beyond that are skipped. A skipped
//! slot advances the RTP timestamp by 160 without using a sequence number, which the
//! receiver sees as a short silence (no loss), and the next packet carries the marker bit so
//! jitter buffers resynchronize. The audio itself is not dropped: the prompt continues
//! from where it was, slightly later.

use std::time::{Duration, Instant, SystemTime};

use rand::RngExt as _;

use super::packet::Header;
use super::rtcp::{dlsr_units, ntp_middle, ntp_timestamp, ReportBlock, SenderInfo};
use crate::codec::g711::{CLOCK_RATE, FRAME_DURATION, FRAME_SAMPLES};

/// The most overdue slots [`Sender::poll`] sends back to back after a late wake-up.
pub const MAX_CATCH_UP: u64 = 3;

const FRAME_NANOS: u128 = FRAME_DURATION.as_nanos();
const TIMESTAMP_STEP: u32 = FRAME_SAMPLES as u32;

/// The sending half of one RTP stream.
#[derive(Debug, Clone)]
pub struct Sender {
    ssrc: u32,
    payload_type: u8,
    start: Instant,
    first_timestamp: u32,
    /// Index of the next slot (packet n is due at start + n × 20 ms).
    slot: u64,
    sequence: u16,
    marker: bool,
    packet_count: u32,
    octet_count: u32,
    skipped_slots: u64,
}

impl Sender {
    /// A stream whose first packet is due at `start`. `first_sequence` and
    /// `first_timestamp` should be random (RFC 3550 §5.1); the caller draws them.
    pub fn new(
        ssrc: u32,
        payload_type: u8,
        first_sequence: u16,
        first_timestamp: u32,
        start: Instant,
    ) -> Self {
        Self {
            ssrc,
            payload_type,
            start,
            first_timestamp,
            slot: 0,
            sequence: first_sequence,
            marker: true,
            packet_count: 0,
            octet_count: 0,
            skipped_slots: 0,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Changes the audio payload type (after a re-INVITE changed the codec).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type;
    }

    /// When the next audio packet is due.
    pub fn next_due(&self) -> Instant {
        self.slot_instant(self.slot)
    }

    /// Marks the next packet as the start of a talkspurt (RFC 3551 §4.1), e.g. after the
    /// driver stopped sending during silence.
    pub fn start_talkspurt(&mut self) {
        self.marker = true;
    }

    /// The header for the next audio packet if its slot is due at `now`, else `None`.
    /// Counts it for the SR (`payload_len` octets). Call it until it returns `None`; after a
    /// late wake-up it returns at most [`MAX_CATCH_UP`] headers back to back (module docs).
    pub fn poll(&mut self, now: Instant, payload_len: usize) -> Option<Header> {
        let elapsed = now.checked_duration_since(self.start)?;
        let due_slots = (elapsed.as_nanos() / FRAME_NANOS) as u64 + 1;
        let overdue = due_slots.checked_sub(self.slot).filter(|&n| n > 0)?;
        if overdue > MAX_CATCH_UP {
            let skip = overdue - MAX_CATCH_UP;
            self.slot += skip;
            self.skipped_slots += skip;
            self.marker = true;
        }
        let timestamp = self.slot_timestamp(self.slot);
        self.slot += 1;
        Some(self.take_header(self.payload_type, timestamp, payload_len))
    }

    /// The header for a packet outside the audio schedule, such as an RFC 4733 event
    /// packet (its own payload type, the event's timestamp, its marker); it takes the next
    /// sequence number and counts for the SR. Audio slots are unaffected.
    pub fn event_header(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload_len: usize,
    ) -> Header {
        let saved = std::mem::replace(&mut self.marker, marker);
        let header = self.take_header(payload_type, timestamp, payload_len);
        self.marker = saved;
        header
    }

    /// The RTP timestamp that corresponds to `now` on this stream's clock (for an event
    /// starting now, and for the SR).
    pub fn timestamp_at(&self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.start);
        let ticks = elapsed.as_nanos() * u128::from(CLOCK_RATE) / 1_000_000_000;
        self.first_timestamp.wrapping_add(ticks as u32)
    }

    /// Sender info for an SR sent at `now`, whose wall-clock time is `wallclock` (the
    /// driver reads both clocks together; RFC 3550 §6.4.1).
    pub fn sender_info(&self, now: Instant, wallclock: SystemTime) -> SenderInfo {
        SenderInfo {
            ntp_timestamp: ntp_timestamp(wallclock),
            rtp_timestamp: self.timestamp_at(now),
            packet_count: self.packet_count,
            octet_count: self.octet_count,
        }
    }

    /// Packets sent (SR sender's packet count; wraps).
    pub fn packet_count(&self) -> u32 {
        self.packet_count
    }

    /// Payload octets sent (SR sender's octet count; wraps).
    pub fn octet_count(&self) -> u32 {
        self.octet_count
    }

    /// Slots skipped because the driver was more than [`MAX_CATCH_UP`] slots late.
    pub fn skipped_slots(&self) -> u64 {
        self.skipped_slots
    }

    fn take_header(&mut self, payload_type: u8, timestamp: u32, payload_len: usize) -> Header {
        let header = Header {
            marker: std::mem::take(&mut self.marker),
            payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.packet_count = self.packet_count.wrapping_add(1);
        self.octet_count = self.octet_count.wrapping_add(payload_len as u32);
        header
    }

    fn slot_timestamp(&self, slot: u64) -> u32 {
        // Truncating the slot to 32 bits is exact modulo 2^32, like the timestamp itself.
        self.first_timestamp
            .wrapping_add((slot as u32).wrapping_mul(TIMESTAMP_STEP))
    }

    fn slot_instant(&self, slot: u64) -> Instant {
        // 20 ms × 2^64 slots overflows nothing a real stream reaches; saturate anyway.
        let offset = Duration::from_millis(slot.saturating_mul(20));
        self.start.checked_add(offset).unwrap_or(self.start)
    }
}

/// RFC 3550 A.1: a jump of at least this many sequence numbers is not trusted at once.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: packets up to this far behind the highest are reordered, not restarts.
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

/// How a received packet relates to the stream so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next packet, or a later one after `gap` missing sequence numbers.
    InOrder {
        /// Sequence numbers skipped before this one (0 normally).
        gap: u16,
    },
    /// Older than the highest received but not seen before (reordered).
    Late,
    /// Seen before (within the last 64 sequence numbers, or equal to the highest).
    Duplicate,
    /// A jump of 3000 or more: not counted until the next packet confirms it (A.1).
    Jump,
    /// The packet after a [`Arrival::Jump`] confirmed it: sequence state restarted.
    Resync,
    /// A new SSRC: all statistics restarted for it.
    SourceChanged,
}

/// Arrival-gap statistics: min, max, mean and the count outside a tolerance. Usable on its
/// own (tests, the benchmark) and kept by every [`Receiver`] with 20 ± 2 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapStats {
    nominal: Duration,
    tolerance: Duration,
    count: u64,
    min: Duration,
    max: Duration,
    total: Duration,
    outside: u64,
}

impl GapStats {
    /// Empty statistics judging gaps against `nominal ± tolerance`.
    pub fn new(nominal: Duration, tolerance: Duration) -> Self {
        Self {
            nominal,
            tolerance,
            count: 0,
            min: Duration::MAX,
            max: Duration::ZERO,
            total: Duration::ZERO,
            outside: 0,
        }
    }

    /// Statistics over the gaps between consecutive `instants` (which should be sorted).
    pub fn from_instants(nominal: Duration, tolerance: Duration, instants: &[Instant]) -> Self {
        let mut stats = Self::new(nominal, tolerance);
        for pair in instants.windows(2) {
            stats.record(pair[1].saturating_duration_since(pair[0]));
        }
        stats
    }

    /// Records one gap.
    pub fn record(&mut self, gap: Duration) {
        self.count += 1;
        self.min = self.min.min(gap);
        self.max = self.max.max(gap);
        self.total = self.total.saturating_add(gap);
        if gap.abs_diff(self.nominal) > self.tolerance {
            self.outside += 1;
        }
    }

    /// Gaps recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest gap, if any.
    pub fn min(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest gap, if any.
    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.max)
    }

    /// Mean gap, if any.
    pub fn mean(&self) -> Option<Duration> {
        let count = u32::try_from(self.count).unwrap_or(u32::MAX);
        (count > 0).then(|| self.total / count)
    }

    /// Gaps outside `nominal ± tolerance`.
    pub fn outside_tolerance(&self) -> u64 {
        self.outside
    }
}

/// The receiving half of one RTP stream: RFC 3550 A.1, A.3, A.8 and LSR/DLSR.
#[derive(Debug, Clone)]
pub struct Receiver {
    source: Option<Source>,
    last_sr: Option<(u32, Instant)>,
    last_packet_at: Option<Instant>,
    gaps: GapStats,
}

/// Per-SSRC state, restarted when the SSRC changes.
#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: Option<u16>,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Bit i set: sequence `max_seq - i` received (duplicate detection).
    recent: u64,
    duplicates: u64,
    reordered: u64,
    /// Reference instant for arrival times in timestamp units.
    epoch: Instant,
    last_timestamp: u32,
    transit: Option<i32>,
    /// Jitter × 16, as in A.8's integer form.
    jitter_q4: u64,
}

impl Source {
    fn new(ssrc: u32, seq: u16, now: Instant, timestamp: u32) -> Self {
        let mut source = Self {
            ssrc,
            max_seq: seq,
            cycles: 0,
            base_seq: u32::from(seq),
            bad_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            recent: 0,
            duplicates: 0,
            reordered: 0,
            epoch: now,
            last_timestamp: timestamp,
            transit: None,
            jitter_q4: 0,
        };
        source.init_seq(seq);
        source
    }

    /// A.1 init_seq.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.recent = 1;
        // A.1 counts the packet that (re)started the stream.
        self.received = 1;
    }

    /// A.1 update_seq plus duplicate detection.
    fn update_seq(&mut self, seq: u16) -> Arrival {
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta == 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
            self.recent = if udelta >= 64 {
                1
            } else {
                (self.recent << udelta) | 1
            };
            self.received = self.received.wrapping_add(1);
            self.bad_seq = None;
            return Arrival::InOrder { gap: udelta - 1 };
        }
        if udelta <= u16::MAX - MAX_MISORDER + 1 {
            if self.bad_seq == Some(seq) {
                // Two sequential packets after a jump: the source restarted (A.1).
                self.init_seq(seq);
                return Arrival::Resync;
            }
            self.bad_seq = Some(seq.wrapping_add(1));
            return Arrival::Jump;
        }
        let behind = self.max_seq.wrapping_sub(seq);
        if behind < 64 {
            let bit = 1u64 << behind;
            if self.recent & bit != 0 {
                self.duplicates += 1;
                return Arrival::Duplicate;
            }
            self.recent |= bit;
        }
        self.received = self.received.wrapping_add(1);
        self.reordered += 1;
        Arrival::Late
    }

    /// A.8: interarrival jitter, skipping packets that repeat the previous timestamp (RFC
    /// 4733 event updates carry the event's start time, not their sampling instant).
    fn update_jitter(&mut self, now: Instant, timestamp: u32, first: bool) {
        let repeat = timestamp == self.last_timestamp && !first;
        self.last_timestamp = timestamp;
        if repeat {
            return;
        }
        let elapsed = now.saturating_duration_since(self.epoch);
        let arrival = (elapsed.as_nanos() * u128::from(CLOCK_RATE) / 1_000_000_000) as u32;
        let transit = arrival.wrapping_sub(timestamp) as i32;
        if let Some(previous) = self.transit {
            let d = u64::from(transit.wrapping_sub(previous).unsigned_abs());
            // J += (|D| - J) / 16, kept × 16 as in A.8: jitter += d - ((jitter + 8) >> 4).
            self.jitter_q4 = (self.jitter_q4 + d).saturating_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }
}

impl Default for Receiver {
    fn default() -> Self {
        Self::new()
    }
}

impl Receiver {
    /// Nominal gap between packets for [`Receiver::gaps`].
    pub const NOMINAL_GAP: Duration = FRAME_DURATION;
    /// Tolerance for [`Receiver::gaps`] (20 ± 2 ms).
    pub const GAP_TOLERANCE: Duration = Duration::from_millis(2);

    /// A receiver that has seen nothing. Probation (A.1 MIN_SEQUENTIAL) is off: the first
    /// packet is accepted, as suits a unicast stream whose peer SDP announced.
    pub fn new() -> Self {
        Self {
            source: None,
            last_sr: None,
            last_packet_at: None,
            gaps: GapStats::new(Self::NOMINAL_GAP, Self::GAP_TOLERANCE),
        }
    }

    /// Accounts for one received packet (after [`Packet::parse`](super::Packet::parse)).
    pub fn on_packet(&mut self, now: Instant, header: &Header) -> Arrival {
        if let Some(last) = self.last_packet_at {
            self.gaps.record(now.saturating_duration_since(last));
        }
        self.last_packet_at = Some(now);
        let arrival = match &mut self.source {
            Some(source) if source.ssrc == header.ssrc => source.update_seq(header.sequence),
            slot => {
                let changed = slot.is_some();
                *slot = Some(Source::new(
                    header.ssrc,
                    header.sequence,
                    now,
                    header.timestamp,
                ));
                self.last_sr = None;
                if changed {
                    Arrival::SourceChanged
                } else {
                    Arrival::InOrder { gap: 0 }
                }
            }
        };
        if let Some(source) = &mut self.source {
            match arrival {
                Arrival::Duplicate | Arrival::Jump => {}
                Arrival::SourceChanged | Arrival::Resync => {
                    source.update_jitter(now, header.timestamp, true)
                }
                Arrival::InOrder { .. } | Arrival::Late => {
                    let first = source.transit.is_none();
                    source.update_jitter(now, header.timestamp, first);
                }
            }
        }
        arrival
    }

    /// Records an SR from the peer for LSR/DLSR (RFC 3550 §6.4.1).
    pub fn on_sender_report(&mut self, now: Instant, info: &SenderInfo) {
        self.last_sr = Some((ntp_middle(info.ntp_timestamp), now));
    }

    /// A report block for an SR/RR sent at `now` (RFC 3550 A.3), or `None` before the
    /// first packet. Updates the "prior" counters, so call it once per report.
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => (lsr, dlsr_units(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        let cumulative_lost = self.lost()?;
        let jitter = self.jitter();
        let source = self.source.as_mut()?;
        let expected = source.expected();
        let expected_interval = expected.wrapping_sub(source.expected_prior);
        source.expected_prior = expected;
        let received_interval = source.received.wrapping_sub(source.received_prior);
        source.received_prior = source.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        Some(ReportBlock {
            ssrc: source.ssrc,
            fraction_lost,
            cumulative_lost,
            highest_seq: source.extended_max(),
            jitter,
            lsr,
            dlsr,
        })
    }

    /// The SSRC being received.
    pub fn ssrc(&self) -> Option<u32> {
        self.source.as_ref().map(|s| s.ssrc)
    }

    /// Packets received, duplicates excluded.
    pub fn received(&self) -> u32 {
        self.source.as_ref().map_or(0, |s| s.received)
    }

    /// Packets expected from the sequence numbers (A.3).
    pub fn expected(&self) -> u32 {
        self.source.as_ref().map_or(0, Source::expected)
    }

    /// Cumulative packets lost, clamped to the 24-bit signed RTCP field (A.3).
    pub fn lost(&self) -> Option<i32> {
        let s = self.source.as_ref()?;
        let lost = i64::from(s.expected()) - i64::from(s.received);
        Some(lost.clamp(-0x80_0000, 0x7F_FFFF) as i32)
    }

    /// Duplicate packets seen.
    pub fn duplicates(&self) -> u64 {
        self.source.as_ref().map_or(0, |s| s.duplicates)
    }

    /// Reordered (late) packets seen.
    pub fn reordered(&self) -> u64 {
        self.source.as_ref().map_or(0, |s| s.reordered)
    }

    /// Interarrival jitter in timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        self.source
            .as_ref()
            .map_or(0, |s| u32::try_from(s.jitter_q4 >> 4).unwrap_or(u32::MAX))
    }

    /// Interarrival jitter as a duration.
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_micros(u64::from(self.jitter()) * 1_000_000 / u64::from(CLOCK_RATE))
    }

    /// When the last packet (of any kind) arrived: the driver's inactivity timeout is
    /// `last_packet_at + timeout`.
    pub fn last_packet_at(&self) -> Option<Instant> {
        self.last_packet_at
    }

    /// Gaps between consecutive arrivals, judged against 20 ± 2 ms.
    pub fn gaps(&self) -> &GapStats {
        &self.gaps
    }
}

/// Nominal RTCP report interval: RFC 3550's 5 s minimum.
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);

/// One randomized RTCP interval: [`RTCP_INTERVAL`] × a uniform factor in [0.5, 1.5).
///
/// This simplifies RFC 3550 §6.3.1: for a two-party G.711 call (two members, RTCP at 5 %
/// of ~80 kbit/s) the computed interval is below the 5 s minimum, so Tmin governs and the
/// bandwidth terms drop out. We skip timer reconsideration and its e − 3/2 compensation
/// (§6.3.3), which exist for large, changing groups.
pub fn rtcp_interval<R: rand::Rng + ?Sized>(rng: &mut R) -> Duration {
    RTCP_INTERVAL.mul_f64(rng.random_range(0.5..1.5))
}

/// When to send the next RTCP report, as a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpTimer {
    next: Instant,
}

impl RtcpTimer {
    /// The first report goes after half a randomized interval (RFC 3550 §6.2 allows half
    /// the minimum for the first report).
    pub fn new<R: rand::Rng + ?Sized>(now: Instant, rng: &mut R) -> Self {
        Self {
            next: now + rtcp_interval(rng) / 2,
        }
    }

    /// When the next report is due.
    pub fn next_deadline(&self) -> Instant {
        self.next
    }

    /// Whether a report is due at `now`; if so, schedules the following one from `now`.
    pub fn poll<R: rand::Rng + ?Sized>(&mut self, now: Instant, rng: &mut R) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + rtcp_interval(rng);
        true
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn header(sequence: u16, timestamp: u32) -> Header {
        Header {
            marker: false,
            payload_type: 0,
            sequence,
            timestamp,
            ssrc: 42,
        }
    }

    #[test]
    fn packets_are_due_every_20_ms_from_the_start_without_drift() {
        let t0 = Instant::now();
        let mut s = Sender::new(7, 8, 65534, 0xFFFF_FF00, t0);
        assert_eq!(s.next_due(), t0);
        let first = s.poll(t0, 160).expect("slot 0 is due at start");
        assert!(first.marker);
        assert_eq!(
            (first.sequence, first.timestamp, first.payload_type),
            (65534, 0xFFFF_FF00, 8)
        );
        assert_eq!(s.poll(t0 + 19 * MS, 160), None, "slot 1 is not due yet");
        // The driver wakes 1 ms late each time; the schedule stays on the 20 ms grid.
        for n in 1..=100u32 {
            let due = t0 + 20 * MS * n;
            assert_eq!(s.next_due(), due);
            let h = s.poll(due + MS, 160).expect("due");
            assert!(!h.marker);
            assert_eq!(h.sequence, 65534u16.wrapping_add(n as u16));
            assert_eq!(h.timestamp, 0xFFFF_FF00u32.wrapping_add(160 * n));
            assert_eq!(s.poll(due + MS, 160), None);
        }
        assert_eq!(
            (s.packet_count(), s.octet_count(), s.skipped_slots()),
            (101, 16160, 0)
        );
    }

    #[test]
    fn a_late_driver_catches_up_at_most_three_packets_then_skips() {
        let t0 = Instant::now();
        let mut s = Sender::new(7, 0, 100, 1000, t0);
        s.poll(t0, 160).expect("slot 0");
        // 50 ms late for slot 1: slots 1, 2, 3 are due (3 ≤ MAX_CATCH_UP): all sent.
        let late = t0 + 70 * MS;
        let burst: Vec<_> = std::iter::from_fn(|| s.poll(late, 160)).collect();
        assert_eq!(
            burst.iter().map(|h| h.timestamp).collect::<Vec<_>>(),
            [1160, 1320, 1480]
        );
        // Stalled 200 ms: slots 4..=14 due, only the last 3 go out, with the marker.
        let stalled = t0 + 290 * MS;
        let burst: Vec<_> = std::iter::from_fn(|| s.poll(stalled, 160)).collect();
        assert_eq!(burst.len(), 3);
        assert!(burst[0].marker && !burst[1].marker);
        assert_eq!(burst[0].timestamp, 1000 + 12 * 160);
        assert_eq!(
            burst.iter().map(|h| h.sequence).collect::<Vec<_>>(),
            [104, 105, 106]
        );
        assert_eq!(s.skipped_slots(), 8);
        assert_eq!(s.next_due(), t0 + 300 * MS);
    }

    #[test]
    fn event_packets_take_sequence_numbers_but_not_audio_slots() {
        let t0 = Instant::now();
        let mut s = Sender::new(7, 0, 10, 0, t0);
        s.poll(t0, 160).expect("slot 0");
        let ts = s.timestamp_at(t0 + 25 * MS);
        assert_eq!(ts, 200);
        let e = s.event_header(101, ts, true, 4);
        assert_eq!(
            (e.sequence, e.payload_type, e.marker, e.timestamp),
            (11, 101, true, 200)
        );
        let a = s.poll(t0 + 40 * MS, 160).expect("slot 1 then 2");
        assert_eq!((a.sequence, a.timestamp, a.marker), (12, 160, false));
        let info = s.sender_info(t0 + 1000 * MS, std::time::UNIX_EPOCH);
        assert_eq!(
            (info.rtp_timestamp, info.packet_count, info.octet_count),
            (8000, 3, 324)
        );
    }

    #[test]
    fn in_order_stream_has_no_loss_and_tracks_gaps() {
        let t0 = Instant::now();
        let mut r = Receiver::new();
        for n in 0..50u16 {
            let arrival = r.on_packet(
                t0 + 20 * MS * u32::from(n),
                &header(n.wrapping_add(65530), 160 * u32::from(n)),
            );
            assert_eq!(arrival, Arrival::InOrder { gap: 0 });
        }
        assert_eq!((r.expected(), r.received(), r.lost()), (50, 50, Some(0)));
        assert_eq!(r.jitter(), 0);
        let gaps = r.gaps();
        assert_eq!(
            (gaps.count(), gaps.min(), gaps.max(), gaps.mean()),
            (49, Some(20 * MS), Some(20 * MS), Some(20 * MS))
        );
        assert_eq!(gaps.outside_tolerance(), 0);
        let block = r.report_block(t0 + 1000 * MS).expect("has a source");
        assert_eq!(block.highest_seq, 65536 + 43, "one wrap, max seq 43");
        assert_eq!((block.fraction_lost, block.cumulative_lost), (0, 0));
    }

    #[test]
    fn loss_duplicates_and_reordering_are_counted() {
        let t0 = Instant::now();
        let mut r = Receiver::new();
        let seqs = [1u16, 2, 4, 3, 3, 6, 7, 7, 10];
        let arrivals: Vec<_> = seqs
            .iter()
            .map(|&s| r.on_packet(t0, &header(s, u32::from(s) * 160)))
            .collect();
        use Arrival::*;
        assert_eq!(
            arrivals,
            [
                InOrder { gap: 0 },
                InOrder { gap: 0 },
                InOrder { gap: 1 },
                Late,
                Duplicate,
                InOrder { gap: 1 },
                InOrder { gap: 0 },
                Duplicate,
                InOrder { gap: 2 }
            ]
        );
        assert_eq!(
            (r.expected(), r.received(), r.duplicates(), r.reordered()),
            (10, 7, 2, 1)
        );
        let block = r.report_block(t0).expect("source");
        assert_eq!(block.cumulative_lost, 3);
        assert_eq!(block.fraction_lost, (3 * 256 / 10) as u8);
        // Next interval: 5 expected, 5 received.
        for s in 11..=15 {
            r.on_packet(t0, &header(s, u32::from(s) * 160));
        }
        assert_eq!(r.report_block(t0).expect("source").fraction_lost, 0);
    }

    #[test]
    fn a_sequence_jump_is_confirmed_by_the_next_packet_before_resync() {
        let t0 = Instant::now();
        let mut r = Receiver::new();
        r.on_packet(t0, &header(100, 0));
        assert_eq!(r.on_packet(t0, &header(20_000, 160)), Arrival::Jump);
        assert_eq!(
            r.on_packet(t0, &header(101, 320)),
            Arrival::InOrder { gap: 0 }
        );
        assert_eq!(r.on_packet(t0, &header(30_000, 480)), Arrival::Jump);
        assert_eq!(r.on_packet(t0, &header(30_001, 640)), Arrival::Resync);
        assert_eq!((r.expected(), r.received()), (1, 1));
        let other = Header {
            ssrc: 43,
            ..header(5, 0)
        };
        assert_eq!(r.on_packet(t0, &other), Arrival::SourceChanged);
        assert_eq!(r.ssrc(), Some(43));
    }

    #[test]
    fn jitter_follows_rfc_3550_a8() {
        let t0 = Instant::now();
        let mut r = Receiver::new();
        // Every other packet arrives 10 ms (80 units) late: |D| alternates 80, 80, …
        let mut expected_q4: u64 = 0;
        for n in 0..20u32 {
            let late = if n % 2 == 1 { 10 * MS } else { Duration::ZERO };
            r.on_packet(t0 + 20 * MS * n + late, &header(n as u16, 160 * n));
            if n > 0 {
                expected_q4 = expected_q4 + 80 - ((expected_q4 + 8) >> 4);
            }
        }
        assert_eq!(u64::from(r.jitter()), expected_q4 >> 4);
        assert!(r.jitter() > 30, "jitter {}", r.jitter());
        // RFC 4733 updates repeat the timestamp and leave jitter alone.
        let before = r.jitter();
        r.on_packet(t0 + 500 * MS, &header(20, 160 * 19));
        assert_eq!(r.jitter(), before);
    }

    #[test]
    fn lsr_and_dlsr_come_from_the_last_sender_report() {
        let t0 = Instant::now();
        let mut r = Receiver::new();
        r.on_packet(t0, &header(1, 0));
        let info = SenderInfo {
            ntp_timestamp: 0x0001_2345_6789_0000,
            ..SenderInfo::default()
        };
        r.on_sender_report(t0, &info);
        let block = r.report_block(t0 + 1500 * MS).expect("source");
        assert_eq!((block.lsr, block.dlsr), (0x2345_6789, 0x0001_8000));
    }

    #[test]
    fn gap_stats_count_gaps_outside_the_tolerance() {
        let t0 = Instant::now();
        let at = [0u64, 20, 41, 60, 85, 100].map(|ms| t0 + Duration::from_millis(ms));
        let g = GapStats::from_instants(20 * MS, 2 * MS, &at);
        assert_eq!(
            (g.count(), g.min(), g.max(), g.mean()),
            (5, Some(15 * MS), Some(25 * MS), Some(20 * MS))
        );
        assert_eq!(g.outside_tolerance(), 2);
        assert_eq!(GapStats::new(20 * MS, 2 * MS).mean(), None);
    }

    #[test]
    fn rtcp_intervals_are_randomized_around_five_seconds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let i = rtcp_interval(&mut rng);
            assert!((2500 * MS..7500 * MS).contains(&i), "{i:?}");
        }
        let t0 = Instant::now();
        let mut timer = RtcpTimer::new(t0, &mut rng);
        let first = timer.next_deadline();
        assert!(first <= t0 + 3750 * MS && first >= t0 + 1250 * MS);
        assert!(!timer.poll(first - MS, &mut rng));
        assert!(timer.poll(first, &mut rng));
        assert!(timer.next_deadline() >= first + 2500 * MS);
    }
}
