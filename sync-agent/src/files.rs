//! Storage: the shared tree on disk. A scan with hashes (what is there now, as manifest
//! entries) and the backup's atomic apply: write a temporary file next to the target,
//! verify its hash, set mode and mtime, fsync, rename over the target, fsync the directory.
//! A crash at any point leaves the old file or the new one, never a mix; a leftover
//! temporary file is removed by the next `sweep_temporaries`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use crate::exclude::{Exclusions, TMP_SUFFIX};
use crate::proto::FileMeta;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {op}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{path}: content hash does not match the record")]
    Hash { path: PathBuf },
    #[error("{path}: {size} bytes received, {expected} announced")]
    Size {
        path: PathBuf,
        size: u64,
        expected: u64,
    },
}

fn io_err(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> FileError {
    let path = path.to_owned();
    move |source| FileError::Io { path, op, source }
}

/// What a scan skipped and why (shown by `--dry-run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub why: String,
}

/// Reads `path` (relative `rel`) into a manifest entry: size, mode, mtime and BLAKE3.
pub fn stat_and_hash(root: &Path, rel: &str) -> Result<FileMeta, FileError> {
    let full = root.join(rel);
    let mut file = File::open(&full).map_err(io_err(&full, "open"))?;
    let before = file.metadata().map_err(io_err(&full, "stat"))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err(&full, "read"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileMeta {
        path: rel.to_owned(),
        size,
        mode: before.mode() & 0o7777,
        mtime_ns: before.mtime() * 1_000_000_000 + before.mtime_nsec(),
        hash: *hasher.finalize().as_bytes(),
    })
}

/// Every regular file of the tree that is not excluded, with hashes, sorted by path; and
/// what was skipped (excluded, symlinks, special files, names that are not UTF-8).
pub fn scan(root: &Path, exclusions: &Exclusions) -> (Vec<FileMeta>, Vec<Skipped>) {
    let (mut found, mut skipped) = (Vec::new(), Vec::new());
    walk(root, "", exclusions, &mut found, &mut skipped);
    found.sort_by(|a, b| a.path.cmp(&b.path));
    (found, skipped)
}

/// Like `scan`, for the subtree `prefix` (a relative directory path) only.
pub fn scan_under(root: &Path, prefix: &str, exclusions: &Exclusions) -> Vec<FileMeta> {
    let (mut found, mut skipped) = (Vec::new(), Vec::new());
    walk(
        root,
        &format!("{prefix}/"),
        exclusions,
        &mut found,
        &mut skipped,
    );
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn walk(
    root: &Path,
    prefix: &str,
    exclusions: &Exclusions,
    found: &mut Vec<FileMeta>,
    skipped: &mut Vec<Skipped>,
) {
    let Ok(entries) = fs::read_dir(root.join(prefix)) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            skipped.push(Skipped {
                path: format!("{prefix}{}", entry.file_name().to_string_lossy()),
                why: "name is not UTF-8".into(),
            });
            continue;
        };
        let rel = format!("{prefix}{name}");
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            // A directory is excluded if everything under it would be ("node/**").
            if exclusions.is_excluded(&format!("{rel}/x")) && exclusions.is_excluded(&rel) {
                skipped.push(Skipped {
                    path: format!("{rel}/"),
                    why: "excluded".into(),
                });
            } else {
                walk(root, &format!("{rel}/"), exclusions, found, skipped);
            }
            continue;
        }
        if let Err(e) = exclusions.check(&rel) {
            if !rel.ends_with(TMP_SUFFIX) {
                skipped.push(Skipped {
                    path: rel,
                    why: e.to_string(),
                });
            }
            continue;
        }
        if !kind.is_file() {
            skipped.push(Skipped {
                path: rel,
                why: "not a regular file (symlinks and special files are not replicated)".into(),
            });
            continue;
        }
        match stat_and_hash(root, &rel) {
            Ok(meta) => found.push(meta),
            // Vanished between readdir and open: the watcher or the next scan sees it.
            Err(_) => continue,
        }
    }
}

/// A file being received: a temporary file next to its target.
pub struct Incoming {
    target: PathBuf,
    tmp: PathBuf,
    file: File,
    hasher: blake3::Hasher,
    size: u64,
    meta: FileMeta,
}

