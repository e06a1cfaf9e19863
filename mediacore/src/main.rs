//! `allerta-mediacore`: for now it only serves the supervisor's control contract (ping, role,
//! drain, status), so the supervisor wraps the real binary; SIP, RTP, AMI and campaigns
//! come with issues 4–6.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "allerta-mediacore",
    version,
    about = "Allerta media core (control contract only, for now)"
)]
struct Args {
    /// The control socket the supervisor talks to.
    #[arg(long, default_value = "/run/allerta/mediacore.sock")]
    control: PathBuf,
    /// The node's configuration (not read yet).
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt().with_ansi(false).init();
    supervisor::component::server::run_minimal("mediacore", &args.control)
        .await
        .with_context(|| format!("control socket {}", args.control.display()))
}
