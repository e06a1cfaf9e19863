//! Driver: Allerta's own AMI actions for campaigns, so an existing AMI application can
//! drive them (named `Allerta…` so they cannot clash with Asterisk's). They do what
//! `allerta-mediacore campaign|contacts|message` does, on the same database; changes are
//! refused on the backup with a message naming the master.
//!
//! | action | keys |
//! |---|---|
//! | AllertaCampaignCreate | Name, Message, List (repeatable or comma-separated), Priority, Lines, CPS, RingTime, Attempts, RetryTime, Window (HH:MM-HH:MM) |
//! | AllertaCampaignStart / Pause / Resume / Stop | Name |
//! | AllertaCampaignStatus | Name (none: a list of every campaign) |
//! | AllertaCampaignReport | Name: one AllertaCampaignRecipient event per recipient (names and numbers: `originate` only) |
//! | AllertaMessageSet | Name, Text or Recording, Language |
//! | AllertaContactsImport | List, Columns (default `id,name,numbers`), Contact (one CSV line each, repeatable) |

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::context::Ami;
use super::message::{self, Message};
use crate::campaign::dialer::blocking;
use crate::campaign::store::{Store, StoreError};
use crate::campaign::{contacts, parse_window, progress, CampaignSpec};

fn reply(id: Option<&str>, kind: &str) -> Message {
    let mut m = Message::with("Response", kind);
    if let Some(id) = id {
        m.push("ActionID", id);
    }
    m
}

fn error(id: Option<&str>, text: &str) -> Message {
    let mut m = reply(id, "Error");
    m.push("Message", text);
    m
}

/// Performs one of our actions; the answer goes on `replies` (the database is asked
/// off the async runtime).
pub fn perform(ami: &Ami, msg: &Message, replies: &mpsc::UnboundedSender<Message>) {
    let id = msg.get("ActionID").map(str::to_owned);
    let Some(store) = ami.store.clone() else {
        let _ = replies.send(error(
            id.as_deref(),
            "campaigns are not available on this node",
        ));
        return;
    };
    let action = msg.get("Action").unwrap_or("").to_ascii_lowercase();
    let changes = !matches!(
        action.as_str(),
        "allertacampaignstatus" | "allertacampaignreport"
    );
    if let Some(refusal) = ami.not_master().filter(|_| changes) {
        let _ = replies.send(error(id.as_deref(), &refusal));
        return;
    }
    let msg = msg.clone();
    let replies = replies.clone();
    tokio::spawn(async move {
        let answer = run(&store, &action, &msg, id.as_deref())
            .await
            .unwrap_or_else(|e| error(id.as_deref(), &e.to_string()));
        let _ = replies.send(answer);
    });
}

async fn run(
    store: &Arc<Mutex<Store>>,
    action: &str,
    msg: &Message,
    id: Option<&str>,
) -> Result<Message, StoreError> {
    let (action, msg, id) = (action.to_owned(), msg.clone(), id.map(str::to_owned));
    blocking(store, move |s| act(s, &action, &msg, id.as_deref())).await
}

