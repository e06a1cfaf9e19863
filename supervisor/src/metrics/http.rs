//! The small HTTP endpoint that serves the status as metrics (`GET /metrics`) and as JSON
//! (`GET /status`, which the peer asks before a switchover).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::control::protocol::{Request, Response, Status};
use crate::control::server::Call;

/// Serves `/metrics` and `/status` until `cancel`.
pub async fn serve(
    bind: SocketAddr,
    calls_tx: mpsc::Sender<Call>,
    cancel: CancellationToken,
) -> io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    info!(addr = %listener.local_addr()?, "metrics listening");
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                // Beyond the cap a connection is closed unanswered: scrapes and the peer's
                // status checks are a handful at a time, a flood is not served.
                Ok(_) if connections.len() >= MAX_CONNECTIONS => {}
                Ok((stream, _)) => {
                    let calls_tx = calls_tx.clone();
                    connections.spawn(async move {
                        let _ = tokio::time::timeout(ANSWER_WITHIN, respond(stream, calls_tx)).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Connections served at once.
const MAX_CONNECTIONS: usize = 32;
/// How long one connection may take, from accept to the last byte written.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

async fn respond(mut stream: TcpStream, calls_tx: mpsc::Sender<Call>) {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    let read = tokio::time::timeout(Duration::from_secs(2), async {
        while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
            match stream.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => len += n,
            }
        }
        true
    })
    .await;
    if !matches!(read, Ok(true)) {
        return;
    }
    let request_line = String::from_utf8_lossy(&buf[..len])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, content_type, body) = match path {
        "/metrics" | "/status" => {
            let (reply_tx, reply_rx) = oneshot::channel();
            if calls_tx.send((Request::Status, reply_tx)).await.is_err() {
                return;
            }
            match reply_rx.await {
                Ok(Response::Status(s)) if path == "/metrics" => {
                    ("200 OK", super::CONTENT_TYPE, super::render(&s))
                }
                Ok(Response::Status(s)) => (
                    "200 OK",
                    "application/json",
                    status_json(&s, component::localtime::now_ms()),
                ),
                _ => (
                    "503 Service Unavailable",
                    "text/plain",
                    "status unavailable\n".into(),
                ),
            }
        }
        _ => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /status\n".into(),
        ),
    };
    let head = format!("HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
}

/// `/status`: the status, with the alarms an operator must act on (`allertactl problems`)
/// under `alarms`, so the web console shows the supervisor's own list.
fn status_json(status: &Status, now_ms: u64) -> String {
    let mut v = serde_json::to_value(status).unwrap_or_default();
    let alarms: Vec<_> = crate::alarms::of(status, now_ms)
        .into_iter()
        .map(|a| serde_json::json!({ "key": a.key, "text": a.text }))
        .collect();
    if let Some(map) = v.as_object_mut() {
        map.insert("alarms".into(), alarms.into());
    }
    v.to_string()
}

/// Fetches the peer's `/status` (for switchover and promote checks).
pub async fn fetch_status(addr: SocketAddr, timeout: Duration) -> Result<Status, String> {
    let body = component::status_fetch::status_body(addr, timeout).await?;
    serde_json::from_str::<Status>(&body).map_err(|e| format!("peer status: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    async fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn idle_connections_are_capped_and_timed_out_and_scrapes_go_on() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (calls_tx, mut calls_rx) = mpsc::channel::<Call>(8);
        tokio::spawn(async move {
            // No status to give: the endpoint answers 503, which is enough to see it answer.
            while let Some((_, reply)) = calls_rx.recv().await {
                let _ = reply.send(Response::Refused {
                    message: "none".into(),
                });
            }
        });
        let cancel = CancellationToken::new();
        tokio::spawn(serve(addr, calls_tx, cancel.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(get(addr).await.starts_with("HTTP/1.0 503"));

        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let turned_away = get(addr).await;
        assert_eq!(turned_away, "", "closed unanswered beyond the cap");
        assert!(started.elapsed() < Duration::from_secs(1));

        let mut first = idle.remove(0);
        let mut byte = [0u8; 1];
        let held = tokio::time::timeout(Duration::from_secs(8), first.read(&mut byte)).await;
        assert!(
            matches!(held, Ok(Ok(0)) | Ok(Err(_))),
            "an idle connection is closed within {ANSWER_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(get(addr).await.starts_with("HTTP/1.0 503"), "served again");
        cancel.cancel();
    }
}
