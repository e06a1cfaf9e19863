//! Pure: the Asterisk Gateway Interface as a script sees it (Asterisk's `res_agi`): where
//! `AGI()` connects (`agi://host[:port]/script?args` for FastAGI, a path for a local
//! script), the `agi_*` environment sent first, the command lines a script writes, and the
//! `200 result=…` lines it reads back. The driver (`agi::session`) moves the lines and
//! performs the commands on the call.
//!
//! Limits, since a script's output is read by us: a command line of at most
//! [`MAX_LINE`] bytes, at most [`MAX_ARGS`] arguments.

use std::fmt::Write as _;

/// The FastAGI port when the URL names none (Asterisk's).
pub const DEFAULT_PORT: u16 = 4573;
/// The longest command line we read.
pub const MAX_LINE: usize = 8192;
/// The most arguments a command may have.
pub const MAX_ARGS: usize = 64;

/// Where `AGI()` runs the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// FastAGI: a TCP connection to a server that runs `script`.
    Network {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// The script's path on the server (`agi_network_script`), without the leading `/`.
        script: String,
    },
    /// A local executable, run with the arguments.
    Local {
        /// The path (relative ones are under the AGI directory).
        path: String,
    },
}

impl Target {
    /// Reads `AGI()`'s first argument.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("agi://") {
            let (authority, script) = rest.split_once('/').unwrap_or((rest, ""));
            let script = script.split('?').next().unwrap_or("");
            let (host, port) = match authority.rsplit_once(':') {
                // An IPv6 literal is bracketed: its colons are not a port's.
                Some((host, port)) if !port.contains(']') => {
                    let port = port
                        .parse::<u16>()
                        .ok()
                        .filter(|&p| p > 0)
                        .ok_or_else(|| format!("AGI {text:?}: bad port {port:?}"))?;
                    (host, port)
                }
                _ => (authority, DEFAULT_PORT),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(format!("AGI {text:?}: no host"));
            }
            return Ok(Self::Network {
                host: host.to_owned(),
                port,
                script: script.to_owned(),
            });
        }
        if text.is_empty() || text.contains("://") {
            return Err(format!(
                "AGI {text:?}: a script path or agi://host[:port]/script"
            ));
        }
        Ok(Self::Local {
            path: text.to_owned(),
        })
    }
}

/// What the script is told about the call before its first command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `agi_request`: the URL or path as given.
    pub request: String,
    /// `agi_network_script` (FastAGI only).
    pub network_script: Option<String>,
    /// `agi_channel`.
    pub channel: String,
    /// `agi_uniqueid`.
    pub uniqueid: String,
    /// `agi_callerid`.
    pub callerid: String,
    /// `agi_calleridname`.
    pub calleridname: String,
    /// `agi_dnid`: the number dialled.
    pub dnid: String,
    /// `agi_context`.
    pub context: String,
    /// `agi_extension`.
    pub extension: String,
    /// `agi_priority`.
    pub priority: u32,
    /// `agi_arg_1`…: the arguments after the script.
    pub args: Vec<String>,
}

