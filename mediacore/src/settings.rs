//! Pure: the media core's own settings, the `[mediacore]` table of `/etc/allerta/node.toml`
//! (the supervisor reads the rest of that file and leaves this table to us).
//!
//! Two stages as everywhere: serde describes the file (`RawSettings`, unknown keys
//! refused), `TryFrom` checks it into [`Settings`].

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A settings file that cannot be used; the message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or a wrong key (toml's message carries line and column).
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// toml's description, with line and column.
        message: String,
    },
    /// A value out of range.
    #[error("{path}: mediacore.{key}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct RawFile {
    #[serde(default)]
    mediacore: Option<RawSettings>,
    /// `[node] name` names this node in the campaign ledger.
    #[serde(default)]
    node: Option<RawNode>,
    /// `[supervisor] peer_status` tells us the peer's address (to name the master).
    #[serde(default)]
    supervisor: Option<RawSupervisor>,
}

#[derive(Debug, Deserialize)]
struct RawSupervisor {
    peer_status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawNode {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default = "default_pjsip")]
    pjsip: PathBuf,
    #[serde(default = "default_extensions")]
    extensions: PathBuf,
    #[serde(default = "default_prompts")]
    prompts_dir: PathBuf,
    #[serde(default = "default_recordings")]
    recordings_dir: PathBuf,
    #[serde(default = "default_outgoing")]
    outgoing_dir: PathBuf,
    #[serde(default = "default_manager")]
    manager: PathBuf,
    /// The address put in SDP and RTP sockets bind to; default: the SIP transport's.
    media_address: Option<IpAddr>,
    #[serde(default = "default_rtp_min")]
    rtp_port_min: u16,
    #[serde(default = "default_rtp_max")]
    rtp_port_max: u16,
    #[serde(default = "default_rtp_timeout")]
    rtp_timeout_secs: u64,
    #[serde(default = "default_max_calls")]
    max_calls: usize,
    /// SIP T1 in milliseconds (RFC 3261 §17.1.1.1); lower only on a LAN or in the lab.
    #[serde(default = "default_t1")]
    sip_t1_ms: u64,
    /// SCHED_FIFO priority of the media core's threads (0: off). On by default, as the
    /// supervisor's advert thread is: RTP must keep its 20 ms pace on a loaded machine.
    #[serde(default = "default_realtime_priority")]
    realtime_priority: u8,
    /// The database (campaigns, contacts, the ledger), replicated by the sync agent.
    #[serde(default = "default_database")]
    database: PathBuf,
    /// The outbound trunk campaigns call through; none: campaigns do not dispatch.
    campaign_trunk: Option<String>,
    /// Concurrent campaign calls the trunk carries (all campaigns together).
    #[serde(default = "default_campaign_lines")]
    campaign_lines: u32,
    /// The sync agent's wake socket: after each database write the agent is nudged so
    /// the record leaves at once (optional: it also polls).
    sync_wake_socket: Option<PathBuf>,
    /// Once the supervisor has pinged us, a master that hears nothing from it for this
    /// long stops dispatching campaign calls until it does again (see the dialer).
    #[serde(default = "default_supervisor_lease_ms")]
    supervisor_lease_ms: u64,
}

fn default_database() -> PathBuf {
    "/var/lib/allerta/allerta.db".into()
}
fn default_supervisor_lease_ms() -> u64 {
    component::contract::DEFAULT_LEASE_MS
}
/// Below the supervisor's advert thread (10), so failover never waits for media.
fn default_realtime_priority() -> u8 {
    5
}

fn default_campaign_lines() -> u32 {
    30
}

fn default_pjsip() -> PathBuf {
    "/etc/allerta/node/pjsip.conf".into()
}
fn default_extensions() -> PathBuf {
    "/etc/allerta/shared/extensions.conf".into()
}
fn default_prompts() -> PathBuf {
    "/etc/allerta/shared/prompts".into()
}
fn default_recordings() -> PathBuf {
    "/var/lib/allerta/recordings".into()
}
fn default_manager() -> PathBuf {
    "/etc/allerta/shared/manager.conf".into()
}
fn default_outgoing() -> PathBuf {
    "/var/spool/allerta/outgoing".into()
}
fn default_rtp_min() -> u16 {
    10_000
}
fn default_rtp_max() -> u16 {
    20_000
}
fn default_rtp_timeout() -> u64 {
    30
}
fn default_max_calls() -> usize {
    2_000
}
fn default_t1() -> u64 {
    500
}

/// Checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// This node's trunks (`pjsip.conf`, node-local).
    pub pjsip: PathBuf,
    /// The dialplan (`extensions.conf`, replicated).
    pub extensions: PathBuf,
    /// Where `Playback(name)` looks for `name.wav`.
    pub prompts_dir: PathBuf,
    /// Where `Record(name.wav)` writes relative names.
    pub recordings_dir: PathBuf,
    /// The call spool (Asterisk call files); finished ones go to `outgoing_done` beside it.
    pub outgoing_dir: PathBuf,
    /// AMI users and listener (`manager.conf`, replicated); no file: no AMI.
    pub manager: PathBuf,
    /// SDP/RTP address; `None` means the SIP transport's bind address.
    pub media_address: Option<IpAddr>,
    /// RTP ports (even ones are used for RTP, the odd one above for RTCP).
    pub rtp_ports: RangeInclusive<u16>,
    /// Hang up a call that received no RTP for this long.
    pub rtp_timeout: Duration,
    /// Refuse new calls (503) beyond this many.
    pub max_calls: usize,
    /// SIP timer T1.
    pub sip_t1: Duration,
    /// SCHED_FIFO priority for the runtime's threads (0: normal scheduling), as Asterisk's
    /// `-p`: RTP pacing then holds on a loaded machine. Keep it below the supervisor's VRRP
    /// thread (10 in the example) so failover never waits for media.
    pub realtime_priority: u8,
    /// The database file.
    pub database: PathBuf,
    /// Campaigns' outbound trunk.
    pub campaign_trunk: Option<String>,
    /// Concurrent campaign calls at most (the trunk's capacity).
    pub campaign_lines: u32,
    /// The sync agent's wake socket.
    pub sync_wake_socket: Option<PathBuf>,
    /// How long a master dispatches without hearing from its supervisor.
    pub supervisor_lease: Duration,
    /// This node's name (`[node] name`), in the ledger's `node` column.
    pub node_name: String,
    /// The peer node's address, from `[supervisor] peer_status` (to name the master when
    /// a change is refused on the backup).
    pub peer: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let raw: RawSettings = toml::from_str("").expect("every key has a default");
        Self::check(raw, Path::new("(defaults)")).expect("defaults are valid")
    }
}

impl Settings {
    /// Reads the `[mediacore]` table of `path`; a file without one gets the defaults.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses settings from TOML text (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, SettingsError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| SettingsError::Syntax {
            path: path.into(),
            message: e.to_string(),
        })?;
        let mut settings = match raw.mediacore {
            Some(raw) => Self::check(raw, path)?,
            None => Self::default(),
        };
        if let Some(name) = raw.node.and_then(|n| n.name) {
            settings.node_name = name;
        }
        settings.peer = raw.supervisor.and_then(|s| s.peer_status).map(|p| {
            p.rsplit_once(':')
                .map_or(p.clone(), |(host, _)| host.to_owned())
        });
        Ok(settings)
    }

    fn check(raw: RawSettings, path: &Path) -> Result<Self, SettingsError> {
        let invalid = |key, reason: &str| SettingsError::Invalid {
            path: path.into(),
            key,
            reason: reason.into(),
        };
        if raw.rtp_port_min < 1024 || raw.rtp_port_min >= raw.rtp_port_max {
            return Err(invalid(
                "rtp_port_min",
                "must be ≥ 1024 and below rtp_port_max",
            ));
        }
        let ports = rtp_pairs(&(raw.rtp_port_min..=raw.rtp_port_max)) as usize;
        if ports < raw.max_calls {
            return Err(invalid(
                "rtp_port_max",
                &format!(
                    "the RTP range holds {ports} calls, fewer than max_calls = {}",
                    raw.max_calls
                ),
            ));
        }
        if raw.rtp_timeout_secs == 0 {
            return Err(invalid("rtp_timeout_secs", "must be at least 1"));
        }
        if raw.realtime_priority > 98 {
            return Err(invalid("realtime_priority", "must be 0 (off) or 1..=98"));
        }
        if !(50..=5_000).contains(&raw.sip_t1_ms) {
            return Err(invalid("sip_t1_ms", "must be in 50..=5000"));
        }
        if raw.campaign_lines == 0 || raw.campaign_lines as usize > raw.max_calls {
            return Err(invalid(
                "campaign_lines",
                "must be at least 1 and at most max_calls",
            ));
        }
        Ok(Self {
            pjsip: raw.pjsip,
            extensions: raw.extensions,
            prompts_dir: raw.prompts_dir,
            recordings_dir: raw.recordings_dir,
            outgoing_dir: raw.outgoing_dir,
            manager: raw.manager,
            media_address: raw.media_address,
            rtp_ports: raw.rtp_port_min..=raw.rtp_port_max,
            rtp_timeout: Duration::from_secs(raw.rtp_timeout_secs),
            max_calls: raw.max_calls,
            sip_t1: Duration::from_millis(raw.sip_t1_ms),
            realtime_priority: raw.realtime_priority,
            database: raw.database,
            campaign_trunk: raw.campaign_trunk,
            campaign_lines: raw.campaign_lines,
            sync_wake_socket: raw.sync_wake_socket,
            supervisor_lease: Duration::from_millis(raw.supervisor_lease_ms),
            node_name: hostname(),
            peer: None,
        })
    }
}

