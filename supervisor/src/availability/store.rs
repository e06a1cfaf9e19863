//! Driver: the ledger file on disk (blocking `std::fs`; the probe task calls it through
//! `spawn_blocking`, `allertactl` directly). Records are appended with `O_APPEND` and
//! fsync'd one by one: outages are rare, and a record lost to a crash would defeat the
//! ledger.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::ledger::{self, Ledger, Record};
use super::{read_if_present, FileError};

/// What the ledger file did not let us do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot {op}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] FileError),
}

/// A month's report, the number of windows read, and the ledger's torn last line, if any.
pub type MonthFiles = (super::report::MonthReport, usize, Option<usize>);

/// This node's report for `year`-`month` from its files (the ledger and the windows), as
/// `allertactl sla` prints it and the supervisor's `/status` summarises it; with the
/// number of windows read and the ledger's torn last line, if any.
pub fn month_report(
    a: &crate::config::AvailabilityConfig,
    year: i64,
    month: u32,
    now_ms: u64,
) -> Result<MonthFiles, FileError> {
    let ledger = load(&a.ledger)?;
    let outages = super::ledger::fold(&a.ledger, &ledger)?;
    let windows = super::windows::load(&a.windows)?;
    let report = super::report::month(
        year,
        month,
        &outages,
        &windows,
        &component::localtime::utc_offset_secs,
        now_ms,
        a.stale_after().as_millis() as u64,
    );
    Ok((report, windows.len(), ledger.torn))
}

/// The local calendar month of `now_ms`.
pub fn this_month(now_ms: u64) -> (i64, u32) {
    let days = component::localtime::local_secs(now_ms).div_euclid(86_400);
    let (y, m, _) = component::civil::civil_from_days(days).unwrap_or((1970, 1, 1));
    (y, m)
}

/// Reads the ledger; a missing file is an empty ledger.
pub fn load(path: &Path) -> Result<Ledger, FileError> {
    match read_if_present(path)? {
        Some(text) => ledger::parse(path, &text),
        None => Ok(Ledger::default()),
    }
}

/// Appends one record and makes it durable. The file (mode 0640) and its directory are
/// created if missing.
pub fn append(path: &Path, record: &Record) -> Result<(), StoreError> {
    let io = |op| {
        move |source| StoreError::Io {
            path: path.into(),
            op,
            source,
        }
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(io("create its directory"))?;
    }
    let new = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(io("open"))?;
    let mut line = record.encode();
    line.push('\n');
    // One write: a crash leaves at most a torn last line, which readers ignore.
    file.write_all(line.as_bytes()).map_err(io("append"))?;
    file.sync_data().map_err(io("fsync"))?;
    if let (true, Some(dir)) = (new, dir) {
        // The new file's name must survive a crash too.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync the directory of"))?;
    }
    Ok(())
}

/// What a starting supervisor found in its ledger.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes of a torn last line cut off (a crash mid-write).
    pub torn_bytes: Option<usize>,
    /// The close appended for an outage its predecessor left open.
    pub closed: Option<Record>,
}

/// At start-up: cuts a torn last line (else the next record would be glued to it, making
/// a bad line in the middle), then closes an outage left open at its last sighting.
pub fn recover(path: &Path) -> Result<Recovery, StoreError> {
    let io = |op| {
        move |source| StoreError::Io {
            path: path.into(),
            op,
            source,
        }
    };
    let mut recovery = Recovery::default();
    let Some(text) = read_if_present(path)? else {
        return Ok(recovery);
    };
    let whole = text.rfind('\n').map_or(0, |i| i + 1);
    if whole < text.len() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io("open"))?;
        file.set_len(whole as u64).map_err(io("truncate"))?;
        file.sync_all().map_err(io("fsync"))?;
        recovery.torn_bytes = Some(text.len() - whole);
    }
    let ledger = ledger::parse(path, &text[..whole])?;
    let outages = ledger::fold(path, &ledger)?;
    if let Some(close) = ledger::closing_dangling(&outages) {
        append(path, &close)?;
        recovery.closed = Some(close);
    }
    Ok(recovery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::ledger::End;

    #[test]
    fn a_restart_cuts_a_torn_line_and_closes_the_dangling_outage() {
        let dir = std::env::temp_dir().join(format!("allerta-ledger-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/availability.jsonl");
        assert_eq!(recover(&path).unwrap(), Recovery::default(), "no file yet");
        append(
            &path,
            &Record::Open {
                at_ms: 1000,
                error: None,
            },
        )
        .unwrap();
        append(&path, &Record::StillDown { at_ms: 11_000 }).unwrap();
        // The supervisor died writing the next still_down.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"still_d").unwrap();
        drop(f);
        let r = recover(&path).unwrap();
        assert_eq!(r.torn_bytes, Some(9));
        let close = Record::Close {
            at_ms: 11_000,
            open_ms: 1000,
            end: End::SupervisorStopped,
        };
        assert_eq!(r.closed, Some(close.clone()));
        let ledger = load(&path).unwrap();
        assert_eq!(ledger.torn, None);
        assert_eq!(ledger.records.last().map(|(_, r)| r), Some(&close));
        // A second restart finds nothing to do.
        assert_eq!(recover(&path).unwrap(), Recovery::default());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
