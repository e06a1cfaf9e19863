//! Pure: runs one channel through a [`Dialplan`] (Asterisk's `__ast_pbx_run` loop), sans
//! IO. [`Execution::step`] returns the next media [`Action`] for the call driver, which
//! performs it and feeds the [`Outcome`] back; `Set`, `Goto`, `GotoIf` and `NoOp` run
//! inside `step`.
//!
//! Behaviour, following Asterisk where it has one:
//! - `${EXTEN}`/`${CONTEXT}`/`${PRIORITY}` are the current position; `[globals]` and the
//!   variables given to [`Execution::new`] (e.g. `CALLERID(num)`, `CHANNEL`) are the
//!   starting variables.
//! - Running off the end of an extension (no next priority) hangs up (autofallthrough).
//! - `Read` stores the digits in its variable and sets `READSTATUS` (`OK`, `TIMEOUT`,
//!   `ERROR`); `Playback` sets `PLAYBACKSTATUS` (`SUCCESS`, `FAILED`).
//! - Digits that interrupt `Background` or `WaitExten` jump to that extension, priority 1,
//!   of the current context if it exists, else to `i` (with `INVALID_EXTEN` set), else
//!   hang up. The driver collects digits while [`Execution::can_match_more`] says more
//!   could still match. A `WaitExten` timeout goes to `t`, else hangs up; `Background`
//!   ending without digits continues.
//! - `Gosub`/`GosubIf` call a subroutine with `ARG1`…`ARGn` and `ARGC` (the caller's are
//!   hidden meanwhile and restored), `Return([value])` comes back to the priority after
//!   the call with `GOSUB_RETVAL` set; at most [`MAX_GOSUB_DEPTH`] calls deep. `ExecIf`
//!   runs one of two applications. `Busy` and `Congestion` hang up with cause 17 or 34
//!   (an unanswered call is refused 486 or 503; no tone is played on an answered one).
//! - `SayDigits`/`SayNumber` play the prompts `say` names (Italian); `Playtones` starts
//!   tones the driver plays wherever the call is silent until `StopPlaytones` or a prompt;
//!   `SendDTMF` sends RFC 4733 digits. `${DB(family/key)}`, `Set(DB(…)=…)`, `${EPOCH}` and
//!   `${STRFTIME(…)}` go through the driver's [`Environment`] (AstDB, the clock).
//! - `Dial` sets `DIALSTATUS`; after `ANSWER` the call ends (the caller is hung up) unless
//!   the `g` option is given, as in Asterisk.
//! - After a hang-up (the `Hangup` application, the far end, or a runtime error) the `h`
//!   extension of the current context runs if present. There, media applications
//!   (`Answer`, `Playback`, `Background`, `Read`, `WaitExten`, `Record`, `Dial`, `Wait`)
//!   are skipped, so the driver only sees `Verbose` and the final `Hangup`.
//! - Runtime errors (bad expression, `Goto` to a missing target, unusable arguments) and
//!   more than [`MAX_INTERNAL_STEPS`] steps without an action (a `Goto` loop) end in
//!   `Hangup`, with the reason in [`Execution::hangup_reason`].
//! - `NoOp` arguments are not expanded (they have no effect, and a bad expression there
//!   should not end a call).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::expr;
use super::parse::{parse_dial_target, App, Destination, Dialplan, Subroutine};

/// `step` gives up after this many non-media priorities in a row.
pub const MAX_INTERNAL_STEPS: usize = 10_000;
/// `Read`/`WaitExten` timeout when none is given (Asterisk's response timeout).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest duration an application argument may give (a 32-bit count of seconds, as
/// Asterisk reads them): a deadline computed from it cannot overflow.
const LONGEST: Duration = Duration::from_secs(u32::MAX as u64);

/// The result of `Dial`, stored in `DIALSTATUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialStatus {
    /// The callee answered (and the bridged call has ended).
    Answer,
    /// Busy.
    Busy,
    /// Nobody answered before the timeout.
    NoAnswer,
    /// The caller hung up while ringing.
    Cancel,
    /// Congestion (all circuits busy, 503).
    Congestion,
    /// The trunk is unreachable or unregistered.
    ChanUnavail,
}

impl DialStatus {
    /// The `DIALSTATUS` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "ANSWER",
            Self::Busy => "BUSY",
            Self::NoAnswer => "NOANSWER",
            Self::Cancel => "CANCEL",
            Self::Congestion => "CONGESTION",
            Self::ChanUnavail => "CHANUNAVAIL",
        }
    }
}

/// One destination of `Dial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTarget {
    /// Channel technology, always `PJSIP`.
    pub tech: String,
    /// The number to call (user part); `None` for `PJSIP/trunk`.
    pub number: Option<String>,
    /// The endpoint (trunk) to call through.
    pub trunk: String,
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play the current alert message (Allerta's inbound alert line); report `Done`.
    AllertaAlert,
    /// Ask for an operator PIN and record a new alert message `message`; report `Done`.
    AllertaRecordAlert {
        /// The message's name.
        message: String,
    },
    /// Answer the call (200 OK), then report `Done`.
    Answer,
    /// Play these prompts in order; report `Done` or `PlaybackFailed`.
    Playback {
        /// Prompt names, no extension.
        files: Vec<String>,
    },
    /// Play these prompts, stopping on a DTMF digit; report `Done`, or
    /// `Interrupted` with the collected digits.
    Background {
        /// Prompt names.
        files: Vec<String>,
    },
    /// Play prompts and collect digits; report `Digits` (possibly empty) or `Timeout`.
    Read {
        /// The variable that will hold the digits (informational).
        var: String,
        /// Prompt names.
        files: Vec<String>,
        /// Stop after this many digits; `None` = until `#`.
        max_digits: Option<u32>,
        /// Times to replay the prompt if nothing is entered.
        attempts: u32,
        /// How long to wait for a digit.
        timeout: Duration,
    },
    /// Wait for digits; report `Interrupted` or `Timeout`.
    WaitExten {
        /// How long to wait.
        timeout: Duration,
    },
    /// Record to `file.format`; report `Done`.
    Record {
        /// Path without the extension.
        file: String,
        /// Format (`wav`, `ulaw`, …).
        format: String,
        /// Stop after this much silence.
        silence: Option<Duration>,
        /// Stop after this long.
        max_duration: Option<Duration>,
    },
    /// Call the targets in parallel and bridge the first to answer; report `DialStatus`.
    Dial {
        /// Where to call.
        targets: Vec<DialTarget>,
        /// Ring timeout; `None` = until someone answers or gives up.
        timeout: Option<Duration>,
    },
    /// Wait this long (media keeps flowing); report `Done`.
    Wait(Duration),
    /// Start playing these tones wherever the call would be silent, from now until
    /// [`Action::StopPlaytones`] or a prompt; report `Done` at once.
    Playtones(crate::codec::tones::Tones),
    /// Stop the tones; report `Done`.
    StopPlaytones,
    /// Send these digits as RFC 4733 events, each this long; report `Done` once sent.
    SendDtmf {
        /// 0-9, *, #, A-D.
        digits: String,
        /// Each digit's length.
        duration: Duration,
    },
    /// Run an AGI script on the call (`agi::session`); report `Done` (it ended, see
    /// `AGISTATUS`) or `HungUp`.
    Agi {
        /// `agi://host[:port]/script` or a path.
        target: String,
        /// The script's arguments.
        args: Vec<String>,
    },
    /// Send AMI's `UserEvent` event `name` with these fields (and the channel's); report
    /// `Done`. Takes no time, like `Verbose`.
    UserEvent {
        /// The event's name.
        name: String,
        /// `key: value` fields from the body, in order.
        fields: Vec<(String, String)>,
    },
    /// Log `message` at Asterisk verbosity `level`; report `Done`.
    Verbose {
        /// 0-4.
        level: u8,
        /// The message.
        message: String,
    },
    /// Hang up with this Q.850 cause (default 16, normal clearing). If
    /// [`Execution::is_finished`] is false afterwards, the `h` extension follows: call
    /// `step` again (with `HungUp`).
    Hangup {
        /// Q.850 cause.
        cause: Option<u16>,
    },
}

/// What happened to the last action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Begin (first call only).
    Start,
    /// The action completed.
    Done,
    /// `Read` collected these digits (possibly none): the maximum, or `#`.
    Digits(String),
    /// `Read`'s wait for another digit ran out after these (possibly none): Asterisk's
    /// `READSTATUS` is then `TIMEOUT`, with the digits kept.
    ReadTimeout(String),
    /// `Background`/`WaitExten` got these digits.
    Interrupted {
        /// The digits collected.
        digits: String,
    },
    /// `WaitExten`/`Background`/`Read` expired without digits.
    Timeout,
    /// `Dial` finished.
    DialStatus(DialStatus),
    /// The far end hung up.
    HungUp,
    /// A prompt could not be played.
    PlaybackFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    /// Nothing returned yet.
    Nothing,
    /// Answer, Wait, Record, Verbose: any outcome continues.
    Simple,
    Playback,
    Background,
    Read {
        var: String,
    },
    WaitExten,
    Dial {
        continue_on_answer: bool,
    },
    /// A `Hangup` was returned; the `h` extension runs next.
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    InH,
    Finished,
}

