//! `allerta-supervisor`: arguments, configuration, logging, signals; starts the VIP guard and
//! one VRRP thread per instance, and forwards their state changes to the guard.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

use supervisor::config::{self, LogConfig};
use supervisor::vrrp::driver::{self, InstanceEvent, STOP_TIMEOUT};
use supervisor::vrrp::guard::{self, Message};
use supervisor::vrrp::machine::State;

#[derive(Debug, Parser)]
#[command(
    name = "allerta-supervisor",
    version,
    about = "Allerta supervisor: VRRP failover of the virtual IP"
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
            "{}: ok, node {}, {} VRRP instance(s)",
            config.path.display(),
            config.node_name,
            config.instances.len()
        );
        return Ok(());
    }
    init_tracing(&config.log, if args.guard { "guard" } else { "supervisor" })?;
    if args.guard {
        return guard::run(&config).context("guard");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the runtime")?;
    rt.block_on(supervise(config, args))
}

async fn supervise(config: config::Config, args: Args) -> Result<()> {
    info!(node = %config.node_name, config = %config.path.display(), version = env!("CARGO_PKG_VERSION"), "supervisor starting");
    let mut guard = if args.no_guard {
        None
    } else {
        Some(Guard::spawn(&args.config)?)
    };
    let cancel = CancellationToken::new();
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let mut threads = Vec::new();
    for instance in config.instances.iter().cloned() {
        threads.push(driver::spawn(
            instance,
            events_tx.clone(),
            cancel.child_token(),
        )?);
    }
    drop(events_tx);
    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut running = threads.len();
    let mut failed = false;
    // Runs until a signal, or until an instance stops by itself (which is an error).
    while running > 0 && !cancel.is_cancelled() {
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); cancel.cancel(); }
            _ = sigint.recv() => { info!("SIGINT: shutting down"); cancel.cancel(); }
            event = events_rx.recv() => match event {
                Some(event) => {
                    if let InstanceEvent::Stopped { error, .. } = &event {
                        running -= 1;
                        failed |= error.is_some();
                        cancel.cancel();
                    }
                    forward(&mut guard, &event);
                }
                None => break,
            },
        }
    }
    // Drain: each instance reports its last state change (master → Initialize) and stops.
    let drain = async {
        while running > 0 {
            match events_rx.recv().await {
                Some(event) => {
                    if let InstanceEvent::Stopped { error, .. } = &event {
                        running -= 1;
                        failed |= error.is_some();
                    }
                    forward(&mut guard, &event);
                }
                None => break,
            }
        }
    };
    if tokio::time::timeout(STOP_TIMEOUT, drain).await.is_err() {
        warn!(?STOP_TIMEOUT, "instances still running; exiting anyway");
    }
    if failed {
        // Leave the guard to release whatever an instance that failed still held.
        anyhow::bail!("a VRRP instance stopped with an error (see the log)");
    }
    if let Some(guard) = guard.take() {
        guard.dismiss();
    }
    for thread in threads {
        let _ = thread.join();
    }
    info!("supervisor stopped");
    Ok(())
}

/// Keeps the VIP guard informed of which instances are master.
fn forward(guard: &mut Option<Guard>, event: &InstanceEvent) {
    let message = match event {
        InstanceEvent::StateChanged {
            instance,
            to: State::Master,
            ..
        } => Message::Master(instance.clone()),
        InstanceEvent::StateChanged { instance, .. } => Message::Backup(instance.clone()),
        InstanceEvent::Stopped { .. } => return,
    };
    if let Some(g) = guard {
        if let Err(e) = g.stdin.write_all(message.encode().as_bytes()) {
            warn!(error = %e, "VIP guard gone: a SIGKILL would now leave the VIP behind");
            *guard = None;
        }
    }
}

struct Guard {
    child: Child,
    stdin: ChildStdin,
}

impl Guard {
    fn spawn(config: &std::path::Path) -> Result<Self> {
        let exe = std::env::current_exe().context("locating our own binary for the guard")?;
        let mut child = Command::new(exe)
            .arg("--guard")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::piped())
            .spawn()
            .context("starting the VIP guard")?;
        let stdin = child.stdin.take().context("guard stdin")?;
        info!(pid = child.id(), "VIP guard started");
        Ok(Self { child, stdin })
    }

    /// A clean shutdown: nothing is left to release.
    fn dismiss(mut self) {
        let _ = self.stdin.write_all(Message::Exit.encode().as_bytes());
        drop(self.stdin);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        warn!("VIP guard did not exit; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn init_tracing(log: &LogConfig, role: &str) -> Result<()> {
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
    let result = match (log.json, role) {
        (true, "guard") => builder.json().with_writer(std::io::stderr).try_init(),
        (true, _) => builder.json().try_init(),
        (false, "guard") => builder.with_writer(std::io::stderr).try_init(),
        (false, _) => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}
