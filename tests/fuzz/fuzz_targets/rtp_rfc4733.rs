//! Arbitrary bytes into `mediacore::rtp::packet` (RFC 3550 §5.1) and
//! `mediacore::dtmf::rfc4733` (RFC 4733 telephone-events).
//!
//! - `Packet::parse` on the whole input; a parsed packet is written again with
//!   `Header::write_packet` and must parse to the same header and payload (no CSRCs,
//!   extension or padding: the writer drops them);
//! - `EventPayload::parse` on the input and on a parsed packet's payload; `to_bytes` and
//!   `parse` again must give the same event;
//! - the input cut into 9-byte packets (1 byte of milliseconds since the previous one,
//!   4 bytes RTP timestamp, 4 bytes event payload) into one `Receiver`, with `on_tick`
//!   before each: whatever arrives, `Begin` and `End` alternate, an `End` is for the digit
//!   of the `Begin` before it, `active_digit` agrees, and a tick 1 s after the last packet
//!   ends any event still open;
//! - the first 4 bytes pick a digit, duration and volume for `DigitPackets` (the sender
//!   schedule); played into a fresh `Receiver`, it must give exactly one `Begin` and one
//!   `End` of that digit with the full duration, not timed out.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mediacore::dtmf::rfc4733::{DigitPackets, DtmfEvent, EventPayload, Receiver, END_PACKETS};
use mediacore::rtp::packet::{Header, Packet};

const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

fn event_roundtrip(bytes: &[u8]) {
    let Ok(event) = EventPayload::parse(bytes) else {
        assert!(bytes.len() < EventPayload::LEN);
        return;
    };
    let again = EventPayload::parse(&event.to_bytes());
    assert_eq!(
        again,
        Ok(event),
        "parse -> to_bytes -> parse changed the event"
    );
}

fn packet_roundtrip(data: &[u8]) {
    let Ok(packet) = Packet::parse(data) else {
        return;
    };
    assert_eq!(packet.csrcs().count(), packet.csrc.len() / 4);
    let mut out = vec![0u8; Header::LEN + packet.payload.len()];
    let len = packet
        .header
        .write_packet(packet.payload, &mut out)
        .expect("a parsed header is writable");
    assert_eq!(len, out.len());
    let again = Packet::parse(&out).expect("a written packet parses");
    assert_eq!(again.header, packet.header);
    assert_eq!(again.payload, packet.payload);
    assert_eq!(
        (again.csrc, again.extension, again.padding),
        (&[][..], None, 0)
    );
    event_roundtrip(packet.payload);
}

/// Checks that `events` continue a well-formed Begin/End sequence; `open` is the digit
/// of the `Begin` not yet ended.
fn check_sequence(open: &mut Option<char>, events: &[DtmfEvent]) {
    for event in events {
        match *event {
            DtmfEvent::Begin { digit } => {
                assert_eq!(
                    *open, None,
                    "Begin {digit:?} while {open:?} is active: {events:?}"
                );
                *open = Some(digit);
            }
            DtmfEvent::End { digit, .. } => {
                assert_eq!(
                    *open,
                    Some(digit),
                    "End {digit:?} without its Begin: {events:?}"
                );
                *open = None;
            }
        }
    }
}

fn receiver_sequence(data: &[u8]) {
    let mut receiver = Receiver::new();
    let mut now = Instant::now();
    let mut open = None;
    let mut out = Vec::new();
    for chunk in data.chunks_exact(9) {
        now += Duration::from_millis(u64::from(chunk[0]));
        receiver.on_tick(now, &mut out);
        check_sequence(&mut open, &out);
        out.clear();
        let timestamp = u32::from_be_bytes([chunk[1], chunk[2], chunk[3], chunk[4]]);
        let payload = EventPayload::parse(&chunk[5..9]).expect("4 bytes");
        receiver.on_packet(now, timestamp, &payload, &mut out);
        assert!(out.len() <= 3, "{out:?}");
        check_sequence(&mut open, &out);
        out.clear();
        assert_eq!(receiver.active_digit(), open);
    }
    receiver.on_tick(now + Duration::from_secs(1), &mut out);
    check_sequence(&mut open, &out);
    assert_eq!(
        open, None,
        "an event is still open 1 s after the last packet"
    );
    assert_eq!(receiver.active_digit(), None);
    assert_eq!(receiver.next_deadline(), None);
}

fn sender_to_receiver(data: &[u8]) {
    let [d, ms_hi, ms_lo, volume, ts @ ..] = data else {
        return;
    };
    let digit = char::from(DIGITS[usize::from(d % 16)]);
    // Mostly within the 8.19 s the 16-bit duration field allows, sometimes just past it.
    let duration = Duration::from_millis(u64::from(u16::from_be_bytes([*ms_hi, *ms_lo]) % 8300));
    let Ok(packets) = DigitPackets::new(digit, duration, *volume) else {
        return;
    };
    let total = packets.total_duration();
    let timestamp = match ts {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    };
    let t0 = Instant::now();
    let mut receiver = Receiver::new();
    let mut out = Vec::new();
    let mut count = 0;
    let mut ends = 0;
    for (i, planned) in packets.enumerate() {
        assert_eq!(planned.marker, i == 0);
        count += 1;
        ends += usize::from(planned.payload.end);
        let payload = EventPayload::parse(&planned.payload.to_bytes()).expect("4 bytes");
        assert_eq!(payload, planned.payload);
        receiver.on_packet(t0 + planned.offset, timestamp, &payload, &mut out);
    }
    assert_eq!(ends, END_PACKETS);
    assert!(count >= END_PACKETS);
    assert_eq!(
        out,
        [
            DtmfEvent::Begin { digit },
            DtmfEvent::End {
                digit,
                duration: Duration::from_micros(u64::from(total) * 125),
                timed_out: false,
            },
        ],
        "{digit:?} for {duration:?} at volume {volume}"
    );
}

fuzz_target!(|data: &[u8]| {
    packet_roundtrip(data);
    event_roundtrip(data);
    receiver_sequence(data);
    sender_to_receiver(data);
});
