//! Driver: the Asterisk actions integrations send to look after the system rather than a
//! call: `Command` (the CLI commands of `cli`), `Reload`, `PJSIPShowEndpoints`,
//! `PJSIPShowRegistrationsOutbound`, `UserEvent` and AstDB's `DBGet`, `DBPut`, `DBDel`.
//! Wording and field order follow Asterisk 22 (`../shared/references/ami/`).
//!
//! `Reload` and the CLI's reload commands read the replicated configuration again and answer
//! once it has been read, so an application that reloads and then originates finds its new
//! extension; a file that does not load is named in the answer and the running one stays.
//! AstDB writes are the master's, like every change (`campaigns`).

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::cli::{self, Cli};
use super::context::Ami;
use super::message::Message;
use super::{events, pjsip};
use crate::campaign::dialer::blocking;
use crate::engine::Command;

/// The actions this module answers (lower-case).
pub const ACTIONS: [&str; 9] = [
    "absolutetimeout",
    "command",
    "reload",
    "pjsipshowendpoints",
    "pjsipshowregistrationsoutbound",
    "userevent",
    "dbget",
    "dbput",
    "dbdel",
];

/// How long a reload may take before the answer says so.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

fn response(id: Option<&str>, kind: &str) -> Message {
    let mut m = Message::with("Response", kind);
    if let Some(id) = id {
        m.push("ActionID", id);
    }
    m
}

fn said(id: Option<&str>, kind: &str, text: &str) -> Message {
    let mut m = response(id, kind);
    m.push("Message", text);
    m
}

/// `Command`'s answer: `Message: Command output follows` and an `Output:` per line.
fn output(id: Option<&str>, kind: &str, lines: &[String]) -> Message {
    let mut m = said(id, kind, "Command output follows");
    for line in lines {
        m.push("Output", line.clone());
    }
    m
}

/// Performs `action` (one of [`ACTIONS`]): the answer at once, or `None` when it follows
/// on `replies`.
pub fn perform(
    ami: &Ami,
    action: &str,
    msg: &Message,
    replies: &mpsc::UnboundedSender<Message>,
) -> Option<Message> {
    let id = msg.get("ActionID").map(str::to_owned);
    let id = id.as_deref();
    match action {
        "command" => command(ami, msg, replies),
        "reload" => {
            let replies = replies.clone();
            let id = id.map(str::to_owned);
            reload(ami, move |alarms| {
                let answer = match alarms {
                    Ok(alarms) if alarms.is_empty() => {
                        said(id.as_deref(), "Success", "Module Reloaded.")
                    }
                    Ok(alarms) => said(id.as_deref(), "Error", &alarms.join("; ")),
                    Err(e) => said(id.as_deref(), "Error", &e),
                };
                let _ = replies.send(answer);
            });
            None
        }
        "pjsipshowendpoints" | "pjsipshowregistrationsoutbound" => {
            let Some(config) = &ami.pjsip else {
                return Some(said(id, "Error", "No endpoints found"));
            };
            let status = ami.status.lock().map(|s| s.clone()).unwrap_or_default();
            Some(match action {
                "pjsipshowendpoints" => pjsip::endpoints(id, config, &status),
                _ => pjsip::registrations(id, config, &status),
            })
        }
        "absolutetimeout" => absolute_timeout(ami, msg, replies),
        "userevent" => {
            let Some(name) = msg.get("UserEvent").filter(|n| !n.is_empty()) else {
                return Some(said(id, "Error", "UserEvent header missing"));
            };
            let fields: Vec<(String, String)> = msg
                .fields()
                .iter()
                .filter(|(k, _)| {
                    !["Action", "ActionID", "UserEvent"]
                        .iter()
                        .any(|n| k.eq_ignore_ascii_case(n))
                })
                .cloned()
                .collect();
            let _ = ami.events.send(events::user_event(name, &fields).shared());
            Some(said(id, "Success", "Event Sent"))
        }
        _ => astdb(ami, action, msg, replies),
    }
}

