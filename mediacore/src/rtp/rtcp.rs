//! Pure: RTCP compound packets (RFC 3550 §6.4.1 SR, §6.4.2 RR, §6.5 SDES CNAME, §6.6 BYE),
//! with the header validity checks of RFC 3550 Appendix A.2, and NTP timestamps (§4).
//!
//! Parsing validates the whole compound first ([`Compound::parse`]), then iterates over
//! borrowed views that cannot fail. Packet types we do not know (XR, APP, RTPFB …) are
//! skipped by their length and surfaced as [`RtcpPacket::Other`]. Building writes into a
//! caller buffer through [`CompoundWriter`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Packet type: sender report.
pub const PT_SR: u8 = 200;
/// Packet type: receiver report.
pub const PT_RR: u8 = 201;
/// Packet type: source description.
pub const PT_SDES: u8 = 202;
/// Packet type: goodbye.
pub const PT_BYE: u8 = 203;
/// SDES item type CNAME (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

const HEADER_LEN: usize = 4;
const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// Malformed RTCP from the wire: the peer's fault; drop the whole compound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes left than an RTCP header.
    #[error("truncated RTCP header at byte {offset}: {len} bytes in the compound")]
    Truncated {
        /// Offset of the packet in the compound.
        offset: usize,
        /// Compound length.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTCP version {version} at byte {offset}, expected 2")]
    Version {
        /// Offset of the packet in the compound.
        offset: usize,
        /// The two version bits.
        version: u8,
    },
    /// The length field runs past the end of the compound.
    #[error("RTCP packet at byte {offset} claims {claimed} bytes, only {available} left")]
    Length {
        /// Offset of the packet in the compound.
        offset: usize,
        /// (length field + 1) × 4.
        claimed: usize,
        /// Bytes left in the compound.
        available: usize,
    },
    /// The P bit is set on a packet that is not the last, or the count is impossible.
    #[error("RTCP padding invalid in packet at byte {offset}")]
    Padding {
        /// Offset of the packet in the compound.
        offset: usize,
    },
    /// The body is too short for the report blocks, SSRCs or items its count announces.
    #[error("RTCP packet type {packet_type} at byte {offset}: count {count} does not fit in {len} bytes")]
    Count {
        /// Offset of the packet in the compound.
        offset: usize,
        /// The packet type.
        packet_type: u8,
        /// The 5-bit count field.
        count: u8,
        /// Body length.
        len: usize,
    },
    /// An empty compound.
    #[error("empty RTCP compound")]
    Empty,
}

/// A packet cannot be built as asked: the caller's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The output buffer is too small.
    #[error("RTCP output buffer full: {len} bytes, need {need}")]
    BufferTooSmall {
        /// Buffer length.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// More than 31 report blocks or BYE sources (5-bit count).
    #[error("{count} entries do not fit the 5-bit RTCP count")]
    TooMany {
        /// Entries given.
        count: usize,
    },
    /// CNAME or BYE reason longer than 255 bytes.
    #[error("RTCP text of {len} bytes exceeds 255")]
    TextTooLong {
        /// Text length.
        len: usize,
    },
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// SSRC_n: the source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost, 24-bit signed (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles << 16 | max seq).
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// LSR: middle 32 bits of the NTP timestamp of the last SR received, 0 if none.
    pub lsr: u32,
    /// DLSR: delay since that SR, in 1/65536 s, 0 if none.
    pub dlsr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8]) -> Self {
        // Callers pass exactly REPORT_BLOCK_LEN bytes (chunks_exact).
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let lost24 = word(4) & 0x00FF_FFFF;
        // Sign-extend the 24-bit two's-complement value.
        let cumulative_lost = ((lost24 << 8) as i32) >> 8;
        Self {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost,
            highest_seq: word(8),
            jitter: word(12),
            lsr: word(16),
            dlsr: word(20),
        }
    }

    fn write(&self, out: &mut [u8]) {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4..8].copy_from_slice(&((u32::from(self.fraction_lost) << 24) | lost).to_be_bytes());
        out[8..12].copy_from_slice(&self.highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.lsr.to_be_bytes());
        out[20..24].copy_from_slice(&self.dlsr.to_be_bytes());
    }
}

