//! Driver: writes a [`Plan`] under a root directory (`/` on a node; a scratch directory in
//! tests and image builds). A file whose contents and mode are already right is not
//! touched, so an unchanged environment writes nothing. Others are written atomically:
//! a temporary file in the same directory, fsync, rename over the old one, fsync of the
//! directory; a power cut leaves the old file or the new one, never half of one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::render::Plan;

/// A file that could not be written or removed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {action}", path.display())]
pub struct ApplyError {
    pub path: PathBuf,
    pub action: &'static str,
    #[source]
    pub source: io::Error,
}

/// What applying changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub written: Vec<&'static str>,
    pub removed: Vec<&'static str>,
}

impl Outcome {
    pub fn is_unchanged(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty()
    }
}

/// Where `path` (absolute on the node) is under `root`.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Writes what differs, removes what the plan drops.
pub fn apply(root: &Path, plan: &Plan) -> Result<Outcome, ApplyError> {
    let mut outcome = Outcome::default();
    for file in &plan.files {
        let path = under(root, file.path);
        let fail = |action| {
            let path = path.clone();
            move |source| ApplyError {
                path,
                action,
                source,
            }
        };
        let same_mode = fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o7777 == file.mode)
            .unwrap_or(false);
        if same_mode && fs::read(&path).is_ok_and(|old| old == file.contents.as_bytes()) {
            continue;
        }
        let dir = path.parent().expect("plan paths are absolute files");
        fs::create_dir_all(dir).map_err(fail("creating its directory"))?;
        let name = path.file_name().expect("a file name").to_string_lossy();
        let temp = dir.join(format!(".{name}.firstboot-tmp"));
        write_new(&temp, file.contents.as_bytes(), file.mode).map_err(fail("writing"))?;
        fs::rename(&temp, &path).map_err(fail("renaming into place"))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail("syncing its directory"))?;
        outcome.written.push(file.path);
    }
    for &stale in &plan.remove {
        let path = under(root, stale);
        match fs::remove_file(&path) {
            Ok(()) => outcome.removed.push(stale),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ApplyError {
                    path,
                    action: "removing",
                    source,
                })
            }
        }
    }
    Ok(outcome)
}

/// Creates `path` with `mode` from the start (a secret is never readable by others, not
/// even between create and chmod), writes and syncs it.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // The umask may have cleared bits the plan asks for (0644 under umask 077).
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::File;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("allerta-apply-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn plan(secret: &str) -> Plan {
        Plan {
            files: vec![
                File {
                    path: "/etc/allerta/node.toml",
                    contents: "a = 1\n".into(),
                    mode: 0o644,
                },
                File {
                    path: "/etc/allerta/node/tls/pairing.secret",
                    contents: secret.into(),
                    mode: 0o600,
                },
            ],
            remove: vec!["/etc/allerta/node/tls/node.key"],
        }
    }

    #[test]
    fn a_second_run_with_the_same_plan_writes_nothing() {
        let root = scratch("same");
        let first = apply(&root, &plan("s1")).unwrap();
        assert_eq!(first.written.len(), 2);
        let secret = under(&root, "/etc/allerta/node/tls/pairing.secret");
        assert_eq!(
            fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(apply(&root, &plan("s1")).unwrap().is_unchanged());
        let changed = apply(&root, &plan("s2")).unwrap();
        assert_eq!(changed.written, ["/etc/allerta/node/tls/pairing.secret"]);
        assert_eq!(fs::read_to_string(&secret).unwrap(), "s2");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_wrong_mode_is_repaired_and_stale_files_removed() {
        let root = scratch("mode");
        apply(&root, &plan("s")).unwrap();
        let secret = under(&root, "/etc/allerta/node/tls/pairing.secret");
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
        let key = under(&root, "/etc/allerta/node/tls/node.key");
        fs::write(&key, "old").unwrap();
        let outcome = apply(&root, &plan("s")).unwrap();
        assert_eq!(outcome.written, ["/etc/allerta/node/tls/pairing.secret"]);
        assert_eq!(outcome.removed, ["/etc/allerta/node/tls/node.key"]);
        assert_eq!(
            fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_dir_all(root).unwrap();
    }
}
