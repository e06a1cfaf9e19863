//! Driver: what a call's dialplan reads and writes beyond its channel
//! ([`crate::dialplan::exec::Environment`]): AstDB in the node's database (`DB()`), the
//! clock and the node's time zone (`EPOCH`, `STRFTIME()`).
//!
//! AstDB is written on the master only, as AMI's `DBPut` is: replication is one way, and a
//! value a backup's call stored would be overwritten by the next change from the master or
//! break the replication of that row. On a backup `Set(DB(…)=…)` is an error the dialplan
//! sees (the call hangs up with the reason logged), not a silent loss.
//!
//! The store is read and written under its lock on the call's task: one indexed row, well
//! under a millisecond, like the ledger writes the IVR makes.

use std::sync::{Arc, Mutex};

use crate::campaign::store::Store;
use crate::dialplan::exec::Environment;
use crate::status::Status;

/// A call's environment.
pub struct CallEnvironment {
    store: Option<Arc<Mutex<Store>>>,
    status: Arc<Mutex<Status>>,
}

impl std::fmt::Debug for CallEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallEnvironment")
            .field("store", &self.store.is_some())
            .finish()
    }
}

impl CallEnvironment {
    /// The environment over the node's store (if it has one) and status (for the role).
    pub fn new(store: Option<Arc<Mutex<Store>>>, status: Arc<Mutex<Status>>) -> Self {
        Self { store, status }
    }
}

impl Environment for CallEnvironment {
    fn db_get(&self, family: &str, key: &str) -> Option<String> {
        let store = self.store.as_ref()?.lock().ok()?;
        store.db_get(family, key).ok().flatten()
    }

    fn db_put(&self, family: &str, key: &str, value: &str) -> Result<(), String> {
        let role = self
            .status
            .lock()
            .map(|s| s.role.clone())
            .unwrap_or_default();
        if role != "master" {
            return Err(format!(
                "this node is the {role}: AstDB is written on the master (replication is one way)"
            ));
        }
        let store = self.store.as_ref().ok_or("no database configured")?;
        let mut store = store.lock().map_err(|_| "database lock poisoned")?;
        store.db_put(family, key, value).map_err(|e| e.to_string())
    }

    fn now(&self) -> i64 {
        (component::localtime::now_ms() / 1000) as i64
    }

    fn utc_offset(&self, epoch: i64) -> i64 {
        component::localtime::utc_offset_secs(epoch)
    }
}
