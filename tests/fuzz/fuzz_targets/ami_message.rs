//! Arbitrary bytes as an AMI client's TCP stream, into `mediacore::ami::message::Message`
//! and a `Session` (login, actions): framing must make progress and stay within its
//! limits, every decoded message must encode and decode to itself, and the session must
//! answer without panicking, whatever the input. A `Command` action's line also goes
//! through `ami::cli::parse`.
#![no_main]

use std::sync::Arc;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mediacore::ami::cli;
use mediacore::ami::message::{Message, MAX_FIELDS};
use mediacore::ami::session::Session;
use mediacore::ami::users::Users;

fuzz_target!(|data: &[u8]| {
    let users = Arc::new(
        Users::parse_str("[u]\nsecret = s\nread = all\nwrite = all\n", "fuzz")
            .expect("a valid manager.conf"),
    );
    let mut session = Session::new(users, "10.0.0.1".parse().expect("an address"));
    let mut buf = BytesMut::from(data);
    let mut out = Vec::new();
    for _ in 0..=data.len() {
        let before = buf.len();
        match Message::decode(&mut buf) {
            Ok(Some(msg)) => {
                assert!(buf.len() < before, "a message took no bytes");
                assert!(msg.fields().len() <= MAX_FIELDS);
                let mut bytes = Vec::new();
                msg.encode(&mut bytes);
                let mut again = BytesMut::from(&bytes[..]);
                let back = Message::decode(&mut again).expect("our own encoding decodes");
                if !msg.fields().is_empty() {
                    // Keys and values are trimmed on decode and written back as they are.
                    assert_eq!(
                        back.as_ref().map(Message::fields),
                        Some(msg.fields()),
                        "round trip"
                    );
                }
                // A `Command` action's CLI line is read by `ami::cli` (operator input).
                if let Some(line) = msg.get("Command") {
                    let _ = cli::parse(line);
                }
                session.on_action(&msg, 0.0, 1, &mut out);
                out.clear();
            }
            Ok(None) | Err(_) => return,
        }
    }
});
