//! Pure: ITU-T G.711 µ-law and A-law, table-driven, and the two RTP audio codecs built on
//! them (RFC 3551 §4.5.14: PCMU is static payload type 0, PCMA is 8, both 8000 Hz).
//!
//! The tables are computed at compile time from the reference algorithm (the public-domain
//! Sun `g711.c`): decoding is one 256-entry lookup, encoding one lookup indexed by the top
//! 14 (µ-law) or 13 (A-law) bits of the sample, which is all the precision G.711 keeps.

use std::time::Duration;

/// Samples per 20 ms frame at 8000 Hz; with G.711 also the payload size in bytes.
pub const FRAME_SAMPLES: usize = 160;
/// The packetization time we send and offer (`a=ptime:20`).
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// G.711 sample rate and RTP clock rate, in Hz.
pub const CLOCK_RATE: u32 = 8000;

/// A G.711 codec as negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, static RTP payload type 0.
    Pcmu,
    /// A-law, static RTP payload type 8.
    Pcma,
}

impl Codec {
    /// Both codecs, in our default preference order.
    pub const ALL: [Self; 2] = [Self::Pcmu, Self::Pcma];

    /// The static RTP payload type (RFC 3551 Table 4).
    pub const fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The encoding name used in `a=rtpmap` ("PCMU" or "PCMA").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate in Hz (8000 for both).
    pub const fn clock_rate(self) -> u32 {
        CLOCK_RATE
    }

    /// The codec with this static payload type, if it is 0 or 8.
    pub const fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }

    /// The codec with this `a=rtpmap` encoding name (case-insensitive, RFC 4566 §6).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// The code for digital silence (linear 0): 0xFF in µ-law, 0xD5 in A-law.
    pub const fn silence(self) -> u8 {
        match self {
            Self::Pcmu => 0xFF,
            Self::Pcma => 0xD5,
        }
    }

    /// Encodes one linear 16-bit sample.
    #[inline]
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => ulaw_encode(sample),
            Self::Pcma => alaw_encode(sample),
        }
    }

    /// Decodes one code to a linear 16-bit sample.
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Self::Pcmu => ulaw_decode(code),
            Self::Pcma => alaw_decode(code),
        }
    }

    /// Encodes `min(pcm.len(), out.len())` samples into `out`; returns how many.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len());
        match self {
            Self::Pcmu => out
                .iter_mut()
                .zip(pcm)
                .for_each(|(o, &s)| *o = ulaw_encode(s)),
            Self::Pcma => out
                .iter_mut()
                .zip(pcm)
                .for_each(|(o, &s)| *o = alaw_encode(s)),
        }
        n
    }

    /// Decodes `min(codes.len(), out.len())` codes into `out`; returns how many.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        let n = codes.len().min(out.len());
        let table = match self {
            Self::Pcmu => &ULAW_DECODE,
            Self::Pcma => &ALAW_DECODE,
        };
        out.iter_mut()
            .zip(codes)
            .for_each(|(o, &c)| *o = table[usize::from(c)]);
        n
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Encodes a linear sample to µ-law (G.711 §3.3 via the 14-bit table).
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    // `>> 2` keeps the 14 bits µ-law uses; the mask makes the index provably in range.
    ULAW_ENCODE[((sample >> 2) as u16 as usize) & 0x3FFF]
}

/// Decodes a µ-law code to a linear sample.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Encodes a linear sample to A-law (G.711 §3.2 via the 13-bit table).
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    ALAW_ENCODE[((sample >> 3) as u16 as usize) & 0x1FFF]
}

/// Decodes an A-law code to a linear sample.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

static ULAW_ENCODE: [u8; 1 << 14] = build_ulaw_encode();
static ALAW_ENCODE: [u8; 1 << 13] = build_alaw_encode();
static ULAW_DECODE: [i16; 256] = build_decode(false);
static ALAW_DECODE: [i16; 256] = build_decode(true);

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;

/// Reference µ-law encoder on a 14-bit sample (-8192..=8191).
const fn linear14_to_ulaw(mut pcm: i32) -> u8 {
    let mask: i32 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    if pcm > ULAW_CLIP {
        pcm = ULAW_CLIP;
    }
    pcm += ULAW_BIAS >> 2;
    // Segment: the position of the highest set bit above bit 5 (segment ends 0x3F … 0x1FFF).
    let mut seg = 0;
    while seg < 8 && pcm >= (0x40 << seg) {
        seg += 1;
    }
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let uval = (seg << 4) | ((pcm >> (seg + 1)) & 0xF);
    (uval ^ mask) as u8
}

/// Reference A-law encoder on a 13-bit sample (-4096..=4095).
const fn linear13_to_alaw(mut pcm: i32) -> u8 {
    let mask: i32 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let mut seg = 0;
    while seg < 8 && pcm >= (0x20 << seg) {
        seg += 1;
    }
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut aval = seg << 4;
    if seg < 2 {
        aval |= (pcm >> 1) & 0xF;
    } else {
        aval |= (pcm >> seg) & 0xF;
    }
    (aval ^ mask) as u8
}

