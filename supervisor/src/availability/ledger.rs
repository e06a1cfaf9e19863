//! Pure: the availability ledger's format, and its folding into outages.
//!
//! The ledger is node-local, append-only JSON lines, one record per line (times are
//! milliseconds since the Unix epoch, wall clock):
//!
//! ```text
//! {"open":1763800000123,"error":"connect: Connection refused (os error 111)"}
//! {"still_down":1763800010130}
//! {"close":1763800012456,"open":1763800000123}
//! {"close":1763800020140,"open":1763800020140,"end":"supervisor stopped"}
//! ```
//!
//! - `open`: the first failed probe of an outage (the probe's start); `error` says how it
//!   failed.
//! - `still_down`: the outage goes on (written every 10 s while it does), so a supervisor
//!   that dies during an outage has its last sighting on disk.
//! - `close`: the first probe that answered again, with the `open` it closes. With
//!   `"end": "supervisor stopped"`, the supervisor stopped during the outage (or a restart
//!   found it dangling): it is closed at its last sighting, never extended over the time
//!   nobody watched.
//!
//! A last line without its newline is a write torn by a crash: it is ignored (with a
//! warning). Any other line that does not parse, or that does not fit the sequence (a
//! `close` of another `open`, a `still_down` outside an outage), is an error naming the
//! file and the line.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::FileError;

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An outage began with a probe started at `at_ms` that failed with `error`.
    Open { at_ms: u64, error: Option<String> },
    /// The outage that is open was still on at `at_ms`.
    StillDown { at_ms: u64 },
    /// The outage opened at `open_ms` ended at `at_ms`.
    Close { at_ms: u64, open_ms: u64, end: End },
}

/// How a closed outage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// A probe got an answer.
    Answered,
    /// The supervisor stopped watching; the outage is closed at its last sighting.
    #[serde(rename = "supervisor stopped")]
    SupervisorStopped,
}

/// The line as JSON: which keys are present says what the record is.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(skip_serializing_if = "Option::is_none")]
    close: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    still_down: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Absent: a probe answered (`End::Answered` is never written).
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<End>,
}

impl Record {
    /// The record's time.
    pub fn at_ms(&self) -> u64 {
        match self {
            Self::Open { at_ms, .. } | Self::StillDown { at_ms } | Self::Close { at_ms, .. } => {
                *at_ms
            }
        }
    }

    /// The line, without its newline.
    pub fn encode(&self) -> String {
        let line = match self.clone() {
            Self::Open { at_ms, error } => Line {
                open: Some(at_ms),
                error,
                ..Line::default()
            },
            Self::StillDown { at_ms } => Line {
                still_down: Some(at_ms),
                ..Line::default()
            },
            Self::Close {
                at_ms,
                open_ms,
                end,
            } => Line {
                close: Some(at_ms),
                open: Some(open_ms),
                end: (end != End::Answered).then_some(end),
                ..Line::default()
            },
        };
        serde_json::to_string(&line).expect("a struct of numbers and strings serializes")
    }

    /// Parses one line; Err says why not.
    pub fn decode(line: &str) -> Result<Self, String> {
        let l: Line = serde_json::from_str(line).map_err(|e| {
            // The ledger names the line itself: keep only the column.
            let text = e.to_string();
            let at = format!(" at line {} column {}", e.line(), e.column());
            match text.strip_suffix(&at) {
                Some(message) => format!("{message} (column {})", e.column()),
                None => text,
            }
        })?;
        match l {
            Line {
                close: Some(at_ms),
                open: Some(open_ms),
                still_down: None,
                error: None,
                end,
            } => Ok(Self::Close {
                at_ms,
                open_ms,
                end: end.unwrap_or(End::Answered),
            }),
            Line {
                close: None,
                open: Some(at_ms),
                still_down: None,
                error,
                end: None,
            } => Ok(Self::Open { at_ms, error }),
            Line {
                close: None,
                open: None,
                still_down: Some(at_ms),
                error: None,
                end: None,
            } => Ok(Self::StillDown { at_ms }),
            _ => Err(
                "not a record: expected {\"open\"}, {\"still_down\"} or {\"close\", \"open\"}"
                    .into(),
            ),
        }
    }
}

