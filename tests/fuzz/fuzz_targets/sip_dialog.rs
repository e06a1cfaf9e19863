//! Arbitrary SIP messages into dialogs (`mediacore::sip::dialog::Dialog`): the input is cut
//! at each NUL byte; the first part is a peer's INVITE (we answer it: `as_uas`) or the peer's
//! 2xx to an INVITE of ours (`as_uac`), the others are in-dialog requests from the peer
//! (`on_request`). Whatever the peer sent, every request the dialog builds (BYE, re-INVITE,
//! OPTIONS, the ACK) must be one we can read back with `message::parse`, with the same
//! Call-ID and tags: a peer's Contact or Record-Route must not break what we send.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediacore::sip::dialog::Dialog;
use mediacore::sip::message::{self, Ids, Method, NewRequest, SipMessage, Transport};

fn check(dialog: &mut Dialog) {
    let id = dialog.id.clone();
    for method in [Method::Bye, Method::Invite, Method::Options] {
        if let Ok(request) = dialog.request(method) {
            let bytes = message::to_bytes(&SipMessage::Request(request));
            let again = message::parse(&bytes).unwrap_or_else(|e| {
                panic!(
                    "we built what we cannot read: {e}: {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            let SipMessage::Request(again) = again else {
                panic!("a request became a response")
            };
            let ids = Ids::of(&again.headers).expect("our own request has its ids");
            assert_eq!(ids.call_id, id.call_id);
            assert_eq!(ids.from_tag, id.local_tag);
        }
    }
    if let Ok(ack) = dialog.ack(1) {
        message::parse(&message::to_bytes(&SipMessage::Request(ack))).expect("our ACK reads back");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let Some(first) = parts.next() else {
        return;
    };
    let mut dialog = match message::parse(first) {
        Ok(SipMessage::Request(invite)) => {
            match Dialog::as_uas(&invite, "ourtag", "192.0.2.11:5060", Transport::Udp) {
                Ok(d) => d,
                Err(_) => return,
            }
        }
        Ok(SipMessage::Response(response)) => {
            let ours = NewRequest {
                method: Method::Invite,
                uri: "sip:100@192.0.2.1",
                sent_by: "192.0.2.11:5060",
                transport: Transport::Udp,
                from: "<sip:alerta@192.0.2.11>",
                from_tag: "ourtag",
                to: "<sip:100@192.0.2.1>",
                call_id: "fuzz-call",
                cseq: 1,
                contact: Some("<sip:alerta@192.0.2.11:5060>"),
            }
            .build()
            .expect("our INVITE");
            match Dialog::as_uac(&ours, &response, Transport::Udp) {
                Ok(d) => d,
                Err(_) => return,
            }
        }
        Err(_) => return,
    };
    check(&mut dialog);
    for part in parts.take(8) {
        if let Ok(SipMessage::Request(r)) = message::parse(part) {
            let _ = dialog.on_request(&r);
            check(&mut dialog);
        }
    }
});
