//! Pure: campaigns, contacts, messages and operators: what `allerta-mediacore` carries out
//! on the database (`allertactl campaign …` hands it on). Changes are refused on the backup.

use std::path::PathBuf;

use clap::Subcommand;

/// What an operator can do.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum Admin {
    /// Campaigns: create, start, pause, resume, stop, status, report.
    #[command(subcommand)]
    Campaign(CampaignCmd),
    /// Contacts.
    #[command(subcommand)]
    Contacts(ContactsCmd),
    /// Messages (text spoken by TTS, or a recorded prompt).
    #[command(subcommand)]
    Message(MessageCmd),
    /// Operators.
    #[command(subcommand)]
    Operator(OperatorCmd),
}

/// `campaign …`
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum CampaignCmd {
    /// Create a campaign (in draft).
    Create {
        /// Its name.
        name: String,
        /// The message to play.
        #[arg(long)]
        message: String,
        /// A list to call (repeat for several).
        #[arg(long = "list", required = true)]
        lists: Vec<String>,
        /// Higher-priority campaigns take lines first.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i64,
        /// Concurrent lines at most.
        #[arg(long, default_value_t = 30)]
        lines: u32,
        /// New calls per second at most.
        #[arg(long, default_value_t = 5.0)]
        cps: f64,
        /// Ring time, seconds.
        #[arg(long, default_value_t = 30)]
        ring: u32,
        /// Attempts per person at most.
        #[arg(long, default_value_t = 3)]
        attempts: u32,
        /// Seconds between attempts.
        #[arg(long, default_value_t = 300)]
        retry: u32,
        /// Dialling window, local time, HH:MM-HH:MM.
        #[arg(long)]
        window: Option<String>,
    },
    /// Start a campaign.
    Start {
        /// Its name.
        name: String,
    },
    /// Pause a running campaign (calls in progress finish).
    Pause {
        /// Its name.
        name: String,
    },
    /// Resume a paused campaign.
    Resume {
        /// Its name.
        name: String,
    },
    /// Stop a campaign for good.
    Stop {
        /// Its name.
        name: String,
    },
    /// Progress of one campaign, or a list of all.
    Status {
        /// Its name.
        name: Option<String>,
    },
    /// Who was reached: a table, or CSV.
    Report {
        /// Its name.
        name: String,
        /// CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

/// `contacts …`
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum ContactsCmd {
    /// Import a CSV file (id,name,numbers[,language][,tags]) into a list; all or nothing.
    Import {
        /// The file.
        file: PathBuf,
        /// The list they join (created if needed).
        #[arg(long)]
        list: String,
    },
}

/// `message …`
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum MessageCmd {
    /// Create or replace a message.
    Set {
        /// Its name.
        name: String,
        /// Text spoken by text-to-speech.
        #[arg(
            long,
            conflicts_with = "recording",
            required_unless_present = "recording"
        )]
        text: Option<String>,
        /// A recorded prompt's name in the prompts directory.
        #[arg(long)]
        recording: Option<String>,
        /// Language (TTS voice): it, de, en, fr.
        #[arg(long, default_value = "it")]
        language: String,
    },
}

/// `operator …`
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum OperatorCmd {
    /// Add an operator; the password is read from standard input.
    Add {
        /// Login name.
        name: String,
        /// admin or operator.
        #[arg(long, default_value = "operator")]
        role: String,
        /// A phone PIN (digits) for recording messages by phone.
        #[arg(long)]
        pin: Option<String>,
    },
}

impl Admin {
    /// Whether the command changes the database (refused on the backup).
    pub fn changes(&self) -> bool {
        !matches!(
            self,
            Self::Campaign(CampaignCmd::Status { .. } | CampaignCmd::Report { .. })
        )
    }

    /// The arguments that name this command (`campaign start x`), every option spelled out.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Args::default();
        match self {
            Self::Campaign(c) => {
                out.word("campaign");
                campaign_args(c, &mut out);
            }
            Self::Contacts(ContactsCmd::Import { file, list }) => {
                out.words(&["contacts", "import"]);
                out.option("--list", list);
                out.last(&[&file.to_string_lossy()]);
            }
            Self::Message(MessageCmd::Set {
                name,
                text,
                recording,
                language,
            }) => {
                out.words(&["message", "set"]);
                out.maybe("--text", text.as_deref());
                out.maybe("--recording", recording.as_deref());
                out.option("--language", language);
                out.last(&[name]);
            }
            Self::Operator(OperatorCmd::Add { name, role, pin }) => {
                out.words(&["operator", "add"]);
                out.option("--role", role);
                out.maybe("--pin", pin.as_deref());
                out.last(&[name]);
            }
        }
        out.0
    }
}

