//! Pure: the generic Asterisk `.conf` reader (the syntax of `main/config.c`), shared by
//! `pjsip.conf` and `extensions.conf`.
//!
//! Implements sections `[name]`, templates `[name](!)`, inheritance `[name](tmpl)` and
//! `[name](!,tmpl1,tmpl2)`, appending `[name](+)`, `key = value` and `key => value` lines,
//! `;` comments (`\;` is a literal semicolon, `;-- … --;` a block comment), and
//! `#include` / `#tryinclude` relative to the including file's directory, with cycle
//! detection. Every [`Entry`] keeps its file and line.
//!
//! Everything here is pure except [`load`], which reads files with `std::fs`; parsing
//! itself goes through [`parse_with`] and a reader closure, so tests and fuzzers never
//! touch the disk.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Include nesting deeper than this is an error (Asterisk has no limit; a cycle through
/// distinct spellings of one path would otherwise recurse until the stack runs out).
const MAX_INCLUDE_DEPTH: usize = 32;

/// Template expansion copies entries; `[b](a,a)`, `[c](b,b)`, … doubles them per line,
/// so the total is capped to keep hostile input linear.
const MAX_ENTRIES: usize = 200_000;

/// Where something was written: a file label and a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file path or label given to the parser.
    pub file: Arc<str>,
    /// 1-based line number; 0 when the error concerns the file as a whole.
    pub line: usize,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn new(file: impl Into<Arc<str>>, line: usize) -> Self {
        Self {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A configuration error at a place in a file: Display is `"<file>:<line>: <message>"`.
///
/// Shared by the generic reader, `pjsip.conf` and `extensions.conf`, so every load error
/// an operator sees has the same shape.
#[derive(Debug)]
pub struct ConfError {
    /// Where the offending text is.
    pub location: Location,
    /// What is wrong with it (boxed: some kinds carry several strings, and errors
    /// travel in every `Result` of the loaders).
    pub kind: Box<ConfErrorKind>,
}

impl ConfError {
    /// An error of `kind` at `location`.
    pub fn new(location: Location, kind: ConfErrorKind) -> Self {
        Self {
            location,
            kind: Box::new(kind),
        }
    }
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.kind)
    }
}

// Written by hand rather than with thiserror: `kind` is the message, not a cause, and
// the real cause (an I/O error) is one level down inside it.
impl std::error::Error for ConfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.kind)
    }
}

