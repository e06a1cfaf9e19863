//! Pure: a new window as an administrator types it, checked field by field with the
//! file's own rules (`parse_local`, from before to) plus the limits of a form: a text of
//! 1 to 200 characters without control characters.

use crate::{parse_local, Kind, Window};

/// The longest `what` or `reason`, in characters.
pub const MAX_TEXT: usize = 200;

/// A window as typed: times "YYYY-MM-DD HH:MM" in the nodes' local time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewWindow {
    /// An exclusion (force majeure); otherwise announced work.
    pub excluded: bool,
    pub from: String,
    pub to: String,
    /// When the work was announced (announced work only).
    pub announced: String,
    /// `what` of announced work, `reason` of an exclusion.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    From,
    To,
    Announced,
    Text,
}

impl Field {
    /// The form's field name.
    pub fn name(self) -> &'static str {
        match self {
            Self::From => "from",
            Self::To => "to",
            Self::Announced => "announced",
            Self::Text => "text",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Not "YYYY-MM-DD HH:MM", or a day that does not exist.
    NotATime,
    /// `to` is not after `from`.
    NotAfterFrom,
    Empty,
    TooLong,
    /// A control character (a line break would not survive the file).
    ControlCharacter,
}

impl Problem {
    pub const ALL: [Self; 5] = [
        Self::NotATime,
        Self::NotAfterFrom,
        Self::Empty,
        Self::TooLong,
        Self::ControlCharacter,
    ];

    /// The key the console translates.
    pub fn key(self) -> &'static str {
        match self {
            Self::NotATime => "not_a_time",
            Self::NotAfterFrom => "not_after_from",
            Self::Empty => "empty",
            Self::TooLong => "too_long",
            Self::ControlCharacter => "control",
        }
    }
}

/// The window, or every problem with its field.
pub fn check(w: &NewWindow) -> Result<Window, Vec<(Field, Problem)>> {
    let mut problems = Vec::new();
    let mut time = |field: Field, text: &str| {
        let t = parse_local(text.trim());
        if t.is_none() {
            problems.push((field, Problem::NotATime));
        }
        t
    };
    let from = time(Field::From, &w.from);
    let to = time(Field::To, &w.to);
    let announced = if w.excluded {
        None
    } else {
        time(Field::Announced, &w.announced)
    };
    if let (Some(a), Some(b)) = (from, to) {
        if a >= b {
            problems.push((Field::To, Problem::NotAfterFrom));
        }
    }
    let text = w.text.trim();
    if text.is_empty() {
        problems.push((Field::Text, Problem::Empty));
    } else if text.chars().count() > MAX_TEXT {
        problems.push((Field::Text, Problem::TooLong));
    } else if text.chars().any(char::is_control) {
        problems.push((Field::Text, Problem::ControlCharacter));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (from, to) = (from.unwrap_or_default(), to.unwrap_or_default());
    let kind = match announced {
        Some(announced) => Kind::Announced {
            announced,
            what: text.to_owned(),
        },
        None => Kind::Excluded {
            reason: text.to_owned(),
        },
    };
    Ok(Window {
        from,
        to,
        kind,
        line: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_checked_at_once() {
        let w = NewWindow {
            excluded: false,
            from: "2026-12-01 22:00".into(),
            to: "2026-12-01 21:00".into(),
            announced: "yesterday".into(),
            text: " ".into(),
        };
        assert_eq!(
            check(&w).unwrap_err(),
            [
                (Field::Announced, Problem::NotATime),
                (Field::To, Problem::NotAfterFrom),
                (Field::Text, Problem::Empty)
            ]
        );
        let long = NewWindow {
            excluded: true,
            from: "2026-02-30 00:00".into(),
            to: "2026-12-01 21:00".into(),
            announced: "ignored for an exclusion".into(),
            text: "x".repeat(MAX_TEXT + 1),
        };
        assert_eq!(
            check(&long).unwrap_err(),
            [
                (Field::From, Problem::NotATime),
                (Field::Text, Problem::TooLong)
            ]
        );
        let control = NewWindow {
            text: "flood\nsecond line".into(),
            ..long.clone()
        };
        assert!(check(&control)
            .unwrap_err()
            .contains(&(Field::Text, Problem::ControlCharacter)));
    }

    #[test]
    fn a_good_window_is_what_the_file_would_say() {
        let w = NewWindow {
            excluded: true,
            from: " 2026-11-14 03:10".into(),
            to: "2026-11-14 04:00 ".into(),
            announced: String::new(),
            text: " regional power cut ".into(),
        };
        let window = check(&w).unwrap();
        let file = crate::parse(
            "[[excluded]]\nfrom = \"2026-11-14 03:10\"\nto = \"2026-11-14 04:00\"\nreason = \"regional power cut\"\n",
        )
        .unwrap();
        assert_eq!(
            window,
            Window {
                line: 0,
                ..file[0].clone()
            }
        );
    }
}
