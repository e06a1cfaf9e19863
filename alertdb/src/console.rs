//! Driver: what the web console keeps in the database: operators' sign-in rows, the keys
//! that sign sessions, and the console's certificate. All replicated with the rest, which
//! is what lets a session and the certificate outlive a takeover.

use rusqlite::{params, OptionalExtension};

use crate::store::{audit, now_ms, Store, StoreError};

/// An operator as sign-in sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: i64,
    pub name: String,
    /// `admin` or `operator`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub disabled: bool,
    /// Sessions issued in another epoch are over (sign-out, a new password, disabling).
    pub session_epoch: i64,
}

impl Operator {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            role: r.get(2)?,
            password_hash: r.get(3)?,
            disabled: r.get::<_, i64>(4)? != 0,
            session_epoch: r.get(5)?,
        })
    }
}

const OPERATOR_COLUMNS: &str = "id, name, role, password_hash, disabled, session_epoch";

/// The certificate and key the console serves (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePem {
    pub cert: String,
    pub key: String,
}

impl Store {
    /// The operator called `name`, if any.
    pub fn operator_named(&self, name: &str) -> Result<Option<Operator>, StoreError> {
        Ok(self
            .connection()
            .query_row(
                &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE name = ?1"),
                [name],
                Operator::from_row,
            )
            .optional()?)
    }

    /// The operator with this id, if any.
    pub fn operator_by_id(&self, id: i64) -> Result<Option<Operator>, StoreError> {
        Ok(self
            .connection()
            .query_row(
                &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = ?1"),
                [id],
                Operator::from_row,
            )
            .optional()?)
    }

    /// Ends every session of operator `id` (a new epoch), with an audit line saying why.
    pub fn end_sessions(&mut self, id: i64, who: &str, why: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let name: Option<String> = tx
                .query_row("SELECT name FROM operators WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(name) = name else {
                return Err(StoreError::Refused(format!("no operator {id}")));
            };
            tx.execute(
                "UPDATE operators SET session_epoch = session_epoch + 1 WHERE id = ?1",
                [id],
            )?;
            Ok(audit(tx, who, why, &name)?)
        })
    }

    /// Writes an audit line on its own (an action that changes nothing else: a sign-in).
    pub fn audit(&mut self, who: &str, what: &str, detail: &str) -> Result<(), StoreError> {
        self.write(|tx| Ok(audit(tx, who, what, detail)?))
    }

    /// The session-signing keys, newest first, by id.
    pub fn console_keys(&self) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let mut stmt = self
            .connection()
            .prepare("SELECT id, key FROM console_keys ORDER BY id DESC")?;
        let keys = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Stores `key` as the first session-signing key, unless one exists (two starts racing
    /// keep the first). Returns the keys there are afterwards.
    pub fn ensure_console_key(&mut self, key: &[u8]) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.write(|tx| {
            let count: i64 = tx.query_row("SELECT count(*) FROM console_keys", [], |r| r.get(0))?;
            if count == 0 {
                tx.execute(
                    "INSERT INTO console_keys(key, created_at) VALUES (?1, ?2)",
                    params![key, now_ms()],
                )?;
            }
            Ok(())
        })?;
        self.console_keys()
    }

    /// The console's certificate, once the master made one.
    pub fn console_certificate(&self) -> Result<Option<CertificatePem>, StoreError> {
        Ok(self
            .connection()
            .query_row(
                "SELECT cert_pem, key_pem FROM console_tls WHERE id = 1",
                [],
                |r| {
                    Ok(CertificatePem {
                        cert: r.get(0)?,
                        key: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Stores `pem` as the console's certificate unless there is one; returns the one in
    /// force afterwards.
    pub fn ensure_console_certificate(
        &mut self,
        pem: &CertificatePem,
    ) -> Result<CertificatePem, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO console_tls(id, cert_pem, key_pem, created_at) \
                 VALUES (1, ?1, ?2, ?3)",
                params![pem.cert, pem.key, now_ms()],
            )?;
            Ok(())
        })?;
        Ok(self.console_certificate()?.unwrap_or_else(|| pem.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::MIGRATIONS;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("allerta.db"), "node-a").unwrap();
        assert_eq!(s.migrate().unwrap(), MIGRATIONS.len() as u32);
        (dir, s)
    }

    #[test]
    fn an_operators_sessions_end_together_and_the_audit_says_who() {
        let (_dir, mut s) = store();
        s.add_operator("anna", "operator", "una password lunga", None, "test")
            .unwrap();
        let anna = s.operator_named("anna").unwrap().unwrap();
        assert_eq!((anna.session_epoch, anna.disabled), (0, false));
        s.end_sessions(anna.id, "anna", "sign-out").unwrap();
        assert_eq!(s.operator_by_id(anna.id).unwrap().unwrap().session_epoch, 1);
        let last: (String, String, String) = s
            .connection()
            .query_row(
                "SELECT who, what, detail FROM audit ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(last, ("anna".into(), "sign-out".into(), "anna".into()));
        assert!(s.end_sessions(999, "x", "sign-out").is_err());
    }

    #[test]
    fn the_first_key_and_certificate_stay() {
        let (_dir, mut s) = store();
        assert!(s.console_keys().unwrap().is_empty());
        let first = s.ensure_console_key(b"first key").unwrap();
        let again = s.ensure_console_key(b"second key").unwrap();
        assert_eq!(first, again);
        assert_eq!(first[0].1, b"first key");
        let a = CertificatePem {
            cert: "A".into(),
            key: "a".into(),
        };
        let b = CertificatePem {
            cert: "B".into(),
            key: "b".into(),
        };
        assert_eq!(s.ensure_console_certificate(&a).unwrap(), a);
        assert_eq!(s.ensure_console_certificate(&b).unwrap(), a);
        assert_eq!(s.console_certificate().unwrap(), Some(a));
    }
}
