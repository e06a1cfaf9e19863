//! Driver: the console's handle on the replicated database. One `alertdb` store (one
//! connection) behind a lock, used from tokio's blocking threads, so a slow disk never
//! stalls the tasks that serve pages and live streams.

use std::path::Path;
use std::sync::{Arc, Mutex};

use alertdb::store::{Store, StoreError};

#[derive(Clone)]
pub struct Db {
    store: Arc<Mutex<Store>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database task failed: {0}")]
    Task(String),
}

impl Db {
    pub fn open(path: &Path, node: &str, wake_socket: Option<&Path>) -> Result<Self, StoreError> {
        let mut store = Store::open(path, node)?;
        if let Some(wake) = wake_socket {
            store = store.with_wake_socket(wake);
        }
        Ok(Self {
            store: Arc::new(Mutex::new(store)),
        })
    }

    /// Runs `f` on the store on a blocking thread.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, DbError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside `f` poisons the lock; the store itself is still consistent
            // (SQLite rolled the transaction back), so carry on with it.
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
        .map_err(DbError::Store)
    }
}
