//! Arbitrary bytes into the VRRP wire decoders of `supervisor::vrrp::packet`.
//!
//! - `Ipv4Header::parse` over the whole input, then `Advert::decode` (v2 and v3) over the
//!   payload it returns, with the pseudo-header taken from the parsed header (the real
//!   receive path);
//! - `Advert::decode` (v2 and v3) over `data[8..]` with the pseudo-header built from
//!   `data[0..8]` (src, dst), so the fuzzer can reach the checksum without an IP header;
//! - the same payload with its checksum field recomputed for v2 and for v3, so the mutator
//!   gets past the checksum check and exercises the decoded (Ok) path on arbitrary fields.
//!
//! Every advert that decodes is re-encoded and must decode again to an equal advert; encode
//! must not panic on anything decode accepts.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use supervisor::vrrp::packet::{checksum, Advert, Ipv4Header, PseudoHeader, Version};

fn roundtrip(payload: &[u8], ph: PseudoHeader) {
    for version in [Version::V2, Version::V3] {
        let Ok(advert) = Advert::decode(payload, ph, version) else {
            continue;
        };
        assert_eq!(advert.version, version);
        let mut out = Vec::new();
        advert.encode(ph, &mut out);
        let again = Advert::decode(&out, ph, version);
        assert_eq!(
            again.as_ref(),
            Ok(&advert),
            "decode -> encode -> decode changed the advert; re-encoded bytes {out:02x?}"
        );
    }
}

/// `payload` with a correct checksum for `version` written into bytes 6..8.
fn with_checksum(payload: &[u8], ph: PseudoHeader, version: Version) -> Option<Vec<u8>> {
    if payload.len() < Advert::HEADER_LEN {
        return None;
    }
    let mut fixed = payload.to_vec();
    fixed[6..8].copy_from_slice(&[0, 0]);
    let sum = checksum(version, ph, &fixed);
    fixed[6..8].copy_from_slice(&sum.to_be_bytes());
    Some(fixed)
}

fuzz_target!(|data: &[u8]| {
    if let Ok((header, payload)) = Ipv4Header::parse(data) {
        assert_eq!(payload.len(), header.payload_len);
        assert!(header.header_len >= 20 && header.header_len + payload.len() <= data.len());
        let ph = PseudoHeader {
            src: header.src,
            dst: header.dst,
        };
        roundtrip(payload, ph);
    }

    let (ph, payload) = match data {
        [s0, s1, s2, s3, d0, d1, d2, d3, rest @ ..] => (
            PseudoHeader {
                src: Ipv4Addr::new(*s0, *s1, *s2, *s3),
                dst: Ipv4Addr::new(*d0, *d1, *d2, *d3),
            },
            rest,
        ),
        _ => (
            PseudoHeader {
                src: Ipv4Addr::UNSPECIFIED,
                dst: Ipv4Addr::UNSPECIFIED,
            },
            data,
        ),
    };
    roundtrip(payload, ph);
    for version in [Version::V2, Version::V3] {
        if let Some(fixed) = with_checksum(payload, ph, version) {
            roundtrip(&fixed, ph);
        }
    }
});