/// The sender info of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP timestamp (64-bit, seconds since 1900 in 32.32 fixed point).
    pub ntp_timestamp: u64,
    /// The RTP timestamp corresponding to the same instant.
    pub rtp_timestamp: u32,
    /// Sender's packet count.
    pub packet_count: u32,
    /// Sender's payload octet count.
    pub octet_count: u32,
}

/// Report blocks of an SR or RR, parsed lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a> {
    raw: &'a [u8],
}

impl<'a> ReportBlocks<'a> {
    /// The blocks in order.
    pub fn iter(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        self.raw
            .chunks_exact(REPORT_BLOCK_LEN)
            .map(ReportBlock::parse)
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.raw.len() / REPORT_BLOCK_LEN
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// One SDES chunk: an SSRC and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// SSRC/CSRC the items describe.
    pub ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The items as (type, text), without the terminating null item.
    pub fn items(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let mut rest = self.items;
        std::iter::from_fn(move || {
            let (&kind, after) = rest.split_first()?;
            if kind == 0 {
                return None;
            }
            let (&len, after) = after.split_first()?;
            let text = after.get(..usize::from(len))?;
            rest = after.get(usize::from(len)..)?;
            Some((kind, text))
        })
    }

    /// The CNAME item, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items()
            .find(|&(kind, _)| kind == SDES_CNAME)
            .map(|(_, text)| text)
    }
}

/// One packet of a validated compound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// SR: sender info and reports on the sources it receives.
    SenderReport {
        /// Sender SSRC.
        ssrc: u32,
        /// Sender info.
        info: SenderInfo,
        /// Reception report blocks.
        reports: ReportBlocks<'a>,
    },
    /// RR: reports from a participant that does not send.
    ReceiverReport {
        /// Reporter SSRC.
        ssrc: u32,
        /// Reception report blocks.
        reports: ReportBlocks<'a>,
    },
    /// SDES chunks (usually one, with a CNAME).
    SourceDescription {
        /// Chunk count.
        count: u8,
        /// The chunks, validated; see [`RtcpPacket::sdes_chunks`].
        raw: &'a [u8],
    },
    /// BYE: these sources leave.
    Bye {
        /// The SSRCs, 4 bytes each; see [`RtcpPacket::bye_ssrcs`].
        ssrcs: &'a [u8],
        /// Reason for leaving, if given.
        reason: Option<&'a [u8]>,
    },
    /// A packet type we do not interpret (APP, XR, feedback …).
    Other {
        /// The packet type.
        packet_type: u8,
        /// The 5-bit count/subtype field.
        count: u8,
        /// Body after the 4-byte header, padding removed.
        body: &'a [u8],
    },
}

impl<'a> RtcpPacket<'a> {
    /// The SDES chunks, if this is an SDES packet (empty otherwise).
    pub fn sdes_chunks(&self) -> impl Iterator<Item = SdesChunk<'a>> + 'a {
        let (count, mut rest) = match *self {
            Self::SourceDescription { count, raw } => (count, raw),
            _ => (0, &[][..]),
        };
        (0..count).map_while(move |_| {
            let (chunk, next) = split_sdes_chunk(rest)?;
            rest = next;
            Some(chunk)
        })
    }

    /// The SSRCs of a BYE packet (empty otherwise).
    pub fn bye_ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let raw = match *self {
            Self::Bye { ssrcs, .. } => ssrcs,
            _ => &[][..],
        };
        raw.chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// Splits one SDES chunk (SSRC, items, null terminator, padding to 32 bits) off `buf`.
fn split_sdes_chunk(buf: &[u8]) -> Option<(SdesChunk<'_>, &[u8])> {
    let ssrc = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?);
    let mut at = 4;
    loop {
        match *buf.get(at)? {
            0 => break,
            _ => at += 2 + usize::from(*buf.get(at + 1)?),
        }
    }
    // `at` is the null item; the chunk ends at the next multiple of 4 after it.
    let end = (at + 1).div_ceil(4) * 4;
    let next = buf.get(end..)?;
    Some((
        SdesChunk {
            ssrc,
            items: buf.get(4..at)?,
        },
        next,
    ))
}

