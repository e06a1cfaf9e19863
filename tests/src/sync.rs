//! The sync agents in the lab: one `allerta-sync` per node (started with a role, changed
//! later over its control socket as the supervisor would), each with its own shared tree,
//! database, state and divergence directories under the lab directory, and a TLS pair made
//! by the agent's own `tls-pair` code. The test process writes the master's database through
//! `journal::Journal` (what an application links) and its files directly.
//!
//! Also a corrupting TCP relay inside a namespace (no `netem` on this kernel): the master
//! is pointed at it and it flips bytes on the way to the backup while told to.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use journal::{self, Journal};

use crate::lab::{wait_until, Lab, Node, Proc};
use crate::prereq;
use crate::probe::in_netns;

/// The sync port on the data network (ARCHITECTURE.md, "Ports").
pub const PORT: u16 = 7480;

/// One node's agent and its files.
pub struct SyncNode {
    pub node: Node,
    pub dir: PathBuf,
    pub tls: PathBuf,
    /// Where the master sends (the peer's address, or a relay).
    pub peer: String,
    /// The agent's full-scan period (short in tests, so a missed event is caught quickly).
    pub scan_interval_secs: u64,
    /// How often the tables' digests are compared (at quiet moments): every second in the
    /// lab, so a test sees it; 10 minutes in production.
    pub verify_interval_secs: u64,
    pub proc: Option<Proc>,
}

impl SyncNode {
    pub fn shared(&self) -> PathBuf {
        self.dir.join("shared")
    }
    pub fn db(&self) -> PathBuf {
        self.dir.join("allerta.db")
    }
    pub fn control(&self) -> PathBuf {
        self.dir.join("sync.sock")
    }
    pub fn wake(&self) -> PathBuf {
        self.dir.join("wake.sock")
    }
    pub fn divergence(&self) -> PathBuf {
        self.dir.join("divergence")
    }
    pub fn proc(&self) -> &Proc {
        self.proc.as_ref().expect("agent started")
    }
    pub fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log_text).unwrap_or_default()
    }

    /// The flags that point the agent at this node's directories.
    pub fn args(&self, role: &str) -> Vec<String> {
        let d = |p: PathBuf| p.display().to_string();
        vec![
            "--role".into(),
            role.into(),
            "--node-name".into(),
            self.node.role().into(),
            "--control".into(),
            d(self.control()),
            "--db".into(),
            d(self.db()),
            "--shared-dir".into(),
            d(self.shared()),
            "--state-dir".into(),
            d(self.dir.join("state")),
            "--divergence-dir".into(),
            d(self.divergence()),
            "--wake-socket".into(),
            d(self.wake()),
            "--tls-dir".into(),
            d(self.tls.clone()),
            "--listen".into(),
            format!("{}:{PORT}", self.node.data_ip()),
            "--peer".into(),
            self.peer.clone(),
            "--scan-interval-secs".into(),
            self.scan_interval_secs.to_string(),
            "--verify-interval-secs".into(),
            self.verify_interval_secs.to_string(),
        ]
    }

    /// The `[[component]]` table that makes a supervisor run this agent (it appends
    /// `--control` itself and tells the role over that socket).
    pub fn component_toml(&self) -> String {
        let args = self.args("backup");
        // Drop `--role backup` and `--control <path>`: the supervisor owns both.
        let mut kept = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--role" || a == "--control" {
                it.next();
                continue;
            }
            kept.push(format!("{a:?}"));
        }
        format!(
            "\n[[component]]\nname = \"sync\"\ncommand = \"{}\"\nargs = [{}]\ncontrol_socket = \"{}\"\n",
            prereq::workspace_bin("allerta-sync").display(),
            kept.join(", "),
            self.control().display()
        )
    }

    /// Starts (or restarts) the agent in its namespace and waits until it is ready.
    pub fn start(&mut self, lab: &Lab, role: &str) {
        let args = self.args(role);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let name = format!("sync-{}", self.node.role());
        let proc = lab.spawn(
            self.node.role(),
            &name,
            &prereq::workspace_bin("allerta-sync"),
            &args,
            &[("RUST_LOG", "sync_agent=debug,info")],
        );
        assert!(
            proc.wait_count("sync agent ready", 1, Duration::from_secs(10)),
            "{name} not ready:\n{}",
            proc.log_text()
        );
        self.proc = Some(proc);
    }

    /// One request over the control socket, as the supervisor sends it.
    pub fn control_request(&self, request: &str) -> String {
        crate::lab::ask(&self.control(), request, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no answer to {request:?} on {}", self.control().display()))
    }

    /// The agent's status, or None while it is not answering (restarting, stopped).
    pub fn status_if_up(&self) -> Option<serde_json::Value> {
        let line = crate::lab::ask(&self.control(), "status", Duration::from_secs(2))?;
        serde_json::from_str(line.strip_prefix("status ")?).ok()
    }

    pub fn status(&self) -> serde_json::Value {
        let line = self.control_request("status");
        serde_json::from_str(line.strip_prefix("status ").expect("a status answer")).unwrap()
    }

    pub fn set_role(&self, role: &str) {
        assert_eq!(
            self.control_request(&format!("role {role}")),
            format!("ok {role}")
        );
    }

    /// The application's handle on this node's database.
    pub fn writer(&self) -> Journal {
        Journal::open(&self.db())
            .expect("opening the database")
            .with_wake_socket(self.wake())
    }
}

