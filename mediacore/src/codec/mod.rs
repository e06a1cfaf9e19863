//! Pure: audio codecs and prompt files. G.711 µ-law/A-law (ITU-T G.711, RTP payload types
//! per RFC 3551 §4.5.14), RIFF/WAVE prompts and recordings, and the tones `Playtones`
//! generates.
pub mod g711;
pub mod tones;
pub mod wav;

pub use g711::Codec;
