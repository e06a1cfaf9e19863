//! Pure: the VRRP advertisement on the wire, VRRPv3 (RFC 9568 §5) and VRRPv2 (RFC 3768 §5),
//! IPv4 only, plus the IPv4 header checks of RFC 9568 §7.1 for what a raw socket hands us.
//!
//! Decoding validates every field; anything malformed is a [`DecodeError`], always the
//! sender's fault: the driver counts it by cause and drops the packet.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// IP protocol number of VRRP (RFC 9568 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// The IPv4 multicast group adverts go to (RFC 9568 §5.1.1.2).
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Every advert leaves with this TTL and one that arrives with another is dropped
/// (RFC 9568 §5.1.1.3), so adverts cannot come from beyond the local link.
pub const TTL: u8 = 255;
/// The most addresses one advert carries; we cap instances at 20 as holo does.
pub const MAX_ADDRS: usize = 20;

/// Malformed input from the wire: always the peer's fault. Counted, logged at debug,
/// dropped; it never ends a receive loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: {len} bytes, need {need}")]
    Truncated { len: usize, need: usize },
    #[error("not an IPv4 header (version {version}, header length {ihl})")]
    IpHeader { version: u8, ihl: u8 },
    #[error("IP protocol {0}, not VRRP (112)")]
    Protocol(u8),
    #[error("TTL {0}, must be 255")]
    Ttl(u8),
    #[error("version/type byte {0:#04x} is neither a v2 nor a v3 advertisement")]
    VersionType(u8),
    #[error("version {got} advert, this instance speaks version {want}")]
    WrongVersion { got: u8, want: u8 },
    #[error("{count} addresses do not fit in {len} bytes")]
    Length { count: u8, len: usize },
    #[error("address count {0} is zero or above 20")]
    AddressCount(u8),
    #[error("advertisement interval is zero")]
    ZeroInterval,
    #[error("VRRPv2 authentication type {0}; only 0 (none) is supported")]
    AuthType(u8),
    #[error("bad checksum")]
    Checksum,
}

impl DecodeError {
    /// A short stable name, used as the `cause` label of the dropped-advert counters.
    pub fn cause(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated",
            Self::IpHeader { .. } => "ip_header",
            Self::Protocol(_) => "protocol",
            Self::Ttl(_) => "ttl",
            Self::VersionType(_) => "version_type",
            Self::WrongVersion { .. } => "wrong_version",
            Self::Length { .. } => "length",
            Self::AddressCount(_) => "address_count",
            Self::ZeroInterval => "zero_interval",
            Self::AuthType(_) => "auth_type",
            Self::Checksum => "checksum",
        }
    }
}

/// VRRP protocol version; an instance speaks exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    /// RFC 3768: interval in whole seconds, checksum over the VRRP message only.
    V2,
    /// RFC 9568: interval in centiseconds, checksum over an IPv4 pseudo-header too.
    V3,
}

impl Version {
    /// The number on the wire and in config.
    pub fn number(self) -> u8 {
        match self {
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }
}

/// The IPv4 source and destination, which the v3 checksum covers (RFC 9568 §5.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PseudoHeader {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// One advertisement.
///
/// ```text
/// v3: |Version| Type  | Virtual Rtr ID|   Priority    |IPvX Addr Count|
///     |(rsvd) |     Max Adver Int     |          Checksum             |
/// v2: |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
///     |   Auth Type   |   Adver Int   |          Checksum             |
///     |                    IPv4 Address(es) ...                       |
/// v2: |                  Authentication Data (8 bytes)                |
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    /// 0 means "the master is leaving" (RFC 9568 §6.4.3); 255 the address owner.
    pub priority: u8,
    /// Max_Adver_Int in centiseconds (v3: 12 bits; v2: whole seconds × 100).
    pub adver_int_cs: u16,
    pub addrs: Vec<Ipv4Addr>,
}

impl Advert {
    /// Fixed header length, both versions.
    pub const HEADER_LEN: usize = 8;
    /// VRRPv2's trailing authentication data.
    const V2_AUTH_LEN: usize = 8;
    /// Type 1 is the only VRRP packet type (RFC 9568 §5.2.2).
    const TYPE_ADVERTISEMENT: u8 = 1;

