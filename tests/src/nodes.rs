//! Starting a VRRP speaker on a lab node: our supervisor, or the real keepalived with the
//! same settings (for interop tests and the side-by-side benchmark).

use std::fmt::Write as _;
use std::time::Duration;

use crate::lab::{Lab, Node, Proc, VIP, VOICE_VIP};
use crate::prereq;

/// The VRRP settings both implementations get.
#[derive(Debug, Clone)]
pub struct Vrrp {
    pub vrid: u8,
    pub priority: u8,
    pub advert_interval_ms: u64,
    pub version: u8,
    pub preempt: bool,
    pub preempt_delay_ms: u64,
    /// Adverts to the other node by unicast instead of multicast.
    pub unicast: bool,
    /// SCHED_FIFO priority of our advert thread (0: off).
    pub realtime_priority: u8,
    /// Also a VIP on the voice network (10.78.0.10), in the same instance.
    pub voice_vip: bool,
    /// Our supervisor also runs the real mediacore and sync binaries as components.
    pub components: bool,
    /// More TOML for our supervisor's config ([[check]] tables, notify hooks on the
    /// instance go through `instance_toml`).
    pub extra_toml: String,
    /// More keys for the `[[vrrp_instance]]` table.
    pub instance_toml: String,
    /// keepalived only: a `vrrp_script` it tracks (interval 1 s, fall 1, rise 1).
    pub keepalived_check: Option<std::path::PathBuf>,
}

impl Vrrp {
    /// Priority 200 on node A, 100 on node B, as in the measurements.
    pub fn for_node(node: Node, advert_interval_ms: u64) -> Self {
        Self {
            vrid: 51,
            priority: if node == Node::A { 200 } else { 100 },
            advert_interval_ms,
            version: 3,
            preempt: true,
            preempt_delay_ms: 0,
            unicast: false,
            realtime_priority: 10,
            voice_vip: false,
            components: false,
            extra_toml: String::new(),
            instance_toml: String::new(),
            keepalived_check: None,
        }
    }
}

/// Which implementation runs on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Allerta,
    Keepalived,
}

impl Speaker {
    pub fn name(self) -> &'static str {
        match self {
            Self::Allerta => "allerta",
            Self::Keepalived => "keepalived",
        }
    }

    /// The log line that says this speaker became master.
    pub fn master_line(self) -> &'static str {
        match self {
            Self::Allerta => "to=Master",
            Self::Keepalived => "Entering MASTER STATE",
        }
    }
}

/// Where a node's control sockets live in the lab.
pub fn run_dir(lab: &Lab, node: Node) -> std::path::PathBuf {
    lab.dir().join(node.role())
}

/// The node.toml our supervisor gets; sockets under `run_dir`.
pub fn supervisor_config(node: Node, v: &Vrrp, run_dir: &std::path::Path) -> String {
    let mut s = format!(
        "[node]\nname = \"{}\"\n\n[log]\nfilter = \"info,supervisor=debug\"\n\n\
         [supervisor]\ncontrol_socket = \"{}/supervisor.sock\"\nmetrics_bind = \"{}:9480\"\n\
         peer_status = \"{}:9480\"\nstate_dir = \"{}\"\n\n[[vrrp_instance]]\n\
         name = \"data\"\ninterface = \"data0\"\nvrid = {}\npriority = {}\nversion = {}\n\
         advert_interval_ms = {}\npreempt = {}\npreempt_delay_ms = {}\nvirtual_ips = [\"{VIP}/24\"]\n\
         realtime_priority = {}\n",
        node.role(),
        run_dir.display(),
        node.data_ip(),
        node.other().data_ip(),
        run_dir.display(),
        v.vrid,
        v.priority,
        v.version,
        v.advert_interval_ms,
        v.preempt,
        v.preempt_delay_ms,
        v.realtime_priority,
    );
    if v.unicast {
        let _ = writeln!(s, "unicast_peers = [\"{}\"]", node.other().data_ip());
    }
    s.push_str(&v.instance_toml);
    if v.components {
        for (name, bin) in [("mediacore", "allerta-mediacore"), ("sync", "allerta-sync")] {
            let _ = write!(
                s,
                "\n[[component]]\nname = \"{name}\"\ncommand = \"{}\"\ncontrol_socket = \"{}/{name}.sock\"\n",
                prereq::workspace_bin(bin).display(),
                run_dir.display()
            );
            if name == "mediacore" {
                // Its own settings and trunks, written by `start` (see `voice`).
                let _ = writeln!(
                    s,
                    "args = [\"--config\", \"{}/voice/mediacore.toml\"]",
                    run_dir.display()
                );
            }
        }
    }
    s.push_str(&v.extra_toml);
    if v.voice_vip {
        s = s.replace(
            &format!("virtual_ips = [\"{VIP}/24\"]"),
            &format!("virtual_ips = [\"{VIP}/24\", {{ address = \"{VOICE_VIP}/24\", interface = \"voice0\" }}]"),
        );
    }
    s
}