/// What is wrong, without the location (see [`ConfError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfErrorKind {
    // --- generic syntax (this module) ---
    /// A `[` line without its `]`, or junk after the header.
    #[error("malformed section header '{line}'")]
    BadSectionHeader {
        /// The line as written (comments removed).
        line: String,
    },
    /// `[]`
    #[error("empty section name")]
    EmptySectionName,
    /// `[x](tmpl)` where no section `tmpl` precedes it.
    #[error("section '{section}' inherits from unknown template '{template}'")]
    UnknownTemplate {
        /// The inheriting section.
        section: String,
        /// The missing template.
        template: String,
    },
    /// `[x](+)` with no earlier `[x]`.
    #[error("section '{section}' appends to a section that does not exist")]
    AppendToMissing {
        /// The section name.
        section: String,
    },
    /// A `key = value` line before any `[section]`.
    #[error("'{key}' is outside any section")]
    OutsideSection {
        /// The key.
        key: String,
    },
    /// A line with no `=` or `=>`.
    #[error("expected 'key = value', found '{line}'")]
    MissingEquals {
        /// The line as written (comments removed).
        line: String,
    },
    /// `= value` with nothing before it.
    #[error("empty key")]
    EmptyKey,
    /// `#exec`, `#foo`.
    #[error("unsupported directive '#{directive}'")]
    UnsupportedDirective {
        /// The directive name.
        directive: String,
    },
    /// `#include` with no file name.
    #[error("#include without a file name")]
    EmptyInclude,
    /// `#include` while parsing a string without a file reader.
    #[error("#include \"{path}\" is not allowed here")]
    IncludeRefused {
        /// The path as written.
        path: String,
    },
    /// A file includes itself, directly or through others.
    #[error("#include cycle: '{path}' is already being read")]
    IncludeCycle {
        /// The resolved path.
        path: PathBuf,
    },
    /// Includes nested more than 32 deep.
    #[error("#include nested deeper than {max}")]
    IncludeTooDeep {
        /// The limit.
        max: usize,
    },
    /// A `;--` block comment that never ends.
    #[error("block comment ';--' is never closed")]
    UnclosedComment,
    /// Template expansion produced too many entries.
    #[error("more than {max} entries after template expansion")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// A file could not be read.
    #[error("cannot read '{path}'")]
    Read {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    // --- semantic errors (pjsip.conf, extensions.conf) ---
    /// A key that is not valid in this kind of section.
    #[error("unknown option '{key}' in {kind} '{section}'")]
    UnknownOption {
        /// The key as written.
        key: String,
        /// The section kind (`registration`, `endpoint`, `context`, …).
        kind: String,
        /// The section name.
        section: String,
    },
    /// A key whose value cannot be used.
    #[error("invalid value '{value}' for '{key}' in {kind} '{section}': {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// The section kind.
        kind: String,
        /// The section name.
        section: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A required key is absent.
    #[error("{kind} '{section}' is missing '{key}'")]
    MissingOption {
        /// The key.
        key: &'static str,
        /// The section kind.
        kind: String,
        /// The section name.
        section: String,
    },
    /// A pjsip section with no `type=`.
    #[error("section '{section}' has no 'type'")]
    MissingType {
        /// The section name.
        section: String,
    },
    /// A pjsip `type=` we do not know.
    #[error("unknown type '{type_name}' in section '{section}'")]
    UnknownType {
        /// The value of `type=`.
        type_name: String,
        /// The section name.
        section: String,
    },
    /// Two objects of the same kind and name.
    #[error("duplicate {kind} '{name}' (first defined at {first})")]
    Duplicate {
        /// The kind (`endpoint`, `context`, …).
        kind: String,
        /// The name.
        name: String,
        /// Where the first one is.
        first: Location,
    },
    /// A reference to an object that does not exist.
    #[error("{from_kind} '{from}' refers to unknown {to_kind} '{to}'")]
    UnknownReference {
        /// The referring kind.
        from_kind: &'static str,
        /// The referring object.
        from: String,
        /// The referenced kind.
        to_kind: &'static str,
        /// The missing name.
        to: String,
    },
    /// `exten => …,App(…)` naming an application we do not run.
    #[error("unknown application '{name}'")]
    UnknownApplication {
        /// The name as written.
        name: String,
    },
    /// An application's arguments are unusable.
    #[error("{app}: {reason}")]
    BadArguments {
        /// The application.
        app: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A malformed extension name or pattern.
    #[error("invalid extension '{name}'")]
    BadPattern {
        /// The name as written.
        name: String,
        /// The cause.
        #[source]
        source: crate::dialplan::pattern::PatternError,
    },
    /// A malformed `${…}`/`$[…]` template found at load time.
    #[error("invalid substitution in '{text}'")]
    BadTemplate {
        /// The argument as written.
        text: String,
        /// The cause.
        #[source]
        source: crate::dialplan::expr::ExprError,
    },
    /// A priority given twice in one extension.
    #[error("duplicate priority {priority} in extension '{exten}' (first at {first})")]
    DuplicatePriority {
        /// The extension.
        exten: String,
        /// The priority number.
        priority: u32,
        /// Where the first one is.
        first: Location,
    },
    /// A label given twice in one extension.
    #[error("duplicate label '{label}' in extension '{exten}'")]
    DuplicateLabel {
        /// The extension.
        exten: String,
        /// The label.
        label: String,
    },
    /// `n` without a previous priority of the same extension.
    #[error("priority 'n' of extension '{exten}' has no previous priority")]
    NoPreviousPriority {
        /// The extension.
        exten: String,
    },
    /// `same =>` before any `exten =>` in the section.
    #[error("'same' with no previous 'exten'")]
    SameWithoutExten,
    /// A literal `Goto`/`GotoIf` destination that does not exist.
    #[error("{app} target '{target}' does not exist")]
    BadGotoTarget {
        /// `Goto` or `GotoIf`.
        app: &'static str,
        /// `context,exten,priority` as resolved.
        target: String,
    },
    /// A semantic problem that fits none of the above (ambiguities).
    #[error("{message}")]
    Invalid {
        /// The message.
        message: String,
    },
}

/// Which separator a line used: Asterisk treats `=` and `=>` alike, but
/// `extensions.conf` conventionally uses `=>` for `exten`, `same` and `include`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `key = value`
    Assign,
    /// `key => value`
    Arrow,
}

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, trimmed.
    pub key: String,
    /// The value, trimmed, comments removed, `\;` turned into `;`.
    pub value: String,
    /// `=` or `=>`.
    pub operator: Operator,
    /// Where the line is (for inherited entries: where the template wrote it).
    pub location: Location,
}