impl Env {
    /// The environment block: `agi_<name>: <value>` lines in Asterisk's order, then an
    /// empty line.
    pub fn to_lines(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: &str| {
            // A value is one line: a line break in it would end the block early.
            let v: String = v.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            let _ = writeln!(out, "agi_{k}: {v}");
        };
        if let Some(script) = &self.network_script {
            line("network", "yes");
            line("network_script", script);
        }
        line("request", &self.request);
        line("channel", &self.channel);
        line("language", "it");
        line("type", "PJSIP");
        line("uniqueid", &self.uniqueid);
        line("version", env!("CARGO_PKG_VERSION"));
        line("callerid", or_unknown(&self.callerid));
        line("calleridname", or_unknown(&self.calleridname));
        line("callingpres", "0");
        line("callingani2", "0");
        line("callington", "0");
        line("callingtns", "0");
        line("dnid", or_unknown(&self.dnid));
        line("rdnis", "unknown");
        line("context", &self.context);
        line("extension", &self.extension);
        line("priority", &self.priority.to_string());
        line("enhanced", "0.0");
        line("accountcode", "");
        line("threadid", "0");
        for (i, arg) in self.args.iter().enumerate() {
            line(&format!("arg_{}", i + 1), arg);
        }
        out.push('\n');
        out
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

/// A command a script sent, with its arguments read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `ANSWER`.
    Answer,
    /// `HANGUP [channel]`.
    Hangup,
    /// `STREAM FILE <file> <escape digits> [offset]`.
    StreamFile {
        /// Prompt name.
        file: String,
        /// Digits that stop playback.
        escape: String,
    },
    /// `GET DATA <file> [timeout ms] [max digits]`.
    GetData {
        /// Prompt name.
        file: String,
        /// Wait for each digit this long (`None`: Asterisk's default, 6 s… ours 5 s).
        timeout_ms: Option<u64>,
        /// Stop after this many digits (`None`: until `#`, at most 1024).
        max_digits: Option<u32>,
    },
    /// `WAIT FOR DIGIT <timeout ms>` (-1: for ever).
    WaitForDigit {
        /// `None`: wait for ever.
        timeout_ms: Option<u64>,
    },
    /// `SAY DIGITS <digits> <escape digits>`.
    SayDigits {
        /// The digits.
        digits: String,
        /// Digits that stop it.
        escape: String,
    },
    /// `SAY NUMBER <number> <escape digits> [gender]`.
    SayNumber {
        /// The number.
        number: i64,
        /// Digits that stop it.
        escape: String,
    },
    /// `SET VARIABLE <name> <value>`.
    SetVariable {
        /// Name.
        name: String,
        /// Value.
        value: String,
    },
    /// `GET VARIABLE <name>`.
    GetVariable {
        /// Name.
        name: String,
    },
    /// `GET FULL VARIABLE <expression> [channel]`: the expression expanded.
    GetFullVariable {
        /// The template.
        expression: String,
    },
    /// `EXEC <application> [options]`.
    Exec {
        /// The application.
        app: String,
        /// Its arguments as one string.
        data: String,
    },
    /// `RECORD FILE <file> <format> <escape digits> <timeout ms> [offset] [BEEP] [s=<silence>]`.
    RecordFile {
        /// Path without the format.
        file: String,
        /// Format (`wav`).
        format: String,
        /// Digits that stop it.
        escape: String,
        /// At most this long (`None`: -1, no limit).
        timeout_ms: Option<u64>,
        /// Seconds of silence that stop it.
        silence_secs: Option<u32>,
    },
    /// `VERBOSE <message> [level]`.
    Verbose {
        /// The message.
        message: String,
    },
    /// `CHANNEL STATUS [channel]`.
    ChannelStatus,
    /// `SET CONTEXT <context>`.
    SetContext(String),
    /// `SET EXTENSION <extension>`.
    SetExtension(String),
    /// `SET PRIORITY <priority>`.
    SetPriority(String),
    /// `DATABASE GET <family> <key>`.
    DatabaseGet {
        /// Family.
        family: String,
        /// Key.
        key: String,
    },
    /// `DATABASE PUT <family> <key> <value>`.
    DatabasePut {
        /// Family.
        family: String,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// `DATABASE DEL <family> <key>`.
    DatabaseDel {
        /// Family.
        family: String,
        /// Key.
        key: String,
    },
    /// `NOOP`, and the commands we accept and have nothing to do for (`SET MUSIC`,
    /// `SET AUTOHANGUP` handled by the driver, `ASYNCAGI BREAK`…): answered `200 result=0`.
    Noop,
    /// `SET AUTOHANGUP <seconds>` (0: off).
    SetAutohangup(u32),
}

/// Why a command line gets no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `510 Invalid or unknown command`.
    Unknown,
    /// `520` with the command's usage.
    Usage(&'static str),
}

impl Refusal {
    /// The reply lines.
    pub fn reply(&self) -> String {
        match self {
            Self::Unknown => "510 Invalid or unknown command\n".to_owned(),
            Self::Usage(usage) => {
                format!("520-Invalid command syntax.  Proper usage follows:\n{usage}\n520 End of proper usage.\n")
            }
        }
    }
}

/// Splits a command line into words: white space separates, double quotes group (and go),
/// `\` escapes the next character, as Asterisk's `parse_args`.
pub fn words(line: &str) -> Result<Vec<String>, Refusal> {
    let mut words = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped, mut started) = (false, false, false);
    for c in line.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                started = true;
            }
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
        if words.len() > MAX_ARGS {
            return Err(Refusal::Usage("at most 64 arguments"));
        }
    }
    if started {
        words.push(current);
    }
    Ok(words)
}

