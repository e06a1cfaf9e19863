//! Driver: the console's shared state, which every handler gets (the routes are in
//! `routes`).

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use component::contract::Role;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::Db;
use crate::live::Hub;
use crate::nodes::Nodes;
use crate::server;
use crate::signin::SignIn;
use crate::tls;

/// What the application counts (in `status` for the supervisor, and the log).
#[derive(Debug, Default)]
pub struct Counters {
    pub server: Arc<server::Counters>,
    pub sign_ins: AtomicU64,
    pub sign_ins_failed: AtomicU64,
    pub sign_ins_locked: AtomicU64,
    pub sessions_refused: AtomicU64,
    /// State-changing requests refused: another origin, or no valid CSRF token.
    pub forged: AtomicU64,
    pub timeouts: AtomicU64,
    /// Form fields refused (the operator saw why next to the field).
    pub invalid_forms: AtomicU64,
}

pub struct Inner {
    pub config: Config,
    pub db: Db,
    /// What the supervisor told us: the master serves the console, the backup a page
    /// naming the master.
    pub role: watch::Receiver<Role>,
    pub hub: Arc<Hub>,
    pub sign_in: SignIn,
    pub nodes: Nodes,
    pub certificates: Arc<tls::Certificates>,
    /// Speaking a text or converting a recording: two at a time (they take a core each).
    pub media_jobs: tokio::sync::Semaphore,
    pub counters: Counters,
    /// One settings change at a time (read, check, write, audit).
    pub settings_lock: tokio::sync::Mutex<()>,
    /// Ends live streams (shutdown).
    pub cancel: CancellationToken,
}

/// Cheap to clone: every handler gets one.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

impl Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl App {
    pub fn new(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn is_master(&self) -> bool {
        *self.role.borrow() == Role::Master
    }

    pub fn count(&self, which: impl FnOnce(&Counters) -> &AtomicU64) {
        which(&self.counters).fetch_add(1, Ordering::Relaxed);
    }
}

/// Seconds since the epoch (sessions).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
