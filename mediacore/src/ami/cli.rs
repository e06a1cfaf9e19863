//! Pure: the CLI commands AMI's `Command` action runs, the ones integrators send (`core show
//! channels`, `pjsip show registrations`, `dialplan reload` …), read into what to do and
//! answered as lines of output in Asterisk's layout. Anything else is answered as Asterisk
//! answers a command it does not have.

use crate::channel::ChannelInfo;

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// `core show version`.
    Version,
    /// `core show uptime [seconds]`.
    Uptime {
        /// `seconds`: numbers only.
        seconds: bool,
    },
    /// `core show channels [concise]`.
    Channels {
        /// `concise`: one `!`-separated line per channel.
        concise: bool,
    },
    /// `core show calls`.
    Calls,
    /// `pjsip show endpoints`.
    Endpoints,
    /// `pjsip show registrations`.
    Registrations,
    /// `dialplan reload`, `manager reload`, `module reload [name]`, `core reload`,
    /// `reload [name]`: the replicated configuration is read again (both files: what one
    /// of them changes is cheap to redo for the other).
    Reload,
    /// Anything else, as typed.
    Unknown(String),
}

/// Reads a command line (words separated by any white space, case-insensitive as Asterisk's
/// CLI is).
pub fn parse(line: &str) -> Cli {
    let words: Vec<String> = line
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words[..] {
        ["core", "show", "version"] => Cli::Version,
        ["core", "show", "uptime"] => Cli::Uptime { seconds: false },
        ["core", "show", "uptime", "seconds"] => Cli::Uptime { seconds: true },
        ["core", "show", "channels"] => Cli::Channels { concise: false },
        ["core", "show", "channels", "concise"] => Cli::Channels { concise: true },
        ["core", "show", "calls"] => Cli::Calls,
        ["pjsip", "show", "endpoints"] => Cli::Endpoints,
        ["pjsip", "show", "registrations"] => Cli::Registrations,
        ["dialplan", "reload"] | ["manager", "reload"] | ["core", "reload"] | ["reload"] => {
            Cli::Reload
        }
        ["module", "reload", ..] | ["reload", _] => Cli::Reload,
        _ => Cli::Unknown(line.split_whitespace().collect::<Vec<_>>().join(" ")),
    }
}

/// Asterisk's answer to a command it does not have.
pub fn unknown(line: &str) -> String {
    format!("No such command '{line}' (type 'core show help {line}' for other possible commands)")
}

/// `core show version`.
pub fn version() -> String {
    format!(
        "Allerta {} (an Asterisk-compatible media core) on {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

/// `core show uptime [seconds]`.
pub fn uptime(secs: u64, seconds: bool) -> Vec<String> {
    if seconds {
        return vec![
            format!("System uptime: {secs}"),
            format!("Last reload: {secs}"),
        ];
    }
    let units = [
        ("day", secs / 86_400),
        ("hour", secs / 3600 % 24),
        ("minute", secs / 60 % 60),
        ("second", secs % 60),
    ];
    let mut parts: Vec<String> = units
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(unit, n)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    if parts.is_empty() {
        parts.push("0 seconds".into());
    }
    vec![format!("System uptime: {}", parts.join(", "))]
}

/// `core show channels [concise]`, with the calls counted since start.
pub fn channels(channels: &[ChannelInfo], processed: u64, concise: bool) -> Vec<String> {
    if concise {
        return channels
            .iter()
            .map(|c| {
                format!(
                    "{}!{}!{}!1!{}!!!{}!!!3!{}!!{}",
                    c.name, c.context, c.exten, c.state.1, c.caller, c.duration_secs, c.uniqueid
                )
            })
            .collect();
    }
    let mut out = vec![format!(
        "{:<64} {:<32} {:<7} {:<42}",
        "Channel", "Location", "State", "Application(Data)"
    )];
    for c in channels {
        out.push(format!(
            "{:<64} {:<32} {:<7} {:<42}",
            c.name,
            format!("{}@{}:1", c.exten, c.context),
            c.state.1,
            ""
        ));
    }
    let n = channels.len();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    out.push(plural(n, "active channel"));
    out.push(plural(n, "active call"));
    out.push(format!(
        "{processed} call{} processed",
        if processed == 1 { "" } else { "s" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_integrators_send_are_read_and_others_are_unknown() {
        assert_eq!(parse("core show version"), Cli::Version);
        assert_eq!(
            parse("  Core  Show Channels "),
            Cli::Channels { concise: false }
        );
        assert_eq!(
            parse("core show channels concise"),
            Cli::Channels { concise: true }
        );
        assert_eq!(parse("pjsip show registrations"), Cli::Registrations);
        assert_eq!(parse("pjsip show endpoints"), Cli::Endpoints);
        for reload in [
            "dialplan reload",
            "manager reload",
            "module reload",
            "module reload res_pjsip.so",
            "core reload",
            "reload",
            "reload pbx_config",
        ] {
            assert_eq!(parse(reload), Cli::Reload, "{reload}");
        }
        assert_eq!(
            parse("core  restart now"),
            Cli::Unknown("core restart now".into())
        );
        assert_eq!(
            unknown("core restart now"),
            "No such command 'core restart now' (type 'core show help core restart now' for other possible commands)"
        );
    }

    #[test]
    fn uptime_reads_like_asterisks() {
        assert_eq!(uptime(0, false), ["System uptime: 0 seconds"]);
        assert_eq!(
            uptime(90_061, false),
            ["System uptime: 1 day, 1 hour, 1 minute, 1 second"]
        );
        assert_eq!(uptime(3720, false), ["System uptime: 1 hour, 2 minutes"]);
        assert_eq!(uptime(42, true)[0], "System uptime: 42");
    }

    #[test]
    fn channels_are_counted_in_asterisks_words() {
        let c = ChannelInfo {
            name: "PJSIP/trunk-out-00000001".into(),
            state: ("6", "Up"),
            caller: "0744".into(),
            context: "alert-out".into(),
            exten: "s".into(),
            uniqueid: "1700000000.1".into(),
            duration_secs: 12,
        };
        let out = channels(std::slice::from_ref(&c), 3, false);
        assert!(out[1].starts_with("PJSIP/trunk-out-00000001"), "{out:?}");
        assert!(out[1].contains("s@alert-out:1"), "{out:?}");
        assert_eq!(
            out[2..],
            ["1 active channel", "1 active call", "3 calls processed"]
        );
        assert_eq!(
            channels(&[c], 1, true),
            ["PJSIP/trunk-out-00000001!alert-out!s!1!Up!!!0744!!!3!12!!1700000000.1"]
        );
    }
}