/// Reads one command line (without its line end).
pub fn parse(line: &str) -> Result<Command, Refusal> {
    if line.len() > MAX_LINE {
        return Err(Refusal::Unknown);
    }
    let w = words(line)?;
    let upper: Vec<String> = w.iter().take(3).map(|s| s.to_ascii_uppercase()).collect();
    let head: Vec<&str> = upper.iter().map(String::as_str).collect();
    let arg = |i: usize| w.get(i).cloned();
    let ms = |s: Option<String>| -> Result<Option<u64>, ()> {
        match s.as_deref() {
            None => Ok(None),
            Some(t) => match t.parse::<i64>() {
                Ok(n) if n < 0 => Ok(None),
                Ok(n) => Ok(Some(n as u64)),
                Err(_) => Err(()),
            },
        }
    };
    let usage = Refusal::Usage;
    Ok(match head.as_slice() {
        ["ANSWER", ..] => Command::Answer,
        ["HANGUP", ..] => Command::Hangup,
        ["NOOP", ..] => Command::Noop,
        ["STREAM", "FILE", ..] => Command::StreamFile {
            file: arg(2).ok_or(usage(
                " Usage: STREAM FILE <filename> <escape_digits> [<offset>]",
            ))?,
            escape: arg(3).unwrap_or_default(),
        },
        ["GET", "DATA", ..] => Command::GetData {
            file: arg(2).ok_or(usage(
                " Usage: GET DATA <file to be streamed> [timeout] [maxdigits]",
            ))?,
            timeout_ms: ms(arg(3)).map_err(|()| {
                usage(" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]")
            })?,
            max_digits: match arg(4) {
                Some(m) => Some(m.parse().map_err(|_| {
                    usage(" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]")
                })?),
                None => None,
            },
        },
        ["WAIT", "FOR", "DIGIT"] => Command::WaitForDigit {
            timeout_ms: ms(arg(3)).map_err(|()| usage(" Usage: WAIT FOR DIGIT <timeout>"))?,
        },
        ["SAY", "DIGITS", ..] => {
            let digits = arg(2).ok_or(usage(" Usage: SAY DIGITS <number> <escape_digits>"))?;
            if !digits
                .chars()
                .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            {
                return Err(usage(" Usage: SAY DIGITS <number> <escape_digits>"));
            }
            Command::SayDigits {
                digits,
                escape: arg(3).unwrap_or_default(),
            }
        }
        ["SAY", "NUMBER", ..] => Command::SayNumber {
            number: arg(2).and_then(|n| n.parse().ok()).ok_or(usage(
                " Usage: SAY NUMBER <number> <escape_digits> [gender]",
            ))?,
            escape: arg(3).unwrap_or_default(),
        },
        ["SET", "VARIABLE", ..] => Command::SetVariable {
            name: arg(2).ok_or(usage(" Usage: SET VARIABLE <variablename> <value>"))?,
            value: arg(3).unwrap_or_default(),
        },
        ["GET", "VARIABLE", ..] => Command::GetVariable {
            name: arg(2).ok_or(usage(" Usage: GET VARIABLE <variablename>"))?,
        },
        ["GET", "FULL", "VARIABLE"] => Command::GetFullVariable {
            expression: arg(3).ok_or(usage(
                " Usage: GET FULL VARIABLE <variablename> [<channel name>]",
            ))?,
        },
        ["EXEC", ..] => Command::Exec {
            app: arg(1).ok_or(usage(" Usage: EXEC <Application> <Options>"))?,
            data: w.get(2..).map(|rest| rest.join(",")).unwrap_or_default(),
        },
        ["RECORD", "FILE", ..] => {
            let bad = || {
                usage(" Usage: RECORD FILE <filename> <format> <escape digits> <timeout> [offset samples] [BEEP] [s=silence]")
            };
            let silence_secs = w
                .iter()
                .skip(6)
                .find_map(|o| o.strip_prefix("s=").and_then(|s| s.parse().ok()));
            Command::RecordFile {
                file: arg(2).ok_or_else(bad)?,
                format: arg(3).ok_or_else(bad)?,
                escape: arg(4).ok_or_else(bad)?,
                timeout_ms: ms(Some(arg(5).ok_or_else(bad)?)).map_err(|()| bad())?,
                silence_secs,
            }
        }
        ["VERBOSE", ..] => Command::Verbose {
            message: arg(1).ok_or(usage(" Usage: VERBOSE <message> <level>"))?,
        },
        ["CHANNEL", "STATUS", ..] => Command::ChannelStatus,
        ["SET", "CONTEXT", ..] => {
            Command::SetContext(arg(2).ok_or(usage(" Usage: SET CONTEXT <desired context>"))?)
        }
        ["SET", "EXTENSION", ..] => {
            Command::SetExtension(arg(2).ok_or(usage(" Usage: SET EXTENSION <new extension>"))?)
        }
        ["SET", "PRIORITY", ..] => {
            Command::SetPriority(arg(2).ok_or(usage(" Usage: SET PRIORITY <priority>"))?)
        }
        ["SET", "AUTOHANGUP", ..] => Command::SetAutohangup(
            arg(2)
                .and_then(|s| s.parse().ok())
                .ok_or(usage(" Usage: SET AUTOHANGUP <time>"))?,
        ),
        ["DATABASE", "GET", ..] => Command::DatabaseGet {
            family: arg(2).ok_or(usage(" Usage: DATABASE GET <family> <key>"))?,
            key: arg(3).ok_or(usage(" Usage: DATABASE GET <family> <key>"))?,
        },
        ["DATABASE", "PUT", ..] => Command::DatabasePut {
            family: arg(2).ok_or(usage(" Usage: DATABASE PUT <family> <key> <value>"))?,
            key: arg(3).ok_or(usage(" Usage: DATABASE PUT <family> <key> <value>"))?,
            value: arg(4).ok_or(usage(" Usage: DATABASE PUT <family> <key> <value>"))?,
        },
        ["DATABASE", "DEL", ..] => Command::DatabaseDel {
            family: arg(2).ok_or(usage(" Usage: DATABASE DEL <family> <key>"))?,
            key: arg(3).ok_or(usage(" Usage: DATABASE DEL <family> <key>"))?,
        },
        ["SET", "MUSIC", ..] | ["SET", "CALLERID", ..] | ["ASYNCAGI", ..] => Command::Noop,
        _ => return Err(Refusal::Unknown),
    })
}