/// Where `run` goes after one application.
enum Flow {
    Next,
    Jumped,
    Return(Action),
}

/// What the dialplan reads and writes beyond the channel: AstDB (`DB()`) and the clock
/// (`EPOCH`, `STRFTIME()`). The call driver gives one ([`Execution::with_environment`]);
/// without it `DB()` reads empty and cannot be set, and the clock is not known (`EPOCH`
/// empty, `STRFTIME` of the epoch 0).
pub trait Environment: Send + Sync + std::fmt::Debug {
    /// AstDB's value for `family`/`key`, if any.
    fn db_get(&self, family: &str, key: &str) -> Option<String>;
    /// Stores an AstDB value; an error says why it could not be.
    fn db_put(&self, family: &str, key: &str, value: &str) -> Result<(), String>;
    /// Seconds since the Unix epoch, now.
    fn now(&self) -> i64;
    /// The node's UTC offset in seconds at `epoch`.
    fn utc_offset(&self, epoch: i64) -> i64;
}

/// `family/key` as `DB()` takes it: split at the first `/`, both non-empty.
fn db_key(args: &str) -> Option<(&str, &str)> {
    args.trim()
        .split_once('/')
        .filter(|(f, k)| !f.is_empty() && !k.is_empty())
}

/// One channel's walk through the dialplan.
#[derive(Debug, Clone)]
pub struct Execution {
    plan: Arc<Dialplan>,
    context: String,
    exten: String,
    priority: u32,
    vars: HashMap<String, String>,
    pending: Pending,
    phase: Phase,
    cause: Option<u16>,
    hangup_reason: Option<String>,
    /// Steps run since the last action that takes time (media, Wait, Dial): `Verbose`
    /// returns at once, so a `Verbose` + `Goto` loop must count against the same budget
    /// as a bare `Goto` loop, across `step` calls.
    spent: usize,
    /// `Gosub`s not yet returned from, innermost last.
    stack: Vec<Frame>,
    env: Option<Arc<dyn Environment>>,
}

/// Where a `Return` goes back to, and the `ARGn` variables the `Gosub` hid.
#[derive(Debug, Clone)]
struct Frame {
    context: String,
    exten: String,
    /// The priority after the `Gosub`.
    priority: u32,
    /// Each `ARGn` (and `ARGC`) as it was before the call; restored on `Return`.
    hidden: Vec<(String, Option<String>)>,
}

/// `Gosub`s deeper than this are an error (a subroutine that calls itself for ever).
pub const MAX_GOSUB_DEPTH: usize = 100;

impl Execution {
    /// Starts at `context`, `exten`, priority 1. `vars` are channel variables, e.g.
    /// `("CALLERID(num)", "0612345678")`, `("CHANNEL", "PJSIP/gw-00000001")`.
    pub fn new(
        plan: Arc<Dialplan>,
        context: &str,
        exten: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        Self::new_at(plan, context, exten, 1, vars)
    }

    /// As [`Self::new`], starting at `priority` (AMI `Originate` with `Priority:`).
    pub fn new_at(
        plan: Arc<Dialplan>,
        context: &str,
        exten: &str,
        priority: u32,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut all: HashMap<String, String> = plan.globals().iter().cloned().collect();
        all.extend(vars);
        Self {
            plan,
            context: context.to_owned(),
            exten: exten.to_owned(),
            priority: priority.max(1),
            vars: all,
            pending: Pending::Nothing,
            phase: Phase::Running,
            cause: None,
            hangup_reason: None,
            spent: 0,
            stack: Vec::new(),
            env: None,
        }
    }

    /// Gives the dialplan AstDB and the clock.
    pub fn with_environment(mut self, env: Arc<dyn Environment>) -> Self {
        self.env = Some(env);
        self
    }

    /// A variable's value (`EXTEN` and `CONTEXT` included).
    pub fn var(&self, name: &str) -> Option<&str> {
        match name {
            "EXTEN" => Some(&self.exten),
            "CONTEXT" => Some(&self.context),
            _ => self.vars.get(name).map(String::as_str),
        }
    }

    /// Sets a channel variable from outside the dialplan (AMI `Setvar`).
    pub fn set_var(&mut self, name: &str, value: &str) {
        self.set(name, value);
    }

    /// Every channel variable (AMI `Getvar` reads them from a published copy).
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    /// AMI `Redirect`: abandons the action in progress (its outcome is dropped) and goes
    /// on at `context`, `exten`, `priority`. Returns the next action. After the hangup
    /// (in `h`, or finished) a redirect changes nothing: the channel is gone.
    pub fn redirect(&mut self, context: &str, exten: &str, priority: u32) -> Action {
        if self.phase != Phase::Running {
            return self.step(Outcome::HungUp);
        }
        self.pending = Pending::Nothing;
        self.spent = 0;
        self.goto_position(context.to_owned(), exten.to_owned(), priority.max(1));
        self.step(Outcome::Start)
    }

    /// Why the call was hung up, if it was not the dialplan's normal course: a runtime
    /// error, a `Goto` loop, a missing extension. For the driver to log.
    pub fn hangup_reason(&self) -> Option<&str> {
        self.hangup_reason.as_deref()
    }

    /// Whether nothing more will run (the last action was the final `Hangup`).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The current context.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// `template` expanded with the channel's variables (AGI's `GET FULL VARIABLE`).
    pub fn expand_template(&self, template: &str) -> Result<String, String> {
        self.expand(template)
    }

    /// The current extension.
    pub fn exten(&self) -> &str {
        &self.exten
    }

    /// The current priority number.
    pub fn priority(&self) -> u32 {
        self.priority
    }

    /// During `Background`/`WaitExten` digit collection: whether more digits after
    /// `digits` could still reach an extension of the current context (keep waiting).
    pub fn can_match_more(&self, digits: &str) -> bool {
        self.plan.can_match_more(&self.context, digits)
    }

    /// Feeds the outcome of the last action (`Start` the first time) and returns the
    /// next action.
    pub fn step(&mut self, outcome: Outcome) -> Action {
        if self.phase == Phase::Finished {
            return Action::Hangup { cause: self.cause };
        }
        let pending = std::mem::replace(&mut self.pending, Pending::Nothing);
        if outcome == Outcome::HungUp || pending == Pending::Hangup {
            if let Pending::Dial { .. } = pending {
                self.set("DIALSTATUS", DialStatus::Cancel.as_str());
            }
            if self.phase == Phase::Running {
                return self.enter_h();
            }
            // In `h` the channel is already gone: a media outcome is just "done".
            self.priority = self.priority.saturating_add(1);
            return self.run();
        }
        match (pending, outcome) {
            (Pending::Nothing, _) => {
                if self
                    .plan
                    .find(&self.context, &self.exten, self.priority)
                    .is_none()
                {
                    let reason = format!(
                        "no extension '{}' in context '{}'",
                        self.exten, self.context
                    );
                    return self.fail(reason);
                }
                return self.run();
            }
            (Pending::Read { var }, outcome) => {
                let (digits, status) = match outcome {
                    Outcome::Digits(d) | Outcome::Interrupted { digits: d } => (d, "OK"),
                    Outcome::ReadTimeout(d) => (d, "TIMEOUT"),
                    Outcome::Timeout => (String::new(), "TIMEOUT"),
                    Outcome::PlaybackFailed => (String::new(), "ERROR"),
                    _ => (String::new(), "OK"),
                };
                self.set(&var, &digits);
                self.set("READSTATUS", status);
            }
            (Pending::Playback, outcome) => {
                let failed = outcome == Outcome::PlaybackFailed;
                self.set("PLAYBACKSTATUS", if failed { "FAILED" } else { "SUCCESS" });
            }
            (Pending::Background | Pending::WaitExten, Outcome::Interrupted { digits })
            | (Pending::Background | Pending::WaitExten, Outcome::Digits(digits))
                if !digits.is_empty() =>
            {
                return self.jump_to_digits(digits);
            }
            (Pending::WaitExten, _) => {
                if self.plan.exists(&self.context, "t") {
                    self.goto_position(self.context.clone(), "t".to_owned(), 1);
                    return self.run();
                }
                return self.hangup_with_reason(
                    None,
                    format!(
                        "timeout in context '{}' with no 't' extension",
                        self.context
                    ),
                );
            }
            (Pending::Dial { continue_on_answer }, Outcome::DialStatus(status)) => {
                self.set("DIALSTATUS", status.as_str());
                if status == DialStatus::Answer && !continue_on_answer {
                    return self.hangup(None);
                }
            }
            // Simple, Background ending without digits, Dial without a status:
            // continue at the next priority.
            _ => {}
        }
        self.priority = self.priority.saturating_add(1);
        self.run()
    }

    fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    fn lookup(&self, name: &str) -> Option<String> {
        let env = self.env.as_deref();
        if let Some(args) = name.strip_prefix("DB(").and_then(|n| n.strip_suffix(')')) {
            let (family, key) = db_key(args)?;
            return env?.db_get(family, key);
        }
        if let Some(args) = name
            .strip_prefix("STRFTIME(")
            .and_then(|n| n.strip_suffix(')'))
        {
            return Some(self.strftime(args));
        }
        match name {
            "PRIORITY" => Some(self.priority.to_string()),
            "EPOCH" => env.map(|e| e.now().to_string()),
            _ => self.var(name).map(str::to_owned),
        }
    }

    /// `STRFTIME([epoch][,timezone][,format])`: the epoch defaults to now and the format
    /// to `%c`; a timezone of `UTC` or `GMT` formats in UTC, any other name in the node's
    /// own zone (the appliance has one zone; Asterisk would read the name's rules).
    fn strftime(&self, args: &str) -> String {
        let mut parts = args.splitn(3, ',');
        let (epoch, zone, format) = (
            parts.next().unwrap_or("").trim(),
            parts.next().unwrap_or("").trim(),
            parts.next().unwrap_or(""),
        );
        let env = self.env.as_deref();
        let epoch = epoch
            .split('.')
            .next()
            .and_then(|e| e.parse::<i64>().ok())
            .or_else(|| env.map(Environment::now))
            .unwrap_or(0);
        let offset = if zone.eq_ignore_ascii_case("UTC") || zone.eq_ignore_ascii_case("GMT") {
            0
        } else {
            env.map_or(0, |e| e.utc_offset(epoch))
        };
        let format = if format.is_empty() {
            super::strftime::DEFAULT_FORMAT
        } else {
            format
        };
        super::strftime::format(epoch, offset, format)
    }

    fn expand(&self, template: &str) -> Result<String, String> {
        expr::expand(template, &|name| self.lookup(name)).map_err(|e| e.to_string())
    }

    fn expand_opt(&self, template: Option<&String>) -> Result<Option<String>, String> {
        template
            .map(|t| self.expand(t))
            .transpose()
            .map(|v| v.filter(|s| !s.trim().is_empty()))
    }

    fn goto_position(&mut self, context: String, exten: String, priority: u32) {
        self.context = context;
        self.exten = exten;
        self.priority = priority;
    }

    fn jump_to_digits(&mut self, digits: String) -> Action {
        if self.plan.exists(&self.context, &digits) {
            self.goto_position(self.context.clone(), digits, 1);
        } else if self.plan.exists(&self.context, "i") {
            self.set("INVALID_EXTEN", &digits);
            self.goto_position(self.context.clone(), "i".to_owned(), 1);
        } else {
            return self.hangup_with_reason(
                None,
                format!(
                    "invalid extension '{digits}' in context '{}' with no 'i' extension",
                    self.context
                ),
            );
        }
        self.run()
    }

    /// Returns `Hangup`; the `h` extension runs on the next `step` if there is one.
    fn hangup(&mut self, cause: Option<u16>) -> Action {
        self.cause = cause;
        if self.phase == Phase::Running && self.plan.exists(&self.context, "h") {
            self.pending = Pending::Hangup;
        } else {
            self.phase = Phase::Finished;
        }
        Action::Hangup { cause }
    }

    fn hangup_with_reason(&mut self, cause: Option<u16>, reason: String) -> Action {
        self.hangup_reason = Some(reason);
        self.hangup(cause)
    }

    /// A runtime error: hang up with a reason (the `h` extension still runs, unless the
    /// error is in it).
    fn fail(&mut self, reason: String) -> Action {
        let reason = format!(
            "{},{},{}: {reason}",
            self.context, self.exten, self.priority
        );
        self.hangup_with_reason(None, reason)
    }

    fn enter_h(&mut self) -> Action {
        if self.plan.exists(&self.context, "h") {
            self.phase = Phase::InH;
            self.goto_position(self.context.clone(), "h".to_owned(), 1);
            self.run()
        } else {
            self.phase = Phase::Finished;
            Action::Hangup { cause: self.cause }
        }
    }

    fn run(&mut self) -> Action {
        let plan = Arc::clone(&self.plan);
        while self.spent < MAX_INTERNAL_STEPS {
            self.spent += 1;
            let Some(priority) = plan.find(&self.context, &self.exten, self.priority) else {
                // Ran off the end: Asterisk's autofallthrough hangs up.
                return self.hangup(self.cause);
            };
            match self.exec(&priority.app) {
                Ok(Flow::Next) => self.priority = self.priority.saturating_add(1),
                Ok(Flow::Jumped) => {}
                Ok(Flow::Return(action)) => {
                    if !matches!(action, Action::Verbose { .. } | Action::UserEvent { .. }) {
                        self.spent = 0;
                    }
                    return action;
                }
                Err(reason) => return self.fail(reason),
            }
        }
        self.spent = 0;
        self.fail(format!(
            "more than {MAX_INTERNAL_STEPS} dialplan steps without an action (Goto loop?)"
        ))
    }

    fn media(&mut self, pending: Pending, action: Action) -> Result<Flow, String> {
        if self.phase == Phase::InH {
            return Ok(Flow::Next); // the channel is gone: skip media in `h`
        }
        self.pending = pending;
        Ok(Flow::Return(action))
    }

