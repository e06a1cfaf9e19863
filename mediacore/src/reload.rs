//! Driver: configuration takes effect where it lands. The replicated files the media core
//! runs from (`extensions.conf`, `manager.conf`) are put in force when they change, on the
//! master when an operator edits them and on the backup when the sync agent applies them,
//! without a restart and without touching a call in progress (each call keeps the dialplan
//! it started with). Prompts need no watching: the prompt cache checks each file's identity
//! on use (`call::shared::Shared::prompt`).
//!
//! Every 250 ms each file's identity (device, inode, size, mtime) is compared with the one
//! last loaded. A change is loaded; if it loads it replaces the running configuration, and
//! if not the running one stays, the error (file:line) is logged and shown in the status
//! (`config_alarms`) until a later change loads. Polling two `stat`s rather than inotify:
//! the sync agent and most editors replace a file by rename, which an inotify watch on the
//! file loses and one on the directory must filter; a missing file or directory needs no
//! re-arming; and the cost is nil. Why not a message from the sync agent: an operator's
//! edit on the master, a hand edit on either node and a replicated one must all take
//! effect, and only the media core sees all three.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::ami::listener::Listeners;
use crate::ami::users::Users;
use crate::call::shared::Shared;
use crate::dialplan::parse::Dialplan;
use crate::file_id::FileId;
use crate::status::Status;

/// How often the files are looked at: a change is in force within this (plus the load).
pub const POLL: Duration = Duration::from_millis(250);

/// One watched file: the identity last seen, so each version is loaded once.
struct Watched {
    path: PathBuf,
    seen: Option<FileId>,
}

impl Watched {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            seen: FileId::of(path),
        }
    }

    /// Whether the file changed since the last look (and remembers the new identity).
    fn changed(&mut self) -> bool {
        let now = FileId::of(&self.path);
        now != std::mem::replace(&mut self.seen, now)
    }
}

/// The files and where their new versions go.
pub struct Reloader {
    pub extensions: PathBuf,
    pub manager: PathBuf,
    pub shared: Arc<Shared>,
    /// AMI's listeners and users: started, changed or stopped as `manager.conf` says.
    pub ami: Listeners,
    /// Where alarms are shown (`config_alarms` in the status).
    pub status: Arc<Mutex<Status>>,
    /// SIGHUP (`systemctl reload`), the supervisor's `reload`, AMI's `Reload`: load both
    /// files again now, changed or not.
    pub force: Arc<tokio::sync::Notify>,
    /// Counts the forced loads finished (AMI waits on it to answer `Reload`).
    pub done: tokio::sync::watch::Sender<u64>,
}

impl Reloader {
    /// Polls until `cancel`.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut dialplan = Watched::new(&self.extensions);
        let mut manager = Watched::new(&self.manager);
        let mut alarms: BTreeMap<PathBuf, String> = BTreeMap::new();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let forced = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => false,
                _ = self.force.notified() => true,
            };
            let mut touched = false;
            if dialplan.changed() | forced {
                touched = true;
                let result = self.load_dialplan().await;
                note(&mut alarms, &self.extensions, result);
            }
            if manager.changed() | forced {
                touched = true;
                let result = self.load_manager().await;
                note(&mut alarms, &self.manager, result);
            }
            if touched {
                if let Ok(mut status) = self.status.lock() {
                    status.config_alarms = alarms.values().cloned().collect();
                }
            }
            if forced {
                self.done.send_modify(|n| *n += 1);
            }
        }
    }

    async fn load_dialplan(&self) -> Result<(), String> {
        let path = self.extensions.clone();
        let plan = tokio::task::spawn_blocking(move || Dialplan::load(&path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let contexts = plan.contexts().len();
        if let Ok(mut current) = self.shared.dialplan.write() {
            *current = Arc::new(plan);
        }
        info!(path = %self.extensions.display(), contexts, "dialplan in force");
        Ok(())
    }

    async fn load_manager(&mut self) -> Result<(), String> {
        let users = if self.manager.exists() {
            let path = self.manager.clone();
            let users = tokio::task::spawn_blocking(move || Users::load(&path))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            info!(path = %self.manager.display(), users = users.users.len(), enabled = users.enabled, "ami users in force");
            Some(users)
        } else {
            info!(path = %self.manager.display(), "manager.conf removed: AMI off");
            None
        };
        self.ami.apply(users).await.map_err(|e| format!("{e:#}"))
    }
}

/// Records the outcome of a load: an error stays an alarm until a later load succeeds.
fn note(alarms: &mut BTreeMap<PathBuf, String>, path: &Path, result: Result<(), String>) {
    match result {
        Ok(()) => {
            alarms.remove(path);
        }
        Err(error) => {
            error!(path = %path.display(), %error, "configuration not loaded; the running one stays in force");
            alarms.insert(path.to_owned(), error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_replaced_by_rename_or_rewritten_in_place_counts_as_changed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extensions.conf");
        let mut w = Watched::new(&path);
        assert!(!w.changed(), "missing and still missing");
        std::fs::write(&path, "[a]\n").unwrap();
        assert!(w.changed(), "created");
        assert!(!w.changed(), "seen once");
        let tmp = dir.path().join(".tmp");
        std::fs::write(&tmp, "[a]\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert!(w.changed(), "same size, replaced by rename (new inode)");
        std::fs::write(&path, "[ab]\n").unwrap();
        assert!(w.changed(), "rewritten in place, new size");
        std::fs::remove_file(&path).unwrap();
        assert!(w.changed(), "removed");
    }
}
