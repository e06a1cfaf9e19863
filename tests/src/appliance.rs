//! The whole appliance pair in the lab, as a municipality runs it: on each node the
//! supervisor wrapping its media core (campaigns through the node's own carrier trunk,
//! the database replicated) and its sync agent; at the carrier, citizens simulated by sipp
//! and a capture of every call they got; the operator's commands through `allertactl`
//! inside the node's namespace. The demo and the fault-injection suite both run on it.
//! Each node runs from first boot's `node.toml`, rendered from the wizard's answers
//! (`shipped_node`, which lists the lab's differences).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::campaign::{self, Citizen};
use crate::lab::{tail, wait_until, wait_until_every, Lab, Node, Proc};
use crate::nodes;
use crate::prereq;
use crate::shipped_node;
use crate::sync::{self, SyncNode};

/// libfaketime (Debian's faketime package), for a node whose wall clock jumps.
pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The operator's commands that start alert campaign `name` (message "flood", `lines`
/// lines, `cps` calls a second, 3 attempts 2 s apart) for the contacts in `csv`, a path on
/// the node: what the demo, the fault suite and the acceptance run type.
pub fn campaign_commands(csv: &str, name: &str, lines: u32, cps: u32) -> Vec<Vec<String>> {
    let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let text = "Allerta della protezione civile: rischio di esondazione. Premere 1 per confermare.";
    vec![
        words(&format!("contacts import {csv} --list citizens")),
        [words("message set flood --text"), vec![text.to_owned()]].concat(),
        words(&format!(
            "campaign create {name} --message flood --list citizens --lines {lines} --cps {cps} \
             --ring 5 --attempts 3 --retry 2"
        )),
        words(&format!("campaign start {name}")),
    ]
}

/// Copies a file, or a directory and what it holds.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("creating a shared directory");
        for entry in std::fs::read_dir(from)
            .expect("reading a voice directory")
            .flatten()
        {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("seeding the shared tree");
    }
}

/// Tools the pair needs beyond the lab's own.
pub const NEEDS: &[&str] = &["sipp", "tshark", "espeak-ng", "sox", "nft", "iptables"];

/// How the pair is set up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Campaign lines each node's trunk carries.
    pub lines: u32,
    /// VRRP advert interval.
    pub interval_ms: u64,
    /// A returning node waits this long after its start before it may preempt (its
    /// `sync/fresh` check is heard by then).
    pub preempt_delay_ms: u64,
    /// Each node's data directory (database, shared tree) on a tmpfs of this size, so a
    /// test can fill it.
    pub small_disks: Option<&'static str>,
    /// Run each node under libfaketime, its offset in `faketime-<node>` of the lab
    /// directory (`+0` at first), so a test can jump one node's wall clock. Monotonic
    /// clocks are left alone: a clock step changes only the wall clock.
    pub faketime: bool,
    /// Where each node's programs are (node-a's, node-b's): None is this build's. Another
    /// version's runs a node of a mixed pair (`Appliance::set_programs` moves a node on).
    pub programs: [Option<PathBuf>; 2],
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            lines: 30,
            interval_ms: 100,
            preempt_delay_ms: 2000,
            small_disks: None,
            faketime: false,
            programs: [None, None],
        }
    }
}

pub struct Appliance {
    pub lab: Lab,
    pub setup: Setup,
    /// Node A's and node B's sync directories (database, shared tree, divergence).
    pub a: SyncNode,
    pub b: SyncNode,
    supervisors: [Option<Proc>; 2],
    /// Declared after the processes' owner (the lab) would unmount under them: dropped
    /// first by `Drop`, after the lab ended the processes.
    pub disks: Vec<crate::sync::SmallDisk>,
    citizens: Option<Proc>,
    capture: Option<Proc>,
}

fn index(node: Node) -> usize {
    match node {
        Node::A => 0,
        Node::B => 1,
    }
}