    fn exec(&mut self, app: &App) -> Result<Flow, String> {
        match app {
            App::Answer { .. } => self.media(Pending::Simple, Action::Answer),
            App::Playback { files, .. } => {
                let files = self.files(files)?;
                self.media(Pending::Playback, Action::Playback { files })
            }
            App::AllertaAlert => self.media(Pending::Simple, Action::AllertaAlert),
            App::AllertaRecordAlert { message } => {
                let message = self.expand(message)?;
                self.media(Pending::Simple, Action::AllertaRecordAlert { message })
            }
            App::Background { files, .. } => {
                let files = self.files(files)?;
                self.media(Pending::Background, Action::Background { files })
            }
            App::Read {
                var,
                files,
                max_digits,
                attempts,
                timeout,
                ..
            } => {
                let var = self.expand(var)?.trim().to_owned();
                if var.is_empty() {
                    return Err("Read: empty variable name".to_owned());
                }
                let files = match files {
                    Some(f) => self.files(f).unwrap_or_default(),
                    None => Vec::new(),
                };
                let max_digits = match self.expand_opt(max_digits.as_ref())? {
                    Some(m) => Some(parse_number::<u32>(&m, "Read: maxdigits")?).filter(|&n| n > 0),
                    None => None,
                };
                let attempts = match self.expand_opt(attempts.as_ref())? {
                    Some(a) => parse_number::<u32>(&a, "Read: attempts")?.max(1),
                    None => 1,
                };
                let timeout = self
                    .seconds(timeout.as_ref(), "Read: timeout")?
                    .unwrap_or(DEFAULT_TIMEOUT);
                let action = Action::Read {
                    var: var.clone(),
                    files,
                    max_digits,
                    attempts,
                    timeout,
                };
                self.media(Pending::Read { var }, action)
            }
            App::WaitExten { seconds, .. } => {
                let timeout = self
                    .seconds(seconds.as_ref(), "WaitExten: seconds")?
                    .unwrap_or(DEFAULT_TIMEOUT);
                self.media(Pending::WaitExten, Action::WaitExten { timeout })
            }
            App::Record {
                file,
                silence,
                max_duration,
                ..
            } => {
                let path = self.expand(file)?;
                let Some((file, format)) = path
                    .trim()
                    .rsplit_once('.')
                    .filter(|(f, e)| !f.is_empty() && !e.is_empty() && !e.contains('/'))
                else {
                    return Err(format!("Record: '{path}' is not file.format"));
                };
                let action = Action::Record {
                    file: file.to_owned(),
                    format: format.to_owned(),
                    silence: self.seconds(silence.as_ref(), "Record: silence")?,
                    max_duration: self.seconds(max_duration.as_ref(), "Record: maxduration")?,
                };
                self.media(Pending::Simple, action)
            }
            App::Dial {
                targets,
                timeout,
                options,
            } => {
                let expanded = self.expand(targets)?;
                let mut list = Vec::new();
                for target in expanded.split('&').filter(|t| !t.trim().is_empty()) {
                    let (tech, number, trunk) = parse_dial_target(target)
                        .map_err(|reason| format!("Dial '{target}': {reason}"))?;
                    list.push(DialTarget {
                        tech,
                        number,
                        trunk,
                    });
                }
                if list.is_empty() {
                    return Err("Dial: no target".to_owned());
                }
                let timeout = self.seconds(timeout.as_ref(), "Dial: timeout")?;
                let options = self.expand_opt(options.as_ref())?.unwrap_or_default();
                let pending = Pending::Dial {
                    continue_on_answer: options.contains('g'),
                };
                self.media(
                    pending,
                    Action::Dial {
                        targets: list,
                        timeout,
                    },
                )
            }
            App::Hangup { cause } => {
                let cause = self
                    .expand_opt(cause.as_ref())?
                    .and_then(|c| hangup_cause(&c));
                if self.phase == Phase::InH {
                    self.phase = Phase::Finished;
                    return Ok(Flow::Return(Action::Hangup { cause: self.cause }));
                }
                Ok(Flow::Return(self.hangup(cause)))
            }
            App::Busy { .. } | App::Congestion { .. } => {
                let cause = if matches!(app, App::Busy { .. }) {
                    17
                } else {
                    34
                };
                if self.phase == Phase::InH {
                    self.phase = Phase::Finished;
                    return Ok(Flow::Return(Action::Hangup { cause: self.cause }));
                }
                Ok(Flow::Return(self.hangup(Some(cause))))
            }
            App::Goto(dest) => self.goto(dest),
            App::GotoIf {
                condition,
                if_true,
                if_false,
            } => match self.branch(condition, if_true, if_false)? {
                Some(dest) => self.goto(dest),
                None => Ok(Flow::Next),
            },
            App::Gosub(sub) => self.gosub(sub),
            App::GosubIf {
                condition,
                if_true,
                if_false,
            } => match self.branch(condition, if_true, if_false)? {
                Some(sub) => self.gosub(sub),
                None => Ok(Flow::Next),
            },
            App::ExecIf {
                condition,
                if_true,
                if_false,
            } => match self.branch(condition, if_true, if_false)? {
                Some(app) => self.exec(app),
                None => Ok(Flow::Next),
            },
            App::Return { value } => {
                let value = match value {
                    Some(v) => self.expand(v)?,
                    None => String::new(),
                };
                let Some(frame) = self.stack.pop() else {
                    return Err("Return without a Gosub".to_owned());
                };
                for (name, old) in frame.hidden {
                    match old {
                        Some(old) => self.set(&name, &old),
                        None => {
                            self.vars.remove(&name);
                        }
                    }
                }
                self.set("GOSUB_RETVAL", &value);
                self.goto_position(frame.context, frame.exten, frame.priority);
                Ok(Flow::Jumped)
            }
            App::Set { name, value } => {
                let name = self.expand(name)?.trim().to_owned();
                let value = self.expand(value)?;
                let name = match name.as_str() {
                    "CALLERID(number)" => "CALLERID(num)".to_owned(),
                    _ => name,
                };
                if let Some(args) = name.strip_prefix("DB(").and_then(|n| n.strip_suffix(')')) {
                    let (family, key) =
                        db_key(args).ok_or(format!("Set: {name} is not DB(family/key)"))?;
                    let env = self.env.as_deref().ok_or("Set: DB() needs the database")?;
                    env.db_put(family, key, &value)
                        .map_err(|e| format!("Set: {name}: {e}"))?;
                    return Ok(Flow::Next);
                }
                self.set(&name, &value);
                Ok(Flow::Next)
            }
            App::Wait { seconds } => {
                let duration = self.seconds(Some(seconds), "Wait")?.unwrap_or_default();
                self.media(Pending::Simple, Action::Wait(duration))
            }
            App::NoOp { .. } => Ok(Flow::Next),
            App::SayDigits { digits } => {
                let files = super::say::digits(&self.expand(digits)?);
                if files.is_empty() {
                    return Ok(Flow::Next);
                }
                self.media(Pending::Simple, Action::Playback { files })
            }
            App::SayNumber { number, .. } => {
                let n = parse_number::<i64>(&self.expand(number)?, "SayNumber")?;
                let files = super::say::number(n).map_err(|e| format!("SayNumber: {e}"))?;
                self.media(Pending::Simple, Action::Playback { files })
            }
            App::Playtones { tones } => {
                let tones = crate::codec::tones::Tones::parse(&self.expand(tones)?)?;
                self.media(Pending::Simple, Action::Playtones(tones))
            }
            App::StopPlaytones => self.media(Pending::Simple, Action::StopPlaytones),
            App::SendDtmf {
                digits, duration, ..
            } => {
                let digits = self.expand(digits)?;
                if let Some(bad) = digits
                    .chars()
                    .find(|c| crate::dtmf::rfc4733::digit_to_event(*c).is_none())
                {
                    return Err(format!(
                        "SendDTMF: {bad:?} is not a DTMF digit (0-9, *, #, A-D; pauses are not supported)"
                    ));
                }
                let ms = match self.expand_opt(duration.as_ref())? {
                    Some(ms) => parse_number::<u64>(&ms, "SendDTMF: duration")?,
                    None => 100,
                };
                if !(40..=8000).contains(&ms) {
                    return Err(format!("SendDTMF: a digit lasts 40 to 8000 ms, not {ms}"));
                }
                let duration = Duration::from_millis(ms);
                self.media(Pending::Simple, Action::SendDtmf { digits, duration })
            }
            App::Agi { command, args } => {
                let target = self.expand(command)?.trim().to_owned();
                let args = args
                    .iter()
                    .map(|a| self.expand(a))
                    .collect::<Result<Vec<_>, _>>()?;
                self.media(Pending::Simple, Action::Agi { target, args })
            }
            App::UserEvent { name, body } => {
                let name = self.expand(name)?.trim().to_owned();
                if name.is_empty() {
                    return Err("UserEvent: no event name".to_owned());
                }
                let mut fields = Vec::new();
                for item in body {
                    let item = self.expand(item)?;
                    // `key: value`; an item without a colon is a key with an empty value.
                    let (key, value) = item.split_once(':').unwrap_or((&item, ""));
                    let key = key.trim();
                    if !key.is_empty() {
                        fields.push((key.to_owned(), value.trim().to_owned()));
                    }
                }
                self.pending = Pending::Simple;
                Ok(Flow::Return(Action::UserEvent { name, fields }))
            }
            App::Verbose { level, message } => {
                let level = match self.expand_opt(level.as_ref())? {
                    Some(l) => parse_number::<u8>(&l, "Verbose: level")?,
                    None => 0,
                };
                let message = self.expand(message)?;
                self.pending = Pending::Simple;
                Ok(Flow::Return(Action::Verbose { level, message }))
            }
        }
    }

    fn files(&self, template: &str) -> Result<Vec<String>, String> {
        let files: Vec<String> = self
            .expand(template)?
            .split('&')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if files.is_empty() {
            return Err(format!("no file in '{template}'"));
        }
        Ok(files)
    }

