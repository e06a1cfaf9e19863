//! Pure: the contract between the supervisor and the components it wraps (mediacore, sync).
//!
//! Each component listens on a Unix stream socket (its `--control` path, mode 0600). The
//! supervisor connects and sends one request per line; the component answers each with one
//! line, in order:
//!
//! | request          | answer                                  | meaning                                   |
//! |------------------|-----------------------------------------|-------------------------------------------|
//! | `ping [S H]`     | `pong`                                  | alive and its event loop is turning       |
//! | `role master`    | `ok master`                             | become active (dispatch, accept changes)  |
//! | `role backup`    | `ok backup`                             | standby: stop new work, finish what runs  |
//! | `drain <secs>`   | `ok drained` or `ok timeout`            | planned switchover: finish calls, ≤ secs  |
//! | `status`         | `status {json}`                         | component-specific health (trunks, lag…) |
//! | `reload`         | `ok reloaded`                           | load the configuration files again now    |
//! | `calls`          | `calls {json}`                          | calls in progress (`allertactl calls`)    |
//! | `version`        | `version {json}`                        | program, version, contract version        |
//!
//! A `status` object may carry `"checks": {"<name>": {"ok": bool, "reason": "…"}}`: each
//! becomes a tracked condition `<component>/<name>` of the supervisor (a trunk's
//! registration, sync freshness), with the component's `reported_weight`.
//! | anything else    | `error <reason>`                        |                                           |
//!
//! `S` and `H` (decimal microseconds of the host's CLOCK_MONOTONIC, or `-` for never) are the
//! dispatch lease (see [`Adverts`]): when this node's VRRP instance last sent an advert with
//! a priority above 0, and when it last heard one from another router. A bare `ping` (a
//! probe from a tool) carries no stamps and changes no lease.
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

/// What a ping tells a component about the VRRP instance its role follows: the stamps the
/// media core's dispatch fence is built on (`mediacore::campaign::fence` holds the rule and
/// the argument). Microseconds of CLOCK_MONOTONIC, which every process on the host shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Adverts {
    /// When our instance last sent an advert with a priority above 0 (a master renewing
    /// its claim); taken before the send, kept only if the send succeeded.
    pub sent_us: Option<u64>,
    /// When our instance last heard an advert with a priority above 0 from another router
    /// of its VRID (a master, or a router that believes it is one).
    pub heard_us: Option<u64>,
}

impl Adverts {
    /// Both stamps only ever move forward, so a component keeps the later of each: a ping
    /// that was queued while a process was frozen may be read after a newer one, and must
    /// not set the clock back (an older `heard` would end the peer's lease too early).
    pub fn merge(self, other: Self) -> Self {
        Self {
            sent_us: self.sent_us.max(other.sent_us),
            heard_us: self.heard_us.max(other.heard_us),
        }
    }
}

/// The media core's `supervisor_lease_ms` when its file leaves it out.
/// 500 ms: above the 300 ms renewal gap of the shipped timing (100 ms adverts, pings every
/// 50 ms answered within 100 ms, 50 ms slack) with room for a busy machine, and short, since
/// a node that takes over waits up to this long (plus 50 ms) before its first campaign call.
pub const DEFAULT_LEASE_MS: u64 = 500;

/// The shortest dispatch lease a healthy master keeps (`mediacore::campaign::fence`): its
/// lease is renewed every `advert_interval`, learnt at the next ping (`probe_interval`),
/// which may take up to `probe_timeout`; plus 50 ms of scheduling slack. A shorter lease
/// would lapse between renewals and pause a healthy master's campaigns.
pub fn min_lease(
    advert_interval: std::time::Duration,
    probe_interval: std::time::Duration,
    probe_timeout: std::time::Duration,
) -> std::time::Duration {
    advert_interval + probe_interval + probe_timeout + std::time::Duration::from_millis(50)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `Some` from the supervisor; `None` from a tool that only asks "alive?".
    Ping(Option<Adverts>),
    Role(Role),
    Drain {
        secs: u32,
    },
    Status,
    /// `systemctl reload`, `allertactl reload`: files in force again now (what changes is
    /// put in force anyway; this is for the operator who wants it at once).
    Reload,
    /// The calls in progress (`allertactl calls`): `{"calls": [...], "more": n}`, at most
    /// [`MAX_CALLS_LISTED`] of them (a component without calls answers an empty list).
    Calls,
    /// What runs (`{"program", "version", "contract"}`): a rolling upgrade has two versions
    /// side by side for a while, and each side says which it is. A component older than
    /// [`CONTRACT_VERSION`] 2 answers `error unknown request`.
    Version,
}

