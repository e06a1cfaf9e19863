//! Driver support: what every task of the agent shares: settings, the agent's own database
//! connection, the exclusion list, the status, and the sender's wake-up.
//!
//! The connection is blocking (rusqlite): tasks use it through [`Node::db`], which runs the
//! closure with `block_in_place` on the multi-threaded runtime, so a slow disk stalls one
//! worker, never the control loop (which has its own).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use tokio::sync::Notify;

use crate::config::Config;
use crate::exclude::Exclusions;
use crate::status::Status;
use crate::tls::Tls;
use journal;

pub struct Node {
    pub cfg: Config,
    pub exclusions: Exclusions,
    pub tls: Tls,
    conn: Mutex<Connection>,
    pub status: Mutex<Status>,
    /// Signalled when the journal grew (a writer's datagram, the watcher, a poll).
    pub wake: Notify,
}

impl Node {
    pub fn open(cfg: Config, tls: Tls) -> Result<Arc<Self>, journal::JournalError> {
        let conn = journal::open_for_agent(&cfg.db)?;
        Ok(Arc::new(Self {
            exclusions: Exclusions::new(&cfg.exclude),
            cfg,
            tls,
            conn: Mutex::new(conn),
            status: Mutex::default(),
            wake: Notify::new(),
        }))
    }

    /// Runs `f` on the agent's connection, off the async scheduler.
    pub fn db<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        tokio::task::block_in_place(|| {
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
    }

    pub fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Present while this node's database must be replaced by a snapshot (it conflicted
    /// with the master's records); removed once a snapshot is installed.
    pub fn resync_flag(&self) -> PathBuf {
        self.cfg.state_dir.join("resync-needed")
    }
}
