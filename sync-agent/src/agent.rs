//! Driver: the agent's main loop. It answers the supervisor's control contract (ping,
//! role, drain, status) from its own loop, and runs the tasks of the current role:
//!
//! ```text
//!            control socket ──▶ main loop ──role──▶ Master: watch thread (journals the tree)
//!   writers' wake datagrams ──▶ node.wake            sender loop: connect → TLS → run_sender
//!                                                 Backup: listener: accept → TLS → run_receiver
//! ```
//! A role change cancels the old role's tasks, waits for them (a session ends at its next
//! message boundary), then starts the new ones; becoming master starts a new generation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use component::contract::{Request, Response, Role};
use component::log_budget::LogBudget;
use component::server::{self, Call};
use tokio::net::{TcpListener, TcpStream, UnixDatagram};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::node::Node;
use crate::peer;
use crate::watch;
use journal;

/// Runs until SIGTERM or SIGINT.
pub async fn run(node: Arc<Node>, control: PathBuf, initial: Option<Role>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = server::bind(&control)?;
    let (calls_tx, mut calls_rx) = mpsc::channel::<Call>(16);
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(server::serve(
        listener,
        control,
        calls_tx,
        cancel.child_token(),
    ));
    match bind_wake(&node) {
        Ok(sock) => {
            tasks.spawn(wake_loop(Arc::clone(&node), sock, cancel.child_token()));
        }
        Err(e) => {
            warn!(path = %node.cfg.wake_socket.display(), error = %e, "no wake socket; writers are seen by polling")
        }
    }
    tasks.spawn(checkpoint_loop(Arc::clone(&node), cancel.child_token()));
    let (mut term, mut int) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    );
    let mut current: Option<(Role, CancellationToken, TaskTracker)> = None;
    if let Some(role) = initial {
        current = Some(start_role(&node, role, &cancel));
    }
    info!(node = %node.cfg.node, "sync agent ready");
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            Some((request, reply)) = calls_rx.recv() => {
                let response = match request {
                    Request::Ping(_) => Response::Pong,
                    // Its inputs are watched as they change; its own settings need a
                    // restart (they include the sockets it listens on).
                    Request::Reload => Response::Reloaded,
                    Request::Role(role) => {
                        if current.as_ref().map(|c| c.0) != Some(role) {
                            if let Some((_, token, role_tasks)) = current.take() {
                                stop_role(token, role_tasks).await;
                            }
                            current = Some(start_role(&node, role, &cancel));
                        }
                        Response::RoleSet(role)
                    }
                    Request::Drain { secs } => {
                        // Answered later, so the loop keeps answering pings meanwhile.
                        let node = Arc::clone(&node);
                        tasks.spawn(async move {
                            let timed_out = !drain(&node, Duration::from_secs(u64::from(secs))).await;
                            let _ = reply.send(Response::Drained { timed_out });
                        });
                        continue;
                    }
                    Request::Status => Response::Status(node.status().to_json(Instant::now(), node.cfg.stale_after)),
                    Request::Calls => Response::Calls(serde_json::json!({ "calls": [], "more": 0 })),
                    Request::Version => Response::Version(component::contract::version_doc("allerta-sync")),
                };
                let _ = reply.send(response);
            }
        }
    }
    info!("stopping");
    if let Some((_, token, role_tasks)) = current.take() {
        stop_role(token, role_tasks).await;
    }
    cancel.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), tasks.wait()).await;
    Ok(())
}