/// This contract's version: 1 had ping, role, drain, status and reload; 2 added `calls` and
/// `version`. A supervisor talks to a component of either.
pub const CONTRACT_VERSION: u32 = 2;

/// The most calls a `calls` answer lists (one line of at most [`MAX_LINE`] bytes).
pub const MAX_CALLS_LISTED: usize = 200;

/// The `version` answer of `program` (every Allerta binary is built at the workspace's
/// version).
pub fn version_doc(program: &str) -> serde_json::Value {
    serde_json::json!({
        "program": program,
        "version": env!("CARGO_PKG_VERSION"),
        "contract": CONTRACT_VERSION,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Pong,
    RoleSet(Role),
    Drained {
        timed_out: bool,
    },
    /// The reload was started; what did not load shows in the component's status.
    Reloaded,
    Status(serde_json::Value),
    Calls(serde_json::Value),
    Version(serde_json::Value),
    Error(String),
}

impl Request {
    pub fn encode(&self) -> String {
        match self {
            Self::Ping(None) => "ping\n".into(),
            Self::Ping(Some(a)) => format!("ping {} {}\n", stamp(a.sent_us), stamp(a.heard_us)),
            Self::Role(r) => format!("role {}\n", r.as_str()),
            Self::Drain { secs } => format!("drain {secs}\n"),
            Self::Status => "status\n".into(),
            Self::Reload => "reload\n".into(),
            Self::Calls => "calls\n".into(),
            Self::Version => "version\n".into(),
        }
    }

    /// Parses one line (without its newline); `Err` is the reason for `error …`.
    pub fn decode(line: &str) -> Result<Self, ContractError> {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("ping"), None, _) => Ok(Self::Ping(None)),
            (Some("ping"), Some(sent), Some(heard)) if words.next().is_none() => {
                Ok(Self::Ping(Some(Adverts {
                    sent_us: parse_stamp(sent)?,
                    heard_us: parse_stamp(heard)?,
                })))
            }
            (Some("status"), None, _) => Ok(Self::Status),
            (Some("reload"), None, _) => Ok(Self::Reload),
            (Some("calls"), None, _) => Ok(Self::Calls),
            (Some("version"), None, _) => Ok(Self::Version),
            (Some("role"), Some("master"), None) => Ok(Self::Role(Role::Master)),
            (Some("role"), Some("backup"), None) => Ok(Self::Role(Role::Backup)),
            (Some("drain"), Some(secs), None) => secs
                .parse()
                .map(|secs| Self::Drain { secs })
                .map_err(|_| ContractError::DrainSeconds(secs.to_owned())),
            _ => Err(ContractError::UnknownRequest(head(line))),
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
            Self::Reloaded => "ok reloaded\n".into(),
            Self::Status(v) => format!("status {v}\n"),
            Self::Calls(v) => format!("calls {v}\n"),
            Self::Version(v) => format!("version {v}\n"),
            Self::Error(reason) => format!("error {}\n", reason.replace('\n', " ")),
        }
    }

    pub fn decode(line: &str) -> Result<Self, ContractError> {
        let line = line.trim_end();
        match line.split_once(' ') {
            None if line == "pong" => Ok(Self::Pong),
            Some(("ok", "master")) => Ok(Self::RoleSet(Role::Master)),
            Some(("ok", "backup")) => Ok(Self::RoleSet(Role::Backup)),
            Some(("ok", "drained")) => Ok(Self::Drained { timed_out: false }),
            Some(("ok", "timeout")) => Ok(Self::Drained { timed_out: true }),
            Some(("ok", "reloaded")) => Ok(Self::Reloaded),
            Some(("status", json)) => serde_json::from_str(json)
                .map(Self::Status)
                .map_err(|e| ContractError::StatusNotJson(e.to_string())),
            Some(("calls", json)) => serde_json::from_str(json)
                .map(Self::Calls)
                .map_err(|e| ContractError::StatusNotJson(e.to_string())),
            Some(("version", json)) => serde_json::from_str(json)
                .map(Self::Version)
                .map_err(|e| ContractError::StatusNotJson(e.to_string())),
            Some(("error", reason)) => Ok(Self::Error(reason.into())),
            _ => Err(ContractError::UnexpectedAnswer(head(line))),
        }
    }
}

