//! Pure: the supervisor's part of `/etc/allerta/node.toml`, in two stages: serde reads the
//! file into `Raw*` types (unknown keys rejected), then `TryFrom` validates them into the
//! types the code uses. Every error names the file, the key and the reason.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::health::state::Tracking;
use crate::vrrp::packet::{Version, MAX_ADDRS};

/// One wrapped component (`[[component]]`): what the supervisor starts and how it probes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentConfig {
    pub name: String,
    pub command: PathBuf,
    pub args: Vec<String>,
    pub control_socket: PathBuf,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    /// After a start, failed probes are not reported for this long (the socket is not up
    /// yet); a successful probe ends the grace early.
    pub start_grace: Duration,
    pub restart_min: Duration,
    pub restart_max: Duration,
}

/// What a check (`[[check]]`) probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Runs `command` with `args`; exit status 0 is success; killed after `timeout`.
    Script {
        command: PathBuf,
        args: Vec<String>,
        timeout: Duration,
    },
    /// At least `min_free_bytes` free on the file system holding `path`.
    Disk { path: PathBuf, min_free_bytes: u64 },
    /// The interface is up with carrier (e.g. the voice network's; the VRRP interface itself
    /// is followed through netlink events by its instance).
    Interface { name: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax errors and unknown or mistyped keys; toml's message carries line and column.
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path}: {key}: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

// ---- the file ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub node: RawNode,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub supervisor: RawSupervisor,
    #[serde(default)]
    pub vrrp_instance: Vec<RawInstance>,
    #[serde(default)]
    pub component: Vec<RawComponent>,
    #[serde(default)]
    pub check: Vec<RawCheck>,
    #[serde(default)]
    pub availability: RawAvailability,
    /// Sections the other components own: they read and validate them themselves.
    pub mediacore: Option<toml::Table>,
    pub sync: Option<toml::Table>,
    pub console: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub filter: Option<String>,
    #[serde(default)]
    pub json: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSupervisor {
    #[serde(default = "default_control_socket")]
    pub control_socket: PathBuf,
    /// Prometheus metrics and the JSON status (`/metrics`, `/status`); "" to disable.
    #[serde(default = "default_metrics_bind")]
    pub metrics_bind: String,
    /// The peer's metrics endpoint, asked before a switchover or a promote whether the
    /// peer is healthy / master.
    pub peer_status: Option<std::net::SocketAddr>,
    /// Where the supervisor keeps what must survive a restart (maintenance mode).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

impl Default for RawSupervisor {
    fn default() -> Self {
        Self {
            control_socket: default_control_socket(),
            metrics_bind: default_metrics_bind(),
            peer_status: None,
            state_dir: default_state_dir(),
        }
    }
}

fn default_control_socket() -> PathBuf {
    "/run/allerta/supervisor.sock".into()
}
fn default_state_dir() -> PathBuf {
    "/var/lib/allerta/supervisor".into()
}
fn default_metrics_bind() -> String {
    "127.0.0.1:9480".into()
}

/// The availability ledger: how the supervisor probes the service as a client does, and
/// where it records the outages (see `availability`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAvailability {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `address:port`; default: the first virtual IP of the first instance, port 5038 (AMI).
    pub service: Option<String>,
    /// What the first line the service sends must start with; "" = a connect is enough.
    #[serde(default = "default_banner")]
    pub banner: String,
    #[serde(default = "default_availability_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "default_availability_timeout_ms")]
    pub timeout_ms: u64,
    /// Default: `<state_dir>/availability.jsonl`.
    pub ledger: Option<PathBuf>,
    /// Announced work and exclusions (replicated: made on the master).
    #[serde(default = "default_windows")]
    pub windows: PathBuf,
}

impl Default for RawAvailability {
    fn default() -> Self {
        Self {
            enabled: true,
            service: None,
            banner: default_banner(),
            interval_ms: default_availability_interval_ms(),
            timeout_ms: default_availability_timeout_ms(),
            ledger: None,
            windows: default_windows(),
        }
    }
}

