//! `allerta-sync`: the sync agent. With a `[sync]` table in node.toml (or `--db`), it
//! replicates the shared tree and the database in the direction its role says; without
//! one it only serves the supervisor's control contract.
//!
//! ```text
//! allerta-sync --config /etc/allerta/node.toml            run (role from the supervisor)
//! allerta-sync --config … dry-run                         what would be sent, what never is
//! allerta-sync --config … status                          the running agent's status (JSON)
//! allerta-sync --config … divergence                      saved divergence reports, newest first
//! allerta-sync tls-pair --out DIR [--nodes node-a,node-b] a CA and both nodes' keys
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use component::contract::Role;
use journal::inbox;
use operator_commands::sync::{DivergenceCmd, SyncCmd};
use sync_agent::config::{self, Config, RawSync};
use sync_agent::{divergence, files};

#[derive(Debug, Parser)]
#[command(
    name = "allerta-sync",
    version,
    about = "Allerta sync agent: master → backup replication of the shared tree and the database"
)]
struct Args {
    /// The control socket the supervisor talks to.
    #[arg(long, default_value = "/run/allerta/sync.sock", global = true)]
    control: PathBuf,
    /// The node's configuration (`[node] name` and the `[sync]` table).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Start in this role instead of waiting for the supervisor (tests, manual runs).
    #[arg(long, value_parser = ["master", "backup"], global = true)]
    role: Option<String>,
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Each overrides the `[sync]` key of the same name.
#[derive(Debug, clap::Args)]
struct Overrides {
    #[arg(long, global = true)]
    node_name: Option<String>,
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    #[arg(long, global = true)]
    peer: Option<SocketAddr>,
    #[arg(long, global = true)]
    shared_dir: Option<PathBuf>,
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    #[arg(long, global = true)]
    divergence_dir: Option<PathBuf>,
    #[arg(long, global = true)]
    tls_dir: Option<PathBuf>,
    #[arg(long, global = true)]
    wake_socket: Option<PathBuf>,
    #[arg(long, global = true)]
    scan_interval_secs: Option<u64>,
    #[arg(long, global = true)]
    stale_after_ms: Option<u64>,
    #[arg(long, global = true)]
    verify_interval_secs: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replicate (the default).
    Run,
    /// Print the running agent's status (asks it over the control socket).
    Status,
    /// What an operator runs (also as `allertactl sync …`): dry-run, divergence.
    #[command(flatten)]
    Operator(SyncCmd),
    /// Create a CA and a key and certificate for each node of a new pair.
    TlsPair {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "node-a,node-b")]
        nodes: Vec<String>,
    },
}

