//! Arbitrary bytes as a prompt file, into `mediacore::codec::wav` (RIFF/WAVE).
//!
//! `Prompt::from_wav`; on success every 20 ms frame of both G.711 encodings is walked
//! (`frames`, `frame`, `frame_count`) and must be 160 bytes. The samples are then recorded
//! with `WavWriter` (the encoder) and loaded again: the second load must succeed, say
//! 8000 Hz mono 16-bit PCM and give the same samples.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use mediacore::codec::g711::FRAME_SAMPLES;
use mediacore::codec::wav::{Encoding, Prompt, WavWriter};
use mediacore::codec::Codec;

fuzz_target!(|data: &[u8]| {
    let Ok(prompt) = Prompt::from_wav(data) else {
        return;
    };
    let _ = prompt.source_format().to_string();
    let _ = prompt.duration();
    let frames = prompt.samples().len().div_ceil(FRAME_SAMPLES);
    assert_eq!(prompt.frame_count(), frames);
    for codec in Codec::ALL {
        let mut n = 0;
        for (i, frame) in prompt.frames(codec).enumerate() {
            assert_eq!(frame.len(), FRAME_SAMPLES);
            assert_eq!(prompt.frame(codec, i), Some(frame));
            n += 1;
        }
        assert_eq!(n, frames);
        assert_eq!(prompt.frame(codec, frames), None);
        assert_eq!(prompt.frame(codec, usize::MAX), None);
    }

    let mut writer = WavWriter::new(Cursor::new(Vec::new())).expect("in memory");
    writer.write_samples(prompt.samples()).expect("in memory");
    let file = writer.finalize().expect("in memory").into_inner();
    let again = Prompt::from_wav(&file).expect("a recording we wrote loads");
    let format = again.source_format();
    assert_eq!(
        (
            format.encoding,
            format.channels,
            format.sample_rate,
            format.bits_per_sample
        ),
        (Encoding::Pcm, 1, 8000, 16)
    );
    assert_eq!(
        again.samples(),
        prompt.samples(),
        "write -> load changed the samples"
    );
});
