//! Driver: where the OVF environment comes from, tried in order (the notes' §1.3):
//! 1. `vmtoolsd --cmd "info-get guestinfo.ovfEnv"`: vCenter's `com.vmware.guestInfo`
//!    transport (open-vm-tools);
//! 2. a CD-ROM holding `ovf-env.xml`: the `iso` transport (vCenter attaches it at power-on;
//!    the boot smoke test builds one). Every `/dev/sr*` is tried and the file is found by
//!    name, since the volume label vCenter uses is not documented;
//! 3. a file (`/etc/allerta/ovf-env.xml` by default): a standalone host without vCenter,
//!    or tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where an environment was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    GuestInfo,
    Cdrom(PathBuf),
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::GuestInfo => write!(f, "guestinfo.ovfEnv (vmtoolsd)"),
            Self::Cdrom(dev) => write!(f, "ovf-env.xml on {}", dev.display()),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Which transports to try.
#[derive(Debug, Clone)]
pub struct Sources {
    pub guestinfo: bool,
    /// CD-ROM devices; empty: none.
    pub cdroms: Vec<PathBuf>,
    /// Where to mount a CD-ROM.
    pub mount_dir: PathBuf,
    pub file: Option<PathBuf>,
}

/// The first environment found, or `None` when no transport has one.
pub fn read(sources: &Sources) -> Option<(Origin, String)> {
    if sources.guestinfo {
        if let Some(xml) = guestinfo() {
            return Some((Origin::GuestInfo, xml));
        }
    }
    for dev in &sources.cdroms {
        if let Some(xml) = cdrom(dev, &sources.mount_dir) {
            return Some((Origin::Cdrom(dev.clone()), xml));
        }
    }
    let file = sources.file.as_ref()?;
    let xml = std::fs::read_to_string(file).ok()?;
    Some((Origin::File(file.clone()), xml))
}

/// The CD-ROM devices present: `/dev/sr0`, `/dev/sr1`, ….
pub fn cdrom_devices() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sr") && n[2..].bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    found.sort();
    found
}

/// vmtoolsd answers at once on VMware and says "not running in a VMware VM" elsewhere;
/// the timeout is for a tools daemon that hangs.
fn guestinfo() -> Option<String> {
    let child = Command::new("vmtoolsd")
        .args(["--cmd", "info-get guestinfo.ovfEnv"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let output = wait_with_timeout(child, Duration::from_secs(10))?;
    let xml = String::from_utf8(output).ok()?;
    xml.contains("Environment").then_some(xml)
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take()?, &mut out).ok()?;
    Some(out)
}

fn cdrom(dev: &Path, mount_dir: &Path) -> Option<String> {
    std::fs::create_dir_all(mount_dir).ok()?;
    let mounted = Command::new("mount")
        .args(["-t", "iso9660", "-o", "ro"])
        .arg(dev)
        .arg(mount_dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        return None;
    }
    // ISO 9660 level 1 readers may show the name upper-case, with a version suffix.
    let xml = std::fs::read_dir(mount_dir).ok().and_then(|entries| {
        entries.flatten().find_map(|e| {
            let name = e.file_name().to_string_lossy().to_ascii_lowercase();
            let name = name.split(';').next().unwrap_or_default().to_owned();
            (name == "ovf-env.xml" || name == "ovf_env.xml")
                .then(|| std::fs::read_to_string(e.path()).ok())
                .flatten()
        })
    });
    let _ = Command::new("umount").arg(mount_dir).status();
    xml
}