/// Both nodes' directories and a TLS pair; the agents are not started.
pub fn pair(lab: &Lab) -> (SyncNode, SyncNode) {
    let tls =
        sync_agent::tls::create_pair(&lab.dir().join("tls"), &["node-a".into(), "node-b".into()])
            .expect("tls-pair");
    let make = |node: Node, tls: &Path| {
        let dir = lab.dir().join(format!("sync-{}", node.role()));
        std::fs::create_dir_all(dir.join("shared")).unwrap();
        SyncNode {
            node,
            dir,
            tls: tls.to_owned(),
            peer: format!("{}:{PORT}", node.other().data_ip()),
            scan_interval_secs: 2,
            verify_interval_secs: 1,
            proc: None,
        }
    };
    (make(Node::A, &tls[0]), make(Node::B, &tls[1]))
}

/// The campaign ledger the tests write (the shape of the real one).
pub const LEDGER: &str = "CREATE TABLE ledger(id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL, \
    phone TEXT NOT NULL, attempt INTEGER NOT NULL, state TEXT NOT NULL, updated_ms INTEGER NOT NULL)";

/// Inserts ledger rows `ids` (one journaled transaction each, as a dispatcher would).
pub fn insert_rows(
    journal: &mut Journal,
    ids: impl IntoIterator<Item = i64>,
    campaign: i64,
    phone: &str,
    state: &str,
) {
    for id in ids {
        journal
            .write(|tx| {
                tx.execute(
                    "INSERT INTO ledger VALUES (?1, ?2, ?3, 1, ?4, 0)",
                    rusqlite::params![id, campaign, phone, state],
                )
                .map(drop)
            })
            .expect("a ledger insert");
    }
}

/// Every ledger row, in order (empty if the table is not there yet).
pub fn ledger(db: &Path) -> Vec<(i64, i64, String, i64, String, i64)> {
    let Ok(conn) = rusqlite::Connection::open(db) else {
        return Vec::new();
    };
    let _ = conn.busy_timeout(Duration::from_secs(5));
    let Ok(mut stmt) = conn.prepare("SELECT * FROM ledger ORDER BY id") else {
        return Vec::new();
    };
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
    .map(|rows| rows.filter_map(Result::ok).collect())
    .unwrap_or_default()
}

/// The journal head of a database.
pub fn head(db: &Path) -> Option<sync_agent::proto::Pos> {
    let conn = rusqlite::Connection::open(db).ok()?;
    let _ = conn.busy_timeout(Duration::from_secs(5));
    journal::head(&conn).ok()
}

/// `PRAGMA integrity_check` says "ok".
pub fn integrity_ok(db: &Path) -> bool {
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)))
        .is_ok_and(|s| s == "ok")
}

/// Every regular file under `root` (nothing excluded) with its BLAKE3 and mode.
pub fn tree(root: &Path) -> BTreeMap<String, (String, u32)> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, (String, u32)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                go(root, &p, out);
            } else if let (Ok(bytes), Ok(meta)) = (std::fs::read(&p), e.metadata()) {
                // A file can go between the listing and the read (the agent's temporary
                // files are renamed into place): what is gone is not in the tree.
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let mode = std::os::unix::fs::MetadataExt::mode(&meta) & 0o7777;
                out.insert(rel, (blake3_hex(&bytes), mode));
            }
        }
    }
    let mut out = BTreeMap::new();
    go(root, root, &mut out);
    out
}

fn blake3_hex(bytes: &[u8]) -> String {
    sync_agent::snapshot::hash_file_bytes(bytes)
}

/// The master's tree without what is never replicated.
pub fn replicated_tree(root: &Path) -> BTreeMap<String, (String, u32)> {
    let ex = sync_agent::exclude::Exclusions::default();
    tree(root)
        .into_iter()
        .filter(|(p, _)| !ex.is_excluded(p))
        .collect()
}