/// One `[name]` section, its templates already expanded into `entries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets.
    pub name: String,
    /// `(!)`: a template, not an object of its own.
    pub is_template: bool,
    /// The templates it inherits from, in order.
    pub templates: Vec<String>,
    /// Inherited entries first (template order), then the section's own.
    pub entries: Vec<Entry>,
    /// Where the header is.
    pub location: Location,
}

impl Section {
    /// The last value of `key` (later lines override earlier and inherited ones).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// A parsed file with its includes: sections in file order, templates included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfFile {
    /// Every section, templates included (see [`ConfFile::objects`]).
    pub sections: Vec<Section>,
}

impl ConfFile {
    /// The sections that are not templates.
    pub fn objects(&self) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(|s| !s.is_template)
    }
}

/// Parses `text`, labelled `file_label` in locations; any `#include` is an error.
pub fn parse_str(text: &str, file_label: &str) -> Result<ConfFile, ConfError> {
    parse_with(text, file_label, |path| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("include of {} refused", path.display()),
        ))
    })
    .map_err(|e| match *e.kind {
        ConfErrorKind::Read { path, .. } => ConfError::new(
            e.location,
            ConfErrorKind::IncludeRefused {
                path: path.display().to_string(),
            },
        ),
        kind => ConfError {
            location: e.location,
            kind: Box::new(kind),
        },
    })
}

/// Parses `text` (labelled `file_label`, which is also the base for relative includes),
/// reading included files through `read`.
pub fn parse_with(
    text: &str,
    file_label: &str,
    mut read: impl FnMut(&Path) -> io::Result<String>,
) -> Result<ConfFile, ConfError> {
    let mut parser = Parser {
        file: ConfFile::default(),
        current: None,
        stack: vec![normalize(Path::new(file_label))],
        entries: 0,
        read: &mut read,
    };
    parser.parse_text(text, file_label)?;
    Ok(parser.file)
}

/// Reads and parses the file at `path` and everything it includes.
pub fn load(path: impl AsRef<Path>) -> Result<ConfFile, ConfError> {
    let path = path.as_ref();
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| {
        ConfError::new(
            Location::new(label.as_str(), 0),
            ConfErrorKind::Read {
                path: path.to_path_buf(),
                source,
            },
        )
    })?;
    parse_with(&text, &label, |p| std::fs::read_to_string(p))
}

struct Parser<'r> {
    file: ConfFile,
    /// Index of the section receiving entries.
    current: Option<usize>,
    /// Files being read, outermost first (for cycle detection).
    stack: Vec<PathBuf>,
    entries: usize,
    read: &'r mut dyn FnMut(&Path) -> io::Result<String>,
}

