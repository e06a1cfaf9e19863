//! Arbitrary bytes as one RTCP compound, into `mediacore::rtp::rtcp` (RFC 3550 §6).
//!
//! `Compound::parse`, then everything a receiver reads is walked: every packet of
//! `iter()`, the report blocks of SRs and RRs (with `round_trip` on each), the SDES
//! chunks with their `items()` and `cname()`, and BYE sources and reasons.
//!
//! What `CompoundWriter` can express is written back (SR, RR, one CNAME chunk per SDES
//! chunk that has a CNAME, BYE) and parsed again: the result must parse and say the same
//! things, in the same order. Packets of other types and SDES items other than the CNAME
//! are not written, so they are not compared.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediacore::rtp::rtcp::{
    round_trip, Compound, CompoundWriter, ReportBlock, RtcpPacket, SenderInfo, SDES_CNAME,
};

/// What the writer can reproduce of one compound.
#[derive(Debug, PartialEq, Eq)]
enum Fact {
    Sr(u32, SenderInfo, Vec<ReportBlock>),
    Rr(u32, Vec<ReportBlock>),
    Cname(u32, Vec<u8>),
    Bye(Vec<u32>, Option<Vec<u8>>),
}

/// Walks the whole compound; returns its facts.
fn walk(compound: &Compound<'_>) -> Vec<Fact> {
    let mut facts = Vec::new();
    for packet in compound.iter() {
        // The accessors of other variants must be empty.
        let chunks: Vec<_> = packet.sdes_chunks().collect();
        let byes: Vec<u32> = packet.bye_ssrcs().collect();
        match packet {
            RtcpPacket::SenderReport {
                ssrc,
                info,
                reports,
            } => {
                assert_eq!(reports.iter().count(), reports.len());
                assert_eq!(reports.is_empty(), reports.iter().next().is_none());
                let blocks: Vec<_> = reports.iter().collect();
                for block in &blocks {
                    let _ = round_trip(info.ntp_timestamp, block);
                }
                facts.push(Fact::Sr(ssrc, info, blocks));
            }
            RtcpPacket::ReceiverReport { ssrc, reports } => {
                assert_eq!(reports.iter().count(), reports.len());
                let blocks: Vec<_> = reports.iter().collect();
                for block in &blocks {
                    let _ = round_trip(u64::MAX, block);
                }
                facts.push(Fact::Rr(ssrc, blocks));
            }
            RtcpPacket::SourceDescription { count, .. } => {
                // `parse` checked that `count` chunks are there.
                assert_eq!(chunks.len(), usize::from(count));
                for chunk in &chunks {
                    let items: Vec<_> = chunk.items().collect();
                    assert!(items.iter().all(|&(kind, _)| kind != 0));
                    let cname = chunk.cname();
                    assert_eq!(
                        cname,
                        items
                            .iter()
                            .find(|&&(kind, _)| kind == SDES_CNAME)
                            .map(|&(_, text)| text)
                    );
                    if let Some(cname) = cname {
                        facts.push(Fact::Cname(chunk.ssrc, cname.to_vec()));
                    }
                }
            }
            RtcpPacket::Bye { ssrcs, reason } => {
                assert_eq!(byes.len(), ssrcs.len() / 4);
                facts.push(Fact::Bye(byes.clone(), reason.map(<[u8]>::to_vec)));
            }
            RtcpPacket::Other { .. } => {}
        }
        if !matches!(packet, RtcpPacket::SourceDescription { .. }) {
            assert!(chunks.is_empty());
        }
        if !matches!(packet, RtcpPacket::Bye { .. }) {
            assert!(byes.is_empty());
        }
    }
    facts
}

fuzz_target!(|data: &[u8]| {
    let Ok(compound) = Compound::parse(data) else {
        return;
    };
    let facts = walk(&compound);
    if facts.is_empty() {
        return; // an empty compound is not valid RTCP, nothing to write
    }

    // Re-encoding only adds a 4-byte header per SDES chunk over what was read.
    let mut buf = vec![0u8; 2 * data.len() + 1024];
    let mut writer = CompoundWriter::new(&mut buf);
    for fact in &facts {
        let written = match fact {
            Fact::Sr(ssrc, info, blocks) => writer.sender_report(*ssrc, info, blocks),
            Fact::Rr(ssrc, blocks) => writer.receiver_report(*ssrc, blocks),
            Fact::Cname(ssrc, cname) => writer.sdes_cname(*ssrc, cname),
            Fact::Bye(ssrcs, reason) => writer.bye(ssrcs, reason.as_deref()),
        };
        written.unwrap_or_else(|e| panic!("cannot re-encode {fact:?}: {e}"));
    }
    let len = writer.finish();
    let again = Compound::parse(&buf[..len]).unwrap_or_else(|e| {
        panic!(
            "re-encoded compound does not parse: {e}; {:02x?}",
            &buf[..len]
        )
    });
    assert_eq!(
        walk(&again),
        facts,
        "decode -> encode -> decode changed the compound"
    );
});
