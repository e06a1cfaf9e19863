//! `allertactl`: the operator CLI. It talks to the local supervisor over its control socket
//! (root only). Human output by default, `--json` for scripts.
//!
//! Exit codes: 0 done; 1 refused (the message says why); 2 usage error; 3 the supervisor
//! cannot be reached; 4 (`status` only) this node is in fault or maintenance.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use supervisor::control::protocol::{Request, Response, Status, Transition};

#[derive(Debug, Parser)]
#[command(
    name = "allertactl",
    version,
    about = "Operate an Allerta node: status, planned switchover, maintenance, campaigns",
    after_help = "Exit codes: 0 done, 1 refused, 2 usage, 3 supervisor unreachable, 4 status: fault or maintenance."
)]
struct Cli {
    /// The supervisor's control socket.
    #[arg(long, global = true, default_value = "/run/allerta/supervisor.sock")]
    socket: PathBuf,
    /// Print the supervisor's answer as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// The node file (for campaign, contacts, message and operator commands).
    #[arg(long, global = true, default_value = "/etc/allerta/node.toml")]
    config: PathBuf,
    /// The media core's control socket (they ask it whether this node is master).
    #[arg(long, global = true, default_value = "/run/allerta/mediacore.sock")]
    mediacore_socket: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

/// Runs `allerta-mediacore <what> <args>`: the media core owns campaigns and contacts.
fn media_core(cli: &Cli, what: &str, args: &[String]) -> ExitCode {
    let control = [
        std::ffi::OsString::from("--control"),
        cli.mediacore_socket.clone().into_os_string(),
    ];
    companion(cli, "allerta-mediacore", &control, what, args)
}

/// Runs one of the node's other programs with the node file: the binary beside allertactl
/// is preferred (an installed set), else the one on PATH. Its exit says how it went.
fn companion(
    cli: &Cli,
    name: &str,
    extra: &[std::ffi::OsString],
    what: &str,
    args: &[String],
) -> ExitCode {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from(name));
    let status = std::process::Command::new(&program)
        .arg("--config")
        .arg(&cli.config)
        .args(extra)
        .arg(what)
        .args(args)
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        // The program said why (refused on the backup, a bad file…).
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("allertactl: cannot run {}: {e}", program.display());
            ExitCode::from(3)
        }
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Role, priority and why, peer, components, checks, last transitions.
    Status,
    /// Every transition kept, with its measured phases (detect, VIP added, first GARP).
    History,
    /// Hand the master role to the peer: let calls finish (at most --drain seconds), then
    /// release. Refused if the peer is not known healthy, unless --force.
    Switchover {
        #[arg(long, default_value_t = 30)]
        drain: u32,
        #[arg(long)]
        force: bool,
    },
    /// Keep this node out of elections (it releases the VIP if it holds it) until `off`.
    Maintenance {
        #[arg(value_enum)]
        mode: OnOff,
    },
    /// Make this node master. Refused while the peer is alive and master, unless --force.
    Promote {
        #[arg(long)]
        force: bool,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff).
    Man,
    /// Alert campaigns: create, start, pause, resume, stop, status, report (run by the
    /// media core's `allerta-mediacore campaign …`).
    Campaign {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Contacts: `import FILE.csv --list NAME` (all or nothing; bad lines listed).
    Contacts {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Alert messages: `set NAME --text … | --recording PROMPT`.
    Message {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Operators: `add NAME --role admin|operator [--pin DIGITS]` (password on stdin).
    Operator {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Replication: `status` (lag, last applied, bytes, errors), `divergence` (writes
    /// saved before a resync), `dry-run` (what would be sent), run by `allerta-sync`.
    Sync {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let request = match cli.command {
        Cmd::Status => Request::Status,
        Cmd::History => Request::History,
        Cmd::Switchover { drain, force } => Request::Switchover {
            drain_secs: drain,
            force,
        },
        Cmd::Maintenance { mode } => Request::Maintenance {
            on: matches!(mode, OnOff::On),
        },
        Cmd::Promote { force } => Request::Promote { force },
        Cmd::Campaign { ref args } => return media_core(&cli, "campaign", args),
        Cmd::Contacts { ref args } => return media_core(&cli, "contacts", args),
        Cmd::Message { ref args } => return media_core(&cli, "message", args),
        Cmd::Operator { ref args } => return media_core(&cli, "operator", args),
        Cmd::Sync { ref args } => {
            let (what, rest) = args
                .split_first()
                .map_or(("status", &[][..]), |(w, r)| (w.as_str(), r));
            return companion(&cli, "allerta-sync", &[], what, rest);
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "allertactl",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Cmd::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            return match man.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("allertactl: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let response = match call(&cli.socket, &request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "allertactl: cannot reach the supervisor at {}: {e}",
                cli.socket.display()
            );
            return ExitCode::from(3);
        }
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&response).unwrap_or_default()
        );
    }
    match response {
        Response::Status(status) => {
            if !cli.json {
                print_status(&status);
            }
            if status.role == "FAULT" || status.maintenance {
                return ExitCode::from(4);
            }
            ExitCode::SUCCESS
        }
        Response::History { transitions } => {
            if !cli.json {
                print_history(&transitions);
            }
            ExitCode::SUCCESS
        }
        Response::Done { message } => {
            if !cli.json {
                println!("{message}");
            }
            ExitCode::SUCCESS
        }
        Response::Refused { message } => {
            if !cli.json {
                eprintln!("refused: {message}");
            }
            ExitCode::from(1)
        }
    }
}

fn call(socket: &PathBuf, request: &Request) -> std::io::Result<Response> {
    let mut stream = UnixStream::connect(socket)?;
    // A switchover waits for the drain; everything else answers at once.
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    serde_json::from_str(&answer).map_err(|e| std::io::Error::other(format!("bad answer: {e}")))
}

fn ago(ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{:.1} s ago", now.saturating_sub(ms) as f64 / 1000.0)
}

fn print_status(s: &Status) {
    let why = if s.faults.is_empty() {
        String::new()
    } else {
        format!(" because: {}", s.faults.join(", "))
    };
    println!("{}: {}{why}", s.node, s.role);
    for i in &s.instances {
        let mut priority = format!("priority {}", i.priority);
        if i.priority != i.configured_priority {
            priority.push_str(&format!(
                " (configured {}; {})",
                i.configured_priority,
                if i.promoted {
                    "promoted"
                } else {
                    "tracked weights"
                }
            ));
        }
        let peer = match (i.peer_address, i.peer_last_heard_ms) {
            (Some(addr), Some(ms)) => format!(
                "last heard {addr} {} (priority {})",
                ago(ms),
                i.peer_priority.unwrap_or(0)
            ),
            _ => "no other router heard yet".into(),
        };
        let yielded = if i.yielded {
            ", yielded (switchover): will not preempt"
        } else if i.preempt_held {
            ", preemption held back while a campaign runs on the master"
        } else {
            ""
        };
        println!(
            "  instance {} (vrid {}): {:?}, {priority}{yielded}; {peer}",
            i.name, i.vrid, i.state
        );
        println!(
            "    adverts sent {}, received {}, dropped {} malformed / {} not from a peer",
            i.stats.adverts_sent,
            i.stats.adverts_received,
            i.stats.dropped_malformed,
            i.stats.dropped_not_from_peer
        );
    }
    for (title, list) in [("components", &s.components), ("checks", &s.checks)] {
        if list.is_empty() {
            continue;
        }
        println!("  {title}:");
        for c in list {
            let state = if c.up { "up" } else { "DOWN" };
            let pid = c.pid.map(|p| format!(", pid {p}")).unwrap_or_default();
            let error = c
                .last_error
                .as_ref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default();
            let weight = if c.weight == 0 {
                "fault if down".to_string()
            } else {
                format!("weight {}", c.weight)
            };
            println!(
                "    {:<12} {state} ({weight}{pid}, down {} times{error})",
                c.name, c.downs
            );
        }
    }
    for (component, status) in &s.component_status {
        println!("  {component}: {status}");
    }
    println!(
        "  transitions to or from master: {} (flap count)",
        s.transitions_total
    );
    print_history(&s.last_transitions.iter().rev().cloned().collect::<Vec<_>>());
}

fn print_history(transitions: &[Transition]) {
    for t in transitions {
        let mut phases = Vec::new();
        if let Some(ms) = t.detect_ms {
            phases.push(format!("detect {ms:.1} ms"));
        }
        if let Some(ms) = t.vip_added_ms {
            phases.push(format!("VIP added {ms:.2} ms"));
        }
        if let Some(ms) = t.first_garp_ms {
            phases.push(format!("first GARP {ms:.2} ms"));
        }
        let cause = t
            .cause
            .as_ref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let phases = if phases.is_empty() {
            String::new()
        } else {
            format!("; {}", phases.join(", "))
        };
        println!(
            "    {} {}: {} -> {} ({}){cause}{phases}",
            ago(t.at_ms),
            t.instance,
            t.from,
            t.to,
            t.reason
        );
    }
}
