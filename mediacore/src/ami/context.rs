//! Driver: what every AMI client task shares: manager.conf as in force now, the media core,
//! the engine's status, the event broadcast, the campaign database. The server hands it to
//! each client; the actions (`actions`, `campaigns`) perform with it.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::broadcast;

use super::events::Event;
use super::users::Users;
use crate::call::shared::Shared;
use crate::status::Status;

/// What every client task shares.
pub struct Ami {
    /// manager.conf as in force now: the config watcher (`reload`) sends a new one when
    /// the file changes and loads; each client follows it.
    pub users: tokio::sync::watch::Sender<Arc<Users>>,
    /// The media core (originate).
    pub shared: Arc<Shared>,
    /// The SIP engine's status (calls).
    pub status: Arc<Mutex<Status>>,
    /// Events to every client.
    pub events: broadcast::Sender<Arc<Event>>,
    /// When the media core started.
    pub started: SystemTime,
    /// A client that takes longer than this to accept what we write (it stopped
    /// reading, its window is shut) is dropped: it cannot be told, and waiting longer
    /// only keeps its connection alive for nothing.
    pub write_timeout: std::time::Duration,
    /// The campaign database (Allerta's own campaign actions); `None`: not available.
    pub store: Option<Arc<Mutex<crate::campaign::store::Store>>>,
    /// The peer node's address, to name the master when the backup refuses a change.
    pub peer: Option<String>,
    /// `pjsip.conf` as loaded at start (`PJSIPShow…`, `pjsip show …`); `None`: not known.
    pub pjsip: Option<Arc<crate::conf::pjsip::PjsipConfig>>,
    /// The config watcher, for `Reload` and `Command: dialplan reload`; `None`: none runs.
    pub reload: Option<ReloadHandle>,
    /// `AbsoluteTimeout`s in force, by the channel's Uniqueid.
    pub timeouts: Arc<Mutex<std::collections::HashMap<String, tokio::task::JoinHandle<()>>>>,
}

impl Ami {
    /// Why this node refuses a change (it is not the master), naming the master; `None` on
    /// the master. Every change an application asks for is the master's (replicated to
    /// the backup), as on the command line.
    pub fn not_master(&self) -> Option<String> {
        let role = self
            .status
            .lock()
            .map(|s| s.role.clone())
            .unwrap_or_default();
        if role == "master" {
            return None;
        }
        let master = self
            .peer
            .as_deref()
            .map_or("the master".to_owned(), |p| format!("the master ({p})"));
        Some(format!(
            "This node is the {role}: send changes to {master}, or through the VIP"
        ))
    }
}

/// How AMI asks the config watcher (`reload`) to read the replicated files again and learns
/// it has: `force` wakes it, `done` counts the forced loads it finished.
#[derive(Clone)]
pub struct ReloadHandle {
    /// Wakes the watcher (the same wake-up as SIGHUP's).
    pub force: Arc<tokio::sync::Notify>,
    /// Forced loads finished since start.
    pub done: tokio::sync::watch::Receiver<u64>,
}

/// The default for [`Ami::write_timeout`].
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
