//! Pure: the `[sync]` table of node.toml (and `[node] name`), with defaults for a real node
//! and every path overridable, so tests run in temporary directories.
//!
//! ```toml
//! [sync]
//! listen = "10.77.0.12:7480"     # where this node accepts the master's connection (when backup)
//! peer = "10.77.0.11:7480"       # where it connects to the backup (when master)
//! shared_dir = "/etc/allerta/shared"
//! db = "/var/lib/allerta/allerta.db"
//! state_dir = "/var/lib/allerta/sync"          # staged snapshots, the resync flag
//! divergence_dir = "/var/lib/allerta/divergence"
//! tls_dir = "/etc/allerta/node/tls"            # ca.pem, node.pem, node.key
//! # pairing_secret_file = "/etc/allerta/node/tls/pairing.secret"  # instead: TLS from the secret
//! wake_socket = "/run/allerta/sync-wake.sock"  # writers' commit notifications
//! exclude = ["cache/**"]                       # added to the built-in node-local list
//! scan_interval_secs = 60                      # full scan with hashes (events are not relied on alone)
//! stale_after_ms = 5000                        # lag beyond which the "fresh" check fails
//! keep_records = 1000000                       # journal records kept for a backup that was away
//! verify_interval_secs = 600                   # compare the tables' digests (when idle) this often
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("sync.{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    node: Option<RawNode>,
    sync: Option<RawSync>,
}

#[derive(Debug, Deserialize)]
struct RawNode {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub listen: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub shared_dir: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub divergence_dir: Option<PathBuf>,
    pub tls_dir: Option<PathBuf>,
    pub pairing_secret_file: Option<PathBuf>,
    pub wake_socket: Option<PathBuf>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub scan_interval_secs: Option<u64>,
    pub stale_after_ms: Option<u64>,
    pub keep_records: Option<u64>,
    pub verify_interval_secs: Option<u64>,
}

/// The agent's settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub node: String,
    pub listen: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub shared_dir: PathBuf,
    pub db: PathBuf,
    pub state_dir: PathBuf,
    pub divergence_dir: PathBuf,
    pub tls_dir: PathBuf,
    /// The pair's TLS is derived from this secret (`tls::from_pairing_secret`) instead of
    /// read from `tls_dir`.
    pub pairing_secret_file: Option<PathBuf>,
    pub wake_socket: PathBuf,
    pub exclude: Vec<String>,
    pub scan_interval: Duration,
    pub stale_after: Duration,
    pub keep_records: u64,
    /// How often the tables' digests are compared (when both sides are idle).
    pub verify_interval: Duration,
}

/// Reads node.toml: `Ok(None)` when it has no `[sync]` table (the agent then only serves
/// the control contract).
pub fn load(path: &Path) -> Result<Option<(String, RawSync)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let raw: RawFile = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let node = raw.node.map_or_else(|| "node".to_owned(), |n| n.name);
    Ok(raw.sync.map(|s| (node, s)))
}

impl Config {
    pub fn from_raw(node: String, raw: RawSync) -> Result<Self, ConfigError> {
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        let or = |p: Option<PathBuf>, d: &str| p.unwrap_or_else(|| PathBuf::from(d));
        let cfg = Self {
            node,
            listen: raw.listen,
            peer: raw.peer,
            shared_dir: or(raw.shared_dir, "/etc/allerta/shared"),
            db: or(raw.db, "/var/lib/allerta/allerta.db"),
            state_dir: or(raw.state_dir, "/var/lib/allerta/sync"),
            divergence_dir: or(raw.divergence_dir, "/var/lib/allerta/divergence"),
            tls_dir: or(raw.tls_dir, "/etc/allerta/node/tls"),
            pairing_secret_file: raw.pairing_secret_file,
            wake_socket: or(raw.wake_socket, "/run/allerta/sync-wake.sock"),
            exclude: raw.exclude,
            scan_interval: Duration::from_secs(raw.scan_interval_secs.unwrap_or(60)),
            stale_after: Duration::from_millis(raw.stale_after_ms.unwrap_or(5000)),
            keep_records: raw.keep_records.unwrap_or(1_000_000),
            verify_interval: Duration::from_secs(raw.verify_interval_secs.unwrap_or(600)),
        };
        if cfg.scan_interval.is_zero() {
            return Err(invalid("scan_interval_secs", "must be at least 1"));
        }
        // Node-local material inside the replicated tree would be one exclusion pattern
        // away from leaving the node: refuse the layout outright.
        for (key, path) in [
            ("tls_dir", &cfg.tls_dir),
            ("state_dir", &cfg.state_dir),
            ("divergence_dir", &cfg.divergence_dir),
        ] {
            if path.starts_with(&cfg.shared_dir) {
                return Err(invalid(
                    key,
                    "must not be inside shared_dir (it is node-local)",
                ));
            }
        }
        if cfg
            .pairing_secret_file
            .as_ref()
            .is_some_and(|f| f.starts_with(&cfg.shared_dir))
        {
            return Err(invalid(
                "pairing_secret_file",
                "must not be inside shared_dir (it is node-local)",
            ));
        }
        if cfg.db.starts_with(&cfg.shared_dir) {
            return Err(invalid(
                "db",
                "must not be inside shared_dir (it is replicated as a database)",
            ));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_appliance_paths() {
        let c = Config::from_raw("node-a".into(), RawSync::default()).unwrap();
        assert_eq!(c.shared_dir, PathBuf::from("/etc/allerta/shared"));
        assert_eq!(c.tls_dir, PathBuf::from("/etc/allerta/node/tls"));
        assert_eq!(c.scan_interval, Duration::from_secs(60));
    }

    #[test]
    fn the_shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/node.toml.example");
        let (node, raw) = load(&path).unwrap().expect("a [sync] table");
        let cfg = Config::from_raw(node, raw).unwrap();
        assert_eq!(cfg.peer, Some("10.77.0.12:7480".parse().unwrap()));
        assert_eq!(cfg.keep_records, 1_000_000);
    }

    #[test]
    fn node_local_directories_inside_the_shared_tree_are_refused() {
        let raw = RawSync {
            shared_dir: Some("/etc/allerta".into()),
            ..RawSync::default()
        };
        let err = Config::from_raw("a".into(), raw).unwrap_err();
        assert!(err.to_string().contains("sync.tls_dir"), "{err}");
    }

    #[test]
    fn the_node_file_parses_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.toml");
        std::fs::write(
            &p,
            "[node]\nname = \"node-b\"\n[vrrp]\nx = 1\n[sync]\nlisten = \"10.77.0.12:7480\"\nexclude = [\"cache/**\"]\n",
        )
        .unwrap();
        let (node, raw) = load(&p).unwrap().unwrap();
        assert_eq!(node, "node-b");
        assert_eq!(raw.exclude, ["cache/**"]);
        std::fs::write(&p, "[sync]\nlisten_on = \"x\"\n").unwrap();
        assert!(load(&p).is_err());
        std::fs::write(&p, "[node]\nname = \"a\"\n").unwrap();
        assert!(load(&p).unwrap().is_none());
    }
}