impl Appliance {
    /// Builds the lab and starts node A (priority 250) then node B (240); returns once A
    /// holds the VIP, B is its backup and both sync agents run. Citizens answer at the
    /// carrier and a capture runs there.
    pub fn start(name: &str, setup: Setup) -> Self {
        prereq::require_root(name);
        prereq::require_tools(name, NEEDS);
        let lab = Lab::two_nodes(name);
        let (a, b) = sync::pair(&lab);
        let disks = match setup.small_disks {
            Some(size) => {
                prereq::require_tools(name, &["mount", "umount"]);
                vec![
                    crate::sync::SmallDisk::mount(&a.dir, size),
                    crate::sync::SmallDisk::mount(&b.dir, size),
                ]
            }
            None => Vec::new(),
        };
        for s in [&a, &b] {
            std::fs::create_dir_all(s.shared()).expect("shared dir");
        }
        if setup.faketime {
            assert!(
                std::path::Path::new(FAKETIME_LIB).is_file(),
                "{name}: needs libfaketime ({FAKETIME_LIB}; `./allerta setup` installs the faketime package)"
            );
        }
        let pcap = lab.dir().join("carrier.pcap");
        let capture = crate::voice::capture(&lab, "carrier", "eth0", &pcap);
        let citizens = campaign::start_citizens(&lab);
        let mut pair = Self {
            lab,
            setup,
            a,
            b,
            supervisors: [None, None],
            disks,
            citizens: Some(citizens),
            capture: Some(capture),
        };
        pair.start_node(Node::A);
        assert!(
            pair.supervisor(Node::A)
                .wait_count("to=Master", 1, Duration::from_secs(20)),
            "node-a never became master:\n{}",
            tail(&pair.supervisor(Node::A).log_text())
        );
        pair.start_node(Node::B);
        assert!(
            wait_until(Duration::from_secs(20), || {
                pair.sync_node(Node::B)
                    .status_if_up()
                    .is_some_and(|s| s["role"] == "backup")
                    && pair
                        .sync_node(Node::A)
                        .status_if_up()
                        .is_some_and(|s| s["role"] == "master")
            })
            .is_some(),
            "the sync agents never took their roles:\nA: {}\nB: {}",
            tail(&pair.supervisor(Node::A).log_text()),
            tail(&pair.supervisor(Node::B).log_text())
        );
        pair
    }

    pub fn sync_node(&self, node: Node) -> &SyncNode {
        match node {
            Node::A => &self.a,
            Node::B => &self.b,
        }
    }

    /// The node's run directory (sockets, voice configuration).
    pub fn run_dir(&self, node: Node) -> PathBuf {
        nodes::run_dir(&self.lab, node)
    }

    /// The node's database (the media core's and the sync agent's).
    pub fn db(&self, node: Node) -> PathBuf {
        self.sync_node(node).db()
    }

    /// The node's replicated configuration tree.
    pub fn shared(&self, node: Node) -> PathBuf {
        self.sync_node(node).shared()
    }

    /// Writes `node`'s files as first boot does (`shipped_node`, from the lab's wizard
    /// answers) and starts its supervisor, which starts the media core and the sync agent
    /// with the same `node.toml`, as the appliance's units do.
    pub fn start_node(&mut self, node: Node) {
        let run = self.run_dir(node);
        std::fs::create_dir_all(&run).expect("node run dir");
        // The lab's voice files: its trunks, and what seeds the replicated tree (the
        // dialplan, AMI users and prompts live there, alike on both nodes as the image
        // seeds them; a restarted node keeps what it has).
        let voice = campaign::campaign_voice(node, self.setup.lines);
        let dir = run.join("voice");
        // Its node-file fragment is not used: the node runs first boot's `node.toml`.
        let _ = std::fs::remove_file(voice.write(&dir));
        let shared = self.shared(node);
        for name in ["extensions.conf", "manager.conf", "prompts"] {
            let (from, to) = (dir.join(name), shared.join(name));
            if from.exists() && !to.exists() {
                copy_tree(&from, &to);
            }
        }
        let places = shipped_node::Places {
            run: run.clone(),
            sync: self.sync_node(node),
            bin: self.programs(node),
        };
        let differences = shipped_node::harness_differences(
            self.setup.interval_ms,
            self.setup.preempt_delay_ms,
            self.setup.lines,
        );
        let env = shipped_node::environment(&self.lab, node);
        let config =
            shipped_node::write(&self.lab, node, &env, &places, &differences, &voice.pjsip);
        let clock = self.clock_file(node);
        if self.setup.faketime && !clock.exists() {
            std::fs::write(&clock, "+0\n").expect("faketime file");
        }
        let clock = clock.display().to_string();
        let mut envs: Vec<(&str, &str)> = vec![("NO_COLOR", "1")];
        if self.setup.faketime {
            envs.extend([
                ("LD_PRELOAD", FAKETIME_LIB),
                ("FAKETIME_TIMESTAMP_FILE", clock.as_str()),
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
                // Re-read the offset at most once a second (not on every clock read).
                ("FAKETIME_CACHE_DURATION", "1"),
            ]);
        }
        let config = config.display().to_string();
        let proc = self.lab.spawn(
            node.role(),
            &format!("allerta-{}", node.role()),
            &self.programs(node).join("allerta-supervisor"),
            &["--config", &config],
            &envs,
        );
        self.supervisors[index(node)] = Some(proc);
    }

