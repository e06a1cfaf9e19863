//! Pure: the contract between the supervisor and the components it wraps (mediacore, sync).
//!
//! Each component listens on a Unix stream socket (its `--control` path, mode 0600). The
//! supervisor connects and sends one request per line; the component answers each with one
//! line, in order:
//!
//! | request          | answer                                  | meaning                                   |
//! |------------------|-----------------------------------------|-------------------------------------------|
//! | `ping`           | `pong`                                  | alive and its event loop is turning       |
//! | `role master`    | `ok master`                             | become active (dispatch, accept changes)  |
//! | `role backup`    | `ok backup`                             | standby: stop new work, finish what runs  |
//! | `drain <secs>`   | `ok drained` or `ok timeout`            | planned switchover: finish calls, ≤ secs  |
//! | `status`         | `status {json}`                         | component-specific health (trunks, lag…) |
//!
//! A `status` object may carry `"checks": {"<name>": {"ok": bool, "reason": "…"}}`: each
//! becomes a tracked condition `<component>/<name>` of the supervisor (a trunk's
//! registration, sync freshness), with the component's `reported_weight`.
//! | anything else    | `error <reason>`                        |                                           |
//!
//! The supervisor probes with `ping` every `probe_interval_ms` and counts a missing answer
//! after `probe_timeout_ms` as a failure (a hung process: SIGSTOP, deadlock, a busy loop).
//! On every role change it sends `role …` and waits for the `ok` (the acknowledgement).
//! A component must answer `ping` from the same event loop that does its work, so that a
//! stuck loop stops answering.

use serde::{Deserialize, Serialize};

/// The role a component is told to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Backup,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Backup => "backup",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping,
    Role(Role),
    Drain { secs: u32 },
    Status,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Pong,
    RoleSet(Role),
    Drained { timed_out: bool },
    Status(serde_json::Value),
    Error(String),
}

impl Request {
    pub fn encode(&self) -> String {
        match self {
            Self::Ping => "ping\n".into(),
            Self::Role(r) => format!("role {}\n", r.as_str()),
            Self::Drain { secs } => format!("drain {secs}\n"),
            Self::Status => "status\n".into(),
        }
    }

    /// Parses one line (without its newline); `Err` carries the reason for `error …`.
    pub fn decode(line: &str) -> Result<Self, String> {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("ping"), None, _) => Ok(Self::Ping),
            (Some("status"), None, _) => Ok(Self::Status),
            (Some("role"), Some("master"), None) => Ok(Self::Role(Role::Master)),
            (Some("role"), Some("backup"), None) => Ok(Self::Role(Role::Backup)),
            (Some("drain"), Some(secs), None) => secs
                .parse()
                .map(|secs| Self::Drain { secs })
                .map_err(|_| format!("drain needs whole seconds, got {secs:?}")),
            _ => Err(format!(
                "unknown request {:?}",
                line.chars().take(64).collect::<String>()
            )),
        }
    }
}

impl Response {
    pub fn encode(&self) -> String {
        match self {
            Self::Pong => "pong\n".into(),
            Self::RoleSet(r) => format!("ok {}\n", r.as_str()),
            Self::Drained { timed_out: false } => "ok drained\n".into(),
            Self::Drained { timed_out: true } => "ok timeout\n".into(),
            Self::Status(v) => format!("status {v}\n"),
            Self::Error(reason) => format!("error {}\n", reason.replace('\n', " ")),
        }
    }

    pub fn decode(line: &str) -> Result<Self, String> {
        let line = line.trim_end();
        match line.split_once(' ') {
            None if line == "pong" => Ok(Self::Pong),
            Some(("ok", "master")) => Ok(Self::RoleSet(Role::Master)),
            Some(("ok", "backup")) => Ok(Self::RoleSet(Role::Backup)),
            Some(("ok", "drained")) => Ok(Self::Drained { timed_out: false }),
            Some(("ok", "timeout")) => Ok(Self::Drained { timed_out: true }),
            Some(("status", json)) => serde_json::from_str(json)
                .map(Self::Status)
                .map_err(|e| format!("status is not JSON: {e}")),
            Some(("error", reason)) => Ok(Self::Error(reason.into())),
            _ => Err(format!(
                "unexpected answer {:?}",
                line.chars().take(64).collect::<String>()
            )),
        }
    }
}

/// The longest line either side accepts.
pub const MAX_LINE: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        for r in [
            Request::Ping,
            Request::Status,
            Request::Role(Role::Master),
            Request::Role(Role::Backup),
            Request::Drain { secs: 30 },
        ] {
            assert_eq!(Request::decode(r.encode().trim_end()), Ok(r));
        }
        for r in [
            Response::Pong,
            Response::RoleSet(Role::Backup),
            Response::Drained { timed_out: true },
            Response::Status(serde_json::json!({"trunks": {"out": "registered"}})),
            Response::Error("bad".into()),
        ] {
            assert_eq!(Response::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn bad_requests_say_why() {
        assert!(Request::decode("role king")
            .unwrap_err()
            .contains("unknown request"));
        assert!(Request::decode("drain soon")
            .unwrap_err()
            .contains("whole seconds"));
        assert!(Response::decode("status {")
            .unwrap_err()
            .contains("not JSON"));
    }
}
