//! Pure: the AMI events we send, with Asterisk 22's names, field order and privileges
//! (compare `../shared/references/ami/04_main_session.txt`). The engine and the AMI
//! driver build events here and nowhere else.

use std::sync::Arc;

use super::message::Message;
use super::users::Classes;
use crate::channel::ChannelInfo;
use crate::dialplan::exec::DialStatus;
use crate::dtmf::rfc4733::DtmfEvent;

/// An event for the clients whose `Events:` include its class.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event's class (`call`, `system`, `dtmf`, …).
    pub class: Classes,
    /// The event.
    pub message: Message,
}

impl Event {
    /// `Event: <name>` and `Privilege: <class>,all`, of class `class` (a known name).
    fn new(name: &str, class: &str) -> Self {
        let mut message = Message::with("Event", name);
        message.push("Privilege", format!("{class},all"));
        Self {
            class: Classes::named(class).unwrap_or_default(),
            message,
        }
    }

    /// Shared, for the broadcast channel.
    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }
}

/// The channel fields Asterisk puts in channel events and listings, in its order;
/// `prefix` is `Dest` for the called side of Dial events.
pub fn push_channel(m: &mut Message, prefix: &str, c: &ChannelInfo) {
    let key = |k: &str| format!("{prefix}{k}");
    m.push(&key("Channel"), c.name.clone())
        .push(&key("ChannelState"), c.state.0)
        .push(&key("ChannelStateDesc"), c.state.1)
        .push(&key("CallerIDNum"), c.caller.clone())
        .push(&key("CallerIDName"), "<unknown>")
        .push(&key("ConnectedLineNum"), "<unknown>")
        .push(&key("ConnectedLineName"), "<unknown>")
        .push(&key("Language"), "en")
        .push(&key("AccountCode"), "")
        .push(&key("Context"), c.context.clone())
        .push(&key("Exten"), c.exten.clone())
        .push(&key("Priority"), "1")
        .push(&key("Uniqueid"), c.uniqueid.clone())
        .push(&key("Linkedid"), c.uniqueid.clone());
}

/// `Newchannel`, `Newstate` and the like: the name and the channel's fields.
pub fn channel(name: &str, c: &ChannelInfo) -> Event {
    let mut e = Event::new(name, "call");
    push_channel(&mut e.message, "", c);
    e
}

/// `Hangup` with the Q.850 cause.
pub fn hangup(c: &ChannelInfo, cause: u16) -> Event {
    let mut e = channel("Hangup", c);
    e.message
        .push("Cause", cause.to_string())
        .push("Cause-txt", cause_text(cause));
    e
}

/// `DialBegin` for an outbound channel (an originate has no calling channel, a Dial()
/// from a call does but we show the called side only, as Asterisk does for originates).
pub fn dial_begin(c: &ChannelInfo, dial_string: &str) -> Event {
    let mut e = Event::new("DialBegin", "call");
    push_channel(&mut e.message, "Dest", c);
    e.message.push("DialString", dial_string);
    e
}

/// `DialEnd` with the outcome (`ANSWER`, `BUSY`, `NOANSWER`, …).
pub fn dial_end(c: &ChannelInfo, status: &str) -> Event {
    let mut e = Event::new("DialEnd", "call");
    push_channel(&mut e.message, "Dest", c);
    e.message.push("DialStatus", status);
    e
}

/// `DTMFBegin` / `DTMFEnd` for a key the far end pressed.
pub fn dtmf(c: &ChannelInfo, event: DtmfEvent) -> Event {
    let (name, digit, duration) = match event {
        DtmfEvent::Begin { digit } => ("DTMFBegin", digit, None),
        DtmfEvent::End {
            digit, duration, ..
        } => ("DTMFEnd", digit, Some(duration)),
    };
    let mut e = Event::new(name, "dtmf");
    push_channel(&mut e.message, "", c);
    e.message.push("Digit", digit.to_string());
    if let Some(d) = duration {
        e.message.push("DurationMs", d.as_millis().to_string());
    }
    e.message.push("Direction", "Received");
    e
}

