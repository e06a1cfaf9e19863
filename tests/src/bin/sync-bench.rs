//! `sync-bench`: the sync agent's figures, beside an rsync daemon on the same data, in the
//! lab's namespaces (root).
//!
//! ```text
//! sync-bench [--db-mb 500] [--changes 1000] [--interval-ms 10] [--percent 1]
//!   (e) master write overhead: a single-row update through `Journal::write` vs the same
//!       transaction without capture, same database, synchronous=FULL
//!   (d) full resync: an empty backup starts; master start → snapshot installed on the backup
//!   (a) 1 KiB config file written on the master → applied on the backup (1000 changes)
//!   (b) single-row ledger update (100/s) → applied on the backup (1000 changes)
//!   (c) 1 % of the contact rows changed in one transaction: bytes on the wire, commit →
//!       applied and verified on the backup; rsync (daemon on loopback in node-b, default
//!       options) pushing a consistent copy of the database before and after the same change
//! ```
//! "Applied" is the backup agent's own log line for the record (its timestamp, µs, the same
//! clock as the bench's), written after the apply transaction (or the file's rename and
//! directory fsync) committed. Targets from the issue are printed beside each figure.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use journal::{self, Journal};
use rusqlite::params;
use system_tests::lab::{wait_until, Lab};
use system_tests::prereq;
use system_tests::sync::{self, SyncNode, LEDGER};

