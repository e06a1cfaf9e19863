//! Driver: HTTPS on the console's port. Our own accept loop (tokio-rustls and hyper, as
//! axum's low-level TLS example does) rather than a server crate, so the limits are ours
//! and visible here: connections at once in all and per address, the TLS handshake and
//! the request headers within `handshake_timeout`, HTTP/2 streams per connection. A peer
//! gets nothing from the application (no session, no database read) before its TLS
//! handshake and its request are complete; what it may do then is the router's business.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// The address a request came from, for the router (sign-in lockout, the audit).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Connections from one address at most: a browser needs one (HTTP/2), twenty tablets
/// behind one NAT need twenty; one host cannot take every slot.
pub const PER_ADDRESS: usize = 64;

#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    /// Refused at once: the console or the address was at its limit.
    pub refused_busy: AtomicU64,
    /// No TLS session within the handshake timeout, or a failed handshake.
    pub handshake_failed: AtomicU64,
}

pub struct Limits {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
}

/// Connections per address, released when a connection ends.
#[derive(Default)]
struct Slots {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

struct Slot {
    slots: Arc<Mutex<Slots>>,
    ip: IpAddr,
}

impl Slot {
    fn take(slots: &Arc<Mutex<Slots>>, ip: IpAddr, max: usize) -> Option<Self> {
        let mut s = slots.lock().ok()?;
        let mine = s.by_address.get(&ip).copied().unwrap_or(0);
        if s.total >= max || mine >= PER_ADDRESS {
            return None;
        }
        s.total += 1;
        *s.by_address.entry(ip).or_default() += 1;
        Some(Self {
            slots: slots.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut s) = self.slots.lock() {
            s.total -= 1;
            if let Some(n) = s.by_address.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    s.by_address.remove(&self.ip);
                }
            }
        }
    }
}

/// Serves `app` over TLS on `listener` until `cancel`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: Limits,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let slots = Arc::new(Mutex::new(Slots::default()));
    loop {
        let (stream, addr) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, mostly: wait rather than spin.
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = Slot::take(&slots, addr.ip(), limits.max_connections) else {
            counters.refused_busy.fetch_add(1, Ordering::Relaxed);
            continue; // dropped: the peer sees its connection closed
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let (acceptor, app, counters, cancel) = (
            acceptor.clone(),
            app.clone(),
            counters.clone(),
            cancel.clone(),
        );
        let handshake_timeout = limits.handshake_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    counters.handshake_failed.fetch_add(1, Ordering::Relaxed);
                    debug!(%addr, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    counters.handshake_failed.fetch_add(1, Ordering::Relaxed);
                    debug!(%addr, "no TLS handshake in time");
                    return;
                }
            };
            let app = app.layer(axum::Extension(Peer(addr)));
            let service = TowerToHyperService::new(app);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(handshake_timeout)
                .max_buf_size(64 * 1024);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(64)
                .max_header_list_size(32 * 1024)
                // A browser that vanished (its node went away with the VIP) is noticed.
                .keep_alive_interval(Some(Duration::from_secs(20)))
                .keep_alive_timeout(Duration::from_secs(10));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        debug!(%addr, error = %e, "connection ended");
                    }
                }
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
    }
}