/// What the originated channel does once answered, as the request said.
#[derive(Debug, Clone, Copy)]
pub enum OriginateTarget<'a> {
    /// `Context`/`Exten`.
    Dialplan {
        /// .
        context: &'a str,
        /// .
        exten: &'a str,
    },
    /// `Application`/`Data`.
    Application {
        /// .
        name: &'a str,
        /// .
        data: &'a str,
    },
}

/// `OriginateResponse`: how an originate ended.
pub struct OriginateOutcome<'a> {
    /// The request's ActionID.
    pub action_id: Option<&'a str>,
    /// How the dial ended.
    pub status: DialStatus,
    /// The channel created, else the one requested.
    pub channel: &'a str,
    /// The created channel's Uniqueid, if one was created.
    pub uniqueid: Option<&'a str>,
    /// What the answered channel runs.
    pub target: OriginateTarget<'a>,
    /// The request's CallerID, split (number, name).
    pub caller_id: (&'a str, &'a str),
}

/// `OriginateResponse` (Asterisk's `Reason` is the last control frame seen: 4 answered,
/// 5 busy, 8 congestion, 3 no answer, 1 hung up, 0 no channel). `Context`/`Exten` or
/// `Application`/`Data`, as the request had.
pub fn originate_response(o: &OriginateOutcome<'_>) -> Event {
    let ok = o.status == DialStatus::Answer;
    let reason = match o.status {
        DialStatus::Answer => 4,
        DialStatus::Busy => 5,
        DialStatus::Congestion => 8,
        DialStatus::NoAnswer => 3,
        DialStatus::Cancel => 1,
        DialStatus::ChanUnavail => 0,
    };
    let mut e = Event::new("OriginateResponse", "call");
    if let Some(id) = o.action_id {
        e.message.push("ActionID", id);
    }
    e.message
        .push("Response", if ok { "Success" } else { "Failure" })
        .push("Channel", o.channel);
    match o.target {
        OriginateTarget::Dialplan { context, exten } => {
            e.message.push("Context", context).push("Exten", exten)
        }
        OriginateTarget::Application { name, data } => {
            e.message.push("Application", name).push("Data", data)
        }
    };
    let (num, name) = o.caller_id;
    e.message
        .push("Reason", reason.to_string())
        .push("Uniqueid", o.uniqueid.unwrap_or("<null>"))
        .push(
            "CallerIDNum",
            if num.is_empty() { "<unknown>" } else { num },
        )
        .push(
            "CallerIDName",
            if name.is_empty() { "<unknown>" } else { name },
        );
    e
}

/// Splits an Asterisk CallerID, `"Alert Center" <112>` or `112`, into (number, name).
pub fn split_caller_id(text: &str) -> (&str, &str) {
    let text = text.trim();
    match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let name = text[..open].trim().trim_matches('"').trim();
            (text[open + 1..close].trim(), name)
        }
        _ => (text, ""),
    }
}

/// `FullyBooted`, sent to each client that logs in with system events.
pub fn fully_booted(uptime_secs: u64) -> Event {
    let mut e = Event::new("FullyBooted", "system");
    e.message
        .push("Uptime", uptime_secs.to_string())
        .push("LastReload", uptime_secs.to_string())
        .push("Status", "Fully Booted");
    e
}

/// `Shutdown`: the media core is stopping (`cleanly`: on purpose, calls drained).
pub fn shutdown(cleanly: bool) -> Event {
    let mut e = Event::new("Shutdown", "system");
    e.message
        .push("Shutdown", if cleanly { "Cleanly" } else { "Uncleanly" })
        .push("Restart", "False");
    e
}

/// `UserEvent`: what an application sent with AMI's `UserEvent`, to every client that reads
/// `user` events: `UserEvent: <name>` and the application's other fields, in order.
pub fn user_event(name: &str, fields: &[(String, String)]) -> Event {
    let mut e = Event::new("UserEvent", "user");
    e.message.push("UserEvent", name);
    for (k, v) in fields {
        e.message.push(k, v.clone());
    }
    e
}

/// Allerta's own: this node's role changed (`master` after a takeover or switchover).
/// Named with our prefix so it cannot clash with an Asterisk event.
pub fn role_changed(role: &str, previous: &str) -> Event {
    let mut e = Event::new("AllertaRoleChanged", "system");
    e.message.push("Role", role).push("PreviousRole", previous);
    e
}

