//! `allerta-web`: the operators' web console, started by the supervisor as a component.
//!
//! ```text
//! allerta-web --config /etc/allerta/node.toml      run (role from the supervisor)
//! allerta-web --config … --role master             run without a supervisor (tests, manual runs)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use component::contract::Role;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use console::config::Config;
use console::{control, service};

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
    let logging = component::logging::Logging::from_node_file("allerta-web", &args.config);
    if let Err(e) = logging.and_then(|l| component::logging::init(&l)) {
        eprintln!("allerta-web: {e}");
        return ExitCode::FAILURE;
    }
    // Two workers: the console shares the node with the media core's realtime work.
    // At most 8 blocking threads (database reads and writes, argon2, espeak-ng and sox):
    // each thread costs memory (its stack and, with glibc, an allocation arena), and the
    // work they do is bounded anyway (two password checks, two media jobs at once).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
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
    let running = service::start(config.clone(), role_rx, cancel.clone()).await?;
    let serving = running.serving;
    tokio::spawn(control::answer(running.app, role_tx, calls_rx));
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
