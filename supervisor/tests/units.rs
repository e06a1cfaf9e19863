//! The unit files in `systemd/`: `systemd-analyze verify` finds nothing to say about them
//! (unknown keys, missing dependencies, bad values), and the supervisor's keeps the
//! properties the appliance depends on. They are verified in a scratch root holding the
//! host's own system units and stand-ins for our binaries, so nothing is installed.
//! Booting them for real is the QEMU smoke's job (`vmware/smoke.sh`): no systemd runs as
//! PID 1 here.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const UNITS: [&str; 3] = [
    "allerta-supervisor.service",
    "allerta-firstboot.service",
    "allerta-console.service",
];

fn unit(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../systemd")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `key=value` lines of a unit, comments dropped.
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn value(text: &str, key: &str) -> String {
    let values: Vec<_> = settings(text)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values.len(), 1, "{key}: {values:?}");
    values[0].clone()
}

fn scratch_root() -> PathBuf {
    let root = std::env::temp_dir().join(format!("allerta-units-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    let status = Command::new("cp")
        .args(["-a", "/usr/lib/systemd/system"])
        .arg(root.join("usr/lib/systemd"))
        .status()
        .unwrap();
    assert!(status.success(), "copying the host's system units");
    // Our binaries, and kill for ExecReload= (procps, in the image's package list).
    fs::create_dir_all(root.join("bin")).unwrap();
    for bin in [
        "usr/bin/allerta-supervisor",
        "usr/bin/allerta-firstboot",
        "usr/bin/allertactl",
        "bin/kill",
    ] {
        let path = root.join(bin);
        fs::write(&path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for name in UNITS {
        fs::write(root.join("etc/systemd/system").join(name), unit(name)).unwrap();
    }
    root
}

#[test]
fn systemd_analyze_verify_has_nothing_to_say() {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found,
        "needs systemd-analyze (Debian package systemd; `./allerta setup` installs it)"
    );
    let root = scratch_root();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("--man=no")
        .args(UNITS.map(|u| root.join("etc/systemd/system").join(u)))
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn the_supervisor_unit_keeps_what_the_appliance_relies_on() {
    let text = unit("allerta-supervisor.service");
    assert_eq!(value(&text, "Type"), "notify");
    assert_eq!(value(&text, "WatchdogSec"), "5s");
    assert_eq!(value(&text, "Restart"), "always");
    // The supervisor stops its components itself; see the unit's comment.
    assert_eq!(value(&text, "KillMode"), "process");
    let caps = "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE";
    assert_eq!(value(&text, "CapabilityBoundingSet"), caps);
    assert_eq!(value(&text, "AmbientCapabilities"), caps);
    for (key, want) in [
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
    ] {
        assert_eq!(value(&text, key), want, "{key}");
    }
    // Each path a service writes: database and state, sockets, the replicated tree (the
    // sync agent applies it on the backup, the media core records prompts on the master),
    // the call-file spool.
    let writable: Vec<String> = value(&text, "ReadWritePaths")
        .split_whitespace()
        .map(|p| p.trim_start_matches('-').to_owned())
        .collect();
    for path in [
        "/var/lib/allerta",
        "/run/allerta",
        "/etc/allerta/shared",
        "/var/spool/allerta",
    ] {
        assert!(
            writable.iter().any(|w| w == path),
            "ReadWritePaths lacks {path}"
        );
    }
    assert!(
        !writable
            .iter()
            .any(|w| w == "/etc/allerta" || w == "/etc/allerta/node"),
        "node-local configuration must stay read-only: {writable:?}"
    );
    // `systemctl reload` reaches the components (the supervisor forwards SIGHUP).
    assert_eq!(value(&text, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert!(value(&text, "After").contains("allerta-firstboot.service"));
}

#[test]
fn first_boot_runs_before_networking_and_shows_its_errors() {
    let text = unit("allerta-firstboot.service");
    assert_eq!(value(&text, "Type"), "oneshot");
    assert_eq!(value(&text, "DefaultDependencies"), "no");
    let before: Vec<String> = settings(&text)
        .into_iter()
        .filter(|(k, _)| k == "Before")
        .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    for unit in [
        "network-pre.target",
        "systemd-networkd.service",
        "allerta-supervisor.service",
    ] {
        assert!(before.iter().any(|b| b == unit), "Before= lacks {unit}");
    }
    assert_eq!(
        value(&text, "ExecStart"),
        "/usr/bin/allerta-firstboot --console /dev/console $ALLERTA_FIRSTBOOT_ARGS"
    );
    assert_eq!(value(&text, "DeviceAllow"), "/dev/console w");
}

#[test]
fn the_console_unit_says_the_problems_on_the_console() {
    let text = unit("allerta-console.service");
    // The program writes the screen itself (firstboot::console): journald's console copy
    // goes to the serial port.
    assert_eq!(
        value(&text, "ExecStart"),
        "/usr/bin/allertactl problems --follow --console /dev/console"
    );
    assert_eq!(value(&text, "StandardOutput"), "journal");
    assert_eq!(value(&text, "DeviceAllow"), "/dev/console w");
    assert_eq!(value(&text, "Restart"), "always");
    assert!(value(&text, "After").contains("allerta-supervisor.service"));
    // It only reads the supervisor's socket: no capability, no network.
    assert_eq!(value(&text, "CapabilityBoundingSet"), "");
    assert_eq!(value(&text, "RestrictAddressFamilies"), "AF_UNIX");
}
