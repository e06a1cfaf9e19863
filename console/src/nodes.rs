//! Driver: the two supervisors' `/status` (plain HTTP on each node's data address, what
//! `allertactl` and the peer's supervisor read too), asked at most once a second however
//! many browsers look, and turned into the pair's view by `pair`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;

use crate::pair::{self, PairView};

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
    let result = component::status_fetch::status_body(addr, ASK_TIMEOUT)
        .await
        .and_then(|body| serde_json::from_str::<Value>(&body).map_err(|e| format!("status: {e}")));
    (addr.to_string(), result)
}
