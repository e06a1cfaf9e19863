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
}

/// The default for [`Ami::write_timeout`].
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
