//! Pure: what AMI's `PJSIPShowEndpoints` and `PJSIPShowRegistrationsOutbound` and the CLI's
//! `pjsip show endpoints` and `pjsip show registrations` say about our trunks, built from
//! `pjsip.conf` as loaded and the engine's status, with Asterisk 22's event names and field
//! order (`../shared/references/ami/04_main_session.txt`).
//!
//! One deliberate difference: Asterisk follows each registration with an `AuthDetail` event
//! that carries the trunk's password in clear to any user with `system` or `reporting`
//! read; we send none (an AMI reporting user has no business with the carrier's password).

use super::message::{self, Message};
use crate::conf::pjsip::{PjsipConfig, Trunk};
use crate::sip::qualify::Reachability;
use crate::status::{Status, TrunkStatus};

fn with_id(mut m: Message, id: Option<&str>) -> Message {
    if let Some(id) = id {
        m.push("ActionID", id);
    }
    m
}

fn trunk_status<'a>(status: &'a Status, name: &str) -> Option<&'a TrunkStatus> {
    status.trunks.iter().find(|t| t.name == name)
}

/// Asterisk's device state words: a trunk we cannot send to (no contact, no registration)
/// or whose qualify failed is "Unavailable", any other "Not in use" (calls are not counted
/// per trunk).
fn device_state(trunk: &Trunk, status: &Status) -> &'static str {
    let unreachable = trunk_status(status, &trunk.name)
        .and_then(|t| t.reachability)
        .is_some_and(|r| r == Reachability::Unreachable);
    if unreachable || (trunk.contacts.is_empty() && trunk.registration.is_none()) {
        "Unavailable"
    } else {
        "Not in use"
    }
}

/// `PJSIPShowEndpoints`: an `EndpointList` event per trunk.
pub fn endpoints(id: Option<&str>, config: &PjsipConfig, status: &Status) -> Message {
    let items = config
        .trunks()
        .iter()
        .map(|t| {
            let mut e = Message::with("Event", "EndpointList");
            if let Some(id) = id {
                e.push("ActionID", id);
            }
            e.push("ObjectType", "endpoint")
                .push("ObjectName", t.name.clone())
                .push(
                    "Transport",
                    t.transport
                        .as_ref()
                        .map_or(String::new(), |x| x.name.clone()),
                )
                .push("Aor", aors(t))
                .push(
                    "Auths",
                    t.inbound_auth
                        .as_ref()
                        .map_or(String::new(), |a| a.name.clone()),
                )
                .push(
                    "OutboundAuths",
                    t.outbound_auth
                        .as_ref()
                        .map_or(String::new(), |a| a.name.clone()),
                );
            if !t.contacts.is_empty() {
                let contacts: String = t
                    .contacts
                    .iter()
                    .map(|c| format!("{}/{c},", t.name))
                    .collect();
                e.push("Contacts", contacts);
            }
            e.push("DeviceState", device_state(t, status))
                .push("ActiveChannels", "0");
            e
        })
        .collect();
    message::list(
        id,
        "A listing of Endpoints follows, presented as EndpointList events",
        items,
        "EndpointListComplete",
        &[],
    )
}

/// The aor names Asterisk lists: ours are not kept by name, so the trunk's own name when it
/// has contacts (the usual `[trunk] type=aor`).
fn aors(t: &Trunk) -> String {
    if t.contacts.is_empty() {
        String::new()
    } else {
        t.name.clone()
    }
}

/// Asterisk's registration status words.
fn registration_word(status: Option<&TrunkStatus>) -> &'static str {
    match status.map(|s| s.registration.as_str()) {
        Some("registered") => "Registered",
        Some("registering") => "Unregistered",
        Some(s) if s.starts_with("failed") => "Rejected",
        _ => "Unregistered",
    }
}

/// `PJSIPShowRegistrationsOutbound`: an `OutboundRegistrationDetail` event per registration.
pub fn registrations(id: Option<&str>, config: &PjsipConfig, status: &Status) -> Message {
    let (mut registered, mut not) = (0, 0);
    let items: Vec<Message> = config
        .trunks()
        .iter()
        .filter_map(|t| t.registration.as_ref().map(|r| (t, r)))
        .map(|(t, r)| {
            let word = registration_word(trunk_status(status, &t.name));
            if word == "Registered" {
                registered += 1;
            } else {
                not += 1;
            }
            let mut e = with_id(Message::with("Event", "OutboundRegistrationDetail"), id);
            e.push("ObjectType", "registration")
                .push("ObjectName", r.name.clone())
                .push("MaxRetries", r.max_retries.to_string())
                .push("ClientUri", r.client_uri.clone())
                .push("ServerUri", r.server_uri.clone())
                .push("RetryInterval", r.retry_interval.as_secs().to_string())
                .push("Expiration", r.expiration.as_secs().to_string())
                .push(
                    "Transport",
                    t.transport
                        .as_ref()
                        .map_or(String::new(), |x| x.name.clone()),
                )
                .push("Line", if r.line { "true" } else { "false" })
                .push("ContactUser", r.contact_user.clone().unwrap_or_default())
                .push("Endpoint", t.name.clone())
                .push(
                    "ForbiddenRetryInterval",
                    r.forbidden_retry_interval.as_secs().to_string(),
                )
                .push(
                    "OutboundAuth",
                    r.auth.as_ref().map_or(String::new(), |a| a.name.clone()),
                )
                .push(
                    "OutboundProxy",
                    r.outbound_proxy.clone().unwrap_or_default(),
                )
                .push("Status", word);
            e
        })
        .collect();
    message::list(
        id,
        "Following are Events for each Outbound registration",
        items,
        "OutboundRegistrationDetailComplete",
        &[
            ("Registered", registered.to_string()),
            ("NotRegistered", not.to_string()),
        ],
    )
}