/// The settings, or None when this node has no `[sync]` table and no `--db`.
fn settings(args: &Args) -> anyhow::Result<Option<Config>> {
    let loaded = match &args.config {
        Some(path) => config::load(path)?,
        None => None,
    };
    let o = &args.overrides;
    let (node, mut raw) = match loaded {
        Some(l) => l,
        None if o.db.is_some() => ("node".to_owned(), RawSync::default()),
        None => return Ok(None),
    };
    macro_rules! over {
        ($($f:ident),*) => { $( if o.$f.is_some() { raw.$f = o.$f.clone(); } )* };
    }
    over!(
        listen,
        peer,
        shared_dir,
        db,
        state_dir,
        divergence_dir,
        tls_dir,
        wake_socket,
        scan_interval_secs,
        stale_after_ms,
        verify_interval_secs
    );
    let node = o.node_name.clone().unwrap_or(node);
    Ok(Some(Config::from_raw(node, raw)?))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let logging = match &args.config {
        Some(path) => component::logging::Logging::from_node_file("allerta-sync", path),
        None => Ok(component::logging::Logging::new("allerta-sync")),
    };
    if let Err(e) = logging.and_then(|l| component::logging::init(&l)) {
        eprintln!("allerta-sync: {e}");
        return ExitCode::FAILURE;
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("allerta-sync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Some(Command::TlsPair { out, nodes }) => {
            for dir in sync_agent::tls::create_pair(out, nodes)? {
                println!(
                    "{}: ca.pem node.pem node.key (copy to the node's tls_dir)",
                    dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Status) => status(&args),
        Some(Command::Operator(SyncCmd::Divergence { action: None })) => {
            let cfg = settings(&args)?.context("no [sync] table in the configuration")?;
            let reports = divergence::list(&cfg.divergence_dir)?;
            if reports.is_empty() {
                println!("no divergence saved in {}", cfg.divergence_dir.display());
            }
            for (folder, text) in &reports {
                println!("== {}\n{text}", folder.display());
            }
            print_inbox(&cfg)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Operator(SyncCmd::Divergence {
            action: Some(DivergenceCmd::Apply { target, who }),
        })) => {
            let cfg = settings(&args)?.context("no [sync] table in the configuration")?;
            apply_divergent(&args, &cfg, target, who.clone())
        }
        Some(Command::Operator(SyncCmd::DryRun)) => {
            let cfg = settings(&args)?.context("no [sync] table in the configuration")?;
            dry_run(&cfg)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Run) | None => {
            let role = args.role.as_deref().map(|r| {
                if r == "master" {
                    Role::Master
                } else {
                    Role::Backup
                }
            });
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            match settings(&args)? {
                None => runtime
                    .block_on(component::server::run_minimal("sync", &args.control))
                    .with_context(|| format!("control socket {}", args.control.display()))?,
                Some(cfg) => {
                    let tls = sync_agent::tls::for_node(&cfg).with_context(|| {
                        match &cfg.pairing_secret_file {
                            Some(f) => {
                                format!("the pair's TLS from the pairing secret in {}", f.display())
                            }
                            None => format!("TLS material in {}", cfg.tls_dir.display()),
                        }
                    })?;
                    std::fs::create_dir_all(&cfg.state_dir)
                        .with_context(|| format!("state directory {}", cfg.state_dir.display()))?;
                    let swept = files::sweep_temporaries(&cfg.shared_dir);
                    if swept > 0 {
                        tracing::info!(count = swept, "removed temporary files left by a crash");
                    }
                    let node =
                        sync_agent::node::Node::open(cfg, tls).context("opening the database")?;
                    runtime.block_on(sync_agent::agent::run(node, args.control.clone(), role))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn status(args: &Args) -> anyhow::Result<ExitCode> {
    let Ok(mut sock) = std::os::unix::net::UnixStream::connect(&args.control) else {
        eprintln!(
            "allerta-sync: the agent is not running (no {})",
            args.control.display()
        );
        return Ok(ExitCode::from(3));
    };
    sock.write_all(b"status\n")?;
    let mut line = String::new();
    BufReader::new(sock).read_line(&mut line)?;
    let json = line
        .trim_end()
        .strip_prefix("status ")
        .context("unexpected answer")?;
    let value: serde_json::Value = serde_json::from_str(json)?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}

/// What the other node wrote alone during a split, as this node's inbox holds it.
fn print_inbox(cfg: &Config) -> anyhow::Result<()> {
    // A listing reads only: no database yet, or one from before the inbox, has nothing here.
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&cfg.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Ok(());
    };
    let Ok(items) = inbox::list(&conn) else {
        return Ok(());
    };
    if items.is_empty() {
        return Ok(());
    }
    println!("== written on the other node during a split, received here");
    for it in &items {
        let mut rows = String::new();
        if let Err(e) = divergence::describe_changeset(&conn, &it.changeset, &mut rows) {
            rows = format!("    (unreadable: {e})\n");
        }
        let state = match it.state.as_str() {
            "pending" => "WAITING: `allertactl sync divergence apply <n>` to re-apply".to_owned(),
            "merged" => "merged automatically (campaign facts)".to_owned(),
            "applied" => format!("applied ({})", it.note),
            "new" => "not looked at yet (the media core merges within a second)".to_owned(),
            other => other.to_owned(),
        };
        println!(
            "change {} from {} ({}, record {} of {}): {state}\n{rows}",
            it.id, it.peer, it.event, it.seq, it.total
        );
    }
    Ok(())
}

/// `divergence apply N|all`: only on the master (the backup's database is the master's copy).
fn apply_divergent(
    args: &Args,
    cfg: &Config,
    target: &str,
    who: Option<String>,
) -> anyhow::Result<ExitCode> {
    let role = std::os::unix::net::UnixStream::connect(&args.control)
        .ok()
        .and_then(|mut sock| {
            sock.write_all(b"status\n").ok()?;
            let mut line = String::new();
            BufReader::new(sock).read_line(&mut line).ok()?;
            let json: serde_json::Value =
                serde_json::from_str(line.trim_end().strip_prefix("status ")?).ok()?;
            json["role"].as_str().map(str::to_owned)
        });
    if role.as_deref() != Some("master") {
        anyhow::bail!(
            "refused: this node is {}; apply on the master (the backup's database is the master's copy)",
            role.map_or("not answering as master (is allerta-sync running?)".to_owned(), |r| format!("the {r}"))
        );
    }
    let who = who
        .or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    let mut j = journal::Journal::open(&cfg.db)
        .with_context(|| format!("database {}", cfg.db.display()))?;
    j.connection().pragma_update(None, "foreign_keys", "on")?;
    j = j.with_wake_socket(&cfg.wake_socket);
    let ids = if target == "all" {
        inbox::pending_ids(j.connection())?
    } else {
        vec![target
            .parse::<i64>()
            .with_context(|| format!("{target:?} is not a change number (or `all`)"))?]
    };
    if ids.is_empty() {
        println!("nothing waits for apply");
    }
    let mut refused = 0;
    for id in ids {
        match inbox::apply(&mut j, id, &who) {
            Ok(what) => println!("applied: {what}"),
            Err(e) => {
                refused += 1;
                eprintln!("{e}");
            }
        }
    }
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn dry_run(cfg: &Config) -> anyhow::Result<()> {
    let exclusions = sync_agent::exclude::Exclusions::new(&cfg.exclude);
    let (found, skipped) = files::scan(&cfg.shared_dir, &exclusions);
    println!("shared tree {} — would be sent:", cfg.shared_dir.display());
    for f in &found {
        println!("  send  {:>10} B  {:o}  {}", f.size, f.mode, f.path);
    }
    println!("never sent:");
    for s in &skipped {
        println!("  skip  {}  ({})", s.path, s.why);
    }
    println!("  node-local patterns: {}", exclusions.patterns().join(" "));
    println!(
        "  outside the tree: node.toml, {}, {}",
        cfg.tls_dir.display(),
        cfg.state_dir.display()
    );
    let conn =
        rusqlite::Connection::open_with_flags(&cfg.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("database {}", cfg.db.display()))?;
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let (sent, local): (Vec<_>, Vec<_>) =
        tables.iter().partition(|t| journal::is_replicated_table(t));
    println!(
        "database {}: tables replicated: {}",
        cfg.db.display(),
        sent.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  bookkeeping (never captured): {}",
        local
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Ok(head) = journal::head(&conn) {
        println!(
            "  journal head: generation {:016x}, seq {}",
            head.gen, head.seq
        );
    }
    Ok(())
}
