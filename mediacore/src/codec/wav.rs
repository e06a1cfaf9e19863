//! Pure: RIFF/WAVE prompts and recordings (the Microsoft RIFF WAVE format: `fmt ` with
//! WAVE_FORMAT_PCM 1, WAVE_FORMAT_ALAW 6, WAVE_FORMAT_MULAW 7 and WAVE_FORMAT_EXTENSIBLE
//! 0xFFFE with those subformats; `data`; other chunks skipped, odd sizes padded).
//!
//! **Conversion policy.** Prompts must be 8000 Hz. We accept 16-bit PCM, A-law and µ-law,
//! mono or stereo; stereo is mixed down to mono by averaging the two channels, which is
//! cheap and lossless enough for speech. Anything else (other rates, more channels, 8-,
//! 24- or 32-bit PCM, float, ADPCM …) is refused with an error that names the format found
//! and gives the `sox` command that fixes it: resampling is better done once, offline, by a
//! tool built for it than at startup by us. Loading happens once per prompt at startup; the
//! result is pre-encoded for both G.711 codecs so the send path only copies 160-byte frames.
//!
//! [`WavWriter`] records 8000 Hz mono 16-bit PCM to any `Write + Seek`.

use std::fmt;
use std::io::{self, Seek, SeekFrom, Write};
use std::time::Duration;

use super::g711::{alaw_decode, ulaw_decode, Codec, CLOCK_RATE, FRAME_SAMPLES};

const FORMAT_PCM: u16 = 1;
const FORMAT_FLOAT: u16 = 3;
const FORMAT_ALAW: u16 = 6;
const FORMAT_MULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// The 14 bytes after the 2-byte format code in a KSDATAFORMAT_SUBTYPE_* GUID.
const SUBFORMAT_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];
const SOX_HINT: &str = "sox in.wav -r 8000 -c 1 -b 16 out.wav";

/// The sample encoding named in `fmt `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Integer PCM (format 1).
    Pcm,
    /// IEEE float (format 3).
    Float,
    /// G.711 A-law (format 6).
    ALaw,
    /// G.711 µ-law (format 7).
    MuLaw,
    /// Any other format tag (ADPCM 2, GSM 49 …), or an unknown extensible subformat.
    Other {
        /// The format tag (or the subformat's first two bytes).
        tag: u16,
    },
}

/// The audio format of a WAV file, as found in its `fmt ` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    /// Sample encoding.
    pub encoding: Encoding,
    /// Channels.
    pub channels: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Bits per sample.
    pub bits_per_sample: u16,
}

impl fmt::Display for WavFormat {
    /// E.g. "44100 Hz stereo 16-bit PCM".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz ", self.sample_rate)?;
        match self.channels {
            1 => f.write_str("mono")?,
            2 => f.write_str("stereo")?,
            n => write!(f, "{n}-channel")?,
        }
        write!(f, " {}-bit ", self.bits_per_sample)?;
        match self.encoding {
            Encoding::Pcm => f.write_str("PCM"),
            Encoding::Float => f.write_str("float"),
            Encoding::ALaw => f.write_str("A-law"),
            Encoding::MuLaw => f.write_str("µ-law"),
            Encoding::Other { tag } => write!(f, "format {tag:#06x}"),
        }
    }
}

/// Why a prompt file cannot be used: the operator's to fix, so every message says how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// No `RIFF….WAVE` header.
    #[error("not a WAV file (no RIFF/WAVE header in {len} bytes); convert: {SOX_HINT}", SOX_HINT = SOX_HINT)]
    NotWave {
        /// File length.
        len: usize,
    },
    /// A chunk runs past the end of the file.
    #[error(
        "truncated WAV file: chunk {id:?} at byte {offset} needs {need} bytes, file has {len}"
    )]
    Truncated {
        /// The chunk id, lossily as text.
        id: String,
        /// Offset of the chunk header.
        offset: usize,
        /// End offset the chunk needs.
        need: usize,
        /// File length.
        len: usize,
    },
    /// No `fmt ` chunk, or one shorter than 16 bytes.
    #[error("WAV file has no valid fmt chunk; convert: {SOX_HINT}", SOX_HINT = SOX_HINT)]
    MissingFormat,
    /// No `data` chunk.
    #[error("WAV file has no data chunk")]
    MissingData,
    /// A format we do not play.
    #[error(
        "{format}; prompts must be 8000 Hz mono 16-bit PCM, A-law or µ-law (convert: {SOX_HINT})",
        SOX_HINT = SOX_HINT
    )]
    Unsupported {
        /// What the file holds.
        format: WavFormat,
    },
}

