//! Pure: contacts from a CSV file, checked line by line. Any bad line means nothing is
//! imported; every bad line is reported with its line number, so the operator fixes the
//! file once.
//!
//! ```text
//! id,name,numbers,language,tags
//! C001,Mario Rossi,+390743111111;0743222222,it,zona-a;disabili
//! ```
//! `id` (the caller's own key: importing again updates the contact), `name` and
//! `numbers` (`;`-separated, called in order on successive attempts) are required;
//! `language` (default `it`) and `tags` (`;`-separated) are optional. Columns may come in
//! any order; unknown columns are an error (a typo would otherwise drop data silently).

use std::collections::HashSet;

/// One contact to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The caller's key.
    pub external_id: String,
    /// Name.
    pub name: String,
    /// Numbers, in calling order.
    pub numbers: Vec<String>,
    /// Language code.
    pub language: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// The file's columns.
const COLUMNS: [&str; 5] = ["id", "name", "numbers", "language", "tags"];

/// A number we can dial: digits, an optional leading `+`, 3 to 20 long.
fn valid_number(n: &str) -> bool {
    let digits = n.strip_prefix('+').unwrap_or(n);
    (3..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

/// What is wrong with a contact, or with a line of a contacts file. `Display` is the
/// English the command line and AMI print; the console says it in the operator's language
/// from `key` and `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoId,
    NoName,
    NoNumber,
    NotANumber(String),
    NotALanguage(String),
    IdTwice(String),
    UnknownColumn(String),
    /// The header lacks `id`, `name` or `numbers`.
    HeaderIncomplete,
    FieldCount {
        got: usize,
        want: usize,
    },
    /// What the CSV reader said (bad quoting, bad UTF-8).
    Csv(String),
    NoContacts,
}

impl Problem {
    /// Every key, for the translations' test.
    pub const KEYS: [&'static str; 11] = [
        "no_id",
        "no_name",
        "no_number",
        "not_a_number",
        "not_a_language",
        "id_twice",
        "unknown_column",
        "header_incomplete",
        "field_count",
        "csv",
        "no_contacts",
    ];

    /// A stable name for the kind of problem.
    pub fn key(&self) -> &'static str {
        match self {
            Self::NoId => "no_id",
            Self::NoName => "no_name",
            Self::NoNumber => "no_number",
            Self::NotANumber(_) => "not_a_number",
            Self::NotALanguage(_) => "not_a_language",
            Self::IdTwice(_) => "id_twice",
            Self::UnknownColumn(_) => "unknown_column",
            Self::HeaderIncomplete => "header_incomplete",
            Self::FieldCount { .. } => "field_count",
            Self::Csv(_) => "csv",
            Self::NoContacts => "no_contacts",
        }
    }

    /// What the operator typed or the file said, to quote in the message ("" if nothing).
    pub fn value(&self) -> String {
        match self {
            Self::NotANumber(v)
            | Self::NotALanguage(v)
            | Self::IdTwice(v)
            | Self::UnknownColumn(v)
            | Self::Csv(v) => v.clone(),
            Self::FieldCount { got, want } => format!("{got}/{want}"),
            _ => String::new(),
        }
    }

    /// The contact's field it is about, if one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::NoId | Self::IdTwice(_) => Some("id"),
            Self::NoName => Some("name"),
            Self::NoNumber | Self::NotANumber(_) => Some("numbers"),
            Self::NotALanguage(_) => Some("language"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoId => write!(f, "no id"),
            Self::NoName => write!(f, "no name"),
            Self::NoNumber => write!(f, "no number"),
            Self::NotANumber(n) => write!(f, "{n:?} is not a phone number"),
            Self::NotALanguage(l) => write!(f, "language {l:?} is not a language code"),
            Self::IdTwice(id) => write!(f, "id {id:?} appears twice in the file"),
            Self::UnknownColumn(h) => {
                write!(f, "unknown column {h:?} (columns: {})", COLUMNS.join(", "))
            }
            Self::HeaderIncomplete => write!(f, "the header needs id, name and numbers"),
            Self::FieldCount { got, want } => write!(f, "{got} fields, the header has {want}"),
            Self::Csv(e) => write!(f, "{e}"),
            Self::NoContacts => write!(f, "no contacts in the file"),
        }
    }
}

/// The problems of one line of a file (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblems {
    pub line: u64,
    pub problems: Vec<Problem>,
}