/// This machine's host name (the node's name when node.toml has none).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "node".into())
}

/// How many RTP/RTCP port pairs `range` holds: from its first even port, each with the odd
/// one above inside the range (`media::Ports` hands them out).
pub fn rtp_pairs(range: &std::ops::RangeInclusive<u16>) -> u32 {
    let lo = u32::from(*range.start()).next_multiple_of(2);
    (u32::from(*range.end()) + 1).saturating_sub(lo) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_file_without_a_mediacore_table_gets_the_defaults() {
        let s = Settings::parse("[node]\nname = \"a\"\n", Path::new("node.toml")).unwrap();
        assert_eq!(
            s.node_name, "a",
            "the ledger names the node as node.toml does"
        );
        assert_eq!(
            Settings {
                node_name: Settings::default().node_name,
                ..s.clone()
            },
            Settings::default()
        );
        assert_eq!(s.rtp_ports, 10_000..=20_000);
        let s = Settings::parse(
            "[supervisor]\npeer_status = \"10.77.0.12:9480\"\n[mediacore]\ncampaign_trunk = \"out\"\n",
            Path::new("node.toml"),
        )
        .unwrap();
        assert_eq!(s.peer.as_deref(), Some("10.77.0.12"));
        assert_eq!(s.campaign_trunk.as_deref(), Some("out"));
    }

    #[test]
    fn an_rtp_range_too_small_for_max_calls_is_refused_with_the_key() {
        let text = "[mediacore]\nrtp_port_min = 10000\nrtp_port_max = 10100\n";
        let e = Settings::parse(text, Path::new("node.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("node.toml: mediacore.rtp_port_max: the RTP range holds 50 calls"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line() {
        let e = Settings::parse("[mediacore]\nrtp_port_mn = 1\n", Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rtp_port_mn") && e.contains("line 2"), "{e}");
    }
}

#[cfg(test)]
mod examples {
    use std::path::Path;

    use super::Settings;
    use crate::conf::pjsip::PjsipConfig;
    use crate::dialplan::Dialplan;

    fn example(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../systemd")
            .join(name)
    }

    #[test]
    fn the_shipped_examples_load() {
        let s = Settings::load(&example("node.toml.example")).unwrap();
        assert_eq!(s.realtime_priority, 5);
        let trunks = PjsipConfig::load(example("pjsip.conf.example")).unwrap();
        let out = trunks.trunk("carrier-out").unwrap();
        assert!(out.registration.is_some() && out.outbound_auth.is_some());
        let plan = Dialplan::load(example("extensions.conf.example")).unwrap();
        assert!(plan.exists("from-carrier", "100") && plan.exists("alert-out", "s"));
        // The carrier calls a node on its own number (its trunk's contact_user): the
        // shipped line must answer any number, and a call with none.
        for exten in ["0743111", "s"] {
            assert!(plan.exists("from-carrier", exten), "{exten}");
        }
    }

    #[test]
    fn realtime_pacing_is_on_unless_the_node_file_turns_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "[mediacore]\n").unwrap();
        assert_eq!(Settings::load(&path).unwrap().realtime_priority, 5);
        std::fs::write(&path, "[mediacore]\nrealtime_priority = 0\n").unwrap();
        assert_eq!(Settings::load(&path).unwrap().realtime_priority, 0);
    }
}