/// What Asterisk's AMI greets with, and so ours (the applications' own check).
fn default_banner() -> String {
    "Asterisk Call Manager/".into()
}
/// The SLA counts minutes: a probe a second is plenty, and cheap for the media core.
fn default_availability_interval_ms() -> u64 {
    1000
}
fn default_availability_timeout_ms() -> u64 {
    1000
}
fn default_windows() -> PathBuf {
    "/etc/allerta/shared/sla.toml".into()
}
/// The port of the service probed when `service` is not given: AMI.
pub const AMI_PORT: u16 = 5038;

/// A process the supervisor starts, watches and tells its role (mediacore, sync).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    pub name: String,
    pub command: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    pub control_socket: PathBuf,
    #[serde(default = "default_probe_interval_ms")]
    pub probe_interval_ms: u64,
    #[serde(default = "default_probe_timeout_ms")]
    pub probe_timeout_ms: u64,
    #[serde(default = "default_component_fall")]
    pub fall: u32,
    #[serde(default = "default_rise")]
    pub rise: u32,
    /// 0: a failed component puts the node in Fault (the default: every component matters).
    #[serde(default)]
    pub weight: i32,
    #[serde(default = "default_start_grace_ms")]
    pub start_grace_ms: u64,
    #[serde(default = "default_restart_min_ms")]
    pub restart_min_ms: u64,
    #[serde(default = "default_restart_max_ms")]
    pub restart_max_ms: u64,
    /// Weight of the checks the component reports in its status (a trunk's registration,
    /// sync freshness); 0: such a failure puts the node in Fault.
    #[serde(default = "default_reported_weight")]
    pub reported_weight: i32,
}

/// A check a component reports (its trunk not registered) lowers the priority by default
/// rather than faulting the node: the peer may be no better off.
fn default_reported_weight() -> i32 {
    -50
}

/// A periodic check: a script (keepalived's vrrp_script) or free disk space.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub name: String,
    pub script: Option<PathBuf>,
    #[serde(default)]
    pub args: Vec<String>,
    pub disk_path: Option<PathBuf>,
    pub min_free_mb: Option<u64>,
    /// An interface that must be up with carrier (keepalived's track_interface).
    pub interface: Option<String>,
    #[serde(default = "default_check_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "default_check_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_check_fall")]
    pub fall: u32,
    #[serde(default = "default_rise")]
    pub rise: u32,
    #[serde(default)]
    pub weight: i32,
}

/// 50 ms probes with a 100 ms timeout and fall 2: a hung component is noticed within
/// ~250 ms; two late answers in a row are needed for a false alarm.
fn default_probe_interval_ms() -> u64 {
    50
}
fn default_probe_timeout_ms() -> u64 {
    100
}
fn default_component_fall() -> u32 {
    2
}
fn default_rise() -> u32 {
    3
}
fn default_start_grace_ms() -> u64 {
    5000
}
fn default_restart_min_ms() -> u64 {
    100
}
fn default_restart_max_ms() -> u64 {
    30_000
}
fn default_check_interval_ms() -> u64 {
    1000
}
fn default_check_timeout_ms() -> u64 {
    1000
}
fn default_check_fall() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstance {
    pub name: String,
    /// The interface adverts are sent and received on.
    pub interface: String,
    pub vrid: u8,
    #[serde(default = "default_priority")]
    pub priority: u8,
    #[serde(default = "default_version")]
    pub version: u8,
    #[serde(default = "default_advert_interval_ms")]
    pub advert_interval_ms: u64,
    #[serde(default = "default_true")]
    pub preempt: bool,
    #[serde(default)]
    pub preempt_delay_ms: u64,
    pub virtual_ips: Vec<RawVip>,
    /// Empty: multicast to 224.0.0.18. Otherwise adverts go to each of these by unicast.
    #[serde(default)]
    pub unicast_peers: Vec<Ipv4Addr>,
    /// Source address of adverts; default: the interface's first IPv4 address.
    pub source_ip: Option<Ipv4Addr>,
    #[serde(default = "default_garp_repeat")]
    pub garp_repeat: u8,
    #[serde(default = "default_garp_master_delay_secs")]
    pub garp_master_delay_secs: u64,
    #[serde(default = "default_realtime_priority")]
    pub realtime_priority: u8,
    /// keepalived-compatible hooks, run on entering each state.
    pub notify_master: Option<PathBuf>,
    pub notify_backup: Option<PathBuf>,
    pub notify_fault: Option<PathBuf>,
    pub notify_stop: Option<PathBuf>,
    /// Called as `notify INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>`.
    pub notify: Option<PathBuf>,
}

