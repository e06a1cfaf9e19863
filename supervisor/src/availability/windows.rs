//! The windows file (`[availability] windows`, replicated config changed on the master by
//! hand or from the console's settings page) as the availability report uses it: read with
//! `sla_windows`, which holds the format and its rules for both of its users; what each
//! window makes of downtime; and the splitting of an outage by the windows. Where windows
//! overlap, an exclusion wins over announced work, and an earlier-listed window over a
//! later one of the same kind.

use std::path::Path;

pub use sla_windows::{format_local, parse_local, Kind, Window};

use super::{read_if_present, FileError};
use crate::sla::Cause;

/// Reads the windows file; a missing file means no windows.
pub fn load(path: &Path) -> Result<Vec<Window>, FileError> {
    match read_if_present(path)? {
        Some(text) => parse(path, &text),
        None => Ok(Vec::new()),
    }
}

/// Validates `text` as if read from `path` (which only names the file in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Window>, FileError> {
    sla_windows::parse(text).map_err(|e| FileError::Line {
        path: path.into(),
        line: e.line,
        reason: e.reason,
    })
}

/// What the SLA makes of downtime inside `w`.
pub fn cause(w: &Window) -> Cause {
    match &w.kind {
        Kind::Announced { announced, .. } => Cause::Planned {
            announced: *announced,
        },
        Kind::Excluded { .. } => Cause::Excluded,
    }
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

    /// The shipped example: announced work (line 13), then an exclusion (line 19).
    const FILE: &str = include_str!("../../../systemd/sla.toml.example");

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
            (t("2026-12-01 22:00"), t("2026-12-01 23:30"), 13)
        );
        assert_eq!(
            cause(&w[0]),
            Cause::Planned {
                announced: t("2026-11-20 09:00")
            }
        );
        assert_eq!(cause(&w[1]), Cause::Excluded);
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
    fn errors_name_the_file_and_the_line() {
        // The rules are `sla_windows`'s (tested there); this names the file.
        let e = parse_str(&FILE.replace("to = \"2026-11-14 04:00\"", "to = \"2026-11-14 03:00\""))
            .unwrap_err();
        assert_eq!(e.to_string(), "sla.toml:19: from must be before to");
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
