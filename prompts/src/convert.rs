//! Driver: a recording an operator uploads (WAV, MP3, OGG, FLAC… whatever sox reads),
//! converted by sox to the prompts' format (8 kHz mono 16-bit WAV) under a name of the
//! operator's. Written to a temporary name first and renamed, so a player or the sync
//! agent never sees half a prompt; a file sox cannot read is refused with sox's reason.

use std::path::Path;
use std::process::Command;

/// The longest recording taken, in seconds: an alert message, not an hour of audio.
pub const MAX_SECONDS: f64 = 600.0;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConvertError {
    #[error("{0:?} is not a prompt name: 1 to 64 letters, digits, '-' or '_'")]
    Name(String),
    #[error("sox could not read the file as audio: {0}")]
    NotAudio(String),
    #[error("the recording lasts {0:.0} s; at most {MAX_SECONDS:.0} s")]
    TooLong(f64),
    #[error("converting needs sox (apt install sox): {0}")]
    NoSox(String),
    #[error("{0}")]
    Io(String),
}

/// Whether `name` may name a prompt file (no path, no dot, nothing a shell or a URL minds).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Converts `upload` (its original file name says its type to sox, when it has one) into
/// `prompts_dir/<name>.wav`; the prompt's length in seconds.
pub fn recording(
    prompts_dir: &Path,
    name: &str,
    upload: &Path,
    original_name: &str,
) -> Result<f64, ConvertError> {
    if !valid_name(name) {
        return Err(ConvertError::Name(name.to_owned()));
    }
    // sox picks the reader by extension; keep the upload's (checked) or let sox look.
    let ext = original_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| (1..=5).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()));
    let unique = format!("{}.{:016x}", std::process::id(), rand::random::<u64>());
    let input = match &ext {
        Some(ext) => {
            let linked = upload.with_extension(ext);
            std::fs::rename(upload, &linked).map_err(|e| ConvertError::Io(e.to_string()))?;
            linked
        }
        None => upload.to_owned(),
    };
    let partial = prompts_dir.join(format!(".{unique}.wav"));
    let out = Command::new("sox")
        .arg(&input)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(&partial)
        .output()
        .map_err(|e| ConvertError::NoSox(e.to_string()));
    let _ = std::fs::remove_file(&input);
    let out = out?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&partial);
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why
            .lines()
            .find(|l| l.contains("FAIL") || l.contains("fail"))
            .unwrap_or(why.trim())
            .trim()
            .to_owned();
        return Err(ConvertError::NotAudio(why));
    }
    let bytes = std::fs::read(&partial).map_err(|e| ConvertError::Io(e.to_string()))?;
    let seconds = crate::wav_seconds(&bytes).unwrap_or(0.0);
    if seconds > MAX_SECONDS {
        let _ = std::fs::remove_file(&partial);
        return Err(ConvertError::TooLong(seconds));
    }
    let path = prompts_dir.join(format!("{name}.wav"));
    std::fs::rename(&partial, &path).map_err(|e| ConvertError::Io(e.to_string()))?;
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain() {
        assert!(valid_name("allerta-piena_2"));
        for bad in ["", "../x", "a.b", "a b", "è", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_recording_in_another_format_becomes_a_prompt_and_noise_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A 44.1 kHz stereo FLAC made by sox itself.
        let flac = dir.path().join("in.flac");
        let made = Command::new("sox")
            .args(["-n", "-r", "44100", "-c", "2"])
            .arg(&flac)
            .args(["synth", "2", "sine", "440"])
            .status()
            .expect("sox is missing: ./allerta setup installs it");
        assert!(made.success());
        let upload = dir.path().join("upload-1");
        std::fs::rename(&flac, &upload).unwrap();
        let seconds = recording(dir.path(), "avviso", &upload, "messaggio.FLAC").unwrap();
        assert!((seconds - 2.0).abs() < 0.05, "{seconds}");
        let bytes = std::fs::read(dir.path().join("avviso.wav")).unwrap();
        assert!(crate::wav_seconds(&bytes).is_some());
        assert!(!upload.exists() && !upload.with_extension("flac").exists());

        let junk = dir.path().join("upload-2");
        std::fs::write(&junk, b"this is not audio at all").unwrap();
        let e = recording(dir.path(), "rotto", &junk, "rotto.mp3").unwrap_err();
        assert!(matches!(e, ConvertError::NotAudio(_)), "{e}");
        assert!(!dir.path().join("rotto.wav").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(
            recording(dir.path(), "../x", &junk, "x.wav"),
            Err(ConvertError::Name("../x".into()))
        );
    }
}
