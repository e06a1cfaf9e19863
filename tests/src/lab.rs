//! The lab: network namespaces on bridges, processes inside them, and a guaranteed teardown.
//!
//! ```text
//!            ns <prefix>-sw: bridges br-data, br-voice (the "switches")
//!   br-data ── a-data ═ data0  [node-a] voice0 ═ a-voice ── br-voice
//!           ── b-data ═ data0  [node-b] voice0 ═ b-voice ──
//!           ── client ═ eth0   [client]          carrier ═ eth0 [carrier] ──
//! ```
//!
//! Each `Lab` gets a unique prefix (`al<pid>x<n>`), so tests run in parallel; dropping it,
//! also while panicking, kills every process it started (by PID) and deletes its namespaces.
//! Labs left behind by a killed test run are swept when the next one starts.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::prereq;

/// The data network: operators, AMI clients, sync, VRRP.
pub const DATA_NET: &str = "10.77.0.0/24";
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
/// The optional second virtual address, on the voice network.
pub const VOICE_VIP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 10);
/// The voice network: the carrier and the nodes' trunks.
pub const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);

/// One of the two appliance nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    A,
    B,
}

impl Node {
    pub fn role(self) -> &'static str {
        match self {
            Self::A => "node-a",
            Self::B => "node-b",
        }
    }
    pub fn data_ip(self) -> Ipv4Addr {
        match self {
            Self::A => Ipv4Addr::new(10, 77, 0, 11),
            Self::B => Ipv4Addr::new(10, 77, 0, 12),
        }
    }
    pub fn voice_ip(self) -> Ipv4Addr {
        match self {
            Self::A => Ipv4Addr::new(10, 78, 0, 11),
            Self::B => Ipv4Addr::new(10, 78, 0, 12),
        }
    }
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
    /// The switch-side name of this node's data-network cable.
    pub fn data_port(self) -> &'static str {
        match self {
            Self::A => "a-data",
            Self::B => "b-data",
        }
    }
}

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

pub struct Lab {
    prefix: String,
    dir: PathBuf,
    namespaces: Mutex<Vec<String>>,
    procs: Mutex<Vec<(String, Child)>>,
}

/// A process the lab started; the lab owns it and ends it on drop.
#[derive(Debug, Clone)]
pub struct Proc {
    pub name: String,
    pub pid: u32,
    pub log: PathBuf,
}