/// `"10.77.0.10/24"` on the instance's interface, or `{ address = "…", interface = "…" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawVip {
    OnInstanceInterface(Ipv4Net),
    On(RawVipOn),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVipOn {
    pub address: Ipv4Net,
    pub interface: String,
}

fn default_priority() -> u8 {
    100
}
fn default_version() -> u8 {
    3
}
/// 100 ms, chosen for vSphere: short enough that a dead master costs ~0.4 s, long enough
/// that the 300 ms stun of a snapshot or vMotion does not trigger a takeover
/// (Master_Down_Interval ≥ 360 ms); see README "Choosing the advert interval".
fn default_advert_interval_ms() -> u64 {
    100
}
fn default_true() -> bool {
    true
}
/// keepalived's `garp_master_repeat` default.
fn default_garp_repeat() -> u8 {
    5
}
/// keepalived's `garp_master_delay` default.
fn default_garp_master_delay_secs() -> u64 {
    5
}
/// SCHED_FIFO priority of the advert thread; 0 leaves it at normal priority.
fn default_realtime_priority() -> u8 {
    10
}

// ---- the domain ----

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub node_name: String,
    pub log: LogConfig,
    pub control_socket: PathBuf,
    pub metrics_bind: Option<std::net::SocketAddr>,
    pub peer_status: Option<std::net::SocketAddr>,
    pub state_dir: PathBuf,
    pub instances: Vec<InstanceConfig>,
    pub components: Vec<ComponentSettings>,
    pub checks: Vec<CheckSettings>,
    pub availability: AvailabilityConfig,
}

/// The `[availability]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityConfig {
    /// false: no probing and no ledger (`allertactl sla` still reads an old one).
    pub enabled: bool,
    pub service: std::net::SocketAddr,
    /// Empty: a connect is enough.
    pub banner: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub ledger: PathBuf,
    pub windows: PathBuf,
}

impl AvailabilityConfig {
    /// How old the last record of an open outage may be while the supervisor still watches
    /// it: a `still_down` comes every 10 s, one probe later at most (plus slack). Older: the
    /// supervisor stopped watching.
    pub fn stale_after(&self) -> Duration {
        Duration::from_millis(crate::availability::monitor::STILL_DOWN_EVERY_MS)
            + self.interval
            + self.timeout
            + Duration::from_secs(5)
    }
}

/// A component with how it is tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSettings {
    pub component: ComponentConfig,
    pub tracking: Tracking,
    pub reported_weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    pub name: String,
    pub probe: Probe,
    pub interval: Duration,
    pub tracking: Tracking,
}

/// The notify hooks of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub master: Option<PathBuf>,
    pub backup: Option<PathBuf>,
    pub fault: Option<PathBuf>,
    pub stop: Option<PathBuf>,
    pub any: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub filter: String,
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    pub name: String,
    pub interface: String,
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    pub adver_int: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub vips: Vec<Vip>,
    pub unicast_peers: Vec<Ipv4Addr>,
    pub source_ip: Option<Ipv4Addr>,
    pub garp_repeat: u8,
    pub garp_master_delay: Option<Duration>,
    pub realtime_priority: u8,
    pub notify: Notify,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub net: Ipv4Net,
    pub interface: String,
}

