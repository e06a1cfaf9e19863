//! The operator's commands (`allertactl campaign|contacts|message|operator …`, which hands
//! them to `allerta-mediacore`; their definitions are `operator_commands::admin`): they
//! work on the database directly, the dialer picks changes up within a tick. Changes are
//! refused unless this node's media core says it is the master (the backup's database is
//! the master's copy), with a message naming the master. With `--json`, what a command did
//! is printed as one JSON document.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::json;

use super::store::Store;
use super::{parse_window, progress, report, CampaignSpec};
use crate::settings::Settings;

pub use operator_commands::admin::{Admin, CampaignCmd, ContactsCmd, MessageCmd, OperatorCmd};

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
pub fn execute(
    admin: Admin,
    settings: &Settings,
    control: &Path,
    who: &str,
    json: bool,
) -> anyhow::Result<()> {
    let say = |human: String, doc: serde_json::Value| {
        if json {
            println!("{doc}");
        } else {
            println!("{human}");
        }
    };
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
        Admin::Campaign(cmd) => campaign(cmd, &mut store, who, json),
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
            say(
                format!("imported {n} contacts into list {list}"),
                json!({ "imported": n, "list": list }),
            );
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
            say(
                format!("message {name} set ({kind})"),
                json!({ "message": name, "kind": kind, "language": language }),
            );
            Ok(())
        }
        Admin::Operator(OperatorCmd::Add { name, role, pin }) => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            store.add_operator(&name, &role, password, pin.as_deref(), who)?;
            say(
                format!("operator {name} added ({role})"),
                json!({ "operator": name, "role": role }),
            );
            Ok(())
        }
    }
}

fn campaign(cmd: CampaignCmd, store: &mut Store, who: &str, json: bool) -> anyhow::Result<()> {
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
            if json {
                println!("{}", json!({ "campaign": name, "state": "draft" }));
            } else {
                println!("campaign {name} created (draft); start it with: campaign start {name}");
            }
        }
        CampaignCmd::Start { name } => control(store, &name, "start", who, json)?,
        CampaignCmd::Pause { name } => control(store, &name, "pause", who, json)?,
        CampaignCmd::Resume { name } => control(store, &name, "resume", who, json)?,
        CampaignCmd::Stop { name } => control(store, &name, "stop", who, json)?,
        CampaignCmd::Status { name: None } => {
            let all = store.list()?;
            if json {
                let all: Vec<_> = all
                    .iter()
                    .map(|(name, state)| json!({ "campaign": name, "state": state }))
                    .collect();
                println!("{}", serde_json::Value::from(all));
            }
            for (name, state) in all.iter().filter(|_| !json) {
                println!("{name}\t{state}");
            }
        }
        CampaignCmd::Status { name: Some(name) } => {
            let c = store
                .campaign(&name)?
                .with_context(|| format!("no campaign {name:?}"))?;
            let n = store.counts(c.id)?;
            let p = progress::estimate(&c, &n);
            if json {
                let doc = json!({
                    "campaign": c.name, "state": c.state.as_str(),
                    "recipients": p.total, "finished": p.finished, "percent": p.percent,
                    "confirmed": n.confirmed, "calling": n.calling, "pending": n.pending,
                    "gave_up": n.gave_up, "stopped": n.stopped,
                    "attempts": n.attempts_done, "answered": n.answered,
                    "mean_attempt_s": n.mean_attempt_ms / 1000.0, "eta_s": p.eta_secs,
                });
                println!("{doc}");
                return Ok(());
            }
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
            if json {
                println!("{}", serde_json::to_string(&rows)?);
                return Ok(());
            }
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

fn control(
    store: &mut Store,
    name: &str,
    action: &str,
    who: &str,
    json: bool,
) -> anyhow::Result<()> {
    let state = store.control(name, action, who)?;
    if json {
        println!("{}", json!({ "campaign": name, "state": state.as_str() }));
    } else {
        println!("campaign {name}: {}", state.as_str());
    }
    Ok(())
}
