//! Pure: the windows file (`[availability] windows`, replicated config made on the master):
//! announced planned work and excluded periods (force majeure, the customer's instructions),
//! in local time, and the splitting of an outage by them.
//!
//! ```toml
//! [[announced]]
//! from = "2026-12-01 22:00"          # local time, "YYYY-MM-DD HH:MM"
//! to = "2026-12-01 23:30"
//! announced = "2026-11-20 09:00"     # a week's notice or more, or it counts as a failure
//! what = "Debian point release"
//!
//! [[excluded]]
//! from = "2026-11-14 03:10"
//! to = "2026-11-14 04:00"
//! reason = "regional power cut (force majeure)"
//! ```
//!
//! Errors name the file and the line. A missing file means no windows. Where windows
//! overlap, an exclusion wins over announced work, and an earlier-listed window over a
//! later one of the same kind.

use std::path::Path;

use component::civil::days_from_civil;
use serde::Deserialize;
use toml::Spanned;

use super::{read_if_present, FileError};
use crate::sla::Cause;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindows {
    #[serde(default)]
    announced: Vec<RawAnnounced>,
    #[serde(default)]
    excluded: Vec<RawExcluded>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnnounced {
    from: Spanned<String>,
    to: Spanned<String>,
    announced: Spanned<String>,
    what: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExcluded {
    from: Spanned<String>,
    to: Spanned<String>,
    reason: String,
}

/// A period the SLA treats apart, `[from, to)` in local seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub kind: Kind,
    /// Where it is written (line of `from`).
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Planned work, announced at `announced` (local seconds).
    Announced { announced: i64, what: String },
    /// Not counted at all.
    Excluded { reason: String },
}

impl Window {
    /// What the SLA makes of downtime inside it.
    pub fn cause(&self) -> Cause {
        match &self.kind {
            Kind::Announced { announced, .. } => Cause::Planned {
                announced: *announced,
            },
            Kind::Excluded { .. } => Cause::Excluded,
        }
    }

    /// "announced: Debian point release (2026-12-01 22:00 to 2026-12-01 23:30)".
    pub fn describe(&self) -> String {
        let span = format!("{} to {}", format_local(self.from), format_local(self.to));
        match &self.kind {
            Kind::Announced { announced, what } => format!(
                "announced {}: {what} ({span})",
                &format_local(*announced)[..16]
            ),
            Kind::Excluded { reason } => format!("excluded: {reason} ({span})"),
        }
    }
}

/// Reads the windows file; a missing file means no windows.
pub fn load(path: &Path) -> Result<Vec<Window>, FileError> {
    match read_if_present(path)? {
        Some(text) => parse(path, &text),
        None => Ok(Vec::new()),
    }
}

/// Validates `text` as if read from `path` (which only names the file in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Window>, FileError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let invalid = |offset: usize, reason: String| FileError::Line {
        path: path.into(),
        line: line_of(offset),
        reason,
    };
    let raw: RawWindows = toml::from_str(text).map_err(|e| {
        invalid(
            e.span().map_or(0, |s| s.start),
            e.message().trim_end().to_string(),
        )
    })?;
    let time = |key: &str, value: &Spanned<String>| {
        parse_local(value.get_ref()).ok_or_else(|| {
            invalid(
                value.span().start,
                format!(
                    "{key} = {:?}: not a local time \"YYYY-MM-DD HH:MM\"",
                    value.get_ref()
                ),
            )
        })
    };
    let mut windows = Vec::new();
    let mut push = |from: &Spanned<String>, to: &Spanned<String>, kind: Kind| {
        let (a, b) = (time("from", from)?, time("to", to)?);
        if a >= b {
            return Err(invalid(from.span().start, "from must be before to".into()));
        }
        windows.push(Window {
            from: a,
            to: b,
            kind,
            line: line_of(from.span().start),
        });
        Ok(())
    };
    for w in &raw.announced {
        let announced = time("announced", &w.announced)?;
        push(
            &w.from,
            &w.to,
            Kind::Announced {
                announced,
                what: w.what.clone(),
            },
        )?;
    }
    for w in &raw.excluded {
        push(
            &w.from,
            &w.to,
            Kind::Excluded {
                reason: w.reason.clone(),
            },
        )?;
    }
    Ok(windows)
}

