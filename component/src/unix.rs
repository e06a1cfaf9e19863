//! Driver: the Unix-socket listeners of the supervisor's control socket and of every
//! component's contract socket: root only, a stale socket replaced, one task per
//! connection, and an accept loop that outlives a bad moment.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

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
