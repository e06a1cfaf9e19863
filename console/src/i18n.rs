//! Pure: the console's words, Italian first and English second, from one embedded file
//! (`texts.toml`: a `[it]` and an `[en]` table with the same keys, which a test checks).
//! The language is the operator's choice (the `lang` cookie), else the browser's
//! (`Accept-Language`), else Italian.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    It,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::It => "it",
            Self::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "it" => Some(Self::It),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The cookie's choice, else the first of ours in `Accept-Language`, else Italian.
    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Self {
        if let Some(lang) = cookie.and_then(Self::parse) {
            return lang;
        }
        // "en-GB,en;q=0.9,it;q=0.8": browsers list them by preference already.
        accept_language
            .into_iter()
            .flat_map(|h| h.split(','))
            .filter_map(|tag| Self::parse(tag.split([';', '-']).next().unwrap_or("")))
            .next()
            .unwrap_or(Self::It)
    }
}

const TEXTS: &str = include_str!("texts.toml");

type Catalogue = HashMap<String, HashMap<String, String>>;

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    // The file is part of the binary and a test parses it: a failure here is a build
    // that never passed its tests.
    CATALOGUE.get_or_init(|| toml::from_str(TEXTS).expect("texts.toml is checked by a test"))
}

/// The words of one language, for a page.
#[derive(Debug, Clone, Copy)]
pub struct Texts {
    pub lang: Lang,
}

impl Texts {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The text for `key`; the key itself if missing (visible, and a test keeps it from
    /// happening).
    pub fn get<'k>(&self, key: &'k str) -> &'k str
    where
        'static: 'k,
    {
        catalogue()
            .get(self.lang.code())
            .and_then(|t| t.get(key))
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// `key`'s text with `{}` replaced by `value`.
    pub fn fill(&self, key: &str, value: &str) -> String {
        let text: &str = catalogue()
            .get(self.lang.code())
            .and_then(|t| t.get(key))
            .map(String::as_str)
            .unwrap_or(key);
        text.replacen("{}", value, 1)
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_every_key() {
        let c: Catalogue = toml::from_str(TEXTS).unwrap();
        let (it, en) = (&c["it"], &c["en"]);
        let missing: Vec<_> = it
            .keys()
            .filter(|k| !en.contains_key(*k))
            .chain(en.keys().filter(|k| !it.contains_key(*k)))
            .collect();
        assert!(missing.is_empty(), "keys in one language only: {missing:?}");
        assert!(it.len() > 20);
    }

    #[test]
    fn every_key_a_template_or_handler_uses_is_in_the_file() {
        let c: Catalogue = toml::from_str(TEXTS).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = Vec::new();
        let sources = std::fs::read_dir(dir.join("templates"))
            .unwrap()
            .chain(std::fs::read_dir(dir.join("src")).unwrap())
            .chain(std::fs::read_dir(dir.join("src/pages")).unwrap());
        for entry in sources.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if entry.path().ends_with("i18n.rs") {
                continue; // its tests name keys that must not exist
            }
            for quote in [".get(\"", ".fill(\""] {
                for (i, _) in text.match_indices(quote) {
                    let rest = &text[i + quote.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    // A literal key (keys made from values are checked below).
                    if key.contains('.')
                        && key
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                    {
                        used.push((entry.path(), key.to_owned()));
                    }
                }
            }
        }
        assert!(used.len() > 20, "found only {} uses", used.len());
        let missing: Vec<_> = used
            .iter()
            .filter(|(_, k)| !c["it"].contains_key(k))
            .collect();
        assert!(missing.is_empty(), "keys not in texts.toml: {missing:?}");
    }

    #[test]
    fn keys_made_from_values_are_in_the_file() {
        let c: Catalogue = toml::from_str(TEXTS).unwrap();
        let problems = sla_windows::rules::Problem::ALL.map(|p| p.key());
        let families: [(&str, &[&str]); 15] = [
            ("settings.problem", &problems),
            ("contacts.file_problem", &alertdb::contacts::Problem::KEYS),
            ("settings.done", &["added", "removed"]),
            (
                "outcome",
                &[
                    "confirmed",
                    "answered",
                    "busy",
                    "no_answer",
                    "rejected",
                    "failed",
                    "interrupted",
                ],
            ),
            ("operators.role", &["admin", "operator"]),
            (
                "operators.done",
                &[
                    "added",
                    "disable",
                    "enable",
                    "password",
                    "pin",
                    "remove-pin",
                ],
            ),
            ("message.kind", &["text", "recording"]),
            ("language", &crate::pages::messages::LANGUAGES),
            ("contact.problem", &["id", "name", "numbers", "language"]),
            ("state", &["draft", "running", "paused", "stopped", "done"]),
            (
                "recipient",
                &["pending", "calling", "confirmed", "gave_up", "stopped"],
            ),
            ("action", &["start", "pause", "resume", "stop"]),
            ("confirm", &["start", "pause", "resume", "stop"]),
            ("health", &["green", "yellow", "red"]),
            (
                "problem",
                &[
                    "name", "lists", "lines", "cps", "ring", "attempts", "retry", "window",
                ],
            ),
        ];
        for (family, values) in families {
            for v in values {
                let key = format!("{family}.{v}");
                assert!(c["it"].contains_key(&key), "{key} missing");
            }
        }
    }

    #[test]
    fn the_translated_problems_say_the_stores_limits() {
        // Every number the store's rule names is in the operator's text for that field.
        let c: Catalogue = toml::from_str(TEXTS).unwrap();
        let spec = alertdb::fixtures::every_field_wrong();
        for (field, rule) in spec.problems() {
            let limits: Vec<&str> = rule
                .split(|ch: char| !ch.is_ascii_digit())
                .filter(|n| !n.is_empty() && !["0", "1", "100000", "60"].contains(n))
                .collect();
            for lang in ["it", "en"] {
                let text = &c[lang][&format!("problem.{field}")];
                for n in &limits {
                    assert!(
                        text.contains(n),
                        "{lang} problem.{field} {text:?} lacks {n} ({rule})"
                    );
                }
            }
        }
    }

    #[test]
    fn the_language_is_the_operators_then_the_browsers_then_italian() {
        assert_eq!(Lang::choose(Some("en"), Some("it-IT")), Lang::En);
        assert_eq!(Lang::choose(Some("xx"), Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(Lang::choose(None, Some("de-DE,en;q=0.5")), Lang::En);
        assert_eq!(Lang::choose(None, Some("de-DE")), Lang::It);
        assert_eq!(Lang::choose(None, None), Lang::It);
        assert_eq!(Texts::new(Lang::En).get("no.such.key"), "no.such.key");
    }
}
