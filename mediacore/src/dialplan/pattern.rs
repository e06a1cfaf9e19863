//! Pure: Asterisk extension names and `_` patterns (`main/pbx.c`: `_extension_match_core`,
//! `ext_cmp`).
//!
//! A name not starting with `_` is literal (`s`, `h`, `i`, `t`, `100`); dashes and spaces
//! in it are dropped as Asterisk's `ext_strncpy` does. After `_`: `X` = 0-9, `Z` = 1-9,
//! `N` = 2-9 (either case), `[1-5]`/`[137-9]` sets, `.` = one or more of anything,
//! `!` = zero or more, anything else itself; `-` and spaces are ignored. As in Asterisk,
//! whatever follows `.` or `!` is never looked at.
//!
//! **Precedence** ([`Pattern::cmp_precedence`]) is Asterisk's `ext_cmp()`:
//! 1. literal names sort before patterns (so a literal beats any pattern), literals
//!    among themselves by byte order;
//! 2. patterns are compared position by position (`ext_cmp_pattern_pos()`): each position
//!    weighs `(number of characters it matches) << 8 | smallest such character`, so at the
//!    first differing position the one matching *fewer* characters wins
//!    (`1` < `[1-3]` < `N` < `Z` < `X`), then the lower smallest character; `.` weighs
//!    `0x18000`, `!` `0x28000` and the end of the pattern `0x30000`;
//! 3. equal weights with different sets are ordered by the sets' bitmaps.
//!
//! A context tries its extensions in this order and the first that matches wins.

use std::cmp::Ordering;
use std::fmt;

/// A malformed `_` pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `_` and nothing else.
    #[error("empty pattern")]
    Empty,
    /// `[` without `]`.
    #[error("unterminated '[' in pattern '{pattern}'")]
    UnterminatedSet {
        /// The pattern as written.
        pattern: String,
    },
    /// `[]` or a set with no characters.
    #[error("empty character set in pattern '{pattern}'")]
    EmptySet {
        /// The pattern as written.
        pattern: String,
    },
    /// A literal name that is empty after dropping dashes and spaces.
    #[error("empty extension name")]
    EmptyName,
}

/// One position of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Element {
    /// Exactly this character.
    Char(char),
    /// Any of these characters (sorted, deduplicated).
    Set(Vec<char>),
    /// `.`: one or more of anything, then stop.
    OneOrMore,
    /// `!`: zero or more of anything, then stop.
    ZeroOrMore,
}

impl Element {
    fn accepts(&self, c: char) -> bool {
        match self {
            Self::Char(x) => *x == c,
            Self::Set(set) => set.binary_search(&c).is_ok(),
            Self::OneOrMore | Self::ZeroOrMore => true,
        }
    }

    /// `ext_cmp_pattern_pos()`'s weight.
    fn weight(&self) -> u32 {
        match self {
            Self::Char(c) => 0x0100 | u32::from(*c).min(0xff),
            Self::Set(set) => {
                let count = u32::try_from(set.len()).unwrap_or(u32::MAX >> 9).min(0xff);
                let min = set.first().map_or(0xff, |c| u32::from(*c).min(0xff));
                (count << 8) | min
            }
            Self::OneOrMore => 0x18000,
            Self::ZeroOrMore => 0x28000,
        }
    }
}

const END_WEIGHT: u32 = 0x30000;

/// An extension name: a literal or a `_` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The name as written (trimmed).
    source: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Literal(String),
    Match(Vec<Element>),
}