impl Parser<'_> {
    fn parse_text(&mut self, text: &str, label: &str) -> Result<(), ConfError> {
        let file: Arc<str> = Arc::from(label);
        let mut in_block_comment: Option<usize> = None;
        for (index, raw) in text.lines().enumerate() {
            let location = Location {
                file: file.clone(),
                line: index + 1,
            };
            let (line, still_open) = strip_comments(raw, in_block_comment.is_some());
            in_block_comment = match (in_block_comment, still_open) {
                (Some(start), true) => Some(start),
                (None, true) => Some(index + 1),
                (_, false) => None,
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(directive) = line.strip_prefix('#') {
                self.directive(directive, &location)?;
            } else if line.starts_with('[') {
                self.header(line, location)?;
            } else {
                self.entry(line, location)?;
            }
        }
        if let Some(start) = in_block_comment {
            return Err(ConfError::new(
                Location::new(file, start),
                ConfErrorKind::UnclosedComment,
            ));
        }
        Ok(())
    }

    fn directive(&mut self, directive: &str, location: &Location) -> Result<(), ConfError> {
        let name_len = directive
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
            .unwrap_or(directive.len());
        let (name, rest) = directive.split_at(name_len);
        let is_try = match name {
            "include" => false,
            "tryinclude" => true,
            _ => {
                return Err(ConfError::new(
                    location.clone(),
                    ConfErrorKind::UnsupportedDirective {
                        directive: name.to_owned(),
                    },
                ))
            }
        };
        let target = unquote(rest.trim());
        if target.is_empty() {
            return Err(ConfError::new(
                location.clone(),
                ConfErrorKind::EmptyInclude,
            ));
        }
        let base = Path::new(&*location.file)
            .parent()
            .unwrap_or_else(|| Path::new(""));
        let path = normalize(&base.join(target));
        if self.stack.contains(&path) {
            return Err(ConfError::new(
                location.clone(),
                ConfErrorKind::IncludeCycle { path },
            ));
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(ConfError::new(
                location.clone(),
                ConfErrorKind::IncludeTooDeep {
                    max: MAX_INCLUDE_DEPTH,
                },
            ));
        }
        let text = match (self.read)(&path) {
            Ok(text) => text,
            Err(e) if is_try && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(ConfError::new(
                    location.clone(),
                    ConfErrorKind::Read { path, source },
                ))
            }
        };
        let label = path.display().to_string();
        self.stack.push(path);
        let result = self.parse_text(&text, &label);
        self.stack.pop();
        result
    }

    fn header(&mut self, line: &str, location: Location) -> Result<(), ConfError> {
        let bad = || {
            ConfError::new(
                location.clone(),
                ConfErrorKind::BadSectionHeader {
                    line: line.to_owned(),
                },
            )
        };
        let close = line.find(']').ok_or_else(bad)?;
        let name = line[1..close].trim();
        let rest = line[close + 1..].trim();
        let options = if rest.is_empty() {
            ""
        } else {
            rest.strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?
        };
        if name.is_empty() {
            return Err(ConfError::new(location, ConfErrorKind::EmptySectionName));
        }
        let mut is_template = false;
        let mut append = false;
        let mut templates = Vec::new();
        for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match option {
                "!" => is_template = true,
                "+" => append = true,
                _ => templates.push(option.to_owned()),
            }
        }
        if append {
            let Some(index) = self.file.sections.iter().rposition(|s| s.name == name) else {
                return Err(ConfError::new(
                    location,
                    ConfErrorKind::AppendToMissing {
                        section: name.to_owned(),
                    },
                ));
            };
            self.current = Some(index);
            return Ok(());
        }
        let mut entries = Vec::new();
        for template in &templates {
            let Some(parent) = self.file.sections.iter().rposition(|s| &s.name == template) else {
                return Err(ConfError::new(
                    location,
                    ConfErrorKind::UnknownTemplate {
                        section: name.to_owned(),
                        template: template.clone(),
                    },
                ));
            };
            let inherited = &self.file.sections[parent].entries;
            entries.extend(inherited.iter().cloned());
            self.count(inherited.len(), &location)?;
        }
        self.file.sections.push(Section {
            name: name.to_owned(),
            is_template,
            templates,
            entries,
            location,
        });
        self.current = Some(self.file.sections.len() - 1);
        Ok(())
    }

    fn entry(&mut self, line: &str, location: Location) -> Result<(), ConfError> {
        let Some(eq) = line.find('=') else {
            return Err(ConfError::new(
                location,
                ConfErrorKind::MissingEquals {
                    line: line.to_owned(),
                },
            ));
        };
        let key = line[..eq].trim();
        let (operator, value) = match line[eq + 1..].strip_prefix('>') {
            Some(value) => (Operator::Arrow, value),
            None => (Operator::Assign, &line[eq + 1..]),
        };
        if key.is_empty() {
            return Err(ConfError::new(location, ConfErrorKind::EmptyKey));
        }
        let Some(section) = self.current.and_then(|i| self.file.sections.get_mut(i)) else {
            return Err(ConfError::new(
                location,
                ConfErrorKind::OutsideSection {
                    key: key.to_owned(),
                },
            ));
        };
        section.entries.push(Entry {
            key: key.to_owned(),
            value: value.trim().to_owned(),
            operator,
            location: location.clone(),
        });
        self.count(1, &location)
    }

    fn count(&mut self, more: usize, location: &Location) -> Result<(), ConfError> {
        self.entries = self.entries.saturating_add(more);
        if self.entries > MAX_ENTRIES {
            return Err(ConfError::new(
                location.clone(),
                ConfErrorKind::TooManyEntries { max: MAX_ENTRIES },
            ));
        }
        Ok(())
    }
}

