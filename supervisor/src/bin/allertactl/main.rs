//! `allertactl`: the operator CLI. It talks to the local supervisor over its control socket
//! (root only). Human output by default, `--json` for scripts.
//!
//! Exit codes: 0 done; 1 refused (the message says why), or (`sla`) a file that cannot be
//! read, or (`problems`) there are problems; 2 usage error; 3 the supervisor cannot be
//! reached; 4 (`status` only) this node is in fault or maintenance, or first boot refused the
//! wizard's settings at its last power-on.
//!
//! `sla` reads the node file, the availability ledger and the windows file itself, so it
//! works while the supervisor is down.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod pair;
mod show;
mod views;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use component::contract;
use component::error::chain;
use component::localtime;
use firstboot::console::Console;
use firstboot::refusal;
use operator_commands::admin::Admin;
use operator_commands::sync::SyncCmd;
use supervisor::alarms;
use supervisor::availability::{report, store};
use supervisor::check;
use supervisor::config;
use supervisor::control::protocol::{Request, Response};

#[derive(Debug, Parser)]
#[command(
    name = "allertactl",
    version,
    about = "Operate an Allerta node: status, planned switchover, maintenance, campaigns",
    after_help = "Exit codes: 0 done, 1 refused (problems: some), 2 usage, 3 supervisor unreachable, 4 status: fault, maintenance or settings refused at boot."
)]
struct Cli {
    /// The supervisor's control socket (default: the node file's
    /// `[supervisor] control_socket`, else /run/allerta/supervisor.sock).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Print the supervisor's answer as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// The node file (for `sla` and the campaign, contacts, message and operator commands).
    #[arg(long, global = true, default_value = "/etc/allerta/node.toml")]
    config: PathBuf,
    /// The media core's control socket (they ask it whether this node is master; default:
    /// the node file's `mediacore` component's, else /run/allerta/mediacore.sock).
    #[arg(long, global = true)]
    mediacore_socket: Option<PathBuf>,
    /// Where first boot records an OVF environment it refused (for `status`).
    #[arg(long, global = true, hide = true, default_value = refusal::FILE)]
    firstboot_refused: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

/// The control sockets of this node's programs: a flag if given, else what the node file
/// names (`[supervisor] control_socket`, each `[[component]]`'s `control_socket`), else the
/// appliance's place. So `--config` alone points allertactl at a node, and the sockets are
/// written down once, where the supervisor reads them.
struct Sockets {
    supervisor: PathBuf,
    mediacore: PathBuf,
    sync: PathBuf,
    /// The other node's `/status` (`[supervisor] peer_status`), if the node file names it.
    peer_status: Option<String>,
}

impl Sockets {
    fn of(cli: &Cli) -> Self {
        // A node file that cannot be read or parsed leaves the defaults: `status` must work
        // whatever state the file is in (the supervisor says what is wrong with it).
        let doc: toml::Table = std::fs::read_to_string(&cli.config)
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or_default();
        let path = |v: Option<&toml::Value>| v.and_then(toml::Value::as_str).map(PathBuf::from);
        let component = |name: &str| {
            doc.get("component")
                .and_then(toml::Value::as_array)
                .and_then(|all| {
                    all.iter()
                        .find(|c| c.get("name").and_then(toml::Value::as_str) == Some(name))
                })
                .and_then(|c| path(c.get("control_socket")))
                .unwrap_or_else(|| format!("/run/allerta/{name}.sock").into())
        };
        Self {
            supervisor: cli.socket.clone().unwrap_or_else(|| {
                path(doc.get("supervisor").and_then(|s| s.get("control_socket")))
                    .unwrap_or_else(|| "/run/allerta/supervisor.sock".into())
            }),
            mediacore: cli
                .mediacore_socket
                .clone()
                .unwrap_or_else(|| component("mediacore")),
            sync: component("sync"),
            peer_status: doc
                .get("supervisor")
                .and_then(|s| s.get("peer_status"))
                .and_then(toml::Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// Hands an operator's command to `allerta-mediacore`, which owns campaigns and contacts.
fn media_core(cli: &Cli, admin: &Admin) -> ExitCode {
    let mut before = vec![
        std::ffi::OsString::from("--control"),
        Sockets::of(cli).mediacore.into_os_string(),
    ];
    if cli.json {
        before.push("--json".into());
    }
    companion(cli, "allerta-mediacore", &before, &admin.to_args())
}

/// Runs one of the node's other programs with the node file: the binary beside allertactl
/// is preferred (an installed set), else the one on PATH. Its exit says how it went.
fn companion(cli: &Cli, name: &str, before: &[std::ffi::OsString], args: &[String]) -> ExitCode {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from(name));
    let status = std::process::Command::new(&program)
        .arg("--config")
        .arg(&cli.config)
        .args(before)
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
    /// Load the configuration files again now on this node (`systemctl reload
    /// allerta-supervisor` does the same); a file that does not load leaves the running
    /// one in force and shows in `status`.
    Reload,
    /// Availability against the SLA for a month, from this node's ledger of outages (the
    /// service as a client sees it) and the windows file (announced work, exclusions).
    Sla {
        /// The month, YYYY-MM (default: this month, local time).
        #[arg(long, value_parser = parse_month)]
        month: Option<(i64, u32)>,
    },
    /// The problems an operator must act on, one line each (exit 0: none, 1: some). With
    /// --follow, each line once when it appears ("PROBLEM: …") and once when it clears
    /// ("resolved: …"), until stopped: the appliance's console runs this.
    Problems {
        #[arg(long)]
        follow: bool,
        /// How often --follow asks the supervisor, in seconds.
        #[arg(long, default_value_t = 2)]
        every: u64,
        /// Also write each --follow line to this terminal (the unit: /dev/console).
        #[arg(long)]
        console: Option<PathBuf>,
    },
    /// The node as a monitoring plugin reports it (Icinga, Nagios, Zabbix, Checkmk): one
    /// line with performance data; exit 0 OK, 1 WARNING (a trunk, sync, configuration or
    /// maintenance), 2 CRITICAL (Fault, a component down, a VRRP stranger), 3 UNKNOWN (the
    /// supervisor does not answer).
    Check,
    /// The trunks of both nodes: registration, OPTIONS reachability and round trip (like
    /// Asterisk's `pjsip show registrations`).
    Trunks,
    /// The calls in progress on this node's media core (like Asterisk's `core show
    /// channels`).
    Calls,
    #[command(flatten)]
    Admin(Admin),
    /// Replication: the agent's report (the default), what would be sent (`dry-run`), the
    /// divergence journal (`divergence`, `divergence apply N|all` on the master).
    Sync {
        #[command(subcommand)]
        action: Option<SyncAction>,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff); with --dir, write a page for allertactl and one for each
    /// of its commands (allertactl-campaign-create.1, …) into that folder.
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum SyncAction {
    /// The sync agent's report: role, peer, lag, last change, errors, divergences.
    Status,
    #[command(flatten)]
    Operator(SyncCmd),
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
        Cmd::Reload => Request::Reload,
        Cmd::Sla { month } => return sla(&cli, month),
        Cmd::Check => return check(&cli),
        Cmd::Problems {
            follow,
            every,
            ref console,
        } => return problems(&cli, follow, every, console.clone()),
        Cmd::Admin(ref admin) => return media_core(&cli, admin),
        Cmd::Sync {
            action: None | Some(SyncAction::Status),
        } => return sync_status(&cli),
        Cmd::Sync {
            action: Some(SyncAction::Operator(ref cmd)),
        } => {
            if cli.json {
                eprintln!("allertactl: `sync {}` prints text only (its reports are the journal's files); --json is for `sync status`", cmd.to_args()[0]);
                return ExitCode::from(2);
            }
            let control = [
                std::ffi::OsString::from("--control"),
                Sockets::of(&cli).sync.into_os_string(),
            ];
            return companion(&cli, "allerta-sync", &control, &cmd.to_args());
        }
        Cmd::Trunks => return trunks(&cli),
        Cmd::Calls => return calls(&cli),
        Cmd::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "allertactl",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Cmd::Man { ref dir } => {
            let written = match dir {
                Some(dir) => std::fs::create_dir_all(dir)
                    .and_then(|()| clap_mangen::generate_to(Cli::command(), dir)),
                None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()),
            };
            return match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("allertactl: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    // Said first on `status`: it explains a node that runs on old settings, or (on its
    // first boot) has no supervisor to ask at all.
    let refused = match cli.command {
        Cmd::Status => refusal::read(&cli.firstboot_refused),
        _ => None,
    };
    if let Some(problems) = &refused {
        show::print_refusal(cli.json, problems);
    }
    let socket = Sockets::of(&cli).supervisor;
    let response = match call(&socket, &request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "allertactl: cannot reach the supervisor at {}: {e}",
                socket.display()
            );
            return ExitCode::from(3);
        }
    };
    // `status` shows the other node too, as its supervisor serves it (`peer_status`).
    let peer = match (&response, Sockets::of(&cli).peer_status) {
        (Response::Status(_), Some(addr)) => Some((addr.clone(), pair::fetch(&addr))),
        _ => None,
    };
    if cli.json {
        let mut doc = serde_json::to_value(&response).unwrap_or_default();
        if let (Some((addr, peer)), Some(map)) = (&peer, doc.as_object_mut()) {
            map.insert("peer".into(), pair::peer_json(addr, peer));
        }
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    match response {
        Response::Status(status) => {
            if !cli.json {
                if let Some((addr, peer)) = &peer {
                    for line in pair::summary(&status, addr, peer) {
                        println!("{line}");
                    }
                    println!();
                }
                show::print_status(&status);
            }
            if status.role == "FAULT" || status.maintenance || refused.is_some() {
                return ExitCode::from(4);
            }
            ExitCode::SUCCESS
        }
        Response::History { transitions } => {
            if !cli.json {
                show::print_history(&transitions);
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

/// `allertactl trunks`: this node's trunks and the other node's (from its `/status`).
fn trunks(cli: &Cli) -> ExitCode {
    let sockets = Sockets::of(cli);
    let this = match call(&sockets.supervisor, &Request::Status) {
        Ok(Response::Status(s)) => s,
        Ok(other) => {
            eprintln!("allertactl: unexpected answer {other:?}");
            return ExitCode::from(3);
        }
        Err(e) => {
            eprintln!(
                "allertactl: cannot reach the supervisor at {}: {e}",
                sockets.supervisor.display()
            );
            return ExitCode::from(3);
        }
    };
    let mut rows = views::trunk_rows(&this);
    let mut unreachable = None;
    if let Some(addr) = &sockets.peer_status {
        match pair::fetch(addr) {
            Ok(peer) => rows.extend(views::trunk_rows(&peer)),
            Err(e) => unreachable = Some(e),
        }
    }
    if cli.json {
        println!("{}", serde_json::Value::from(rows));
    } else {
        print!("{}", views::trunks_table(&rows));
        if let Some(e) = unreachable {
            println!("the other node's trunks are not shown: it does not answer ({e})");
        }
    }
    ExitCode::SUCCESS
}

/// `allertactl calls`: the media core's calls in progress (the contract's `calls`).
fn calls(cli: &Cli) -> ExitCode {
    let socket = Sockets::of(cli).mediacore;
    match component_call(&socket, &contract::Request::Calls) {
        Ok(contract::Response::Calls(doc)) => {
            if cli.json {
                println!("{doc}");
            } else {
                print!("{}", views::calls_table(&doc));
            }
            ExitCode::SUCCESS
        }
        Ok(other) => {
            // A media core of contract 1 (a rolling upgrade in progress) cannot list calls.
            eprintln!("allertactl: the media core cannot list its calls: {other:?}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!(
                "allertactl: the media core does not answer at {}: {e}",
                socket.display()
            );
            ExitCode::from(3)
        }
    }
}

/// `allertactl sync status`: the running agent's report, in words (or as its JSON).
fn sync_status(cli: &Cli) -> ExitCode {
    let socket = Sockets::of(cli).sync;
    match component_call(&socket, &contract::Request::Status) {
        Ok(contract::Response::Status(doc)) => {
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                for line in show::sync_lines(&doc) {
                    println!("{line}");
                }
            }
            ExitCode::SUCCESS
        }
        Ok(other) => {
            eprintln!("allertactl: unexpected answer from the sync agent: {other:?}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!(
                "allertactl: the sync agent does not answer at {} (is it running?): {e}",
                socket.display()
            );
            ExitCode::from(3)
        }
    }
}

/// One request of the component contract to a component's control socket, through the
/// supervisor's own client (`component::client`).
fn component_call(
    socket: &std::path::Path,
    request: &contract::Request,
) -> Result<contract::Response, String> {
    let mut client = component::client::ControlClient::new(socket.to_owned());
    block_on(client.call(request, Duration::from_secs(5))).map_err(|e| chain(&e))
}

/// Runs one of the project's async clients to its end: allertactl's few exchanges with the
/// components and the other node use the same code as the supervisor.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a single-threaded runtime")
        .block_on(f)
}

/// `allertactl problems`: the supervisor's alarms now, or (`follow`) as they come and go.
/// `allertactl check`: a monitoring plugin's line and exit code.
fn check(cli: &Cli) -> ExitCode {
    let socket = Sockets::of(cli).supervisor;
    let verdict = match call(&socket, &Request::Status) {
        Ok(Response::Status(status)) => check::verdict(&status, localtime::now_ms()),
        Ok(other) => check::unknown(&format!("unexpected answer {other:?}")),
        Err(e) => check::unknown(&format!(
            "the supervisor does not answer at {}: {e}",
            socket.display()
        )),
    };
    if cli.json {
        let state = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
            .get(usize::from(verdict.code))
            .unwrap_or(&"UNKNOWN");
        println!(
            "{}",
            serde_json::json!({ "code": verdict.code, "state": state, "line": verdict.line })
        );
    } else {
        println!("{}", verdict.line);
    }
    ExitCode::from(verdict.code)
}

fn problems(cli: &Cli, follow: bool, every: u64, device: Option<PathBuf>) -> ExitCode {
    let socket = Sockets::of(cli).supervisor;
    let ask = || match call(&socket, &Request::Status) {
        Ok(Response::Status(status)) => Ok(alarms::of(&status, localtime::now_ms())),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(e) => Err(format!(
            "the supervisor does not answer at {}: {e}",
            socket.display()
        )),
    };
    if !follow {
        return match ask() {
            Ok(list) => {
                if cli.json {
                    let list: Vec<_> = list
                        .iter()
                        .map(|a| serde_json::json!({ "key": a.key, "text": a.text }))
                        .collect();
                    println!("{}", serde_json::Value::from(list));
                } else {
                    for a in &list {
                        println!("{}", a.text);
                    }
                }
                ExitCode::from(u8::from(!list.is_empty()))
            }
            Err(e) => {
                eprintln!("allertactl: {e}");
                ExitCode::from(3)
            }
        };
    }
    // Under systemd, a "<N>" prefix gives each line its journal priority; in a terminal it
    // would be noise.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let console = Console::new(device);
    let say = |priority: u8, what: &str, text: &str| {
        let prefix = if journal {
            format!("<{priority}>")
        } else {
            String::new()
        };
        console.say_with(&prefix, &format!("{what}: {text}"));
    };
    let mut shown: Vec<alarms::Alarm> = Vec::new();
    let mut silent = 0u32;
    loop {
        let now = match ask() {
            Ok(list) => {
                silent = 0;
                list
            }
            // A supervisor restarting answers again within seconds: only a longer silence
            // is a problem of its own.
            Err(e) => {
                silent += 1;
                if silent < 3 {
                    std::thread::sleep(Duration::from_secs(every));
                    continue;
                }
                vec![alarms::Alarm {
                    key: "supervisor".into(),
                    text: e,
                }]
            }
        };
        for gone in shown.iter().filter(|a| now.iter().all(|n| n.key != a.key)) {
            say(5, "resolved", &gone.text);
        }
        for new in now.iter().filter(|n| shown.iter().all(|a| a.key != n.key)) {
            say(4, "PROBLEM", &new.text);
        }
        shown = now;
        std::thread::sleep(Duration::from_secs(every));
    }
}

/// "2026-11" to (2026, 11).
fn parse_month(text: &str) -> Result<(i64, u32), String> {
    let bad = || format!("{text:?} is not a month YYYY-MM");
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    let (y, m) = (
        y.parse::<i64>().map_err(|_| bad())?,
        m.parse::<u32>().map_err(|_| bad())?,
    );
    if y < 1970 || !(1..=12).contains(&m) || text.len() != 7 {
        return Err(bad());
    }
    Ok((y, m))
}

/// `allertactl sla`: reads the files itself (the supervisor may be down).
fn sla(cli: &Cli, month: Option<(i64, u32)>) -> ExitCode {
    let fail = |e: &dyn std::error::Error| {
        eprintln!("allertactl: {}", chain(e));
        ExitCode::from(1)
    };
    let config = match config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let a = &config.availability;
    let now = localtime::now_ms();
    let (year, month) = month.unwrap_or_else(|| store::this_month(now));
    let (r, windows, torn) = match store::month_report(a, year, month, now) {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    if let Some(line) = torn {
        eprintln!(
            "allertactl: warning: {}:{line}: torn last line ignored (a crash mid-write)",
            a.ledger.display()
        );
    }
    if cli.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            node: &'a str,
            service: String,
            probing: bool,
            ledger: &'a std::path::Path,
            windows: &'a std::path::Path,
            #[serde(flatten)]
            report: &'a report::MonthReport,
        }
        let json = Json {
            node: &config.node_name,
            service: a.service.to_string(),
            probing: a.enabled,
            ledger: &a.ledger,
            windows: &a.windows,
            report: &r,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "{}: the service {} as a client sees it; ledger {}, {} window(s) in {}",
        config.node_name,
        a.service,
        a.ledger.display(),
        windows,
        a.windows.display()
    );
    if !a.enabled {
        println!("  (probing is off here: [availability] enabled = false)");
    }
    print!("{}", report::render(&r));
    ExitCode::SUCCESS
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_written_yyyy_mm() {
        assert_eq!(parse_month("2026-11"), Ok((2026, 11)));
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "2026-11-01"] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_node_file_names_the_sockets_and_a_flag_wins() {
        let dir = std::env::temp_dir().join(format!("allertactl-sockets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("node.toml");
        std::fs::write(
            &file,
            "[supervisor]\ncontrol_socket = \"/x/supervisor.sock\"\n\n\
             [[component]]\nname = \"mediacore\"\ncontrol_socket = \"/x/m.sock\"\n\n\
             [[component]]\nname = \"sync\"\ncontrol_socket = \"/y/s.sock\"\n",
        )
        .unwrap();
        let cli = |args: &[&str]| {
            Cli::parse_from(
                [
                    &["allertactl", "--config", file.to_str().unwrap()],
                    args,
                    &["status"],
                ]
                .concat(),
            )
        };
        let s = Sockets::of(&cli(&[]));
        assert_eq!(
            (s.supervisor, s.mediacore, s.sync),
            (
                "/x/supervisor.sock".into(),
                "/x/m.sock".into(),
                "/y/s.sock".into()
            )
        );
        let s = Sockets::of(&cli(&[
            "--socket",
            "/z/sup.sock",
            "--mediacore-socket",
            "/z/m.sock",
        ]));
        assert_eq!(
            (s.supervisor, s.mediacore),
            ("/z/sup.sock".into(), "/z/m.sock".into())
        );
        // No node file: the appliance's places.
        std::fs::remove_file(&file).unwrap();
        let s = Sockets::of(&cli(&[]));
        assert_eq!(
            (s.supervisor, s.mediacore, s.sync),
            (
                "/run/allerta/supervisor.sock".into(),
                "/run/allerta/mediacore.sock".into(),
                "/run/allerta/sync.sock".into()
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