/// A prompt loaded once, pre-encoded for both G.711 codecs in whole 20 ms frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Vec<i16>,
    pcmu: Vec<u8>,
    pcma: Vec<u8>,
    source: WavFormat,
}

impl Prompt {
    /// Loads a WAV file's bytes (module docs for what is accepted and converted).
    pub fn from_wav(bytes: &[u8]) -> Result<Self, WavError> {
        let (format, data) = parse_riff(bytes)?;
        let samples = decode_samples(format, data)?;
        Ok(Self::from_samples_with_source(samples, format))
    }

    /// A prompt from 8000 Hz mono linear samples (e.g. generated tones).
    pub fn from_samples(samples: Vec<i16>) -> Self {
        let format = WavFormat {
            encoding: Encoding::Pcm,
            channels: 1,
            sample_rate: CLOCK_RATE,
            bits_per_sample: 16,
        };
        Self::from_samples_with_source(samples, format)
    }

    fn from_samples_with_source(samples: Vec<i16>, source: WavFormat) -> Self {
        let frames = samples.len().div_ceil(FRAME_SAMPLES);
        let encode = |codec: Codec| {
            // The tail of the last frame is silence.
            let mut out = vec![codec.silence(); frames * FRAME_SAMPLES];
            codec.encode(&samples, &mut out);
            out
        };
        let (pcmu, pcma) = (encode(Codec::Pcmu), encode(Codec::Pcma));
        Self {
            samples,
            pcmu,
            pcma,
            source,
        }
    }

    /// The linear samples (8000 Hz mono).
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The format of the file it came from (to log conversions such as stereo mixdown).
    pub fn source_format(&self) -> WavFormat {
        self.source
    }

    /// Number of 20 ms frames (the last one padded with silence).
    pub fn frame_count(&self) -> usize {
        self.pcmu.len() / FRAME_SAMPLES
    }

    /// Playing time of the samples.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / u64::from(CLOCK_RATE))
    }

    /// Frame `index` pre-encoded for `codec`: 160 bytes, or `None` past the end.
    pub fn frame(&self, codec: Codec, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(FRAME_SAMPLES)?;
        self.encoded(codec)
            .get(start..start.checked_add(FRAME_SAMPLES)?)
    }

    /// All frames for `codec`, 160 bytes each.
    pub fn frames(&self, codec: Codec) -> std::slice::ChunksExact<'_, u8> {
        self.encoded(codec).chunks_exact(FRAME_SAMPLES)
    }

    fn encoded(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Walks the RIFF chunks; returns the format and the data chunk's bytes.
fn parse_riff(bytes: &[u8]) -> Result<(WavFormat, &[u8]), WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave { len: bytes.len() });
    }
    // The RIFF size is often wrong (streamed writers leave 0 or 0xFFFFFFFF), so walk to the
    // end of the file; chunk sizes themselves are checked.
    let (mut format, mut data) = (None, None);
    let mut offset = 12;
    while offset + 8 <= bytes.len() {
        let id = &bytes[offset..offset + 4];
        let size = le32(bytes, offset + 4) as usize;
        let body_start = offset + 8;
        let body_end = body_start
            .checked_add(size)
            .filter(|&end| end <= bytes.len());
        let Some(body_end) = body_end else {
            return Err(WavError::Truncated {
                id: String::from_utf8_lossy(id).into_owned(),
                offset,
                need: body_start.saturating_add(size),
                len: bytes.len(),
            });
        };
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => format = Some(parse_fmt(body)?),
            b"data" => data = Some(body),
            _ => {} // LIST, fact, cue, bext …
        }
        // Chunks are word-aligned: an odd size is followed by one pad byte.
        offset = body_end + (size & 1);
    }
    let format = format.ok_or(WavError::MissingFormat)?;
    let data = data.ok_or(WavError::MissingData)?;
    Ok((format, data))
}

fn parse_fmt(body: &[u8]) -> Result<WavFormat, WavError> {
    if body.len() < 16 {
        return Err(WavError::MissingFormat);
    }
    let mut tag = le16(body, 0);
    if tag == FORMAT_EXTENSIBLE {
        // cbSize(2) validBits(2) channelMask(4) then the subformat GUID at 24..40.
        tag = match body.get(24..40) {
            Some(guid) if guid[2..] == SUBFORMAT_GUID_TAIL => le16(guid, 0),
            _ => FORMAT_EXTENSIBLE,
        };
    }
    let encoding = match tag {
        FORMAT_PCM => Encoding::Pcm,
        FORMAT_FLOAT => Encoding::Float,
        FORMAT_ALAW => Encoding::ALaw,
        FORMAT_MULAW => Encoding::MuLaw,
        tag => Encoding::Other { tag },
    };
    Ok(WavFormat {
        encoding,
        channels: le16(body, 2),
        sample_rate: le32(body, 4),
        bits_per_sample: le16(body, 14),
    })
}