/// `Command`: a CLI command, answered with its output lines.
fn command(ami: &Ami, msg: &Message, replies: &mpsc::UnboundedSender<Message>) -> Option<Message> {
    let id = msg.get("ActionID").map(str::to_owned);
    let line = msg.get("Command").unwrap_or("");
    let status = || ami.status.lock().map(|s| s.clone()).unwrap_or_default();
    let lines = match cli::parse(line) {
        Cli::Version => vec![cli::version()],
        Cli::Uptime { seconds } => {
            let secs = ami.started.elapsed().map_or(0, |d| d.as_secs());
            cli::uptime(secs, seconds)
        }
        cli @ (Cli::Endpoints | Cli::Registrations) => match &ami.pjsip {
            Some(config) if cli == Cli::Endpoints => pjsip::endpoints_text(config, &status()),
            Some(config) => pjsip::registrations_text(config, &status()),
            None => vec!["No objects found.".into()],
        },
        Cli::Calls => {
            let s = status();
            vec![
                format!(
                    "{} active call{}",
                    s.active_calls,
                    plural(s.active_calls as u64)
                ),
                format!("{} call{} processed", s.total_calls, plural(s.total_calls)),
            ]
        }
        Cli::Channels { concise } => {
            let processed = status().total_calls;
            let (tx, rx) = oneshot::channel();
            let _ = ami.shared.commands.send(Command::Channels(tx));
            let replies = replies.clone();
            tokio::spawn(async move {
                let channels = rx.await.unwrap_or_default();
                let lines = cli::channels(&channels, processed, concise);
                let _ = replies.send(output(id.as_deref(), "Success", &lines));
            });
            return None;
        }
        Cli::Reload => {
            let replies = replies.clone();
            reload(ami, move |alarms| {
                let (kind, lines) = match alarms {
                    Ok(alarms) if alarms.is_empty() => {
                        ("Success", vec!["Configuration reloaded.".to_owned()])
                    }
                    Ok(alarms) => (
                        "Success",
                        alarms
                            .into_iter()
                            .map(|a| format!("Not reloaded, the running one stays: {a}"))
                            .collect(),
                    ),
                    Err(e) => ("Error", vec![e]),
                };
                let _ = replies.send(output(id.as_deref(), kind, &lines));
            });
            return None;
        }
        Cli::Unknown(typed) => {
            return Some(output(id.as_deref(), "Error", &[cli::unknown(&typed)]))
        }
    };
    Some(output(id.as_deref(), "Success", &lines))
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Asks the config watcher for a forced load and calls `then` with the configuration
/// alarms once it is done (an `Err` when there is no watcher or it takes too long).
fn reload(ami: &Ami, then: impl FnOnce(Result<Vec<String>, String>) + Send + 'static) {
    let Some(handle) = ami.reload.clone() else {
        return then(Err("no configuration watcher runs".into()));
    };
    let status = ami.status.clone();
    let mut done = handle.done;
    let before = *done.borrow_and_update();
    handle.force.notify_one();
    tokio::spawn(async move {
        let waited = tokio::time::timeout(RELOAD_WAIT, done.wait_for(|n| *n > before)).await;
        match waited {
            Ok(Ok(_)) => {
                let alarms = status
                    .lock()
                    .map(|s| s.config_alarms.clone())
                    .unwrap_or_default();
                then(Ok(alarms))
            }
            _ => then(Err("the configuration was not reloaded in time".into())),
        }
    });
}

/// `AbsoluteTimeout`: hang the channel up `Timeout` seconds from now (0: never); a new
/// timeout replaces the channel's earlier one, as in Asterisk.
fn absolute_timeout(
    ami: &Ami,
    msg: &Message,
    replies: &mpsc::UnboundedSender<Message>,
) -> Option<Message> {
    let id = msg.get("ActionID").map(str::to_owned);
    let Some(channel) = msg
        .get("Channel")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
    else {
        return Some(said(id.as_deref(), "Error", "No channel specified"));
    };
    // At most a day: a deadline must not overflow, and no alert call lasts longer.
    let Some(secs) = msg
        .get("Timeout")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|&s| s <= 86_400)
    else {
        return Some(said(
            id.as_deref(),
            "Error",
            "Timeout is 0 to 86400 seconds",
        ));
    };
    let (tx, rx) = oneshot::channel();
    let _ = ami.shared.commands.send(Command::Channels(tx));
    let commands = ami.shared.commands.clone();
    let timeouts = ami.timeouts.clone();
    let replies = replies.clone();
    tokio::spawn(async move {
        let channels = rx.await.unwrap_or_default();
        let Some(uniqueid) = channels
            .iter()
            .find(|c| c.name == channel)
            .map(|c| c.uniqueid.clone())
        else {
            let _ = replies.send(said(id.as_deref(), "Error", "No such channel"));
            return;
        };
        // The timer is kept by Uniqueid: a later channel with the same name is not hung up.
        let timer = (secs > 0).then(|| {
            let commands = commands.clone();
            let uniqueid = uniqueid.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                let (tx, rx) = oneshot::channel();
                let _ = commands.send(Command::Channels(tx));
                let still = rx
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .any(|c| c.name == channel && c.uniqueid == uniqueid);
                if still {
                    let (tx, _) = oneshot::channel();
                    let _ = commands.send(Command::HangupChannel(channel, tx));
                }
            })
        });
        if let Ok(mut timeouts) = timeouts.lock() {
            timeouts.retain(|_, t| !t.is_finished());
            if let Some(old) = match timer {
                Some(t) => timeouts.insert(uniqueid, t),
                None => timeouts.remove(&uniqueid),
            } {
                old.abort();
            }
        }
        let _ = replies.send(said(id.as_deref(), "Success", "Timeout Set"));
    });
    None
}

