//! Driver: what identifies one version of a file without reading it (device, inode, size,
//! modification time), so that a watcher loads each version once and a cache knows when
//! its copy is stale.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl FileId {
    /// The identity of `path` now; None if it cannot be read (missing, for one).
    pub fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}
