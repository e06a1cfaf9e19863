//! Pure: loads the `extensions.conf` subset (Asterisk's `pbx_config`) into a [`Dialplan`].
//!
//! Sections: `[general]` (keys accepted and ignored), `[globals]` (variables), and
//! contexts holding `exten => name,priority,App(args)`, `same => priority,App(args)`,
//! `include => context` and `ignorepat => …` (ignored). Priorities: numbers, `n`,
//! `n(label)`, `1(label)`; `hint` lines are skipped. A context written twice is merged,
//! as Asterisk does. Templates and inheritance come from the generic reader.
//!
//! Arguments are split once at load time on top-level commas: `\,` escapes, double
//! quotes group (and are removed, as `AST_STANDARD_APP_ARGS` does), and `${…}`, `$[…]`
//! and parentheses nest; text inside `${…}`/`$[…]` is kept verbatim. Every argument stays
//! an unexpanded template. Asterisk substitutes first and splits afterwards, so a variable
//! whose *value* holds a comma splits differently there; `&` file lists are split after
//! expansion, as Asterisk does. `Set` and `NoOp` take their data whole.
//!
//! Load-time errors (all `file:line`): unknown application, bad arguments, duplicate
//! priority or label, `n` with no previous priority, `same` with no previous `exten`,
//! `include` of an unknown context, a malformed pattern or template, and a literal
//! `Goto`/`GotoIf`/`Gosub`/`GosubIf` destination (context, extension, priority or label)
//! that does not exist. Extension lookup ([`Dialplan::find`]) searches the context, then its includes
//! in order, depth first, each context at most once.

use std::collections::HashMap;
use std::path::Path;

use super::expr;
use super::pattern::Pattern;
use crate::conf::asterisk::{self, ConfError, ConfErrorKind, ConfFile, Entry, Location, Section};

/// A `Goto` destination: `[[context,]exten,]priority`, each an unexpanded template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Target context; `None` = the current one.
    pub context: Option<String>,
    /// Target extension; `None` = the current one.
    pub exten: Option<String>,
    /// Priority number or label.
    pub priority: String,
}

/// An application with its arguments as unexpanded templates (`None` = not given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum App {
    /// `AllertaAlert()`: Allerta's own: play the current alert (the running campaign's
    /// message), or "no alert in progress".
    AllertaAlert,
    /// `AllertaRecordAlert(message)`: Allerta's own: ask for an operator's PIN, record a
    /// new alert message by phone under that name.
    AllertaRecordAlert {
        /// The message's name.
        message: String,
    },
    /// `Answer([delay])`
    Answer {
        /// Delay in ms (accepted; the driver answers at once).
        delay: Option<String>,
    },
    /// `Playback(file[&file2…][,options])`
    Playback {
        /// `&`-separated file list, split after expansion.
        files: String,
        /// Options (`skip`, `noanswer`; ignored).
        options: Option<String>,
    },
    /// `Background(file[&file2…][,options])`
    Background {
        /// `&`-separated file list.
        files: String,
        /// Options (ignored).
        options: Option<String>,
    },
    /// `Read(var[,file[&…][,maxdigits[,options[,attempts[,timeout]]]]])`
    Read {
        /// Variable receiving the digits.
        var: String,
        /// Prompt files.
        files: Option<String>,
        /// Maximum digits (0 or absent: until `#`).
        max_digits: Option<String>,
        /// Options (ignored).
        options: Option<String>,
        /// Attempts, default 1.
        attempts: Option<String>,
        /// Timeout in seconds (fractions allowed), default 10.
        timeout: Option<String>,
    },
    /// `WaitExten([seconds[,options]])`
    WaitExten {
        /// Seconds (fractions allowed), default 10.
        seconds: Option<String>,
        /// Options (ignored).
        options: Option<String>,
    },
    /// `Record(file.format[,silence[,maxduration[,options]]])`
    Record {
        /// `file.format`.
        file: String,
        /// Seconds of silence that end the recording (0 = off).
        silence: Option<String>,
        /// Maximum seconds (0 = no limit).
        max_duration: Option<String>,
        /// Options (ignored).
        options: Option<String>,
    },
    /// `Dial(PJSIP/number@trunk[&…][,timeout[,options]])`
    Dial {
        /// `&`-separated targets.
        targets: String,
        /// Ring timeout in seconds.
        timeout: Option<String>,
        /// Options; `g` continues after an answered call ends.
        options: Option<String>,
    },
    /// `Busy([timeout])`: hang up as busy (an unanswered call is refused 486). Deliberate
    /// difference: an answered call is not played Asterisk's busy tone first.
    Busy {
        /// Seconds (accepted; see above).
        timeout: Option<String>,
    },
    /// `Congestion([timeout])`: hang up as congestion (an unanswered call is refused 503);
    /// as `Busy`, no tone.
    Congestion {
        /// Seconds (accepted).
        timeout: Option<String>,
    },
    /// `Hangup([cause])`
    Hangup {
        /// Q.850 cause code.
        cause: Option<String>,
    },
    /// `Goto([[context,]exten,]priority)`
    Goto(Destination),
    /// `GotoIf(condition?[dest1][:dest2])`
    GotoIf {
        /// The condition (`pbx_checkcondition` after expansion).
        condition: String,
        /// Where to go when true; `None` continues.
        if_true: Option<Destination>,
        /// Where to go when false; `None` continues.
        if_false: Option<Destination>,
    },
    /// `Gosub([[context,]exten,]priority[(arg1[,…])])`: run a subroutine, come back after
    /// its `Return`.
    Gosub(Subroutine),
    /// `GosubIf(condition?[sub1][:sub2])`
    GosubIf {
        /// The condition (`pbx_checkcondition` after expansion).
        condition: String,
        /// The subroutine when true; `None` continues.
        if_true: Option<Subroutine>,
        /// The subroutine when false; `None` continues.
        if_false: Option<Subroutine>,
    },
    /// `ExecIf(condition?app1(args)[:app2(args)])`: runs one application or the other
    /// (each read as a priority's would be, at load time).
    ExecIf {
        /// The condition (`pbx_checkcondition` after expansion).
        condition: String,
        /// The application when true; `None` continues.
        if_true: Option<Box<Self>>,
        /// The application when false; `None` continues.
        if_false: Option<Box<Self>>,
    },
    /// `Return([value])`: back to after the `Gosub`, `GOSUB_RETVAL` set to `value`.
    Return {
        /// The value (verbatim).
        value: Option<String>,
    },
    /// `Set(var=value)`
    Set {
        /// Variable name (may be `CALLERID(num)`).
        name: String,
        /// Value, verbatim.
        value: String,
    },
    /// `Wait(seconds)`
    Wait {
        /// Seconds, fractions allowed.
        seconds: String,
    },
    /// `AGI(command[,arg1[,…]])`: an IVR script, `agi://host[:port]/script` (FastAGI) or
    /// an absolute path.
    Agi {
        /// The script.
        command: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// `UserEvent(eventname[,key: value[,…]])`: an AMI `UserEvent` event.
    UserEvent {
        /// The event's name.
        name: String,
        /// `key: value` items.
        body: Vec<String>,
    },
    /// `SayDigits(digits)`: the digits one by one (`dialplan::say`).
    SayDigits {
        /// The digits.
        digits: String,
    },
    /// `SayNumber(number[,gender])`: the number in Italian (`dialplan::say`); the gender
    /// is accepted and not used (the shipped prompts have one form).
    SayNumber {
        /// The number.
        number: String,
        /// `f`, `m`, `c`, `n`.
        gender: Option<String>,
    },
    /// `Playtones(tones)`: an indication's name or a tone list (`codec::tones`), played
    /// while the dialplan goes on, until `StopPlaytones` or a prompt.
    Playtones {
        /// The tones.
        tones: String,
    },
    /// `StopPlaytones()`
    StopPlaytones,
    /// `SendDTMF(digits[,timeout_ms[,duration_ms]])`: RFC 4733 events to the far end. The
    /// gap between digits is ours (100 ms; `timeout_ms` is accepted).
    SendDtmf {
        /// The digits.
        digits: String,
        /// Asterisk's pause between digits (accepted).
        between: Option<String>,
        /// Each digit's length in ms (100 if not given).
        duration: Option<String>,
    },
    /// `NoOp(text)`
    NoOp {
        /// Ignored text (still expanded, as Asterisk does).
        text: String,
    },
    /// `Verbose([level,]message)`
    Verbose {
        /// Level 0-4.
        level: Option<String>,
        /// The message.
        message: String,
    },
}