    /// Decodes the VRRP payload (IP header stripped), expecting `version`.
    ///
    /// `ph` is only used for v3, whose checksum covers the pseudo-header.
    pub fn decode(buf: &[u8], ph: PseudoHeader, version: Version) -> Result<Self, DecodeError> {
        let need = Self::HEADER_LEN;
        if buf.len() < need {
            return Err(DecodeError::Truncated {
                len: buf.len(),
                need,
            });
        }
        let got = match buf[0] {
            b if b == (2 << 4 | Self::TYPE_ADVERTISEMENT) => Version::V2,
            b if b == (3 << 4 | Self::TYPE_ADVERTISEMENT) => Version::V3,
            b => return Err(DecodeError::VersionType(b)),
        };
        if got != version {
            return Err(DecodeError::WrongVersion {
                got: got.number(),
                want: version.number(),
            });
        }
        let count = buf[3];
        if count == 0 || usize::from(count) > MAX_ADDRS {
            return Err(DecodeError::AddressCount(count));
        }
        let trailer = if version == Version::V2 {
            Self::V2_AUTH_LEN
        } else {
            0
        };
        let addrs_end = need + 4 * usize::from(count);
        if buf.len() != addrs_end + trailer {
            return Err(DecodeError::Length {
                count,
                len: buf.len(),
            });
        }
        let adver_int_cs = match version {
            Version::V3 => u16::from_be_bytes([buf[4], buf[5]]) & 0x0fff,
            Version::V2 => {
                if buf[4] != 0 {
                    return Err(DecodeError::AuthType(buf[4]));
                }
                u16::from(buf[5]) * 100
            }
        };
        if adver_int_cs == 0 {
            return Err(DecodeError::ZeroInterval);
        }
        if checksum(version, ph, buf) != 0 {
            return Err(DecodeError::Checksum);
        }
        let addrs = buf[need..addrs_end]
            .chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]));
        Ok(Self {
            version,
            vrid: buf[1],
            priority: buf[2],
            adver_int_cs,
            addrs: addrs.collect(),
        })
    }

    /// Appends the encoded advert to `out`, checksum filled in last.
    ///
    /// # Panics
    /// If the advert cannot be represented: no address or more than [`MAX_ADDRS`], or for
    /// v2 an interval that is not whole seconds in 1..=255. Config validation rules these out.
    pub fn encode(&self, ph: PseudoHeader, out: &mut Vec<u8>) {
        assert!(
            (1..=MAX_ADDRS).contains(&self.addrs.len()),
            "an advert carries 1..=20 addresses"
        );
        let start = out.len();
        out.push(self.version.number() << 4 | Self::TYPE_ADVERTISEMENT);
        out.extend([self.vrid, self.priority, self.addrs.len() as u8]);
        match self.version {
            Version::V3 => out.extend((self.adver_int_cs & 0x0fff).to_be_bytes()),
            Version::V2 => {
                let secs = self.adver_int_cs / 100;
                assert!(
                    self.adver_int_cs.is_multiple_of(100) && (1..=255).contains(&secs),
                    "a v2 interval is whole seconds in 1..=255"
                );
                out.extend([0, secs as u8]);
            }
        }
        out.extend([0, 0]);
        for addr in &self.addrs {
            out.extend(addr.octets());
        }
        if self.version == Version::V2 {
            out.extend([0; Self::V2_AUTH_LEN]);
        }
        let sum = checksum(self.version, ph, &out[start..]);
        out[start + 6..start + 8].copy_from_slice(&sum.to_be_bytes());
    }
}

/// The Internet checksum (RFC 1071) of the message, over the IPv4 pseudo-header too for v3.
/// Over a message whose checksum field is filled in, it is 0 when the checksum is right.
pub fn checksum(version: Version, ph: PseudoHeader, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    if version == Version::V3 {
        let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&ph.src.octets());
        pseudo[4..8].copy_from_slice(&ph.dst.octets());
        pseudo[9] = IPPROTO_VRRP;
        pseudo[10..12].copy_from_slice(&len.to_be_bytes());
        sum = add_words(sum, &pseudo);
    }
    sum = add_words(sum, msg);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn add_words(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    // Fold now and then so a long buffer cannot overflow.
    (sum & 0xffff) + (sum >> 16)
}

/// What the receive path needs from the IPv4 header a raw socket delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    /// Header length in bytes: the VRRP message starts here.
    pub header_len: usize,
    /// Bytes of VRRP payload according to the IP total length.
    pub payload_len: usize,
}

