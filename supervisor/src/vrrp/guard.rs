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

use std::collections::BTreeSet;
use std::io::BufRead;

use nix::sys::signal::{SigSet, Signal};
use tracing::warn;

use super::driver::{error_chain, release, DriverError};
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
            tracing::error!(instance = %cfg.name, error = %error_chain(&e), "guard: release failed");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
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
