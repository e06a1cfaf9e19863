//! Driver: the AMI actions that need the rest of the media core (the session has
//! already checked login and permissions). Each answers at once, or later through the
//! client's `replies` channel when the engine or a call must be asked first. Wording and
//! field order follow Asterisk 22 (`../shared/references/ami/`).

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::catalog;
use super::context::Ami;
use super::events::{self, OriginateOutcome, OriginateTarget};
use super::message::{self, Message};
use crate::channel::ChannelInfo;
use crate::engine::Command;
use crate::live::Redirect;
use crate::originate::{self, Dialed, Dialled, Originate, Then};

/// Performs `msg`: the immediate response, if any (the rest follows on `replies`).
pub fn perform(
    ami: &Ami,
    msg: &Message,
    replies: &mpsc::UnboundedSender<Message>,
) -> Option<Message> {
    let id = msg.get("ActionID").map(str::to_owned);
    let reply = Reply { id: id.clone() };
    let action = msg.get("Action").unwrap_or("").to_ascii_lowercase();
    let answer = match action.as_str() {
        "originate" => match originate(ami, msg, id, replies) {
            Ok(now) => return now,
            Err(reason) => reply.error(&reason),
        },
        "corestatus" => core_status(ami, &reply),
        "coreshowchannels" => {
            let replies = replies.clone();
            with_channels(ami, move |channels| {
                let _ = replies.send(core_show_channels(id.as_deref(), &channels));
            });
            return None;
        }
        "status" => {
            let wanted = msg
                .get("Channel")
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            let replies = replies.clone();
            with_channels(ami, move |mut channels| {
                if let Some(name) = &wanted {
                    channels.retain(|c| &c.name == name);
                    if channels.is_empty() {
                        let _ = replies.send(reply.error("No such channel"));
                        return;
                    }
                }
                let _ = replies.send(status(id.as_deref(), &channels));
            });
            return None;
        }
        "hangup" => {
            let Some(channel) = msg.get("Channel").map(str::to_owned) else {
                return Some(reply.error("No channel specified"));
            };
            let (tx, rx) = oneshot::channel();
            let _ = ami
                .shared
                .commands
                .send(Command::HangupChannel(channel, tx));
            let replies = replies.clone();
            tokio::spawn(async move {
                let answer = if rx.await.unwrap_or(false) {
                    reply.success("Channel Hungup")
                } else {
                    reply.error("No such channel")
                };
                let _ = replies.send(answer);
            });
            return None;
        }
        "getvar" => getvar(ami, msg, &reply),
        "setvar" => setvar(ami, msg, &reply),
        "redirect" => return redirect(ami, msg, reply, replies),
        "playdtmf" => play_dtmf(ami, msg, &reply),
        "allertastatus" => allerta_status(ami, &reply),
        a if super::admin::ACTIONS.contains(&a) => {
            return super::admin::perform(ami, a, msg, replies)
        }
        a if catalog::is_allerta(a) => {
            super::campaigns::perform(ami, msg, replies);
            return None;
        }
        other => reply.error(&format!(
            "{other}: not available in this version of Allerta"
        )),
    };
    Some(answer)
}

/// Builds responses carrying the request's ActionID.
#[derive(Debug, Clone)]
struct Reply {
    id: Option<String>,
}

impl Reply {
    fn response(&self, kind: &str) -> Message {
        let mut m = Message::with("Response", kind);
        if let Some(id) = &self.id {
            m.push("ActionID", id.clone());
        }
        m
    }

    fn success(&self, message: &str) -> Message {
        let mut m = self.response("Success");
        m.push("Message", message);
        m
    }

    fn error(&self, message: &str) -> Message {
        let mut m = self.response("Error");
        m.push("Message", message);
        m
    }
}

/// Asks the engine for the channels and hands them to `then`, on a task.
fn with_channels(ami: &Ami, then: impl FnOnce(Vec<ChannelInfo>) + Send + 'static) {
    let (tx, rx) = oneshot::channel();
    let _ = ami.shared.commands.send(Command::Channels(tx));
    tokio::spawn(async move { then(rx.await.unwrap_or_default()) });
}

