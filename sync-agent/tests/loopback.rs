//! Two real agents on loopback (no root, no namespaces): the master's files and database
//! writes reach the backup, node-local files stay, and the backup's database is the
//! master's. The lab tests (`tests/tests/sync_lab.rs`) do the same and the faults across
//! network namespaces.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use journal::{self, Journal};

struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Side {
    dir: PathBuf,
}

impl Side {
    fn shared(&self) -> PathBuf {
        self.dir.join("shared")
    }
    fn db(&self) -> PathBuf {
        self.dir.join("allerta.db")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(side: &Side, tls: &Path, role: &str, addr_flag: &str, port: u16) -> Agent {
    let d = &side.dir;
    let log = std::fs::File::create(d.join("agent.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_allerta-sync"))
        .args(["--role", role, addr_flag, &format!("127.0.0.1:{port}")])
        .arg("--control")
        .arg(d.join("sync.sock"))
        .arg("--db")
        .arg(side.db())
        .arg("--shared-dir")
        .arg(side.shared())
        .arg("--state-dir")
        .arg(d.join("state"))
        .arg("--divergence-dir")
        .arg(d.join("divergence"))
        .arg("--wake-socket")
        .arg(d.join("wake.sock"))
        .arg("--tls-dir")
        .arg(tls)
        .env("RUST_LOG", "sync_agent=debug,info")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    Agent { child }
}

fn wait_for(what: &str, log: &Path, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        let master_log = log
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("a/agent.log"));
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}; backup log:\n{}\nmaster log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default(),
            master_log
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rows(db: &Path) -> Vec<(i64, String)> {
    let Ok(conn) = rusqlite::Connection::open(db) else {
        return Vec::new();
    };
    let Ok(mut stmt) = conn.prepare("SELECT id, state FROM ledger ORDER BY id") else {
        return Vec::new();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap_or_default()
}

#[test]
fn files_and_database_writes_reach_the_backup_and_node_local_files_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let tls =
        sync_agent::tls::create_pair(&tmp.path().join("tls"), &["node-a".into(), "node-b".into()])
            .unwrap();
    let a = Side {
        dir: tmp.path().join("a"),
    };
    let b = Side {
        dir: tmp.path().join("b"),
    };
    for s in [&a, &b] {
        std::fs::create_dir_all(s.shared()).unwrap();
    }
    // The master has data before the agents start.
    std::fs::write(
        a.shared().join("extensions.conf"),
        b"[alert]\nexten => s,1,Answer()\n",
    )
    .unwrap();
    std::fs::create_dir_all(a.shared().join("node")).unwrap();
    std::fs::write(a.shared().join("node/pjsip.conf"), b"secret trunk").unwrap();
    std::fs::write(a.shared().join("server.key"), b"secret key").unwrap();
    let mut writer = Journal::open(&a.db())
        .unwrap()
        .with_wake_socket(a.dir.join("wake.sock"));
    writer
        .change_schema("CREATE TABLE ledger(id INTEGER PRIMARY KEY, state TEXT)")
        .unwrap();
    writer
        .write(|tx| {
            tx.execute("INSERT INTO ledger VALUES (1, 'calling')", [])
                .map(drop)
        })
        .unwrap();

    let port = free_port();
    let _b = start(&b, &tls[1], "backup", "--listen", port);
    std::thread::sleep(Duration::from_millis(300));
    let _a = start(&a, &tls[0], "master", "--peer", port);
    let blog = b.dir.join("agent.log");

    wait_for("the snapshot and the first file", &blog, || {
        rows(&b.db()) == [(1, "calling".to_owned())] && b.shared().join("extensions.conf").is_file()
    });
    // Live changes: rows, a new file, a changed file, a rename and a delete.
    for i in 2..=50 {
        writer
            .write(|tx| {
                tx.execute("INSERT INTO ledger VALUES (?1, 'calling')", [i])
                    .map(drop)
            })
            .unwrap();
    }
    writer
        .write(|tx| {
            tx.execute("UPDATE ledger SET state = 'confirmed' WHERE id = 7", [])
                .map(drop)
        })
        .unwrap();
    std::fs::create_dir_all(a.shared().join("prompts")).unwrap();
    std::fs::write(a.shared().join("prompts/flood.wav"), vec![7u8; 300_000]).unwrap();
    std::fs::write(a.shared().join("manager.conf"), b"[admin]\nsecret = x\n").unwrap();
    std::fs::rename(
        a.shared().join("manager.conf"),
        a.shared().join("manager2.conf"),
    )
    .unwrap();
    wait_for("the live changes", &blog, || {
        rows(&b.db()) == rows(&a.db())
            && std::fs::read(b.shared().join("prompts/flood.wav")).is_ok_and(|c| c.len() == 300_000)
            && b.shared().join("manager2.conf").is_file()
            && !b.shared().join("manager.conf").exists()
    });
    std::fs::remove_file(a.shared().join("extensions.conf")).unwrap();
    wait_for("the delete", &blog, || {
        !b.shared().join("extensions.conf").exists()
    });

    assert!(
        !b.shared().join("node/pjsip.conf").exists(),
        "a node-local file left the node"
    );
    assert!(
        !b.shared().join("server.key").exists(),
        "a key left the node"
    );
    let conn = rusqlite::Connection::open(b.db()).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    wait_for("equal journals", &blog, || {
        journal::head(&conn).unwrap() == journal::head(writer.connection()).unwrap()
    });
    let mode = |p: &Path| std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(p).unwrap());
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let (fa, fb) = (
        a.shared().join("manager2.conf"),
        b.shared().join("manager2.conf"),
    );
    assert_eq!(
        (mode(&fa), mtime(&fa)),
        (mode(&fb), mtime(&fb)),
        "mode and mtime kept"
    );
}

