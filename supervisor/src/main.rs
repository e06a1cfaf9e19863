//! `allerta-supervisor`: arguments, configuration, logging and the runtime; everything else
//! is in the library (`supervise.rs` for the core loop, `vrrp/guard.rs` for `--guard`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

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
    // The guard logs to stderr so its lines are told apart from the supervisor's.
    component::logging::init(&component::logging::Logging {
        identifier: if guard {
            "allerta-vip-guard"
        } else {
            "allerta-supervisor"
        },
        filter: log.filter.clone(),
        json: log.json,
        stderr: guard,
    })?;
    Ok(())
}