/// Where a `Gosub` goes and what it passes (`ARG1`…`ARGn` in the subroutine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subroutine {
    /// The subroutine's first priority.
    pub dest: Destination,
    /// The arguments (templates).
    pub args: Vec<String>,
}

impl App {
    /// Every template this application carries (for load-time checks).
    pub fn templates(&self) -> Vec<&str> {
        fn dest(d: &Destination) -> impl Iterator<Item = &str> {
            [
                d.context.as_deref(),
                d.exten.as_deref(),
                Some(d.priority.as_str()),
            ]
            .into_iter()
            .flatten()
        }
        fn push<'a>(all: &mut Vec<&'a str>, o: &[&'a Option<String>]) {
            all.extend(o.iter().filter_map(|s| s.as_deref()));
        }
        let mut all: Vec<&str> = Vec::new();
        match self {
            Self::Answer { delay } => push(&mut all, &[delay]),
            Self::Playback { options, .. } | Self::Background { options, .. } => {
                push(&mut all, &[options])
            }
            Self::Read {
                files,
                max_digits,
                options,
                attempts,
                timeout,
                ..
            } => push(&mut all, &[files, max_digits, options, attempts, timeout]),
            Self::WaitExten { seconds, options } => push(&mut all, &[seconds, options]),
            Self::Record {
                silence,
                max_duration,
                options,
                ..
            } => push(&mut all, &[silence, max_duration, options]),
            Self::Dial {
                timeout, options, ..
            } => push(&mut all, &[timeout, options]),
            Self::Hangup { cause } => push(&mut all, &[cause]),
            Self::Busy { timeout } | Self::Congestion { timeout } => push(&mut all, &[timeout]),
            Self::Verbose { level, .. } => push(&mut all, &[level]),
            Self::AllertaAlert
            | Self::AllertaRecordAlert { .. }
            | Self::Goto(_)
            | Self::GotoIf { .. }
            | Self::Gosub(_)
            | Self::GosubIf { .. }
            | Self::ExecIf { .. }
            | Self::UserEvent { .. }
            | Self::Agi { .. }
            | Self::Return { .. }
            | Self::Set { .. }
            | Self::Wait { .. }
            | Self::SayDigits { .. }
            | Self::SayNumber { .. }
            | Self::Playtones { .. }
            | Self::StopPlaytones
            | Self::SendDtmf { .. }
            | Self::NoOp { .. } => {}
        }
        match self {
            Self::Playback { files, .. } | Self::Background { files, .. } => all.push(files),
            Self::Read { var, .. } => all.push(var),
            Self::Record { file, .. } => all.push(file),
            Self::Dial { targets, .. } => all.push(targets),
            Self::Goto(d) => all.extend(dest(d)),
            Self::Gosub(sub) => {
                all.extend(dest(&sub.dest));
                all.extend(sub.args.iter().map(String::as_str));
            }
            Self::GosubIf {
                condition,
                if_true,
                if_false,
            } => {
                all.push(condition);
                for sub in if_true.iter().chain(if_false) {
                    all.extend(dest(&sub.dest));
                    all.extend(sub.args.iter().map(String::as_str));
                }
            }
            Self::Return { value } => all.extend(value.as_deref()),
            Self::UserEvent { name, body }
            | Self::Agi {
                command: name,
                args: body,
            } => {
                all.push(name);
                all.extend(body.iter().map(String::as_str));
            }
            Self::ExecIf {
                condition,
                if_true,
                if_false,
            } => {
                all.push(condition);
                for app in if_true.iter().chain(if_false) {
                    all.extend(app.templates());
                }
            }
            Self::GotoIf {
                condition,
                if_true,
                if_false,
            } => {
                all.push(condition);
                all.extend(if_true.iter().chain(if_false).flat_map(dest));
            }
            Self::Set { name, value } => all.extend([name.as_str(), value.as_str()]),
            Self::Wait { seconds } => all.push(seconds),
            Self::SayDigits { digits: text }
            | Self::SayNumber { number: text, .. }
            | Self::Playtones { tones: text } => all.push(text),
            Self::SendDtmf {
                digits,
                between,
                duration,
            } => {
                all.push(digits);
                push(&mut all, &[between, duration]);
            }
            Self::NoOp { text } => all.push(text),
            Self::Verbose { message, .. } => all.push(message),
            _ => {}
        }
        all
    }
}