/// Waits until the backup holds the master's ledger, journal head and replicated tree.
pub fn wait_in_step(master: &SyncNode, backup: &SyncNode, timeout: Duration) -> bool {
    wait_until(timeout, || {
        head(&master.db()) == head(&backup.db())
            && ledger(&master.db()) == ledger(&backup.db())
            && replicated_tree(&master.shared()) == tree(&backup.shared())
    })
    .is_some()
}

/// Writes ledger rows at `per_sec` on its own thread until stopped: new attempts and
/// state changes of earlier ones, like a campaign dispatcher.
pub struct LedgerWriter {
    stop: Arc<AtomicBool>,
    pub written: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LedgerWriter {
    pub fn start(node: &SyncNode, per_sec: u64, first_id: i64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let mut journal = node.writer();
        let (s, w) = (Arc::clone(&stop), Arc::clone(&written));
        let thread = std::thread::spawn(move || {
            let pause = Duration::from_micros(1_000_000 / per_sec.max(1));
            let mut id = first_id;
            while !s.load(Ordering::Relaxed) {
                let now = journal::now_ms() as i64;
                let result = journal.write(|tx| {
                    tx.execute(
                        "INSERT INTO ledger VALUES (?1, 1, ?2, 1, 'calling', ?3)",
                        rusqlite::params![id, format!("+39 0743 {id:06}"), now],
                    )?;
                    if id > first_id + 3 {
                        tx.execute(
                            "UPDATE ledger SET state = 'confirmed', attempt = attempt + 1, updated_ms = ?2 WHERE id = ?1",
                            rusqlite::params![id - 3, now],
                        )?;
                    }
                    Ok(())
                });
                if result.is_ok() {
                    id += 1;
                    w.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(pause);
            }
        });
        Self {
            stop,
            written,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.written.load(Ordering::Relaxed)
    }
}

impl Drop for LedgerWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A TCP relay listening inside namespace `ns` on `listen`, forwarding to `target` (dialled
/// from the same namespace); while `corrupt` is set it flips one byte in every 4 KiB it
/// forwards from the client side.
pub struct CorruptingRelay {
    pub corrupt: Arc<AtomicBool>,
    pub flipped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl CorruptingRelay {
    pub fn start(ns: &str, listen: &str, target: &str) -> Self {
        let (ns, listen, target) = (ns.to_owned(), listen.to_owned(), target.to_owned());
        let listener = {
            let (ns, listen) = (ns.clone(), listen.clone());
            in_netns(&ns, move || TcpListener::bind(&listen).expect("relay bind"))
        };
        listener.set_nonblocking(true).unwrap();
        let corrupt = Arc::new(AtomicBool::new(false));
        let flipped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, f, s) = (
            Arc::clone(&corrupt),
            Arc::clone(&flipped),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let (ns, target) = (ns.clone(), target.clone());
                let Ok(server) = in_netns(&ns, move || TcpStream::connect(&target)) else {
                    continue;
                };
                let (c2, f2) = (Arc::clone(&c), Arc::clone(&f));
                let (cr, sw) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(cr, sw, Some((c2, f2))));
                std::thread::spawn(move || pump(server, client, None));
            }
        });
        Self {
            corrupt,
            flipped,
            stop,
        }
    }
}

impl Drop for CorruptingRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    corrupt: Option<(Arc<AtomicBool>, Arc<AtomicU64>)>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((on, count)) = &corrupt {
            if on.load(Ordering::Relaxed) && n > 100 {
                buf[n / 2] ^= 0x5a;
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

/// A small filesystem (tmpfs) mounted over a directory: a disk that can fill up. Unmounted
/// on drop.
pub struct SmallDisk(PathBuf);

impl SmallDisk {
    pub fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mounting a tmpfs at {}", at.display());
        Self(at.to_owned())
    }

    pub fn grow(&self, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "growing the tmpfs");
    }

    /// Fills what is left with a file (`fill`), so every write on it fails with ENOSPC.
    pub fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("fill")).expect("filler file");
        let block = vec![0u8; 1 << 20];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&block[..4096]).is_ok() {}
        let _ = f.sync_all();
    }

    /// Gives the space back.
    pub fn unfill(&self) {
        let _ = std::fs::remove_file(self.0.join("fill"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // What a failed test needs to be understood (the node's database, shared tree and
        // divergence journal) lives on this disk: kept beside it, as the lab keeps its logs.
        if std::thread::panicking() || std::env::var_os("ALLERTA_KEEP_LAB").is_some() {
            let kept = self.0.with_extension("kept");
            let _ = std::process::Command::new("cp")
                .arg("-a")
                .arg(&self.0)
                .arg(&kept)
                .status();
            eprintln!(
                "small disk {}: contents kept in {}",
                self.0.display(),
                kept.display()
            );
        }
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