    /// The folder of `node`'s programs (the appliance's `/usr/bin`).
    pub fn programs(&self, node: Node) -> PathBuf {
        self.setup.programs[index(node)].clone().unwrap_or_else(|| {
            prereq::workspace_bin("allerta-supervisor")
                .parent()
                .expect("a binary has a folder")
                .to_owned()
        })
    }

    /// Runs `node` from the programs in `dir` from its next start (an upgrade: stop the
    /// node, call this, start it).
    pub fn set_programs(&mut self, node: Node, dir: PathBuf) {
        self.setup.programs[index(node)] = Some(dir);
    }

    /// The node's `node.toml` (what its supervisor, media core and sync agent load).
    pub fn node_toml(&self, node: Node) -> PathBuf {
        self.run_dir(node).join("node.toml")
    }

    /// The file holding `node`'s clock offset (libfaketime's syntax: `+0`, `+1h`).
    pub fn clock_file(&self, node: Node) -> PathBuf {
        self.lab.dir().join(format!("faketime-{}", node.role()))
    }

    /// The running (or last) supervisor of `node`.
    pub fn supervisor(&self, node: Node) -> &Proc {
        self.supervisors[index(node)]
            .as_ref()
            .expect("node started")
    }

    /// The text of every log `node`'s supervisors wrote (a restarted supervisor gets a log
    /// of its own), oldest first. The components it started write into it too.
    pub fn supervisor_logs(&self, node: Node) -> Vec<String> {
        let name = &self.supervisor(node).name;
        (1..)
            .map(|n| match n {
                1 => self.lab.dir().join(format!("{name}.log")),
                n => self.lab.dir().join(format!("{name}.{n}.log")),
            })
            .map_while(|path| std::fs::read_to_string(path).ok())
            .collect()
    }

    /// Signals the supervisor of `node` (SIGKILL or SIGTERM) and waits for it and what it
    /// started to end: the components die with it (PR_SET_PDEATHSIG) and its VIP guard
    /// exits once it has released the VIP (the unit's `KillMode=process` relies on both).
    /// Whatever is still there after 5 s is a bug: it is killed and `false` returned.
    pub fn stop_node(&mut self, node: Node, signal: nix::sys::signal::Signal) -> bool {
        let proc = self.supervisor(node).clone();
        self.lab.signal(&proc, signal);
        let _ = self.lab.wait_exit(&proc, Duration::from_secs(15));
        let gone = wait_until_every(Duration::from_secs(5), Duration::from_millis(100), || {
            [
                crate::failover::MEDIACORE,
                "allerta-sync",
                "allerta-web",
                "allerta-supervi",
            ]
            .iter()
            .all(|comm| self.lab.pids_named(node.role(), comm).is_empty())
        })
        .is_some();
        self.kill_children(node);
        gone
    }