/// The media core's dispatch lease (`[mediacore] supervisor_lease_ms`, when the media core
/// reads this file) must outlast the gap between two renewals a healthy master sees, or its
/// campaigns pause between adverts (`contract::min_lease`).
fn check_dispatch_lease(
    mediacore: Option<&toml::Table>,
    instances: &[InstanceConfig],
    components: &[ComponentSettings],
) -> Result<(), String> {
    let (Some(table), Some(instance), Some(media)) = (
        mediacore,
        instances.first(),
        components.iter().find(|c| c.component.name == "mediacore"),
    ) else {
        return Ok(());
    };
    let lease_ms = match table.get("supervisor_lease_ms") {
        None => component::contract::DEFAULT_LEASE_MS,
        Some(v) => v
            .as_integer()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or("must be a whole number of milliseconds")?,
    };
    let need = component::contract::min_lease(
        instance.adver_int,
        media.component.probe_interval,
        media.component.probe_timeout,
    );
    if Duration::from_millis(lease_ms) < need {
        return Err(format!(
            "{lease_ms} ms is shorter than a healthy master's renewal gap: advert_interval_ms \
             ({}) + the media core's probe_interval_ms ({}) + probe_timeout_ms ({}) + 50 = {} ms; \
             a master would pause its campaigns between adverts",
            instance.adver_int.as_millis(),
            media.component.probe_interval.as_millis(),
            media.component.probe_timeout.as_millis(),
            need.as_millis()
        ));
    }
    Ok(())
}

/// Reads and validates the file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    parse(path, &text)
}