    /// Seconds (fractions allowed); `None` when absent, empty or 0.
    fn seconds(&self, template: Option<&String>, what: &str) -> Result<Option<Duration>, String> {
        let Some(text) = self.expand_opt(template)? else {
            return Ok(None);
        };
        let secs: f64 = parse_number(&text, what)?;
        let duration = Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| *d <= LONGEST)
            .ok_or_else(|| {
                format!(
                    "{what}: '{text}' is not a duration of at most {} s",
                    LONGEST.as_secs()
                )
            })?;
        Ok(Some(duration).filter(|d| !d.is_zero()))
    }

    /// The branch of a `GotoIf` or `GosubIf` that `condition` picks.
    fn branch<'a, T>(
        &self,
        condition: &str,
        if_true: &'a Option<T>,
        if_false: &'a Option<T>,
    ) -> Result<Option<&'a T>, String> {
        let chosen = match expr::is_true(&self.expand(condition)?) {
            true => if_true,
            false => if_false,
        };
        Ok(chosen.as_ref())
    }

    /// Calls a subroutine: `ARG1`…`ARGn` and `ARGC` set for it (hiding the caller's), back
    /// to the next priority on `Return`.
    fn gosub(&mut self, sub: &Subroutine) -> Result<Flow, String> {
        if self.stack.len() >= MAX_GOSUB_DEPTH {
            return Err(format!("Gosub nested deeper than {MAX_GOSUB_DEPTH}"));
        }
        let args = sub
            .args
            .iter()
            .map(|a| self.expand(a))
            .collect::<Result<Vec<_>, _>>()?;
        let frame = Frame {
            context: self.context.clone(),
            exten: self.exten.clone(),
            priority: self.priority.saturating_add(1),
            hidden: Vec::new(),
        };
        self.goto(&sub.dest)?;
        let mut frame = frame;
        // The caller's ARGn beyond this call's count are hidden too (a subroutine sees only
        // its own arguments).
        let caller_argc = self
            .vars
            .get("ARGC")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let names = (1..=args.len().max(caller_argc))
            .map(|i| format!("ARG{i}"))
            .chain(["ARGC".to_owned()]);
        for name in names {
            frame
                .hidden
                .push((name.clone(), self.vars.get(&name).cloned()));
        }
        for i in args.len() + 1..=caller_argc {
            self.vars.remove(&format!("ARG{i}"));
        }
        for (i, value) in args.iter().enumerate() {
            self.set(&format!("ARG{}", i + 1), value);
        }
        self.set("ARGC", &args.len().to_string());
        self.stack.push(frame);
        Ok(Flow::Jumped)
    }

    fn goto(&mut self, dest: &Destination) -> Result<Flow, String> {
        let context = match &dest.context {
            Some(c) => self.expand(c)?.trim().to_owned(),
            None => self.context.clone(),
        };
        let exten = match &dest.exten {
            Some(e) => self.expand(e)?.trim().to_owned(),
            None => self.exten.clone(),
        };
        let priority = self.expand(&dest.priority)?.trim().to_owned();
        let number = match priority.parse::<u32>() {
            Ok(n) => self.plan.find(&context, &exten, n).map(|p| p.number),
            Err(_) => self
                .plan
                .find_label(&context, &exten, &priority)
                .map(|p| p.number),
        };
        let Some(number) = number else {
            return Err(format!(
                "Goto target '{context},{exten},{priority}' does not exist"
            ));
        };
        self.goto_position(context, exten, number);
        Ok(Flow::Jumped)
    }
}

fn parse_number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{what}: '{text}' is not a number"))
}

