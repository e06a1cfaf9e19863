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

/// One contact from its fields as typed (a CSV line, or the console's form): numbers
/// `;`-separated (spaces, dashes, dots and slashes dropped), tags `;`-separated, language
/// `it` when empty. `Err` names each field that is wrong (`id`, `name`, `numbers`,
/// `language`) with the reason.
pub fn read_one(
    id: &str,
    name: &str,
    numbers: &str,
    language: &str,
    tags: &str,
) -> Result<Contact, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let (id, name) = (id.trim(), name.trim());
    if id.is_empty() {
        problems.push(("id", "no id".to_owned()));
    }
    if name.is_empty() {
        problems.push(("name", "no name".to_owned()));
    }
    let numbers: Vec<String> = numbers
        .split(';')
        .map(|n| n.trim().replace([' ', '-', '.', '/'], ""))
        .filter(|n| !n.is_empty())
        .collect();
    if numbers.is_empty() {
        problems.push(("numbers", "no number".to_owned()));
    }
    for n in &numbers {
        if !valid_number(n) {
            problems.push(("numbers", format!("{n:?} is not a phone number")));
        }
    }
    let language = match language.trim() {
        "" => "it".to_owned(),
        l if l.len() <= 8 && l.chars().all(|c| c.is_ascii_alphabetic() || c == '-') => {
            l.to_ascii_lowercase()
        }
        l => {
            problems.push(("language", format!("language {l:?} is not a language code")));
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

/// Parses the whole file; `Err` lists every problem as `label:line: reason`.
pub fn parse(text: &str, label: &str) -> Result<Vec<Contact>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut errors = Vec::new();
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        Err(e) => return Err(vec![format!("{label}:1: {e}")]),
    };
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(format!(
                "{label}:1: unknown column {h:?} (columns: {})",
                COLUMNS.join(", ")
            ));
        }
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(id_col), Some(name_col), Some(numbers_col)) =
        (col("id"), col("name"), col("numbers"))
    else {
        errors.push(format!("{label}:1: the header needs id, name and numbers"));
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
                errors.push(format!("{label}:{line}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        if record.len() != headers.len() {
            errors.push(format!(
                "{label}:{line}: {} fields, the header has {}",
                record.len(),
                headers.len()
            ));
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
        let mut problems: Vec<String> = Vec::new();
        if !id.is_empty() && !seen.insert(id.to_owned()) {
            problems.push(format!("id {id:?} appears twice in the file"));
        }
        match read {
            Ok(contact) if problems.is_empty() => contacts.push(contact),
            Ok(_) => errors.push(format!("{label}:{line}: {}", problems.join("; "))),
            Err(found) => {
                problems.splice(0..0, found.into_iter().map(|(_, p)| p));
                errors.push(format!("{label}:{line}: {}", problems.join("; ")));
            }
        }
    }
    if contacts.is_empty() && errors.is_empty() {
        errors.push(format!("{label}: no contacts in the file"));
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
