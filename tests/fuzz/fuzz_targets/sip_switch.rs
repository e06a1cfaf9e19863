//! Arbitrary bytes as a SIP message from a peer that no trunk identifies, into what the media
//! core decides before any call exists (`mediacore::sip::switch::Switch`: digest
//! authentication with its nonces and lockout) and into an outbound registration
//! (`mediacore::sip::registration::Registration::on_response`, the registrar's answer with its
//! Expires, Min-Expires and challenges).
//!
//! The first byte picks the peer address (so lockouts and nonces meet several); the message
//! is offered to the switch three times (a replay), then, with a valid challenge's nonce
//! spliced in place of `NONCE`, again; a response goes to a registration that has a REGISTER
//! in flight. Nothing may panic, and the switch's memory of unproven peers stays bounded.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mediacore::conf::pjsip::PjsipConfig;
use mediacore::sip::message::{self, SipMessage, Transport};
use mediacore::sip::registration::{Action, Config, Registration};
use mediacore::sip::switch::{Decision, Switch};

const PJSIP: &str = "[carrier]\ntype=endpoint\ncontext=from-carrier\nallow=ulaw\n\
[carrier-ip]\ntype=identify\nendpoint=carrier\nmatch=198.51.100.0/24\n\
[pbx]\ntype=endpoint\ncontext=from-pbx\nallow=ulaw\nauth=pbx-auth\n\
[pbx-auth]\ntype=auth\nauth_type=userpass\nusername=pbx\npassword=s3cret\n";

fuzz_target!(|data: &[u8]| {
    let Some((&who, rest)) = data.split_first() else {
        return;
    };
    let trunks = PjsipConfig::parse_str(PJSIP, "pjsip.conf")
        .expect("a valid pjsip.conf")
        .trunks()
        .to_vec();
    let peer = std::net::IpAddr::from([203, 0, 113, who % 8]);
    let t0 = Instant::now();
    let mut switch = Switch::new(10, t0);
    let Ok(msg) = message::parse(rest) else {
        return;
    };
    match msg {
        SipMessage::Request(request) => {
            let mut nonce = None;
            for i in 0..3 {
                let now = t0 + Duration::from_millis(i);
                let d = switch.request(now, &request, peer, trunks.iter(), i as usize);
                if let Decision::Respond(r) = &d {
                    if let Some(h) = message::header(&r.headers, "WWW-Authenticate") {
                        nonce = mediacore::sip::digest::Challenge::parse(h)
                            .ok()
                            .map(|c| c.nonce);
                    }
                }
            }
            // The same request carrying a real nonce, where the input says NONCE.
            if let Some(nonce) = nonce {
                let text = String::from_utf8_lossy(rest).replace("NONCE", &nonce);
                if let Ok(SipMessage::Request(r)) = message::parse(text.as_bytes()) {
                    for later in [0, 61] {
                        let now = t0 + Duration::from_secs(later);
                        let _ = switch.request(now, &r, peer, trunks.iter(), 0);
                    }
                }
            }
            let (spent, guessers) = switch.remembered();
            assert!(spent <= 8 && guessers <= 8, "{spent} {guessers}");
        }
        SipMessage::Response(response) => {
            let mut reg = Registration::new(
                Config {
                    trunk: "out".into(),
                    server_uri: "sip:192.0.2.1".into(),
                    client_uri: "sip:alerta@192.0.2.1".into(),
                    contact: "<sip:alerta@192.0.2.11:5060>".into(),
                    sent_by: "192.0.2.11:5060".into(),
                    transport: Transport::Udp,
                    expires: Duration::from_secs(3600),
                    retry_interval: Duration::from_secs(60),
                    forbidden_retry_interval: Duration::ZERO,
                    credentials: Some(("alerta".into(), "s3cret".into())),
                },
                t0,
            );
            let mut out = Vec::new();
            reg.on_tick(t0, &mut out);
            for _ in 0..3 {
                reg.on_response(&response, t0, &mut out);
                // What it sends must be readable.
                for a in out.drain(..) {
                    if let Action::Send(r) = a {
                        let bytes = message::to_bytes(&SipMessage::Request(*r));
                        message::parse(&bytes).expect("a REGISTER we can read back");
                    }
                }
                if let Some(at) = reg.next_deadline() {
                    reg.on_tick(at, &mut out);
                }
            }
        }
    }
});
