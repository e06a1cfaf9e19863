//! Pure: the web console's settings, the `[console]` table of `/etc/allerta/node.toml`, and
//! the few keys of other tables it follows (this node's name, the supervisors' status
//! addresses, the VIP, the media core's database and wake socket), so one file says each
//! thing once. Unknown keys in `[console]` are refused; every error names the file and
//! the key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or a wrong key (toml's message carries line and column).
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {key}: {reason}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        reason: String,
    },
}

/// What the console runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// This node (`[node] name`).
    pub node: String,
    /// Where HTTPS is served: every address, since the VIP comes and goes with the role.
    pub listen: SocketAddr,
    /// The replicated database (`[mediacore] database` unless given here).
    pub database: PathBuf,
    /// The shared prompts (`[mediacore] prompts_dir`): spoken texts and uploaded
    /// recordings go here, as the media core plays them.
    pub prompts_dir: PathBuf,
    /// Nudges the sync agent after each write (`[mediacore] sync_wake_socket`).
    pub sync_wake_socket: Option<PathBuf>,
    /// This node's supervisor `/status` (`[supervisor] metrics_bind`).
    pub local_status: Option<SocketAddr>,
    /// The peer's supervisor `/status` (`[supervisor] peer_status`).
    pub peer_status: Option<SocketAddr>,
    /// The address operators use (the first VIP), named in the certificate and in the
    /// backup's link to the master.
    pub vip: Option<IpAddr>,
    /// A certificate and key of the administrator's (PEM files, the same on both nodes);
    /// without them the console serves the pair's own, made by the master.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// A TLS handshake and the request's headers must arrive within this.
    pub handshake_timeout: Duration,
    /// A request (other than the live stream) must be answered within this.
    pub request_timeout: Duration,
    /// A session lasts this long after sign-in (an operator's shift).
    pub session_lifetime: Duration,
    /// Failed sign-ins, per name and per address, before a lockout.
    pub lockout_failures: u32,
    /// How long a lockout lasts after the last failure.
    pub lockout_window: Duration,
    /// The SLA windows file the settings page changes (`[availability] windows`, the
    /// supervisor's).
    pub sla_windows: PathBuf,
}

#[derive(Debug, Deserialize)]
struct RawFile {
    node: Option<RawNode>,
    supervisor: Option<RawSupervisor>,
    #[serde(default)]
    vrrp_instance: Vec<RawInstance>,
    mediacore: Option<RawMediacore>,
    availability: Option<RawAvailability>,
    console: Option<RawConsole>,
}