/// A ledger's records, each with its line number (from 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub records: Vec<(usize, Record)>,
    /// The line number of a torn last line (no newline: a crash mid-write), ignored.
    pub torn: Option<usize>,
}

/// Parses the ledger's text, read from `path` (which only names it in errors). Empty lines
/// are skipped.
pub fn parse(path: &Path, text: &str) -> Result<Ledger, FileError> {
    let mut ledger = Ledger::default();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut n = 0;
    for (i, line) in complete.lines().enumerate() {
        n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record = Record::decode(line).map_err(|reason| FileError::Line {
            path: path.into(),
            line: n,
            reason,
        })?;
        ledger.records.push((n, record));
    }
    if complete.len() < text.len() {
        ledger.torn = Some(n + 1);
    }
    Ok(ledger)
}

/// One outage as the ledger tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// The first failed probe (ms since the epoch).
    pub open_ms: u64,
    /// The end: the probe that answered, or the last sighting.
    pub close_ms: u64,
    pub end: Ending,
    /// How the first probe failed.
    pub error: Option<String>,
}

/// How an outage ended, or that it has not (yet, as far as the ledger says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Closed(End),
    /// The last outage of the ledger is still open: going on now if the supervisor is
    /// watching, else the supervisor stopped and no restart has closed it yet. `close_ms`
    /// is its last sighting.
    Open,
}

/// Folds the records into outages, in ledger order. An `open` while another is open (a
/// supervisor that died and whose restart could not close it) closes the earlier at its
/// last sighting, as `supervisor stopped`.
pub fn fold(path: &Path, ledger: &Ledger) -> Result<Vec<Outage>, FileError> {
    let mut outages = Vec::new();
    let mut open: Option<Outage> = None;
    let bad = |line: usize, reason: &str| FileError::Line {
        path: path.into(),
        line,
        reason: reason.into(),
    };
    for (line, record) in &ledger.records {
        match record {
            Record::Open { at_ms, error } => {
                if let Some(mut dangling) = open.take() {
                    dangling.end = Ending::Closed(End::SupervisorStopped);
                    outages.push(dangling);
                }
                open = Some(Outage {
                    open_ms: *at_ms,
                    close_ms: *at_ms,
                    end: Ending::Open,
                    error: error.clone(),
                });
            }
            Record::StillDown { at_ms } => {
                let Some(o) = open.as_mut() else {
                    return Err(bad(*line, "still_down outside an outage"));
                };
                if *at_ms < o.close_ms {
                    return Err(bad(*line, "time goes backwards"));
                }
                o.close_ms = *at_ms;
            }
            Record::Close {
                at_ms,
                open_ms,
                end,
            } => {
                let Some(mut o) = open.take() else {
                    return Err(bad(*line, "close without an open outage"));
                };
                if o.open_ms != *open_ms {
                    return Err(bad(*line, "closes another outage than the one open"));
                }
                if *at_ms < o.open_ms {
                    return Err(bad(*line, "closes before it opens"));
                }
                o.close_ms = *at_ms;
                o.end = Ending::Closed(*end);
                outages.push(o);
            }
        }
    }
    outages.extend(open);
    Ok(outages)
}