/// Q.850 cause texts as Asterisk prints them in `Cause-txt`.
pub fn cause_text(cause: u16) -> &'static str {
    match cause {
        1 => "Unallocated (unassigned) number",
        16 => "Normal Clearing",
        17 => "User busy",
        18 => "No user responding",
        19 => "User alerting, no answer",
        21 => "Call Rejected",
        27 => "Destination out of order",
        34 => "Circuit/channel congestion",
        38 => "Network out of order",
        41 => "Temporary failure",
        102 => "Recovery on timer expiry",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ChannelInfo {
        ChannelInfo {
            name: "PJSIP/trunk-out-00000000".into(),
            state: ("6", "Up"),
            caller: "112".into(),
            context: "from-trunk-out".into(),
            exten: "s".into(),
            uniqueid: "1795312084.0".into(),
            duration_secs: 0,
        }
    }

    fn keys(e: &Event) -> Vec<&str> {
        e.message.fields().iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn dial_end_has_the_reference_fields_in_order() {
        let e = dial_end(&info(), "ANSWER");
        // ../shared/references/ami/04_main_session.txt, the first DialEnd.
        assert_eq!(
            keys(&e),
            [
                "Event",
                "Privilege",
                "DestChannel",
                "DestChannelState",
                "DestChannelStateDesc",
                "DestCallerIDNum",
                "DestCallerIDName",
                "DestConnectedLineNum",
                "DestConnectedLineName",
                "DestLanguage",
                "DestAccountCode",
                "DestContext",
                "DestExten",
                "DestPriority",
                "DestUniqueid",
                "DestLinkedid",
                "DialStatus"
            ]
        );
        assert_eq!(e.class, Classes::named("call").unwrap());
    }

    #[test]
    fn dtmf_end_carries_the_duration_and_the_dtmf_class() {
        let e = dtmf(
            &info(),
            DtmfEvent::End {
                digit: '1',
                duration: std::time::Duration::from_millis(280),
                timed_out: false,
            },
        );
        let tail: Vec<_> = e.message.fields().iter().rev().take(3).cloned().collect();
        assert_eq!(
            tail,
            [
                ("Direction".to_owned(), "Received".to_owned()),
                ("DurationMs".to_owned(), "280".to_owned()),
                ("Digit".to_owned(), "1".to_owned()),
            ]
        );
        assert_eq!(e.message.get("Privilege"), Some("dtmf,all"));
        assert_eq!(e.class, Classes::named("dtmf").unwrap());
    }

    #[test]
    fn originate_responses_match_the_reference_order() {
        let caller_id = split_caller_id("\"Alert Center\" <112>");
        assert_eq!(caller_id, ("112", "Alert Center"));
        let e = originate_response(&OriginateOutcome {
            action_id: Some("orig-sip-1"),
            status: DialStatus::Answer,
            channel: "PJSIP/trunk-out-00000000",
            uniqueid: Some("1795312084.0"),
            target: OriginateTarget::Dialplan {
                context: "alert-outbound",
                exten: "s",
            },
            caller_id,
        });
        let common = |middle: [&'static str; 2]| {
            let mut k = vec!["Event", "Privilege", "ActionID", "Response", "Channel"];
            k.extend(middle);
            k.extend(["Reason", "Uniqueid", "CallerIDNum", "CallerIDName"]);
            k
        };
        assert_eq!(keys(&e), common(["Context", "Exten"]));
        assert_eq!(e.message.get("Reason"), Some("4"));
        assert_eq!(e.message.get("CallerIDName"), Some("Alert Center"));
        let e = originate_response(&OriginateOutcome {
            action_id: Some("orig-local-1"),
            status: DialStatus::Busy,
            channel: "Local/5559876@dial-out-00000000;1",
            uniqueid: None,
            target: OriginateTarget::Application {
                name: "Playback",
                data: "thanks",
            },
            caller_id: split_caller_id("112"),
        });
        assert_eq!(keys(&e), common(["Application", "Data"]));
        assert_eq!(e.message.get("Response"), Some("Failure"));
        assert_eq!(e.message.get("Reason"), Some("5"));
        assert_eq!(e.message.get("Uniqueid"), Some("<null>"));
    }
}