/// Removes comments from one line. `in_block` says whether a `;--` block comment is open
/// at its start; the returned flag whether one is open at its end.
fn strip_comments(line: &str, mut in_block: bool) -> (String, bool) {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    loop {
        if in_block {
            match rest.find("--;") {
                Some(end) => {
                    rest = &rest[end + 3..];
                    in_block = false;
                }
                None => return (out, true),
            }
        }
        let mut chars = rest.char_indices();
        let mut ended = true;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if rest[i + 1..].starts_with(';') => {
                    out.push(';');
                    chars.next();
                }
                ';' if rest[i + 1..].starts_with("--") => {
                    rest = &rest[i + 3..];
                    in_block = true;
                    ended = false;
                    break;
                }
                ';' => return (out, false),
                _ => out.push(c),
            }
        }
        if ended {
            return (out, false);
        }
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('<').and_then(|s| s.strip_suffix('>')))
        .unwrap_or(s)
        .trim()
}

/// Lexical normalisation (`a/./b/../c` → `a/c`), so cycle detection sees one spelling
/// without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(text: &str) -> ConfFile {
        parse_str(text, "test.conf").unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> ConfError {
        match parse_str(text, "test.conf") {
            Ok(file) => panic!("parsed: {file:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn sections_keep_keys_values_operators_and_lines() {
        let file = parse("; header\n\n[general]\nstatic = yes ; c\n[ctx]\nexten => s,1,Answer()\n");
        assert_eq!(file.sections.len(), 2);
        let general = &file.sections[0];
        assert_eq!(general.name, "general");
        assert_eq!(general.entries[0].key, "static");
        assert_eq!(general.entries[0].value, "yes");
        assert_eq!(general.entries[0].operator, Operator::Assign);
        assert_eq!(general.entries[0].location.line, 4);
        let exten = &file.sections[1].entries[0];
        assert_eq!(exten.operator, Operator::Arrow);
        assert_eq!(exten.value, "s,1,Answer()");
        assert_eq!(exten.location.to_string(), "test.conf:6");
    }

    #[test]
    fn escaped_semicolon_is_literal_and_plain_one_starts_a_comment() {
        let file = parse("[a]\nx = one\\;two ; comment\n");
        assert_eq!(file.sections[0].entries[0].value, "one;two");
    }

    #[test]
    fn block_comments_span_lines() {
        let file = parse("[a]\nx = 1 ;-- start\ny = 2\nend --; z = 3\n");
        let keys: Vec<_> = file.sections[0]
            .entries
            .iter()
            .map(|e| &e.key[..])
            .collect();
        assert_eq!(keys, ["x", "z"]);
    }

    #[test]
    fn unclosed_block_comment_is_an_error_at_its_start() {
        let e = error("[a]\n;-- never\nx=1\n");
        assert!(matches!(*e.kind, ConfErrorKind::UnclosedComment));
        assert_eq!(e.location.line, 2);
    }

    #[test]
    fn templates_are_expanded_first_and_own_entries_follow() {
        let file = parse(
            "[base](!)\ntype = endpoint\nallow = ulaw\n[t2](!)\ncontext = x\n\
             [trunk](base,t2)\nallow = alaw\n",
        );
        let trunk = file.objects().next().expect("one object");
        assert_eq!(trunk.name, "trunk");
        assert_eq!(trunk.templates, ["base", "t2"]);
        let pairs: Vec<_> = trunk
            .entries
            .iter()
            .map(|e| (&e.key[..], &e.value[..], e.location.line))
            .collect();
        assert_eq!(
            pairs,
            [
                ("type", "endpoint", 2),
                ("allow", "ulaw", 3),
                ("context", "x", 5),
                ("allow", "alaw", 7)
            ]
        );
        assert_eq!(trunk.get("allow").map(|e| &e.value[..]), Some("alaw"));
        assert_eq!(file.objects().count(), 1);
    }

    #[test]
    fn a_template_can_itself_inherit_and_be_a_template() {
        let file = parse("[a](!)\nx=1\n[b](!,a)\ny=2\n[c](b)\n");
        let c = file.objects().next().expect("c");
        assert_eq!(c.entries.len(), 2);
    }

    #[test]
    fn unknown_template_is_an_error() {
        let e = error("[c](nope)\n");
        assert_eq!(
            e.to_string(),
            "test.conf:1: section 'c' inherits from unknown template 'nope'"
        );
    }

    #[test]
    fn plus_appends_to_the_earlier_section() {
        let file = parse("[a]\nx=1\n[b]\n[a](+)\ny=2\n");
        assert_eq!(file.sections.len(), 2);
        assert_eq!(file.sections[0].entries.len(), 2);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line() {
        assert!(matches!(
            *error("x = 1\n").kind,
            ConfErrorKind::OutsideSection { .. }
        ));
        assert!(matches!(
            *error("[a]\njunk\n").kind,
            ConfErrorKind::MissingEquals { .. }
        ));
        assert!(matches!(
            *error("[a]\n = 1\n").kind,
            ConfErrorKind::EmptyKey
        ));
        assert!(matches!(
            *error("[a\n").kind,
            ConfErrorKind::BadSectionHeader { .. }
        ));
        assert!(matches!(
            *error("[a] junk\n").kind,
            ConfErrorKind::BadSectionHeader { .. }
        ));
        assert!(matches!(
            *error("[ ]\n").kind,
            ConfErrorKind::EmptySectionName
        ));
        assert!(matches!(
            *error("#exec /bin/true\n").kind,
            ConfErrorKind::UnsupportedDirective { .. }
        ));
        assert_eq!(error("[a]\n\n\njunk\n").location.line, 4);
    }

    #[test]
    fn includes_are_refused_by_parse_str() {
        let e = error("#include \"other.conf\"\n");
        assert!(
            matches!(*e.kind, ConfErrorKind::IncludeRefused { .. }),
            "{e}"
        );
    }

    fn files(list: &[(&str, &str)]) -> HashMap<PathBuf, String> {
        list.iter()
            .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn includes_are_read_relative_to_the_including_file() {
        let fs = files(&[
            (
                "/etc/allerta/node/trunks.conf",
                "[t]\nx=1\n#include sub/more.conf\n",
            ),
            ("/etc/allerta/node/sub/more.conf", "y=2\n"),
        ]);
        let file = parse_with(
            "[a]\n#include \"trunks.conf\"\nz=3\n",
            "/etc/allerta/node/pjsip.conf",
            |p| {
                fs.get(p)
                    .cloned()
                    .ok_or_else(|| io::ErrorKind::NotFound.into())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t = &file.sections[1];
        assert_eq!(t.name, "t");
        let where_: Vec<_> = t.entries.iter().map(|e| e.location.to_string()).collect();
        assert_eq!(
            where_,
            [
                "/etc/allerta/node/trunks.conf:2",
                "/etc/allerta/node/sub/more.conf:1",
                "/etc/allerta/node/pjsip.conf:3"
            ]
        );
    }

    #[test]
    fn include_cycles_are_detected() {
        let fs = files(&[("/c/b.conf", "#include ./a.conf\n")]);
        let e = parse_with("#include b.conf\n", "/c/a.conf", |p| {
            fs.get(p)
                .cloned()
                .ok_or_else(|| io::ErrorKind::NotFound.into())
        })
        .map(|_| ())
        .expect_err("cycle");
        assert!(matches!(*e.kind, ConfErrorKind::IncludeCycle { .. }), "{e}");
        assert_eq!(e.location.to_string(), "/c/b.conf:1");
    }

    #[test]
    fn missing_include_is_an_error_but_missing_tryinclude_is_not() {
        let none = |_: &Path| -> io::Result<String> { Err(io::ErrorKind::NotFound.into()) };
        let e = parse_with("#include x.conf\n", "/c/a.conf", none).expect_err("missing");
        assert!(matches!(*e.kind, ConfErrorKind::Read { .. }));
        assert!(std::error::Error::source(&e).is_some());
        assert!(parse_with("#tryinclude x.conf\n", "/c/a.conf", none).is_ok());
    }

    #[test]
    fn exponential_template_expansion_is_capped() {
        let mut text = String::from("[t0]\nx=1\n");
        for i in 1..40 {
            text.push_str(&format!("[t{i}](t{p},t{p})\n", p = i - 1));
        }
        assert!(matches!(
            *error(&text).kind,
            ConfErrorKind::TooManyEntries { .. }
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for text in [
            "[", "]", "[a](", "[a](!", "\\", "\\;", ";--", "=>", "[a]\n=>", "#", "#include",
        ] {
            let _ = parse_str(text, "x");
        }
    }
}
