//! Databases in a known state, for the tests of this crate and of the programs built on it
//! (the media core's reconcile and dialer, the web console). Plain functions, compiled in
//! always: they are small and keep every test starting from the same rows.

use std::path::Path;

use crate::contacts::Contact;
use crate::schema::MIGRATIONS;
use crate::store::Store;
use crate::CampaignSpec;

/// A campaign whose every checked field is wrong: one problem per field.
pub fn every_field_wrong() -> CampaignSpec {
    CampaignSpec {
        name: " ".into(),
        message: "m".into(),
        lists: vec![],
        priority: 0,
        max_lines: 0,
        cps: 0.0,
        ring_secs: 1,
        max_attempts: 0,
        retry_secs: 100_000,
        window: Some((60, 60)),
    }
}

/// Contacts `C<i>` (`P<i>`, number `074311111<i>`) for each i.
pub fn people(ids: std::ops::RangeInclusive<u32>) -> Vec<Contact> {
    ids.map(|i| Contact {
        external_id: format!("C{i}"),
        name: format!("P{i}"),
        numbers: vec![format!("074311111{i}")],
        language: "it".into(),
        tags: vec![],
    })
    .collect()
}

/// A new database with C1–C3 in list `l`, message `m`, and campaign `c` running.
pub fn running_campaign(path: &Path, node: &str, max_attempts: u32) -> Store {
    let mut s = Store::open(path, node).unwrap();
    assert_eq!(s.migrate().unwrap(), MIGRATIONS.len() as u32);
    s.import_contacts(&people(1..=3), "l", "test").unwrap();
    s.add_message("m", "text", "prova", "it", "test").unwrap();
    let spec = CampaignSpec {
        name: "c".into(),
        message: "m".into(),
        lists: vec!["l".into()],
        priority: 0,
        max_lines: 2,
        cps: 5.0,
        ring_secs: 30,
        max_attempts,
        retry_secs: 0,
        window: None,
    };
    s.create_campaign(&spec, "test").unwrap();
    s.control("c", "start", "test").unwrap();
    s
}

/// A recipient's (status, attempts).
pub fn status(s: &Store, contact: i64) -> (String, u32) {
    s.connection()
        .query_row(
            "SELECT status, attempts FROM recipients WHERE contact_id = ?1",
            [contact],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}
