//! The availability ledger: outages of the service as a client sees them (no master
//! answering), recorded by each node's supervisor and judged against the SLA (`sla`).
//!
//! ```text
//!  probe.rs (task: TCP + banner every interval) ─result─▶ monitor.rs (pure) ─records─▶
//!      store.rs (append + fsync, via spawn_blocking) ─▶ <state_dir>/availability.jsonl
//!  allertactl sla: store::load ─▶ ledger::fold ─▶ report::month (+ windows.rs) ─▶ render
//! ```
//!
//! Pure: `ledger` (the file's format and its folding into outages), `monitor` (probe results
//! to records), `windows` (announced work and exclusions), `report` (the month).
//! Drivers: `probe` (the probing task), `store` (the file). Both files' errors are a
//! `FileError`, naming the file and the line.
pub mod ledger;
pub mod monitor;
pub mod probe;
pub mod report;
pub mod store;
pub mod windows;

use std::path::{Path, PathBuf};

/// The ledger or the windows file cannot be read, or a line of it is wrong.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// The file's text, or None if there is no such file (no ledger yet, no windows).
pub fn read_if_present(path: &Path) -> Result<Option<String>, FileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FileError::Read {
            path: path.into(),
            source,
        }),
    }
}
