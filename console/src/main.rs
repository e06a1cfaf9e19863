//! `allerta-web`: the operators' web console, started by the supervisor as a component.
//!
//! ```text
//! allerta-web --config /etc/allerta/node.toml      run (role from the supervisor)
//! allerta-web --config … --role master             run without a supervisor (tests, manual runs)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use component::contract::Role;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use console::app::{App, Counters, Inner};
use console::config::Config;
use console::db::Db;
use console::live::{self, Hub};
use console::nodes::Nodes;
use console::server::{self, Limits};
use console::signin::SignIn;
use console::tls::{self, Certificates};
use console::{control, routes, upkeep};

#[derive(Debug, Parser)]
#[command(
    name = "allerta-web",
    version,
    about = "Allerta's web console: campaigns and status for operators, over HTTPS"
)]
struct Args {
    /// The node's configuration (`[node]`, `[console]`, and the keys it follows).
    #[arg(long, short, default_value = "/etc/allerta/node.toml")]
    config: PathBuf,
    /// The control socket the supervisor talks to.
    #[arg(long, default_value = "/run/allerta/web.sock")]
    control: PathBuf,
    /// Start in this role instead of waiting for the supervisor.
    #[arg(long, value_parser = ["master", "backup"])]
    role: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = component::logging::init(component::logging::Logging::DEFAULT) {
        eprintln!("allerta-web: {e}");
        return ExitCode::FAILURE;
    }
    // Two workers: the console shares the node with the media core's realtime work.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("allerta-web: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("allerta-web: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let config = Config::load(&args.config)?;
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

    let initial_role = match args.role.as_deref() {
        Some("master") => Role::Master,
        _ => Role::Backup,
    };
    let (role_tx, role_rx) = watch::channel(initial_role);
    let cancel = CancellationToken::new();
    let control_listener = component::server::bind(&args.control)
        .with_context(|| format!("control socket {}", args.control.display()))?;
    let (calls_tx, calls_rx) = mpsc::channel(16);
    tokio::spawn(component::server::serve(
        control_listener,
        args.control.clone(),
        calls_tx,
        cancel.clone(),
    ));

    let hub = Arc::new(Hub::default());
    let server_counters = Arc::new(server::Counters::default());
    let app = App::new(Inner {
        db: db.clone(),
        role: role_rx.clone(),
        hub: hub.clone(),
        sign_in: SignIn::new(config.lockout_failures, config.lockout_window),
        nodes: Nodes::new(config.local_status, config.peer_status),
        certificates: certificates.clone(),
        counters: Counters {
            server: server_counters.clone(),
            ..Counters::default()
        },
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
        role_rx,
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
    tokio::spawn(control::answer(app, role_tx, calls_rx));
    info!(listen = %config.listen, node = %config.node, "web console ready (role {} until told otherwise)", initial_role.as_str());

    let (mut term, mut int) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    );
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    info!("stopping");
    cancel.cancel();
    if tokio::time::timeout(std::time::Duration::from_secs(3), serving)
        .await
        .is_err()
    {
        warn!("connections still open at exit");
    }
    Ok(())
}