impl Incoming {
    /// Creates the temporary file (and missing parent directories) for `meta`.
    pub fn begin(root: &Path, meta: FileMeta) -> Result<Self, FileError> {
        let target = root.join(&meta.path);
        let dir = target.parent().unwrap_or(root).to_owned();
        fs::create_dir_all(&dir).map_err(io_err(&dir, "create directory"))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}{TMP_SUFFIX}"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(&tmp, "create temporary"))?;
        Ok(Self {
            target,
            tmp,
            file,
            hasher: blake3::Hasher::new(),
            size: 0,
            meta,
        })
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), FileError> {
        self.hasher.update(data);
        self.size += data.len() as u64;
        self.file
            .write_all(data)
            .map_err(io_err(&self.tmp, "write"))
    }

    /// Verifies size and hash, sets mode and mtime, fsyncs, renames into place and fsyncs
    /// the directory. On any error the temporary file is removed and the target untouched.
    pub fn commit(self) -> Result<FileMeta, FileError> {
        let result = self.finish();
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result.map(|()| self.meta)
    }

    fn finish(&self) -> Result<(), FileError> {
        if self.size != self.meta.size {
            return Err(FileError::Size {
                path: self.target.clone(),
                size: self.size,
                expected: self.meta.size,
            });
        }
        if *self.hasher.finalize().as_bytes() != self.meta.hash {
            return Err(FileError::Hash {
                path: self.target.clone(),
            });
        }
        self.file
            .set_permissions(fs::Permissions::from_mode(self.meta.mode))
            .map_err(io_err(&self.tmp, "chmod"))?;
        let mtime = if self.meta.mtime_ns >= 0 {
            UNIX_EPOCH + Duration::from_nanos(self.meta.mtime_ns as u64)
        } else {
            UNIX_EPOCH
        };
        self.file
            .set_modified(mtime)
            .map_err(io_err(&self.tmp, "set mtime"))?;
        self.file.sync_all().map_err(io_err(&self.tmp, "fsync"))?;
        fs::rename(&self.tmp, &self.target).map_err(io_err(&self.target, "rename"))?;
        sync_parent(&self.target)
    }

    /// Gives up on this content (superseded on the master, or the session broke).
    pub fn abort(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Removes `rel` (if present) and fsyncs its directory.
pub fn remove(root: &Path, rel: &str) -> Result<(), FileError> {
    let target = root.join(rel);
    match fs::remove_file(&target) {
        Ok(()) => sync_parent(&target),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&target, "remove")(e)),
    }
}

fn sync_parent(path: &Path) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "fsync directory"))
}

/// Removes temporary files a crash left behind (they were never renamed into place, so
/// they are no one's state).
pub fn sweep_temporaries(root: &Path) -> usize {
    fn go(dir: &Path, count: &mut usize) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => go(&path, count),
                Ok(_)
                    if e.file_name().to_string_lossy().ends_with(TMP_SUFFIX)
                        && fs::remove_file(&path).is_ok() =>
                {
                    *count += 1;
                }
                _ => {}
            }
        }
    }
    let mut count = 0;
    go(root, &mut count);
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(root: &Path, meta: FileMeta, content: &[u8]) -> Result<FileMeta, FileError> {
        let mut inc = Incoming::begin(root, meta)?;
        for chunk in content.chunks(3) {
            inc.write(chunk)?;
        }
        inc.commit()
    }

    #[test]
    fn a_received_file_lands_with_its_mode_and_mtime() {
        let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::create_dir_all(src.path().join("prompts")).unwrap();
        fs::write(src.path().join("prompts/a.wav"), b"RIFF....").unwrap();
        fs::set_permissions(
            src.path().join("prompts/a.wav"),
            fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let meta = stat_and_hash(src.path(), "prompts/a.wav").unwrap();
        receive(dst.path(), meta.clone(), b"RIFF....").unwrap();
        let again = stat_and_hash(dst.path(), "prompts/a.wav").unwrap();
        assert_eq!(again, meta);
        assert_eq!(sweep_temporaries(dst.path()), 0, "no temporary left");
    }

    #[test]
    fn a_wrong_hash_or_size_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x.conf"), b"old").unwrap();
        let meta = FileMeta {
            path: "x.conf".into(),
            size: 3,
            mode: 0o644,
            mtime_ns: 0,
            hash: *blake3::hash(b"new").as_bytes(),
        };
        assert!(matches!(
            receive(dir.path(), meta.clone(), b"bad"),
            Err(FileError::Hash { .. })
        ));
        assert!(matches!(
            receive(dir.path(), meta, b"newer"),
            Err(FileError::Size { .. })
        ));
        assert_eq!(fs::read(dir.path().join("x.conf")).unwrap(), b"old");
        assert_eq!(sweep_temporaries(dir.path()), 0);
    }

    #[test]
    fn an_interrupted_receive_is_swept_and_the_old_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x.conf"), b"old").unwrap();
        let meta = FileMeta {
            path: "x.conf".into(),
            size: 6,
            mode: 0o644,
            mtime_ns: 0,
            hash: [0; 32],
        };
        let mut inc = Incoming::begin(dir.path(), meta).unwrap();
        inc.write(b"new").unwrap();
        drop(inc); // the process died here
        assert_eq!(fs::read(dir.path().join("x.conf")).unwrap(), b"old");
        assert_eq!(sweep_temporaries(dir.path()), 1);
    }

    #[test]
    fn a_scan_lists_shared_files_and_says_what_it_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "extensions.conf",
            "prompts/a.wav",
            "node/pjsip.conf",
            "tls/node.key",
            "x.pem",
        ] {
            fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
            fs::write(root.join(p), p).unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        let (found, skipped) = scan(root, &Exclusions::default());
        let paths: Vec<_> = found.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["extensions.conf", "prompts/a.wav"]);
        let mut skipped: Vec<_> = skipped.iter().map(|s| s.path.as_str()).collect();
        skipped.sort_unstable();
        assert_eq!(skipped, ["link", "node/", "tls/", "x.pem"]);
    }

    #[test]
    fn removing_a_missing_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        remove(dir.path(), "nothing").unwrap();
        fs::write(dir.path().join("a"), b"").unwrap();
        remove(dir.path(), "a").unwrap();
        assert!(!dir.path().join("a").exists());
    }
}
