//! Pure: Asterisk call files (`/var/spool/asterisk/outgoing/*.call`), the oldest way an
//! application asks Asterisk to place a call: `Key: Value` lines naming the channel to
//! dial and the dialplan location to run once it answers.
//!
//! Supported keys: `Channel` (`PJSIP/<number>@<trunk>`), `Context`, `Extension`,
//! `Priority` (1 only), `WaitTime` (s, default 45), `MaxRetries` (default 0),
//! `RetryTime` (s, default 300), `CallerID`, `Set` (repeatable `VAR=value`), `Archive`.
//! `Application`/`Data` (run one application instead of the dialplan) are refused with a
//! clear error, as is anything else unknown: a typo must not silently place a different
//! call.

use std::time::Duration;

/// A parsed call file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFile {
    /// The trunk (pjsip endpoint) to call through.
    pub trunk: String,
    /// The number to call.
    pub number: String,
    /// Where the answered call runs.
    pub context: String,
    /// The extension there.
    pub exten: String,
    /// How long to let it ring.
    pub wait: Duration,
    /// Extra attempts after a failure.
    pub max_retries: u32,
    /// Pause between attempts.
    pub retry_time: Duration,
    /// `CallerID`, if given.
    pub caller_id: Option<String>,
    /// Channel variables (`Set:` lines).
    pub vars: Vec<(String, String)>,
    /// Keep a copy with its status in the done directory.
    pub archive: bool,
}