impl Pattern {
    /// Parses an extension name as written after `exten =>`.
    pub fn parse(name: &str) -> Result<Self, PatternError> {
        let source = name.trim().to_owned();
        let kind = match source.strip_prefix('_') {
            Some(body) => Kind::Match(parse_elements(body, &source)?),
            None => {
                let literal: String = source.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
                if literal.is_empty() {
                    return Err(PatternError::EmptyName);
                }
                Kind::Literal(literal)
            }
        };
        Ok(Self { source, kind })
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether this is a `_` pattern rather than a literal name.
    pub fn is_pattern(&self) -> bool {
        matches!(self.kind, Kind::Match(_))
    }

    /// The literal name (dashes dropped), if this is not a pattern.
    pub fn literal(&self) -> Option<&str> {
        match &self.kind {
            Kind::Literal(s) => Some(s),
            Kind::Match(_) => None,
        }
    }

    /// Whether `exten` (what was dialled) is matched completely.
    pub fn matches(&self, exten: &str) -> bool {
        match &self.kind {
            Kind::Literal(s) => s == exten,
            Kind::Match(elements) => walk(elements, exten) == Walk::Complete,
        }
    }

    /// Whether appending one or more characters to `prefix` could still match: the
    /// question `WaitExten`/`Background` digit collection asks (Asterisk's
    /// `ast_matchmore_extension`).
    pub fn can_match_more(&self, prefix: &str) -> bool {
        match &self.kind {
            Kind::Literal(s) => s.len() > prefix.len() && s.starts_with(prefix),
            Kind::Match(elements) => walk(elements, prefix) == Walk::WantsMore,
        }
    }

    /// Asterisk's `ext_cmp()` ordering: `Less` means `self` is tried first.
    pub fn cmp_precedence(&self, other: &Self) -> Ordering {
        match (&self.kind, &other.kind) {
            (Kind::Literal(a), Kind::Literal(b)) => a.cmp(b),
            (Kind::Literal(_), Kind::Match(_)) => Ordering::Less,
            (Kind::Match(_), Kind::Literal(_)) => Ordering::Greater,
            (Kind::Match(a), Kind::Match(b)) => {
                let mut a = a.iter();
                let mut b = b.iter();
                loop {
                    let (x, y) = (a.next(), b.next());
                    let wx = x.map_or(END_WEIGHT, Element::weight);
                    let wy = y.map_or(END_WEIGHT, Element::weight);
                    let order = wx.cmp(&wy).then_with(|| match (x, y) {
                        // Same count and minimum, different sets: Asterisk compares
                        // bitmaps (lower characters in higher bits) with
                        // memcmp(right, left), so the set with the lower first differing
                        // character sorts first: the order of the sorted sets.
                        (Some(Element::Set(p)), Some(Element::Set(q))) => p.cmp(q),
                        _ => Ordering::Equal,
                    });
                    if order != Ordering::Equal || (x.is_none() && y.is_none()) {
                        return order;
                    }
                    // Asterisk stops comparing after `.`/`!` too: both weigh the same.
                    if matches!(x, Some(Element::OneOrMore | Element::ZeroOrMore)) {
                        return Ordering::Equal;
                    }
                }
            }
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Walk {
    /// The input is fully consumed and the pattern is satisfied.
    Complete,
    /// The input is a proper prefix of something that matches.
    WantsMore,
    /// Neither.
    NoMatch,
}

/// Matches `input` against `elements`; `.`/`!` end the walk as in Asterisk.
fn walk(elements: &[Element], input: &str) -> Walk {
    let mut chars = input.chars();
    for element in elements {
        match element {
            Element::OneOrMore => {
                // Needs at least one more character; anything after that matches, and
                // more can always follow.
                return if chars.next().is_some() {
                    Walk::Complete
                } else {
                    Walk::WantsMore
                };
            }
            Element::ZeroOrMore => return Walk::Complete,
            _ => match chars.next() {
                Some(c) if element.accepts(c) => {}
                Some(_) => return Walk::NoMatch,
                None => return Walk::WantsMore,
            },
        }
    }
    if chars.next().is_some() {
        Walk::NoMatch
    } else {
        Walk::Complete
    }
}

fn parse_elements(body: &str, source: &str) -> Result<Vec<Element>, PatternError> {
    let mut elements = Vec::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        let element = match c {
            '-' | ' ' => continue,
            'X' | 'x' => Element::Set(('0'..='9').collect()),
            'Z' | 'z' => Element::Set(('1'..='9').collect()),
            'N' | 'n' => Element::Set(('2'..='9').collect()),
            '.' => Element::OneOrMore,
            '!' => Element::ZeroOrMore,
            '[' => {
                let mut set = Vec::new();
                let mut previous: Option<char> = None;
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '-' if previous.is_some() => {
                            let (Some(low), Some(high)) = (previous.take(), chars.next()) else {
                                break;
                            };
                            if high == ']' {
                                // `[1-]`: a trailing dash is literal
                                set.push('-');
                                closed = true;
                                break;
                            }
                            // Asterisk's sets are bytes; clamping keeps a hostile
                            // `[a-\u{10ffff}]` from building a million-entry set.
                            let high = high.min('\u{ff}');
                            if low <= high {
                                set.extend(low..=high);
                            }
                        }
                        _ => {
                            set.push(c);
                            previous = Some(c);
                        }
                    }
                }
                if !closed {
                    return Err(PatternError::UnterminatedSet {
                        pattern: source.to_owned(),
                    });
                }
                set.sort_unstable();
                set.dedup();
                if set.is_empty() {
                    return Err(PatternError::EmptySet {
                        pattern: source.to_owned(),
                    });
                }
                Element::Set(set)
            }
            other => Element::Char(other),
        };
        let stop = matches!(element, Element::OneOrMore | Element::ZeroOrMore);
        elements.push(element);
        if stop {
            break;
        }
    }
    if elements.is_empty() {
        return Err(PatternError::Empty);
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn literals_match_exactly_and_ignore_dashes() {
        assert!(p("s").matches("s"));
        assert!(!p("s").matches("ss"));
        assert!(p("555-1212").matches("5551212"));
        assert!(!p("100").matches("10"));
    }

    #[test]
    fn x_z_n_and_sets_match_their_digits() {
        assert!(p("_X").matches("0"));
        assert!(!p("_Z").matches("0"));
        assert!(p("_Z").matches("1"));
        assert!(!p("_N").matches("1"));
        assert!(p("_n").matches("2"));
        assert!(p("_NXX-XXXX").matches("2125551"));
        assert!(p("_[137-9]").matches("8"));
        assert!(!p("_[137-9]").matches("5"));
        assert!(p("_[1-5]").matches("5"));
        assert!(p("_*X#").matches("*5#"));
    }

    #[test]
    fn dot_needs_one_or_more_and_bang_zero_or_more() {
        assert!(!p("_9.").matches("9"));
        assert!(p("_9.").matches("91"));
        assert!(p("_9.").matches("9123abc"));
        assert!(p("_9!").matches("9"));
        assert!(p("_9!").matches("9123"));
        assert!(
            p("_.").matches("h"),
            "Asterisk's `_.` catches h, i and t too"
        );
    }

    #[test]
    fn can_match_more_reports_incomplete_prefixes() {
        assert!(p("100").can_match_more("1"));
        assert!(p("100").can_match_more(""));
        assert!(!p("100").can_match_more("100"));
        assert!(!p("100").can_match_more("2"));
        assert!(p("_1XX").can_match_more("12"));
        assert!(!p("_1XX").can_match_more("123"));
        assert!(!p("_1XX").can_match_more("2"));
        assert!(p("_9.").can_match_more("9"));
        assert!(
            !p("_9.").can_match_more("91"),
            "matched; `.` accepts everything"
        );
        assert!(!p("_9!").can_match_more("9"));
    }

    #[test]
    fn precedence_follows_asterisk_ext_cmp() {
        let mut list: Vec<Pattern> = [
            "_X.", "_1XX", "_.", "_[1-3]XX", "_NXX", "123", "_12X", "_ZXX", "_1!",
        ]
        .into_iter()
        .map(p)
        .collect();
        list.sort_by(Pattern::cmp_precedence);
        let order: Vec<&str> = list.iter().map(Pattern::as_str).collect();
        assert_eq!(
            order,
            ["123", "_12X", "_1XX", "_1!", "_[1-3]XX", "_NXX", "_ZXX", "_X.", "_."]
        );
    }

    #[test]
    fn a_longer_pattern_sorts_before_its_prefix_as_in_asterisk() {
        assert_eq!(p("_X.").cmp_precedence(&p("_X")), Ordering::Less);
        assert_eq!(p("_X!").cmp_precedence(&p("_X")), Ordering::Less);
        assert_eq!(p("_X.").cmp_precedence(&p("_X!")), Ordering::Less);
    }

    #[test]
    fn malformed_patterns_are_errors_not_panics() {
        assert!(matches!(Pattern::parse("_"), Err(PatternError::Empty)));
        assert!(matches!(
            Pattern::parse("_[12"),
            Err(PatternError::UnterminatedSet { .. })
        ));
        assert!(matches!(
            Pattern::parse("_[]"),
            Err(PatternError::EmptySet { .. })
        ));
        assert!(matches!(Pattern::parse("--"), Err(PatternError::EmptyName)));
        for s in ["_[", "_[-", "_[9-1]", "_[1-]", "_[a-\u{10ffff}]", "_[-]"] {
            let _ = Pattern::parse(s);
        }
    }
}