/// "YYYY-MM-DD HH:MM" to local seconds since 1970-01-01 00:00 (local).
pub fn parse_local(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shape = b.len() == 16
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b' '
        && b[13] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !shape {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().ok();
    let (y, mo, d, h, mi) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
    );
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 {
        return None;
    }
    let (mo, d) = (mo as u32, d as u32);
    let days = days_from_civil(y, mo, d);
    // 2026-02-30 would be March 2nd: refuse it.
    if component::civil::civil_from_days(days) != (y, mo, d) {
        return None;
    }
    Some(days * 86_400 + h * 3600 + mi * 60)
}

/// Local seconds as "YYYY-MM-DD HH:MM:SS".
pub fn format_local(local_secs: i64) -> String {
    let (y, m, d) = component::civil::civil_from_days(local_secs.div_euclid(86_400));
    let s = local_secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// One piece of an outage: `[start, end)` local seconds, inside `window` (an index into
/// the windows) or outside all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub start: i64,
    pub end: i64,
    pub window: Option<usize>,
}

/// Splits the outage `[start, end)` (local seconds) by the windows: each piece lies wholly
/// inside one window (an exclusion before announced work, then the first listed) or none.
pub fn split(start: i64, end: i64, windows: &[Window]) -> Vec<Piece> {
    let mut cuts = vec![start, end];
    for w in windows {
        cuts.extend(
            [w.from, w.to]
                .into_iter()
                .filter(|t| start < *t && *t < end),
        );
    }
    cuts.sort_unstable();
    cuts.dedup();
    let covering = |a: i64, b: i64| {
        let inside = |w: &Window| w.from <= a && b <= w.to;
        let find = |excluded: bool| {
            windows
                .iter()
                .position(|w| inside(w) && matches!(w.kind, Kind::Excluded { .. }) == excluded)
        };
        find(true).or_else(|| find(false))
    };
    let mut pieces: Vec<Piece> = Vec::new();
    for pair in cuts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let window = covering(a, b);
        match pieces.last_mut() {
            Some(last) if last.window == window && last.end == a => last.end = b,
            _ => pieces.push(Piece {
                start: a,
                end: b,
                window,
            }),
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# announced work and exclusions
[[announced]]
from = "2026-12-01 22:00"
to = "2026-12-01 23:30"
announced = "2026-11-20 09:00"
what = "Debian point release"

[[excluded]]
from = "2026-11-14 03:10"
to = "2026-11-14 04:00"
reason = "regional power cut (force majeure)"
"#;

    fn parse_str(text: &str) -> Result<Vec<Window>, FileError> {
        parse(Path::new("sla.toml"), text)
    }

    fn t(s: &str) -> i64 {
        parse_local(s).unwrap()
    }

    #[test]
    fn the_documented_file_parses() {
        let w = parse_str(FILE).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].from, w[0].to, w[0].line),
            (t("2026-12-01 22:00"), t("2026-12-01 23:30"), 3)
        );
        assert_eq!(
            w[0].cause(),
            Cause::Planned {
                announced: t("2026-11-20 09:00")
            }
        );
        assert_eq!(w[1].cause(), Cause::Excluded);
        assert_eq!(
            w[1].describe(),
            "excluded: regional power cut (force majeure) (2026-11-14 03:10:00 to 2026-11-14 04:00:00)"
        );
        assert_eq!(parse_str("").unwrap(), []);
        assert_eq!(
            load(Path::new("/nonexistent/sla.toml")).unwrap(),
            [],
            "no file, no windows"
        );
    }

    #[test]
    fn the_shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/sla.toml.example");
        let w = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let e = parse_str(&FILE.replace("to = \"2026-11-14 04:00\"", "to = \"2026-11-14 03:00\""))
            .unwrap_err();
        assert_eq!(e.to_string(), "sla.toml:9: from must be before to");
        let e = parse_str(&FILE.replace("what =", "wat =")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("sla.toml:") && text.contains("wat"),
            "{text}"
        );
        let e = parse_str(&FILE.replace("reason =", "reasons =")).unwrap_err();
        assert!(e.to_string().starts_with("sla.toml:"), "{e}");
        assert!(e.to_string().contains("reasons"), "{e}");
        let e = parse_str(&FILE.replace("2026-11-20 09:00", "2026-11-31 09:00")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sla.toml:5: announced = \"2026-11-31 09:00\": not a local time \"YYYY-MM-DD HH:MM\""
        );
        let e = parse_str("[[excluded]]\nfrom = \"2026-11-14 03:10\"\n").unwrap_err();
        assert!(e.to_string().starts_with("sla.toml:1: "), "{e}");
        let e = parse_str("[[maintenance]]\n").unwrap_err();
        assert!(e.to_string().contains("maintenance"), "{e}");
        let e = parse_str("x = [\n").unwrap_err();
        assert!(e.to_string().starts_with("sla.toml:"), "{e}");
    }

    #[test]
    fn local_times_are_strict() {
        assert_eq!(t("1970-01-02 01:01"), 86_400 + 3660);
        for bad in [
            "2026-11-14 3:10",
            "2026-11-14T03:10",
            "2026-13-01 00:00",
            "2026-02-29 00:00",
            "2026-11-14 24:00",
            "2026-11-14 03:10:00",
        ] {
            assert_eq!(parse_local(bad), None, "{bad}");
        }
        assert_eq!(
            format_local(t("2024-02-29 23:59") + 59),
            "2024-02-29 23:59:59"
        );
    }

    #[test]
    fn an_outage_is_split_by_the_windows_it_crosses() {
        let w = parse_str(FILE).unwrap();
        // 03:00 to 04:30 across the power cut (03:10 to 04:00).
        let pieces = split(t("2026-11-14 03:00"), t("2026-11-14 04:30"), &w);
        assert_eq!(
            pieces,
            [
                Piece {
                    start: t("2026-11-14 03:00"),
                    end: t("2026-11-14 03:10"),
                    window: None
                },
                Piece {
                    start: t("2026-11-14 03:10"),
                    end: t("2026-11-14 04:00"),
                    window: Some(1)
                },
                Piece {
                    start: t("2026-11-14 04:00"),
                    end: t("2026-11-14 04:30"),
                    window: None
                },
            ]
        );
        // Wholly inside: one piece.
        let inside = split(t("2026-12-01 22:10"), t("2026-12-01 22:20"), &w);
        assert_eq!(inside.len(), 1);
        assert_eq!(inside[0].window, Some(0));
        // Outside all: one piece, no window.
        assert_eq!(
            split(100, 200, &w),
            [Piece {
                start: 100,
                end: 200,
                window: None
            }]
        );
    }

    #[test]
    fn an_exclusion_wins_where_windows_overlap() {
        let text = format!(
            "{FILE}\n[[excluded]]\nfrom = \"2026-12-01 23:00\"\nto = \"2026-12-02 01:00\"\nreason = \"flood\"\n"
        );
        let w = parse_str(&text).unwrap();
        let pieces = split(t("2026-12-01 22:30"), t("2026-12-01 23:45"), &w);
        let got: Vec<(i64, Option<usize>)> = pieces.iter().map(|p| (p.start, p.window)).collect();
        assert_eq!(
            got,
            [
                (t("2026-12-01 22:30"), Some(0)),
                (t("2026-12-01 23:00"), Some(2))
            ]
        );
    }
}
