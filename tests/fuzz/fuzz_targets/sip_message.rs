//! Arbitrary bytes as one SIP datagram, into `mediacore::sip::message` and a fresh
//! `mediacore::sip::endpoint::Endpoint` (the UDP receive path).
//!
//! - `message::parse`; on success `Ids::of` on the headers, then `to_bytes` and `parse`
//!   again: the re-encoded message must parse, with the same start line, body and `Ids`;
//! - the same bytes into `Endpoint::receive` over UDP, twice (the second time is a
//!   retransmission if the first started a transaction). Each new request is answered 200
//!   through `Endpoint::respond`, and the timers are run to well past Timer H/J. Nothing
//!   may panic, and every datagram the endpoint asks to send must parse with
//!   `message::read` (we must be able to read what we write; a 400 to a faulty request may
//!   carry the request's fault in the headers it copies).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mediacore::sip::endpoint::{Endpoint, Output, Peer};
use mediacore::sip::message::{self, Headers, Ids, SipMessage, Transport};

fn start_line(msg: &SipMessage) -> (String, u16) {
    match msg {
        SipMessage::Request(r) => (format!("{} {}", r.method, r.uri), 0),
        SipMessage::Response(r) => (String::new(), r.status_code.code()),
    }
}

fn body(msg: &SipMessage) -> &[u8] {
    match msg {
        SipMessage::Request(r) => &r.body,
        SipMessage::Response(r) => &r.body,
    }
}

fn headers(msg: &SipMessage) -> &Headers {
    match msg {
        SipMessage::Request(r) => &r.headers,
        SipMessage::Response(r) => &r.headers,
    }
}

fn roundtrip(data: &[u8]) {
    let Ok(msg) = message::parse(data) else {
        return;
    };
    let ids = Ids::of(headers(&msg));
    let _ = message::method_of(&msg);
    let bytes = message::to_bytes(&msg);
    let again = message::parse(&bytes).unwrap_or_else(|e| {
        panic!(
            "parse -> to_bytes -> parse failed: {e}; re-encoded {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(start_line(&again), start_line(&msg), "start line changed");
    assert_eq!(body(&again), body(&msg), "body changed");
    if let Ok(ids) = ids {
        assert_eq!(Ids::of(headers(&again)), Ok(ids), "Ids changed");
    }
}

/// Checks and consumes what the endpoint produced; answers new requests with 200. What
/// it sends must parse.
fn drain(endpoint: &mut Endpoint, now: Instant, out: &mut Vec<Output>) {
    // Responding can produce more output; bound the rounds (each round answers requests
    // from the previous one, and responses produce none).
    for _ in 0..4 {
        if out.is_empty() {
            return;
        }
        let mut requests = Vec::new();
        for output in out.drain(..) {
            match output {
                Output::Send { bytes, .. } => {
                    // Readable; a 400 to a faulty request may copy its fault (a broken To).
                    if let Err(e) = message::read(&bytes) {
                        panic!(
                            "the endpoint sent what it cannot parse: {e}; sent {:?}",
                            String::from_utf8_lossy(&bytes)
                        );
                    }
                }
                Output::Request { tx, request, .. } => requests.push((tx, request)),
                _ => {}
            }
        }
        for (tx, request) in requests {
            let response = message::response(&request, 200, Some("fuzz"));
            endpoint.respond(now, tx, &response, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    roundtrip(data);

    let mut endpoint = Endpoint::new(Default::default());
    let peer = Peer {
        addr: "10.0.0.1:5060".parse().unwrap(),
        transport: Transport::Udp,
    };
    let t0 = Instant::now();
    let mut out = Vec::new();
    endpoint.receive(t0, data, peer, &mut out);
    drain(&mut endpoint, t0, &mut out);
    endpoint.receive(t0 + Duration::from_millis(10), data, peer, &mut out);
    drain(&mut endpoint, t0, &mut out);
    // Retransmission timers, then Timer H/J (64 × T1 = 32 s) and beyond.
    for secs in [1, 2, 4, 8, 16, 33, 64] {
        let now = t0 + Duration::from_secs(secs);
        endpoint.on_tick(now, &mut out);
        drain(&mut endpoint, now, &mut out);
    }
});