/// One priority line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    /// The priority number (≥ 1).
    pub number: u32,
    /// `n(label)` / `1(label)`.
    pub label: Option<String>,
    /// What runs.
    pub app: App,
    /// Where it was written.
    pub location: Location,
}

/// One extension: a name or pattern and its priorities, sorted by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The name or `_` pattern.
    pub pattern: Pattern,
    /// Priorities sorted by number.
    pub priorities: Vec<Priority>,
    /// Where it first appeared.
    pub location: Location,
}

impl Extension {
    /// The priority numbered `number`.
    pub fn priority(&self, number: u32) -> Option<&Priority> {
        self.priorities
            .binary_search_by_key(&number, |p| p.number)
            .ok()
            .and_then(|i| self.priorities.get(i))
    }

    /// The priority labelled `label`.
    pub fn label(&self, label: &str) -> Option<&Priority> {
        self.priorities
            .iter()
            .find(|p| p.label.as_deref() == Some(label))
    }
}

/// A `[context]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Its name.
    pub name: String,
    /// Extensions in Asterisk's precedence order ([`Pattern::cmp_precedence`]).
    pub extensions: Vec<Extension>,
    /// `include =>` targets, in order.
    pub includes: Vec<String>,
    /// Where it was first opened.
    pub location: Location,
}

/// A loaded, checked dialplan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialplan {
    contexts: Vec<Context>,
    index: HashMap<String, usize>,
    globals: Vec<(String, String)>,
}

/// How deep `include` chains are followed (Asterisk uses 128 for its stack too).
const MAX_INCLUDE_DEPTH: usize = 128;

impl Dialplan {
    /// Parses and checks `text` (includes refused); the fuzz entry point.
    pub fn parse_str(text: &str, file_label: &str) -> Result<Self, ConfError> {
        Self::from_conf(&asterisk::parse_str(text, file_label)?)
    }