/// `DBGet`, `DBPut`, `DBDel` on the replicated store.
fn astdb(
    ami: &Ami,
    action: &str,
    msg: &Message,
    replies: &mpsc::UnboundedSender<Message>,
) -> Option<Message> {
    let id = msg.get("ActionID").map(str::to_owned);
    let Some(store) = ami.store.clone() else {
        return Some(said(
            id.as_deref(),
            "Error",
            "The database is not available",
        ));
    };
    let family = msg.get("Family").unwrap_or("").to_owned();
    let key = msg.get("Key").unwrap_or("").to_owned();
    if family.is_empty() {
        return Some(said(id.as_deref(), "Error", "No family specified."));
    }
    if key.is_empty() {
        return Some(said(id.as_deref(), "Error", "No key specified."));
    }
    if action != "dbget" {
        if let Some(refusal) = ami.not_master() {
            return Some(said(id.as_deref(), "Error", &refusal));
        }
    }
    let value = msg.get("Val").unwrap_or("").to_owned();
    let action = action.to_owned();
    let replies = replies.clone();
    tokio::spawn(async move {
        let id = id.as_deref();
        let (f, k) = (family.clone(), key.clone());
        let answer = match action.as_str() {
            "dbget" => match blocking(&store, move |s| s.db_get(&f, &k)).await {
                Ok(Some(value)) => {
                    let mut found = Message::with("Event", "DBGetResponse");
                    found
                        .push("Family", family)
                        .push("Key", key)
                        .push("Val", value);
                    if let Some(id) = id {
                        found.push("ActionID", id);
                    }
                    super::message::list(
                        id,
                        "Result will follow",
                        vec![found],
                        "DBGetComplete",
                        &[],
                    )
                }
                Ok(None) => said(id, "Error", "Database entry not found"),
                Err(e) => said(id, "Error", &e.to_string()),
            },
            "dbput" => match blocking(&store, move |s| s.db_put(&f, &k, &value)).await {
                Ok(()) => said(id, "Success", "Updated database successfully"),
                Err(e) => said(id, "Error", &format!("Failed to update entry: {e}")),
            },
            _ => match blocking(&store, move |s| s.db_del(&f, &k)).await {
                Ok(true) => said(id, "Success", "Key deleted successfully"),
                Ok(false) => said(id, "Error", "Database entry not found"),
                Err(e) => said(id, "Error", &e.to_string()),
            },
        };
        let _ = replies.send(answer);
    });
    None
}