/// One contact from its fields as typed (a CSV line, or the console's form): numbers
/// `;`-separated (spaces, dashes, dots and slashes dropped), tags `;`-separated, language
/// `it` when empty. `Err` lists every problem.
pub fn read_one(
    id: &str,
    name: &str,
    numbers: &str,
    language: &str,
    tags: &str,
) -> Result<Contact, Vec<Problem>> {
    let mut problems = Vec::new();
    let (id, name) = (id.trim(), name.trim());
    if id.is_empty() {
        problems.push(Problem::NoId);
    }
    if name.is_empty() {
        problems.push(Problem::NoName);
    }
    let numbers: Vec<String> = numbers
        .split(';')
        .map(|n| n.trim().replace([' ', '-', '.', '/'], ""))
        .filter(|n| !n.is_empty())
        .collect();
    if numbers.is_empty() {
        problems.push(Problem::NoNumber);
    }
    for n in &numbers {
        if !valid_number(n) {
            problems.push(Problem::NotANumber(n.clone()));
        }
    }
    let language = match language.trim() {
        "" => "it".to_owned(),
        l if l.len() <= 8 && l.chars().all(|c| c.is_ascii_alphabetic() || c == '-') => {
            l.to_ascii_lowercase()
        }
        l => {
            problems.push(Problem::NotALanguage(l.to_owned()));
            String::new()
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Contact {
        external_id: id.to_owned(),
        name: name.to_owned(),
        numbers,
        language,
        tags: tags
            .split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Parses the whole file; `Err` lists every problem as `label:line: reason` (English, for
/// the command line and AMI).
pub fn parse(text: &str, label: &str) -> Result<Vec<Contact>, Vec<String>> {
    check_file(text).map_err(|lines| {
        lines
            .iter()
            .map(|l| {
                let said: Vec<String> = l.problems.iter().map(ToString::to_string).collect();
                match l.line {
                    0 => format!("{label}: {}", said.join("; ")),
                    n => format!("{label}:{n}: {}", said.join("; ")),
                }
            })
            .collect()
    })
}

/// Parses the whole file; `Err` lists the problems line by line.
pub fn check_file(text: &str) -> Result<Vec<Contact>, Vec<LineProblems>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut errors = Vec::new();
    let at = |line: u64, problem: Problem| LineProblems {
        line,
        problems: vec![problem],
    };
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        Err(e) => return Err(vec![at(1, Problem::Csv(e.to_string()))]),
    };
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(at(1, Problem::UnknownColumn(h.clone())));
        }
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(id_col), Some(name_col), Some(numbers_col)) =
        (col("id"), col("name"), col("numbers"))
    else {
        errors.push(at(1, Problem::HeaderIncomplete));
        return Err(errors);
    };
    let (lang_col, tags_col) = (col("language"), col("tags"));
    let mut seen = HashSet::new();
    let mut contacts = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(at(line, Problem::Csv(e.to_string())));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        if record.len() != headers.len() {
            let problem = Problem::FieldCount {
                got: record.len(),
                want: headers.len(),
            };
            errors.push(at(line, problem));
            continue;
        }
        let id = field(Some(id_col));
        let read = read_one(
            id,
            field(Some(name_col)),
            field(Some(numbers_col)),
            field(lang_col),
            field(tags_col),
        );
        let twice = (!id.is_empty() && !seen.insert(id.to_owned()))
            .then(|| Problem::IdTwice(id.to_owned()));
        match (read, twice) {
            (Ok(contact), None) => contacts.push(contact),
            (Ok(_), Some(twice)) => errors.push(at(line, twice)),
            (Err(mut problems), twice) => {
                problems.extend(twice);
                errors.push(LineProblems { line, problems });
            }
        }
    }
    if contacts.is_empty() && errors.is_empty() {
        errors.push(at(0, Problem::NoContacts));
    }
    if errors.is_empty() {
        Ok(contacts)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_has_a_listed_key_and_english_words() {
        let all = [
            Problem::NoId,
            Problem::NoName,
            Problem::NoNumber,
            Problem::NotANumber("x".into()),
            Problem::NotALanguage("x".into()),
            Problem::IdTwice("x".into()),
            Problem::UnknownColumn("x".into()),
            Problem::HeaderIncomplete,
            Problem::FieldCount { got: 5, want: 3 },
            Problem::Csv("x".into()),
            Problem::NoContacts,
        ];
        let keys: Vec<&str> = all.iter().map(Problem::key).collect();
        assert_eq!(keys, Problem::KEYS);
        assert!(all.iter().all(|p| !p.to_string().is_empty()));
        let lines = check_file("id,name,numbers\nC1,,telefono\n").unwrap_err();
        assert_eq!(
            lines,
            [LineProblems {
                line: 2,
                problems: vec![Problem::NoName, Problem::NotANumber("telefono".into())]
            }]
        );
    }

    #[test]
    fn a_good_file_gives_its_contacts_with_defaults() {
        let text = "id,name,numbers,tags\nC1,\"Rossi, Mario\",+39 0743 111111;0743-222222,zona-a;disabili\n\
                    C2,Anna Bianchi,3331234567,\n";
        let c = parse(text, "f.csv").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name, "Rossi, Mario");
        assert_eq!(c[0].numbers, ["+390743111111", "0743222222"]);
        assert_eq!(c[0].tags, ["zona-a", "disabili"]);
        assert_eq!(c[1].language, "it");
    }

    #[test]
    fn every_bad_line_is_reported_and_nothing_is_returned() {
        let text = "id,name,numbers,language\nC1,Mario,0743111111,it\n\
                    C2,,0743111112,it\nC3,Anna,call-me,it\nC1,Again,0743111113,it\n\
                    C4,Bruno,0743111114,it,extra\nC5,Carla,12,xx1\n";
        let e = parse(text, "list.csv").unwrap_err();
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e[0].starts_with("list.csv:3: no name"), "{}", e[0]);
        assert!(e[1].starts_with("list.csv:4:") && e[1].contains("not a phone number"));
        assert!(e[2].starts_with("list.csv:5:") && e[2].contains("appears twice"));
        assert!(e[3].starts_with("list.csv:6:") && e[3].contains("5 fields"));
        assert!(
            e[4].contains("12") && e[4].contains("not a language code"),
            "{}",
            e[4]
        );
    }

    #[test]
    fn a_bad_header_or_an_empty_file_is_an_error() {
        assert!(parse("id,name,phone\nC1,A,0743111111\n", "f")
            .unwrap_err()
            .iter()
            .any(|e| e.contains("unknown column \"phone\"")));
        assert!(parse("id,name,numbers\n", "f").unwrap_err()[0].contains("no contacts"));
    }
}