/// `200 result=<value>`, with `(<data>)` and `endpos=<n>` when given.
pub fn result(value: &str, data: Option<&str>, endpos: Option<u64>) -> String {
    let value: String = value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    let mut out = format!("200 result={value}");
    if let Some(data) = data {
        let data: String = data.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        let _ = write!(out, " ({data})");
    }
    if let Some(endpos) = endpos {
        let _ = write!(out, " endpos={endpos}");
    }
    out.push('\n');
    out
}

/// The result value of a digit: its character code, as Asterisk gives it.
pub fn digit_code(digit: char) -> i64 {
    digit as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_fastagi_urls_or_local_paths() {
        assert_eq!(
            Target::parse("agi://10.77.0.100/ivr/menu?x=1"),
            Ok(Target::Network {
                host: "10.77.0.100".into(),
                port: DEFAULT_PORT,
                script: "ivr/menu".into()
            })
        );
        assert_eq!(
            Target::parse("agi://[2001:db8::5]:4600/menu"),
            Ok(Target::Network {
                host: "2001:db8::5".into(),
                port: 4600,
                script: "menu".into()
            })
        );
        assert_eq!(
            Target::parse("alert.py"),
            Ok(Target::Local {
                path: "alert.py".into()
            })
        );
        for bad in ["", "agi://", "agi://h:0/x", "agi://h:99999/x", "http://x/y"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_environment_is_one_line_per_variable_then_a_blank_line() {
        let env = Env {
            request: "agi://h/menu".into(),
            network_script: Some("menu".into()),
            channel: "PJSIP/carrier-in-00000001".into(),
            uniqueid: "1700000000.1".into(),
            callerid: "0744123456".into(),
            context: "from-carrier".into(),
            extension: "100".into(),
            priority: 2,
            args: vec!["uno".into(), "due\r\nagi_evil: 1".into()],
            ..Env::default()
        };
        let text = env.to_lines();
        assert!(text.starts_with(
            "agi_network: yes\nagi_network_script: menu\nagi_request: agi://h/menu\n"
        ));
        assert!(text.contains("agi_calleridname: unknown\n"));
        assert!(text.contains("agi_priority: 2\n"));
        assert!(text.contains("agi_arg_1: uno\nagi_arg_2: dueagi_evil: 1\n"));
        assert!(text.ends_with("\n\n"));
        assert_eq!(text.matches("\n\n").count(), 1);
    }

    #[test]
    fn commands_are_read_as_asterisk_reads_them() {
        assert_eq!(parse("ANSWER"), Ok(Command::Answer));
        assert_eq!(
            parse("STREAM FILE custom/alert \"12#\""),
            Ok(Command::StreamFile {
                file: "custom/alert".into(),
                escape: "12#".into()
            })
        );
        assert_eq!(
            parse("GET DATA conferma 5000 1"),
            Ok(Command::GetData {
                file: "conferma".into(),
                timeout_ms: Some(5000),
                max_digits: Some(1)
            })
        );
        assert_eq!(
            parse("wait for digit -1"),
            Ok(Command::WaitForDigit { timeout_ms: None })
        );
        assert_eq!(
            parse("SET VARIABLE ACK \"1 confirmed\""),
            Ok(Command::SetVariable {
                name: "ACK".into(),
                value: "1 confirmed".into()
            })
        );
        assert_eq!(
            parse("EXEC Playback alert"),
            Ok(Command::Exec {
                app: "Playback".into(),
                data: "alert".into()
            })
        );
        assert_eq!(
            parse("RECORD FILE /tmp/msg wav # 10000 0 BEEP s=3"),
            Ok(Command::RecordFile {
                file: "/tmp/msg".into(),
                format: "wav".into(),
                escape: "#".into(),
                timeout_ms: Some(10000),
                silence_secs: Some(3)
            })
        );
        assert_eq!(parse("FROBNICATE"), Err(Refusal::Unknown));
        assert_eq!(parse(""), Err(Refusal::Unknown));
        assert!(matches!(parse("STREAM FILE"), Err(Refusal::Usage(_))));
        assert!(matches!(parse("SAY DIGITS 12a3 #"), Err(Refusal::Usage(_))));
        assert!(matches!(parse(&"A ".repeat(100)), Err(Refusal::Usage(_))));
        assert_eq!(parse(&"X".repeat(MAX_LINE + 1)), Err(Refusal::Unknown));
    }

    #[test]
    fn results_are_written_as_asterisk_writes_them() {
        assert_eq!(result("0", None, None), "200 result=0\n");
        assert_eq!(result("1", Some("Terni"), None), "200 result=1 (Terni)\n");
        assert_eq!(
            result("49", None, Some(8000)),
            "200 result=49 endpos=8000\n"
        );
        assert_eq!(result("1", Some("a\r\nb"), None), "200 result=1 (ab)\n");
        assert_eq!(digit_code('1'), 49);
        assert!(Refusal::Usage(" Usage: X")
            .reply()
            .ends_with("520 End of proper usage.\n"));
    }
}