    /// Reads, parses and checks the file at `path` and its `#include`s.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&asterisk::load(path)?)
    }

    /// Checks an already parsed file.
    pub fn from_conf(file: &ConfFile) -> Result<Self, ConfError> {
        let mut plan = Self {
            contexts: Vec::new(),
            index: HashMap::new(),
            globals: Vec::new(),
        };
        let mut includes: Vec<(Location, String, String)> = Vec::new();
        for section in file.objects() {
            match section.name.as_str() {
                "general" => {}
                "globals" => plan.globals.extend(
                    section
                        .entries
                        .iter()
                        .map(|e| (e.key.clone(), e.value.clone())),
                ),
                _ => plan.context_section(section, &mut includes)?,
            }
        }
        for (location, from, to) in includes {
            if !plan.index.contains_key(&to) {
                return Err(ConfError::new(
                    location,
                    ConfErrorKind::UnknownReference {
                        from_kind: "context",
                        from,
                        to_kind: "context",
                        to,
                    },
                ));
            }
        }
        for context in &mut plan.contexts {
            context
                .extensions
                .sort_by(|a, b| a.pattern.cmp_precedence(&b.pattern));
        }
        plan.check_gotos()?;
        Ok(plan)
    }

    /// The context named `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.index.get(name).and_then(|&i| self.contexts.get(i))
    }

    /// Every context, in file order.
    pub fn contexts(&self) -> &[Context] {
        &self.contexts
    }

    /// `[globals]` in file order (later entries override earlier ones).
    pub fn globals(&self) -> &[(String, String)] {
        &self.globals
    }

    /// The priority `number` of the first extension (precedence order, then includes)
    /// in `context` that matches `exten` and has that priority, as Asterisk's
    /// `pbx_find_extension` does.
    pub fn find(&self, context: &str, exten: &str, number: u32) -> Option<&Priority> {
        self.search(context, &mut |c| {
            c.extensions
                .iter()
                .filter(|e| e.pattern.matches(exten))
                .find_map(|e| e.priority(number))
        })
    }

    /// Like [`Dialplan::find`], by label.
    pub fn find_label(&self, context: &str, exten: &str, label: &str) -> Option<&Priority> {
        self.search(context, &mut |c| {
            c.extensions
                .iter()
                .filter(|e| e.pattern.matches(exten))
                .find_map(|e| e.label(label))
        })
    }

    /// Whether `exten` has a priority 1 in `context` (Asterisk's `ast_exists_extension`).
    pub fn exists(&self, context: &str, exten: &str) -> bool {
        self.find(context, exten, 1).is_some()
    }

    /// Whether more digits after `prefix` could still reach an extension of `context`
    /// (Asterisk's `ast_matchmore_extension`).
    pub fn can_match_more(&self, context: &str, prefix: &str) -> bool {
        self.search(context, &mut |c| {
            c.extensions
                .iter()
                .any(|e| e.pattern.can_match_more(prefix))
                .then_some(())
        })
        .is_some()
    }

    fn search<'a, T>(
        &'a self,
        context: &str,
        f: &mut dyn FnMut(&'a Context) -> Option<T>,
    ) -> Option<T> {
        let mut visited: Vec<&str> = Vec::new();
        self.search_from(context, f, &mut visited)
    }

    fn search_from<'a, T>(
        &'a self,
        name: &str,
        f: &mut dyn FnMut(&'a Context) -> Option<T>,
        visited: &mut Vec<&'a str>,
    ) -> Option<T> {
        let context = self.context(name)?;
        if visited.contains(&context.name.as_str()) || visited.len() >= MAX_INCLUDE_DEPTH {
            return None;
        }
        visited.push(&context.name);
        if let Some(found) = f(context) {
            return Some(found);
        }
        context
            .includes
            .iter()
            .find_map(|include| self.search_from(include, f, visited))
    }

    fn context_section(
        &mut self,
        section: &Section,
        includes: &mut Vec<(Location, String, String)>,
    ) -> Result<(), ConfError> {
        let index = match self.index.get(&section.name) {
            Some(&i) => i,
            None => {
                self.contexts.push(Context {
                    name: section.name.clone(),
                    extensions: Vec::new(),
                    includes: Vec::new(),
                    location: section.location.clone(),
                });
                self.index
                    .insert(section.name.clone(), self.contexts.len() - 1);
                self.contexts.len() - 1
            }
        };
        let Some(context) = self.contexts.get_mut(index) else {
            return Ok(()); // just inserted or looked up
        };
        // (extension name, last priority) of the previous line, for `same` and `n`
        let mut last: Option<(String, Option<u32>)> = None;
        for entry in &section.entries {
            match entry.key.as_str() {
                "exten" => {
                    let (name, rest) = entry.value.split_once(',').unwrap_or((&entry.value, ""));
                    let name = name.trim().to_owned();
                    let previous = match &last {
                        Some((n, p)) if *n == name => *p,
                        _ => None,
                    };
                    let number = add_priority(context, entry, &name, rest, previous)?;
                    last = Some((name, number.or(previous)));
                }
                "same" => {
                    let Some((name, previous)) = last.clone() else {
                        return Err(ConfError::new(
                            entry.location.clone(),
                            ConfErrorKind::SameWithoutExten,
                        ));
                    };
                    let number = add_priority(context, entry, &name, &entry.value, previous)?;
                    last = Some((name, number.or(previous)));
                }
                "include" => {
                    let target = entry.value.trim();
                    if target.contains(',') {
                        return Err(invalid(entry, "time-restricted includes are not supported"));
                    }
                    context.includes.push(target.to_owned());
                    includes.push((
                        entry.location.clone(),
                        context.name.clone(),
                        target.to_owned(),
                    ));
                }
                "ignorepat" => {}
                "switch" | "eswitch" | "lswitch" => {
                    return Err(invalid(entry, "switches are not supported"));
                }
                _ => {
                    return Err(ConfError::new(
                        entry.location.clone(),
                        ConfErrorKind::UnknownOption {
                            key: entry.key.clone(),
                            kind: "context".to_owned(),
                            section: section.name.clone(),
                        },
                    ))
                }
            }
        }
        Ok(())
    }

    fn check_gotos(&self) -> Result<(), ConfError> {
        for context in &self.contexts {
            for extension in &context.extensions {
                for priority in &extension.priorities {
                    let (app, dests): (&'static str, Vec<&Destination>) = match &priority.app {
                        App::Goto(d) => ("Goto", vec![d]),
                        App::GotoIf {
                            if_true, if_false, ..
                        } => ("GotoIf", if_true.iter().chain(if_false).collect()),
                        App::Gosub(sub) => ("Gosub", vec![&sub.dest]),
                        App::GosubIf {
                            if_true, if_false, ..
                        } => (
                            "GosubIf",
                            if_true.iter().chain(if_false).map(|s| &s.dest).collect(),
                        ),
                        _ => continue,
                    };
                    for dest in dests {
                        self.check_destination(context, extension, dest)
                            .map_err(|target| {
                                ConfError::new(
                                    priority.location.clone(),
                                    ConfErrorKind::BadGotoTarget { app, target },
                                )
                            })?;
                    }
                }
            }
        }
        Ok(())
    }

    /// `Err(target)` when a fully literal destination does not exist.
    fn check_destination(
        &self,
        context: &Context,
        extension: &Extension,
        dest: &Destination,
    ) -> Result<(), String> {
        let literal = |s: &str| !s.contains('$');
        let target_context = dest.context.as_deref().unwrap_or(&context.name);
        if !literal(target_context) {
            return Ok(());
        }
        if self.context(target_context).is_none() {
            return Err(format!(
                "{target_context},{},{}",
                dest.exten.as_deref().unwrap_or(extension.pattern.as_str()),
                dest.priority
            ));
        }
        if !literal(&dest.priority) {
            return Ok(());
        }
        let found = match dest.exten.as_deref() {
            Some(exten) if !literal(exten) => return Ok(()),
            Some(exten) => {
                let exten = exten.replace(['-', ' '], "");
                match dest.priority.parse::<u32>() {
                    Ok(n) => self.find(target_context, &exten, n).is_some(),
                    Err(_) => self
                        .find_label(target_context, &exten, &dest.priority)
                        .is_some(),
                }
            }
            // Priority only: the extension holding the Goto.
            None => match dest.priority.parse::<u32>() {
                Ok(n) => extension.priority(n).is_some(),
                Err(_) => extension.label(&dest.priority).is_some(),
            },
        };
        if found {
            Ok(())
        } else {
            Err(format!(
                "{target_context},{},{}",
                dest.exten.as_deref().unwrap_or(extension.pattern.as_str()),
                dest.priority
            ))
        }
    }
}

fn invalid(entry: &Entry, message: &str) -> ConfError {
    ConfError::new(
        entry.location.clone(),
        ConfErrorKind::Invalid {
            message: message.to_owned(),
        },
    )
}