/// A validated compound RTCP packet; iterate to get its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compound<'a> {
    buf: &'a [u8],
}

impl<'a> Compound<'a> {
    /// Validates every packet header and body length in `buf` (RFC 3550 A.2: version 2,
    /// lengths summing to the datagram, padding only in the last packet). The first packet
    /// is not required to be SR/RR, so reduced-size RTCP (RFC 5506) also parses.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.is_empty() {
            return Err(DecodeError::Empty);
        }
        let mut offset = 0;
        while offset < buf.len() {
            let (packet_type, count, body, next) = split_packet(buf, offset)?;
            check_body(offset, packet_type, count, body)?;
            offset = next;
        }
        Ok(Self { buf })
    }

    /// The packets in order.
    pub fn iter(&self) -> impl Iterator<Item = RtcpPacket<'a>> + 'a {
        let buf = self.buf;
        let mut offset = 0;
        std::iter::from_fn(move || {
            // Validated in `parse`, so this only stops at the end.
            let (packet_type, count, body, next) = split_packet(buf, offset).ok()?;
            offset = next;
            Some(view(packet_type, count, body))
        })
    }
}

/// Reads the header at `offset`: (packet type, count, body without padding, next offset).
fn split_packet(buf: &[u8], offset: usize) -> Result<(u8, u8, &[u8], usize), DecodeError> {
    let Some(h) = buf.get(offset..offset + HEADER_LEN) else {
        return Err(DecodeError::Truncated {
            offset,
            len: buf.len(),
        });
    };
    let version = h[0] >> 6;
    if version != 2 {
        return Err(DecodeError::Version { offset, version });
    }
    let has_padding = h[0] & 0x20 != 0;
    let count = h[0] & 0x1F;
    let packet_type = h[1];
    let claimed = (usize::from(u16::from_be_bytes([h[2], h[3]])) + 1) * 4;
    let available = buf.len() - offset;
    let Some(packet) = buf.get(offset..offset + claimed) else {
        return Err(DecodeError::Length {
            offset,
            claimed,
            available,
        });
    };
    let next = offset + claimed;
    let mut body = &packet[HEADER_LEN..];
    if has_padding {
        let pad = usize::from(packet.last().copied().unwrap_or(0));
        if next != buf.len() || pad == 0 || pad > body.len() {
            return Err(DecodeError::Padding { offset });
        }
        body = &body[..body.len() - pad];
    }
    Ok((packet_type, count, body, next))
}

fn check_body(offset: usize, packet_type: u8, count: u8, body: &[u8]) -> Result<(), DecodeError> {
    let bad = || DecodeError::Count {
        offset,
        packet_type,
        count,
        len: body.len(),
    };
    let n = usize::from(count);
    let fits = match packet_type {
        PT_SR => body.len() >= 4 + SENDER_INFO_LEN + n * REPORT_BLOCK_LEN,
        PT_RR => body.len() >= 4 + n * REPORT_BLOCK_LEN,
        PT_BYE => {
            let ssrcs = 4 * n;
            match body.len().cmp(&ssrcs) {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => true,
                std::cmp::Ordering::Greater => body
                    .get(ssrcs)
                    .is_some_and(|&len| body.len() > ssrcs + usize::from(len)),
            }
        }
        PT_SDES => {
            let mut rest = body;
            (0..count).all(|_| match split_sdes_chunk(rest) {
                Some((_, next)) => {
                    rest = next;
                    true
                }
                None => false,
            })
        }
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(bad())
    }
}