struct Args {
    db_mb: u64,
    changes: usize,
    interval: Duration,
    percent: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        db_mb: 500,
        changes: 1000,
        interval: Duration::from_millis(10),
        percent: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--db-mb" => a.db_mb = val()?.parse().map_err(|e| format!("--db-mb: {e}"))?,
            "--changes" => a.changes = val()?.parse().map_err(|e| format!("--changes: {e}"))?,
            "--interval-ms" => {
                a.interval = Duration::from_millis(
                    val()?.parse().map_err(|e| format!("--interval-ms: {e}"))?,
                )
            }
            "--percent" => a.percent = val()?.parse().map_err(|e| format!("--percent: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// From the backup's log: seq → applied time (µs), and file path → applied time.
fn applied_times(log: &str) -> (HashMap<u64, i64>, HashMap<String, i64>) {
    let (mut by_seq, mut by_path) = (HashMap::new(), HashMap::new());
    for line in log.lines().filter(|l| l.contains(" applied seq=")) {
        let Some(t) = system_tests::lab::log_time_us(line) else {
            continue;
        };
        let Some(seq) = line
            .split(" applied seq=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|s| s.parse().ok())
        else {
            continue;
        };
        // A group commit logs its last record and where the group started.
        let first = line
            .split(" first_seq=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(seq);
        for s in first..=seq {
            by_seq.insert(s, t);
        }
        if let Some(rest) = line.split(": file ").nth(1) {
            if let Some(path) = rest.split(" (").next() {
                by_path.insert(path.to_owned(), t);
            }
        }
    }
    (by_seq, by_path)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median_p99(mut v: Vec<f64>) -> (f64, f64, usize) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    (percentile(&v, 0.5), percentile(&v, 0.99), v.len())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// A tiny deterministic generator for the test data.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const CONTACTS: &str = "CREATE TABLE contacts(id INTEGER PRIMARY KEY, list_id INTEGER NOT NULL, \
    first_name TEXT, last_name TEXT, phone1 TEXT, phone2 TEXT, email TEXT, notes TEXT, updated_at INTEGER)";

/// The contacts database on the master (not journaled: it is the base the backup gets by
/// snapshot), about `mb` MB.
fn generate(db: &Path, mb: u64) -> u64 {
    // About 260 bytes a row with its three indexes (measured: 2.65 M rows = 689 MB).
    let rows = mb * 3850;
    let mut conn = journal::open(db).expect("master database");
    conn.execute_batch(CONTACTS).unwrap();
    conn.execute_batch(LEDGER).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut ins = tx
            .prepare("INSERT INTO contacts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
            .unwrap();
        let mut r = Lcg(7);
        for id in 0..rows as i64 {
            let n = r.next();
            ins.execute(params![
                id,
                (n % 400) as i64,
                format!("Nome{}", n % 5000),
                format!("Cognome{}", r.next() % 20000),
                format!("+39 0743 {:07}", r.next() % 10_000_000),
                format!("+39 33{:08}", r.next() % 100_000_000),
                format!("utente{}@comune.spoleto.pg.it", r.next()),
                format!(
                    "via {} n. {} — note {}",
                    r.next() % 900,
                    r.next() % 200,
                    "x".repeat((r.next() % 60) as usize)
                ),
                1_700_000_000i64 + (r.next() % 10_000_000) as i64,
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
    conn.execute_batch(
        "CREATE INDEX contacts_list ON contacts(list_id, last_name);
         CREATE INDEX contacts_phone ON contacts(phone1);
         CREATE INDEX contacts_email ON contacts(email);",
    )
    .unwrap();
    for id in 0..1000i64 {
        conn.execute(
            "INSERT INTO ledger VALUES (?1, 1, 'x', 1, 'calling', 0)",
            [id],
        )
        .unwrap();
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    rows
}

/// (e): median and p99 of a one-row update with and without capture, in ms.
fn write_overhead(dir: &Path, n: usize) -> ((f64, f64), (f64, f64)) {
    let path = dir.join("overhead.db");
    let mut plain = journal::open(&path).unwrap();
    plain.execute_batch(LEDGER).unwrap();
    for id in 0..10_000i64 {
        plain
            .execute(
                "INSERT INTO ledger VALUES (?1, 1, 'x', 1, 'calling', 0)",
                [id],
            )
            .unwrap();
    }
    let mut j = Journal::open(&path).unwrap();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for i in 0..n as i64 {
        let id = (i * 7919) % 10_000;
        let t = Instant::now();
        let tx = plain
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute("UPDATE ledger SET state = 'confirmed', attempt = attempt + 1, updated_ms = ?2 WHERE id = ?1", params![id, i])
            .unwrap();
        tx.commit().unwrap();
        without.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        j.write(|tx| {
            tx.execute("UPDATE ledger SET state = 'calling', attempt = attempt + 1, updated_ms = ?2 WHERE id = ?1", params![id, i])
                .map(drop)
        })
        .unwrap();
        with.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (a, b, _) = median_p99(without);
    let (c, d, _) = median_p99(with);
    ((a, b), (c, d))
}

fn table_digest(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT * FROM contacts ORDER BY id").unwrap();
    let mut h = blake3::Hasher::new();
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        for i in 0..9 {
            match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => h.update(b"N"),
                rusqlite::types::ValueRef::Integer(v) => h.update(&v.to_le_bytes()),
                rusqlite::types::ValueRef::Real(v) => h.update(&v.to_le_bytes()),
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                    h.update(&(t.len() as u64).to_le_bytes()).update(t)
                }
            };
        }
    }
    h.finalize().to_hex().to_string()
}

fn wait_log(node: &SyncNode, needle: &str, n: usize, timeout: Duration) -> bool {
    node.proc().wait_count(needle, n, timeout)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sync-bench: {e}");
            std::process::exit(2);
        }
    };
    prereq::require_tools("sync-bench", &["rsync"]);
    let lab = Lab::two_nodes("sync-bench");
    let (mut a, mut b) = sync::pair(&lab);
    // The production full-scan period: a scan of the 1000 benchmark files every 2 s (the
    // lab tests' setting) would sit in front of the watcher's events.
    a.scan_interval_secs = 60;
    b.scan_interval_secs = 60;
    a.verify_interval_secs = 600;
    b.verify_interval_secs = 600;
    println!(
        "sync-bench: load {} at start; release agents; lab {}",
        load(),
        lab.dir().display()
    );

    // (e)
    let ((plain_med, plain_p99), (with_med, with_p99)) = write_overhead(lab.dir(), args.changes);

    // The database, then (d): an empty backup's full resync.
    let t = Instant::now();
    let rows = generate(&a.db(), args.db_mb);
    let size = std::fs::metadata(a.db()).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {rows} contacts, {:.0} MB, in {:.1} s (load {})",
        size as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        load()
    );
    b.start(&lab, "backup");
    let t = Instant::now();
    a.start(&lab, "master");
    assert!(
        wait_log(&b, "snapshot installed", 1, Duration::from_secs(120)),
        "no snapshot:\n{}",
        b.log()
    );
    let resync = t.elapsed().as_secs_f64();
    let take_ms: f64 = a
        .log()
        .lines()
        .find(|l| l.contains("sending a snapshot"))
        .and_then(|l| l.split("took_ms=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    println!("(d) resync done in {resync:.2} s (load {})", load());

    // (a): 1 KiB files.
    std::fs::create_dir_all(a.shared().join("bench")).unwrap();
    let mut sent_at = HashMap::new();
    let content = vec![b'x'; 1024];
    for i in 0..args.changes {
        let rel = format!("bench/f{i}.conf");
        sent_at.insert(rel.clone(), system_tests::lab::wall_us());
        std::fs::write(a.shared().join(&rel), &content).unwrap();
        std::thread::sleep(args.interval);
    }
    let last = format!("bench/f{}.conf", args.changes - 1);
    wait_until(Duration::from_secs(30), || {
        applied_times(&b.log()).1.contains_key(&last)
    });
    let (_, by_path) = applied_times(&b.log());
    let file_lat: Vec<f64> = sent_at
        .iter()
        .filter_map(|(p, t0)| by_path.get(p).map(|t1| (t1 - t0) as f64 / 1e3))
        .collect();
    let (fa_med, fa_p99, fa_n) = median_p99(file_lat);
    println!("(a) done (load {})", load());

    // (b): single-row ledger updates at 100/s.
    let mut w = a.writer();
    let mut starts = Vec::new();
    for i in 0..args.changes as i64 {
        let t0 = system_tests::lab::wall_us();
        let ((), pos) = w
            .write(|tx| {
                tx.execute("UPDATE ledger SET state = 'confirmed', attempt = attempt + 1, updated_ms = ?2 WHERE id = ?1", params![i % 1000, t0])
                    .map(drop)
            })
            .unwrap();
        starts.push((pos.expect("a record").seq, t0, system_tests::lab::wall_us()));
        std::thread::sleep(Duration::from_millis(10));
    }
    let last_seq = starts.last().map(|s| s.0).unwrap_or(0);
    wait_until(Duration::from_secs(30), || {
        applied_times(&b.log()).0.contains_key(&last_seq)
    });
    let (by_seq, _) = applied_times(&b.log());
    let (mut db_lat, mut commit_lat) = (Vec::new(), Vec::new());
    for (seq, t0, t_commit) in &starts {
        if let Some(t1) = by_seq.get(seq) {
            db_lat.push((t1 - t0) as f64 / 1e3);
            commit_lat.push((t1 - t_commit) as f64 / 1e3);
        }
    }
    let (db_med, db_p99, db_n) = median_p99(db_lat);
    let (cm_med, cm_p99, _) = median_p99(commit_lat);
    println!("(b) done (load {})", load());

    // (c): 1 % of the contacts in one transaction; rsync on the same change.
    assert!(sync::wait_in_step(&a, &b, Duration::from_secs(60)));
    let before = lab.dir().join("rsync-before.db");
    let after = lab.dir().join("rsync-after.db");
    sync_agent::snapshot::take(w.connection(), &before).unwrap();
    let bytes0 = a.status()["bytes_sent"].as_u64().unwrap_or(0);
    let changed = ((rows as f64) * args.percent / 100.0) as i64;
    let mut r = Lcg(99);
    let ids: Vec<i64> = (0..changed).map(|_| (r.next() % rows) as i64).collect();
    let t_txn = Instant::now();
    let ((), pos) = w
        .write(|tx| {
            let mut up = tx.prepare("UPDATE contacts SET phone1 = ?2, notes = notes || ' aggiornato', updated_at = ?3 WHERE id = ?1")?;
            for (k, id) in ids.iter().enumerate() {
                up.execute(params![id, format!("+39 0743 9{:06}", k), 1_800_000_000i64 + k as i64])?;
            }
            Ok(())
        })
        .unwrap();
    let txn_s = t_txn.elapsed().as_secs_f64();
    let t_commit = Instant::now();
    let seq = pos.expect("a record").seq;
    let caught = wait_until(Duration::from_secs(120), || {
        sync::head(&b.db()).is_some_and(|h| h.seq >= seq)
    });
    let apply_s = t_commit.elapsed().as_secs_f64();
    // Both sides' digests at once (two cores).
    let (da, db) = std::thread::scope(|s| {
        let ha = s.spawn(|| table_digest(&a.db()));
        let hb = s.spawn(|| table_digest(&b.db()));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let verified = da == db;
    let verify_s = t_commit.elapsed().as_secs_f64();
    wait_until(Duration::from_secs(5), || a.status()["lag_records"] == 0);
    let wire = a.status()["bytes_sent"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(bytes0);
    sync_agent::snapshot::take(w.connection(), &after).unwrap();
    println!("(c) agent done (load {})", load());

    // rsync daemon on node-b's loopback; the client pushes from the same namespace.
    let dst = lab.dir().join("rsync-dst");
    std::fs::create_dir_all(&dst).unwrap();
    let conf = lab.write_file(
        "rsyncd.conf",
        &format!(
            "use chroot = false\n[bench]\npath = {}\nread only = false\nuid = root\ngid = root\n",
            dst.display()
        ),
    );
    let conf = conf.display().to_string();
    let _daemon = lab.spawn(
        "node-b",
        "rsyncd",
        Path::new("/usr/bin/rsync"),
        &[
            "--daemon",
            "--no-detach",
            "--address",
            "127.0.0.1",
            "--port",
            "18731",
            "--config",
            &conf,
        ],
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    let push = |src: &Path| {
        let t = Instant::now();
        let out = lab.exec(
            "node-b",
            "rsync",
            &[
                "-a",
                "--stats",
                &src.display().to_string(),
                "rsync://127.0.0.1:18731/bench/allerta.db",
            ],
        );
        let secs = t.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "rsync failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let num = |key: &str| -> u64 {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.split_whitespace().next().unwrap_or("0").replace(',', ""))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (secs, num("Total bytes sent") + num("Total bytes received"))
    };
    let (rs_full_s, rs_full_b) = push(&before);
    let (rs_delta_s, rs_delta_b) = push(&after);

    let integrity = sync::integrity_ok(&b.db());
    let mb = |b: u64| b as f64 / 1e6;
    println!();
    println!(
        "=== sync-bench: {} MB database ({rows} contacts), {} changes, load {} at the end",
        args.db_mb,
        args.changes,
        load()
    );
    println!("(a) 1 KiB file → applied on the backup: median {fa_med:.2} ms, p99 {fa_p99:.2} ms over {fa_n}  [target ≤ 5 / ≤ 20 ms: {}]",
        verdict(fa_med <= 5.0 && fa_p99 <= 20.0));
    println!("(b) 1-row ledger update → applied: median {db_med:.2} ms, p99 {db_p99:.2} ms over {db_n} (from commit: {cm_med:.2} / {cm_p99:.2} ms)  [target ≤ 5 / ≤ 25 ms: {}]",
        verdict(db_med <= 5.0 && db_p99 <= 25.0));
    println!("(c) {}% = {changed} rows in one transaction (master txn {txn_s:.2} s): {:.2} MB on the wire, backup caught up in {apply_s:.2} s, verified (table digest {}) at {verify_s:.2} s  [target ≤ 1.5 MB, ≤ 5 s: {}]",
        args.percent, mb(wire), if verified { "equal" } else { "DIFFERENT" }, verdict(mb(wire) <= 1.5 && apply_s <= 5.0 && verified && caught.is_some()));
    println!("    rsync daemon (loopback, default options) on a consistent copy: first push {:.1} MB in {rs_full_s:.2} s; the same change {:.2} MB in {rs_delta_s:.2} s",
        mb(rs_full_b), mb(rs_delta_b));
    println!("(d) full resync of {:.0} MB (empty backup; snapshot taken in {:.2} s): {resync:.2} s  [target ≤ 8 s: {}]",
        mb(size), take_ms / 1e3, verdict(resync <= 8.0));
    println!("(e) master write, 1-row update: {with_med:.3} ms median ({with_p99:.3} p99) with capture vs {plain_med:.3} ({plain_p99:.3}) without: +{:.3} ms  [target ≤ 1 ms: {}]",
        with_med - plain_med, verdict(with_med - plain_med <= 1.0));
    println!(
        "backup integrity_check: {}",
        if integrity { "ok" } else { "FAILED" }
    );
}
