//! The alert database and its rules: operators, contacts and lists, messages, campaigns, the
//! per-recipient ledger, AstDB and the audit log, in the replicated SQLite file. Every
//! program that changes them goes through [`store::Store`], which writes through the sync
//! journal: the media core (its dialer, AMI and AGI, `allerta-mediacore campaign …`) and
//! the web console. So a rule (a campaign's transitions, an import's all-or-nothing, a
//! password's hash) lives here once, and no daemon crate depends on another.
//!
//! Pure: `schema` (tables), `contacts` (CSV import with per-line errors), `progress`
//! (counts and ETA), `report` (table and CSV), the types below. Drivers: `store` (SQLite
//! through the sync journal), `astdb` (Asterisk's database on it), `console` (the web
//! console's sign-in rows, keys and certificate), `password` (argon2).

pub mod astdb;
pub mod console;
pub mod contacts;
pub mod fixtures;
pub mod password;
pub mod progress;
pub mod report;
pub mod schema;
pub mod store;
pub mod summary;

/// A campaign's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created, not started.
    Draft,
    /// Dialling (on the master).
    Running,
    /// Held by an operator; resumes where it was.
    Paused,
    /// Stopped by an operator; nobody else is called.
    Stopped,
    /// Everybody confirmed or out of attempts.
    Done,
}

impl State {
    /// The word in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Done => "done",
        }
    }

    /// From the database word.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => Self::Draft,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "stopped" => Self::Stopped,
            "done" => Self::Done,
            _ => return None,
        })
    }

    /// The state after an operator's `action`, or why it is refused.
    pub fn after(self, action: &str) -> Result<Self, String> {
        use State::*;
        match (self, action) {
            (Draft, "start") => Ok(Running),
            (Running, "pause") => Ok(Paused),
            (Paused, "resume") => Ok(Running),
            (Draft | Running | Paused, "stop") => Ok(Stopped),
            (s, a @ ("start" | "pause" | "resume" | "stop")) => {
                Err(format!("cannot {a} a campaign that is {}", s.as_str()))
            }
            (_, a) => Err(format!(
                "unknown action {a:?}: start, pause, resume or stop"
            )),
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered and pressed 1.
    Confirmed,
    /// Answered, no confirmation.
    Answered,
    /// Busy (486/600).
    Busy,
    /// Rang out, or the far end said so (408/480).
    NoAnswer,
    /// Refused by the callee (603 Decline, 403).
    Rejected,
    /// Failed in the network or the trunk (with the SIP code).
    Failed,
    /// Cut by a crash or a takeover before it ended.
    Interrupted,
}

impl Outcome {
    /// The word in the ledger and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Answered => "answered",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// What an operator gives to create a campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpec {
    /// Unique name.
    pub name: String,
    /// The message's name.
    pub message: String,
    /// Lists whose members are called.
    pub lists: Vec<String>,
    /// Higher takes lines first.
    pub priority: i64,
    /// Concurrent lines at most.
    pub max_lines: u32,
    /// New calls per second at most.
    pub cps: f64,
    /// Ring timeout, seconds.
    pub ring_secs: u32,
    /// Attempts per recipient at most.
    pub max_attempts: u32,
    /// Seconds between attempts.
    pub retry_secs: u32,
    /// Dialling window (minutes after local midnight, start and end; end < start wraps
    /// past midnight).
    pub window: Option<(u32, u32)>,
}

impl CampaignSpec {
    /// Checks the values an operator can get wrong: the first problem.
    pub fn check(&self) -> Result<(), String> {
        match self.problems().into_iter().next() {
            Some((_, problem)) => Err(problem),
            None => Ok(()),
        }
    }

    /// Every value an operator got wrong, each with the field it belongs to (the web
    /// console's form shows each next to its field): `name`, `lists`, `lines`, `cps`,
    /// `ring`, `attempts`, `retry`, `window`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(("name", "a campaign needs a name".into()));
        }
        if self.lists.is_empty() {
            out.push(("lists", "a campaign needs at least one list".into()));
        }
        if self.max_lines == 0 || self.max_lines > 2000 {
            out.push(("lines", format!("lines {}: 1 to 2000", self.max_lines)));
        }
        if !(self.cps > 0.0 && self.cps <= 200.0) {
            out.push((
                "cps",
                format!("calls per second {}: above 0, at most 200", self.cps),
            ));
        }
        if !(5..=300).contains(&self.ring_secs) {
            out.push(("ring", format!("ring time {} s: 5 to 300", self.ring_secs)));
        }
        if !(1..=20).contains(&self.max_attempts) {
            out.push((
                "attempts",
                format!("attempts {}: 1 to 20", self.max_attempts),
            ));
        }
        if self.retry_secs > MAX_RETRY_SECS {
            out.push((
                "retry",
                format!(
                    "retry after {} s: at most {MAX_RETRY_SECS}",
                    self.retry_secs
                ),
            ));
        }
        if let Some((a, b)) = self.window {
            if a >= 1440 || b >= 1440 || a == b {
                out.push((
                    "window",
                    "the window is two different times of day, HH:MM-HH:MM".into(),
                ));
            }
        }
        out
    }
}

/// The longest wait between two attempts at one person: a day.
pub const MAX_RETRY_SECS: u32 = 86_400;

/// Parses `HH:MM-HH:MM` into minutes after midnight.
pub fn parse_window(text: &str) -> Result<(u32, u32), String> {
    let minutes = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        // `then`, not `then_some`: the product must not be computed for an hour that
        // is out of range (99999999:00 overflowed; found by the console_input fuzz target).
        (h < 24 && m < 60).then(|| h * 60 + m)
    };
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("window {text:?}: HH:MM-HH:MM"))?;
    match (minutes(a), minutes(b)) {
        (Some(a), Some(b)) if a != b => Ok((a, b)),
        _ => Err(format!("window {text:?}: HH:MM-HH:MM, two different times")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_move_campaigns_only_along_the_allowed_transitions() {
        assert_eq!(State::Draft.after("start"), Ok(State::Running));
        assert_eq!(State::Running.after("pause"), Ok(State::Paused));
        assert_eq!(State::Paused.after("resume"), Ok(State::Running));
        assert_eq!(State::Paused.after("stop"), Ok(State::Stopped));
        assert!(State::Done
            .after("start")
            .unwrap_err()
            .contains("cannot start a campaign that is done"));
        assert!(State::Running.after("resume").is_err());
        assert!(State::Running
            .after("explode")
            .unwrap_err()
            .contains("unknown"));
    }

    #[test]
    fn every_problem_names_its_field() {
        let spec = crate::fixtures::every_field_wrong();
        let fields: Vec<_> = spec.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["name", "lists", "lines", "cps", "ring", "attempts", "retry", "window"]
        );
        assert_eq!(spec.check(), Err("a campaign needs a name".into()));
    }

    #[test]
    fn windows_are_times_of_day() {
        assert_eq!(parse_window("08:00-20:30"), Ok((480, 1230)));
        assert_eq!(parse_window("22:00-06:00"), Ok((1320, 360)));
        assert!(parse_window("8-20").is_err());
        assert!(parse_window("25:00-01:00").is_err());
        assert!(parse_window("10:00-10:00").is_err());
        assert!(parse_window("99999999:00-08:00").is_err());
    }
}
