//! Driver: the tracing set-up every daemon uses. `RUST_LOG` wins when set, else the filter
//! the daemon is given (the supervisor's `[log] filter`, `info` elsewhere); colours only on a
//! terminal (logs go to journald, files and test harnesses); JSON lines on request.

use std::io::IsTerminal;

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
    #[error("installing the log subscriber: {0}")]
    Install(String),
}

/// How a daemon logs.
#[derive(Debug, Clone, Copy)]
pub struct Logging<'a> {
    /// The filter when `RUST_LOG` is not set (`info`, `allerta=debug,info`, …).
    pub filter: &'a str,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// To stderr instead of stdout (the supervisor's VIP guard, so its lines are told
    /// apart from the supervisor's).
    pub stderr: bool,
}

impl Logging<'_> {
    /// Text at `info` to stdout: what the components use.
    pub const DEFAULT: Logging<'static> = Logging {
        filter: "info",
        json: false,
        stderr: false,
    };
}

/// Installs the process's log subscriber.
pub fn init(logging: Logging<'_>) -> Result<(), LogError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) => {
            EnvFilter::try_new(&value).map_err(|source| LogError::Env { value, source })?
        }
        Err(_) => EnvFilter::try_new(logging.filter).map_err(|source| LogError::Filter {
            value: logging.filter.to_owned(),
            source,
        })?,
    };
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
