//! Storage: a digest of every replicated table, with the journal position it belongs to.
//! Data and journal commit together, so inside one read transaction the tables are exactly
//! the state at the journal's head. Both nodes hash the same way (rows in primary-key
//! order, each value with its type), so equal digests at the same position mean equal
//! tables. It catches what the per-record checks cannot: a row added or changed on the
//! backup behind the journal's back that no later record happens to touch.

use journal::{self, is_replicated_table};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::proto::Pos;

/// The journal head and BLAKE3 over the replicated tables, in one read transaction.
pub fn tables(conn: &Connection) -> rusqlite::Result<(Pos, [u8; 32])> {
    let tx = conn.unchecked_transaction()?;
    let head = journal::head(&tx)?;
    let mut names: Vec<String> = tx
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    names.retain(|n| is_replicated_table(n));
    let mut hasher = blake3::Hasher::new();
    for name in &names {
        // Sessions replicate only tables with a primary key: the same set is hashed.
        let pk: Vec<String> = tx
            .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")?
            .query_map([name], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if pk.is_empty() {
            continue;
        }
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let order: Vec<String> = pk.iter().map(|c| quote(c)).collect();
        let sql = format!(
            "SELECT * FROM {} ORDER BY {}",
            quote(name),
            order.join(", ")
        );
        hasher.update(name.as_bytes()).update(&[0]);
        let mut stmt = tx.prepare(&sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            for i in 0..columns {
                match row.get_ref(i)? {
                    ValueRef::Null => hasher.update(b"n"),
                    ValueRef::Integer(v) => hasher.update(b"i").update(&v.to_le_bytes()),
                    ValueRef::Real(v) => hasher.update(b"r").update(&v.to_le_bytes()),
                    ValueRef::Text(t) => hasher
                        .update(b"t")
                        .update(&(t.len() as u64).to_le_bytes())
                        .update(t),
                    ValueRef::Blob(b) => hasher
                        .update(b"b")
                        .update(&(b.len() as u64).to_le_bytes())
                        .update(b),
                };
            }
        }
    }
    tx.commit()?;
    Ok((head, *hasher.finalize().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::Journal;

    #[test]
    fn equal_tables_have_equal_digests_and_a_row_behind_the_journal_shows() {
        let dir = tempfile::tempdir().unwrap();
        let mut master = Journal::open(&dir.path().join("m.db")).unwrap();
        master
            .change_schema("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE nopk(x)")
            .unwrap();
        master
            .write(|tx| {
                tx.execute("INSERT INTO t VALUES (1, 'a'), (2, NULL)", [])
                    .map(drop)
            })
            .unwrap();
        let mut backup = journal::open(&dir.path().join("b.db")).unwrap();
        for rec in journal::read_from(master.connection(), 1, 10).unwrap() {
            crate::replica::apply(&mut backup, &rec, None).unwrap();
        }
        let (pm, dm) = tables(master.connection()).unwrap();
        let (pb, db) = tables(&backup).unwrap();
        assert_eq!((pm, dm), (pb, db));
        backup
            .execute("INSERT INTO t VALUES (3, 'local')", [])
            .unwrap();
        assert_ne!(tables(&backup).unwrap().1, dm);
        // Tables without a primary key are not replicated, and not hashed.
        master
            .connection()
            .execute("INSERT INTO nopk VALUES (1)", [])
            .unwrap();
        assert_eq!(tables(master.connection()).unwrap().1, dm);
    }
}