fn word(b: &[u8], i: usize) -> u32 {
    b.get(i..i + 4)
        .map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

fn view(packet_type: u8, count: u8, body: &[u8]) -> RtcpPacket<'_> {
    let n = usize::from(count);
    match packet_type {
        PT_SR => {
            let start = 4 + SENDER_INFO_LEN;
            RtcpPacket::SenderReport {
                ssrc: word(body, 0),
                info: SenderInfo {
                    ntp_timestamp: (u64::from(word(body, 4)) << 32) | u64::from(word(body, 8)),
                    rtp_timestamp: word(body, 12),
                    packet_count: word(body, 16),
                    octet_count: word(body, 20),
                },
                reports: ReportBlocks {
                    raw: body
                        .get(start..start + n * REPORT_BLOCK_LEN)
                        .unwrap_or_default(),
                },
            }
        }
        PT_RR => RtcpPacket::ReceiverReport {
            ssrc: word(body, 0),
            reports: ReportBlocks {
                raw: body.get(4..4 + n * REPORT_BLOCK_LEN).unwrap_or_default(),
            },
        },
        PT_SDES => RtcpPacket::SourceDescription { count, raw: body },
        PT_BYE => {
            let ssrcs = body.get(..4 * n).unwrap_or_default();
            let reason = body
                .get(4 * n)
                .and_then(|&len| body.get(4 * n + 1..4 * n + 1 + usize::from(len)));
            RtcpPacket::Bye { ssrcs, reason }
        }
        _ => RtcpPacket::Other {
            packet_type,
            count,
            body,
        },
    }
}

/// Builds a compound RTCP packet in a caller buffer, one packet per call.
#[derive(Debug)]
pub struct CompoundWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> CompoundWriter<'b> {
    /// Starts an empty compound in `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far; the compound is `&buf[..len()]`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends an SR (RFC 3550 §6.4.1).
    pub fn sender_report(
        &mut self,
        ssrc: u32,
        info: &SenderInfo,
        reports: &[ReportBlock],
    ) -> Result<(), EncodeError> {
        let count = count5(reports.len())?;
        let body_len = 4 + SENDER_INFO_LEN + reports.len() * REPORT_BLOCK_LEN;
        let body = self.start(PT_SR, count, body_len)?;
        body[0..4].copy_from_slice(&ssrc.to_be_bytes());
        body[4..12].copy_from_slice(&info.ntp_timestamp.to_be_bytes());
        body[12..16].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
        body[16..20].copy_from_slice(&info.packet_count.to_be_bytes());
        body[20..24].copy_from_slice(&info.octet_count.to_be_bytes());
        write_blocks(&mut body[24..], reports);
        Ok(())
    }

    /// Appends an RR (RFC 3550 §6.4.2).
    pub fn receiver_report(
        &mut self,
        ssrc: u32,
        reports: &[ReportBlock],
    ) -> Result<(), EncodeError> {
        let count = count5(reports.len())?;
        let body = self.start(PT_RR, count, 4 + reports.len() * REPORT_BLOCK_LEN)?;
        body[0..4].copy_from_slice(&ssrc.to_be_bytes());
        write_blocks(&mut body[4..], reports);
        Ok(())
    }

    /// Appends an SDES with one chunk holding a CNAME item (RFC 3550 §6.5.1).
    pub fn sdes_cname(&mut self, ssrc: u32, cname: &[u8]) -> Result<(), EncodeError> {
        let len =
            u8::try_from(cname.len()).map_err(|_| EncodeError::TextTooLong { len: cname.len() })?;
        // SSRC, type, length, text, then at least one null octet, padded to 32 bits.
        let body_len = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
        let body = self.start(PT_SDES, 1, body_len)?;
        body[0..4].copy_from_slice(&ssrc.to_be_bytes());
        body[4] = SDES_CNAME;
        body[5] = len;
        body[6..6 + cname.len()].copy_from_slice(cname);
        body[6 + cname.len()..].fill(0);
        Ok(())
    }

    /// Appends a BYE for `ssrcs` with an optional reason (RFC 3550 §6.6).
    pub fn bye(&mut self, ssrcs: &[u32], reason: Option<&[u8]>) -> Result<(), EncodeError> {
        let count = count5(ssrcs.len())?;
        let reason_len = match reason {
            Some(r) => {
                1 + usize::from(
                    u8::try_from(r.len()).map_err(|_| EncodeError::TextTooLong { len: r.len() })?,
                )
            }
            None => 0,
        };
        let body_len = (4 * ssrcs.len() + reason_len).div_ceil(4) * 4;
        let body = self.start(PT_BYE, count, body_len)?;
        for (chunk, ssrc) in body.chunks_exact_mut(4).zip(ssrcs) {
            chunk.copy_from_slice(&ssrc.to_be_bytes());
        }
        let at = 4 * ssrcs.len();
        body[at..].fill(0);
        if let Some(r) = reason {
            body[at] = r.len() as u8; // checked above: fits in u8
            body[at + 1..at + 1 + r.len()].copy_from_slice(r);
        }
        Ok(())
    }

    /// Finishes the compound; returns its length.
    pub fn finish(self) -> usize {
        self.len
    }

    /// Reserves header + body (a multiple of 4), writes the header, returns the body.
    fn start(
        &mut self,
        packet_type: u8,
        count: u8,
        body_len: usize,
    ) -> Result<&mut [u8], EncodeError> {
        let total = HEADER_LEN + body_len;
        let need = self.len + total;
        if need > self.buf.len() {
            return Err(EncodeError::BufferTooSmall {
                len: self.buf.len(),
                need,
            });
        }
        let words = u16::try_from(total / 4 - 1).map_err(|_| EncodeError::BufferTooSmall {
            len: self.buf.len(),
            need,
        })?;
        let packet = &mut self.buf[self.len..need];
        self.len = need;
        packet[0] = 0x80 | count;
        packet[1] = packet_type;
        packet[2..4].copy_from_slice(&words.to_be_bytes());
        Ok(&mut packet[HEADER_LEN..])
    }
}