/// Adds `prio,App(args)` (`rest`) to extension `name`; returns the priority number,
/// `None` for a skipped `hint`.
fn add_priority(
    context: &mut Context,
    entry: &Entry,
    name: &str,
    rest: &str,
    previous: Option<u32>,
) -> Result<Option<u32>, ConfError> {
    let at = |kind| ConfError::new(entry.location.clone(), kind);
    let (priority, app) = rest.split_once(',').unwrap_or((rest, ""));
    let priority = priority.trim();
    if priority.eq_ignore_ascii_case("hint") {
        return Ok(None);
    }
    if name.contains('/') {
        return Err(invalid(
            entry,
            "caller ID matching ('exten/cid') is not supported",
        ));
    }
    let pattern = Pattern::parse(name).map_err(|source| {
        at(ConfErrorKind::BadPattern {
            name: name.to_owned(),
            source,
        })
    })?;
    let (base, label) = match priority.split_once('(') {
        Some((base, label)) => {
            let Some(label) = label.strip_suffix(')').map(str::trim) else {
                return Err(invalid(entry, "priority label is missing ')'"));
            };
            if label.is_empty() || label.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(entry, "priority label must be a non-numeric name"));
            }
            (base.trim(), Some(label.to_owned()))
        }
        None => (priority, None),
    };
    let number = if base == "n" {
        let Some(previous) = previous else {
            return Err(at(ConfErrorKind::NoPreviousPriority {
                exten: name.to_owned(),
            }));
        };
        previous
            .checked_add(1)
            .ok_or_else(|| invalid(entry, "priority out of range"))?
    } else {
        match base.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(invalid(entry, "priority must be a number, 'n' or 'hint'")),
        }
    };
    let app = parse_app(app).map_err(at)?;
    for template in app.templates() {
        expr::check(template).map_err(|source| {
            at(ConfErrorKind::BadTemplate {
                text: template.to_owned(),
                source,
            })
        })?;
    }
    let new = Priority {
        number,
        label,
        app,
        location: entry.location.clone(),
    };
    let extension = match context
        .extensions
        .iter()
        .position(|e| e.pattern.as_str() == pattern.as_str())
    {
        Some(i) => &mut context.extensions[i],
        None => {
            context.extensions.push(Extension {
                pattern,
                priorities: Vec::new(),
                location: entry.location.clone(),
            });
            let last = context.extensions.len() - 1;
            &mut context.extensions[last]
        }
    };
    if let Some(label) = &new.label {
        if extension.label(label).is_some() {
            return Err(at(ConfErrorKind::DuplicateLabel {
                exten: name.to_owned(),
                label: label.clone(),
            }));
        }
    }
    match extension
        .priorities
        .binary_search_by_key(&number, |p| p.number)
    {
        Ok(i) => Err(at(ConfErrorKind::DuplicatePriority {
            exten: name.to_owned(),
            priority: number,
            first: extension.priorities[i].location.clone(),
        })),
        Err(i) => {
            extension.priorities.insert(i, new);
            Ok(Some(number))
        }
    }
}

