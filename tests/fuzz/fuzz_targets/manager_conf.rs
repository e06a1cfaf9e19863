//! Arbitrary text as `manager.conf` (`mediacore::ami::users::Users::parse_str`): a file an
//! operator writes, replicated to both nodes. Every outcome is a user list or an error that
//! names its line; each user's ACL is then asked about a few addresses, and a user's event
//! filters compile (they were checked when read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediacore::ami::filter::compile as compile_filter;
use mediacore::ami::users::Users;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Users::parse_str(text, "manager.conf") {
        Ok(users) => {
            for ip in ["10.0.0.1", "127.0.0.1", "::1", "192.0.2.200"] {
                let ip = ip.parse().expect("an address");
                let _ = users.admits(ip);
            }
            for name in ["u", "admin", "manager"] {
                if let Some(u) = users.user(name) {
                    for f in &u.event_filters {
                        let pattern = f.strip_prefix('!').unwrap_or(f);
                        compile_filter(pattern).expect("a filter checked when read");
                    }
                }
            }
        }
        Err(e) => {
            let said = e.to_string();
            assert!(said.starts_with("manager.conf"), "{said}");
        }
    }
});
