//! Driver: the tracing set-up every daemon uses.
//!
//! - **Where**: under systemd, when `JOURNAL_STREAM` names the very stream our standard
//!   error or output is, each line goes to journald natively (`tracing-journald`): its own
//!   priority (error 3, warn 4, info 5, debug 6, trace 7, so `journalctl -p err` finds what
//!   an operator must act on), the line as the text log prints it, the fields also as
//!   journal fields (`F_CAMPAIGN=…`), no second timestamp, and the daemon's own identifier
//!   (`journalctl -t allerta-mediacore`), also for the components the supervisor starts,
//!   which share its stream (`journald`). Anywhere else (a
//!   terminal, the lab, a test harness): text, or JSON lines on request, with colours only
//!   on a terminal.
//! - **What**: `RUST_LOG` wins when set, else the node file's `[log] filter` (`info` when
//!   there is none), for the supervisor and every component alike.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("RUST_LOG {value:?}: {source}")]
    Env {
        value: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("log filter {value:?}: {source}")]
    Filter {
        value: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("{path}: [log]: {message}")]
    Table { path: PathBuf, message: String },
    #[error("installing the log subscriber: {0}")]
    Install(String),
}

/// How a daemon logs.
#[derive(Debug, Clone)]
pub struct Logging {
    /// The journal's identifier (`SYSLOG_IDENTIFIER`): the program's name.
    pub identifier: &'static str,
    /// The filter when `RUST_LOG` is not set (`info`, `allerta=debug,info`, …).
    pub filter: String,
    /// Text only: one JSON object per line instead of text.
    pub json: bool,
    /// Text only: to stderr instead of stdout (the supervisor's VIP guard, so its lines are
    /// told apart from the supervisor's).
    pub stderr: bool,
}

impl Logging {
    /// Text at `info` to stdout.
    pub fn new(identifier: &'static str) -> Self {
        Self {
            identifier,
            filter: "info".into(),
            json: false,
            stderr: false,
        }
    }

    /// With the node file's `[log]` table (`filter`, `json`), which applies to the
    /// supervisor and every component. A missing file is the defaults (the daemon's own
    /// configuration load then says what is wrong with it).
    pub fn from_node_file(identifier: &'static str, path: &Path) -> Result<Self, LogError> {
        let mut logging = Self::new(identifier);
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(logging);
        };
        let table = log_table(&text).map_err(|message| LogError::Table {
            path: path.to_owned(),
            message,
        })?;
        if let Some(filter) = table.filter {
            logging.filter = filter;
        }
        logging.json = table.json;
        Ok(logging)
    }
}

/// The node file's `[log]` table.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogTable {
    pub filter: Option<String>,
    #[serde(default)]
    pub json: bool,
}

/// Reads the `[log]` table of a node file's text (the rest is other readers' business).
pub fn log_table(text: &str) -> Result<LogTable, String> {
    #[derive(Deserialize)]
    struct NodeFile {
        #[serde(default)]
        log: LogTable,
    }
    toml::from_str::<NodeFile>(text)
        .map(|f| f.log)
        .map_err(|e| e.message().trim_end().to_owned())
}

/// Whether `JOURNAL_STREAM` ("device:inode", set by systemd for a unit whose output goes to
/// the journal) is our standard error or output: inherited by a process whose output went
/// elsewhere (a test harness started from a unit), it does not count.
fn journal_is_our_stream(journal_stream: Option<&str>) -> bool {
    let Some((dev, ino)) = journal_stream.and_then(|v| {
        let (d, i) = v.split_once(':')?;
        Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?))
    }) else {
        return false;
    };
    let same = |fd: std::os::fd::BorrowedFd<'_>| {
        nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_dev == dev && st.st_ino == ino)
    };
    same(std::io::stderr().as_fd()) || same(std::io::stdout().as_fd())
}

/// Installs the process's log subscriber.
pub fn init(logging: &Logging) -> Result<(), LogError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) => {
            EnvFilter::try_new(&value).map_err(|source| LogError::Env { value, source })?
        }
        Err(_) => EnvFilter::try_new(&logging.filter).map_err(|source| LogError::Filter {
            value: logging.filter.clone(),
            source,
        })?,
    };
    if journal_is_our_stream(std::env::var("JOURNAL_STREAM").ok().as_deref()) {
        match crate::journald::Journald::new(logging.identifier) {
            Ok(journal) => {
                return tracing_subscriber::registry()
                    .with(filter)
                    .with(journal)
                    .try_init()
                    .map_err(|e| LogError::Install(e.to_string()));
            }
            // The stream is the journal's but its socket is not there: text into the
            // stream, which journald still records.
            Err(e) => eprintln!("{}: journald socket: {e}; logging text", logging.identifier),
        }
    }
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let result = match (logging.json, logging.stderr) {
        (true, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (true, false) => builder.json().try_init(),
        (false, true) => builder.with_writer(std::io::stderr).try_init(),
        (false, false) => builder.try_init(),
    };
    result.map_err(|e| LogError::Install(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_table_is_read_from_a_node_file_and_checked() {
        let text = "[node]\nname = \"a\"\n[log]\nfilter = \"info,supervisor=debug\"\njson = true\n";
        assert_eq!(
            log_table(text).unwrap(),
            LogTable {
                filter: Some("info,supervisor=debug".into()),
                json: true
            }
        );
        assert_eq!(log_table("[node]\n").unwrap(), LogTable::default());
        let e = log_table("[log]\nfilters = \"info\"\n").unwrap_err();
        assert!(e.contains("filters"), "{e}");
    }

    #[test]
    fn a_missing_node_file_gives_the_defaults() {
        let l =
            Logging::from_node_file("allerta-web", Path::new("/nonexistent/node.toml")).unwrap();
        assert_eq!((l.filter.as_str(), l.json), ("info", false));
    }

    #[test]
    fn a_journal_stream_that_is_not_ours_does_not_count() {
        // The test harness's output is a pipe or a terminal, never "1:1".
        assert!(!journal_is_our_stream(Some("1:1")));
        assert!(!journal_is_our_stream(Some("not a stream")));
        assert!(!journal_is_our_stream(None));
        // Our own standard error, named as systemd would name it, counts.
        let st = nix::sys::stat::fstat(std::io::stderr().as_fd()).unwrap();
        let ours = format!("{}:{}", st.st_dev, st.st_ino);
        assert!(journal_is_our_stream(Some(&ours)));
    }
}
