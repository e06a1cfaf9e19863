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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use component::error::chain;
use component::localtime;
use firstboot::console::Console;
use firstboot::refusal;
use supervisor::alarms;
use supervisor::availability::{report, store};
use supervisor::check;
use supervisor::config;
use supervisor::control::protocol::{Request, Response, Status, Transition};

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
        }
    }
}

/// Runs `allerta-mediacore <what> <args>`: the media core owns campaigns and contacts.
fn media_core(cli: &Cli, what: &str, args: &[String]) -> ExitCode {
    let control = [
        std::ffi::OsString::from("--control"),
        Sockets::of(cli).mediacore.into_os_string(),
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
    /// saved before a resync; on the master, what the other node wrote alone during a split),
    /// `divergence apply N|all` (re-apply those on the master), `dry-run` (what would be
    /// sent), run by `allerta-sync`.
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
        Cmd::Reload => Request::Reload,
        Cmd::Sla { month } => return sla(&cli, month),
        Cmd::Check => return check(&cli),
        Cmd::Problems {
            follow,
            every,
            ref console,
        } => return problems(&cli, follow, every, console.clone()),
        Cmd::Campaign { ref args } => return media_core(&cli, "campaign", args),
        Cmd::Contacts { ref args } => return media_core(&cli, "contacts", args),
        Cmd::Message { ref args } => return media_core(&cli, "message", args),
        Cmd::Operator { ref args } => return media_core(&cli, "operator", args),
        Cmd::Sync { ref args } => {
            let (what, rest) = args
                .split_first()
                .map_or(("status", &[][..]), |(w, r)| (w.as_str(), r));
            let control = [
                std::ffi::OsString::from("--control"),
                Sockets::of(&cli).sync.into_os_string(),
            ];
            return companion(&cli, "allerta-sync", &control, what, rest);
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
    // Said first on `status`: it explains a node that runs on old settings, or (on its
    // first boot) has no supervisor to ask at all.
    let refused = match cli.command {
        Cmd::Status => refusal::read(&cli.firstboot_refused),
        _ => None,
    };
    if let Some(problems) = &refused {
        print_refusal(&cli, problems);
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
            if status.role == "FAULT" || status.maintenance || refused.is_some() {
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
    println!("{}", verdict.line);
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
                for a in &list {
                    println!("{}", a.text);
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
    // What must be acted on first, as the console says it (`allertactl problems`).
    for a in alarms::of(s, localtime::now_ms()) {
        println!("  PROBLEM: {}", a.text);
    }
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
        for line in component_lines(component, status) {
            println!("  {line}");
        }
    }
    if let Some(a) = &s.availability {
        let state = match (a.up, a.down_since_ms) {
            (None, _) => "not probed yet".to_string(),
            (Some(true), _) => "up".into(),
            (Some(false), Some(since)) => format!(
                "DOWN (outage since {}; {})",
                ago(since),
                a.last_error.as_deref().unwrap_or("")
            ),
            (Some(false), None) => "DOWN".into(),
        };
        let probed = a
            .last_probe_ms
            .map(|ms| format!(", probed {}", ago(ms)))
            .unwrap_or_default();
        println!(
            "  service {} (as a client sees it): {state}{probed}",
            a.service
        );
    }
    println!(
        "  transitions to or from master: {} (flap count)",
        s.transitions_total
    );
    print_history(&s.last_transitions.iter().rev().cloned().collect::<Vec<_>>());
}

/// What a component reported, for a person: the media core's trunks, calls, dispatch and
/// configuration alarms, the sync agent's peer, lag and last error, one line each; any
/// other component (or a field we do not know) as its JSON. A problem is in capitals.
fn component_lines(name: &str, status: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let text = |key: &str| status.get(key).and_then(Value::as_str);
    let number = |key: &str| status.get(key).and_then(Value::as_u64).unwrap_or(0);
    let mut out = Vec::new();
    match name {
        "mediacore" => {
            let dispatch = match (
                status.get("dispatching").and_then(Value::as_bool),
                text("dispatch_hold"),
            ) {
                (Some(true), _) => "campaign calls allowed".to_owned(),
                (_, Some(why)) => format!("no campaign calls ({why})"),
                _ => "no campaign calls".to_owned(),
            };
            out.push(format!(
                "{name}: {}, {} call(s) up, {dispatch}",
                text("role").unwrap_or("no role yet"),
                number("active_calls")
            ));
            for t in status
                .get("trunks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let registration = t.get("registration").and_then(Value::as_str).unwrap_or("?");
                let registration = match registration {
                    "none" => "no registration".to_owned(),
                    r => match r.strip_prefix("failed") {
                        Some(why) => format!("REGISTRATION FAILED{why}"),
                        None => r.to_owned(),
                    },
                };
                let reach = match t.get("reachability").and_then(Value::as_str) {
                    Some("unreachable") => ", UNREACHABLE (no answer to OPTIONS)".to_owned(),
                    Some(r) => format!(", {r}"),
                    None => String::new(),
                };
                out.push(format!(
                    "  trunk {}: {registration}{reach}",
                    t.get("name").and_then(Value::as_str).unwrap_or("?")
                ));
            }
            for alarm in status
                .get("config_alarms")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(format!(
                    "  CONFIGURATION NOT LOADED (the previous one stays in force): {}",
                    alarm.as_str().unwrap_or_default()
                ));
            }
            if let Some(why) = text("hold_preempt") {
                out.push(format!("  holds the master role back: {why}"));
            }
            if number("unidentified_invites") > 0 {
                out.push(format!(
                    "  {} call(s) refused from addresses that are no trunk's",
                    number("unidentified_invites")
                ));
            }
        }
        "sync" => {
            let fresh = status.get("checks").and_then(|c| c.get("fresh"));
            let step = match fresh.and_then(|f| f.get("ok")).and_then(Value::as_bool) {
                Some(true) => "in step".to_owned(),
                _ => format!(
                    "NOT IN STEP ({})",
                    fresh
                        .and_then(|f| f.get("reason"))
                        .and_then(Value::as_str)
                        .unwrap_or("no report yet")
                ),
            };
            let lag = match status.get("lag_ms").and_then(Value::as_u64) {
                Some(ms) => format!(", lag {} record(s), {ms} ms", number("lag_records")),
                None => String::new(),
            };
            out.push(format!(
                "{name}: {}, peer {}{lag}, {step}",
                text("role").unwrap_or("no role yet"),
                text("peer").unwrap_or("none")
            ));
            if let Some(e) = text("last_error") {
                out.push(format!("  last error: {e}"));
            }
            if number("refused_peers") > 0 {
                out.push(format!(
                    "  REFUSED {} connection(s) from a peer not of this pair",
                    number("refused_peers")
                ));
            }
            if number("divergent_waiting") > 0 {
                out.push(format!(
                    "  {} change(s) made apart wait for an operator: allertactl sync divergence",
                    number("divergent_waiting")
                ));
            }
        }
        _ => out.push(format!("{name}: {status}")),
    }
    out
}

/// First boot refused the wizard's settings at this node's last power-on.
fn print_refusal(cli: &Cli, problems: &[String]) {
    let mut text = String::from(
        "FIRST BOOT REFUSED the wizard's settings at the last power-on: this node runs with \
         the settings of its last good boot (none if it never had one). Fix the vApp \
         properties (Edit Settings > vApp Options) and power the node off and on:\n",
    );
    for p in problems {
        text.push_str(&format!("  {p}\n"));
    }
    // With --json, standard output is the supervisor's answer alone.
    if cli.json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
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

    #[test]
    fn components_are_told_in_words_with_problems_in_capitals() {
        let media = serde_json::json!({
            "role": "backup", "active_calls": 2, "dispatching": false,
            "dispatch_hold": "backup",
            "trunks": [
                {"name": "trunk-in", "registration": "registered", "registered": true},
                {"name": "trunk-out", "registration": "failed: 403 Forbidden", "registered": false,
                 "reachability": "unreachable"}
            ],
            "config_alarms": ["/etc/allerta/shared/extensions.conf:12: unknown application Foo"],
        });
        assert_eq!(
            component_lines("mediacore", &media),
            [
                "mediacore: backup, 2 call(s) up, no campaign calls (backup)",
                "  trunk trunk-in: registered",
                "  trunk trunk-out: REGISTRATION FAILED: 403 Forbidden, UNREACHABLE (no answer to OPTIONS)",
                "  CONFIGURATION NOT LOADED (the previous one stays in force): \
                 /etc/allerta/shared/extensions.conf:12: unknown application Foo",
            ]
        );
        let sync = serde_json::json!({
            "role": "backup", "peer": "10.77.0.11:7480", "lag_records": 0, "lag_ms": null,
            "last_error": "the peer's certificate is not from this pair: refused 10.77.0.11",
            "refused_peers": 3,
            "checks": {"fresh": {"ok": false, "reason": "never in step since start"}},
        });
        assert_eq!(
            component_lines("sync", &sync),
            [
                "sync: backup, peer 10.77.0.11:7480, NOT IN STEP (never in step since start)",
                "  last error: the peer's certificate is not from this pair: refused 10.77.0.11",
                "  REFUSED 3 connection(s) from a peer not of this pair",
            ]
        );
        assert_eq!(
            component_lines("other", &serde_json::json!({"x": 1})),
            [r#"other: {"x":1}"#]
        );
    }
}