/// `pjsip show endpoints`, as lines of CLI output.
pub fn endpoints_text(config: &PjsipConfig, status: &Status) -> Vec<String> {
    let mut out = vec![
        String::new(),
        " Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>"
            .into(),
        "==========================================================================================".into(),
        String::new(),
    ];
    for t in config.trunks() {
        out.push(format!(
            " Endpoint:  {:<53}  {:<12}  0 of inf",
            t.name,
            device_state(t, status)
        ));
        for c in &t.contacts {
            out.push(format!("    Contact:  {}/{c}", t.name));
        }
    }
    out.push(String::new());
    out.push(format!("Objects found: {}", config.trunks().len()));
    out
}

/// `pjsip show registrations`, as lines of CLI output.
pub fn registrations_text(config: &PjsipConfig, status: &Status) -> Vec<String> {
    let mut out = vec![
        String::new(),
        " <Registration/ServerURI..............................>  <Auth....................>  <Status.......>".into(),
        "==========================================================================================".into(),
        String::new(),
    ];
    let mut n = 0;
    for t in config.trunks() {
        let Some(r) = &t.registration else { continue };
        n += 1;
        out.push(format!(
            " {:<56}  {:<26}  {}",
            format!("{}/{}", r.name, r.server_uri),
            r.auth.as_ref().map_or("n/a", |a| a.name.as_str()),
            registration_word(trunk_status(status, &t.name))
        ));
    }
    out.push(String::new());
    out.push(format!("Objects found: {n}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::TrunkStatus;

    const PJSIP: &str = "[transport-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n\
        [trunk-in]\ntype=endpoint\ncontext=from-carrier\nallow=ulaw\n\
        [trunk-in-ip]\ntype=identify\nendpoint=trunk-in\nmatch=10.0.0.0/8\n\
        [trunk-out-auth]\ntype=auth\nauth_type=userpass\nusername=alertnode1\npassword=trunkpass\n\
        [trunk-out]\ntype=aor\ncontact=sip:127.0.0.1:5080\n\
        [trunk-out]\ntype=endpoint\ncontext=from-carrier\nallow=ulaw\naors=trunk-out\noutbound_auth=trunk-out-auth\n\
        [trunk-out-reg]\ntype=registration\nserver_uri=sip:127.0.0.1:5081\nclient_uri=sip:alertnode1@127.0.0.1:5081\noutbound_auth=trunk-out-auth\nendpoint=trunk-out\n";

    fn wire(m: &Message) -> String {
        let mut out = Vec::new();
        m.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn setup() -> (PjsipConfig, Status) {
        let config = PjsipConfig::parse_str(PJSIP, "pjsip.conf").expect("pjsip");
        let status = Status {
            trunks: vec![TrunkStatus {
                name: "trunk-out".into(),
                registration: "registered".into(),
                registered: true,
                reachability: None,
                rtt_ms: None,
            }],
            ..Status::default()
        };
        (config, status)
    }

    #[test]
    fn endpoints_are_listed_as_asterisk_lists_them() {
        let (config, status) = setup();
        let text = wire(&endpoints(Some("eps-1"), &config, &status));
        for line in [
            "Response: Success\r\nActionID: eps-1\r\nEventList: start\r\n",
            "Event: EndpointList\r\nActionID: eps-1\r\nObjectType: endpoint\r\nObjectName: trunk-in\r\n",
            "ObjectName: trunk-out\r\nTransport: transport-udp\r\nAor: trunk-out\r\nAuths: \r\nOutboundAuths: trunk-out-auth\r\nContacts: trunk-out/sip:127.0.0.1:5080,\r\nDeviceState: Not in use\r\n",
            "Event: EndpointListComplete\r\nActionID: eps-1\r\nEventList: Complete\r\nListItems: 2\r\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }

    #[test]
    fn registrations_are_listed_without_the_password() {
        let (config, status) = setup();
        let text = wire(&registrations(Some("regs-1"), &config, &status));
        for line in [
            "Event: OutboundRegistrationDetail\r\nActionID: regs-1\r\nObjectType: registration\r\nObjectName: trunk-out-reg\r\n",
            "ClientUri: sip:alertnode1@127.0.0.1:5081\r\n",
            "ServerUri: sip:127.0.0.1:5081\r\n",
            "OutboundAuth: trunk-out-auth\r\n",
            "Status: Registered\r\n",
            "ListItems: 1\r\nRegistered: 1\r\nNotRegistered: 0\r\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
        assert!(!text.contains("trunkpass"), "{text}");
        let cli = registrations_text(&config, &status).join("\n");
        assert!(cli.contains("trunk-out-reg/sip:127.0.0.1:5081"), "{cli}");
        assert!(
            cli.contains("Registered") && cli.contains("Objects found: 1"),
            "{cli}"
        );
    }
}
