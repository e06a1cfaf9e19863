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

/// When a campaign started (ms since the epoch), and (ms, people finished by then) for
/// each second in which someone finished.
pub type FinishTimes = (Option<i64>, Vec<(i64, u64)>);

/// A campaign's finished attempts by outcome, and when its ledger was last written.
pub type Outcomes = (Vec<(String, u64)>, Option<i64>);

/// The certificate and key the console serves (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePem {
    pub cert: String,
    pub key: String,
}

/// A contact as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    pub id: i64,
    pub contact: crate::contacts::Contact,
    /// The lists it is in.
    pub lists: Vec<String>,
}

/// An operator as the console lists it (no hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub disabled: bool,
    pub has_pin: bool,
}

/// A message as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub id: i64,
    pub name: String,
    /// `text` or `recording`.
    pub kind: String,
    /// The text, or the prompt's name.
    pub body: String,
    pub language: String,
    /// Who last set it, and when (ms since the epoch).
    pub set_by: Option<String>,
    pub set_at: Option<i64>,
}

/// A campaign as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub state: String,
    pub priority: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub recipients: u64,
    /// Confirmed, out of attempts, or stopped.
    pub finished: u64,
    pub confirmed: u64,
}

impl Store {
    /// Every campaign, newest first, with its recipients counted.
    pub fn campaign_rows(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let mut stmt = self.connection().prepare(
            "SELECT c.id, c.name, c.state, c.priority, c.created_at, c.started_at, c.finished_at,
                    count(r.contact_id),
                    coalesce(sum(r.status IN ('confirmed', 'gave_up', 'stopped')), 0),
                    coalesce(sum(r.status = 'confirmed'), 0)
             FROM campaigns c LEFT JOIN recipients r ON r.campaign_id = c.id
             GROUP BY c.id ORDER BY c.id DESC",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CampaignRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    state: r.get(2)?,
                    priority: r.get(3)?,
                    created_at: r.get(4)?,
                    started_at: r.get(5)?,
                    finished_at: r.get(6)?,
                    recipients: r.get::<_, i64>(7)? as u64,
                    finished: r.get::<_, i64>(8)? as u64,
                    confirmed: r.get::<_, i64>(9)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// For the progress chart: (when the campaign started, and for each second in which
    /// someone's last attempt ended, how many had finished by then). A recipient is
    /// finished once confirmed or out of attempts; at most one row per second, so a
    /// campaign of any size gives at most as many rows as it ran seconds, and at most as
    /// many as it has recipients.
    pub fn finish_times(&self, campaign: i64) -> Result<FinishTimes, StoreError> {
        let started: Option<i64> = self
            .connection()
            .query_row(
                "SELECT started_at FROM campaigns WHERE id = ?1",
                [campaign],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let mut stmt = self.connection().prepare(
            "SELECT second, count(*) FROM (
                 SELECT max(a.ended_at) / 1000 AS second
                 FROM recipients r JOIN attempts a
                   ON a.campaign_id = r.campaign_id AND a.contact_id = r.contact_id
                 WHERE r.campaign_id = ?1 AND r.status IN ('confirmed', 'gave_up')
                   AND a.ended_at IS NOT NULL
                 GROUP BY r.contact_id)
             GROUP BY second ORDER BY second",
        )?;
        let mut total = 0;
        let mut out = Vec::new();
        for row in stmt.query_map([campaign], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (second, n) = row?;
            total += n as u64;
            out.push((second * 1000, total));
        }
        Ok((started, out))
    }

    /// Campaign `id`'s finished attempts by outcome (`confirmed`, `busy`, …), most first;
    /// and when its ledger was last written (an attempt's start or end, ms since the
    /// epoch: the times the store wrote them), which the console's live stream carries so its delay can be measured.
    pub fn outcomes(&self, id: i64) -> Result<Outcomes, StoreError> {
        let mut stmt = self.connection().prepare_cached(
            "SELECT outcome, count(*) FROM attempts
             WHERE campaign_id = ?1 AND outcome IS NOT NULL
             GROUP BY outcome ORDER BY count(*) DESC, outcome",
        )?;
        let rows = stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect::<Result<_, _>>()?;
        let written: Option<i64> = self.connection().query_row(
            "SELECT max(max(coalesce(ended_at, 0), started_at))
             FROM attempts WHERE campaign_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        Ok((rows, written))
    }

    /// How many people starting campaign `id` would call: its lists' members with a
    /// number, each once (what `control`'s start takes as recipients).
    pub fn campaign_audience(&self, id: i64) -> Result<u64, StoreError> {
        let n: i64 = self.connection().query_row(
            "SELECT count(DISTINCT m.contact_id)
             FROM campaign_lists cl JOIN list_members m ON m.list_id = cl.list_id
             WHERE cl.campaign_id = ?1
               AND EXISTS (SELECT 1 FROM contact_numbers n WHERE n.contact_id = m.contact_id)",
            [id],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Contacts whose name, id or a number contains `q` (all when empty), by name; at most
    /// `limit`, with the total that matched.
    pub fn search_contacts(
        &self,
        q: &str,
        limit: usize,
    ) -> Result<(Vec<ContactRow>, u64), StoreError> {
        let pattern = format!(
            "%{}%",
            q.trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let filter =
            "FROM contacts c WHERE c.name LIKE ?1 ESCAPE '\\' OR c.external_id LIKE ?1 ESCAPE '\\'
               OR EXISTS (SELECT 1 FROM contact_numbers n WHERE n.contact_id = c.id
                          AND n.number LIKE ?1 ESCAPE '\\')";
        let total: i64 =
            self.connection()
                .query_row(&format!("SELECT count(*) {filter}"), [&pattern], |r| {
                    r.get(0)
                })?;
        let mut stmt = self.connection().prepare(&format!(
            "SELECT c.id {filter} ORDER BY c.name, c.id LIMIT ?2"
        ))?;
        let ids: Vec<i64> = stmt
            .query_map(params![pattern, limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = self.contact_by_id(id)? {
                rows.push(row);
            }
        }
        Ok((rows, total as u64))
    }

    /// One contact, with its numbers in calling order and its lists.
    pub fn contact_by_id(&self, id: i64) -> Result<Option<ContactRow>, StoreError> {
        let c = self.connection();
        let head: Option<(String, String, String, String)> = c
            .query_row(
                "SELECT external_id, name, language, tags FROM contacts WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((external_id, name, language, tags)) = head else {
            return Ok(None);
        };
        let numbers = c
            .prepare("SELECT number FROM contact_numbers WHERE contact_id = ?1 ORDER BY position")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let lists = c
            .prepare(
                "SELECT l.name FROM lists l JOIN list_members m ON m.list_id = l.id
                 WHERE m.contact_id = ?1 ORDER BY l.name",
            )?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(Some(ContactRow {
            id,
            contact: crate::contacts::Contact {
                external_id,
                name,
                numbers,
                language,
                tags: tags
                    .split(';')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            lists,
        }))
    }

    /// Changes contact `id` (its external id stays: other systems know it by that).
    pub fn update_contact(
        &mut self,
        id: i64,
        c: &crate::contacts::Contact,
        who: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE contacts SET name = ?2, language = ?3, tags = ?4 WHERE id = ?1",
                params![id, c.name, c.language, c.tags.join(";")],
            )?;
            if changed == 0 {
                return Err(StoreError::Refused(format!("no contact {id}")));
            }
            tx.execute("DELETE FROM contact_numbers WHERE contact_id = ?1", [id])?;
            for (i, n) in c.numbers.iter().enumerate() {
                tx.execute(
                    "INSERT INTO contact_numbers(contact_id, position, number) VALUES (?1, ?2, ?3)",
                    params![id, i as i64, n],
                )?;
            }
            Ok(audit(
                tx,
                who,
                "contact edit",
                &format!("{} ({})", c.name, c.external_id),
            )?)
        })
    }

    /// Every message, by name, with who last set it and when (from the audit log: a
    /// message recorded by phone names the operator whose PIN was used).
    pub fn message_rows(&self) -> Result<Vec<MessageInfo>, StoreError> {
        let mut stmt = self.connection().prepare(
            "SELECT m.id, m.name, m.kind, m.body, m.language,
                    (SELECT a.who FROM audit a WHERE a.what = 'message set'
                       AND a.detail = m.name || ' (' || m.kind || ')' ORDER BY a.id DESC LIMIT 1),
                    (SELECT a.at FROM audit a WHERE a.what = 'message set'
                       AND a.detail = m.name || ' (' || m.kind || ')' ORDER BY a.id DESC LIMIT 1)
             FROM messages m ORDER BY m.name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MessageInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    body: r.get(3)?,
                    language: r.get(4)?,
                    set_by: r.get(5)?,
                    set_at: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The messages' names, in order.
    pub fn message_names(&self) -> Result<Vec<String>, StoreError> {
        self.names("SELECT name FROM messages ORDER BY name")
    }

    /// The lists' names with their member counts, in order.
    pub fn lists_with_sizes(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self.connection().prepare(
            "SELECT l.name, count(m.contact_id) FROM lists l
             LEFT JOIN list_members m ON m.list_id = l.id GROUP BY l.id ORDER BY l.name",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn names(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.connection().prepare(sql)?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

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

    /// Every operator, by name.
    pub fn operators(&self) -> Result<Vec<OperatorRow>, StoreError> {
        let mut stmt = self.connection().prepare(
            "SELECT id, name, role, disabled, pin_hash IS NOT NULL FROM operators ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(OperatorRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    role: r.get(2)?,
                    disabled: r.get::<_, i64>(3)? != 0,
                    has_pin: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Disables (every session ends) or enables operator `id`. The last enabled
    /// administrator stays: nobody could administer the console otherwise.
    pub fn set_disabled(&mut self, id: i64, disabled: bool, who: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let (name, role): (String, String) = tx
                .query_row("SELECT name, role FROM operators WHERE id = ?1", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .ok_or_else(|| StoreError::Refused(format!("no operator {id}")))?;
            if disabled && role == "admin" {
                let others: i64 = tx.query_row(
                    "SELECT count(*) FROM operators WHERE role = 'admin' AND disabled = 0 AND id != ?1",
                    [id],
                    |r| r.get(0),
                )?;
                if others == 0 {
                    return Err(StoreError::Refused(
                        "the last enabled administrator cannot be disabled".into(),
                    ));
                }
            }
            tx.execute(
                "UPDATE operators SET disabled = ?2,
                   session_epoch = session_epoch + (CASE WHEN ?2 THEN 1 ELSE 0 END)
                 WHERE id = ?1",
                params![id, disabled],
            )?;
            let what = if disabled { "operator disable" } else { "operator enable" };
            Ok(audit(tx, who, what, &name)?)
        })
    }

    /// Sets operator `id`'s password (argon2id); every session of theirs ends.
    pub fn set_password(&mut self, id: i64, password: &str, who: &str) -> Result<(), StoreError> {
        let hash = crate::password::hash(password).map_err(StoreError::Refused)?;
        self.write(|tx| {
            let name: String = tx
                .query_row("SELECT name FROM operators WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(|| StoreError::Refused(format!("no operator {id}")))?;
            tx.execute(
                "UPDATE operators SET password_hash = ?2, session_epoch = session_epoch + 1
                 WHERE id = ?1",
                params![id, hash],
            )?;
            Ok(audit(tx, who, "operator password", &name)?)
        })
    }

    /// Sets (or, with None, removes) operator `id`'s phone PIN.
    pub fn set_pin(&mut self, id: i64, pin: Option<&str>, who: &str) -> Result<(), StoreError> {
        if let Some(pin) = pin {
            if let Some(problem) = crate::password::pin_problem(pin) {
                return Err(StoreError::Refused(problem));
            }
        }
        let hash = pin
            .map(crate::password::hash)
            .transpose()
            .map_err(StoreError::Refused)?;
        self.write(|tx| {
            let name: String = tx
                .query_row("SELECT name FROM operators WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(|| StoreError::Refused(format!("no operator {id}")))?;
            tx.execute(
                "UPDATE operators SET pin_hash = ?2 WHERE id = ?1",
                params![id, hash],
            )?;
            let what = if pin.is_some() {
                "operator pin"
            } else {
                "operator pin removed"
            };
            Ok(audit(tx, who, what, &name)?)
        })
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
    fn campaigns_are_listed_with_their_counts_and_the_chart_counts_finished_people() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::fixtures::running_campaign(&dir.path().join("a.db"), "node-a", 1);
        let c = s.campaign("c").unwrap().unwrap();
        let due = s.due(c.id, now_ms(), 10).unwrap();
        let attempt = s
            .begin_attempt(c.id, due[0].contact_id, &due[0].numbers[0])
            .unwrap();
        s.confirm(attempt).unwrap();
        let end = crate::store::AttemptEnd {
            outcome: crate::Outcome::Confirmed,
            sip_code: None,
            answered_at: Some(now_ms()),
            dtmf: Some("1".into()),
        };
        s.end_attempt(attempt, &end, 1, 0).unwrap();
        let rows = s.campaign_rows().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].recipients, rows[0].finished, rows[0].confirmed),
            (3, 1, 1)
        );
        let (started, chart) = s.finish_times(c.id).unwrap();
        assert!(started.is_some());
        assert_eq!(chart.len(), 1);
        assert_eq!(chart[0].1, 1);
        assert_eq!(chart[0].0 % 1000, 0);
        assert_eq!(s.message_names().unwrap(), ["m"]);
        s.add_message("m", "recording", "m", "it", "rossi").unwrap();
        let m = &s.message_rows().unwrap()[0];
        assert_eq!(
            (m.kind.as_str(), m.set_by.as_deref()),
            ("recording", Some("rossi"))
        );
        assert_eq!(s.lists_with_sizes().unwrap(), [("l".to_owned(), 3)]);
        assert_eq!(s.campaign_by_id(c.id).unwrap().unwrap().name, "c");
        assert_eq!(s.campaign_audience(c.id).unwrap(), 3);
        let (outcomes, written) = s.outcomes(c.id).unwrap();
        assert_eq!(outcomes, [("confirmed".to_owned(), 1)]);
        assert!(written.is_some_and(|w| w > 0));
    }

    #[test]
    fn contacts_are_found_by_name_id_or_number_and_edited_with_an_audit_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::fixtures::running_campaign(&dir.path().join("a.db"), "node-a", 1);
        let (all, total) = s.search_contacts("", 10).unwrap();
        assert_eq!((all.len(), total), (3, 3));
        let (found, _) = s.search_contacts("0743111112", 10).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].contact.name, "P2");
        assert_eq!(found[0].lists, ["l"]);
        // LIKE's wildcards are searched for literally.
        assert_eq!(s.search_contacts("%", 10).unwrap().1, 0);
        assert_eq!(s.search_contacts("_", 10).unwrap().1, 0);
        let mut c = found[0].contact.clone();
        c.name = "Piera".into();
        c.numbers = vec!["+39075".into(), "0743999".into()];
        s.update_contact(found[0].id, &c, "anna").unwrap();
        let back = s.contact_by_id(found[0].id).unwrap().unwrap();
        assert_eq!(back.contact, c);
        assert!(s.update_contact(999, &c, "anna").is_err());
        let (limited, total) = s.search_contacts("P", 2).unwrap();
        assert_eq!((limited.len(), total), (2, 3));
    }

    #[test]
    fn operators_are_disabled_and_given_passwords_and_pins_and_an_admin_always_remains() {
        let (_dir, mut s) = store();
        s.add_operator("admin", "admin", "una password lunga", None, "test")
            .unwrap();
        s.add_operator("anna", "operator", "una password lunga", None, "test")
            .unwrap();
        let ops = s.operators().unwrap();
        let (admin, anna) = (ops[0].id, ops[1].id);
        assert!(s
            .set_disabled(admin, true, "admin")
            .unwrap_err()
            .to_string()
            .contains("last enabled administrator"));
        s.set_disabled(anna, true, "admin").unwrap();
        let row = s.operator_by_id(anna).unwrap().unwrap();
        assert!(row.disabled);
        assert_eq!(row.session_epoch, 1, "disabling ends the sessions");
        s.set_disabled(anna, false, "admin").unwrap();
        s.set_password(anna, "un'altra password lunga", "admin")
            .unwrap();
        let row = s.operator_by_id(anna).unwrap().unwrap();
        assert!(!row.disabled);
        assert_eq!(row.session_epoch, 2, "a new password ends the sessions");
        assert!(crate::password::verify(
            "un'altra password lunga",
            &row.password_hash
        ));
        s.set_pin(anna, Some("4321"), "admin").unwrap();
        assert!(s.operators().unwrap()[1].has_pin);
        assert!(s.set_pin(anna, Some("12"), "admin").is_err());
        s.set_pin(anna, None, "admin").unwrap();
        assert!(!s.operators().unwrap()[1].has_pin);
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
