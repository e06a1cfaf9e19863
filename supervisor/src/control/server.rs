//! Driver: the supervisor's control socket. Each request is handed to the supervise loop,
//! which answers through the oneshot; this only moves lines.

use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use component::unix;

use super::protocol::{Request, Response, MAX_LINE};

pub type Call = (Request, oneshot::Sender<Response>);

pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    calls_tx: mpsc::Sender<Call>,
    cancel: CancellationToken,
) {
    unix::accept_loop(listener, path, cancel, move |stream| {
        connection(stream, calls_tx.clone())
    })
    .await;
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
