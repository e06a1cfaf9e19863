//! Driver: the console put together: the database, the certificate, the HTTPS listener
//! and the background tasks (live progress, what a master prepares), all ending with
//! `cancel`. `main` adds the supervisor's contract; tests start it on loopback as is.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use component::contract::Role;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::{App, Counters, Inner};
use crate::config::Config;
use crate::db::Db;
use crate::live::{self, Hub};
use crate::nodes::Nodes;
use crate::server::{self, Limits};
use crate::signin::SignIn;
use crate::tls::{self, Certificates};
use crate::{routes, upkeep};

/// A running console.
pub struct Running {
    pub app: App,
    /// Where it listens (the port the system chose, when the configuration said 0).
    pub local_addr: SocketAddr,
    /// The accept loop; ends after `cancel`.
    pub serving: JoinHandle<()>,
}

/// Starts the console with `config`, its role following `role`.
pub async fn start(
    config: Config,
    role: watch::Receiver<Role>,
    cancel: CancellationToken,
) -> anyhow::Result<Running> {
    let db = Db::open(
        &config.database,
        &config.node,
        config.sync_wake_socket.as_deref(),
    )
    .with_context(|| format!("opening {}", config.database.display()))?;

    // The certificate: the administrator's files, else the pair's from the database, else
    // (a backup before the first replication, a master before it made one) a temporary one.
    let initial = match &config.tls {
        Some((cert, key)) => tls::from_files(cert, key)?,
        None => match db.run(|s| s.console_certificate()).await.ok().flatten() {
            Some(pem) => pem,
            None => tls::generate(
                &["allerta".to_owned()],
                &config.vip.into_iter().collect::<Vec<_>>(),
            )?,
        },
    };
    let certificates = Arc::new(Certificates::new(initial).context("the console certificate")?);
    let tls_config = tls::server_config(certificates.clone())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let local_addr = listener.local_addr()?;

    let hub = Arc::new(Hub::default());
    let server_counters = Arc::new(server::Counters::default());
    let app = App::new(Inner {
        db: db.clone(),
        role: role.clone(),
        hub: hub.clone(),
        sign_in: SignIn::new(config.lockout_failures, config.lockout_window),
        nodes: Nodes::new(config.local_status, config.peer_status),
        certificates: certificates.clone(),
        media_jobs: tokio::sync::Semaphore::new(2),
        counters: Counters {
            server: server_counters.clone(),
            ..Counters::default()
        },
        settings_lock: tokio::sync::Mutex::new(()),
        cancel: cancel.clone(),
        config: config.clone(),
    });

    tokio::spawn({
        let (database, node, cancel) =
            (config.database.clone(), config.node.clone(), cancel.clone());
        async move { live::run(hub, &database, &node, cancel).await }
    });
    tokio::spawn(upkeep::run(
        db,
        config.clone(),
        certificates,
        role,
        cancel.clone(),
    ));
    let limits = Limits {
        max_connections: config.max_connections,
        handshake_timeout: config.handshake_timeout,
    };
    let serving = tokio::spawn(server::serve(
        listener,
        tls_config,
        routes::router(app.clone()),
        limits,
        server_counters,
        cancel.clone(),
    ));
    Ok(Running {
        app,
        local_addr,
        serving,
    })
}