/// The keepalived.conf with the same settings.
pub fn keepalived_config(node: Node, v: &Vrrp) -> String {
    let advert = v.advert_interval_ms as f64 / 1000.0;
    let mut s = format!(
        "global_defs {{\n  router_id {}\n  vrrp_version {}\n  script_user root\n{}}}\n\
         vrrp_instance data {{\n  state BACKUP\n  interface data0\n  virtual_router_id {}\n  \
         priority {}\n  advert_int {advert}\n",
        node.role(),
        v.version,
        // Below 100 ms keepalived needs realtime priority as our advert thread has it. Its
        // RLIMIT_RTTIME watchdog (10 ms by default) SIGKILLs its own VRRP process on a busy
        // machine, so it gets a generous one: we measure VRRP, not that watchdog.
        if v.realtime_priority > 0 && v.advert_interval_ms < 100 {
            format!(
                "  vrrp_rt_priority {}\n  vrrp_rlimit_rtime 1000000\n",
                v.realtime_priority
            )
        } else {
            String::new()
        },
        v.vrid,
        v.priority,
    );
    if !v.preempt {
        s.push_str("  nopreempt\n");
    }
    if v.preempt_delay_ms > 0 {
        let _ = writeln!(s, "  preempt_delay {}", v.preempt_delay_ms as f64 / 1000.0);
    }
    if v.unicast {
        let _ = writeln!(
            s,
            "  unicast_src_ip {}\n  unicast_peer {{\n    {}\n  }}",
            node.data_ip(),
            node.other().data_ip()
        );
    }
    if v.keepalived_check.is_some() {
        s.push_str("  track_script {\n    chk_mediacore\n  }\n");
    }
    let _ = writeln!(s, "  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}");
    if let Some(check) = &v.keepalived_check {
        // keepalived refuses script intervals under 1 s.
        s = format!(
            "vrrp_script chk_mediacore {{\n  script \"{}\"\n  interval 1\n  fall 1\n  rise 1\n}}\n{s}",
            check.display()
        );
    }
    s
}

/// Starts `speaker` on `node` with settings `v`; the log is `<speaker>-<node>.log`.
pub fn start(lab: &Lab, node: Node, speaker: Speaker, v: &Vrrp) -> Proc {
    let name = format!("{}-{}", speaker.name(), node.role());
    match speaker {
        Speaker::Allerta => {
            let run = run_dir(lab, node);
            std::fs::create_dir_all(&run).expect("node run dir");
            let config = lab.write_file(&format!("{name}.toml"), &supervisor_config(node, v, &run));
            if v.components {
                let mut voice = crate::voice::Voice::alert_line(node);
                voice.manager = Some(crate::voice::LAB_MANAGER.into());
                voice.write(&run.join("voice"));
            }
            let bin = prereq::workspace_bin("allerta-supervisor");
            let config = config.to_string_lossy().into_owned();
            lab.spawn(
                node.role(),
                &name,
                &bin,
                &["--config", &config],
                &[("NO_COLOR", "1")],
            )
        }
        Speaker::Keepalived => {
            prereq::require_tools("keepalived interop", &["keepalived"]);
            let config = lab.write_file(&format!("{name}.conf"), &keepalived_config(node, v));
            let pid = lab.dir().join(format!("{name}.pid"));
            let vrrp_pid = lab.dir().join(format!("{name}.vrrp.pid"));
            // A killed keepalived leaves its pid files, naming PIDs that may still exist as
            // zombies; keepalived would then refuse to start ("daemon is already running").
            let _ = std::fs::remove_file(&pid);
            let _ = std::fs::remove_file(&vrrp_pid);
            let bin = prereq::which("keepalived").expect("checked above");
            let args = [
                "--dont-fork".to_string(),
                "--log-console".into(),
                "--log-detail".into(),
                "--vrrp".into(),
                format!("--use-file={}", config.display()),
                format!("--pid={}", pid.display()),
                format!("--vrrp_pid={}", vrrp_pid.display()),
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            lab.spawn(node.role(), &name, &bin, &args, &[])
        }
    }
}

/// Time for a backup to notice a silent master: 3 × interval + Skew_Time, plus `slack`.
pub fn takeover_bound(v: &Vrrp, backup_priority: u8, slack: Duration) -> Duration {
    let int = Duration::from_millis(v.advert_interval_ms);
    3 * int + int * (256 - u32::from(backup_priority)) / 256 + slack
}
