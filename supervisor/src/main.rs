//! `allerta-supervisor`: arguments, configuration, logging and the runtime; everything else
//! is in the library (`supervise.rs` for the core loop, `vrrp/guard.rs` for `--guard`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use tracing_subscriber::EnvFilter;

use supervisor::config::{self, LogConfig};
use supervisor::{supervise, vrrp};

#[derive(Debug, Parser)]
#[command(
    name = "allerta-supervisor",
    version,
    about = "Allerta supervisor: VRRP failover of the virtual IP and the node's components"
)]
struct Args {
    /// The node's configuration file.
    #[arg(long, short, default_value = "/etc/allerta/node.toml")]
    config: PathBuf,
    /// Validate the configuration, print a summary and exit.
    #[arg(long)]
    check: bool,
    /// Run without the VIP guard process (a SIGKILLed supervisor then leaves its VIP behind).
    #[arg(long)]
    no_guard: bool,
    /// Internal: run as the VIP guard of a supervisor (see vrrp/guard.rs).
    #[arg(long, hide = true)]
    guard: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be set up yet (a config error): say it on stderr as well.
            eprintln!("allerta-supervisor: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let config = config::load(&args.config)?;
    if args.check {
        println!(
            "{}: ok, node {}, {} VRRP instance(s), {} component(s), {} check(s)",
            config.path.display(),
            config.node_name,
            config.instances.len(),
            config.components.len(),
            config.checks.len()
        );
        return Ok(());
    }
    init_tracing(&config.log, args.guard)?;
    if args.guard {
        return vrrp::guard::run(&config).context("guard");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the runtime")?;
    rt.block_on(supervise::run(config, !args.no_guard))?;
    Ok(())
}

fn init_tracing(log: &LogConfig, guard: bool) -> Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) => EnvFilter::try_new(from_env).context("RUST_LOG")?,
        Err(_) => EnvFilter::try_new(&log.filter)
            .with_context(|| format!("log.filter {:?}", log.filter))?,
    };
    // Colours only on a terminal: logs go to journald, files and test harnesses.
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    // The guard logs to stderr so its lines are told apart from the supervisor's.
    let result = match (log.json, guard) {
        (true, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (true, false) => builder.json().try_init(),
        (false, true) => builder.with_writer(std::io::stderr).try_init(),
        (false, false) => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}