/// Waits until the backup acknowledged everything (true) or `limit` passed (false).
async fn drain(node: &Node, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        {
            let st = node.status();
            if st.role != Some("master") || (st.peer.is_some() && st.lag_records() == 0) {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn start_role(
    node: &Arc<Node>,
    role: Role,
    cancel: &CancellationToken,
) -> (Role, CancellationToken, TaskTracker) {
    let token = cancel.child_token();
    let tasks = TaskTracker::new();
    {
        let mut st = node.status();
        st.role = Some(role.as_str());
        st.parted(component::localtime::now_ms());
        st.in_step_at = None;
    }
    info!(role = role.as_str(), "role changed");
    if role == Role::Master && node.resync_flag().exists() {
        // Its database conflicted with the last master's and was waiting for a snapshot;
        // as master its data is now the reference (the conflicting copy is in the
        // divergence journal), and it will still ask for a snapshot when it is backup again.
        warn!("becoming master with a database that was waiting for a resync");
    }
    match role {
        Role::Master => {
            match node.db(|c| -> rusqlite::Result<_> {
                Ok((journal::new_generation(c)?, journal::head(c)?))
            }) {
                Ok((gen, head)) => {
                    info!(
                        generation = format_args!("{gen:016x}"),
                        head = head.seq,
                        "new generation"
                    );
                    node.status().head = head;
                }
                Err(e) => error!(
                    error = &e as &dyn std::error::Error,
                    "cannot start a generation"
                ),
            }
            let stop = Arc::new(AtomicBool::new(false));
            let (scanned_tx, scanned) = tokio::sync::oneshot::channel();
            match watch::spawn(Arc::clone(node), Arc::clone(&stop), scanned_tx) {
                Ok(_) => {
                    let token = token.clone();
                    tasks.spawn(async move {
                        token.cancelled().await;
                        stop.store(true, Ordering::Relaxed);
                    });
                }
                Err(e) => error!(error = %e, "cannot start the watcher"),
            }
            match node.cfg.peer {
                Some(addr) => {
                    tasks.spawn(sender_loop(Arc::clone(node), addr, scanned, token.clone()));
                }
                None => warn!("no sync.peer configured: journaling only, nothing is sent"),
            }
        }
        Role::Backup => match node.cfg.listen {
            Some(addr) => {
                tasks.spawn(listen_loop(Arc::clone(node), addr, token.clone()));
            }
            None => warn!("no sync.listen configured: this backup receives nothing"),
        },
    }
    tasks.close();
    (role, token, tasks)
}

async fn stop_role(token: CancellationToken, tasks: TaskTracker) {
    token.cancel();
    if tokio::time::timeout(Duration::from_secs(2), tasks.wait())
        .await
        .is_err()
    {
        warn!("the previous role's tasks are still running after 2 s");
    }
}

/// Master: connect to the backup, run a session, reconnect after any failure.
async fn sender_loop(
    node: Arc<Node>,
    addr: SocketAddr,
    scanned: tokio::sync::oneshot::Receiver<()>,
    cancel: CancellationToken,
) {
    // The backup is met once the tree is in the journal (`watch::spawn`); a watcher that
    // could not start says so itself, and replication of the database goes on.
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = scanned => {}
    }
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&node.tls.client));
    let mut backoff = Duration::from_millis(100);
    let mut failures = 0u32;
    while !cancel.is_cancelled() {
        let attempt = async {
            // A LAN connect takes well under a millisecond: a short limit and short pauses
            // mean the nodes meet again soon after a cut link returns (the master waits for
            // that meeting to learn what the other wrote alone; see `inbox`).
            let tcp = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr))
                .await??;
            tcp.set_nodelay(true)?;
            let tls = tokio::time::timeout(
                Duration::from_secs(5),
                connector.connect(crate::tls::server_name(), tcp),
            )
            .await??;
            // The backup must be the other node, not this one (see `Tls::check_peer`).
            node.tls
                .check_peer(tls.get_ref().1.peer_certificates())
                .map_err(|why| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why))?;
            agreed_protocol(&node, tls.get_ref().1.alpn_protocol(), &addr.to_string());
            Ok::<_, std::io::Error>(tls)
        };
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            r = attempt => r,
        };
        match stream {
            Ok(stream) => {
                failures = 0;
                backoff = Duration::from_millis(100);
                node.status().sessions += 1;
                let result =
                    peer::run_sender(&node, stream, addr.to_string(), cancel.clone()).await;
                end_session(&node, result);
            }
            Err(e) => {
                failures += 1;
                let not_the_other = (e.kind() == std::io::ErrorKind::PermissionDenied)
                    .then_some("the backup is not the other node of this pair");
                if let Some(hint) = crate::tls::not_this_pair(&e).or(not_the_other) {
                    // Not an outage: the nodes were set up apart. Say it every time, and
                    // where the operator looks (`allertactl sync status`).
                    if failures == 1 || failures.is_multiple_of(60) {
                        error!(%addr, error = %e, hint, "the backup is not of this pair; retrying");
                    }
                    node.status().not_this_pair(format!("{hint}: {e}"));
                } else if failures == 1 {
                    // The first failure is news; the rest of an outage is noise. The status
                    // keeps it for `allertactl sync status` until a session starts.
                    warn!(%addr, error = %e, "cannot reach the backup; retrying");
                    node.status()
                        .error(format!("cannot reach the backup at {addr}: {e}"));
                } else {
                    debug!(%addr, error = %e, failures, "cannot reach the backup");
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

fn end_session(node: &Node, result: Result<(), peer::SessionError>) {
    let mut st = node.status();
    st.parted(component::localtime::now_ms());
    if let Err(e) = result {
        warn!(error = &e as &dyn std::error::Error, "session ended");
        st.error(component::error::chain(&e));
    } else {
        info!("session ended");
    }
}

/// Backup: accept the master's connections; only a peer with a certificate from the pair's
/// CA gets a session, and a new session replaces the old one (the master reconnected).
async fn listen_loop(node: Arc<Node>, addr: SocketAddr, cancel: CancellationToken) {
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                error!(%addr, error = %e, "cannot listen for the master; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    info!(addr = %listener.local_addr().unwrap_or(addr), "listening for the master");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&node.tls.server));
    let sessions = TaskTracker::new();
    let mut session: Option<CancellationToken> = None;
    // Handshakes run side by side, a few at a time, each within HANDSHAKE, in two pools: one
    // for the `[sync] peer` address, one for any other. Connections that never speak hold
    // slots for a while, but strangers cannot take the peer's; and a master whose address
    // the backup has wrong (`ha.peer_ip` mistyped on one node) still gets in through the
    // other pool, so replication goes on while the operator corrects it.
    let expected = node.cfg.peer.map(|p| p.ip());
    let mut from_peer: JoinSet<Option<(TlsStream, SocketAddr)>> = JoinSet::new();
    let mut from_others: JoinSet<Option<(TlsStream, SocketAddr)>> = JoinSet::new();
    let mut strangers = LogBudget::new(10);
    loop {
        let (tls, peer_addr) = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(done) = from_peer.join_next(), if !from_peer.is_empty() => match done {
                Ok(Some(ready)) => ready,
                _ => continue,
            },
            Some(done) = from_others.join_next(), if !from_others.is_empty() => match done {
                Ok(Some(ready)) => ready,
                _ => continue,
            },
            r = listener.accept() => {
                let (tcp, peer_addr) = match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors, most likely: wait it out rather than spin on it.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let is_peer = expected.is_none_or(|ip| ip == peer_addr.ip());
                let (pool, cap) = if is_peer {
                    (&mut from_peer, PEER_HANDSHAKES)
                } else {
                    (&mut from_others, OTHER_HANDSHAKES)
                };
                if pool.len() >= cap {
                    node.status().refused_peers += 1;
                    if let Some(left_out) = strangers.admit(Instant::now()) {
                        warn!(peer = %peer_addr, from_the_peer = is_peer, left_out,
                            "refused a connection: handshakes from its address are full");
                    }
                    continue;
                }
                if !is_peer {
                    debug!(peer = %peer_addr, expected = ?expected, "a connection from an address that is not the peer's");
                }
                let _ = tcp.set_nodelay(true);
                let (acceptor, node) = (acceptor.clone(), Arc::clone(&node));
                pool.spawn(async move {
                    handshake(&node, &acceptor, tcp, peer_addr).await.map(|tls| (tls, peer_addr))
                });
                continue;
            }
        };
        if let Some(old) = session.take() {
            old.cancel();
        }
        // The old session stops at its next message boundary; its apply (if any) is one
        // transaction, and the new session's order check sees its result.
        let token = cancel.child_token();
        session = Some(token.clone());
        node.status().sessions += 1;
        let node = Arc::clone(&node);
        sessions.spawn(async move {
            let result = peer::run_receiver(&node, tls, peer_addr.to_string(), token).await;
            end_session(&node, result);
        });
    }
    from_peer.abort_all();
    from_others.abort_all();
    if let Some(s) = session {
        s.cancel();
    }
    sessions.close();
    sessions.wait().await;
}

/// Handshakes a prospective master connected to the backup.
type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// At most this many TLS handshakes at once from the `[sync] peer` address...
const PEER_HANDSHAKES: usize = 4;
/// ... and from all other addresses together.
const OTHER_HANDSHAKES: usize = 2;
/// How long a handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// The backup's side of a handshake: the pair's CA, then the other node's identity; a
/// refusal is counted and said where the operator looks.
async fn handshake(
    node: &Node,
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    peer_addr: SocketAddr,
) -> Option<TlsStream> {
    let tls = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            // The message stays the same (tests and operators grep it); the hint says
            // when the peer is a node of another pair rather than a stranger.
            let hint = crate::tls::not_this_pair(&e);
            warn!(peer = %peer_addr, error = %e, hint = hint.unwrap_or(""), "refused an unauthenticated peer");
            let mut st = node.status();
            st.refused_peers += 1;
            match hint {
                Some(hint) => st.not_this_pair(format!("{hint}: refused {peer_addr}: {e}")),
                None => st.error(format!("refused {peer_addr}: {e}")),
            }
            return None;
        }
        Err(_) => {
            warn!(peer = %peer_addr, "refused a peer that did not finish the TLS handshake");
            node.status().refused_peers += 1;
            return None;
        }
    };
    if let Err(why) = node.tls.check_peer(tls.get_ref().1.peer_certificates()) {
        warn!(peer = %peer_addr, why, "refused a peer of this pair that is not the other node");
        let mut st = node.status();
        st.refused_peers += 1;
        st.not_this_pair(format!("refused {peer_addr}: {why}"));
        return None;
    }
    agreed_protocol(
        node,
        tls.get_ref().1.alpn_protocol(),
        &peer_addr.to_string(),
    );
    Some(tls)
}

/// Notes the sync protocol the other node speaks, and says when it is an older one (a
/// rolling upgrade in progress: compatible, but the other node is to be upgraded too).
fn agreed_protocol(node: &Node, alpn: Option<&[u8]>, peer: &str) {
    let protocol = crate::tls::peer_protocol(alpn);
    node.status().peer_protocol = Some(protocol);
    if protocol < crate::tls::PROTOCOL {
        info!(
            peer,
            protocol,
            ours = crate::tls::PROTOCOL,
            "the other node speaks an older sync protocol (an older Allerta): compatible; upgrade it too"
        );
    }
}

/// Checkpoints the WAL off the apply and journaling paths: when it passes 8 MiB, and every
/// 30 s otherwise (a checkpoint's fsync of the database file competes with the commits'
/// fsyncs, so not more often than needed); prunes the journal and the divergence journal
/// every 30 s.
async fn checkpoint_loop(node: Arc<Node>, cancel: CancellationToken) {
    const LARGE_WAL: u64 = 8 << 20;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let wal = PathBuf::from(format!("{}-wal", node.cfg.db.display()));
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        refresh_divergent_waiting(&node).await;
        let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
        let periodic = last.elapsed() >= Duration::from_secs(30);
        if !periodic && size < LARGE_WAL {
            continue;
        }
        last = Instant::now();
        let (db, keep) = (node.cfg.db.clone(), node.cfg.keep_records);
        if periodic {
            let dir = node.cfg.divergence_dir.clone();
            match tokio::task::spawn_blocking(move || {
                crate::divergence::prune(&dir, std::time::SystemTime::now())
            })
            .await
            {
                Ok(Ok(0)) => {}
                Ok(Ok(pruned)) => info!(pruned, "divergence journal: old events removed"),
                Ok(Err(e)) => warn!(error = %e, "divergence journal: cannot prune"),
                Err(_) => {}
            }
        }
        let done = tokio::task::spawn_blocking(move || -> Result<usize, journal::JournalError> {
            // Both roles keep `keep_records` of the journal: a backup copies every record,
            // and serves them once it is master.
            let pruned = if periodic {
                let conn = journal::open(&db)?;
                journal::prune(&conn, keep)?
            } else {
                0
            };
            journal::checkpoint(&db)?;
            Ok(pruned)
        })
        .await;
        match done {
            Ok(Ok(0)) => {}
            Ok(Ok(pruned)) => debug!(pruned, "journal pruned"),
            Ok(Err(e)) => debug!(error = &e as &dyn std::error::Error, "prune or checkpoint"),
            Err(_) => {}
        }
    }
}

/// How many of the other node's changes wait for `divergence apply` here (the status shows
/// it), read on a read-only connection of its own, off the control loop.
async fn refresh_divergent_waiting(node: &Arc<Node>) {
    let db = node.cfg.db.clone();
    let waiting = tokio::task::spawn_blocking(move || -> rusqlite::Result<u64> {
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(Duration::from_millis(200))?;
        conn.query_row(
            "SELECT count(*) FROM _sync_inbox WHERE state = 'pending'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n.max(0) as u64)
    })
    .await;
    if let Ok(Ok(n)) = waiting {
        node.status().divergent_waiting = n;
    }
}

fn bind_wake(node: &Node) -> std::io::Result<UnixDatagram> {
    use std::os::unix::fs::PermissionsExt;
    let path = &node.cfg.wake_socket;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let sock = UnixDatagram::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(sock)
}

async fn wake_loop(node: Arc<Node>, sock: UnixDatagram, cancel: CancellationToken) {
    let mut buf = [0u8; 16];
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = sock.recv(&mut buf) => if r.is_ok() { node.wake.notify_one() },
        }
    }
}