/// Parses `Name(args)` (or a bare `Name`).
fn parse_app(text: &str) -> Result<App, ConfErrorKind> {
    let text = text.trim();
    let (name, args) = match text.split_once('(') {
        Some((name, rest)) => {
            let Some(args) = rest.trim_end().strip_suffix(')') else {
                return Err(ConfErrorKind::BadArguments {
                    app: "application",
                    reason: "missing ')' at the end of the line",
                });
            };
            (name.trim(), args)
        }
        None => (text, ""),
    };
    let bad = |app, reason| ConfErrorKind::BadArguments { app, reason };
    let lower = name.to_ascii_lowercase();
    let a = |max| split_args(args, max);
    let app = match lower.as_str() {
        "allertaalert" => App::AllertaAlert,
        "allertarecordalert" => App::AllertaRecordAlert {
            message: opt(&a(1), 0).ok_or(bad("AllertaRecordAlert", "needs a message name"))?,
        },
        "answer" => App::Answer {
            delay: opt(&a(1), 0),
        },
        "playback" | "background" => {
            let v = a(2);
            let app_name = if lower == "playback" {
                "Playback"
            } else {
                "Background"
            };
            let files = opt(&v, 0).ok_or(bad(app_name, "needs a file"))?;
            let options = opt(&v, 1);
            if lower == "playback" {
                App::Playback { files, options }
            } else {
                App::Background { files, options }
            }
        }
        "read" => {
            let v = a(6);
            App::Read {
                var: opt(&v, 0).ok_or(bad("Read", "needs a variable name"))?,
                files: opt(&v, 1),
                max_digits: opt(&v, 2),
                options: opt(&v, 3),
                attempts: opt(&v, 4),
                timeout: opt(&v, 5),
            }
        }
        "waitexten" => {
            let v = a(2);
            App::WaitExten {
                seconds: opt(&v, 0),
                options: opt(&v, 1),
            }
        }
        "record" => {
            let v = a(4);
            let file = opt(&v, 0).ok_or(bad("Record", "needs file.format"))?;
            if !file.contains('$')
                && !file
                    .rsplit_once('.')
                    .is_some_and(|(f, ext)| !f.is_empty() && !ext.is_empty())
            {
                return Err(bad("Record", "needs file.format"));
            }
            App::Record {
                file,
                silence: opt(&v, 1),
                max_duration: opt(&v, 2),
                options: opt(&v, 3),
            }
        }
        "dial" => {
            let v = a(4);
            let targets = opt(&v, 0).ok_or(bad("Dial", "needs a target"))?;
            if !targets.contains('$') {
                for target in targets.split('&') {
                    parse_dial_target(target).map_err(|reason| bad("Dial", reason))?;
                }
            }
            App::Dial {
                targets,
                timeout: opt(&v, 1),
                options: opt(&v, 2),
            }
        }
        "hangup" => App::Hangup {
            cause: opt(&a(1), 0),
        },
        "saydigits" => App::SayDigits {
            digits: opt(&a(1), 0).ok_or(bad("SayDigits", "needs digits"))?,
        },
        "saynumber" => {
            let v = a(2);
            App::SayNumber {
                number: opt(&v, 0).ok_or(bad("SayNumber", "needs a number"))?,
                gender: opt(&v, 1),
            }
        }
        "playtones" => App::Playtones {
            tones: (!args.trim().is_empty())
                .then(|| args.trim().to_owned())
                .ok_or(bad("Playtones", "needs an indication or a tone list"))?,
        },
        "stopplaytones" => App::StopPlaytones,
        "senddtmf" => {
            let v = a(3);
            App::SendDtmf {
                digits: opt(&v, 0).ok_or(bad("SendDTMF", "needs digits"))?,
                between: opt(&v, 1),
                duration: opt(&v, 2),
            }
        }
        "busy" => App::Busy {
            timeout: opt(&a(1), 0),
        },
        "congestion" => App::Congestion {
            timeout: opt(&a(1), 0),
        },
        "goto" => {
            App::Goto(destination(args).ok_or(bad("Goto", "needs [[context,]exten,]priority"))?)
        }
        "gotoif" => {
            let (condition, if_true, if_false) =
                conditional(args, "GotoIf", "needs condition?[dest1][:dest2]", |d| {
                    destination(d).ok_or(bad("GotoIf", "destination needs a priority"))
                })?;
            App::GotoIf {
                condition,
                if_true,
                if_false,
            }
        }
        "gosub" => App::Gosub(
            subroutine(args).ok_or(bad("Gosub", "needs [[context,]exten,]priority[(args)]"))?,
        ),
        "gosubif" => {
            let (condition, if_true, if_false) =
                conditional(args, "GosubIf", "needs condition?[sub1][:sub2]", |d| {
                    subroutine(d).ok_or(bad("GosubIf", "a subroutine needs a priority"))
                })?;
            App::GosubIf {
                condition,
                if_true,
                if_false,
            }
        }
        "execif" => {
            let usage = "needs condition?app1(args)[:app2(args)]";
            let (condition, if_true, if_false) =
                conditional(args, "ExecIf", usage, |text| match parse_app(text)? {
                    // One level: an ExecIf inside an ExecIf is refused (it cannot nest
                    // usefully, and a load must not recurse on what a file says).
                    App::ExecIf { .. } => Err(bad("ExecIf", "an ExecIf inside an ExecIf")),
                    app => Ok(Box::new(app)),
                })?;
            App::ExecIf {
                condition,
                if_true,
                if_false,
            }
        }
        "agi" => {
            let mut parts = split_args(args, usize::MAX).into_iter();
            let command = parts.next().filter(|c| !c.trim().is_empty()).ok_or(bad(
                "AGI",
                "needs a script: agi://host[:port]/script or a path",
            ))?;
            App::Agi {
                command,
                args: parts.collect(),
            }
        }
        "userevent" => {
            let mut parts = split_args(args, usize::MAX).into_iter();
            let name = parts
                .next()
                .filter(|n| !n.trim().is_empty())
                .ok_or(bad("UserEvent", "needs an event name"))?;
            App::UserEvent {
                name,
                body: parts.collect(),
            }
        }
        "return" => App::Return {
            value: (!args.is_empty()).then(|| args.to_owned()),
        },
        "set" => {
            let Some((name, value)) = args.split_once('=') else {
                return Err(bad("Set", "needs var=value"));
            };
            if name.trim().is_empty() {
                return Err(bad("Set", "needs var=value"));
            }
            App::Set {
                name: name.trim().to_owned(),
                value: value.to_owned(),
            }
        }
        "wait" => App::Wait {
            seconds: opt(&a(1), 0).ok_or(bad("Wait", "needs seconds"))?,
        },
        "noop" => App::NoOp {
            text: args.to_owned(),
        },
        "verbose" => {
            let v = a(2);
            match v.as_slice() {
                [level, message] => App::Verbose {
                    level: Some(level.clone()).filter(|l| !l.is_empty()),
                    message: message.clone(),
                },
                _ => App::Verbose {
                    level: None,
                    message: v.into_iter().next().unwrap_or_default(),
                },
            }
        }
        _ => {
            return Err(ConfErrorKind::UnknownApplication {
                name: name.to_owned(),
            })
        }
    };
    Ok(app)
}

/// A `Dial` target after expansion: (`tech`, `number`, `trunk`) from `PJSIP/number@trunk`
/// or `PJSIP/trunk`.
pub(crate) fn parse_dial_target(
    target: &str,
) -> Result<(String, Option<String>, String), &'static str> {
    let Some((tech, resource)) = target.trim().split_once('/') else {
        return Err("target must be PJSIP/number@trunk");
    };
    if !tech.eq_ignore_ascii_case("PJSIP") {
        return Err("only PJSIP targets are supported");
    }
    let (number, trunk) = match resource.split_once('@') {
        Some((number, trunk)) => (Some(number.to_owned()).filter(|n| !n.is_empty()), trunk),
        None => (None, resource),
    };
    if trunk.is_empty() || trunk.contains('/') {
        return Err("target must be PJSIP/number@trunk");
    }
    Ok(("PJSIP".to_owned(), number, trunk.to_owned()))
}

fn opt(args: &[String], i: usize) -> Option<String> {
    args.get(i).filter(|s| !s.is_empty()).cloned()
}

/// `condition?[branch1][:branch2]` (GotoIf, GosubIf, ExecIf): the condition, and each branch
/// read by `branch` (`None` when empty). `usage` is the error when there is no `?`.
fn conditional<T>(
    args: &str,
    app: &'static str,
    usage: &'static str,
    branch: impl Fn(&str) -> Result<T, ConfErrorKind>,
) -> Result<(String, Option<T>, Option<T>), ConfErrorKind> {
    let parts = split_top(args, '?', 2);
    let [condition, branches] = parts.as_slice() else {
        return Err(ConfErrorKind::BadArguments { app, reason: usage });
    };
    let branches = split_top(branches, ':', 2);
    let read = |i: usize| match branches.get(i).map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(text) => branch(text).map(Some),
    };
    Ok((condition.trim().to_owned(), read(0)?, read(1)?))
}

