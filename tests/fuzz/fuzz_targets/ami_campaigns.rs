//! Allerta's own AMI actions (`mediacore::ami::campaigns::act`): what an AMI application
//! sends to create, start, pause, stop and report campaigns, set messages and import
//! contacts, performed on a real store (SQLite in a temporary directory, kept across runs so
//! later inputs meet earlier campaigns). The input is an AMI byte stream; each message whose
//! action is one of Allerta's is performed. Nothing may panic, every answer must encode to
//! AMI text that decodes again, and the store must still answer afterwards.
#![no_main]

use std::sync::{Mutex, OnceLock};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mediacore::ami::campaigns::act;
use mediacore::ami::catalog::is_allerta;
use mediacore::ami::message::Message;
use mediacore::campaign::store::Store;

fn store() -> &'static Mutex<Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("allerta-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut s = Store::open(&dir.join("allerta.db"), "node-a").expect("a store");
        s.migrate().expect("the schema");
        Mutex::new(s)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut guard = store()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..16 {
        let Ok(Some(msg)) = Message::decode(&mut buf) else {
            break;
        };
        let Some(action) = msg.get("Action").filter(|a| is_allerta(a)) else {
            continue;
        };
        let action = action.to_ascii_lowercase();
        let answer = match act(&mut guard, &action, &msg, msg.get("ActionID")) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let mut bytes = Vec::new();
        answer.encode(&mut bytes);
        let mut again = BytesMut::from(&bytes[..]);
        Message::decode(&mut again).expect("our answer decodes");
    }
    guard.list().expect("the store still answers");
});