/// A Q.850 cause from a number or one of Asterisk's common names.
fn hangup_cause(text: &str) -> Option<u16> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u16>() {
        return Some(n).filter(|n| (1..=127).contains(n));
    }
    Some(match text.to_ascii_uppercase().as_str() {
        "UNALLOCATED" => 1,
        "NORMAL_CLEARING" | "NORMAL" => 16,
        "USER_BUSY" | "BUSY" => 17,
        "NO_USER_RESPONSE" => 18,
        "NO_ANSWER" | "NOANSWER" => 19,
        "CALL_REJECTED" => 21,
        "CONGESTION" | "NORMAL_CIRCUIT_CONGESTION" => 34,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Arc<Dialplan> {
        Arc::new(Dialplan::parse_str(text, "extensions.conf").unwrap_or_else(|e| panic!("{e}")))
    }

    fn start(plan: &Arc<Dialplan>, context: &str, exten: &str) -> Execution {
        Execution::new(
            Arc::clone(plan),
            context,
            exten,
            [
                ("CALLERID(num)".to_owned(), "0612345678".to_owned()),
                ("CHANNEL".to_owned(), "PJSIP/gw-00000001".to_owned()),
            ],
        )
    }

    /// AstDB in a map, a fixed clock (2026-12-07 14:05:09 UTC, one hour east), writes
    /// refused when `read_only`.
    #[derive(Debug, Default)]
    struct TestEnv {
        db: std::sync::Mutex<HashMap<String, String>>,
        read_only: bool,
    }

    impl Environment for TestEnv {
        fn db_get(&self, family: &str, key: &str) -> Option<String> {
            self.db
                .lock()
                .unwrap()
                .get(&format!("{family}/{key}"))
                .cloned()
        }
        fn db_put(&self, family: &str, key: &str, value: &str) -> Result<(), String> {
            if self.read_only {
                return Err("this node is the backup".into());
            }
            self.db
                .lock()
                .unwrap()
                .insert(format!("{family}/{key}"), value.into());
            Ok(())
        }
        fn now(&self) -> i64 {
            1_796_652_309
        }
        fn utc_offset(&self, _epoch: i64) -> i64 {
            3600
        }
    }

    fn verbose(action: Action) -> String {
        match action {
            Action::Verbose { message, .. } => message,
            other => panic!("not a Verbose: {other:?}"),
        }
    }

    #[test]
    fn db_reads_and_writes_astdb_and_strftime_formats_the_nodes_time() {
        let p = plan(
            "[main]\n\
             exten => s,1,Set(DB(alerts/last)=${CALLERID(num)})\n\
             same => n,Set(DB(alerts/path/with/slash)=x)\n\
             same => n,Verbose(1,${DB(alerts/last)}|${DB(alerts/none)}|${DB(alerts/path/with/slash)}|${LEN(${DB(alerts/last)})})\n\
             same => n,Verbose(1,${STRFTIME(${EPOCH},,%Y-%m-%d %H:%M)}|${STRFTIME(0,UTC,%F %T)}|${STRFTIME()})\n\
             same => n,Set(DB(nokey)=1)\n",
        );
        let env = Arc::new(TestEnv::default());
        let mut x = start(&p, "main", "s").with_environment(env.clone());
        assert_eq!(
            verbose(x.step(Outcome::Start)),
            "0612345678||x|10",
            "an absent key reads empty"
        );
        assert_eq!(
            verbose(x.step(Outcome::Done)),
            "2026-12-07 15:05|1970-01-01 00:00:00|Mon Dec  7 15:05:09 2026"
        );
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: None });
        assert!(x.hangup_reason().unwrap().contains("not DB(family/key)"));
        assert_eq!(env.db.lock().unwrap().len(), 2);

        // Refused writes end the call with the reason, never a silent loss.
        let backup = Arc::new(TestEnv {
            read_only: true,
            ..TestEnv::default()
        });
        let mut x = start(&p, "main", "s").with_environment(backup);
        assert_eq!(x.step(Outcome::Start), Action::Hangup { cause: None });
        assert!(
            x.hangup_reason().unwrap().contains("backup"),
            "{:?}",
            x.hangup_reason()
        );
        let mut x = start(&p, "main", "s");
        assert_eq!(x.step(Outcome::Start), Action::Hangup { cause: None });
        assert!(x.hangup_reason().unwrap().contains("needs the database"));
    }

    #[test]
    fn say_tones_and_dtmf_applications_become_media_actions() {
        let p = plan(
            "[main]\n\
             exten => s,1,SayDigits(1#2)\n\
             same => n,SayNumber(${N})\n\
             same => n,SayDigits(abc)\n\
             same => n,Playtones(busy)\n\
             same => n,Playtones(440+480/2000,0/4000)\n\
             same => n,StopPlaytones()\n\
             same => n,SendDTMF(12*#,,250)\n\
             same => n,SendDTMF(9)\n\
             same => n,SayNumber(x)\n\
             exten => badtones,1,Playtones(440*20)\n\
             exten => baddtmf,1,SendDTMF(1w2)\n\
             exten => big,1,SayNumber(1000000000)\n",
        );
        let files = |f: &[&str]| Action::Playback {
            files: f.iter().map(|s| (*s).to_owned()).collect(),
        };
        let mut x = start(&p, "main", "s");
        x.set_var("N", "21");
        assert_eq!(
            x.step(Outcome::Start),
            files(&["digits/1", "digits/pound", "digits/2"])
        );
        assert_eq!(x.step(Outcome::Done), files(&["digits/21"]));
        // Nothing sayable: the step is skipped.
        assert_eq!(
            x.step(Outcome::PlaybackFailed),
            Action::Playtones(crate::codec::tones::Tones::parse("425/500,0/500").unwrap())
        );
        assert!(matches!(x.step(Outcome::Done), Action::Playtones(_)));
        assert_eq!(x.step(Outcome::Done), Action::StopPlaytones);
        assert_eq!(
            x.step(Outcome::Done),
            Action::SendDtmf {
                digits: "12*#".into(),
                duration: Duration::from_millis(250)
            }
        );
        assert_eq!(
            x.step(Outcome::Done),
            Action::SendDtmf {
                digits: "9".into(),
                duration: Duration::from_millis(100)
            }
        );
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: None });
        assert!(x.hangup_reason().unwrap().contains("'x' is not a number"));
        for (exten, why) in [
            ("badtones", "modulated"),
            ("baddtmf", "'w' is not a DTMF digit"),
            ("big", "too large"),
        ] {
            let mut x = start(&p, "main", exten);
            assert_eq!(
                x.step(Outcome::Start),
                Action::Hangup { cause: None },
                "{exten}"
            );
            let reason = x.hangup_reason().unwrap();
            assert!(reason.contains(why), "{exten}: {reason}");
        }
    }

    #[test]
    fn gosub_passes_arguments_and_return_comes_back_with_a_value() {
        let p = plan(
            "[main]\n\
             exten => s,1,Set(ARG1=outer)\n\
             same => n,Gosub(sub-say,s,1(first,${CALLERID(num)}))\n\
             same => n,Verbose(1,back ${GOSUB_RETVAL} ARG1=${ARG1} ARG2=${ARG2})\n\
             same => n,GosubIf($[1 = 2]?sub-say,s,1(no):sub-say,s,1(yes))\n\
             same => n,Verbose(1,then ${GOSUB_RETVAL})\n\
             same => n,Hangup()\n\
             [sub-say]\n\
             exten => s,1,Verbose(1,in ${ARG1} ${ARG2} argc=${ARGC})\n\
             same => n,Return(${ARG1}!)\n",
        );
        let mut e = start(&p, "main", "s");
        let mut said = Vec::new();
        loop {
            match e.step(Outcome::Done) {
                Action::Verbose { message, .. } => said.push(message),
                Action::Hangup { .. } => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            said,
            [
                "in first 0612345678 argc=2",
                "back first! ARG1=outer ARG2=",
                "in yes  argc=1",
                "then yes!",
            ]
        );
        assert!(e.hangup_reason().is_none(), "{:?}", e.hangup_reason());
    }

    #[test]
    fn execif_runs_the_branch_its_condition_picks() {
        let p = plan(
            "[a]\nexten => s,1,Set(X=2)\n\
             same => n,ExecIf($[${X} = 1]?Verbose(1,one):Verbose(1,not one))\n\
             same => n,ExecIf($[${X} = 2]?Set(Y=two))\n\
             same => n,ExecIf(0?Hangup())\n\
             same => n,ExecIf(1?Goto(done))\n\
             same => n,Verbose(1,skipped)\n\
             same => n(done),Verbose(1,Y=${Y})\n",
        );
        let mut e = start(&p, "a", "s");
        let mut said = Vec::new();
        while let Action::Verbose { message, .. } = e.step(Outcome::Done) {
            said.push(message);
        }
        assert_eq!(said, ["not one", "Y=two"]);
        assert!(
            Dialplan::parse_str("[a]\nexten => s,1,ExecIf(1?ExecIf(1?NoOp()))\n", "x").is_err()
        );
        assert!(Dialplan::parse_str("[a]\nexten => s,1,ExecIf(1?Frobnicate())\n", "x").is_err());
    }

    #[test]
    fn userevent_carries_its_expanded_fields_and_takes_no_time() {
        let p = plan(
            "[a]\nexten => s,1,UserEvent(Alert${EXTEN},Zone: Terni,Level:${X},bare)\n\
             same => n,Hangup()\n",
        );
        let mut e = start(&p, "a", "s");
        e.set("X", "3");
        assert_eq!(
            e.step(Outcome::Start),
            Action::UserEvent {
                name: "Alerts".into(),
                fields: vec![
                    ("Zone".into(), "Terni".into()),
                    ("Level".into(), "3".into()),
                    ("bare".into(), String::new()),
                ],
            }
        );
        assert!(matches!(e.step(Outcome::Done), Action::Hangup { .. }));
        assert!(Dialplan::parse_str("[a]\nexten => s,1,UserEvent()\n", "x").is_err());
    }

    #[test]
    fn busy_and_congestion_hang_up_with_their_causes() {
        let p = plan("[a]\nexten => 1,1,Busy(5)\nexten => 2,1,Congestion()\n");
        let mut e = start(&p, "a", "1");
        assert_eq!(e.step(Outcome::Done), Action::Hangup { cause: Some(17) });
        let mut e = start(&p, "a", "2");
        assert_eq!(e.step(Outcome::Done), Action::Hangup { cause: Some(34) });
    }

    #[test]
    fn return_without_gosub_and_endless_recursion_end_the_call_with_a_reason() {
        let p = plan("[a]\nexten => s,1,Return()\n[loop]\nexten => s,1,Gosub(loop,s,1)\n");
        let mut e = start(&p, "a", "s");
        assert!(matches!(e.step(Outcome::Done), Action::Hangup { .. }));
        assert!(e
            .hangup_reason()
            .unwrap()
            .contains("Return without a Gosub"));
        let mut e = start(&p, "loop", "s");
        assert!(matches!(e.step(Outcome::Done), Action::Hangup { .. }));
        assert!(
            e.hangup_reason().unwrap().contains("deeper than"),
            "{:?}",
            e.hangup_reason()
        );
    }

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    const ALERT: &str = r#"
[globals]
ALERT_PROMPT=allerta/evacuazione

[alert-out]
exten => s,1,Answer()
 same => n,Set(TRIES=0)
 same => n(play),Playback(${ALERT_PROMPT}&allerta/premere-1)
 same => n,Read(ACK,allerta/conferma,1,,1,5)
 same => n,GotoIf($["${ACK}" = "1"]?acked)
 same => n,Set(TRIES=$[${TRIES} + 1])
 same => n,GotoIf($[${TRIES} < 3]?play)
 same => n,Verbose(1,no ack from ${CALLERID(num)} after ${TRIES} tries)
 same => n,Hangup(NO_ANSWER)
 same => n(acked),Set(ACKED=yes)
 same => n,Playback(allerta/grazie)
 same => n,Hangup()
exten => h,1,Verbose(2,alert call ended ack=${ACK})
 same => n,Playback(never-played)
"#;

    #[test]
    fn alert_ivr_plays_reads_the_ack_and_hangs_up() {
        let plan = plan(ALERT);
        let mut x = start(&plan, "alert-out", "s");
        assert_eq!(x.step(Outcome::Start), Action::Answer);
        assert_eq!(
            x.step(Outcome::Done),
            Action::Playback {
                files: files(&["allerta/evacuazione", "allerta/premere-1"])
            }
        );
        assert_eq!(
            x.step(Outcome::Done),
            Action::Read {
                var: "ACK".into(),
                files: files(&["allerta/conferma"]),
                max_digits: Some(1),
                attempts: 1,
                timeout: Duration::from_secs(5)
            }
        );
        assert_eq!(x.var("PLAYBACKSTATUS"), Some("SUCCESS"));
        assert_eq!(
            x.step(Outcome::Digits("1".into())),
            Action::Playback {
                files: files(&["allerta/grazie"])
            }
        );
        assert_eq!(x.var("ACK"), Some("1"));
        assert_eq!(x.var("ACKED"), Some("yes"));
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: None });
        assert!(!x.is_finished(), "h extension pending");
        assert_eq!(
            x.step(Outcome::HungUp),
            Action::Verbose {
                level: 2,
                message: "alert call ended ack=1".into()
            }
        );
        assert_eq!(x.var("EXTEN"), Some("h"));
        // the Playback in h is skipped: the channel is gone
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: None });
        assert!(x.is_finished());
        assert_eq!(x.hangup_reason(), None);
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: None });
    }

    #[test]
    fn read_keeps_digits_typed_before_a_timeout_and_says_timeout_as_asterisk() {
        let p = plan("[r]\nexten => s,1,Read(PIN,,8)\n same => n,Read(PIN2,,8)\n");
        let mut x = start(&p, "r", "s");
        assert!(matches!(x.step(Outcome::Start), Action::Read { .. }));
        assert!(matches!(
            x.step(Outcome::ReadTimeout("123".into())),
            Action::Read { .. }
        ));
        assert_eq!(
            (x.var("PIN"), x.var("READSTATUS")),
            (Some("123"), Some("TIMEOUT"))
        );
        x.step(Outcome::Digits("4567".into()));
        assert_eq!(
            (x.var("PIN2"), x.var("READSTATUS")),
            (Some("4567"), Some("OK"))
        );
    }

    #[test]
    fn alert_ivr_retries_three_times_without_ack_then_hangs_up_with_cause_19() {
        let plan = plan(ALERT);
        let mut x = start(&plan, "alert-out", "s");
        assert_eq!(x.step(Outcome::Start), Action::Answer);
        let mut next = x.step(Outcome::Done);
        for attempt in 1..=3 {
            assert!(
                matches!(next, Action::Playback { .. }),
                "attempt {attempt}: {next:?}"
            );
            assert!(matches!(x.step(Outcome::Done), Action::Read { .. }));
            // As Asterisk's Read: the wait for a digit ran out, READSTATUS says so.
            next = x.step(Outcome::ReadTimeout(String::new()));
            assert_eq!(x.var("READSTATUS"), Some("TIMEOUT"));
            assert_eq!(x.var("ACK"), Some(""));
            assert_eq!(x.var("TRIES"), Some(attempt.to_string().as_str()));
        }
        assert_eq!(
            next,
            Action::Verbose {
                level: 1,
                message: "no ack from 0612345678 after 3 tries".into()
            }
        );
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: Some(19) });
        assert_eq!(
            x.step(Outcome::HungUp),
            Action::Verbose {
                level: 2,
                message: "alert call ended ack=".into()
            }
        );
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: Some(19) });
        assert!(x.is_finished());
    }

    const MENU: &str = r#"
