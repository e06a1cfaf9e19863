//! Driver: systemd's notify protocol (sd_notify(3)): READY=1 once the first role is known,
//! STATUS= with the role, WATCHDOG=1 every half WatchdogSec, STOPPING=1. It is one datagram
//! to `$NOTIFY_SOCKET`, so we send it ourselves rather than add a crate. Outside systemd
//! (no `$NOTIFY_SOCKET`) every call does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

fn send(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr));
    if let Err(e) = sent {
        tracing::warn!(error = %e, %path, "sd_notify failed");
    }
}

pub fn ready() {
    send("READY=1");
}

pub fn stopping() {
    send("STOPPING=1");
}

pub fn status(text: &str) {
    send(&format!("STATUS={}", text.replace('\n', " ")));
}

pub fn watchdog() {
    if watchdog_interval().is_some() {
        send("WATCHDOG=1");
    }
}

/// Half of WatchdogSec, if systemd watches this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