/// Validates `text` as if read from `path` (which only names the file in errors).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
        path: path.into(),
        source,
    })?;
    let invalid = |key: String, reason: &str| ConfigError::Invalid {
        path: path.into(),
        key,
        reason: reason.into(),
    };
    if raw.node.name.trim().is_empty() {
        return Err(invalid("node.name".into(), "must not be empty"));
    }
    let mut instances = Vec::new();
    for (i, r) in raw.vrrp_instance.iter().enumerate() {
        let instance = InstanceConfig::try_from(r).map_err(|(key, reason)| {
            invalid(format!("vrrp_instance[{i}] ({}).{key}", r.name), &reason)
        })?;
        if instances
            .iter()
            .any(|o: &InstanceConfig| o.name == instance.name)
        {
            return Err(invalid(
                format!("vrrp_instance[{i}].name"),
                "duplicate instance name",
            ));
        }
        if instances
            .iter()
            .any(|o: &InstanceConfig| o.vrid == instance.vrid && o.interface == instance.interface)
        {
            return Err(invalid(
                format!("vrrp_instance[{i}].vrid"),
                "another instance uses this VRID on the same interface",
            ));
        }
        instances.push(instance);
    }
    if instances.is_empty() {
        return Err(invalid(
            "vrrp_instance".into(),
            "at least one [[vrrp_instance]] is needed",
        ));
    }
    let mut components = Vec::new();
    for (i, r) in raw.component.iter().enumerate() {
        let key = |k: &str| format!("component[{i}] ({}).{k}", r.name);
        if r.name.is_empty()
            || components
                .iter()
                .any(|c: &ComponentSettings| c.component.name == r.name)
        {
            return Err(invalid(key("name"), "must be present and unique"));
        }
        if r.probe_interval_ms == 0 || r.probe_timeout_ms == 0 {
            return Err(invalid(
                key("probe_interval_ms"),
                "probe interval and timeout must be above 0",
            ));
        }
        if r.restart_min_ms == 0 || r.restart_max_ms < r.restart_min_ms {
            return Err(invalid(
                key("restart_min_ms"),
                "need 0 < restart_min_ms <= restart_max_ms",
            ));
        }
        check_tracking(r.fall, r.rise, r.weight).map_err(|(k, why)| invalid(key(k), why))?;
        components.push(ComponentSettings {
            component: ComponentConfig {
                name: r.name.clone(),
                command: r.command.clone(),
                args: r.args.clone(),
                control_socket: r.control_socket.clone(),
                probe_interval: Duration::from_millis(r.probe_interval_ms),
                probe_timeout: Duration::from_millis(r.probe_timeout_ms),
                start_grace: Duration::from_millis(r.start_grace_ms),
                restart_min: Duration::from_millis(r.restart_min_ms),
                restart_max: Duration::from_millis(r.restart_max_ms),
            },
            tracking: Tracking {
                rise: r.rise,
                fall: r.fall,
                weight: r.weight,
            },
            reported_weight: r.reported_weight,
        });
    }
    check_dispatch_lease(raw.mediacore.as_ref(), &instances, &components)
        .map_err(|reason| invalid("mediacore.supervisor_lease_ms".into(), &reason))?;
    let mut checks = Vec::new();
    for (i, r) in raw.check.iter().enumerate() {
        let key = |k: &str| format!("check[{i}] ({}).{k}", r.name);
        let taken = components.iter().any(|c| c.component.name == r.name)
            || checks.iter().any(|c: &CheckSettings| c.name == r.name);
        if r.name.is_empty() || taken {
            return Err(invalid(
                key("name"),
                "must be present and unique among checks and components",
            ));
        }
        let probe = match (&r.script, &r.disk_path, r.min_free_mb) {
            (None, None, None) if r.interface.is_some() => Probe::Interface {
                name: r.interface.clone().unwrap_or_default(),
            },
            _ if r.interface.is_some() => {
                return Err(invalid(
                    key("interface"),
                    "an interface check takes no script or disk_path",
                ))
            }
            (Some(script), None, None) => Probe::Script {
                command: script.clone(),
                args: r.args.clone(),
                timeout: Duration::from_millis(r.timeout_ms),
            },
            (None, Some(path), Some(mb)) => Probe::Disk {
                path: path.clone(),
                min_free_bytes: mb * 1024 * 1024,
            },
            _ => {
                return Err(invalid(
                    key("script"),
                    "give either `script`, `interface`, or `disk_path` and `min_free_mb`",
                ))
            }
        };
        if r.interval_ms == 0 || r.timeout_ms == 0 {
            return Err(invalid(
                key("interval_ms"),
                "interval and timeout must be above 0",
            ));
        }
        check_tracking(r.fall, r.rise, r.weight).map_err(|(k, why)| invalid(key(k), why))?;
        checks.push(CheckSettings {
            name: r.name.clone(),
            probe,
            interval: Duration::from_millis(r.interval_ms),
            tracking: Tracking {
                rise: r.rise,
                fall: r.fall,
                weight: r.weight,
            },
        });
    }
    let metrics_bind = match raw.supervisor.metrics_bind.as_str() {
        "" => None,
        text => Some(
            text.parse()
                .map_err(|_| invalid("supervisor.metrics_bind".into(), "not an address:port"))?,
        ),
    };
    let availability = availability(&raw.availability, &instances, &raw.supervisor.state_dir)
        .map_err(|(key, reason)| invalid(format!("availability.{key}"), reason))?;
    let log = LogConfig {
        filter: raw.log.filter.unwrap_or_else(|| "info".into()),
        json: raw.log.json,
    };
    Ok(Config {
        path: path.into(),
        node_name: raw.node.name,
        log,
        control_socket: raw.supervisor.control_socket,
        metrics_bind,
        peer_status: raw.supervisor.peer_status,
        state_dir: raw.supervisor.state_dir,
        instances,
        components,
        checks,
        availability,
    })
}