[menu]
exten => s,1,Answer()
 same => n,Background(menu/benvenuto&menu/opzioni)
 same => n,WaitExten(5)
exten => 1,1,Playback(menu/stato)
 same => n,Goto(s,2)
exten => 22,1,Playback(menu/ventidue)
 same => n,Hangup()
exten => i,1,Playback(menu/non-valido)
 same => n,Goto(menu,s,2)
exten => t,1,Playback(menu/arrivederci)
 same => n,Hangup(16)
"#;

    #[test]
    fn background_menu_jumps_on_digits_and_uses_i_and_t() {
        let plan = plan(MENU);
        let mut x = start(&plan, "menu", "s");
        assert_eq!(x.step(Outcome::Start), Action::Answer);
        let menu = Action::Background {
            files: files(&["menu/benvenuto", "menu/opzioni"]),
        };
        assert_eq!(x.step(Outcome::Done), menu);
        // the driver collects digits while more could match: "2" could become "22"
        assert!(x.can_match_more("2"));
        assert!(!x.can_match_more("1"));
        assert!(!x.can_match_more("22"));
        assert_eq!(
            x.step(Outcome::Interrupted { digits: "1".into() }),
            Action::Playback {
                files: files(&["menu/stato"])
            }
        );
        assert_eq!(x.var("EXTEN"), Some("1"));
        assert_eq!(x.step(Outcome::Done), menu, "Goto(s,2) back to the menu");
        assert_eq!(
            x.step(Outcome::Done),
            Action::WaitExten {
                timeout: Duration::from_secs(5)
            }
        );
        assert_eq!(
            x.step(Outcome::Interrupted { digits: "9".into() }),
            Action::Playback {
                files: files(&["menu/non-valido"])
            }
        );
        assert_eq!(x.var("INVALID_EXTEN"), Some("9"));
        assert_eq!(x.step(Outcome::Done), menu);
        assert!(matches!(x.step(Outcome::Done), Action::WaitExten { .. }));
        assert_eq!(
            x.step(Outcome::Timeout),
            Action::Playback {
                files: files(&["menu/arrivederci"])
            }
        );
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: Some(16) });
        assert!(x.is_finished(), "no h extension");
    }

    #[test]
    fn waitexten_timeout_without_t_hangs_up_with_a_reason() {
        let plan = plan("[c]\nexten => s,1,WaitExten()\n");
        let mut x = start(&plan, "c", "s");
        assert_eq!(
            x.step(Outcome::Start),
            Action::WaitExten {
                timeout: DEFAULT_TIMEOUT
            }
        );
        assert_eq!(x.step(Outcome::Timeout), Action::Hangup { cause: None });
        assert!(x.is_finished());
        assert!(x.hangup_reason().is_some_and(|r| r.contains("no 't'")));
    }

    const DIAL: &str = r#"
[from-gateway]
exten => _X.,1,Set(TRUNK=trunk-out)
 same => n,Dial(PJSIP/${EXTEN}@${TRUNK}&PJSIP/backup@gw-in,30)
 same => n,Goto(${DIALSTATUS},1)
exten => BUSY,1,Verbose(busy)
 same => n,Hangup(17)
