//! Arbitrary bytes as a snapshot the backup received (`sync_agent::snapshot::install`): staged
//! to a file, its hash taken (so the mutator gets past the hash check to SQLite's own
//! checks), then installed over a live database that holds one row. Nothing may panic; a
//! refused snapshot leaves the live database as it was (the row still there, integrity ok);
//! an installed one leaves it consistent (integrity ok, a journal head).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use sync_agent::snapshot::{hash_file, install};

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 20 {
        return;
    }
    let dir = std::env::temp_dir().join(format!("allerta-fuzz-snap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let staged = dir.join("staged.db");
    std::fs::write(&staged, data).expect("staged");
    let (hash, _) = hash_file(&staged).expect("hashed");
    let mut live = journal::open(&dir.join("live.db")).expect("a live database");
    live.execute_batch("CREATE TABLE kept(x); INSERT INTO kept VALUES (42);")
        .expect("a row");
    let integrity = |c: &Connection| -> String {
        c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap_or_else(|e| e.to_string())
    };
    match install(&mut live, &staged, &hash) {
        Ok(_head) => assert_eq!(integrity(&live), "ok", "installed, but damaged"),
        Err(_) => {
            assert_eq!(
                integrity(&live),
                "ok",
                "refused, and the live database damaged"
            );
            let x: i64 = live
                .query_row("SELECT x FROM kept", [], |r| r.get(0))
                .expect("the live row survives a refused snapshot");
            assert_eq!(x, 42);
        }
    }
});
