//! Arbitrary lines on the control sockets: the supervisor–component contract
//! (`component::contract::{Request, Response}::decode`, what a component and the supervisor
//! read from each other) and `allertactl`'s JSON requests to the supervisor
//! (`supervisor::control::protocol::Request`). A decoded line must encode and decode to the
//! same value; nothing may panic.
#![no_main]

use component::contract::{Request, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        if let Ok(r) = Request::decode(line) {
            assert_eq!(
                Request::decode(&r.encode()).ok(),
                Some(r),
                "request round trip"
            );
        }
        if let Ok(r) = Response::decode(line) {
            let _ = Response::decode(&r.encode()).expect("our own answer decodes");
        }
        let _ = serde_json::from_str::<supervisor::control::protocol::Request>(line);
    }
});
