//! Appliances as system containers, for the acceptance run (`./allerta acceptance`): the
//! OVA's own disk, taken out of the OVA and mounted read-only, under one overlay per node,
//! booted by `systemd-nspawn -b` with the image's systemd as PID 1, inside a lab namespace.
//! So first boot, the units with their sandboxing, networkd and the real file layout run
//! as in the VM. What differs from a VM, and why:
//! - no kernel of the image's own: the container shares the host's kernel (a VM under TCG
//!   boots in minutes; two of them plus a campaign would not fit a routine run);
//! - the OVF environment comes by first boot's file transport (`/etc/allerta/ovf-env.xml`),
//!   not the CD-ROM or guestinfo (no devices in a container);
//! - nspawn grants CAP_NET_ADMIN (the node's network is its own) and hands down the RTPRIO
//!   ceiling the units ask for, which a VM's PID 1 has anyway. Where the lab host's own
//!   ceiling is 0 and cannot be raised (this project's machine: even root gets EPERM), the
//!   supervisor's advert thread and the RTP pacer run without SCHED_FIFO and say so in the
//!   journal; the QEMU boot smoke shows them realtime in a VM;
//! - the adapters are named to first boot (`--nics`, a unit drop-in) since a lab's veth has
//!   no PCI device to order them by;
//! - killing an appliance (SIGKILL to its PID 1 ends every process in it) leaves its network
//!   namespace, so the harness also unplugs its cables and clears its addresses, which a VM's
//!   power-off does by itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::lab::{run_ok as run, wait_until_every, Lab};

/// The OVA's root file system, mounted read-only.
pub struct Image {
    pub root: PathBuf,
    raw: PathBuf,
}

impl Image {
    /// Takes the disk out of `ova` (tar), converts it to a raw image (qemu-img) under
    /// `work`, and mounts its first partition read-only on `work/root` (a loop device the
    /// kernel detaches at unmount).
    pub fn open(ova: &Path, work: &Path) -> Self {
        std::fs::create_dir_all(work).expect("image work dir");
        let vmdk = work.join("allerta-disk1.vmdk");
        run(Command::new("tar")
            .arg("-xf")
            .arg(ova)
            .arg("-C")
            .arg(work)
            .arg("allerta-disk1.vmdk"));
        let raw = work.join("disk.raw");
        run(Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&vmdk)
            .arg(&raw));
        let _ = std::fs::remove_file(&vmdk);
        let offset = first_partition_offset(&raw);
        let root = work.join("root");
        std::fs::create_dir_all(&root).expect("image mount point");
        run(Command::new("mount")
            .args(["-t", "ext4", "-o"])
            .arg(format!("ro,loop,offset={offset}"))
            .arg(&raw)
            .arg(&root));
        Self { root, raw }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        unmount(&self.root);
        let _ = std::fs::remove_file(&self.raw);
    }
}

/// Unmounts `dir`; if something still holds it, detaches it lazily, so the lab's removal
/// of its directory never walks into a mounted file system.
fn unmount(dir: &Path) {
    let done = Command::new("umount")
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !done {
        let _ = Command::new("umount").arg("--lazy").arg(dir).status();
    }
}

/// Where the disk's first partition starts, in bytes (`sfdisk --json`).
fn first_partition_offset(raw: &Path) -> u64 {
    let out = run(Command::new("sfdisk").arg("--json").arg(raw));
    let table: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("sfdisk --json output");
    let start = table["partitiontable"]["partitions"][0]["start"]
        .as_u64()
        .unwrap_or_else(|| panic!("no first partition in {}", raw.display()));
    let sector = table["partitiontable"]["sectorsize"]
        .as_u64()
        .unwrap_or(512);
    start * sector
}

/// A file put into a node's disk before it boots.
pub struct Seed {
    pub path: &'static str,
    pub contents: String,
}

/// One appliance: the image under its own overlay (what it writes survives a kill and a
/// boot again, as a VM's disk does), booted in the lab namespace `role`.
pub struct Container {
    pub role: String,
    /// The node's file system as it sees it (the overlay).
    pub root: PathBuf,
    dir: PathBuf,
    ns: String,
    machine: String,
    nspawn: Option<Child>,
    boots: u32,
}

impl Container {
    /// Mounts the node's overlay, writes `seeds` into it and boots it.
    pub fn boot(lab: &Lab, role: &str, image: &Image, seeds: &[Seed]) -> Self {
        let dir = lab.dir().join(format!("appliance-{role}"));
        let (upper, work, root) = (dir.join("upper"), dir.join("work"), dir.join("root"));
        for d in [&upper, &work, &root] {
            std::fs::create_dir_all(d).expect("overlay dirs");
        }
        run(Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(format!(
                "lowerdir={},upperdir={},workdir={}",
                image.root.display(),
                upper.display(),
                work.display()
            ))
            .arg(&root));
        for seed in seeds {
            let path = root.join(seed.path.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().expect("seed dir")).expect("seed dir");
            std::fs::write(&path, &seed.contents)
                .unwrap_or_else(|e| panic!("seeding {}: {e}", path.display()));
        }
        let mut container = Self {
            role: role.into(),
            root,
            machine: format!("{}-{role}", lab.prefix()),
            ns: lab.ns(role),
            dir,
            nspawn: None,
            boots: 0,
        };
        container.start();
        container
    }

