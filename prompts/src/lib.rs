//! The prompts the media core plays, made from what operators give: a text spoken with
//! espeak-ng (`tts`, cached under a name from the text, so what an operator hears in the
//! console is the very file a campaign call plays) and a recording in any format sox reads
//! (`convert`). Both write 8 kHz mono 16-bit WAV into the shared prompts directory, which
//! the sync agent replicates. Shared by the media core and the web console.

pub mod convert;
pub mod tts;

/// The length in seconds of an 8 kHz mono 16-bit PCM WAV (the prompts' format); None for
/// anything else. Reads the canonical 44-byte header sox writes.
pub fn wav_seconds(bytes: &[u8]) -> Option<f64> {
    let u16_at = |i: usize| Some(u16::from_le_bytes(bytes.get(i..i + 2)?.try_into().ok()?));
    let u32_at = |i: usize| Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
    let ok = bytes.get(0..4)? == b"RIFF"
        && bytes.get(8..12)? == b"WAVE"
        && u16_at(20)? == 1
        && u16_at(22)? == 1
        && u32_at(24)? == 8000
        && u16_at(34)? == 16;
    ok.then(|| (bytes.len().saturating_sub(44)) as f64 / 16_000.0)
}
