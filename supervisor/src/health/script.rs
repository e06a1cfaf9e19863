//! Driver: user check scripts (keepalived's `vrrp_script`) and the disk-space check, each
//! run every `interval`, their results reported as `HealthEvent`s for `state.rs` to count.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Probe;

/// One raw result of a periodic check.
#[derive(Debug, Clone)]
pub struct HealthEvent {
    pub check: String,
    pub result: Result<(), String>,
}

/// Runs `probe` every `interval` until `cancel`.
pub async fn run(
    name: String,
    probe: Probe,
    interval: Duration,
    events_tx: mpsc::UnboundedSender<HealthEvent>,
    cancel: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let result = match &probe {
            Probe::Script {
                command,
                args,
                timeout,
            } => run_script(command, args, *timeout).await,
            Probe::Disk {
                path,
                min_free_bytes,
            } => check_disk(path, *min_free_bytes),
            Probe::Interface { name } => check_interface(name),
        };
        if events_tx
            .send(HealthEvent {
                check: name.clone(),
                result,
            })
            .is_err()
        {
            return;
        }
    }
}

async fn run_script(command: &PathBuf, args: &[String], timeout: Duration) -> Result<(), String> {
    let mut child = Command::new(command)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", command.display()))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{status}")),
        Ok(Err(e)) => Err(format!("wait: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("timed out after {} ms", timeout.as_millis()))
        }
    }
}

fn check_interface(name: &str) -> Result<(), String> {
    let dir = std::path::Path::new("/sys/class/net").join(name);
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).map(|s| s.trim().to_string());
    let operstate = read("operstate").map_err(|e| format!("interface {name}: {e}"))?;
    // `carrier` cannot be read while the interface is administratively down.
    let carrier = read("carrier").unwrap_or_default();
    if carrier == "1" && (operstate == "up" || operstate == "unknown") {
        Ok(())
    } else {
        Err(format!(
            "interface {name} is {operstate}, carrier {}",
            if carrier == "1" { "on" } else { "off" }
        ))
    }
}

fn check_disk(path: &PathBuf, min_free_bytes: u64) -> Result<(), String> {
    let stat =
        nix::sys::statvfs::statvfs(path).map_err(|e| format!("statvfs {}: {e}", path.display()))?;
    let free = stat.blocks_available() as u64 * stat.fragment_size() as u64;
    if free < min_free_bytes {
        return Err(format!(
            "{} bytes free on {}, need {min_free_bytes}",
            free,
            path.display()
        ));
    }
    Ok(())
}
