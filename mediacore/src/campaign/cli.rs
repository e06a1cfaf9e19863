//! The operator's commands (`allerta-mediacore campaign|contacts|message|operator …`,
//! also reached as `allertactl campaign …`): they work on the database directly, the
//! dialer picks changes up within a tick. Changes are refused unless this node's media
//! core says it is the master (the backup's database is the master's copy), with a
//! message naming the master.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{bail, Context};
use clap::Subcommand;

use super::store::Store;
use super::{parse_window, progress, report, CampaignSpec};
use crate::settings::Settings;

/// What an operator can do.
#[derive(Debug, Subcommand)]
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
#[derive(Debug, Subcommand)]
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
        #[arg(long, default_value_t = 0)]
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
#[derive(Debug, Subcommand)]
pub enum ContactsCmd {
    /// Import a CSV file (id,name,numbers[,language][,tags]) into a list; all or nothing.
    Import {
        /// The file.
        file: std::path::PathBuf,
        /// The list they join (created if needed).
        #[arg(long)]
        list: String,
    },
}

/// `message …`
#[derive(Debug, Subcommand)]
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
#[derive(Debug, Subcommand)]
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
    fn changes(&self) -> bool {
        !matches!(
            self,
            Self::Campaign(CampaignCmd::Status { .. } | CampaignCmd::Report { .. })
        )
    }
}

/// The role this node's media core reports on its control socket.
fn role(control: &Path) -> anyhow::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(control).with_context(|| {
        format!(
            "the media core is not answering on {} (is it running?)",
            control.display()
        )
    })?;
    s.write_all(b"status\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    let json: serde_json::Value =
        serde_json::from_str(line.trim().strip_prefix("status ").unwrap_or("null"))
            .unwrap_or_default();
    Ok(json["role"].as_str().unwrap_or("unknown").to_owned())
}

/// Runs an operator's command; `who` is recorded in the audit log.
pub fn execute(admin: Admin, settings: &Settings, control: &Path, who: &str) -> anyhow::Result<()> {
    if admin.changes() {
        let role = role(control)?;
        if role != "master" {
            let master = settings
                .peer
                .as_deref()
                .map_or("the other node".to_owned(), |p| format!("the master, {p}"));
            bail!(
                "refused: this node is the {role}; make changes on {master} (or through the VIP)"
            );
        }
    }
    let mut store = Store::open(&settings.database, &settings.node_name)?;
    if let Some(sock) = &settings.sync_wake_socket {
        store = store.with_wake_socket(sock);
    }
    if admin.changes() {
        store.migrate()?;
    }
    match admin {
        Admin::Campaign(cmd) => campaign(cmd, &mut store, who),
        Admin::Contacts(ContactsCmd::Import { file, list }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let label = file.display().to_string();
            let contacts = match super::contacts::parse(&text, &label) {
                Ok(c) => c,
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{e}");
                    }
                    bail!(
                        "{} bad line(s): nothing imported; fix them and import the file again",
                        errors.len()
                    );
                }
            };
            let n = store.import_contacts(&contacts, &list, who)?;
            println!("imported {n} contacts into list {list}");
            Ok(())
        }
        Admin::Message(MessageCmd::Set {
            name,
            text,
            recording,
            language,
        }) => {
            let (kind, body) = match (text, recording) {
                (Some(t), _) => ("text", t),
                (None, Some(r)) => ("recording", r),
                (None, None) => bail!("give --text or --recording"),
            };
            store.add_message(&name, kind, &body, &language, who)?;
            println!("message {name} set ({kind})");
            Ok(())
        }
        Admin::Operator(OperatorCmd::Add { name, role, pin }) => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            store.add_operator(&name, &role, password, pin.as_deref(), who)?;
            println!("operator {name} added ({role})");
            Ok(())
        }
    }
}

fn campaign(cmd: CampaignCmd, store: &mut Store, who: &str) -> anyhow::Result<()> {
    match cmd {
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
            let window = window
                .as_deref()
                .map(parse_window)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let spec = CampaignSpec {
                name: name.clone(),
                message,
                lists,
                priority,
                max_lines: lines,
                cps,
                ring_secs: ring,
                max_attempts: attempts,
                retry_secs: retry,
                window,
            };
            store.create_campaign(&spec, who)?;
            println!("campaign {name} created (draft); start it with: campaign start {name}");
        }
        CampaignCmd::Start { name } => control(store, &name, "start", who)?,
        CampaignCmd::Pause { name } => control(store, &name, "pause", who)?,
        CampaignCmd::Resume { name } => control(store, &name, "resume", who)?,
        CampaignCmd::Stop { name } => control(store, &name, "stop", who)?,
        CampaignCmd::Status { name: None } => {
            for (name, state) in store.list()? {
                println!("{name}\t{state}");
            }
        }
        CampaignCmd::Status { name: Some(name) } => {
            let c = store
                .campaign(&name)?
                .with_context(|| format!("no campaign {name:?}"))?;
            let n = store.counts(c.id)?;
            let p = progress::estimate(&c, &n);
            println!("campaign {}: {}", c.name, c.state.as_str());
            println!(
                "recipients {}: confirmed {}, calling {}, pending {}, gave up {}, stopped {} ({:.0} % done)",
                p.total, n.confirmed, n.calling, n.pending, n.gave_up, n.stopped, p.percent
            );
            println!(
                "attempts {}: answered {}; mean {:.1} s",
                n.attempts_done,
                n.answered,
                n.mean_attempt_ms / 1000.0
            );
            match p.eta_secs {
                Some(s) if n.pending + n.calling > 0 => println!("eta {:.0} s", s),
                Some(_) => println!("eta: finished"),
                None => println!("eta: not yet known (no attempt finished)"),
            }
        }
        CampaignCmd::Report { name, csv } => {
            let c = store
                .campaign(&name)?
                .with_context(|| format!("no campaign {name:?}"))?;
            let rows = store.report(c.id)?;
            print!(
                "{}",
                if csv {
                    report::csv(&rows)
                } else {
                    report::table(&rows)
                }
            );
        }
    }
    Ok(())
}

fn control(store: &mut Store, name: &str, action: &str, who: &str) -> anyhow::Result<()> {
    let state = store.control(name, action, who)?;
    println!("campaign {name}: {}", state.as_str());
    Ok(())
}
