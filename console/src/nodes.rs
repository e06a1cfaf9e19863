//! Driver: the two supervisors' `/status` (plain HTTP on each node's data address, what
//! `allertactl` and the peer's supervisor read too), asked at most once a second however
//! many browsers look, and turned into the pair's view by `pair`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::pair::{self, PairView};

/// A status document is a few kilobytes; more is not a supervisor's.
const MAX_STATUS: u64 = 1024 * 1024;
const ASK_TIMEOUT: Duration = Duration::from_millis(800);
const FRESH_FOR: Duration = Duration::from_secs(1);

pub struct Nodes {
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    cached: Mutex<Option<(Instant, PairView)>>,
}

impl Nodes {
    pub fn new(local: Option<SocketAddr>, peer: Option<SocketAddr>) -> Self {
        Self {
            local,
            peer,
            cached: Mutex::new(None),
        }
    }

    /// The pair now (at most a second old).
    pub async fn view(&self) -> PairView {
        let mut cached = self.cached.lock().await;
        if let Some((at, view)) = cached.as_ref() {
            if at.elapsed() < FRESH_FOR {
                return view.clone();
            }
        }
        let (local, peer) = tokio::join!(ask(self.local), async {
            match self.peer {
                Some(p) => Some(ask(Some(p)).await),
                None => None,
            }
        });
        let view = pair::pair(as_input(&local), peer.as_ref().map(as_input));
        *cached = Some((Instant::now(), view.clone()));
        view
    }
}

fn as_input(r: &(String, Result<Value, String>)) -> Result<&Value, (&str, &str)> {
    match &r.1 {
        Ok(v) => Ok(v),
        Err(e) => Err((r.0.as_str(), e.as_str())),
    }
}

/// (what was asked, its status or why not).
async fn ask(addr: Option<SocketAddr>) -> (String, Result<Value, String>) {
    let Some(addr) = addr else {
        return (
            "this node".into(),
            Err("no supervisor status address (supervisor.metrics_bind)".into()),
        );
    };
    let fetch = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("not answering: {e}"))?;
        stream
            .write_all(b"GET /status HTTP/1.0\r\nHost: allerta\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut body = Vec::new();
        (&mut stream)
            .take(MAX_STATUS)
            .read_to_end(&mut body)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&body);
        let (_, json) = text.split_once("\r\n\r\n").ok_or("no HTTP body")?;
        serde_json::from_str::<Value>(json).map_err(|e| format!("status: {e}"))
    };
    let result = tokio::time::timeout(ASK_TIMEOUT, fetch)
        .await
        .unwrap_or_else(|_| Err(format!("no answer in {} ms", ASK_TIMEOUT.as_millis())));
    (addr.to_string(), result)
}