/// A line that is not the contract's (the other side's fault): a request gets `error …`
/// back, an answer counts as a failed probe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The first 64 characters of the line.
    #[error("unknown request {0:?}")]
    UnknownRequest(String),
    #[error("drain needs whole seconds, got {0:?}")]
    DrainSeconds(String),
    #[error("ping stamps are microseconds or '-', got {0:?}")]
    Stamp(String),
    /// The first 64 characters of the line.
    #[error("unexpected answer {0:?}")]
    UnexpectedAnswer(String),
    /// serde_json's reason (its error is neither `Clone` nor `Eq`).
    #[error("the answer is not JSON: {0}")]
    StatusNotJson(String),
}

/// The first characters of a line, for an error about it.
fn head(line: &str) -> String {
    line.chars().take(64).collect()
}

/// A stamp on the wire: decimal microseconds, or `-` for never.
fn stamp(us: Option<u64>) -> String {
    us.map_or_else(|| "-".to_owned(), |us| us.to_string())
}

fn parse_stamp(word: &str) -> Result<Option<u64>, ContractError> {
    match word {
        "-" => Ok(None),
        us => us
            .parse()
            .map(Some)
            .map_err(|_| ContractError::Stamp(us.to_owned())),
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
            Request::Ping(None),
            Request::Ping(Some(Adverts::default())),
            Request::Ping(Some(Adverts {
                sent_us: Some(12_345_678),
                heard_us: None,
            })),
            Request::Status,
            Request::Reload,
            Request::Calls,
            Request::Version,
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
            Response::Reloaded,
            Response::Status(serde_json::json!({"trunks": {"out": "registered"}})),
            Response::Calls(serde_json::json!({"calls": [], "more": 0})),
            Response::Version(version_doc("allerta-sync")),
            Response::Error("bad".into()),
        ] {
            assert_eq!(Response::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn merged_stamps_never_go_back() {
        let newer = Adverts {
            sent_us: Some(900),
            heard_us: Some(800),
        };
        let stale = Adverts {
            sent_us: Some(100),
            heard_us: None,
        };
        assert_eq!(newer.merge(stale), newer);
        assert_eq!(stale.merge(newer), newer);
    }

    #[test]
    fn bad_requests_say_why() {
        assert_eq!(
            Request::decode("role king"),
            Err(ContractError::UnknownRequest("role king".into()))
        );
        assert_eq!(
            Request::decode("ping 12 soon"),
            Err(ContractError::Stamp("soon".into()))
        );
        assert!(Request::decode("ping 12").is_err());
        assert_eq!(
            Request::decode("drain soon").unwrap_err().to_string(),
            "drain needs whole seconds, got \"soon\""
        );
        assert!(matches!(
            Response::decode("status {"),
            Err(ContractError::StatusNotJson(_))
        ));
        let long = "x".repeat(100);
        assert_eq!(
            Request::decode(&long),
            Err(ContractError::UnknownRequest("x".repeat(64)))
        );
    }
}
