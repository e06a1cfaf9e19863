//! Driver: the component side of the control contract (see `contract.rs`): listens on the
//! control socket and hands every request to the component's own event loop, which answers
//! through the oneshot. Only I/O here: a stuck component loop leaves `ping` unanswered.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::contract::{Request, Response, MAX_LINE};

/// One request for the component's loop, with where to send the answer.
pub type Call = (Request, oneshot::Sender<Response>);

/// Binds the control socket (replacing a stale one) with mode 0600.
pub use crate::unix::bind;

/// Serves connections until `cancel`; each request goes to `calls_tx`.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    calls_tx: mpsc::Sender<Call>,
    cancel: CancellationToken,
) {
    let conn_cancel = cancel.clone();
    crate::unix::accept_loop(listener, path, cancel, move |stream| {
        connection(stream, calls_tx.clone(), conn_cancel.clone())
    })
    .await;
}

async fn connection(stream: UnixStream, calls_tx: mpsc::Sender<Call>, cancel: CancellationToken) {
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd);
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::select! {
            _ = cancel.cancelled() => return,
            read = lines.read_line(&mut line) => read,
        };
        match read {
            Ok(0) => return,
            Ok(_) if line.len() > MAX_LINE => {
                let _ = wr
                    .write_all(Response::Error("line too long".into()).encode().as_bytes())
                    .await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                debug!(error = %e, "control connection closed");
                return;
            }
        }
        let response = match Request::decode(line.trim_end()) {
            Ok(request) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                if calls_tx.send((request, reply_tx)).await.is_err() {
                    return; // the component is shutting down
                }
                match reply_rx.await {
                    Ok(response) => response,
                    Err(_) => return,
                }
            }
            Err(reason) => {
                warn!(%reason, "bad control request");
                Response::Error(reason.to_string())
            }
        };
        if wr.write_all(response.encode().as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The whole control loop of a component that has no work of its own yet (the media core
/// and the sync agent until their issues land): answers the contract from its main loop,
/// logs role changes, and ends on SIGTERM or SIGINT.
pub async fn run_minimal(component: &str, control: &Path) -> io::Result<()> {
    use super::contract::Role;
    use tokio::signal::unix::{signal, SignalKind};
    let listener = bind(control)?;
    let (calls_tx, mut calls_rx) = mpsc::channel::<Call>(16);
    let cancel = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        control.to_path_buf(),
        calls_tx,
        cancel.clone(),
    ));
    let (mut term, mut int) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    );
    let mut role = Role::Backup;
    info!(component, "ready (role backup until told otherwise)");
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            Some((request, reply)) = calls_rx.recv() => {
                let response = match request {
                    Request::Ping(_) => Response::Pong,
                    Request::Role(r) => {
                        if r != role {
                            info!(component, role = r.as_str(), "role changed");
                            role = r;
                        }
                        Response::RoleSet(r)
                    }
                    Request::Drain { .. } => Response::Drained { timed_out: false },
                    Request::Reload => Response::Reloaded,
                    Request::Status => Response::Status(serde_json::json!({
                        "component": component,
                        "role": role.as_str(),
                    })),
                    Request::Calls => Response::Calls(serde_json::json!({ "calls": [], "more": 0 })),
                    Request::Version => Response::Version(crate::contract::version_doc(component)),
                };
                let _ = reply.send(response);
            }
        }
    }
    info!(component, "stopping");
    cancel.cancel();
    let _ = server.await;
    Ok(())
}