/// `[[context,]exten,]priority[(arg1[,…])]`: the arguments are in parentheses after the
/// priority.
fn subroutine(text: &str) -> Option<Subroutine> {
    let mut dest = destination(text)?;
    let mut args = Vec::new();
    if let Some(body) = dest.priority.strip_suffix(')') {
        let open = body.find('(')?;
        args = split_args(&body[open + 1..], usize::MAX);
        dest.priority = body[..open].trim().to_owned();
        if dest.priority.is_empty() {
            return None;
        }
    }
    Some(Subroutine { dest, args })
}

fn destination(text: &str) -> Option<Destination> {
    let mut parts: Vec<String> = split_args(text, 3)
        .into_iter()
        .map(|s| s.trim().to_owned())
        .collect();
    let priority = parts.pop().filter(|p| !p.is_empty())?;
    let exten = parts.pop().filter(|s| !s.is_empty());
    let context = parts.pop().filter(|s| !s.is_empty());
    Some(Destination {
        context,
        exten,
        priority,
    })
}

/// Splits application data into at most `max` arguments (see the module docs).
pub fn split_args(data: &str, max: usize) -> Vec<String> {
    split_top(data, ',', max)
        .into_iter()
        .map(unescape)
        .collect()
}

/// Splits at `sep` outside quotes, `\` escapes, parentheses, brackets and `${…}`/`$[…]`,
/// into at most `max` raw pieces (at least one).
fn split_top(data: &str, sep: char, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0usize);
    let mut chars = data.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '$' => {
                if let Some(len) = expr::construct_len(&data[i..]) {
                    let end = i + len;
                    while chars.clone().next().is_some_and(|(j, _)| j < end) {
                        chars.next();
                    }
                }
            }
            '"' => quoted = !quoted,
            '(' | '[' | '{' if !quoted => depth += 1,
            ')' | ']' | '}' if !quoted => depth = depth.saturating_sub(1),
            _ if c == sep && depth == 0 && !quoted && parts.len() + 1 < max => {
                parts.push(&data[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&data[start..]);
    parts
}

/// Removes quotes and `\` escapes outside `${…}`/`$[…]`, and trims.
fn unescape(raw: &str) -> String {
    let raw = raw.trim();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
            }
            '"' => {}
            '$' => match expr::construct_len(&raw[i..]) {
                Some(len) => {
                    out.push_str(&raw[i..i + len]);
                    let end = i + len;
                    while chars.clone().next().is_some_and(|(j, _)| j < end) {
                        chars.next();
                    }
                }
                None => out.push('$'),
            },
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/allerta/node/extensions.conf";

    fn plan(text: &str) -> Dialplan {
        Dialplan::parse_str(text, FILE).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        match Dialplan::parse_str(text, FILE) {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn arguments_split_on_top_level_commas_only() {
        assert_eq!(split_args("a,b,,c", 10), ["a", "b", "", "c"]);
        assert_eq!(split_args(r"a\,b,c", 10), ["a,b", "c"]);
        assert_eq!(split_args(r#""a,b",c"#, 10), ["a,b", "c"]);
        assert_eq!(
            split_args("${IF(${A},b)},$[${X} = \"a,b\"],(x,y)", 10),
            ["${IF(${A},b)}", "$[${X} = \"a,b\"]", "(x,y)"]
        );
        assert_eq!(split_args("1,hello, world", 2), ["1", "hello, world"]);
        assert_eq!(split_args("", 3), [""]);
        assert_eq!(split_args("é,ü\\", 3), ["é", "ü"]);
    }

    #[test]
    fn priorities_numbers_n_labels_and_same_are_assigned() {
        let p = plan(
            "[alert]\nexten => s,1(start),Answer()\n same => n,Playback(a&b)\n\
             same => n(ask),Read(ACK,press-1,1)\nexten => s,10,Hangup()\nexten => 100,hint,PJSIP/100\n",
        );
        let context = p.context("alert").expect("context");
        let s = &context.extensions[0];
        let numbers: Vec<u32> = s.priorities.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [1, 2, 3, 10]);
        assert_eq!(s.label("ask").map(|p| p.number), Some(3));
        assert_eq!(s.label("start").map(|p| p.number), Some(1));
        assert_eq!(context.extensions.len(), 1, "hint skipped");
        assert_eq!(
            s.priority(3).map(|p| &p.app),
            Some(&App::Read {
                var: "ACK".into(),
                files: Some("press-1".into()),
                max_digits: Some("1".into()),
                options: None,
                attempts: None,
                timeout: None
            })
        );
    }

    #[test]
    fn applications_are_typed_and_case_insensitive() {
        let p = plan(
            "[c]\nexten => 1,1,ANSWER\n same => n,background(menu&more,n)\n\
             same => n,Dial(PJSIP/0612@trunk-out&PJSIP/gw,30,g)\n\
             same => n,GotoIf($[\"${DIALSTATUS}\" = \"BUSY\"]?busy:1)\n\
             same => n(busy),Set(CALLERID(num)=a,b=c)\n same => n,Verbose(2,hello, world)\n\
             same => n,Verbose(just text)\n same => n,NoOp(x,y)\n same => n,Goto(c,1,busy)\n",
        );
        let e = &p.context("c").expect("c").extensions[0];
        let apps: Vec<&App> = e.priorities.iter().map(|p| &p.app).collect();
        assert_eq!(apps[0], &App::Answer { delay: None });
        assert_eq!(
            apps[1],
            &App::Background {
                files: "menu&more".into(),
                options: Some("n".into())
            }
        );
        assert!(
            matches!(apps[2], App::Dial { targets, timeout: Some(t), options: Some(o) }
            if targets == "PJSIP/0612@trunk-out&PJSIP/gw" && t == "30" && o == "g")
        );
        assert_eq!(
            apps[3],
            &App::GotoIf {
                condition: "$[\"${DIALSTATUS}\" = \"BUSY\"]".into(),
                if_true: Some(Destination {
                    context: None,
                    exten: None,
                    priority: "busy".into()
                }),
                if_false: Some(Destination {
                    context: None,
                    exten: None,
                    priority: "1".into()
                }),
            }
        );
        assert_eq!(
            apps[4],
            &App::Set {
                name: "CALLERID(num)".into(),
                value: "a,b=c".into()
            }
        );
        assert_eq!(
            apps[5],
            &App::Verbose {
                level: Some("2".into()),
                message: "hello, world".into()
            }
        );
        assert_eq!(
            apps[6],
            &App::Verbose {
                level: None,
                message: "just text".into()
            }
        );
    }

    #[test]
    fn lookups_prefer_literals_then_specific_patterns_then_includes() {
        let p = plan(
            "[globals]\nTRUNK=trunk-out\n[general]\nstatic=yes\n\
             [main]\ninclude => common\nexten => _X.,1,NoOp(any)\nexten => _1XX,1,NoOp(1xx)\n\
             exten => 100,1,NoOp(literal)\n[common]\nexten => 555,1,NoOp(common)\n",
        );
        let text = |exten: &str| match p.find("main", exten, 1).map(|p| &p.app) {
            Some(App::NoOp { text }) => text.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(text("100"), "literal");
        assert_eq!(text("123"), "1xx");
        assert_eq!(text("555"), "any", "own context before includes");
        assert_eq!(text("2"), "None");
        assert_eq!(p.find("common", "555", 1).map(|p| p.number), Some(1));
        assert!(p.exists("main", "1234"));
        assert!(p.can_match_more("main", "1"));
        assert_eq!(p.globals(), [("TRUNK".to_owned(), "trunk-out".to_owned())]);
        assert!(p.context("general").is_none());
    }

    #[test]
    fn include_cycles_do_not_loop() {
        let p = plan("[a]\ninclude => b\n[b]\ninclude => a\nexten => 1,1,NoOp()\n");
        assert!(p.exists("a", "1"));
        assert!(!p.exists("a", "2"));
    }

    #[test]
    fn load_errors_name_file_line_and_problem() {
        let cases = [
            ("[c]\nexten => s,1,Answer()\nexten => s,2,Frobnicate(x)\n", 3, "unknown application 'Frobnicate'"),
            (
                "[c]\nexten => s,1,Answer()\nexten => s,1,Hangup()\n",
                3,
                "duplicate priority 1 in extension 's' (first at /etc/allerta/node/extensions.conf:2)",
            ),
            ("[c]\nexten => s,n,Answer()\n", 2, "priority 'n' of extension 's' has no previous priority"),
            ("[c]\nexten => 1,1,Answer()\nexten => 2,n,Answer()\n", 3, "priority 'n' of extension '2' has no previous priority"),
            ("[c]\nsame => n,Answer()\n", 2, "'same' with no previous 'exten'"),
            ("[c]\n\ninclude => nowhere\n", 3, "context 'c' refers to unknown context 'nowhere'"),
            ("[c]\nexten => s,1,Goto(nowhere,s,1)\n", 2, "Goto target 'nowhere,s,1' does not exist"),
            ("[c]\nexten => s,1,Goto(c,9,1)\n", 2, "Goto target 'c,9,1' does not exist"),
            ("[c]\nexten => s,1,Goto(missing)\n", 2, "Goto target 'c,s,missing' does not exist"),
            ("[c]\nexten => s,1,Goto(s,2)\n", 2, "Goto target 'c,s,2' does not exist"),
            ("[c]\nexten => s,1,GotoIf($[1]?1:nolabel)\n", 2, "GotoIf target 'c,s,nolabel' does not exist"),
            ("[c]\nexten => s,1(a),Answer()\nsame => n(a),Hangup()\n", 3, "duplicate label 'a' in extension 's'"),
            ("[c]\nexten => s,1,Playback()\n", 2, "Playback: needs a file"),
            ("[c]\nexten => s,1,Record(noformat)\n", 2, "Record: needs file.format"),
            ("[c]\nexten => s,1,Dial(SIP/1@x)\n", 2, "Dial: only PJSIP targets are supported"),
            ("[c]\nexten => s,1,GotoIf(1)\n", 2, "GotoIf: needs condition?[dest1][:dest2]"),
            ("[c]\nexten => s,1,Set(novalue)\n", 2, "Set: needs var=value"),
            ("[c]\nexten => s,1,Answer(\n", 2, "application: missing ')' at the end of the line"),
            ("[c]\nexten => _[12,1,Answer()\n", 2, "invalid extension '_[12'"),
            ("[c]\nexten => s,x,Answer()\n", 2, "priority must be a number, 'n' or 'hint'"),
            ("[c]\nexten => s,1,NoOp(${FOO(x)})\n", 2, "invalid substitution in '${FOO(x)}'"),
            ("[c]\nexten => s,1,NoOp(${X)\n", 2, "invalid substitution in '${X'"),
            ("[c]\nfoo => bar\n", 2, "unknown option 'foo' in context 'c'"),
        ];
        for (text, line, message) in cases {
            assert_eq!(error(text), format!("{FILE}:{line}: {message}"), "{text}");
        }
    }

    #[test]
    fn dynamic_goto_targets_are_left_to_run_time() {
        plan("[c]\nexten => s,1,Goto(${CTX},s,1)\nsame => n,Goto(c,${EXTEN},1)\nsame => n,Goto(${L})\n");
    }

    #[test]
    fn goto_to_a_pattern_or_included_extension_is_accepted() {
        plan(
            "[c]\ninclude => d\nexten => s,1,Goto(c,123,1)\nsame => n,Goto(555,lbl)\n\
             exten => _1XX,1,NoOp()\n[d]\nexten => 555,1(lbl),NoOp()\n",
        );
    }

    #[test]
    fn contexts_written_twice_are_merged() {
        let p = plan("[c]\nexten => 1,1,NoOp()\n[d]\n[c]\nexten => 2,1,NoOp()\n");
        assert_eq!(p.context("c").map(|c| c.extensions.len()), Some(2));
    }
}
