//! Driver: the console's side of the supervisor's contract (`component::contract`):
//! `ping` from this loop, `role` into the watch every part follows, `status` with the
//! console's counters, `drain` at once (the console holds no calls), `reload` (nothing to
//! reload: the certificate follows the database by itself).

use std::sync::atomic::Ordering;

use component::contract::{Request, Response, Role};
use component::server::Call;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::app::App;

/// The `status` answer.
pub fn status(app: &App) -> serde_json::Value {
    let c = &app.counters;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    json!({
        "component": "web",
        "role": app.role.borrow().as_str(),
        "listen": app.config.listen.to_string(),
        "connections_accepted": n(&c.server.accepted),
        "connections_refused_busy": n(&c.server.refused_busy),
        "tls_handshakes_failed": n(&c.server.handshake_failed),
        "sign_ins": n(&c.sign_ins),
        "sign_ins_failed": n(&c.sign_ins_failed),
        "sign_ins_locked_out": n(&c.sign_ins_locked),
        "sessions_refused": n(&c.sessions_refused),
        "forged_requests": n(&c.forged),
        "request_timeouts": n(&c.timeouts),
        "invalid_forms": n(&c.invalid_forms),
        "live_streams": app.hub.watching(),
    })
}

/// Answers the supervisor until the channel closes.
pub async fn answer(app: App, role_tx: watch::Sender<Role>, mut calls: mpsc::Receiver<Call>) {
    while let Some((request, reply)) = calls.recv().await {
        let response = match request {
            Request::Ping(_) => Response::Pong,
            Request::Role(r) => {
                if role_tx.send_if_modified(|cur| std::mem::replace(cur, r) != r) {
                    info!(role = r.as_str(), "role changed");
                }
                Response::RoleSet(r)
            }
            Request::Drain { .. } => Response::Drained { timed_out: false },
            Request::Reload => Response::Reloaded,
            Request::Status => Response::Status(status(&app)),
            Request::Calls => Response::Calls(serde_json::json!({ "calls": [], "more": 0 })),
            Request::Version => Response::Version(component::contract::version_doc("allerta-web")),
        };
        let _ = reply.send(response);
    }
}
