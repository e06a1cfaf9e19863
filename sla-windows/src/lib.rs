//! Pure: the SLA windows file, `sla.toml` in the replicated tree: announced planned work
//! and excluded periods (force majeure, the customer's instructions), in local time.
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
//! Two readers, one set of rules: the supervisor reads the file for its availability report
//! (`parse`), and the web console changes it for administrators (`edit`), checking a new
//! window field by field with the same rules (`rules`). Errors name the line.

pub mod edit;
pub mod local;
pub mod rules;

use serde::Deserialize;
use toml::Spanned;

pub use local::{format_local, parse_local};

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
    /// "announced 2026-11-20 09:00: Debian point release (2026-12-01 22:00:00 to …)".
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

    pub fn is_excluded(&self) -> bool {
        matches!(self.kind, Kind::Excluded { .. })
    }
}

/// A problem in the file, at a line (the caller names the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}: {reason}")]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

/// Reads the file's text: every announced window in the order written, then every
/// excluded one. An empty text has no windows.
pub fn parse(text: &str) -> Result<Vec<Window>, LineError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let invalid = |offset: usize, reason: String| LineError {
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const FILE: &str = r#"# announced work and exclusions
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

    fn t(s: &str) -> i64 {
        parse_local(s).unwrap()
    }

    #[test]
    fn the_documented_file_parses() {
        let w = parse(FILE).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].from, w[0].to, w[0].line),
            (t("2026-12-01 22:00"), t("2026-12-01 23:30"), 3)
        );
        assert_eq!(
            w[0].kind,
            Kind::Announced {
                announced: t("2026-11-20 09:00"),
                what: "Debian point release".into()
            }
        );
        assert!(w[1].is_excluded());
        assert_eq!(
            w[1].describe(),
            "excluded: regional power cut (force majeure) (2026-11-14 03:10:00 to 2026-11-14 04:00:00)"
        );
        assert_eq!(parse("").unwrap(), []);
    }

    #[test]
    fn the_shipped_example_parses() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/sla.toml.example");
        let text = std::fs::read_to_string(&path).unwrap();
        let w = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(&FILE.replace("to = \"2026-11-14 04:00\"", "to = \"2026-11-14 03:00\""))
            .unwrap_err();
        assert_eq!(e.to_string(), "9: from must be before to");
        let e = parse(&FILE.replace("what =", "wat =")).unwrap_err();
        assert!(e.reason.contains("wat"), "{e}");
        let e = parse(&FILE.replace("reason =", "reasons =")).unwrap_err();
        assert!(e.reason.contains("reasons"), "{e}");
        let e = parse(&FILE.replace("2026-11-20 09:00", "2026-11-31 09:00")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "5: announced = \"2026-11-31 09:00\": not a local time \"YYYY-MM-DD HH:MM\""
        );
        let e = parse("[[excluded]]\nfrom = \"2026-11-14 03:10\"\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        let e = parse("[[maintenance]]\n").unwrap_err();
        assert!(e.reason.contains("maintenance"), "{e}");
        let e = parse("x = [\n").unwrap_err();
        assert!(e.line >= 1, "{e}");
    }
}