fn availability(
    raw: &RawAvailability,
    instances: &[InstanceConfig],
    state_dir: &Path,
) -> Result<AvailabilityConfig, (&'static str, &'static str)> {
    let service = match &raw.service {
        Some(text) => text
            .parse()
            .map_err(|_| ("service", "not an address:port"))?,
        None => {
            let vip = instances
                .first()
                .and_then(|i| i.vips.first())
                .expect("validation keeps at least one instance, and an instance has a VIP");
            std::net::SocketAddr::from((vip.net.addr(), AMI_PORT))
        }
    };
    if !(10..=3_600_000).contains(&raw.interval_ms) {
        return Err(("interval_ms", "must be in 10..=3600000"));
    }
    if !(1..=60_000).contains(&raw.timeout_ms) {
        return Err(("timeout_ms", "must be in 1..=60000"));
    }
    if raw.banner.contains(['\r', '\n']) {
        return Err(("banner", "is one line: no line breaks"));
    }
    Ok(AvailabilityConfig {
        enabled: raw.enabled,
        service,
        banner: raw.banner.clone(),
        interval: Duration::from_millis(raw.interval_ms),
        timeout: Duration::from_millis(raw.timeout_ms),
        ledger: raw
            .ledger
            .clone()
            .unwrap_or_else(|| state_dir.join("availability.jsonl")),
        windows: raw.windows.clone(),
    })
}

fn check_tracking(fall: u32, rise: u32, weight: i32) -> Result<(), (&'static str, &'static str)> {
    if fall == 0 || rise == 0 {
        return Err(("fall", "fall and rise must be at least 1"));
    }
    if !(-253..=253).contains(&weight) {
        return Err(("weight", "must be in -253..=253 (0: a failure means Fault)"));
    }
    Ok(())
}