impl Ipv4Header {
    /// Parses and checks the IPv4 header of a received VRRP packet: IPv4, protocol 112,
    /// TTL 255 (RFC 9568 §7.1). Returns the header and the VRRP payload.
    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8]), DecodeError> {
        if buf.len() < 20 {
            return Err(DecodeError::Truncated {
                len: buf.len(),
                need: 20,
            });
        }
        let (version, ihl) = (buf[0] >> 4, buf[0] & 0x0f);
        let header_len = usize::from(ihl) * 4;
        if version != 4 || ihl < 5 {
            return Err(DecodeError::IpHeader { version, ihl });
        }
        // The kernel hands us whole datagrams; trust the shorter of buffer and total length.
        let total = usize::from(u16::from_be_bytes([buf[2], buf[3]])).min(buf.len());
        if total < header_len {
            return Err(DecodeError::Truncated {
                len: total,
                need: header_len,
            });
        }
        if buf[9] != IPPROTO_VRRP {
            return Err(DecodeError::Protocol(buf[9]));
        }
        if buf[8] != TTL {
            return Err(DecodeError::Ttl(buf[8]));
        }
        let header = Self {
            src: Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]),
            dst: Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]),
            ttl: buf[8],
            header_len,
            payload_len: total - header_len,
        };
        Ok((header, &buf[header_len..total]))
    }
}