fn decode_samples(format: WavFormat, data: &[u8]) -> Result<Vec<i16>, WavError> {
    let supported = format.sample_rate == CLOCK_RATE
        && matches!(format.channels, 1 | 2)
        && matches!(
            (format.encoding, format.bits_per_sample),
            (Encoding::Pcm, 16) | (Encoding::ALaw, 8) | (Encoding::MuLaw, 8)
        );
    if !supported {
        return Err(WavError::Unsupported { format });
    }
    let bytes_per_sample = usize::from(format.bits_per_sample / 8);
    let channels = usize::from(format.channels);
    let decode = |s: &[u8]| -> i16 {
        match format.encoding {
            Encoding::ALaw => alaw_decode(s[0]),
            Encoding::MuLaw => ulaw_decode(s[0]),
            _ => i16::from_le_bytes([s[0], s[1]]),
        }
    };
    // A trailing partial frame (a truncated last sample) is dropped.
    let samples = data
        .chunks_exact(bytes_per_sample * channels)
        .map(|frame| {
            let sum: i32 = frame
                .chunks_exact(bytes_per_sample)
                .map(|s| i32::from(decode(s)))
                .sum();
            // The mean of i16 values is an i16.
            (sum / channels as i32) as i16
        })
        .collect();
    Ok(samples)
}

/// A recording cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum WavWriteError {
    /// The underlying writer failed.
    #[error("writing WAV recording")]
    Io(#[from] io::Error),
    /// RIFF sizes are 32-bit: the data would pass 4 GiB (about 74 hours at 8 kHz).
    #[error("WAV recording would exceed {max_bytes} data bytes")]
    TooLarge {
        /// The limit.
        max_bytes: u32,
    },
}

/// Length of the header [`WavWriter`] writes.
pub const HEADER_LEN: usize = 44;
const MAX_DATA: u32 = u32::MAX - 36;

