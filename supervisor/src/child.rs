//! Driver: one wrapped component: starts it as a child process, learns of its exit at once
//! (SIGCHLD, not polling), restarts it with exponential backoff, probes it for hangs over the
//! control contract, and tells it its role.
#![allow(unsafe_code)] // Command::pre_exec, see spawn_child

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use component::client::ControlClient;
use component::contract::{Request, Response, Role};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::ComponentConfig;
use crate::vrrp::driver::AdvertStamps;

/// What a component task reports to the supervisor.
#[derive(Debug, Clone)]
pub enum ComponentEvent {
    Started {
        name: String,
        pid: u32,
    },
    /// The process exited (or could not be started): a failure that counts at once.
    Exited {
        name: String,
        reason: String,
    },
    Probe {
        name: String,
        result: Result<(), String>,
    },
    RoleAcknowledged {
        name: String,
        role: Role,
        after: Duration,
    },
    RoleFailed {
        name: String,
        role: Role,
        reason: String,
    },
    /// The component's `status` answer, asked once a second.
    Status {
        name: String,
        status: serde_json::Value,
    },
    /// What the component says it is, asked once after each start ("0.2.0, contract 2";
    /// "contract 1" from a component that predates the `version` request).
    Version {
        name: String,
        version: String,
    },
}

/// A component's `version` answer for a person: "0.2.0, contract 2".
fn describe_version(doc: &serde_json::Value) -> String {
    format!(
        "{}, contract {}",
        doc["version"].as_str().unwrap_or("?"),
        doc["contract"].as_u64().unwrap_or(0)
    )
}