fn count5(n: usize) -> Result<u8, EncodeError> {
    u8::try_from(n)
        .ok()
        .filter(|&c| c <= 31)
        .ok_or(EncodeError::TooMany { count: n })
}

fn write_blocks(out: &mut [u8], reports: &[ReportBlock]) {
    for (chunk, block) in out.chunks_exact_mut(REPORT_BLOCK_LEN).zip(reports) {
        block.write(chunk);
    }
}

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch.
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// The 64-bit NTP timestamp of a wall-clock time (RFC 3550 §4). Times before 1970 map to
/// the Unix epoch.
pub fn ntp_timestamp(wallclock: SystemTime) -> u64 {
    let since_unix = wallclock.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET_SECS);
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp, as carried in LSR (RFC 3550 §6.4.1).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in the 1/65536 s units of DLSR, saturating.
pub fn dlsr_units(delay: Duration) -> u32 {
    let units = (delay.as_nanos() << 16) / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// The round-trip time from a report block we received at `arrival_ntp` (RFC 3550 §6.4.1:
/// A − LSR − DLSR), or `None` if the block carries no LSR.
pub fn round_trip(arrival_ntp: u64, block: &ReportBlock) -> Option<Duration> {
    if block.lsr == 0 {
        return None;
    }
    let rtt = ntp_middle(arrival_ntp)
        .wrapping_sub(block.lsr)
        .wrapping_sub(block.dlsr);
    // Negative (clock trouble or a forged block) wraps to a huge value: refuse it.
    (rtt < 0x8000_0000).then(|| Duration::from_nanos((u64::from(rtt) * 1_000_000_000) >> 16))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 0xCAFE_BABE,
            fraction_lost: 64,
            cumulative_lost: -3,
            highest_seq: 0x0001_0005,
            jitter: 17,
            lsr: 0x1234_5678,
            dlsr: 0x0001_8000,
        }
    }

    #[test]
    fn a_compound_with_sr_sdes_and_bye_round_trips() {
        let info = SenderInfo {
            ntp_timestamp: 0xE000_0000_8000_0000,
            rtp_timestamp: 160_000,
            packet_count: 1000,
            octet_count: 160_000,
        };
        let mut buf = [0u8; 256];
        let mut w = CompoundWriter::new(&mut buf);
        w.sender_report(0x0102_0304, &info, &[block()])
            .expect("fits");
        w.sdes_cname(0x0102_0304, b"allerta@192.0.2.10")
            .expect("fits");
        w.bye(&[0x0102_0304], Some(b"hangup")).expect("fits");
        let len = w.finish();
        assert_eq!(len % 4, 0);
        let compound = Compound::parse(&buf[..len]).expect("our own compound is valid");
        let packets: Vec<_> = compound.iter().collect();
        assert_eq!(packets.len(), 3);
        let RtcpPacket::SenderReport {
            ssrc,
            info: got,
            reports,
        } = packets[0]
        else {
            panic!("first packet is {:?}", packets[0]);
        };
        assert_eq!((ssrc, got), (0x0102_0304, info));
        assert_eq!(reports.iter().collect::<Vec<_>>(), [block()]);
        let chunks: Vec<_> = packets[1].sdes_chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].ssrc, 0x0102_0304);
        assert_eq!(chunks[0].cname(), Some(&b"allerta@192.0.2.10"[..]));
        assert_eq!(packets[2].bye_ssrcs().collect::<Vec<_>>(), [0x0102_0304]);
        assert!(matches!(
            packets[2],
            RtcpPacket::Bye {
                reason: Some(b"hangup"),
                ..
            }
        ));
    }

    #[test]
    fn a_receiver_report_matches_its_wire_bytes() {
        let mut buf = [0u8; 64];
        let mut w = CompoundWriter::new(&mut buf);
        w.receiver_report(0x1111_1111, &[block()]).expect("fits");
        let len = w.finish();
        let expected = hex::decode(concat!(
            "81c90007", "11111111", "cafebabe", "40fffffd", "00010005", "00000011", "12345678",
            "00018000"
        ))
        .expect("hex");
        assert_eq!(&buf[..len], &expected[..]);
        let parsed = Compound::parse(&expected).expect("valid");
        assert!(
            matches!(parsed.iter().next(), Some(RtcpPacket::ReceiverReport { ssrc: 0x1111_1111, reports }) if reports.len() == 1)
        );
    }

    #[test]
    fn unknown_packet_types_are_skipped_by_length() {
        // An APP packet (204) with 4 bytes of body, then an empty RR.
        let raw = hex::decode("80cc0001deadbeef80c9000100000001").expect("hex");
        let compound = Compound::parse(&raw).expect("valid");
        let packets: Vec<_> = compound.iter().collect();
        assert_eq!(
            packets[0],
            RtcpPacket::Other {
                packet_type: 204,
                count: 0,
                body: &[0xDE, 0xAD, 0xBE, 0xEF]
            }
        );
        assert!(
            matches!(packets[1], RtcpPacket::ReceiverReport { ssrc: 1, reports } if reports.is_empty())
        );
    }

    #[test]
    fn malformed_compounds_are_rejected() {
        let cases: [(&str, DecodeError); 7] = [
            ("", DecodeError::Empty),
            ("80c9", DecodeError::Truncated { offset: 0, len: 2 }),
            (
                "40c9000100000001",
                DecodeError::Version {
                    offset: 0,
                    version: 1,
                },
            ),
            (
                "80c9000200000001",
                DecodeError::Length {
                    offset: 0,
                    claimed: 12,
                    available: 8,
                },
            ),
            // RC=1 but no room for the block.
            (
                "81c9000100000001",
                DecodeError::Count {
                    offset: 0,
                    packet_type: 201,
                    count: 1,
                    len: 4,
                },
            ),
            // Padding on a packet that is not last.
            (
                "a0c900010000000180c9000100000001",
                DecodeError::Padding { offset: 0 },
            ),
            // Trailing garbage shorter than a header.
            (
                "80c900010000000100",
                DecodeError::Truncated { offset: 8, len: 9 },
            ),
        ];
        for (hex_str, expected) in cases {
            let raw = hex::decode(hex_str).expect("hex");
            assert_eq!(Compound::parse(&raw), Err(expected), "{hex_str}");
        }
    }

    #[test]
    fn cumulative_lost_is_a_signed_24_bit_field() {
        let mut raw = [0u8; REPORT_BLOCK_LEN];
        for (lost, wire) in [
            (-1, 0x00FF_FFFF),
            (0x7F_FFFF, 0x7F_FFFF),
            (-0x80_0000, 0x80_0000),
            (5_000_000_000i64 as i32, 0x7F_FFFF),
        ] {
            ReportBlock {
                cumulative_lost: lost,
                ..block()
            }
            .write(&mut raw);
            assert_eq!(
                u32::from_be_bytes([0, raw[5], raw[6], raw[7]]),
                wire,
                "{lost}"
            );
        }
        ReportBlock {
            cumulative_lost: -0x80_0000,
            ..block()
        }
        .write(&mut raw);
        assert_eq!(ReportBlock::parse(&raw).cumulative_lost, -0x80_0000);
    }

    #[test]
    fn writer_refuses_overflow_and_oversized_fields() {
        let mut small = [0u8; 8];
        let mut w = CompoundWriter::new(&mut small);
        assert_eq!(
            w.receiver_report(1, &[block()]),
            Err(EncodeError::BufferTooSmall { len: 8, need: 32 })
        );
        assert_eq!(
            w.receiver_report(1, &[block(); 32]),
            Err(EncodeError::TooMany { count: 32 })
        );
        assert_eq!(
            w.sdes_cname(1, &[b'x'; 256]),
            Err(EncodeError::TextTooLong { len: 256 })
        );
        assert!(w.is_empty());
    }

    #[test]
    fn ntp_timestamps_and_round_trip_time_follow_rfc_3550() {
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        assert_eq!(
            ntp_timestamp(t),
            ((2_208_988_800u64 + 1) << 32) | 0x8000_0000
        );
        assert_eq!(dlsr_units(Duration::from_millis(1500)), 0x0001_8000);
        // We sent an SR at LSR; the peer held it 1.5 s; it arrives back 1.75 s after LSR.
        let lsr_ntp = ntp_timestamp(t);
        let arrival = ntp_timestamp(t + Duration::from_millis(1750));
        let b = ReportBlock {
            lsr: ntp_middle(lsr_ntp),
            dlsr: dlsr_units(Duration::from_millis(1500)),
            ..block()
        };
        let rtt = round_trip(arrival, &b).expect("has LSR");
        assert!(
            rtt.abs_diff(Duration::from_millis(250)) < Duration::from_millis(1),
            "{rtt:?}"
        );
        assert_eq!(round_trip(arrival, &ReportBlock { lsr: 0, ..b }), None);
    }

    proptest! {
        #[test]
        fn parsing_and_iterating_arbitrary_bytes_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(c) = Compound::parse(&raw) {
                for p in c.iter() {
                    let _ = p.sdes_chunks().map(|c| c.items().count()).sum::<usize>();
                    let _ = p.bye_ssrcs().count();
                    if let RtcpPacket::SenderReport { reports, .. } | RtcpPacket::ReceiverReport { reports, .. } = p {
                        let _ = reports.iter().count();
                    }
                }
            }
        }

        #[test]
        fn report_blocks_round_trip(ssrc: u32, fraction_lost: u8, lost in -0x80_0000i32..=0x7F_FFFF,
                                    highest_seq: u32, jitter: u32, lsr: u32, dlsr: u32) {
            let b = ReportBlock { ssrc, fraction_lost, cumulative_lost: lost, highest_seq, jitter, lsr, dlsr };
            let mut buf = [0u8; 64];
            let mut w = CompoundWriter::new(&mut buf);
            w.receiver_report(7, &[b]).expect("fits");
            let len = w.finish();
            let c = Compound::parse(&buf[..len]).expect("valid");
            let Some(RtcpPacket::ReceiverReport { reports, .. }) = c.iter().next() else {
                return Err(TestCaseError::fail("not an RR"));
            };
            prop_assert_eq!(reports.iter().next(), Some(b));
        }
    }
}