impl TryFrom<&RawInstance> for InstanceConfig {
    /// (key, reason)
    type Error = (&'static str, String);

    fn try_from(raw: &RawInstance) -> Result<Self, Self::Error> {
        let version = match raw.version {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(("version", format!("{v} is not 2 or 3"))),
        };
        if raw.name.is_empty() || raw.interface.is_empty() {
            return Err(("name", "name and interface must not be empty".into()));
        }
        if raw.vrid == 0 {
            return Err(("vrid", "must be 1..=255".into()));
        }
        if raw.priority == 0 {
            return Err((
                "priority",
                "must be 1..=255 (255: this node owns the addresses)".into(),
            ));
        }
        let ms = raw.advert_interval_ms;
        match version {
            Version::V3 if !ms.is_multiple_of(10) || !(10..=40_950).contains(&ms) => {
                return Err((
                    "advert_interval_ms",
                    format!("{ms}: VRRPv3 needs a multiple of 10 in 10..=40950"),
                ))
            }
            Version::V2 if !ms.is_multiple_of(1000) || !(1000..=255_000).contains(&ms) => {
                return Err((
                    "advert_interval_ms",
                    format!("{ms}: VRRPv2 needs whole seconds, 1000..=255000"),
                ))
            }
            _ => {}
        }
        if raw.virtual_ips.is_empty() || raw.virtual_ips.len() > MAX_ADDRS {
            return Err(("virtual_ips", format!("needs 1..={MAX_ADDRS} addresses")));
        }
        let vips: Vec<Vip> = raw
            .virtual_ips
            .iter()
            .map(|v| match v {
                RawVip::OnInstanceInterface(net) => Vip {
                    net: *net,
                    interface: raw.interface.clone(),
                },
                RawVip::On(on) => Vip {
                    net: on.address,
                    interface: on.interface.clone(),
                },
            })
            .collect();
        for (i, vip) in vips.iter().enumerate() {
            let a = vip.net.addr();
            if a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback() {
                return Err(("virtual_ips", format!("{a} cannot be a virtual address")));
            }
            if vips[..i].iter().any(|o| o.net.addr() == a) {
                return Err(("virtual_ips", format!("{a} is listed twice")));
            }
            if vip.interface.is_empty() {
                return Err(("virtual_ips", format!("{a}: interface must not be empty")));
            }
        }
        if raw
            .unicast_peers
            .iter()
            .any(|p| p.is_multicast() || p.is_unspecified())
        {
            return Err(("unicast_peers", "must be unicast addresses".into()));
        }
        if raw.realtime_priority > 99 {
            return Err((
                "realtime_priority",
                "SCHED_FIFO priorities are 1..=99 (0 = off)".into(),
            ));
        }
        Ok(Self {
            name: raw.name.clone(),
            interface: raw.interface.clone(),
            version,
            vrid: raw.vrid,
            priority: raw.priority,
            adver_int: Duration::from_millis(ms),
            preempt: raw.preempt,
            preempt_delay: Duration::from_millis(raw.preempt_delay_ms),
            vips,
            unicast_peers: raw.unicast_peers.clone(),
            source_ip: raw.source_ip,
            garp_repeat: raw.garp_repeat,
            garp_master_delay: (raw.garp_master_delay_secs > 0)
                .then(|| Duration::from_secs(raw.garp_master_delay_secs)),
            realtime_priority: raw.realtime_priority,
            notify: Notify {
                master: raw.notify_master.clone(),
                backup: raw.notify_backup.clone(),
                fault: raw.notify_fault.clone(),
                stop: raw.notify_stop.clone(),
                any: raw.notify.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("node.toml"), text)
    }

    const MINIMAL: &str = r#"
[node]
name = "node-a"

[[vrrp_instance]]
name = "data"
interface = "data0"
vrid = 51
virtual_ips = ["10.77.0.10/24", { address = "10.78.0.10/24", interface = "voice0" }]
"#;

    #[test]
    fn the_shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/node.toml.example");
        let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.instances.len(), 1);
        assert_eq!(config.components.len(), 3);
        assert_eq!(config.checks.len(), 1);
    }

    #[test]
    fn defaults_fill_in_what_the_file_leaves_out() {
        let c = parse_str(MINIMAL).unwrap();
        let i = &c.instances[0];
        assert_eq!(
            (i.priority, i.version, i.adver_int),
            (100, Version::V3, Duration::from_millis(100))
        );
        assert!(i.preempt);
        assert_eq!(i.vips[1].interface, "voice0");
        assert_eq!(i.vips[0].interface, "data0");
        assert_eq!(i.garp_master_delay, Some(Duration::from_secs(5)));
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_reason() {
        let e = parse_str(&MINIMAL.replace("vrid = 51", "vrid = 51\nadvert_interval_ms = 15"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "node.toml: vrrp_instance[0] (data).advert_interval_ms: 15: VRRPv3 needs a multiple of 10 in 10..=40950"
        );
        let e = parse_str(&MINIMAL.replace("vrid = 51", "vird = 51")).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("node.toml: "), "{text}");
        assert!(text.contains("line 8"), "toml names the line: {text}");
        let e = parse_str(&MINIMAL.replace("vrid = 51", "vrid = 0")).unwrap_err();
        assert!(e.to_string().ends_with(".vrid: must be 1..=255"), "{e}");
        let e = parse_str(&MINIMAL.replace("10.77.0.10/24\",", "10.78.0.10/24\",")).unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
    }

    #[test]
    fn v2_needs_whole_seconds() {
        let text = MINIMAL.replace(
            "vrid = 51",
            "vrid = 51\nversion = 2\nadvert_interval_ms = 100",
        );
        assert!(parse_str(&text)
            .unwrap_err()
            .to_string()
            .contains("VRRPv2 needs whole seconds"));
        let text = MINIMAL.replace(
            "vrid = 51",
            "vrid = 51\nversion = 2\nadvert_interval_ms = 1000",
        );
        assert_eq!(parse_str(&text).unwrap().instances[0].version, Version::V2);
    }

    #[test]
    fn components_and_checks_are_validated() {
        let text = format!(
            "{MINIMAL}\n[[component]]\nname = \"mediacore\"\ncommand = \"/usr/bin/allerta-mediacore\"\n\
             control_socket = \"/run/allerta/mediacore.sock\"\n\n[[check]]\nname = \"gw\"\n\
             script = \"/bin/true\"\nweight = -50\nfall = 2\n"
        );
        let c = parse_str(&text).unwrap();
        assert_eq!(
            c.components[0].tracking,
            Tracking {
                rise: 3,
                fall: 2,
                weight: 0
            }
        );
        assert_eq!(c.checks[0].tracking.weight, -50);
        let bad = text.replace("script = \"/bin/true\"", "disk_path = \"/\"");
        assert!(parse_str(&bad)
            .unwrap_err()
            .to_string()
            .contains("check[0] (gw).script: give either"));
        let bad = text.replace("weight = -50", "weight = -300");
        assert!(parse_str(&bad)
            .unwrap_err()
            .to_string()
            .contains("(gw).weight"));
    }

    #[test]
    fn other_components_sections_are_left_to_them() {
        let text = format!("{MINIMAL}\n[mediacore]\nami_bind = \"0.0.0.0:5038\"\n");
        assert!(parse_str(&text).is_ok());
        let typo = format!("{MINIMAL}\n[mediacor]\n");
        assert!(parse_str(&typo)
            .unwrap_err()
            .to_string()
            .contains("mediacor"));
    }

    #[test]
    fn a_dispatch_lease_shorter_than_a_renewal_gap_is_refused_with_the_reason() {
        let media =
            "\n[[component]]\nname = \"mediacore\"\ncommand = \"/usr/bin/allerta-mediacore\"\n\
                     control_socket = \"/run/allerta/mediacore.sock\"\n";
        // The default lease (500 ms) fits the default probes at intervals up to 300 ms.
        let ok = format!("{MINIMAL}{media}\n[mediacore]\n");
        assert!(parse_str(&ok).is_ok(), "{:?}", parse_str(&ok).err());
        let short = format!("{MINIMAL}{media}\n[mediacore]\nsupervisor_lease_ms = 200\n");
        let err = parse_str(&short).unwrap_err().to_string();
        assert!(err.contains("mediacore.supervisor_lease_ms"), "{err}");
        assert!(err.contains("renewal gap"), "{err}");
        // Without a [mediacore] table the media core reads another file: nothing to check.
        assert!(parse_str(&format!("{MINIMAL}{media}")).is_ok());
    }

    #[test]
    fn availability_defaults_to_ami_on_the_first_vip() {
        let c = parse_str(MINIMAL).unwrap();
        let a = &c.availability;
        assert!(a.enabled);
        assert_eq!(a.service, "10.77.0.10:5038".parse().unwrap());
        assert_eq!(a.banner, "Asterisk Call Manager/");
        assert_eq!(
            (a.interval, a.timeout),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
        assert_eq!(
            a.ledger,
            Path::new("/var/lib/allerta/supervisor/availability.jsonl")
        );
        assert_eq!(a.windows, Path::new("/etc/allerta/shared/sla.toml"));
        let text = format!(
            "{MINIMAL}\n[availability]\nservice = \"10.77.0.20:80\"\nbanner = \"\"\n\
             interval_ms = 50\nledger = \"/tmp/l.jsonl\"\nenabled = false\n"
        );
        let a = parse_str(&text).unwrap().availability;
        assert_eq!(
            (a.service.port(), a.banner.as_str(), a.enabled),
            (80, "", false)
        );
        assert_eq!(a.ledger, Path::new("/tmp/l.jsonl"));
    }

    #[test]
    fn availability_keys_are_checked() {
        let e = parse_str(&format!(
            "{MINIMAL}\n[availability]\nservice = \"10.77.0.20\"\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "node.toml: availability.service: not an address:port"
        );
        let e = parse_str(&format!("{MINIMAL}\n[availability]\ninterval_ms = 0\n")).unwrap_err();
        assert!(e.to_string().contains("availability.interval_ms"), "{e}");
        let e = parse_str(&format!("{MINIMAL}\n[availability]\nintervall_ms = 10\n")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("intervall_ms") && text.contains("line 12"),
            "{text}"
        );
    }
}