/// The 44-byte header of an 8000 Hz mono 16-bit PCM WAV file with `data_len` data bytes.
pub fn pcm16_header(data_len: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&FORMAT_PCM.to_le_bytes());
    h[22..24].copy_from_slice(&1u16.to_le_bytes());
    h[24..28].copy_from_slice(&CLOCK_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(CLOCK_RATE * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// Records 8000 Hz mono 16-bit PCM: writes a header with zero sizes, appends samples, and
/// [`WavWriter::finalize`] fills the sizes in. Not finalizing leaves a file whose sizes say
/// 0 (most tools then read to the end); there is no finalize-on-drop, since I/O errors in
/// `Drop` would be lost.
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    inner: W,
    start: u64,
    data_len: u32,
}

impl<W: Write + Seek> WavWriter<W> {
    /// Writes the placeholder header at the writer's current position.
    pub fn new(mut inner: W) -> Result<Self, WavWriteError> {
        let start = inner.stream_position()?;
        inner.write_all(&pcm16_header(0))?;
        Ok(Self {
            inner,
            start,
            data_len: 0,
        })
    }

    /// Appends linear samples.
    pub fn write_samples(&mut self, samples: &[i16]) -> Result<(), WavWriteError> {
        let mut buf = [0u8; 2 * FRAME_SAMPLES];
        for chunk in samples.chunks(FRAME_SAMPLES) {
            let bytes = &mut buf[..2 * chunk.len()];
            for (out, s) in bytes.chunks_exact_mut(2).zip(chunk) {
                out.copy_from_slice(&s.to_le_bytes());
            }
            self.write_data(bytes)?;
        }
        Ok(())
    }

    /// Appends a G.711 payload, decoded (for recording received RTP as it arrives).
    pub fn write_g711(&mut self, codec: Codec, payload: &[u8]) -> Result<(), WavWriteError> {
        let mut buf = [0u8; 2 * FRAME_SAMPLES];
        for chunk in payload.chunks(FRAME_SAMPLES) {
            let bytes = &mut buf[..2 * chunk.len()];
            for (out, &code) in bytes.chunks_exact_mut(2).zip(chunk) {
                out.copy_from_slice(&codec.decode_sample(code).to_le_bytes());
            }
            self.write_data(bytes)?;
        }
        Ok(())
    }

    /// Data bytes written so far.
    pub fn data_len(&self) -> u32 {
        self.data_len
    }

    /// Writes the final sizes, leaves the position at the end, and returns the writer.
    pub fn finalize(mut self) -> Result<W, WavWriteError> {
        let end = self.inner.stream_position()?;
        self.inner.seek(SeekFrom::Start(self.start))?;
        self.inner.write_all(&pcm16_header(self.data_len))?;
        self.inner.seek(SeekFrom::Start(end))?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn write_data(&mut self, bytes: &[u8]) -> Result<(), WavWriteError> {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let total = self.data_len.checked_add(len).filter(|&t| t <= MAX_DATA);
        let Some(total) = total else {
            return Err(WavWriteError::TooLarge {
                max_bytes: MAX_DATA,
            });
        };
        self.inner.write_all(bytes)?;
        self.data_len = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use proptest::prelude::*;

    use super::*;

    /// A WAV file with a `fmt ` body and data, plus extra chunks before `data`.
    fn wav(fmt: &[u8], extra: &[(&[u8; 4], &[u8])], data: &[u8]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        let mut chunk = |id: &[u8; 4], b: &[u8]| {
            body.extend_from_slice(id);
            body.extend_from_slice(&(b.len() as u32).to_le_bytes());
            body.extend_from_slice(b);
            if b.len() % 2 == 1 {
                body.push(0);
            }
        };
        chunk(b"fmt ", fmt);
        for (id, b) in extra {
            chunk(id, b);
        }
        chunk(b"data", data);
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let block = channels * bits.div_ceil(8);
        let mut f = Vec::new();
        f.extend_from_slice(&tag.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        f.extend_from_slice(&block.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        f
    }

    fn extensible(sub: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let mut f = fmt(FORMAT_EXTENSIBLE, channels, rate, bits);
        f.extend_from_slice(&22u16.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        f.extend_from_slice(&4u32.to_le_bytes());
        f.extend_from_slice(&sub.to_le_bytes());
        f.extend_from_slice(&SUBFORMAT_GUID_TAIL);
        f
    }

    fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn a_mono_pcm_prompt_is_framed_and_padded_with_silence() {
        let samples: Vec<i16> = (0..200).map(|i| (i * 100) as i16).collect();
        let p =
            Prompt::from_wav(&wav(&fmt(1, 1, 8000, 16), &[], &pcm_bytes(&samples))).expect("valid");
        assert_eq!(p.samples(), &samples[..]);
        assert_eq!(p.frame_count(), 2);
        assert_eq!(p.duration(), Duration::from_millis(25));
        let last = p.frame(Codec::Pcmu, 1).expect("second frame");
        assert_eq!(last.len(), 160);
        assert_eq!(last[39], Codec::Pcmu.encode_sample(19_900));
        assert!(last[40..].iter().all(|&b| b == 0xFF));
        assert!(p.frame(Codec::Pcma, 1).expect("frame")[40..]
            .iter()
            .all(|&b| b == 0xD5));
        assert_eq!(p.frame(Codec::Pcmu, 2), None);
        assert_eq!(p.frames(Codec::Pcma).count(), 2);
    }

    #[test]
    fn g711_and_extensible_files_decode_to_the_same_audio() {
        let codes: Vec<u8> = (0..=255).collect();
        let alaw = Prompt::from_wav(&wav(&fmt(6, 1, 8000, 8), &[], &codes)).expect("A-law");
        let mulaw = Prompt::from_wav(&wav(&extensible(7, 1, 8000, 8), &[], &codes)).expect("µ-law");
        assert_eq!(alaw.samples()[0x55], -8);
        assert_eq!(mulaw.samples()[0xFF], 0);
        // A-law in, A-law out: bit-exact.
        assert_eq!(
            alaw.frames(Codec::Pcma)
                .flatten()
                .take(256)
                .copied()
                .collect::<Vec<_>>(),
            codes
        );
        let ext_pcm = Prompt::from_wav(&wav(
            &extensible(1, 1, 8000, 16),
            &[],
            &pcm_bytes(&[1, 2, 3]),
        ))
        .expect("PCM");
        assert_eq!(ext_pcm.samples(), [1, 2, 3]);
    }

    #[test]
    fn unknown_and_odd_sized_chunks_are_skipped() {
        let file = wav(
            &fmt(1, 1, 8000, 16),
            &[(b"LIST", b"INFOISFT"), (b"junk", b"odd")],
            &pcm_bytes(&[7, -7]),
        );
        assert_eq!(Prompt::from_wav(&file).expect("valid").samples(), [7, -7]);
    }

    #[test]
    fn stereo_at_8000_hz_is_mixed_down_to_mono() {
        let file = wav(
            &fmt(1, 2, 8000, 16),
            &[],
            &pcm_bytes(&[100, 300, -32768, -32768, 32767, 32767]),
        );
        let p = Prompt::from_wav(&file).expect("stereo accepted");
        assert_eq!(p.samples(), [200, -32768, 32767]);
        assert_eq!(p.source_format().channels, 2);
    }

    #[test]
    fn unsupported_formats_say_what_they_are_and_how_to_convert() {
        let cases: [(Vec<u8>, &str); 6] = [
            (fmt(1, 2, 44100, 16), "44100 Hz stereo 16-bit PCM; prompts must be 8000 Hz mono 16-bit PCM, A-law or µ-law \
                (convert: sox in.wav -r 8000 -c 1 -b 16 out.wav)"),
            (fmt(1, 1, 8000, 8), "8000 Hz mono 8-bit PCM; prompts must be"),
            (fmt(1, 1, 8000, 24), "8000 Hz mono 24-bit PCM"),
            (fmt(3, 1, 8000, 32), "8000 Hz mono 32-bit float"),
            (fmt(2, 1, 8000, 4), "8000 Hz mono 4-bit format 0x0002"),
            (fmt(1, 6, 8000, 16), "8000 Hz 6-channel 16-bit PCM"),
        ];
        for (f, message) in cases {
            let err = Prompt::from_wav(&wav(&f, &[], &[0; 16])).expect_err("unsupported");
            assert!(matches!(err, WavError::Unsupported { .. }), "{err:?}");
            assert!(err.to_string().starts_with(message), "{err}");
        }
    }

    #[test]
    fn truncated_and_garbage_files_are_rejected() {
        let good = wav(&fmt(1, 1, 8000, 16), &[], &pcm_bytes(&[1, 2, 3, 4]));
        let cut = &good[..good.len() - 3];
        assert_eq!(
            Prompt::from_wav(cut),
            Err(WavError::Truncated {
                id: "data".into(),
                offset: 36,
                need: 52,
                len: 49
            })
        );
        assert_eq!(
            Prompt::from_wav(b"ID3\x03garbage"),
            Err(WavError::NotWave { len: 11 })
        );
        assert_eq!(
            Prompt::from_wav(&wav(&[1, 0, 1, 0], &[], &[])),
            Err(WavError::MissingFormat)
        );
        let mut no_data = good.clone();
        no_data[36..40].copy_from_slice(b"dat?");
        assert_eq!(Prompt::from_wav(&no_data), Err(WavError::MissingData));
    }

    #[test]
    fn the_writer_produces_a_file_the_reader_accepts() {
        let mut w = WavWriter::new(Cursor::new(Vec::new())).expect("cursor");
        w.write_samples(&[1, -2, 3]).expect("cursor");
        w.write_g711(Codec::Pcmu, &[0xFF, 0x7E]).expect("cursor");
        assert_eq!(w.data_len(), 10);
        let bytes = w.finalize().expect("cursor").into_inner();
        assert_eq!(bytes.len(), HEADER_LEN + 10);
        assert_eq!(&bytes[..HEADER_LEN], &pcm16_header(10));
        assert_eq!(le32(&bytes, 4), 46);
        let p = Prompt::from_wav(&bytes).expect("our own file");
        assert_eq!(p.samples(), [1, -2, 3, 0, -8]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_reader(mut raw in proptest::collection::vec(any::<u8>(), 0..200), riff: bool) {
            if riff && raw.len() >= 12 {
                raw[..4].copy_from_slice(b"RIFF");
                raw[8..12].copy_from_slice(b"WAVE");
            }
            let _ = Prompt::from_wav(&raw);
        }

        #[test]
        fn written_recordings_read_back_identically(samples in proptest::collection::vec(any::<i16>(), 0..500)) {
            let mut w = WavWriter::new(Cursor::new(Vec::new())).expect("cursor");
            w.write_samples(&samples).expect("cursor");
            let bytes = w.finalize().expect("cursor").into_inner();
            let prompt = Prompt::from_wav(&bytes).expect("valid");
            prop_assert_eq!(prompt.samples(), &samples[..]);
        }
    }
}
