//! Driver: the supervisor's control socket. Each request is handed to the supervise loop,
//! which answers through the oneshot; this only moves lines.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::protocol::{Request, Response, MAX_LINE};

pub type Call = (Request, oneshot::Sender<Response>);

/// Binds the socket, root only (mode 0600), replacing a stale one.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    info!(path = %path.display(), "control socket listening");
    Ok(listener)
}

pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    calls_tx: mpsc::Sender<Call>,
    cancel: CancellationToken,
) {
    accept_loop(listener, path, cancel, move |stream| {
        connection(stream, calls_tx.clone())
    })
    .await;
}

/// Accepts connections until `cancel`, one task each, and removes the socket file at the
/// end. Accept errors (EMFILE and the like) are logged and waited out, never fatal: the
/// control socket and the component contract must outlive a bad moment.
pub async fn accept_loop<F, Fut>(
    listener: UnixListener,
    path: PathBuf,
    cancel: CancellationToken,
    mut on_stream: F,
) where
    F: FnMut(UnixStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => { connections.spawn(on_stream(stream)); }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let _ = std::fs::remove_file(&path);
}

async fn connection(stream: UnixStream, calls_tx: mpsc::Sender<Call>) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    loop {
        line.clear();
        match rd.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(n) if n > MAX_LINE => return,
            Ok(_) => {}
        }
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                if calls_tx.send((request, reply_tx)).await.is_err() {
                    return;
                }
                match reply_rx.await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
            Err(e) => {
                warn!(error = %e, "bad control request");
                Response::Refused {
                    message: format!("bad request: {e}"),
                }
            }
        };
        let mut text = serde_json::to_string(&response)
            .unwrap_or_else(|e| format!("{{\"response\":\"refused\",\"message\":\"{e}\"}}"));
        text.push('\n');
        if wr.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
}