    /// Boots the node (again): systemd-nspawn in the foreground of a child process, its
    /// console (systemd's status lines) in `console.N.log`.
    pub fn start(&mut self) {
        assert!(self.nspawn.is_none(), "{} is running", self.role);
        self.boots += 1;
        let log = self.dir.join(format!("console.{}.log", self.boots));
        let out = std::fs::File::create(&log).expect("console log");
        let err = out.try_clone().expect("console log");
        let child = Command::new("systemd-nspawn")
            // No systemd on the lab host to register with or to make a scope: the
            // container stays in the harness's own control group.
            .args(["--register=no", "--keep-unit", "--quiet", "--boot"])
            .arg(format!("--machine={}", self.machine))
            .arg("--directory")
            .arg(&self.root)
            .arg(format!("--network-namespace-path=/run/netns/{}", self.ns))
            // The network is the node's own (a lab namespace), so its systemd may manage
            // it, as a VM's does: networkd and the supervisor need CAP_NET_ADMIN, which
            // nspawn grants only with a network it made itself.
            .arg("--capability=CAP_NET_ADMIN")
            // A VM's PID 1 may raise any limit; a container's starts with nspawn's own and
            // lacks CAP_SYS_RESOURCE, so the unit's LimitRTPRIO=99 (realtime VRRP adverts
            // and RTP pacing) needs the ceiling handed down (see the module's notes).
            .arg("--rlimit=RTPRIO=99")
            .args([
                "--console=read-only",
                "--link-journal=no",
                "--resolv-conf=off",
                "--timezone=off",
            ])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("systemd-nspawn");
        self.nspawn = Some(child);
    }

    /// The container's PID 1, as the host sees it: the child of nspawn whose PID in its
    /// own namespace is 1.
    pub fn leader(&self) -> Option<i32> {
        let nspawn = self.nspawn.as_ref()?.id();
        let entries = std::fs::read_dir("/proc").ok()?;
        entries.flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.split_whitespace().collect::<Vec<_>>())
            };
            let ppid = field("PPid:")?;
            let nspid = field("NSpid:")?;
            (ppid.first()? == &nspawn.to_string() && nspid.len() == 2 && nspid[1] == "1")
                .then_some(pid)
        })
    }

    /// Runs a command inside the node, as an administrator logged in there would.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        self.exec_with_input(program, args, "")
    }

    /// As [`Self::exec`], with `input` on standard input. On a node that is not running
    /// (yet), a failed command that says so.
    pub fn exec_with_input(&self, program: &str, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        use std::os::unix::process::ExitStatusExt;
        let Some(leader) = self.leader() else {
            return Output {
                status: std::process::ExitStatus::from_raw(1 << 8),
                stdout: Vec::new(),
                stderr: format!("{} is not running", self.role).into_bytes(),
            };
        };
        let mut child = Command::new("nsenter")
            .arg(format!("--target={leader}"))
            .args(["--mount", "--uts", "--ipc", "--net", "--pid", "--"])
            .arg(program)
            .args(args)
            .env("USER", "acceptance-operator")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nsenter");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        child.wait_with_output().expect("nsenter")
    }

    /// Waits until systemd in the node says it is running (or degraded: a unit of the
    /// image that cannot run in a container is not ours to judge here).
    pub fn wait_booted(&self, timeout: Duration) -> Option<Duration> {
        wait_until_every(timeout, Duration::from_millis(200), || {
            self.leader().is_some() && {
                let out = self.exec("systemctl", &["is-system-running"]);
                let state = String::from_utf8_lossy(&out.stdout);
                matches!(state.trim(), "running" | "degraded")
            }
        })
    }

    /// The journal of one unit in the node's current boot (its last lines). Of this boot
    /// only: the entries of earlier boots sit in the persistent journal and those of this
    /// one in /run until journald flushes them, and `journalctl -n` over both may put the
    /// previous boot's last lines after this one's (a check once read a stale tail).
    pub fn journal(&self, unit: &str, lines: u32) -> String {
        if self.leader().is_none() {
            return format!("({} is not running)", self.role);
        }
        let out = self.exec(
            "journalctl",
            &[
                "--no-pager",
                "--boot=0",
                "-o",
                "short-precise",
                "-n",
                &lines.to_string(),
                "-u",
                unit,
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Powers the node off hard: SIGKILL to its PID 1 ends every process in it at once.
    /// Returns when nspawn has gone.
    pub fn kill(&mut self) {
        if let Some(leader) = self.leader() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(leader),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(mut child) = self.nspawn.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Shuts the node down as `poweroff` would (SIGTERM to nspawn asks systemd for it).
    pub fn shutdown(&mut self, timeout: Duration) {
        if let Some(child) = self.nspawn.as_mut() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + timeout;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.kill();
    }

    pub fn is_running(&self) -> bool {
        self.nspawn.is_some()
    }

    /// The node's console of its latest boot.
    pub fn console(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("console.{}.log", self.boots)))
            .unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.kill();
        // nspawn's mounts inside the container died with it; the overlay is ours.
        unmount(&self.root);
    }
}

/// Waits for `check`, polling every 200 ms: for waits that run commands inside a
/// container (each poll costs a process or two).
pub fn wait_for(timeout: Duration, check: impl FnMut() -> bool) -> Option<Duration> {
    wait_until_every(timeout, Duration::from_millis(200), check)
}