    /// SIGKILL to what a supervisor of `node` started (by PID, in the node's namespace).
    fn kill_children(&self, node: Node) {
        for comm in [
            crate::failover::MEDIACORE,
            "allerta-sync",
            "allerta-web",
            "allerta-supervi",
        ] {
            for pid in self.lab.pids_named(node.role(), comm) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    /// The PID of `comm` (15 characters at most) in `node`'s namespace.
    pub fn pid_of(&self, node: Node, comm: &str) -> Option<i32> {
        self.lab.pids_named(node.role(), comm).first().copied()
    }

    /// SIGKILL to `node`'s process `comm` (a component its supervisor started), by PID.
    pub fn kill_component(&self, node: Node, comm: &str) {
        let pid = self
            .pid_of(node, comm)
            .unwrap_or_else(|| panic!("no {comm} on {}", node.role()));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap_or_else(|e| panic!("killing {comm} on {}: {e}", node.role()));
    }

    /// `allertactl <args>` inside `node`'s namespace, as an operator logged in there.
    fn allertactl_command(&self, node: Node, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.lab.ns(node.role())])
            .arg(self.programs(node).join("allertactl"))
            // The node file names the sockets (as on the appliance, where it is the default).
            .arg("--config")
            .arg(self.node_toml(node))
            .args(args)
            .env("RUST_LOG", "warn")
            .env("USER", "operator");
        c
    }

    /// Runs `allertactl <args>` inside `node`'s namespace, as an operator logged in there.
    pub fn allertactl(&self, node: Node, args: &[&str]) -> Output {
        self.allertactl_command(node, args)
            .output()
            .expect("allertactl")
    }

