//! `allerta-firstboot`: configures the node from its OVF environment on every boot
//! (`allerta-firstboot.service`). Exit 0: configured, unchanged, or no environment at all;
//! 1: the environment is invalid (one `ERROR: <key>: <reason>` line per problem, nothing
//! written, the VM boots on for diagnosis); 2: a local failure (a file not written).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use firstboot::console::Console;
use firstboot::env::Environment;
use firstboot::source::{self, Sources};
use firstboot::{apply, nics, refusal, render, validate};

#[derive(Debug, Parser)]
#[command(
    name = "allerta-firstboot",
    version,
    about = "Configure this Allerta node from its OVF environment (vApp properties)"
)]
struct Args {
    /// Write under this directory instead of `/` (image builds, tests); the running
    /// system's host name is then left alone.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// The environment file tried after guestinfo and the CD-ROMs.
    #[arg(long, default_value = "/etc/allerta/ovf-env.xml")]
    env_file: PathBuf,
    /// Do not ask vmtoolsd for guestinfo.ovfEnv.
    #[arg(long)]
    no_guestinfo: bool,
    /// Do not look for ovf-env.xml on CD-ROMs.
    #[arg(long)]
    no_cdrom: bool,
    /// The adapters as `name=mac,name=mac` (data first) instead of reading sysfs.
    #[arg(long)]
    nics: Option<String>,
    /// Also write each line to this terminal (the unit: /dev/console, the screen).
    #[arg(long)]
    console: Option<PathBuf>,
}

/// Where each line goes: standard output (the journal) and the `--console` device.
static CONSOLE: std::sync::OnceLock<Console> = std::sync::OnceLock::new();

/// Like `println!`, to the journal and the screen.
macro_rules! say {
    ($($arg:tt)*) => {
        CONSOLE.get_or_init(Console::default).say(&format!($($arg)*))
    };
}

const ME: &str = "allerta-firstboot";

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = CONSOLE.set(Console::new(args.console.clone()));
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            say!("ERROR: {ME}: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode> {
    let sources = Sources {
        guestinfo: !args.no_guestinfo,
        cdroms: if args.no_cdrom {
            Vec::new()
        } else {
            source::cdrom_devices()
        },
        mount_dir: PathBuf::from("/run/allerta-firstboot/cdrom"),
        file: Some(args.env_file.clone()),
    };
    let Some((origin, xml)) = source::read(&sources) else {
        say!(
            "{ME}: no OVF environment (guestinfo, CD-ROM, {}): nothing to configure",
            args.env_file.display()
        );
        forget_refusal(args);
        return Ok(ExitCode::SUCCESS);
    };
    say!("{ME}: OVF environment from {origin}");
    let env = match Environment::parse(&xml) {
        Ok(env) => env,
        Err(e) => {
            say!("ERROR: ovf-env: {e}");
            return Ok(refuse(args, &[format!("ovf-env: {e}")]));
        }
    };
    for key in validate::unknown_keys(&env) {
        say!("{ME}: ignoring property {key}: not an Allerta property");
    }
    let settings = match validate::validate(&env) {
        Ok(settings) => settings,
        Err(problems) => {
            for problem in &problems {
                say!("ERROR: {problem}");
            }
            say!(
                "{ME}: the OVF environment is invalid ({} problem(s)); nothing written. \
                 Fix the vApp properties (Edit Settings > vApp Options) and restart",
                problems.len()
            );
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Ok(refuse(args, &lines));
        }
    };
    let found = match &args.nics {
        Some(list) => nics::parse_list(list).map_err(anyhow::Error::msg)?,
        None => {
            let sys = Path::new("/sys/class/net");
            let pending =
                nics::wait_for_udev(sys, Path::new("/run/udev/data"), Duration::from_secs(30));
            if !pending.is_empty() {
                say!(
                    "{ME}: udev has not processed {} after 30 s; using the names as they are",
                    pending.join(" ")
                );
            }
            nics::scan(sys).context("reading /sys/class/net")?
        }
    };
    let (data, voice) = match nics::choose(found) {
        Ok(pair) => pair,
        Err(reason) => {
            say!("ERROR: hardware: {reason}");
            return Ok(refuse(args, &[format!("hardware: {reason}")]));
        }
    };
    let plan = render::plan(&settings, &data, &voice);
    let outcome = apply::apply(&args.root, &plan)?;
    let summary = render::summary(&settings, &data, &voice);
    if outcome.is_unchanged() {
        say!("{ME}: unchanged: {summary}");
    } else {
        say!(
            "{ME}: configured {summary}; wrote {}{}",
            outcome.written.join(" "),
            if outcome.removed.is_empty() {
                String::new()
            } else {
                format!("; removed {}", outcome.removed.join(" "))
            }
        );
    }
    if args.root == Path::new("/") {
        set_hostname(&settings.hostname)?;
    }
    forget_refusal(args);
    Ok(ExitCode::SUCCESS)
}

/// The environment was refused: the node keeps its last good settings (or has none), and
/// `allertactl status` says why (`refusal`). Exit 1.
fn refuse(args: &Args, problems: &[String]) -> ExitCode {
    if let Err(e) = refusal::record(&args.root, problems) {
        say!("ERROR: {ME}: recording the refusal for allertactl: {e}");
    }
    ExitCode::FAILURE
}

fn forget_refusal(args: &Args) {
    if let Err(e) = refusal::clear(&args.root) {
        say!(
            "ERROR: {ME}: removing the last refusal ({}): {e}",
            refusal::FILE
        );
    }
}

/// systemd read /etc/hostname before this ran; on the boot that changes it, the kernel's
/// name is set too, so the console and the journal show the new name at once. Through
/// `/proc/sys/kernel/hostname` (what `sethostname(2)` sets), so this crate needs no libc
/// binding and the OVA tool, which depends on it, builds none.
fn set_hostname(name: &str) -> Result<()> {
    const KERNEL_HOSTNAME: &str = "/proc/sys/kernel/hostname";
    let current = std::fs::read_to_string(KERNEL_HOSTNAME).context(KERNEL_HOSTNAME)?;
    if current.trim_end() != name {
        std::fs::write(KERNEL_HOSTNAME, name)
            .with_context(|| format!("writing {KERNEL_HOSTNAME}"))?;
    }
    Ok(())
}