exten => NOANSWER,1,Hangup(19)
exten => _[A-Z].,1,Verbose(3,dial failed: ${DIALSTATUS})
exten => h,1,Verbose(dial ended ${DIALSTATUS})
"#;

    #[test]
    fn dial_sets_dialstatus_and_branches_on_it() {
        let plan = plan(DIAL);
        let mut x = start(&plan, "from-gateway", "0612345678");
        assert_eq!(
            x.step(Outcome::Start),
            Action::Dial {
                targets: vec![
                    DialTarget {
                        tech: "PJSIP".into(),
                        number: Some("0612345678".into()),
                        trunk: "trunk-out".into()
                    },
                    DialTarget {
                        tech: "PJSIP".into(),
                        number: Some("backup".into()),
                        trunk: "gw-in".into()
                    }
                ],
                timeout: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(
            x.step(Outcome::DialStatus(DialStatus::Busy)),
            Action::Verbose {
                level: 0,
                message: "busy".into()
            }
        );
        assert_eq!(x.var("DIALSTATUS"), Some("BUSY"));
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: Some(17) });
        assert_eq!(
            x.step(Outcome::HungUp),
            Action::Verbose {
                level: 0,
                message: "dial ended BUSY".into()
            }
        );
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: Some(17) });
        assert!(x.is_finished());

        let mut y = start(&plan, "from-gateway", "0612345678");
        let _ = y.step(Outcome::Start);
        assert_eq!(
            y.step(Outcome::DialStatus(DialStatus::ChanUnavail)),
            Action::Verbose {
                level: 3,
                message: "dial failed: CHANUNAVAIL".into()
            }
        );
    }

    #[test]
    fn answered_dial_ends_the_call_unless_g_is_given() {
        let plan = plan(DIAL);
        let mut x = start(&plan, "from-gateway", "0612345678");
        let _ = x.step(Outcome::Start);
        assert_eq!(
            x.step(Outcome::DialStatus(DialStatus::Answer)),
            Action::Hangup { cause: None }
        );
        let plan2 = self::plan("[c]\nexten => s,1,Dial(PJSIP/1@t,,g)\nsame => n,Verbose(after)\n");
        let mut y = start(&plan2, "c", "s");
        assert!(matches!(
            y.step(Outcome::Start),
            Action::Dial { timeout: None, .. }
        ));
        assert!(matches!(
            y.step(Outcome::DialStatus(DialStatus::Answer)),
            Action::Verbose { .. }
        ));
    }

    #[test]
    fn caller_hangup_runs_h_and_skips_its_media() {
        let plan = plan(
            "[c]\nexten => s,1,Answer()\nsame => n,Playback(x)\n\
             exten => h,1,Set(X=${CALLERID(num)})\nsame => n,Answer()\nsame => n,Verbose(h ${X})\n",
        );
        let mut x = start(&plan, "c", "s");
        assert_eq!(x.step(Outcome::Start), Action::Answer);
        assert!(matches!(x.step(Outcome::Done), Action::Playback { .. }));
        assert_eq!(
            x.step(Outcome::HungUp),
            Action::Verbose {
                level: 0,
                message: "h 0612345678".into()
            }
        );
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: None });
        assert!(x.is_finished());
    }

    #[test]
    fn running_off_the_end_hangs_up() {
        let plan = plan("[c]\nexten => s,1,Answer()\n");
        let mut x = start(&plan, "c", "s");
        assert_eq!(x.step(Outcome::Start), Action::Answer);
        assert_eq!(x.step(Outcome::Done), Action::Hangup { cause: None });
        assert!(x.is_finished());
        assert_eq!(x.hangup_reason(), None);
    }

    #[test]
    fn a_redirect_abandons_the_playback_and_continues_where_it_points() {
        let p = plan(ALERT);
        let mut e = start(&p, "alert-out", "s");
        assert_eq!(e.step(Outcome::Start), Action::Answer);
        assert!(matches!(e.step(Outcome::Done), Action::Playback { .. }));
        e.set_var("ACK", "1");
        // Redirected mid-playback to the `acked` branch (priority 10).
        assert_eq!(
            e.redirect("alert-out", "s", 10),
            Action::Playback {
                files: files(&["allerta/grazie"])
            }
        );
        assert_eq!(e.var("ACKED"), Some("yes"));
        assert_eq!(e.vars().get("ACK").map(String::as_str), Some("1"));
        // To a place that does not exist: the channel hangs up with a reason.
        let mut e = start(&p, "alert-out", "s");
        e.step(Outcome::Start);
        assert!(matches!(
            e.redirect("nowhere", "s", 1),
            Action::Hangup { .. }
        ));
        assert!(e.hangup_reason().is_some_and(|r| r.contains("nowhere")));
    }

    #[test]
    fn goto_loops_end_in_hangup_with_a_reason() {
        let plan = plan("[c]\nexten => s,1(top),Set(N=$[0${N} + 1])\nsame => n,Goto(top)\n");
        let mut x = start(&plan, "c", "s");
        assert_eq!(x.step(Outcome::Start), Action::Hangup { cause: None });
        assert!(
            x.hangup_reason().is_some_and(|r| r.contains("Goto loop")),
            "{:?}",
            x.hangup_reason()
        );
    }

    #[test]
    fn runtime_errors_hang_up_with_a_reason_and_still_run_h() {
        let plan = plan(
            "[c]\nexten => s,1,Set(X=$[1 +])\nexten => t,1,Goto(${NOWHERE},s,1)\n\
             exten => h,1,Verbose(h)\n",
        );
        let mut x = start(&plan, "c", "s");
        assert_eq!(x.step(Outcome::Start), Action::Hangup { cause: None });
        assert!(
            x.hangup_reason()
                .is_some_and(|r| r.starts_with("c,s,1: syntax error")),
            "{:?}",
            x.hangup_reason()
        );
        assert!(matches!(x.step(Outcome::HungUp), Action::Verbose { .. }));

        let mut y = start(&plan, "c", "t");
        assert_eq!(y.step(Outcome::Start), Action::Hangup { cause: None });
        assert!(y
            .hangup_reason()
            .is_some_and(|r| r.contains("does not exist")));
    }

    #[test]
    fn an_endless_wait_is_a_runtime_error_not_an_overflow() {
        let plan = plan("[c]\nexten => s,1,Wait(1e19)\nexten => t,1,Dial(PJSIP/1@x,1e300)\n");
        for exten in ["s", "t"] {
            let mut x = start(&plan, "c", exten);
            assert_eq!(x.step(Outcome::Start), Action::Hangup { cause: None });
            assert!(
                x.hangup_reason()
                    .is_some_and(|r| r.contains("not a duration of at most 4294967295 s")),
                "{:?}",
                x.hangup_reason()
            );
        }
    }

    #[test]
    fn unknown_start_extension_hangs_up_with_a_reason() {
        let plan = plan("[c]\nexten => s,1,Answer()\n");
        let mut x = start(&plan, "c", "999");
        assert_eq!(x.step(Outcome::Start), Action::Hangup { cause: None });
        assert!(x
            .hangup_reason()
            .is_some_and(|r| r.contains("no extension '999'")));
        let mut y = start(&plan, "nope", "s");
        assert_eq!(y.step(Outcome::Start), Action::Hangup { cause: None });
    }

    #[test]
    fn record_wait_and_substrings_build_their_actions() {
        let plan = plan(
            "[c]\nexten => _0X.,1,Record(/var/spool/allerta/${EXTEN:1}.wav,3,60)\n\
             same => n,Wait(1.5)\nsame => n,Verbose(${CALLERID(num):-4} ${LEN(${EXTEN})})\n",
        );
        let mut x = start(&plan, "c", "0612");
        assert_eq!(
            x.step(Outcome::Start),
            Action::Record {
                file: "/var/spool/allerta/612".into(),
                format: "wav".into(),
                silence: Some(Duration::from_secs(3)),
                max_duration: Some(Duration::from_secs(60))
            }
        );
        assert_eq!(
            x.step(Outcome::Done),
            Action::Wait(Duration::from_millis(1500))
        );
        assert_eq!(
            x.step(Outcome::Done),
            Action::Verbose {
                level: 0,
                message: "5678 4".into()
            }
        );
    }

    fn fragment() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            "[c]\n",
            "[d](c)\n",
            "exten => ",
            "same => ",
            "s",
            "h",
            "i",
            "t",
            "1",
            "_X.",
            "_[1-",
            "!",
            ",1,",
            ",n,",
            ",n(l),",
            ",2,",
            "Goto(",
            "GotoIf(",
            "Set(A=",
            "Read(A",
            "Background(x",
            "WaitExten(",
            "Dial(PJSIP/1@t",
            "Hangup(",
            "Verbose(",
            "Record(f.wav",
            "Wait(",
            "Playback(",
            "$[",
            "${",
            "${A}",
            "${EXTEN:1}",
            "}",
            "]",
            ")",
            "?",
            ":",
            "::",
            ",",
            "\\",
            "\"",
            "=",
            "+",
            "/",
            "0",
            "l",
            "c",
            "\n",
            "include => d\n",
            "(",
            "${LEN(",
            "${CALLERID(num)}",
        ])
    }

    fn line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::sample::select;
        use proptest::strategy::Strategy;
        (
            select(vec!["s", "h", "i", "t", "1", "12", "_1X", "_X.", "_[1-3]!"]),
            select(vec!["1", "n", "n(l)", "2", "n(m)"]),
            select(vec![
                "Answer()",
                "Playback(a&${A})",
                "Background(m)",
                "WaitExten(1)",
                "Read(A,p,1,,2,0.5)",
                "Dial(PJSIP/${EXTEN}@t,5)",
                "Hangup(${A})",
                "Goto(l)",
                "Goto(s,1)",
                "Goto(c,${A},1)",
                "GotoIf($[${A} = 1]?l:m)",
                "GotoIf(${A}?1)",
                "Set(A=$[${A} + 1])",
                "Set(A=${A}${A}${A}${A})",
                "Wait(0.1)",
                "NoOp(x)",
                "Verbose(1,${EXTEN:-1:5})",
                "Record(r/${A}.wav,1,2)",
                "Set(A=$[1/${B}])",
                "Goto(${A},1)",
            ]),
        )
            .prop_map(|(e, p, a)| format!("exten => {e},{p},{a}\n"))
    }

    proptest::proptest! {
        #[test]
        fn generated_dialplans_run_to_completion_whatever_the_outcomes(
            lines in proptest::collection::vec(line(), 1..25),
            outcomes in proptest::collection::vec(0u8..8, 0..40),
        ) {
            let text = format!("[c]\n{}", lines.concat());
            let Ok(plan) = Dialplan::parse_str(&text, "fuzz.conf") else {
                return Ok(());
            };
            let plan = Arc::new(plan);
            let mut x = start(&plan, "c", "s");
            let _ = x.step(Outcome::Start);
            for &o in &outcomes {
                let outcome = match o {
                    0 => Outcome::Done,
                    1 => Outcome::Digits("1".into()),
                    2 => Outcome::Interrupted { digits: "12".into() },
                    3 => Outcome::Timeout,
                    4 => Outcome::DialStatus(DialStatus::Busy),
                    5 => Outcome::DialStatus(DialStatus::Answer),
                    6 => Outcome::PlaybackFailed,
                    _ => Outcome::HungUp,
                };
                let _ = x.step(outcome);
            }
            for _ in 0..MAX_INTERNAL_STEPS {
                if x.is_finished() {
                    break;
                }
                let _ = x.step(Outcome::HungUp);
            }
            proptest::prop_assert!(x.is_finished());
        }

        #[test]
        fn arbitrary_dialplans_and_outcomes_never_panic_and_always_end(
            parts in proptest::collection::vec(fragment(), 0..60),
            outcomes in proptest::collection::vec(0u8..8, 0..40),
        ) {
            let text: String = parts.concat();
            let Ok(plan) = Dialplan::parse_str(&text, "fuzz.conf") else {
                return Ok(());
            };
            let plan = Arc::new(plan);
            for (context, exten) in [("c", "s"), ("c", "1"), ("d", "12")] {
                let mut x = start(&plan, context, exten);
                let _ = x.step(Outcome::Start);
                for &o in &outcomes {
                    let outcome = match o {
                        0 => Outcome::Done,
                        1 => Outcome::Digits("1".into()),
                        2 => Outcome::Interrupted { digits: "12".into() },
                        3 => Outcome::Timeout,
                        4 => Outcome::DialStatus(DialStatus::Busy),
                        5 => Outcome::DialStatus(DialStatus::Answer),
                        6 => Outcome::PlaybackFailed,
                        _ => Outcome::HungUp,
                    };
                    let _ = x.step(outcome);
                }
                // A hang-up always finishes within the h extension's bounded run.
                for _ in 0..MAX_INTERNAL_STEPS {
                    if x.is_finished() {
                        break;
                    }
                    let _ = x.step(Outcome::HungUp);
                }
                proptest::prop_assert!(x.is_finished());
            }
        }
    }

    #[test]
    fn a_verbose_goto_loop_ends_like_a_bare_goto_loop() {
        let plan = Dialplan::parse_str(
            "[c]\nexten => s,1,Answer()\nexten => h,1,Verbose(x)\n same => n,Goto(h,1)\n",
            "loop.conf",
        )
        .unwrap();
        let mut exec = Execution::new(Arc::new(plan), "c", "s", []);
        assert_eq!(exec.step(Outcome::Start), Action::Answer);
        let mut steps = 0;
        let mut action = exec.step(Outcome::HungUp);
        while !exec.is_finished() {
            steps += 1;
            assert!(steps < 3 * MAX_INTERNAL_STEPS, "never finished: {action:?}");
            action = exec.step(match action {
                Action::Verbose { .. } => Outcome::Done,
                _ => Outcome::HungUp,
            });
        }
    }
}