/// The record a restarting supervisor appends to close the outage its predecessor left
/// open (at its last sighting), if the ledger ends with one.
pub fn closing_dangling(outages: &[Outage]) -> Option<Record> {
    let last = outages.last()?;
    (last.end == Ending::Open).then_some(Record::Close {
        at_ms: last.close_ms,
        open_ms: last.open_ms,
        end: End::SupervisorStopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("availability.jsonl")
    }

    fn outages(text: &str) -> Result<Vec<Outage>, FileError> {
        fold(path(), &parse(path(), text)?)
    }

    #[test]
    fn records_have_a_stable_line_form_and_round_trip() {
        let records = [
            (
                Record::Open {
                    at_ms: 1000,
                    error: Some("refused".into()),
                },
                r#"{"open":1000,"error":"refused"}"#,
            ),
            (
                Record::StillDown { at_ms: 11_000 },
                r#"{"still_down":11000}"#,
            ),
            (
                Record::Close {
                    at_ms: 12_000,
                    open_ms: 1000,
                    end: End::Answered,
                },
                r#"{"close":12000,"open":1000}"#,
            ),
            (
                Record::Close {
                    at_ms: 12_000,
                    open_ms: 1000,
                    end: End::SupervisorStopped,
                },
                r#"{"close":12000,"open":1000,"end":"supervisor stopped"}"#,
            ),
        ];
        for (record, line) in records {
            assert_eq!(record.encode(), line);
            assert_eq!(Record::decode(line), Ok(record));
        }
        assert!(Record::decode(r#"{"still_down":1,"error":"x"}"#).is_err());
        assert!(Record::decode(r#"{"close":1}"#).is_err());
        assert!(Record::decode(r#"{"open":1,"typo":2}"#).is_err());
    }

    #[test]
    fn records_fold_into_closed_outages() {
        let o = outages(
            "{\"open\":1000,\"error\":\"refused\"}\n{\"still_down\":11000}\n\
             {\"close\":12500,\"open\":1000}\n\n{\"open\":20000}\n{\"close\":20700,\"open\":20000}\n",
        )
        .unwrap();
        assert_eq!(
            o,
            [
                Outage {
                    open_ms: 1000,
                    close_ms: 12_500,
                    end: Ending::Closed(End::Answered),
                    error: Some("refused".into()),
                },
                Outage {
                    open_ms: 20_000,
                    close_ms: 20_700,
                    end: Ending::Closed(End::Answered),
                    error: None,
                },
            ]
        );
        assert_eq!(closing_dangling(&o), None);
    }

    #[test]
    fn a_dangling_outage_ends_at_its_last_sighting() {
        // The supervisor died during an outage: the ledger ends open.
        let o =
            outages("{\"open\":1000}\n{\"still_down\":11000}\n{\"still_down\":21000}\n").unwrap();
        assert_eq!(
            (o.len(), o[0].close_ms, o[0].end),
            (1, 21_000, Ending::Open)
        );
        let close = closing_dangling(&o).unwrap();
        assert_eq!(
            close.encode(),
            r#"{"close":21000,"open":1000,"end":"supervisor stopped"}"#
        );
        // What the restart appends closes it there, not at the restart's time.
        let text = format!(
            "{{\"open\":1000}}\n{{\"still_down\":21000}}\n{}\n",
            close.encode()
        );
        let o = outages(&text).unwrap();
        assert_eq!(
            (o[0].close_ms, o[0].end),
            (21_000, Ending::Closed(End::SupervisorStopped))
        );
        // A restart that could not write the close: the next open closes it the same way.
        let o = outages("{\"open\":1000}\n{\"still_down\":11000}\n{\"open\":50000}\n").unwrap();
        assert_eq!(
            (o[0].close_ms, o[0].end),
            (11_000, Ending::Closed(End::SupervisorStopped))
        );
        assert_eq!(o[1].end, Ending::Open);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_any_other_bad_line_is_an_error() {
        let ledger = parse(path(), "{\"open\":1000}\n{\"close\":2000,\"op").unwrap();
        assert_eq!((ledger.records.len(), ledger.torn), (1, Some(2)));
        assert_eq!(fold(path(), &ledger).unwrap()[0].end, Ending::Open);
        // Complete but without its newline: torn all the same (the write did not finish).
        let ledger = parse(path(), "{\"open\":1000}").unwrap();
        assert_eq!((ledger.records.len(), ledger.torn), (0, Some(1)));
        let e = outages("{\"open\":1000}\n{\"close\":2000,\"op\n{\"open\":3000}\n").unwrap_err();
        assert!(e.to_string().starts_with("availability.jsonl:2: "), "{e}");
        let e = outages("{\"open\":1000}x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "availability.jsonl:1: trailing characters (column 14)"
        );
        let e = outages("{\"open\":1000}\n{\"close\":2000,\"open\":999}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "availability.jsonl:2: closes another outage than the one open"
        );
        let e = outages("\n{\"still_down\":5}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "availability.jsonl:2: still_down outside an outage"
        );
    }
}