/// Performs one of our actions (`action` lower-case) on the store, all of it under the
/// store's lock, and builds the answer: what an application sends is read here (the
/// `ami_campaigns` fuzz target feeds it).
pub fn act(
    s: &mut Store,
    action: &str,
    msg: &Message,
    id: Option<&str>,
) -> Result<Message, StoreError> {
    let who = "ami".to_owned();
    let name = msg.get("Name").unwrap_or("").to_owned();
    let need_name = || {
        if name.is_empty() {
            Err(StoreError::Refused("Name not specified".into()))
        } else {
            Ok(())
        }
    };
    let success = |text: String| {
        let mut m = reply(id, "Success");
        m.push("Message", text);
        m
    };
    match action {
        "allertacampaigncreate" => {
            need_name()?;
            let spec = spec(msg, &name).map_err(StoreError::Refused)?;
            (|| -> Result<_, StoreError> {
                s.migrate()?;
                s.create_campaign(&spec, &who)
            })()?;
            Ok(success(format!("Campaign {name} created")))
        }
        "allertacampaignstart"
        | "allertacampaignpause"
        | "allertacampaignresume"
        | "allertacampaignstop" => {
            need_name()?;
            let op = action.trim_start_matches("allertacampaign").to_owned();
            let n = name.clone();
            let state = s.control(&n, &op, &who)?;
            let mut m = success(format!("Campaign {name} {}", state.as_str()));
            m.push("State", state.as_str());
            Ok(m)
        }
        "allertacampaignstatus" if name.is_empty() => {
            let list = s.list()?;
            let items = list
                .iter()
                .map(|(n, state)| {
                    let mut e = Message::with("Event", "AllertaCampaign");
                    if let Some(id) = id {
                        e.push("ActionID", id);
                    }
                    e.push("Name", n.clone()).push("State", state.clone());
                    e
                })
                .collect();
            Ok(message::list(
                id,
                "Campaigns will follow",
                items,
                "AllertaCampaignStatusComplete",
                &[],
            ))
        }
        "allertacampaignstatus" => {
            let n = name.clone();
            let (campaign, counts) = (|| -> Result<_, StoreError> {
                let c = s
                    .campaign(&n)?
                    .ok_or_else(|| StoreError::Refused(format!("No campaign {n}")))?;
                let counts = s.counts(c.id)?;
                Ok((c, counts))
            })()?;
            let p = progress::estimate(&campaign, &counts);
            let mut m = reply(id, "Success");
            m.push("Name", name)
                .push("State", campaign.state.as_str())
                .push("Recipients", p.total.to_string())
                .push("Confirmed", counts.confirmed.to_string())
                .push("Calling", counts.calling.to_string())
                .push("Pending", counts.pending.to_string())
                .push("GaveUp", counts.gave_up.to_string())
                .push("Stopped", counts.stopped.to_string())
                .push("Attempts", counts.attempts_done.to_string())
                .push("Answered", counts.answered.to_string())
                .push("PercentDone", format!("{:.1}", p.percent))
                .push(
                    "ETASeconds",
                    p.eta_secs.map_or("unknown".into(), |s| format!("{s:.0}")),
                );
            Ok(m)
        }
        "allertacampaignreport" => {
            need_name()?;
            let n = name.clone();
            let rows = (|| -> Result<_, StoreError> {
                let c = s
                    .campaign(&n)?
                    .ok_or_else(|| StoreError::Refused(format!("No campaign {n}")))?;
                s.report(c.id)
            })()?;
            let items = rows
                .iter()
                .map(|r| {
                    let mut e = Message::with("Event", "AllertaCampaignRecipient");
                    if let Some(id) = id {
                        e.push("ActionID", id);
                    }
                    e.push("Campaign", name.clone())
                        .push("ContactID", r.external_id.clone())
                        .push("ContactName", r.name.clone())
                        .push("Status", r.status.clone())
                        .push("Attempts", r.attempts.to_string())
                        .push("LastOutcome", r.last_outcome.clone())
                        .push("Number", r.last_number.clone())
                        .push("Node", r.node.clone());
                    e
                })
                .collect();
            Ok(message::list(
                id,
                "Recipients will follow",
                items,
                "AllertaCampaignReportComplete",
                &[],
            ))
        }
        "allertamessageset" => {
            need_name()?;
            let (kind, body) = match (msg.get("Text"), msg.get("Recording")) {
                (Some(t), None) => ("text", t.to_owned()),
                (None, Some(r)) => ("recording", r.to_owned()),
                _ => {
                    return Err(StoreError::Refused(
                        "give Text or Recording (one of them)".into(),
                    ))
                }
            };
            let language = msg.get("Language").unwrap_or("it").to_owned();
            let n = name.clone();
            (|| -> Result<_, StoreError> {
                s.migrate()?;
                s.add_message(&n, kind, &body, &language, &who)
            })()?;
            Ok(success(format!("Message {name} set")))
        }
        "allertacontactsimport" => {
            let list = msg.get("List").unwrap_or("").to_owned();
            if list.is_empty() {
                return Err(StoreError::Refused("List not specified".into()));
            }
            let mut text = format!("{}\n", msg.get("Columns").unwrap_or("id,name,numbers"));
            for line in msg.get_all("Contact") {
                text.push_str(line);
                text.push('\n');
            }
            let parsed = contacts::parse(&text, "Contact").map_err(|errors| {
                // Line 1 is the Columns header: `Contact:2` is the first Contact line.
                StoreError::Refused(format!("nothing imported: {}", errors.join("; ")))
            })?;
            let l = list.clone();
            let n = (|| -> Result<_, StoreError> {
                s.migrate()?;
                s.import_contacts(&parsed, &l, &who)
            })()?;
            Ok(success(format!("Imported {n} contacts into list {list}")))
        }
        other => Ok(error(id, &format!("{other}: unknown campaign action"))),
    }
}

/// A campaign spec from an AMI request.
fn spec(msg: &Message, name: &str) -> Result<CampaignSpec, String> {
    fn number<T: std::str::FromStr>(msg: &Message, key: &str, default: T) -> Result<T, String> {
        match msg.get(key).map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("{key}: {v:?} is not a number")),
        }
    }
    Ok(CampaignSpec {
        name: name.to_owned(),
        message: msg
            .get("Message")
            .filter(|m| !m.is_empty())
            .ok_or("Message not specified")?
            .to_owned(),
        lists: msg
            .get_all("List")
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        priority: number(msg, "Priority", 0)?,
        max_lines: number(msg, "Lines", 30)?,
        cps: number(msg, "CPS", 5.0)?,
        ring_secs: number(msg, "RingTime", 30)?,
        max_attempts: number(msg, "Attempts", 3)?,
        retry_secs: number(msg, "RetryTime", 300)?,
        window: msg
            .get("Window")
            .filter(|w| !w.is_empty())
            .map(parse_window)
            .transpose()?,
    })
}