#[derive(Debug, Deserialize)]
struct RawAvailability {
    windows: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct RawNode {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawSupervisor {
    metrics_bind: Option<String>,
    peer_status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawInstance {
    #[serde(default)]
    virtual_ips: Vec<toml::Value>,
}

#[derive(Debug, Deserialize)]
struct RawMediacore {
    database: Option<PathBuf>,
    prompts_dir: Option<PathBuf>,
    sync_wake_socket: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    listen: Option<String>,
    database: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_connections: Option<usize>,
    handshake_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    session_hours: Option<u64>,
    lockout_failures: Option<u32>,
    lockout_minutes: Option<u64>,
}

/// The shipped defaults.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:443";
pub const DEFAULT_DATABASE: &str = "/var/lib/allerta/allerta.db";
/// The media core's default (`mediacore::settings`).
pub const DEFAULT_PROMPTS: &str = "/etc/allerta/shared/prompts";
/// The supervisor's default (`[availability] windows`).
pub const DEFAULT_SLA_WINDOWS: &str = "/etc/allerta/shared/sla.toml";

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            reason,
        };
        let node = raw
            .node
            .and_then(|n| n.name)
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| invalid("node.name", "missing: the console names its node".into()))?;
        let c = raw.console.unwrap_or_default();
        let listen = c
            .listen
            .as_deref()
            .unwrap_or(DEFAULT_LISTEN)
            .parse()
            .map_err(|e| invalid("console.listen", format!("an address:port ({e})")))?;
        let address = |key: &'static str, value: Option<String>| match value.as_deref() {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<SocketAddr>()
                .map(Some)
                .map_err(|e| invalid(key, format!("{v:?}: an address:port ({e})"))),
        };
        let (metrics, peer) = raw
            .supervisor
            .map(|s| (s.metrics_bind, s.peer_status))
            .unwrap_or_default();
        let local_status = address("supervisor.metrics_bind", metrics)?;
        let peer_status = address("supervisor.peer_status", peer)?;
        let vip = match raw
            .vrrp_instance
            .first()
            .and_then(|i| i.virtual_ips.first())
        {
            None => None,
            Some(v) => Some(vip_address(v).ok_or_else(|| {
                invalid(
                    "vrrp_instance.virtual_ips",
                    format!("{v}: an address/prefix, or a table with one"),
                )
            })?),
        };
        let (mc_database, sync_wake_socket, prompts_dir) = raw
            .mediacore
            .map(|m| (m.database, m.sync_wake_socket, m.prompts_dir))
            .unwrap_or_default();
        let prompts_dir = prompts_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_PROMPTS));
        let database = c
            .database
            .or(mc_database)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATABASE));
        let tls = match (c.tls_cert, c.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "console.tls_cert",
                    "tls_cert and tls_key go together".into(),
                ))
            }
        };
        let max_connections = c.max_connections.unwrap_or(256);
        if !(1..=10_000).contains(&max_connections) {
            return Err(invalid(
                "console.max_connections",
                format!("{max_connections}: 1 to 10000"),
            ));
        }
        let millis = |key: &'static str, v: Option<u64>, default: u64| {
            let v = v.unwrap_or(default);
            if (100..=600_000).contains(&v) {
                Ok(Duration::from_millis(v))
            } else {
                Err(invalid(key, format!("{v} ms: 100 to 600000")))
            }
        };
        let session_hours = c.session_hours.unwrap_or(12);
        if !(1..=168).contains(&session_hours) {
            return Err(invalid(
                "console.session_hours",
                format!("{session_hours}: 1 to 168"),
            ));
        }
        let lockout_minutes = c.lockout_minutes.unwrap_or(15);
        if !(1..=1440).contains(&lockout_minutes) {
            return Err(invalid(
                "console.lockout_minutes",
                format!("{lockout_minutes}: 1 to 1440"),
            ));
        }
        let lockout_failures = c.lockout_failures.unwrap_or(5);
        if !(1..=100).contains(&lockout_failures) {
            return Err(invalid(
                "console.lockout_failures",
                format!("{lockout_failures}: 1 to 100"),
            ));
        }
        Ok(Self {
            node,
            listen,
            database,
            prompts_dir,
            sync_wake_socket,
            local_status,
            peer_status,
            vip,
            tls,
            max_connections,
            handshake_timeout: millis(
                "console.handshake_timeout_ms",
                c.handshake_timeout_ms,
                10_000,
            )?,
            request_timeout: millis("console.request_timeout_ms", c.request_timeout_ms, 30_000)?,
            session_lifetime: Duration::from_secs(session_hours * 3600),
            lockout_failures,
            lockout_window: Duration::from_secs(lockout_minutes * 60),
            sla_windows: raw
                .availability
                .and_then(|a| a.windows)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SLA_WINDOWS)),
        })
    }
}

/// `"10.77.0.10/24"` or `{ address = "10.77.0.10/24", interface = "…" }`.
fn vip_address(v: &toml::Value) -> Option<IpAddr> {
    let text = match v {
        toml::Value::String(s) => s.as_str(),
        toml::Value::Table(t) => t.get("address")?.as_str()?,
        _ => return None,
    };
    text.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = r#"
[node]
name = "node-a"
[supervisor]
metrics_bind = "10.77.0.11:9480"
peer_status = "10.77.0.12:9480"
[[vrrp_instance]]
name = "data"
virtual_ips = ["10.77.0.10/24"]
[mediacore]
database = "/var/lib/allerta/allerta.db"
sync_wake_socket = "/run/allerta/sync-wake.sock"
"#;

    #[test]
    fn the_shipped_file_needs_no_console_table() {
        let c = Config::parse(SHIPPED, Path::new("node.toml")).unwrap();
        assert_eq!(c.node, "node-a");
        assert_eq!(c.listen, "0.0.0.0:443".parse().unwrap());
        assert_eq!(c.local_status, Some("10.77.0.11:9480".parse().unwrap()));
        assert_eq!(c.peer_status, Some("10.77.0.12:9480".parse().unwrap()));
        assert_eq!(c.vip, Some("10.77.0.10".parse().unwrap()));
        assert_eq!(
            c.sync_wake_socket.as_deref(),
            Some(Path::new("/run/allerta/sync-wake.sock"))
        );
        assert_eq!(c.tls, None);
        assert_eq!(c.session_lifetime, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn the_documented_example_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/node.toml.example");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(c.vip, Some("10.77.0.10".parse().unwrap()));
        assert_eq!(c.lockout_failures, 5);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let text = format!("{SHIPPED}[console]\nlisten = \"nowhere\"\n");
        let e = Config::parse(&text, Path::new("/etc/allerta/node.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/allerta/node.toml: console.listen:"),
            "{e}"
        );
        let text = format!("{SHIPPED}[console]\nlisen = \"0.0.0.0:443\"\n");
        let e = Config::parse(&text, Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen") && e.contains("line"), "{e}");
        let text = format!("{SHIPPED}[console]\ntls_cert = \"/c.pem\"\n");
        let e = Config::parse(&text, Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tls_key"), "{e}");
        let e = Config::parse("[node]\n", Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("node.name"), "{e}");
    }
}