/// How often a component is asked for its status.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Runs the component until `cancel`; then stops it (SIGTERM, then SIGKILL after 5 s).
pub async fn run(
    cfg: ComponentConfig,
    mut role_rx: watch::Receiver<Role>,
    adverts: Option<Arc<AdvertStamps>>,
    events_tx: mpsc::UnboundedSender<ComponentEvent>,
    cancel: CancellationToken,
) {
    let name = cfg.name.clone();
    let mut backoff = cfg.restart_min;
    loop {
        let started = Instant::now();
        let mut child = match spawn_child(&cfg) {
            Ok(child) => child,
            Err(e) => {
                let _ = events_tx.send(ComponentEvent::Exited {
                    name: name.clone(),
                    reason: format!("cannot start: {e}"),
                });
                if sleep_or_cancel(backoff, &cancel).await {
                    return;
                }
                backoff = (backoff * 2).min(cfg.restart_max);
                continue;
            }
        };
        let pid = child.id().unwrap_or_default();
        info!(component = %name, pid, "component started");
        let _ = events_tx.send(ComponentEvent::Started {
            name: name.clone(),
            pid,
        });
        let mut client = ControlClient::new(cfg.control_socket.clone());
        let mut probe = tokio::time::interval(cfg.probe_interval);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut in_grace = true;
        // Answered a probe at least once since this start: it came up healthy.
        let mut was_healthy = false;
        let mut last_status = Instant::now() - STATUS_EVERY;
        let mut version_asked = false;
        // A (re)started component learns the current role first.
        let mut role_pending = true;
        // The last answered probe. After a lapse (the component or we ourselves were
        // stalled: SIGSTOP, a frozen VM) the role is told again: the component may have
        // missed a change. (What keeps a stalled master's media core from dialling is
        // not this but the advert stamps on every ping: `contract::Adverts`.)
        let mut last_answer = Instant::now();
        let exit = loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    stop(&name, &mut child).await;
                    return;
                }
                status = child.wait() => break match status {
                    Ok(s) => format!("exited: {s}"),
                    Err(e) => format!("wait failed: {e}"),
                },
                changed = role_rx.changed() => {
                    if changed.is_err() { stop(&name, &mut child).await; return; }
                    role_pending = true;
                }
                _ = probe.tick() => {
                    let result = match client.call(&Request::Ping(Some(adverts.as_ref().map(|a| a.read()).unwrap_or_default())), cfg.probe_timeout).await {
                        Ok(Response::Pong) => Ok(()),
                        Ok(other) => Err(format!("answered {other:?} to ping")),
                        Err(e) => Err(component::error::chain(&e)),
                    };
                    if result.is_ok() {
                        in_grace = false;
                        was_healthy = true;
                        if last_answer.elapsed() > 3 * cfg.probe_interval + cfg.probe_timeout {
                            role_pending = true;
                        }
                        last_answer = Instant::now();
                    }
                    if in_grace && started.elapsed() < cfg.start_grace {
                        continue;
                    }
                    in_grace = false;
                    let healthy = result.is_ok();
                    let _ = events_tx.send(ComponentEvent::Probe { name: name.clone(), result });
                    if healthy && !version_asked {
                        version_asked = true;
                        let version = match client.call(&Request::Version, cfg.probe_timeout).await {
                            Ok(Response::Version(doc)) => Some(describe_version(&doc)),
                            // An older component (a rolling upgrade): the contract it speaks.
                            Ok(Response::Error(_)) => Some("contract 1".to_owned()),
                            _ => None,
                        };
                        if let Some(version) = version {
                            let _ = events_tx.send(ComponentEvent::Version { name: name.clone(), version });
                        } else {
                            version_asked = false;
                        }
                    }
                    if healthy && last_status.elapsed() >= STATUS_EVERY {
                        last_status = Instant::now();
                        if let Ok(Response::Status(status)) = client.call(&Request::Status, cfg.probe_timeout).await {
                            let _ = events_tx.send(ComponentEvent::Status { name: name.clone(), status });
                        }
                    }
                }
            }
            if role_pending && !in_grace {
                role_pending = false;
                let role = *role_rx.borrow_and_update();
                let asked = Instant::now();
                let event = match client
                    .call(
                        &Request::Role(role),
                        cfg.probe_timeout.max(Duration::from_secs(1)),
                    )
                    .await
                {
                    Ok(Response::RoleSet(r)) if r == role => ComponentEvent::RoleAcknowledged {
                        name: name.clone(),
                        role,
                        after: asked.elapsed(),
                    },
                    Ok(other) => {
                        role_pending = true; // try again on the next probe
                        ComponentEvent::RoleFailed {
                            name: name.clone(),
                            role,
                            reason: format!("answered {other:?}"),
                        }
                    }
                    Err(reason) => {
                        role_pending = true; // try again on the next probe
                        ComponentEvent::RoleFailed {
                            name: name.clone(),
                            role,
                            reason: component::error::chain(&reason),
                        }
                    }
                };
                let _ = events_tx.send(event);
            }
        };
        warn!(component = %name, pid, reason = %exit, "component exited");
        let _ = events_tx.send(ComponentEvent::Exited {
            name: name.clone(),
            reason: exit,
        });
        // A component that came up healthy and later died restarts at once; one that dies
        // before it ever answers (a crash loop, a broken binary) backs off exponentially.
        if was_healthy && started.elapsed() > Duration::from_secs(1) {
            backoff = cfg.restart_min;
        }
        if sleep_or_cancel(backoff, &cancel).await {
            return;
        }
        backoff = (backoff * 2).min(cfg.restart_max);
    }
}

/// Sleeps; true if cancelled meanwhile.
async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

fn spawn_child(cfg: &ComponentConfig) -> std::io::Result<Child> {
    let mut cmd = Command::new(&cfg.command);
    cmd.args(&cfg.args)
        .arg("--control")
        .arg(&cfg.control_socket)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    // SAFETY: the closure runs in the child between fork and exec and only makes the
    // prctl(PR_SET_PDEATHSIG) system call, which is async-signal-safe. It makes the kernel
    // send SIGTERM to the component if the supervisor dies (even by SIGKILL), so a
    // restarted supervisor never finds an orphan holding the control socket.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
}

async fn stop(name: &str, child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_ok()
        {
            info!(component = %name, pid, "component stopped");
            return;
        }
        warn!(component = %name, pid, "component ignored SIGTERM for 5 s; killing it");
    }
    let _ = child.kill().await;
}