/// A new pair from one image: both trees hold the same files before the first session. The
/// backup keeps them (nothing saved to the divergence journal, nothing re-sent), and only a
/// file the master does not have is saved and removed.
#[test]
fn a_new_pair_seeded_alike_keeps_its_files_and_saves_only_what_the_master_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let tls =
        sync_agent::tls::create_pair(&tmp.path().join("tls"), &["node-a".into(), "node-b".into()])
            .unwrap();
    let (a, b) = (
        Side {
            dir: tmp.path().join("a"),
        },
        Side {
            dir: tmp.path().join("b"),
        },
    );
    // Enough prompts that the master's first scan of its tree takes a while: the backup
    // must not be met before that scan is journaled (the manifest would lack them all).
    for s in [&a, &b] {
        std::fs::create_dir_all(s.shared().join("prompts")).unwrap();
        std::fs::write(s.shared().join("extensions.conf"), b"[from-carrier]\n").unwrap();
        std::fs::write(s.shared().join("prompts/alert.wav"), vec![1u8; 4000]).unwrap();
        for i in 0..100u8 {
            std::fs::write(
                s.shared().join(format!("prompts/p{i:03}.wav")),
                vec![i; 256 * 1024],
            )
            .unwrap();
        }
    }
    std::fs::write(b.shared().join("stray.conf"), b"only on the backup\n").unwrap();
    let port = free_port();
    let _b = start(&b, &tls[1], "backup", "--listen", port);
    std::thread::sleep(Duration::from_millis(300));
    let _a = start(&a, &tls[0], "master", "--peer", port);
    let blog = b.dir.join("agent.log");
    // The report is written after the files are saved and removed: wait for it, not for
    // the file to be gone.
    let reports = || -> Vec<String> {
        std::fs::read_dir(b.dir.join("divergence"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path().join("report.txt")).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    wait_for("the stray file's divergence report", &blog, || {
        reports().iter().any(|r| r.contains("stray.conf"))
    });
    assert!(!b.shared().join("stray.conf").exists());
    let saved = reports();
    let report = saved.join("\n");
    assert!(report.contains("stray.conf"), "{report}");
    assert!(
        !report.contains("extensions.conf")
            && !report.contains("alert.wav")
            && !report.contains("p099.wav"),
        "files the master has too were counted as untracked:\n{report}"
    );
    // They stayed put all along (never removed and fetched again).
    assert!(b.shared().join("extensions.conf").is_file());
    let log = std::fs::read_to_string(&blog).unwrap();
    assert!(
        !log.contains("asking for a file path=extensions.conf"),
        "an identical file was fetched again:\n{log}"
    );
}
