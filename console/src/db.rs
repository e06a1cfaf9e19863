//! Driver: the console's handle on the replicated database: `alertdb` stores (one
//! connection each) behind locks, one that writes and two that only read, used from
//! tokio's blocking threads, so a slow disk never stalls the tasks that serve pages and
//! live streams, and two pages are read at once.

use std::path::Path;
use std::sync::{Arc, Mutex};

use alertdb::store::{Store, StoreError};

#[derive(Clone)]
pub struct Db {
    store: Arc<Mutex<Store>>,
    /// Connections for pages that only read, so two pages are served at once (SQLite's
    /// WAL lets readers run beside the writer and each other).
    readers: Arc<Vec<Mutex<Store>>>,
}

/// Read connections beside the one that writes.
const READERS: usize = 2;

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
        let readers = (0..READERS)
            .map(|_| Store::open(path, node).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            store: Arc::new(Mutex::new(store)),
            readers: Arc::new(readers),
        })
    }

    /// Runs `f`, which only reads, on a free read connection (the first one if none is
    /// free), on a blocking thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, DbError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let guard = readers
                .iter()
                .find_map(|r| r.try_lock().ok())
                .unwrap_or_else(|| readers[0].lock().unwrap_or_else(|p| p.into_inner()));
            f(&guard)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
        .map_err(DbError::Store)
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
