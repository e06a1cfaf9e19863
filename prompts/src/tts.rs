//! Driver: text messages spoken with espeak-ng (Debian's package; Italian voice by
//! default), converted by sox to the prompts' format (8 kHz mono 16-bit WAV) and cached
//! in the prompts directory under `tts/<hash of language and text>`, so each text is
//! synthesised once (and, the prompts directory being shared, replicated to the backup).

use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// The instruction and thanks prompts, per language.
fn standard_texts(language: &str) -> (&'static str, &'static str) {
    match language {
        "de" => (
            "Um den Empfang dieser Nachricht zu bestätigen, drücken Sie die 1. Um sie noch einmal zu hören, drücken Sie die 9.",
            "Danke. Ihre Bestätigung wurde gespeichert.",
        ),
        "en" => (
            "To confirm that you received this message, press 1. To hear it again, press 9.",
            "Thank you. Your confirmation has been recorded.",
        ),
        _ => (
            "Per confermare di aver ricevuto questo messaggio, premere 1. Per riascoltarlo, premere 9.",
            "Grazie. La conferma è stata registrata.",
        ),
    }
}

/// espeak-ng's voice for a language code (unknown ones get Italian).
fn voice(language: &str) -> &'static str {
    match language {
        "de" => "de",
        "en" => "en",
        "fr" => "fr",
        _ => "it",
    }
}

/// The prompts a campaign call plays: the message, the instructions, the thanks (names
/// for the prompts directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPrompts {
    /// The alert message.
    pub message: String,
    /// "Press 1 to confirm, 9 to hear again."
    pub instructions: String,
    /// "Thank you."
    pub thanks: String,
}

/// The prompts for a message: `text` is spoken, `recording` names a prompt that must
/// exist. Errors say what is missing.
pub fn call_prompts(
    prompts_dir: &Path,
    kind: &str,
    body: &str,
    language: &str,
) -> Result<CallPrompts, String> {
    let message = match kind {
        "text" => speak(prompts_dir, body, language)?,
        _ => {
            let name = body.trim_end_matches(".wav");
            if name.contains("..") || !prompts_dir.join(format!("{name}.wav")).is_file() {
                return Err(format!(
                    "recorded message {name:?}: no {name}.wav in {}",
                    prompts_dir.display()
                ));
            }
            name.to_owned()
        }
    };
    let (instructions, thanks) = standard_texts(language);
    Ok(CallPrompts {
        message,
        instructions: speak(prompts_dir, instructions, language)?,
        thanks: speak(prompts_dir, thanks, language)?,
    })
}

/// The cache's name for `text` in `language`.
fn cache_name(text: &str, language: &str) -> String {
    let digest = Sha256::digest(format!("{language}\n{text}").as_bytes());
    format!("tts/{}", &hex::encode(digest)[..20])
}

/// The prompt's name if `text` was spoken already (nothing is run).
pub fn cached(prompts_dir: &Path, text: &str, language: &str) -> Option<String> {
    let name = cache_name(text, language);
    prompts_dir
        .join(format!("{name}.wav"))
        .is_file()
        .then_some(name)
}

/// Speaks `text` into a cached prompt; returns its name.
pub fn speak(prompts_dir: &Path, text: &str, language: &str) -> Result<String, String> {
    let name = cache_name(text, language);
    let path = prompts_dir.join(format!("{name}.wav"));
    if path.is_file() {
        return Ok(name);
    }
    let dir = prompts_dir.join("tts");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Names of this call's own: two prompts spoken at once (a campaign being created while
    // an AMI application asks for another) must not write each other's files.
    let unique = format!("{}.{:016x}", std::process::id(), rand::random::<u64>());
    let wide = dir.join(format!(".{unique}.22k.wav"));
    let narrow = dir.join(format!(".{unique}.8k.wav"));
    // The text goes on stdin: a text starting with '-' cannot become an option.
    let mut espeak = Command::new("espeak-ng")
        .args(["-v", voice(language), "-s", "150", "--stdin", "-w"])
        .arg(&wide)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("text-to-speech needs espeak-ng (apt install espeak-ng): {e}"))?;
    if let Some(mut stdin) = espeak.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("espeak-ng: {e}"))?;
    }
    let out = espeak
        .wait_with_output()
        .map_err(|e| format!("espeak-ng: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&wide);
        return Err(format!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let out = Command::new("sox")
        .arg(&wide)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(&narrow)
        .output()
        .map_err(|e| format!("converting speech needs sox (apt install sox): {e}"))?;
    let _ = std::fs::remove_file(&wide);
    if !out.status.success() {
        let _ = std::fs::remove_file(&narrow);
        return Err(format!(
            "sox failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::fs::rename(&narrow, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_spoken_once_into_an_8khz_prompt() {
        for tool in ["espeak-ng", "sox"] {
            assert!(
                std::process::Command::new(tool)
                    .arg("--version")
                    .output()
                    .is_ok(),
                "{tool} is missing: ./allerta setup installs it"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            cached(dir.path(), "Allerta meteo: evacuare la zona rossa.", "it"),
            None
        );
        let name = speak(dir.path(), "Allerta meteo: evacuare la zona rossa.", "it").unwrap();
        assert_eq!(
            cached(dir.path(), "Allerta meteo: evacuare la zona rossa.", "it"),
            Some(name.clone())
        );
        let path = dir.path().join(format!("{name}.wav"));
        let bytes = std::fs::read(&path).unwrap();
        let seconds = crate::wav_seconds(&bytes).expect("an 8 kHz mono 16-bit WAV");
        assert!(seconds > 1.0, "{seconds} s");
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(
            speak(dir.path(), "Allerta meteo: evacuare la zona rossa.", "it").unwrap(),
            name
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            modified,
            "cached"
        );
        // Texts spoken at once on several threads each get their own whole prompt.
        let texts: Vec<String> = (0..4).map(|i| format!("Messaggio numero {i}")).collect();
        let names: Vec<String> = std::thread::scope(|s| {
            let spoken: Vec<_> = texts
                .iter()
                .map(|t| s.spawn(|| speak(dir.path(), t, "it").unwrap()))
                .collect();
            spoken.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for name in &names {
            let bytes = std::fs::read(dir.path().join(format!("{name}.wav"))).unwrap();
            crate::wav_seconds(&bytes).expect("a whole prompt");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path().join("tts"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
        let p = call_prompts(dir.path(), "text", "Prova", "de").unwrap();
        assert_ne!(p.instructions, p.thanks);
        assert!(call_prompts(dir.path(), "recording", "missing", "it")
            .unwrap_err()
            .contains("no missing.wav"));
    }
}