const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code as i32;
    let mut t = ((u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

const fn alaw_to_linear(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_ulaw_encode() -> [u8; 1 << 14] {
    let mut table = [0u8; 1 << 14];
    let mut i = 0;
    while i < (1 << 14) {
        // Index i is the 14-bit two's-complement pattern of `sample >> 2`.
        let v = if i < (1 << 13) {
            i as i32
        } else {
            i as i32 - (1 << 14)
        };
        table[i] = linear14_to_ulaw(v);
        i += 1;
    }
    table
}

const fn build_alaw_encode() -> [u8; 1 << 13] {
    let mut table = [0u8; 1 << 13];
    let mut i = 0;
    while i < (1 << 13) {
        let v = if i < (1 << 12) {
            i as i32
        } else {
            i as i32 - (1 << 13)
        };
        table[i] = linear13_to_alaw(v);
        i += 1;
    }
    table
}

const fn build_decode(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_to_linear(i as u8)
        } else {
            ulaw_to_linear(i as u8)
        };
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn zero_encodes_to_the_silence_codes() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(Codec::Pcmu.silence(), ulaw_encode(0));
        assert_eq!(Codec::Pcma.silence(), alaw_encode(0));
    }

    #[test]
    fn known_vectors_match_the_reference_implementation() {
        // (linear, µ-law, A-law), from CPython's audioop (lin2ulaw/lin2alaw), an
        // independent implementation of the same reference algorithm.
        let vectors: [(i16, u8, u8); 8] = [
            (0, 0xFF, 0xD5),
            (-1, 0x7E, 0x55),
            (1000, 0xCE, 0xFA),
            (-1000, 0x4E, 0x7A),
            (8000, 0xA0, 0x8A),
            (i16::MAX, 0x80, 0xAA),
            (i16::MIN, 0x00, 0x2A),
            (-8000, 0x20, 0x0A),
        ];
        for (pcm, mu, a) in vectors {
            assert_eq!(ulaw_encode(pcm), mu, "µ-law of {pcm}");
            assert_eq!(alaw_encode(pcm), a, "A-law of {pcm}");
        }
        // (code, µ-law decoded, A-law decoded), also from audioop.
        let decoded: [(u8, i16, i16); 6] = [
            (0x00, -32124, -5504),
            (0x80, 32124, 5504),
            (0xAA, 5372, 32256),
            (0xD5, 716, 8),
            (0xFF, 0, 848),
            (0x7E, -8, -880),
        ];
        for (code, mu, a) in decoded {
            assert_eq!(ulaw_decode(code), mu, "µ-law {code:#04x}");
            assert_eq!(alaw_decode(code), a, "A-law {code:#04x}");
        }
    }

    #[test]
    fn whole_encode_tables_match_audioop_checksums() {
        // Sums over every i16 sample, ascending from i16::MIN, computed with audioop.
        let (mut mu_sum, mut a_sum, mut mu_weighted, mut a_weighted) = (0u64, 0u64, 0u64, 0u64);
        for (i, sample) in (i16::MIN..=i16::MAX).enumerate() {
            let (mu, a) = (
                u64::from(ulaw_encode(sample)),
                u64::from(alaw_encode(sample)),
            );
            mu_sum += mu;
            a_sum += a;
            mu_weighted += i as u64 * mu;
            a_weighted += i as u64 * a;
        }
        assert_eq!((mu_sum, a_sum), (5_694_092, 6_971_392));
        assert_eq!(
            (mu_weighted, a_weighted),
            (255_303_635_922, 297_154_564_096)
        );
    }

    #[test]
    fn every_alaw_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn every_ulaw_code_survives_decode_then_encode_except_negative_zero() {
        for code in 0..=255u8 {
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                ulaw_encode(ulaw_decode(code)),
                expected,
                "µ-law {code:#04x}"
            );
        }
    }

    #[test]
    fn slice_codecs_stop_at_the_shorter_buffer() {
        let pcm = [0i16, 1000, -1000];
        let mut out = [0u8; 2];
        assert_eq!(Codec::Pcmu.encode(&pcm, &mut out), 2);
        assert_eq!(out, [0xFF, 0xCE]);
        let mut back = [0i16; 4];
        assert_eq!(Codec::Pcma.decode(&[0xD5, 0x55], &mut back), 2);
        assert_eq!(back[..2], [8, -8]);
    }

    #[test]
    fn codecs_map_to_static_payload_types_and_names() {
        assert_eq!(Codec::from_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(18), None);
        assert_eq!(Codec::from_name("pcma"), Some(Codec::Pcma));
        assert_eq!(Codec::Pcmu.to_string(), "PCMU");
        assert_eq!(Codec::Pcma.clock_rate(), 8000);
    }

    proptest! {
        #[test]
        fn encoding_error_stays_within_one_quantization_step(sample: i16) {
            for codec in Codec::ALL {
                let back = i32::from(codec.decode_sample(codec.encode_sample(sample)));
                let s = i32::from(sample);
                // G.711 steps double per segment; the error is at most half a step of the
                // top segment (1024 for µ-law's 8159 clip, 512 for A-law) plus clipping.
                let clipped = s.clamp(-32635, 32635);
                let tolerance = (clipped.abs() / 16).max(16);
                prop_assert!((back - clipped).abs() <= tolerance,
                    "{codec}: {sample} -> {back}");
            }
        }

        #[test]
        fn decoding_is_monotonic_in_the_sample(a: i16, b: i16) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            for codec in Codec::ALL {
                prop_assert!(codec.decode_sample(codec.encode_sample(lo))
                    <= codec.decode_sample(codec.encode_sample(hi)));
            }
        }
    }
}
