//! Prometheus text exposition of the status (pure `render`), and the small HTTP endpoint that
//! serves it (`GET /metrics`) with the same status as JSON (`GET /status`, which the peer
//! asks before a switchover). The figures are the ones `allertactl status` shows.

use std::fmt::Write as _;
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
use crate::vrrp::machine::State;

/// Renders `status` in the Prometheus text format.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(
            out,
            "# HELP allerta_{name} {help}\n# TYPE allerta_{name} {kind}"
        );
        for (labels, value) in samples {
            let _ = writeln!(out, "allerta_{name}{labels} {value}");
        }
    };
    let node = &status.node;
    let per_instance = |f: &dyn Fn(&crate::vrrp::status::InstanceStatus) -> f64| {
        status
            .instances
            .iter()
            .map(|i| (format!("{{node=\"{node}\",instance=\"{}\"}}", i.name), f(i)))
            .collect::<Vec<_>>()
    };
    let state_num = |s: State| match s {
        State::Initialize => 0.0,
        State::Backup => 1.0,
        State::Master => 2.0,
        State::Fault => 3.0,
    };
    metric(
        "vrrp_state",
        "0 initialize, 1 backup, 2 master, 3 fault",
        "gauge",
        per_instance(&|i| state_num(i.state)),
    );
    metric(
        "vrrp_priority",
        "priority advertised now",
        "gauge",
        per_instance(&|i| f64::from(i.priority)),
    );
    metric(
        "vrrp_adverts_sent_total",
        "adverts sent",
        "counter",
        per_instance(&|i| i.stats.adverts_sent as f64),
    );
    metric(
        "vrrp_adverts_received_total",
        "adverts received and accepted",
        "counter",
        per_instance(&|i| i.stats.adverts_received as f64),
    );
    let dropped: Vec<(String, f64)> = status
        .instances
        .iter()
        .flat_map(|i| {
            [
                ("malformed", i.stats.dropped_malformed),
                ("not_from_peer", i.stats.dropped_not_from_peer),
            ]
            .map(|(cause, n)| {
                (
                    format!(
                        "{{node=\"{node}\",instance=\"{}\",cause=\"{cause}\"}}",
                        i.name
                    ),
                    n as f64,
                )
            })
        })
        .collect();
    metric(
        "vrrp_adverts_dropped_total",
        "adverts dropped, by cause",
        "counter",
        dropped,
    );
    metric(
        "maintenance",
        "1 while in maintenance",
        "gauge",
        vec![(
            format!("{{node=\"{node}\"}}"),
            f64::from(u8::from(status.maintenance)),
        )],
    );
    metric(
        "transitions_total",
        "transitions to or from master",
        "counter",
        vec![(
            format!("{{node=\"{node}\"}}"),
            status.transitions_total as f64,
        )],
    );
    let mut by_reason: std::collections::BTreeMap<&str, u64> = Default::default();
    for t in &status.last_transitions {
        *by_reason.entry(t.reason.as_str()).or_default() += 1;
    }
    metric(
        "recent_transitions",
        "the last 10 transitions, by reason",
        "gauge",
        by_reason
            .into_iter()
            .map(|(r, n)| (format!("{{node=\"{node}\",reason=\"{r}\"}}"), n as f64))
            .collect(),
    );
    let health = |kind: &str, list: &[crate::control::protocol::CheckStatus]| {
        list.iter()
            .map(|c| {
                (
                    format!("{{node=\"{node}\",{kind}=\"{}\"}}", c.name),
                    f64::from(u8::from(c.up)),
                )
            })
            .collect::<Vec<_>>()
    };
    metric(
        "component_up",
        "1 while the component is healthy",
        "gauge",
        health("component", &status.components),
    );
    metric(
        "check_up",
        "1 while the check passes",
        "gauge",
        health("check", &status.checks),
    );
    // A component that reports configuration files which did not load (the media core's
    // `config_alarms`): the running configuration stays in force, but the operator must act.
    let alarms: Vec<(String, f64)> = status
        .component_status
        .iter()
        .map(|(name, s)| {
            let n = s
                .get("config_alarms")
                .and_then(|a| a.as_array())
                .map_or(0, Vec::len);
            (
                format!("{{node=\"{node}\",component=\"{name}\"}}"),
                n as f64,
            )
        })
        .collect();
    if !alarms.is_empty() {
        metric(
            "config_alarms",
            "configuration files that changed and did not load (the running ones stay in force)",
            "gauge",
            alarms,
        );
    }
    if let Some(a) = status.availability.as_ref().filter(|a| a.up.is_some()) {
        metric(
            "service_up",
            "1 while the service answers as a client sees it (the availability probe)",
            "gauge",
            vec![(
                format!("{{node=\"{node}\",service=\"{}\"}}", a.service),
                f64::from(u8::from(a.up == Some(true))),
            )],
        );
    }
    out
}

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
                    ("200 OK", "text/plain; version=0.0.4", render(&s))
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