fn core_status(ami: &Ami, reply: &Reply) -> Message {
    let status = ami.status.lock().map(|s| s.clone()).unwrap_or_default();
    let started: chrono_free::Stamp = ami.started.into();
    let mut m = reply.response("Success");
    m.push("CoreStartupDate", started.date())
        .push("CoreStartupTime", started.time())
        .push("CoreReloadDate", started.date())
        .push("CoreReloadTime", started.time())
        .push("CoreCurrentCalls", status.active_calls.to_string())
        .push("CoreProcessedCalls", status.total_calls.to_string());
    m
}

/// Allerta's own: this node's role and trunks, for applications that want to know
/// which node they are talking to (named so it cannot clash with an Asterisk action).
fn allerta_status(ami: &Ami, reply: &Reply) -> Message {
    let status = ami.status.lock().map(|s| s.clone()).unwrap_or_default();
    let mut m = reply.response("Success");
    m.push("Role", status.role.clone())
        .push("ActiveCalls", status.active_calls.to_string())
        .push("TotalCalls", status.total_calls.to_string());
    for t in &status.trunks {
        m.push("Trunk", format!("{}: {}", t.name, t.registration));
    }
    m
}

fn duration(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// CoreShowChannels: a CoreShowChannel event per channel.
fn core_show_channels(id: Option<&str>, channels: &[ChannelInfo]) -> Message {
    let items = channels
        .iter()
        .map(|c| {
            let mut e = Message::with("Event", "CoreShowChannel");
            if let Some(id) = id {
                e.push("ActionID", id);
            }
            events::push_channel(&mut e, "", c);
            e.push("Application", "")
                .push("ApplicationData", "")
                .push("Duration", duration(c.duration_secs))
                .push("BridgeId", "");
            e
        })
        .collect();
    message::list(
        id,
        "Channels will follow",
        items,
        "CoreShowChannelsComplete",
        &[],
    )
}

/// Status: a Status event per channel (Asterisk's fields; formats are what we send).
fn status(id: Option<&str>, channels: &[ChannelInfo]) -> Message {
    let items: Vec<Message> = channels
        .iter()
        .map(|c| {
            let mut e = Message::with("Event", "Status");
            e.push("Privilege", "Call");
            if let Some(id) = id {
                e.push("ActionID", id);
            }
            events::push_channel(&mut e, "", c);
            e.push("Type", "PJSIP")
                .push("DNID", c.exten.clone())
                .push("EffectiveConnectedLineNum", "<unknown>")
                .push("EffectiveConnectedLineName", "<unknown>")
                .push("TimeToHangup", "0")
                .push("BridgeID", "")
                .push("Application", "")
                .push("Data", "")
                .push("Nativeformats", "(ulaw|alaw)")
                .push("Readformat", "slin")
                .push("Readtrans", "")
                .push("Writeformat", "slin")
                .push("Writetrans", "")
                .push("Callgroup", "0")
                .push("Pickupgroup", "0")
                .push("Seconds", c.duration_secs.to_string());
            e
        })
        .collect();
    let count = items.len().to_string();
    message::list(
        id,
        "Channel status will follow",
        items,
        "StatusComplete",
        &[("Items", count)],
    )
}

fn getvar(ami: &Ami, msg: &Message, reply: &Reply) -> Message {
    let Some(name) = msg.get("Variable").filter(|v| !v.is_empty()) else {
        return reply.error("No variable specified");
    };
    let value = match msg.get("Channel").filter(|c| !c.is_empty()) {
        Some(channel) => match ami.shared.live.get(channel) {
            Some(live) => live.getvar(name),
            None => return reply.error("No such channel"),
        },
        None => ami.shared.live.global(name).or_else(|| {
            let plan = ami.shared.dialplan.read().ok()?.clone();
            plan.globals()
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }),
    };
    let mut m = reply.response("Success");
    m.push("Variable", name)
        .push("Value", value.unwrap_or_default());
    m
}

fn setvar(ami: &Ami, msg: &Message, reply: &Reply) -> Message {
    let Some(name) = msg.get("Variable").filter(|v| !v.is_empty()) else {
        return reply.error("No variable specified");
    };
    let value = msg.get("Value").unwrap_or("");
    match msg.get("Channel").filter(|c| !c.is_empty()) {
        Some(channel) => match ami.shared.live.get(channel) {
            Some(live) => live.setvar(name, value),
            None => return reply.error("No such channel"),
        },
        None => ami.shared.live.set_global(name, value),
    }
    reply.success("Variable Set")
}

/// PlayDTMF: one digit (Asterisk takes one; we take a string of them too) sent to the
/// channel's far end as RFC 4733 events, `Duration` ms long (100 if not given).
fn play_dtmf(ami: &Ami, msg: &Message, reply: &Reply) -> Message {
    let Some(channel) = msg.get("Channel").filter(|c| !c.is_empty()) else {
        return reply.error("Channel not specified");
    };
    let Some(digits) = msg.get("Digit").map(str::trim).filter(|d| !d.is_empty()) else {
        return reply.error("No digit specified");
    };
    let ms = match msg.get("Duration").map(str::trim) {
        None | Some("") => 100,
        Some(d) => match d.parse::<u64>() {
            Ok(ms) if (40..=8000).contains(&ms) => ms,
            _ => return reply.error(&format!("Invalid Duration {d}: 40 to 8000 ms")),
        },
    };
    let Some(live) = ami.shared.live.get(channel) else {
        return reply.error("Channel not found");
    };
    match live.play_dtmf(digits, std::time::Duration::from_millis(ms)) {
        Ok(()) => reply.success("DTMF successfully queued"),
        Err(why) => reply.error(&why),
    }
}

fn redirect(
    ami: &Ami,
    msg: &Message,
    reply: Reply,
    replies: &mpsc::UnboundedSender<Message>,
) -> Option<Message> {
    let Some(channel) = msg
        .get("Channel")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
    else {
        return Some(reply.error("Channel not specified"));
    };
    let (Some(context), Some(exten)) = (msg.get("Context"), msg.get("Exten")) else {
        return Some(reply.error("Context and Exten must be specified"));
    };
    let priority = match msg.get("Priority").map(str::trim) {
        None | Some("") => 1,
        Some(p) => match p.parse::<u32>() {
            Ok(p) if p > 0 => p,
            _ => return Some(reply.error(&format!("Invalid priority {p}"))),
        },
    };
    let Some(live) = ami.shared.live.get(&channel) else {
        return Some(reply.error(&format!("Channel does not exist: {channel}")));
    };
    live.redirect(Redirect {
        context: context.to_owned(),
        exten: exten.to_owned(),
        priority,
    });
    // Wake the call task from whatever it waits on (a prompt, digits).
    let (tx, rx) = oneshot::channel();
    let _ = ami
        .shared
        .commands
        .send(Command::Interrupt(channel.clone(), tx));
    let replies = replies.clone();
    tokio::spawn(async move {
        let answer = if rx.await.unwrap_or(false) {
            reply.success("Redirect successful")
        } else {
            reply.error(&format!("Channel does not exist: {channel}"))
        };
        let _ = replies.send(answer);
    });
    None
}

/// Originate: checks the request, starts the call; with `Async: true` answers at once,
/// otherwise when the dial ends. The OriginateResponse event follows on `replies`.
fn originate(
    ami: &Ami,
    msg: &Message,
    id: Option<String>,
    replies: &mpsc::UnboundedSender<Message>,
) -> Result<Option<Message>, String> {
    let channel = msg
        .get("Channel")
        .filter(|c| !c.is_empty())
        .ok_or("Channel not specified")?
        .to_owned();
    let dialled = Dialled::parse(&channel)?;
    let then = match (msg.get("Application"), msg.get("Context")) {
        (Some(app), _) => Then::application(app, msg.get("Data").unwrap_or(""))?,
        (None, Some(context)) => Then::Dialplan {
            context: context.to_owned(),
            exten: msg.get("Exten").unwrap_or("s").to_owned(),
            priority: match msg.get("Priority").map(str::trim) {
                None | Some("") => 1,
                Some(p) => p.parse().map_err(|_| format!("Invalid priority {p}"))?,
            },
        },
        (None, None) => return Err("Context or Application must be specified".into()),
    };
    // Milliseconds as a 32-bit count, like Asterisk: 49 days at most, so the ring deadline
    // cannot overflow.
    let timeout_ms: u32 = match msg.get("Timeout").map(str::trim) {
        None | Some("") => 30_000,
        Some(t) => t.parse().map_err(|_| format!("Invalid timeout {t}"))?,
    };
    let vars = msg
        .get_all("Variable")
        .flat_map(|v| v.split(','))
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let is_async = msg
        .get("Async")
        .is_some_and(|a| matches!(a.to_ascii_lowercase().as_str(), "true" | "yes" | "1"));
    let request = Originate {
        dialled,
        then: then.clone(),
        ring_timeout: Duration::from_millis(timeout_ms.into()),
        vars,
    };
    let (dialled_tx, dialled_rx) = oneshot::channel();
    tokio::spawn(originate::originate_reporting(
        request.clone(),
        ami.shared.clone(),
        Some(dialled_tx),
    ));
    let replies = replies.clone();
    let caller_id = msg.get("CallerID").unwrap_or("").to_owned();
    let reply = Reply { id: id.clone() };
    let queued = is_async.then(|| reply.success("Originate successfully queued"));
    tokio::spawn(async move {
        let dialed = dialled_rx.await.unwrap_or(Dialed {
            status: crate::dialplan::exec::DialStatus::ChanUnavail,
            channel: None,
        });
        let ok = dialed.status == crate::dialplan::exec::DialStatus::Answer;
        if !is_async {
            let _ = replies.send(if ok {
                reply.success("Originate successfully queued")
            } else {
                reply.error("Originate failed")
            });
        }
        // A Local originate names its ;1 half, as Asterisk does.
        let shown = match (&request.dialled, &dialed.channel) {
            // The pair answered itself: its ;1 is the channel.
            (Dialled::Local { .. }, Some((c, _))) if c.ends_with(";1") => c.clone(),
            // Its Dial was answered: Asterisk still names the ;1 half.
            (Dialled::Local { .. }, Some((c, _))) => {
                format!("{channel}-{:08x};1", leg_of(c))
            }
            (_, Some((c, _))) => c.clone(),
            (_, None) => channel.clone(),
        };
        let target = match &then {
            Then::Dialplan { context, exten, .. } => OriginateTarget::Dialplan { context, exten },
            Then::Application { name, data } => OriginateTarget::Application { name, data },
        };
        let event = events::originate_response(&OriginateOutcome {
            action_id: id.as_deref(),
            status: dialed.status,
            channel: &shown,
            uniqueid: dialed.channel.as_ref().map(|(_, u)| u.as_str()),
            target,
            caller_id: events::split_caller_id(&caller_id),
        });
        let _ = replies.send(event.message);
    });
    // Synchronous (`queued` is None): the response comes when the dial ends.
    Ok(queued)
}

/// The leg number at the end of a PJSIP channel name (`PJSIP/trunk-0000002a` → 42).
fn leg_of(channel: &str) -> u64 {
    channel
        .rsplit_once('-')
        .and_then(|(_, hex)| u64::from_str_radix(hex, 16).ok())
        .unwrap_or(0)
}

/// Calendar date and time of a `SystemTime`, UTC, without a date crate.
mod chrono_free {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// A point in time split into a civil date and time (UTC).
    pub(super) struct Stamp {
        days: i64,
        secs: u64,
    }

    impl From<SystemTime> for Stamp {
        fn from(t: SystemTime) -> Self {
            let s = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            Self {
                days: (s / 86_400) as i64,
                secs: s % 86_400,
            }
        }
    }

    impl Stamp {
        /// `YYYY-MM-DD`.
        pub(super) fn date(&self) -> String {
            let (y, m, d) = component::civil::civil_from_days(self.days).unwrap_or((1970, 1, 1));
            format!("{y:04}-{m:02}-{d:02}")
        }

        /// `HH:MM:SS`.
        pub(super) fn time(&self) -> String {
            format!(
                "{:02}:{:02}:{:02}",
                self.secs / 3600,
                self.secs / 60 % 60,
                self.secs % 60
            )
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::time::Duration;

        #[test]
        fn dates_are_civil_utc() {
            let t = UNIX_EPOCH + Duration::from_secs(1_795_312_084);
            let s: Stamp = t.into();
            assert_eq!(
                (s.date(), s.time()),
                ("2026-11-22".into(), "01:48:04".into())
            );
        }
    }
}
