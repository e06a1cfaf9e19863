//! Reading RTP out of a classic pcap file (what `dumpcap -P` writes): per stream, how
//! many packets, how many missing by sequence number, and how regular the 20 ms pacing
//! was. Used by the media benchmark on captures of hundreds of thousands of packets,
//! where running tshark over them would cost more than the measurement.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// What one direction of many RTP streams looked like.
#[derive(Debug, Default, Clone, Copy)]
pub struct RtpSummary {
    /// Streams (SSRCs) seen.
    pub streams: usize,
    /// RTP packets.
    pub packets: u64,
    /// Sequence numbers missing inside each stream.
    pub lost: u64,
    /// Inter-arrival gaps measured (audio packets only).
    pub gaps: u64,
    /// Gaps outside 20 ± 2 ms.
    pub off_pace: u64,
    /// The largest gap, in milliseconds.
    pub max_gap_ms: f64,
}

struct Stream {
    last_seq: u16,
    last_time: f64,
}

/// Summarizes the RTP sent by `src` in `pcap` (Ethernet, IPv4, UDP; RTCP and SIP skipped).
pub fn summarize(pcap: &Path, src: Ipv4Addr) -> std::io::Result<RtpSummary> {
    let data = std::fs::read(pcap)?;
    let mut sum = RtpSummary::default();
    if data.len() < 24 {
        return Ok(sum);
    }
    // The magic number says the byte order and whether timestamps are µs or ns.
    let magic = [data[0], data[1], data[2], data[3]];
    let little = matches!(magic, [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]);
    let nanos = matches!(magic, [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]);
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let secs = f64::from(u32_at(&data[at..]));
        let frac = f64::from(u32_at(&data[at + 4..]));
        let caplen = u32_at(&data[at + 8..]) as usize;
        let time = secs + if nanos { frac / 1e9 } else { frac / 1e6 };
        let pkt = &data[(at + 16).min(data.len())..(at + 16 + caplen).min(data.len())];
        at += 16 + caplen;
        // Ethernet (14) + IPv4 (ihl) + UDP (8) + RTP (12).
        if pkt.len() < 14 + 20 + 8 + 12 || pkt[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &pkt[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17
            || Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]) != src
            || ip.len() < ihl + 8 + 12
        {
            continue;
        }
        let rtp = &ip[ihl + 8..];
        let pt = rtp[1] & 0x7f;
        if rtp[0] >> 6 != 2 || (72..=95).contains(&pt) {
            continue; // not RTP, or RTCP
        }
        let seq = u16::from_be_bytes([rtp[2], rtp[3]]);
        let ssrc = u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]);
        sum.packets += 1;
        match streams.get_mut(&ssrc) {
            None => {
                streams.insert(
                    ssrc,
                    Stream {
                        last_seq: seq,
                        last_time: time,
                    },
                );
            }
            Some(s) => {
                let step = seq.wrapping_sub(s.last_seq);
                if step == 0 || step > 0x8000 {
                    continue; // duplicate or reordered
                }
                sum.lost += u64::from(step - 1);
                if step == 1 && pt < 96 {
                    let gap = (time - s.last_time) * 1000.0;
                    sum.gaps += 1;
                    if !(18.0..=22.0).contains(&gap) {
                        sum.off_pace += 1;
                    }
                    sum.max_gap_ms = sum.max_gap_ms.max(gap);
                }
                s.last_seq = seq;
                s.last_time = time;
            }
        }
    }
    sum.streams = streams.len();
    Ok(sum)
}