fn campaign_args(c: &CampaignCmd, out: &mut Args) {
    match c {
        CampaignCmd::Create {
            name,
            message,
            lists,
            priority,
            lines,
            cps,
            ring,
            attempts,
            retry,
            window,
        } => {
            out.word("create");
            out.option("--message", message);
            for list in lists {
                out.option("--list", list);
            }
            out.option("--priority", &priority.to_string());
            out.option("--lines", &lines.to_string());
            out.option("--cps", &cps.to_string());
            out.option("--ring", &ring.to_string());
            out.option("--attempts", &attempts.to_string());
            out.option("--retry", &retry.to_string());
            out.maybe("--window", window.as_deref());
            out.last(&[name]);
        }
        CampaignCmd::Start { name } => out.then("start", name),
        CampaignCmd::Pause { name } => out.then("pause", name),
        CampaignCmd::Resume { name } => out.then("resume", name),
        CampaignCmd::Stop { name } => out.then("stop", name),
        CampaignCmd::Status { name } => {
            out.word("status");
            if let Some(name) = name {
                out.last(&[name]);
            }
        }
        CampaignCmd::Report { name, csv } => {
            out.word("report");
            if *csv {
                out.word("--csv");
            }
            out.last(&[name]);
        }
    }
}

/// Arguments being written. An option's value goes in the same word (`--text=-x`) and the
/// positional values come last, after `--`: a value that starts with a dash is never read
/// as an option.
#[derive(Default)]
pub(crate) struct Args(pub(crate) Vec<String>);

impl Args {
    pub(crate) fn word(&mut self, w: &str) {
        self.0.push(w.to_owned());
    }

    pub(crate) fn words(&mut self, ws: &[&str]) {
        for w in ws {
            self.word(w);
        }
    }

    pub(crate) fn option(&mut self, name: &str, value: &str) {
        self.0.push(format!("{name}={value}"));
    }

    pub(crate) fn maybe(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.option(name, v);
        }
    }

    /// The positional values, after `--`.
    pub(crate) fn last(&mut self, values: &[&str]) {
        self.word("--");
        self.words(values);
    }

    /// A subcommand and its one positional value.
    pub(crate) fn then(&mut self, subcommand: &str, value: &str) {
        self.word(subcommand);
        self.last(&[value]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        admin: Admin,
    }

    fn parse(args: &[&str]) -> Admin {
        Cli::try_parse_from([&["x"], args].concat())
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .admin
    }

    #[test]
    fn every_command_reads_back_as_itself_from_its_arguments() {
        for args in [
            &[
                "campaign",
                "create",
                "c",
                "--message",
                "m",
                "--list",
                "a",
                "--list=-b",
            ][..],
            &[
                "campaign",
                "create",
                "--message=-m",
                "--list=l",
                "--priority",
                "-3",
                "--cps",
                "0.5",
                "--window",
                "08:00-20:00",
                "--",
                "-c",
            ],
            &["campaign", "start", "c"],
            &["campaign", "start", "--", "-c"],
            &["campaign", "pause", "c"],
            &["campaign", "resume", "c"],
            &["campaign", "stop", "c"],
            &["campaign", "status"],
            &["campaign", "status", "--", "-odd"],
            &["campaign", "report", "c", "--csv"],
            &["contacts", "import", "/tmp/a b.csv", "--list", "x"],
            &["message", "set", "m", "--text=-- Premere 1 --"],
            &[
                "message",
                "set",
                "m",
                "--recording",
                "r",
                "--language",
                "de",
            ],
            &[
                "operator", "add", "rossi", "--role", "admin", "--pin", "0123",
            ],
        ] {
            let first = parse(args);
            let again: Vec<String> = first.to_args();
            let again: Vec<&str> = again.iter().map(String::as_str).collect();
            assert_eq!(parse(&again), first, "{args:?} -> {again:?}");
        }
    }

    #[test]
    fn status_and_report_change_nothing() {
        assert!(!parse(&["campaign", "status"]).changes());
        assert!(!parse(&["campaign", "report", "c"]).changes());
        assert!(parse(&["campaign", "stop", "c"]).changes());
        assert!(parse(&["operator", "add", "x"]).changes());
    }
}
