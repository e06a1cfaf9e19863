//! Driver: Asterisk's database (AstDB), the family/key/value store that AMI's `DBGet`,
//! `DBPut` and `DBDel` and the dialplan's `DB()` use. It is a table of the replicated
//! database (`schema` migration 3) rather than Asterisk's own file, so what an application
//! stored on the master is on the backup after a takeover; like every change, a write is
//! the master's (the backup refuses it).
//!
//! Limits, for an AMI user who would fill the disk: a family or key of at most
//! [`MAX_NAME`] bytes, a value of at most [`MAX_VALUE`], at most [`MAX_ENTRIES`] entries.

use rusqlite::{params, OptionalExtension};

use crate::store::{Store, StoreError};

/// The longest family or key, in bytes.
pub const MAX_NAME: usize = 255;
/// The longest value, in bytes.
pub const MAX_VALUE: usize = 4096;
/// The most entries the database holds.
pub const MAX_ENTRIES: i64 = 100_000;

fn check(family: &str, key: &str) -> Result<(), StoreError> {
    for (what, name) in [("family", family), ("key", key)] {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(StoreError::Refused(format!(
                "a database {what} is 1 to {MAX_NAME} bytes"
            )));
        }
    }
    Ok(())
}

impl Store {
    /// The value under `family`/`key`, if any.
    pub fn db_get(&self, family: &str, key: &str) -> Result<Option<String>, StoreError> {
        if self.schema_version()? < 3 {
            return Ok(None);
        }
        Ok(self
            .connection()
            .query_row(
                "SELECT value FROM astdb WHERE family = ?1 AND key = ?2",
                params![family, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores `value` under `family`/`key` (replacing any).
    pub fn db_put(&mut self, family: &str, key: &str, value: &str) -> Result<(), StoreError> {
        check(family, key)?;
        if value.len() > MAX_VALUE {
            return Err(StoreError::Refused(format!(
                "a database value is at most {MAX_VALUE} bytes"
            )));
        }
        // The master brings the schema up to date before its first write, as every writer does.
        self.migrate()?;
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM astdb WHERE family = ?1 AND key = ?2)",
                params![family, key],
                |r| r.get(0),
            )?;
            let count: i64 = tx.query_row("SELECT count(*) FROM astdb", [], |r| r.get(0))?;
            if !exists && count >= MAX_ENTRIES {
                return Err(StoreError::Refused(format!(
                    "the database is full ({MAX_ENTRIES} entries)"
                )));
            }
            tx.execute(
                "INSERT INTO astdb(family, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(family, key) DO UPDATE SET value = excluded.value",
                params![family, key, value],
            )?;
            Ok(())
        })
    }

    /// Deletes `family`/`key`; whether it was there.
    pub fn db_del(&mut self, family: &str, key: &str) -> Result<bool, StoreError> {
        check(family, key)?;
        self.migrate()?;
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM astdb WHERE family = ?1 AND key = ?2",
                params![family, key],
            )? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("allerta.db"), "a").unwrap();
        store.migrate().unwrap();
        (dir, store)
    }

    #[test]
    fn put_get_replace_and_delete() {
        let (_dir, mut db) = store();
        assert_eq!(db.db_get("cidname", "0744").unwrap(), None);
        db.db_put("cidname", "0744", "Terni").unwrap();
        db.db_put("cidname", "0744", "Terni centro").unwrap();
        assert_eq!(
            db.db_get("cidname", "0744").unwrap().as_deref(),
            Some("Terni centro")
        );
        assert!(db.db_del("cidname", "0744").unwrap());
        assert!(!db.db_del("cidname", "0744").unwrap());
        assert_eq!(db.db_get("cidname", "0744").unwrap(), None);
    }

    #[test]
    fn names_and_values_have_limits() {
        let (_dir, mut db) = store();
        assert!(db.db_put("", "k", "v").is_err());
        assert!(db.db_put("f", &"k".repeat(MAX_NAME + 1), "v").is_err());
        assert!(db.db_put("f", "k", &"v".repeat(MAX_VALUE + 1)).is_err());
        db.db_put("f", "k", &"v".repeat(MAX_VALUE)).unwrap();
    }
}