/// Writes the 20-byte IPv4 header of an outgoing advert: DSCP CS6 as keepalived sends it,
/// TTL 255, protocol 112. The kernel fills in the identification and header checksum
/// (IP_HDRINCL, raw(7)); we fill the source because the v3 checksum covers it.
pub fn encode_ip_header(src: Ipv4Addr, dst: Ipv4Addr, payload_len: usize, out: &mut Vec<u8>) {
    let total = u16::try_from(20 + payload_len).unwrap_or(u16::MAX);
    out.extend([0x45, 0xc0]);
    out.extend(total.to_be_bytes());
    out.extend([0, 0, 0, 0, TTL, IPPROTO_VRRP, 0, 0]);
    out.extend(src.octets());
    out.extend(dst.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ph() -> PseudoHeader {
        PseudoHeader {
            src: Ipv4Addr::new(10, 77, 0, 1),
            dst: MULTICAST_GROUP,
        }
    }

    // keepalived 2.2.7, captured in shared/references/vrrp/advert-v3.txt (VRRP part only).
    const KEEPALIVED_V3: [u8; 12] = [
        0x31, 0x4d, 0xc8, 0x01, 0x00, 0x64, 0x10, 0xbf, 0x0a, 0x4d, 0x00, 0x64,
    ];
    // shared/references/vrrp/advert-v2.txt
    const KEEPALIVED_V2: [u8; 20] = [
        0x21, 0x4d, 0xc8, 0x01, 0x00, 0x01, 0x0b, 0xff, 0x0a, 0x4d, 0x00, 0x64, 0, 0, 0, 0, 0, 0,
        0, 0,
    ];

    fn keepalived_v3() -> Advert {
        Advert {
            version: Version::V3,
            vrid: 77,
            priority: 200,
            adver_int_cs: 100,
            addrs: vec![Ipv4Addr::new(10, 77, 0, 100)],
        }
    }

    #[test]
    fn decodes_keepalived_v3_advert_and_reencodes_it_byte_for_byte() {
        let advert = Advert::decode(&KEEPALIVED_V3, ph(), Version::V3).unwrap();
        assert_eq!(advert, keepalived_v3());
        let mut again = Vec::new();
        advert.encode(ph(), &mut again);
        assert_eq!(again, KEEPALIVED_V3);
    }

    #[test]
    fn decodes_keepalived_v2_advert_and_reencodes_it_byte_for_byte() {
        let advert = Advert::decode(&KEEPALIVED_V2, ph(), Version::V2).unwrap();
        assert_eq!(advert.adver_int_cs, 100);
        assert_eq!(advert.priority, 200);
        let mut again = Vec::new();
        advert.encode(ph(), &mut again);
        assert_eq!(again, KEEPALIVED_V2);
    }

    #[test]
    fn v3_checksum_covers_the_pseudo_header() {
        let other = PseudoHeader {
            src: Ipv4Addr::new(10, 77, 0, 2),
            ..ph()
        };
        assert_eq!(
            Advert::decode(&KEEPALIVED_V3, other, Version::V3),
            Err(DecodeError::Checksum)
        );
    }

    #[test]
    fn rejects_each_malformed_field() {
        let v3 = |edit: fn(&mut Vec<u8>)| {
            let mut b = KEEPALIVED_V3.to_vec();
            edit(&mut b);
            Advert::decode(&b, ph(), Version::V3)
        };
        assert!(matches!(
            v3(|b| b.truncate(7)),
            Err(DecodeError::Truncated { .. })
        ));
        assert_eq!(v3(|b| b[0] = 0x32), Err(DecodeError::VersionType(0x32)));
        assert_eq!(
            v3(|b| b[3] = 2),
            Err(DecodeError::Length { count: 2, len: 12 })
        );
        assert_eq!(v3(|b| b[3] = 0), Err(DecodeError::AddressCount(0)));
        assert_eq!(v3(|b| b[3] = 21), Err(DecodeError::AddressCount(21)));
        assert_eq!(v3(|b| b[5] = 0), Err(DecodeError::ZeroInterval));
        assert_eq!(v3(|b| b[11] ^= 1), Err(DecodeError::Checksum));
        assert_eq!(
            Advert::decode(&KEEPALIVED_V3, ph(), Version::V2),
            Err(DecodeError::WrongVersion { got: 3, want: 2 })
        );
        let mut auth = KEEPALIVED_V2.to_vec();
        auth[4] = 1;
        assert_eq!(
            Advert::decode(&auth, ph(), Version::V2),
            Err(DecodeError::AuthType(1))
        );
    }

    #[test]
    fn reserved_bits_of_the_interval_field_are_ignored() {
        let mut b = KEEPALIVED_V3.to_vec();
        b[4] |= 0xf0;
        // Fix the checksum up for the changed word.
        b[6..8].copy_from_slice(&[0, 0]);
        let sum = checksum(Version::V3, ph(), &b);
        b[6..8].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            Advert::decode(&b, ph(), Version::V3).unwrap().adver_int_cs,
            100
        );
    }

    #[test]
    fn ip_header_checks_ttl_and_protocol() {
        // From shared/references/vrrp/advert-v3.txt, Ethernet header stripped.
        let mut ip = vec![
            0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x4c, 0x0a, 0x4d,
            0x00, 0x01, 0xe0, 0x00, 0x00, 0x12,
        ];
        ip.extend(KEEPALIVED_V3);
        let (h, payload) = Ipv4Header::parse(&ip).unwrap();
        assert_eq!(
            (h.src, h.dst, h.ttl),
            (Ipv4Addr::new(10, 77, 0, 1), MULTICAST_GROUP, 255)
        );
        assert_eq!(payload, KEEPALIVED_V3);
        ip[8] = 254;
        assert_eq!(Ipv4Header::parse(&ip), Err(DecodeError::Ttl(254)));
        ip[8] = 255;
        ip[9] = 17;
        assert_eq!(Ipv4Header::parse(&ip), Err(DecodeError::Protocol(17)));
        assert!(matches!(
            Ipv4Header::parse(&ip[..10]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut ours = Vec::new();
        encode_ip_header(Ipv4Addr::new(10, 77, 0, 1), MULTICAST_GROUP, 12, &mut ours);
        assert_eq!(ours[..10], [0x45, 0xc0, 0x00, 0x20, 0, 0, 0, 0, 0xff, 0x70]);
        assert_eq!(ours[12..20], ip[12..20]);
        ip[0] = 0x65;
        assert!(matches!(
            Ipv4Header::parse(&ip),
            Err(DecodeError::IpHeader { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn encode_then_decode_is_identity(
            v3 in proptest::bool::ANY,
            vrid in 1u8..=255,
            priority in 0u8..=255,
            secs in 1u16..=40,
            cs in 1u16..=4095,
            addrs in proptest::collection::vec(proptest::num::u32::ANY, 1..=20),
        ) {
            let (version, adver_int_cs) = if v3 { (Version::V3, cs) } else { (Version::V2, secs * 100) };
            let advert = Advert {
                version, vrid, priority, adver_int_cs,
                addrs: addrs.into_iter().map(Ipv4Addr::from).collect(),
            };
            let mut buf = Vec::new();
            advert.encode(ph(), &mut buf);
            proptest::prop_assert_eq!(Advert::decode(&buf, ph(), version), Ok(advert));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Ipv4Header::parse(&bytes);
            let _ = Advert::decode(&bytes, ph(), Version::V3);
            let _ = Advert::decode(&bytes, ph(), Version::V2);
        }
    }
}
