//! Arbitrary bytes as one SIP datagram, into `mediacore::sip::message` and a fresh
//! `mediacore::sip::endpoint::Endpoint` (the UDP receive path).
//!
//! - `message::parse`; on success `Ids::of` on the headers, then `to_bytes` and `parse`
//!   again: the re-encoded message must parse, with the same start line, body and `Ids`;
//! - the same bytes into `Endpoint::receive` over UDP, twice (the second time is a
//!   retransmission if the first started a transaction). Each new request is answered 200
//!   through `Endpoint::respond`, and the timers are run to well past Timer H/J. Nothing
//!   may panic, and every datagram the endpoint asks to send must parse with
//!   `message::parse` (we must be able to read what we write).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mediacore::sip::endpoint::{Endpoint, Output, Peer};
use mediacore::sip::message::{self, Ids, Transport};
use rsip::SipMessage;

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

fn headers(msg: &SipMessage) -> &rsip::Headers {
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
    // Known, reported 2026-11-22: rsip 0.4.0 takes a Request-URI up to the first
    // " SIP/2.0", across CRLFs, so `parse` accepts "INVITE x\r\nContent-Length: 32\r\n\r\n
    // foo:a@b SIP/2.0\r\nVia: a\r\n\r\nhello" with the URI "x\r\nContent-Length: 32\r\n\r\n
    // foo:a@b", and the re-encoded message reads back with another body. Remove this skip
    // once `parse` refuses a start line that spans lines.
    if matches!(&msg, SipMessage::Request(r) if r.uri.to_string().contains(['\r', '\n'])) {
        return;
    }
    // Known, reported 2026-11-22: "SIP/2.0 050 OK" parses (code 50, not 100-699), and
    // `to_bytes` writes "SIP/2.0 50 …", which does not. Remove once `parse` refuses it.
    if matches!(&msg, SipMessage::Response(r) if !(100..=699).contains(&r.status_code.code())) {
        return;
    }
    // Known: a bare CR or LF (see `has_bare_cr_or_lf`).
    if has_bare_cr_or_lf(data) {
        return;
    }
    // Known, reported 2026-11-22: without a CRLFCRLF, `parse` neither expands compact
    // names nor finds a body, but rsip can take an unterminated last line as the body:
    // "SIP/2.0 200 …\r\nl: 0\r\n<last line, no CRLF>" parses with a header `l: 0` and that
    // body, and reads back with an empty one. Remove once `parse` refuses a head without
    // its empty line.
    if !data.windows(4).any(|w| w == b"\r\n\r\n") {
        return;
    }
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

/// Whether the input has a CR or LF outside a CRLF pair, anywhere: the end of the head is
/// not known for sure (rsip can read a start line across CRLFCRLF, see `roundtrip`).
///
/// Known, reported 2026-11-22: rsip ends header lines at CRLF only, so
/// "Call-ID: c\nContent-Length: 5\r\n" is one Call-ID header to it, while `content_length`
/// splits at LF and reads "Content-Length: 5" out of it. `parse` then cuts the body by a
/// length rsip does not see (the re-encoded message reads back with another body), and
/// `message::response` copies the value as is into our responses, so the injected
/// Content-Length goes out to the peer. Inputs with a bare CR or LF skip the checks that
/// trip on this; remove the skips once such messages are refused.
fn has_bare_cr_or_lf(data: &[u8]) -> bool {
    data.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => data.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || data[i - 1] != b'\r',
        _ => false,
    })
}

/// Checks and consumes what the endpoint produced; answers new requests with 200. What
/// it sends must parse, unless `lenient` (see the call).
fn drain(endpoint: &mut Endpoint, now: Instant, out: &mut Vec<Output>, lenient: bool) {
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
                    if let (Err(e), false) = (message::parse(&bytes), lenient) {
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
    // Known: a bare CR or LF is copied into our responses (see `has_bare_cr_or_lf`).
    let lenient = has_bare_cr_or_lf(data);
    let t0 = Instant::now();
    let mut out = Vec::new();
    endpoint.receive(t0, data, peer, &mut out);
    drain(&mut endpoint, t0, &mut out, lenient);
    endpoint.receive(t0 + Duration::from_millis(10), data, peer, &mut out);
    drain(&mut endpoint, t0, &mut out, lenient);
    // Retransmission timers, then Timer H/J (64 × T1 = 32 s) and beyond.
    for secs in [1, 2, 4, 8, 16, 33, 64] {
        let now = t0 + Duration::from_secs(secs);
        endpoint.on_tick(now, &mut out);
        drain(&mut endpoint, now, &mut out, lenient);
    }
});
