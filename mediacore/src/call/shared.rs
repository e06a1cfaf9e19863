//! Driver: what every call task shares: the SIP engine's handle, the media ports, the
//! dialplan and the prompts in force (reloaded where replicated configuration lands).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::codec::g711::Codec;
use crate::codec::wav::Prompt;
use crate::dialplan::parse::Dialplan;
use crate::engine::Command;
use crate::media::Ports;

/// What every call task shares.
pub struct Shared {
    /// The dialplan in force (replaced on reload).
    pub dialplan: RwLock<Arc<Dialplan>>,
    /// Where prompts are.
    pub prompts_dir: PathBuf,
    /// Where relative recordings go.
    pub recordings_dir: PathBuf,
    /// Loaded prompts by name, each with the identity of the file it was read from: a
    /// prompt re-recorded or replicated under the same name is read again on its next use.
    pub prompts: Mutex<HashMap<String, (crate::file_id::FileId, Arc<Prompt>)>>,
    /// RTP ports.
    pub ports: Arc<Ports>,
    /// The address in our SDP and where RTP sockets bind.
    pub media_ip: IpAddr,
    /// Hang up after this long without RTP.
    pub rtp_timeout: Duration,
    /// Codecs per trunk, in preference order.
    pub codecs: HashMap<String, Vec<Codec>>,
    /// Signalling.
    pub commands: mpsc::UnboundedSender<Command>,
    /// Sends every call's audio.
    pub pacer: Arc<crate::pacer::Pacer>,
    /// Running calls as AMI reaches them (variables, redirects), and AMI globals.
    pub live: crate::live::LiveChannels,
    /// The campaign database (the inbound alert line reads the current alert from it).
    pub store: Option<Arc<Mutex<crate::campaign::store::Store>>>,
    /// The engine's status (our role: recording an alert by phone is for the master).
    pub status: Arc<Mutex<crate::status::Status>>,
    /// The alert line's wrong PINs.
    pub pins: Mutex<crate::campaign::pin_guard::PinGuard>,
    /// AMI's events (the dialplan's `UserEvent`); `None`: no AMI.
    pub events: Option<tokio::sync::broadcast::Sender<Arc<crate::ami::events::Event>>>,
}

impl Shared {
    /// Sends the dialplan's `UserEvent` to AMI clients, with the channel's name and id
    /// first as Asterisk does.
    pub fn user_event(
        &self,
        name: &str,
        fields: Vec<(String, String)>,
        channel: Option<&str>,
        uniqueid: Option<&str>,
    ) {
        let Some(events) = &self.events else {
            return;
        };
        let mut all: Vec<(String, String)> = [("Channel", channel), ("Uniqueid", uniqueid)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
            .collect();
        all.extend(fields);
        let _ = events.send(crate::ami::events::user_event(name, &all).shared());
    }

    /// A prompt by dialplan name (`alert`, `custom/alert`, with or without `.wav`), from
    /// the cache if the file is the one it was read from, else from the prompts directory.
    /// One `stat` per use: the cache holds what the file says now, whoever changed it.
    pub fn prompt(&self, name: &str) -> Result<Arc<Prompt>, String> {
        if name.contains("..") {
            return Err(format!("prompt name {name:?} leaves the prompts directory"));
        }
        let path = wav_path(&self.prompts_dir, name);
        let id = crate::file_id::FileId::of(&path);
        if let Some((cached_id, p)) = self.prompts.lock().ok().and_then(|c| c.get(name).cloned()) {
            if Some(cached_id) == id {
                return Ok(p);
            }
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let prompt =
            Arc::new(Prompt::from_wav(&bytes).map_err(|e| format!("{}: {e}", path.display()))?);
        // Cached under the identity seen before the read: if the file changed in between,
        // the next use reads it again.
        if let (Some(id), Ok(mut cache)) = (id, self.prompts.lock()) {
            cache.insert(name.to_owned(), (id, prompt.clone()));
        }
        Ok(prompt)
    }

    /// Whether the supervisor made this node the master (the one that writes AstDB).
    pub fn is_master(&self) -> bool {
        self.status.lock().is_ok_and(|s| s.role == "master")
    }

    /// What a call's dialplan reads and writes beyond its channel (AstDB, the clock).
    pub fn environment(&self) -> Arc<dyn crate::dialplan::exec::Environment> {
        Arc::new(super::environment::CallEnvironment::new(
            self.store.clone(),
            self.status.clone(),
        ))
    }

    /// Several prompts by name, in order.
    pub fn prompts(&self, files: &[String]) -> Result<Vec<Arc<Prompt>>, String> {
        files.iter().map(|f| self.prompt(f)).collect()
    }
}

/// The WAV file a dialplan name means: `.wav` added if missing, relative names in `dir`.
/// Where `Record(name)` may write: a relative name under the recordings directory, an
/// absolute one only inside the recordings or prompts directory, and never through `..`.
/// The name is often built from what a caller sends (`${CALLERID(num)}`, `${EXTEN}`), so it
/// must not reach the rest of the file system.
pub(crate) fn record_path(
    recordings: &Path,
    prompts: &Path,
    name: &str,
) -> Result<PathBuf, String> {
    let path = wav_path(recordings, name);
    let climbs = path
        .components()
        .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)));
    let inside = [recordings, prompts]
        .iter()
        .any(|dir| path.starts_with(dir));
    if climbs || !inside {
        return Err(format!(
            "Record({name}): only inside {} or {}, without '..'",
            recordings.display(),
            prompts.display()
        ));
    }
    Ok(path)
}

pub(crate) fn wav_path(dir: &Path, name: &str) -> PathBuf {
    let file = if name.ends_with(".wav") {
        name.to_owned()
    } else {
        format!("{name}.wav")
    };
    if Path::new(&file).is_absolute() {
        PathBuf::from(file)
    } else {
        dir.join(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_stays_inside_the_recordings_or_prompts_directory() {
        let (rec, prompts) = (Path::new("/var/spool/allerta"), Path::new("/srv/prompts"));
        let ok = |name: &str| record_path(rec, prompts, name);
        assert_eq!(ok("msg-612").unwrap(), rec.join("msg-612.wav"));
        assert_eq!(ok("a/b.wav").unwrap(), rec.join("a/b.wav"));
        assert_eq!(
            ok("/srv/prompts/custom/alert").unwrap(),
            prompts.join("custom/alert.wav")
        );
        for bad in [
            "../../etc/cron.d/x",
            "a/../../b",
            "/etc/passwd",
            "/var/spool/allerta/../../etc/x",
            "/var/spool/allertaX/y",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }
}