impl Lab {
    /// An empty lab: just the switch namespace. Fails (never skips) without root or iproute2.
    pub fn new(test: &str) -> Self {
        prereq::require_root(test);
        prereq::require_tools(test, &["ip"]);
        sweep_stale_labs();
        let prefix = format!(
            "al{}x{}",
            std::process::id(),
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("allerta-lab-{prefix}-{test}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the lab directory");
        let lab = Self {
            prefix,
            dir,
            namespaces: Mutex::new(Vec::new()),
            procs: Mutex::new(Vec::new()),
        };
        lab.add_ns("sw");
        lab.ip("sw", &["link", "set", "lo", "up"]);
        for br in ["br-data", "br-voice"] {
            lab.ip(
                "sw",
                &["link", "add", br, "type", "bridge", "forward_delay", "0"],
            );
            lab.ip("sw", &["link", "set", br, "up"]);
        }
        lab
    }

    /// The standard lab: node-a and node-b (data0 and voice0), a client on the data network
    /// and a carrier on the voice network.
    pub fn two_nodes(test: &str) -> Self {
        Self::with_two_nodes(test, true)
    }

    /// The lab of the acceptance run: as [`Self::two_nodes`], but the nodes' adapters
    /// are only cabled: each appliance's first boot and networkd give them their addresses.
    pub fn two_appliances(test: &str) -> Self {
        Self::with_two_nodes(test, false)
    }

    fn with_two_nodes(test: &str, node_addresses: bool) -> Self {
        let lab = Self::new(test);
        for (node, voice_port) in [(Node::A, "a-voice"), (Node::B, "b-voice")] {
            let role = node.role();
            if node_addresses {
                let data = format!("{}/24", node.data_ip());
                lab.add_host(role, "data0", node.data_port(), "br-data", &data);
                let voice = format!("{}/24", node.voice_ip());
                lab.add_host(role, "voice0", voice_port, "br-voice", &voice);
            } else {
                lab.add_link(role, "data0", node.data_port(), "br-data");
                lab.add_link(role, "voice0", voice_port, "br-voice");
            }
        }
        let client = format!("{CLIENT_IP}/24");
        lab.add_host("client", "eth0", "client", "br-data", &client);
        let carrier = format!("{CARRIER_IP}/24");
        lab.add_host("carrier", "eth0", "carrier", "br-voice", &carrier);
        lab
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where the lab keeps its configs and logs (left in place when a test fails).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The full namespace name of a role ("node-a", "client", "sw", …).
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    pub fn add_ns(&self, role: &str) {
        let name = self.ns(role);
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        self.namespaces.lock().unwrap().push(name);
        self.ip(role, &["link", "set", "lo", "up"]);
    }

    /// Adds a host namespace with interface `iface` (address `cidr`), cabled to `bridge`
    /// through switch port `port`. The host namespace is created if new.
    pub fn add_host(&self, role: &str, iface: &str, port: &str, bridge: &str, cidr: &str) {
        self.add_link(role, iface, port, bridge);
        self.ip(role, &["addr", "add", cidr, "dev", iface]);
        self.ip(role, &["link", "set", "dev", iface, "up"]);
    }

    /// Cables interface `iface` of a host namespace (created if new) to `bridge` through
    /// switch port `port`, and leaves it down with no address: for a host that configures
    /// its own network (an appliance's networkd).
    pub fn add_link(&self, role: &str, iface: &str, port: &str, bridge: &str) {
        if !self.namespaces.lock().unwrap().contains(&self.ns(role)) {
            self.add_ns(role);
        }
        let (host_ns, sw_ns) = (self.ns(role), self.ns("sw"));
        run_ok(Command::new("ip").args([
            "link", "add", iface, "netns", &host_ns, "type", "veth", "peer", "name", port, "netns",
            &sw_ns,
        ]));
        self.ip("sw", &["link", "set", "dev", port, "master", bridge]);
        self.ip("sw", &["link", "set", "dev", port, "up"]);
    }

    /// The MAC address of `iface` in the namespace of `role`.
    pub fn mac(&self, role: &str, iface: &str) -> String {
        let out = self.exec(role, "cat", &[&format!("/sys/class/net/{iface}/address")]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `ip -n <ns> <args>`, which must succeed.
    pub fn ip(&self, role: &str, args: &[&str]) {
        run_ok(Command::new("ip").arg("-n").arg(self.ns(role)).args(args));
    }

    /// Runs a command inside a namespace to completion.
    pub fn exec(&self, role: &str, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(role), program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {program} in {role}: {e}"))
    }

    /// Unplugs (or plugs back) a cable at the switch: the host sees its carrier go.
    pub fn set_port(&self, port: &str, up: bool) {
        self.ip(
            "sw",
            &["link", "set", "dev", port, if up { "up" } else { "down" }],
        );
    }

    /// Starts `program` inside the namespace of `role`; stdout and stderr go to a log file.
    pub fn spawn(
        &self,
        role: &str,
        name: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Proc {
        // A restarted process gets a log of its own, so counts start from zero.
        let log = (1..)
            .map(|n| match n {
                1 => self.dir.join(format!("{name}.log")),
                n => self.dir.join(format!("{name}.{n}.log")),
            })
            .find(|p| !p.exists())
            .expect("a free log name");
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .arg(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        // `ip netns exec` execs the program in place, so this PID is the program's.
        let proc = Proc {
            name: name.into(),
            pid: child.id(),
            log,
        };
        self.procs.lock().unwrap().push((name.into(), child));
        proc
    }

    /// Sends `signal` to a process the lab started (by its PID, nothing else).
    pub fn signal(&self, proc: &Proc, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(proc.pid as i32);
        nix::sys::signal::kill(pid, signal)
            .unwrap_or_else(|e| panic!("{signal} to {}: {e}", proc.name));
    }

    /// PIDs of the processes named `comm` running in the namespace of `role` (keepalived
    /// forks a VRRP child; killing "the daemon" means all of them).
    pub fn pids_named(&self, role: &str, comm: &str) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.ns(role)])
            .output()
            .expect("ip netns pids");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
            })
            .collect()
    }

    /// Waits for a process the lab started to exit; its exit status, or None on timeout.
    pub fn wait_exit(&self, proc: &Proc, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            {
                let mut procs = self.procs.lock().unwrap();
                if let Some((_, child)) = procs.iter_mut().find(|(_, c)| c.id() == proc.pid) {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Some(status);
                    }
                }
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops a process the lab started the way its documentation says (`signal`, SIGTERM
    /// for most), waits up to `grace`, then SIGKILLs it and every process named `comm` in
    /// the namespace of `role` (a daemon's own children, which might otherwise keep its
    /// sockets). Never fails: how a peer stops is not what a test is about. Says on stderr
    /// when it had to escalate.
    pub fn stop(
        &self,
        role: &str,
        proc: &Proc,
        comm: &str,
        signal: nix::sys::signal::Signal,
        grace: Duration,
    ) {
        use nix::sys::signal::{kill, Signal};
        let _ = kill(nix::unistd::Pid::from_raw(proc.pid as i32), signal);
        let stopped = self.wait_exit(proc, grace).is_some();
        let children = self.pids_named(role, comm);
        if stopped && children.is_empty() {
            return;
        }
        eprintln!(
            "lab: {} did not stop within {grace:?} of {signal}: SIGKILL to it and {} more {comm}",
            proc.name,
            children.len()
        );
        let _ = kill(nix::unistd::Pid::from_raw(proc.pid as i32), Signal::SIGKILL);
        for pid in children {
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.wait_exit(proc, Duration::from_secs(5));
        wait_until(Duration::from_secs(5), || {
            self.pids_named(role, comm).is_empty()
        });
    }

    /// The IPv4 addresses on `iface` in the namespace of `role`.
    pub fn addrs(&self, role: &str, iface: &str) -> Vec<Ipv4Addr> {
        let out = Command::new("ip")
            .args([
                "-n",
                &self.ns(role),
                "-4",
                "-o",
                "addr",
                "show",
                "dev",
                iface,
            ])
            .output()
            .expect("ip addr");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
            .filter_map(|cidr| cidr.split('/').next()?.parse().ok())
            .collect()
    }

    /// Whether `node` has the VIP on its data interface.
    pub fn holds_vip(&self, node: Node) -> bool {
        self.addrs(node.role(), "data0").contains(&VIP)
    }

    /// Which nodes hold the VIP now.
    pub fn vip_holders(&self) -> Vec<Node> {
        [Node::A, Node::B]
            .into_iter()
            .filter(|n| self.holds_vip(*n))
            .collect()
    }

    /// Writes a file into the lab directory and returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("writing a lab file");
        path
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let procs = std::mem::take(&mut *self.procs.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, mut child) in procs {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        let namespaces =
            std::mem::take(&mut *self.namespaces.lock().unwrap_or_else(|p| p.into_inner()));
        for ns in namespaces.iter().rev() {
            kill_ns_pids(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if std::thread::panicking() || std::env::var_os("ALLERTA_KEEP_LAB").is_some() {
            eprintln!("lab {}: logs kept in {}", self.prefix, self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Kills whatever still runs in a namespace of ours (children of our children, e.g. a guard).
fn kill_ns_pids(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Removes labs whose test process is gone (a test run killed before its drops ran).
fn sweep_stale_labs() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("al") else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            kill_ns_pids(&name);
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

/// Runs a command that must succeed; its output.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

/// Polls `check` every 5 ms until it holds or `timeout` passes; returns the time it took.
pub fn wait_until(timeout: Duration, check: impl FnMut() -> bool) -> Option<Duration> {
    wait_until_every(timeout, Duration::from_millis(5), check)
}

/// As [`wait_until`], polling every `every` (for checks that start processes).
pub fn wait_until_every(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if check() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// One request line over a component's control socket (as its supervisor sends it); the
/// answer line, trimmed, or None if there is no answer within `timeout`.
pub fn ask(socket: &Path, request: &str, timeout: Duration) -> Option<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(format!("{request}\n").as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    Some(line.trim_end().to_owned())
}

impl Proc {
    /// The process's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until the log has at least `n` lines containing `needle`.
    pub fn wait_count(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.count(needle) >= n).is_some()
    }
}

/// Replaces `path` the way the sync agent and most editors do: a new file, renamed over.
pub fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-edit");
    std::fs::write(&tmp, text).expect("writing the new version");
    std::fs::rename(&tmp, path).expect("renaming it into place");
}

/// Microseconds since the epoch now (wall clock, as the logs' stamps).
pub fn wall_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Seconds since the epoch now (wall clock).
pub fn wall_secs() -> f64 {
    wall_us() as f64 / 1e6
}

/// Microseconds since the epoch of a log line's tracing stamp
/// (`2026-11-22T08:38:11.121379Z …`).
pub fn log_time_us(line: &str) -> Option<i64> {
    let ts = line.get(..27)?;
    let stamp: jiff::Timestamp = ts.parse().ok()?;
    Some(stamp.as_microsecond())
}

/// The last 40 lines of a log, for assertion messages.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