    /// `allertactl <args>` with `input` on its standard input (a password), asserting
    /// success; its standard output.
    pub fn operator_with_input(&self, node: Node, args: &[&str], input: &str) -> String {
        use std::io::Write as _;
        use std::process::Stdio;
        let mut child = self
            .allertactl_command(node, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("allertactl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("writing to allertactl");
        succeeded(node, args, child.wait_with_output().expect("allertactl"))
    }

    /// `allertactl`, asserting success; its standard output.
    pub fn operator(&self, node: Node, args: &[&str]) -> String {
        succeeded(node, args, self.allertactl(node, args))
    }

    /// The node holding the VIP, if exactly one does.
    pub fn master(&self) -> Option<Node> {
        match self.lab.vip_holders()[..] {
            [node] => Some(node),
            _ => None,
        }
    }

    /// Imports `counts` citizens as list `citizens`, records a text message and creates
    /// and starts campaign `name` on the master.
    pub fn start_campaign(&self, node: Node, name: &str, counts: &[(Citizen, usize)]) {
        let csv = self
            .lab
            .write_file("citizens.csv", &campaign::contacts_csv(counts));
        for args in campaign_commands(&csv.to_string_lossy(), name, self.setup.lines, 20) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.operator(node, &args);
        }
    }

    /// Campaign `name` as the node's database has it.
    pub fn progress(&self, node: Node, name: &str) -> Option<Progress> {
        Progress::read(&self.db(node), name)
    }

    /// Where the carrier's capture is written.
    pub fn pcap(&self) -> PathBuf {
        self.lab.dir().join("carrier.pcap")
    }

    /// Stops the citizens and the capture (the capture is then complete on disk).
    pub fn stop_carrier(&mut self) {
        for proc in [self.citizens.take(), self.capture.take()]
            .into_iter()
            .flatten()
        {
            self.lab.signal(&proc, nix::sys::signal::Signal::SIGTERM);
            let _ = self.lab.wait_exit(&proc, Duration::from_secs(5));
        }
    }
}

/// `allertactl`'s standard output, after asserting that it succeeded.
fn succeeded(node: Node, args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "allertactl {args:?} on {}:\n{}{}",
        node.role(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A campaign's state and counts, read from a node's database (read-only: it works on
/// the backup's replica too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub state: String,
    pub total: u64,
    pub confirmed: u64,
    pub calling: u64,
    pub pending: u64,
    pub gave_up: u64,
    /// Attempts started (calls placed).
    pub attempts: u64,
}

impl Progress {
    pub fn read(db: &std::path::Path, name: &str) -> Option<Self> {
        let conn = rusqlite::Connection::open_with_flags(
            db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        conn.busy_timeout(Duration::from_millis(500)).ok()?;
        let (id, state): (i64, String) = conn
            .query_row(
                "SELECT id, state FROM campaigns WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok()?;
        let mut p = Self {
            state,
            ..Self::default()
        };
        let mut stmt = conn
            .prepare(
                "SELECT status, count(*) FROM recipients WHERE campaign_id = ?1 GROUP BY status",
            )
            .ok()?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .ok()?;
        for (status, n) in rows.flatten() {
            p.total += n;
            match status.as_str() {
                "confirmed" => p.confirmed = n,
                "calling" => p.calling = n,
                "pending" => p.pending = n,
                "gave_up" => p.gave_up = n,
                _ => {}
            }
        }
        p.attempts = conn
            .query_row(
                "SELECT count(*) FROM attempts WHERE campaign_id = ?1",
                [id],
                |r| r.get::<_, i64>(0),
            )
            .ok()? as u64;
        Some(p)
    }

    /// Recipients with a final status.
    pub fn finished(&self) -> u64 {
        self.total - self.calling - self.pending
    }
}

/// A number's first confirmation in a ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub number: String,
    /// When it was recorded (ms since the epoch; the end of the call that carried it).
    pub at_ms: i64,
    /// The node that recorded it (`node-a`, `node-b`).
    pub node: String,
    /// When it reached the ledger it was read from through a merge after a split (ms since
    /// the epoch; None: recorded or replicated there as usual).
    pub merged_ms: Option<i64>,
}

/// When each number's confirmation was recorded, and where, from a database.
pub fn confirmations(db: &std::path::Path) -> Vec<Confirmation> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut stmt) = conn.prepare(
        "SELECT number, min(coalesce(ended_at, answered_at, started_at)), node, merged_at \
         FROM attempts WHERE outcome = 'confirmed' GROUP BY number",
    ) else {
        return Vec::new();
    };
    stmt.query_map([], |r| {
        Ok(Confirmation {
            number: r.get(0)?,
            at_ms: r.get(1)?,
            node: r.get(2)?,
            merged_ms: r.get(3)?,
        })
    })
    .map(|rows| rows.flatten().collect())
    .unwrap_or_default()
}

/// When the master merged the other node's campaign facts after a split (ms since the
/// epoch, oldest first): the audit trail's `divergence merged` rows.
pub fn merges(db: &std::path::Path) -> Vec<i64> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut stmt) =
        conn.prepare("SELECT at FROM audit WHERE what = 'divergence merged' ORDER BY at")
    else {
        return Vec::new();
    };
    stmt.query_map([], |r| r.get(0))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

/// Attempts a node's database records as `interrupted`: calls cut by a stop or a crash.
pub fn interrupted_attempts(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM attempts WHERE outcome = 'interrupted'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap_or_else(|e| panic!("{}: {e}", db.display()))
}

/// Calls the carrier got for a number after that number's first confirmation was recorded
/// (on either node), with 1 s of grace for the call that carried the confirmation itself
/// (its INVITE precedes the recording); each with that confirmation.
pub fn called_after_confirming<'a>(
    calls: &'a [campaign::SeenCall],
    confirmed: &[Confirmation],
) -> Vec<(&'a campaign::SeenCall, Confirmation)> {
    let mut first: std::collections::HashMap<&str, &Confirmation> =
        std::collections::HashMap::new();
    for c in confirmed {
        let t = first.entry(&c.number).or_insert(c);
        if c.at_ms < t.at_ms {
            *t = c;
        }
    }
    calls
        .iter()
        .filter_map(|call| {
            first
                .get(call.number.as_str())
                .filter(|c| call.start * 1000.0 > c.at_ms as f64 + 1000.0)
                .map(|c| (call, (*c).clone()))
        })
        .collect()
}

impl Drop for Appliance {
    fn drop(&mut self) {
        // The processes first, then the disks under them (the lab's own drop ends them;
        // ending the supervisors here frees the mounts for unmounting).
        if self.disks.is_empty() {
            return;
        }
        for node in [Node::A, Node::B] {
            if let Some(proc) = &self.supervisors[index(node)] {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(proc.pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            self.kill_children(node);
        }
        std::thread::sleep(Duration::from_millis(300));
        self.disks.clear();
    }
}
