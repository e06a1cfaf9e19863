//! Arbitrary packet arrivals on a call's RTP port: which ones are the far end's
//! (`mediacore::rtp::source::Source`) and, for those, the receiver statistics
//! (`rtp::session::Receiver::on_packet`: loss, jitter, sequence wrap). Each arrival is 8
//! bytes: milliseconds since the last, the sender (one of four addresses, the first the
//! SDP's), SSRC (one of four), sequence number (2 bytes), timestamp (2 bytes). What must
//! hold: nothing panics; once latched, an accepted packet without a new latch comes from the
//! latched address; a new latch only after the latched address was quiet for `QUIET`.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mediacore::rtp::session::Receiver;
use mediacore::rtp::source::{Source, Verdict, QUIET};
use mediacore::rtp::Header;

fuzz_target!(|data: &[u8]| {
    let addrs: [SocketAddr; 4] = [
        "198.51.100.7:30000".parse().unwrap(),
        "198.51.100.7:40000".parse().unwrap(),
        "203.0.113.66:30000".parse().unwrap(),
        "10.0.0.5:30000".parse().unwrap(),
    ];
    let mut source = Source::new(addrs[0]);
    let mut receiver = Receiver::new();
    let mut now = Instant::now();
    let mut last_accept: Option<Instant> = None;
    for a in data.chunks_exact(8) {
        now += Duration::from_millis(u64::from(a[0]));
        let from = addrs[usize::from(a[1] % 4)];
        let ssrc = u32::from(a[2] % 4);
        let sequence = u16::from_be_bytes([a[3], a[4]]);
        let timestamp = u32::from(u16::from_be_bytes([a[5], a[6]])) * 160;
        let before = source.latched();
        match source.on_packet(now, from, ssrc, sequence) {
            Verdict::Accept { latched: None } => {
                assert_eq!(before, Some(from), "accepted from an address not latched");
            }
            Verdict::Accept { latched: Some(at) } => {
                assert_eq!(at, from);
                if let (Some(_), Some(last)) = (before, last_accept) {
                    assert!(
                        now.duration_since(last) >= QUIET || before == Some(from),
                        "re-latched while the old source spoke"
                    );
                }
            }
            Verdict::Drop => continue,
        }
        last_accept = Some(now);
        let header = Header {
            marker: a[7] & 1 == 1,
            payload_type: 8,
            sequence,
            timestamp,
            ssrc,
        };
        let _ = receiver.on_packet(now, &header);
    }
});