/// A call file we refuse; Display gives the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFileError {
    /// A line without `:`.
    #[error("line {line}: expected `Key: Value`")]
    Syntax {
        /// 1-based line.
        line: usize,
    },
    /// A key we do not know or support.
    #[error("line {line}: unsupported key {key:?}")]
    UnknownKey {
        /// 1-based line.
        line: usize,
        /// The key.
        key: String,
    },
    /// A value that does not parse.
    #[error("line {line}: bad {key}: {reason}")]
    Value {
        /// 1-based line.
        line: usize,
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A required key is missing.
    #[error("missing {0}")]
    Missing(&'static str),
}

impl CallFile {
    /// Parses a call file's text.
    pub fn parse(text: &str) -> Result<Self, CallFileError> {
        let mut channel = None;
        let (mut context, mut exten) = (None, None);
        let mut file = Self {
            trunk: String::new(),
            number: String::new(),
            context: String::new(),
            exten: String::new(),
            wait: Duration::from_secs(45),
            max_retries: 0,
            retry_time: Duration::from_secs(300),
            caller_id: None,
            vars: Vec::new(),
            archive: false,
        };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let (key, value) = trimmed
                .split_once(':')
                .ok_or(CallFileError::Syntax { line })?;
            let (key, value) = (key.trim(), value.trim());
            let secs = |key: &'static str| {
                // 32 bits, as Asterisk reads them; a longer wait is a mistake, and a deadline
                // computed from it must not overflow.
                value
                    .parse::<u32>()
                    .map(|secs| Duration::from_secs(secs.into()))
                    .map_err(|e| CallFileError::Value {
                        line,
                        key,
                        reason: e.to_string(),
                    })
            };
            match key.to_ascii_lowercase().as_str() {
                "channel" => {
                    let rest =
                        value
                            .strip_prefix("PJSIP/")
                            .ok_or_else(|| CallFileError::Value {
                                line,
                                key: "Channel",
                                reason: "only PJSIP/<number>@<trunk> channels".into(),
                            })?;
                    let (number, trunk) =
                        rest.split_once('@').ok_or_else(|| CallFileError::Value {
                            line,
                            key: "Channel",
                            reason: "expected PJSIP/<number>@<trunk>".into(),
                        })?;
                    if number.is_empty() || trunk.is_empty() {
                        return Err(CallFileError::Value {
                            line,
                            key: "Channel",
                            reason: "empty number or trunk".into(),
                        });
                    }
                    if !crate::sip::message::is_dialable(number) {
                        return Err(CallFileError::Value {
                            line,
                            key: "Channel",
                            reason: "a number holds digits, letters and + * - . _ only".into(),
                        });
                    }
                    channel = Some((number.to_owned(), trunk.to_owned()));
                }
                "context" => context = Some(value.to_owned()),
                "extension" => exten = Some(value.to_owned()),
                "priority" => {
                    if value != "1" {
                        return Err(CallFileError::Value {
                            line,
                            key: "Priority",
                            reason: "only priority 1".into(),
                        });
                    }
                }
                "waittime" => file.wait = secs("WaitTime")?,
                "retrytime" => file.retry_time = secs("RetryTime")?,
                "maxretries" => {
                    file.max_retries = value.parse().map_err(|e: std::num::ParseIntError| {
                        CallFileError::Value {
                            line,
                            key: "MaxRetries",
                            reason: e.to_string(),
                        }
                    })?;
                }
                "callerid" => file.caller_id = Some(value.to_owned()),
                "set" | "setvar" => {
                    let (k, v) = value.split_once('=').ok_or_else(|| CallFileError::Value {
                        line,
                        key: "Set",
                        reason: "expected VAR=value".into(),
                    })?;
                    file.vars.push((k.trim().to_owned(), v.trim().to_owned()));
                }
                "archive" => {
                    file.archive =
                        matches!(value.to_ascii_lowercase().as_str(), "yes" | "true" | "1")
                }
                _ => {
                    return Err(CallFileError::UnknownKey {
                        line,
                        key: key.to_owned(),
                    })
                }
            }
        }
        let (number, trunk) = channel.ok_or(CallFileError::Missing("Channel"))?;
        file.number = number;
        file.trunk = trunk;
        file.context = context.ok_or(CallFileError::Missing("Context"))?;
        file.exten = exten.ok_or(CallFileError::Missing("Extension"))?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_asterisk_call_file_gives_the_number_trunk_and_dialplan_location() {
        let f = CallFile::parse(
            "Channel: PJSIP/0744100@carrier-out\nContext: alert\nExtension: s\nPriority: 1\n\
             WaitTime: 30\nMaxRetries: 2\nRetryTime: 60\nSet: MSG=flood\nArchive: yes\n",
        )
        .unwrap();
        assert_eq!(
            (f.number.as_str(), f.trunk.as_str()),
            ("0744100", "carrier-out")
        );
        assert_eq!((f.context.as_str(), f.exten.as_str()), ("alert", "s"));
        assert_eq!(
            (f.wait, f.max_retries, f.retry_time),
            (Duration::from_secs(30), 2, Duration::from_secs(60))
        );
        assert_eq!(f.vars, [("MSG".to_owned(), "flood".to_owned())]);
        assert!(f.archive);
    }

    #[test]
    fn what_we_cannot_place_exactly_is_refused_with_its_line() {
        let e = CallFile::parse("Channel: SIP/100\nContext: a\nExtension: s\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1: bad Channel: only PJSIP/<number>@<trunk> channels"
        );
        let e = CallFile::parse(
            "Channel: PJSIP/1@t\nContext: a\nExtension: s\nApplication: Playback\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "line 4: unsupported key \"Application\"");
        assert_eq!(
            CallFile::parse("Context: a\n"),
            Err(CallFileError::Missing("Channel"))
        );
        assert!(CallFile::parse("garbage").is_err());
        let e = CallFile::parse("Channel: PJSIP/1;x=y@t\nContext: a\nExtension: s\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1: bad Channel"), "{e}");
    }

    #[test]
    fn a_wait_beyond_32_bits_of_seconds_is_refused_with_its_line() {
        let e = CallFile::parse(
            "Channel: PJSIP/1@t\nContext: a\nExtension: s\nWaitTime: 18446744073709551615\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 4: bad WaitTime: number too large to fit in target type"
        );
    }
}
