//! Driver: live campaign progress. One task reads the replicated ledger for every
//! campaign some browser is watching, whenever the database changed (SQLite's
//! `data_version`, checked every `POLL`), and hands each watcher the new snapshot; each
//! browser's stream (`pages::live`) turns snapshots into server-sent events. So twenty
//! browsers cost one query per change, not twenty, and a write reaches them within
//! `POLL` plus a render.
//!
//! A snapshot carries everything the progress panel shows, so a browser that reconnects
//! (to this node or, after a takeover, to the other) gets the whole picture in its first
//! event; its id comes from the ledger (attempts ended, confirmed, calling), never from a
//! counter in this process, so it means the same on both nodes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertdb::progress::{self, Progress};
use alertdb::store::{Counts, Store, StoreError};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// How often the database's change counter is read.
pub const POLL: Duration = Duration::from_millis(200);

/// A campaign's progress at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The event id: `<attempts ended>.<confirmed>.<calling>`.
    pub id: String,
    /// The campaign's row id.
    pub campaign: i64,
    pub name: String,
    pub state: String,
    pub counts: Counts,
    pub progress: Progress,
    /// When it started (ms since the epoch), for the chart's left edge.
    pub started_at: Option<i64>,
    /// (ms since the epoch, recipients finished by then), one point per second with a
    /// finish: the chart.
    pub timeline: Vec<(i64, u64)>,
    /// Finished attempts by outcome, most first.
    pub outcomes: Vec<(String, u64)>,
    /// When the ledger was last written (ms since the epoch): the live stream's delay is
    /// measured from it (`./allerta bench console`).
    pub written_at: Option<i64>,
}

type Slot = watch::Sender<Option<Arc<Snapshot>>>;

/// The campaigns being watched, and their latest snapshots.
#[derive(Default)]
pub struct Hub {
    watched: Mutex<HashMap<i64, Slot>>,
    /// A new campaign is being watched: read it now, not at the next change.
    wake: Notify,
}

impl Hub {
    /// The snapshots of campaign `id` (None until the first is read).
    pub fn subscribe(&self, id: i64) -> watch::Receiver<Option<Arc<Snapshot>>> {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        let rx = match watched.get(&id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(None);
                watched.insert(id, tx);
                self.wake.notify_one();
                rx
            }
        };
        rx
    }

    /// Campaigns with a browser watching; forgets the others.
    fn watched(&self) -> Vec<(i64, Slot)> {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        watched.retain(|_, tx| tx.receiver_count() > 0);
        watched.iter().map(|(id, tx)| (*id, tx.clone())).collect()
    }

    pub fn watching(&self) -> usize {
        self.watched
            .lock()
            .map(|w| w.values().map(|tx| tx.receiver_count()).sum())
            .unwrap_or(0)
    }
}

/// Reads the progress of `id` now.
pub fn snapshot(store: &Store, id: i64) -> Result<Option<Snapshot>, StoreError> {
    let Some(c) = store.campaign_by_id(id)? else {
        return Ok(None);
    };
    let counts = store.counts(id)?;
    let progress = progress::estimate(&c, &counts);
    let (started_at, timeline) = store.finish_times(id)?;
    let (outcomes, written_at) = store.outcomes(id)?;
    Ok(Some(Snapshot {
        id: format!(
            "{}.{}.{}",
            counts.attempts_done, counts.confirmed, counts.calling
        ),
        campaign: id,
        name: c.name.clone(),
        state: c.state.as_str().to_owned(),
        counts,
        progress,
        started_at,
        timeline,
        outcomes,
        written_at,
    }))
}

/// Keeps the watched campaigns' snapshots current until `cancel`.
pub async fn run(hub: Arc<Hub>, database: &Path, node: &str, cancel: CancellationToken) {
    let store = loop {
        match Store::open(database, node) {
            Ok(s) => break s,
            Err(e) => {
                warn!(error = %e, "live progress: cannot open the database; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    let store = Arc::new(Mutex::new(store));
    let mut seen_version: Option<i64> = None;
    let mut known: HashMap<i64, ()> = HashMap::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
            _ = hub.wake.notified() => {}
        }
        let watched = hub.watched();
        if watched.is_empty() {
            known.clear();
            continue;
        }
        let fresh: Vec<i64> = watched
            .iter()
            .filter(|(id, tx)| !known.contains_key(id) || tx.borrow().is_none())
            .map(|(id, _)| *id)
            .collect();
        let store2 = store.clone();
        let ids: Vec<i64> = watched.iter().map(|(id, _)| *id).collect();
        let read = tokio::task::spawn_blocking(move || {
            let s = store2.lock().unwrap_or_else(|p| p.into_inner());
            let version: i64 = s
                .connection()
                .pragma_query_value(None, "data_version", |r| r.get(0))?;
            let changed = seen_version != Some(version);
            let mut out = Vec::new();
            for id in ids {
                if changed || fresh.contains(&id) {
                    out.push((id, snapshot(&s, id)?));
                }
            }
            Ok::<_, StoreError>((version, out))
        })
        .await;
        let (version, snapshots) = match read {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                warn!(error = %e, "live progress: reading the ledger failed");
                continue;
            }
            Err(e) => {
                warn!(error = %e, "live progress: the reading task failed");
                continue;
            }
        };
        seen_version = Some(version);
        for (id, snap) in snapshots {
            known.insert(id, ());
            if let Some((_, tx)) = watched.iter().find(|(w, _)| *w == id) {
                let snap = snap.map(Arc::new);
                tx.send_if_modified(|cur| {
                    if *cur == snap {
                        false
                    } else {
                        *cur = snap;
                        true
                    }
                });
            }
        }
    }
}
