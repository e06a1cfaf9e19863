//! Driver: the VIP guard, a small child process that releases the virtual addresses when the
//! supervisor dies without shutting down (SIGKILL, OOM kill, abort).
//!
//! keepalived killed with SIGKILL leaves its VIP configured and stays silent, so the backup
//! waits 3 × the advert interval and then both nodes hold the address. The guard closes that
//! hole: the supervisor tells it, over the guard's stdin, which instances are master; when
//! stdin reaches end-of-file without a goodbye, the supervisor is gone, and the guard sends
//! each of those instances' priority-0 advert and removes its addresses, so the backup takes
//! over after Skew_Time.
//!
//! The contract, one line each on the guard's stdin:
//! `master <instance>` · `backup <instance>` (any other state) · `exit` (clean shutdown).
//!
//! Both sides are here: [`run`] is the guard process (`allerta-supervisor --guard`);
//! [`Guard`], [`forward_to_guard`] and [`respawn_guard`] are the supervisor's handle on it.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use tracing::{error, info, warn};

use super::driver::{release, DriverError};
use super::machine::State;
use crate::config::Config;

/// One line of the guard contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Master(String),
    Backup(String),
    Exit,
}

impl Message {
    pub fn encode(&self) -> String {
        match self {
            Self::Master(name) => format!("master {name}\n"),
            Self::Backup(name) => format!("backup {name}\n"),
            Self::Exit => "exit\n".into(),
        }
    }

    pub fn decode(line: &str) -> Option<Self> {
        match line.trim_end().split_once(' ') {
            Some(("master", name)) => Some(Self::Master(name.into())),
            Some(("backup", name)) => Some(Self::Backup(name.into())),
            None if line.trim_end() == "exit" => Some(Self::Exit),
            _ => None,
        }
    }
}

/// Follows the supervisor's messages; returns the instances to release (empty after `exit`).
pub fn follow(input: impl BufRead) -> BTreeSet<String> {
    let mut masters = BTreeSet::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        match Message::decode(&line) {
            Some(Message::Master(name)) => {
                masters.insert(name);
            }
            Some(Message::Backup(name)) => {
                masters.remove(&name);
            }
            Some(Message::Exit) => return BTreeSet::new(),
            None => warn!(%line, "guard: ignoring an unknown message"),
        }
    }
    masters
}

/// The guard process's main: follow stdin, and release what is left when it ends.
pub fn run(config: &Config) -> Result<(), DriverError> {
    // Ctrl-C in a terminal reaches the whole process group; the supervisor handles it and
    // says goodbye, so the guard must not die of it first: block (not handle) both signals.
    let mut blocked = SigSet::empty();
    blocked.add(Signal::SIGINT);
    blocked.add(Signal::SIGTERM);
    if let Err(e) = blocked.thread_block() {
        warn!(error = %e, "guard: could not block SIGINT/SIGTERM");
    }
    let masters = follow(std::io::stdin().lock());
    if masters.is_empty() {
        return Ok(());
    }
    warn!(instances = ?masters, "guard: the supervisor died while master; releasing");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DriverError::Runtime)?;
    let mut first_error = None;
    for cfg in config
        .instances
        .iter()
        .filter(|i| masters.contains(&i.name))
    {
        if let Err(e) = rt.block_on(release(cfg)) {
            tracing::error!(instance = %cfg.name, error = %component::error::chain(&e), "guard: release failed");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The supervisor's side: keeps the VIP guard informed of which instances are master.
pub fn forward_to_guard(
    guard: &mut Option<Guard>,
    config_path: &std::path::Path,
    instance: &str,
    to: State,
    masters: &[String],
) {
    let message = if to == State::Master {
        Message::Master(instance.into())
    } else {
        Message::Backup(instance.into())
    };
    let Some(g) = guard else { return };
    if g.stdin.write_all(message.encode().as_bytes()).is_ok() {
        return;
    }
    // The guard died (someone killed it): start a new one and tell it who is master now.
    let _ = g.child.try_wait(); // reap it
    warn!("VIP guard gone; starting a new one");
    *guard = respawn_guard(config_path, masters);
}

pub fn respawn_guard(config_path: &std::path::Path, masters: &[String]) -> Option<Guard> {
    match Guard::spawn(config_path) {
        Ok(mut fresh) => {
            let replay: String = masters
                .iter()
                .map(|m| Message::Master(m.clone()).encode())
                .collect();
            match fresh.stdin.write_all(replay.as_bytes()) {
                Ok(()) => Some(fresh),
                Err(e) => {
                    error!(error = %e, "new VIP guard unreachable: a SIGKILL would now leave the VIP behind");
                    None
                }
            }
        }
        Err(e) => {
            error!(error = %e, "cannot start a VIP guard: a SIGKILL would now leave the VIP behind");
            None
        }
    }
}

pub struct Guard {
    pub child: Child,
    stdin: ChildStdin,
}

impl Guard {
    pub fn spawn(config: &std::path::Path) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("--guard")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::piped())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("guard stdin"))?;
        info!(pid = child.id(), "VIP guard started");
        Ok(Self { child, stdin })
    }

    /// A clean shutdown: nothing is left to release.
    pub fn dismiss(mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for m in [
            Message::Master("data".into()),
            Message::Backup("voice".into()),
            Message::Exit,
        ] {
            assert_eq!(Message::decode(&m.encode()), Some(m));
        }
        assert_eq!(Message::decode("hello"), None);
    }

    #[test]
    fn end_of_input_without_exit_releases_the_instances_still_master() {
        let input = b"master data\nmaster voice\nbackup voice\n";
        assert_eq!(follow(&input[..]), BTreeSet::from(["data".to_string()]));
    }

    #[test]
    fn a_clean_exit_releases_nothing() {
        assert!(follow(&b"master data\nexit\n"[..]).is_empty());
    }
}
