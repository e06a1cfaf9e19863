//! RFC 4475, the SIP torture test messages: each one, as the RFC gives it
//! (`scenarios/rfc4475/<tag>.dat`, what the RFC asks in `EXPECT.md`), through the media
//! core's receive path as a UDP datagram from a carrier's identified address: the endpoint
//! (`mediacore::sip::endpoint`) and then the switch (`mediacore::sip::switch`), which is what
//! the node does with a datagram before a call starts. One test per message.
//!
//! Where the RFC leaves the choice to the receiver we take the stricter one and say so:
//! `lwsstart`, `escruri`, `badaspec`, `baddn` and `regbadct` are answered 400; `trws` (trailing
//! white space on the request line) is accepted; `mismatch02` is answered 400 (the CSeq method
//! differs; 501 would also do); REGISTER, MESSAGE and the other methods we do not serve are
//! answered 405 (we are no registrar). The lab test `sip_lab` sends them all to a running node.

use std::path::Path;
use std::time::Instant;

use mediacore::conf::pjsip::{PjsipConfig, Trunk};
use mediacore::sip::endpoint::{Endpoint, Output, Peer};
use mediacore::sip::message::{self, SipMessage, TopVia, Transport};
use mediacore::sip::switch::{Decision, Switch};

/// What the node does with one message.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The INVITE is taken: a call starts (its final answer is the dialplan's).
    Call,
    /// Answered with this status code, and nothing else happens.
    Answer(u16),
    /// Nothing: no answer, no call (a response for no transaction, or junk).
    Silent,
}
use Outcome::*;

const CARRIER: &str = "[carrier]\ntype=endpoint\ncontext=from-carrier\nallow=ulaw\n\
    [carrier-ip]\ntype=identify\nendpoint=carrier\nmatch=198.51.100.0/24\n";

fn handle(tag: &str) -> Outcome {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/rfc4475")
        .join(format!("{tag}.dat"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pjsip = PjsipConfig::parse_str(CARRIER, "pjsip.conf").expect("pjsip");
    let trunks: Vec<&Trunk> = pjsip.trunks().iter().collect();
    let now = Instant::now();
    let mut endpoint = Endpoint::new(Default::default());
    let mut switch = Switch::new(10, now);
    let peer = Peer {
        addr: "198.51.100.7:5060".parse().unwrap(),
        transport: Transport::Udp,
    };
    let mut out = Vec::new();
    endpoint.receive(now, &bytes, peer, &mut out);
    let mut outcomes = Vec::new();
    for output in out {
        match output {
            Output::Send { bytes: answer, .. } => outcomes.push(answered(&bytes, &answer)),
            Output::Request { request, .. } => {
                let decision =
                    switch.request(now, &request, peer.addr.ip(), trunks.iter().copied(), 0);
                outcomes.push(match decision {
                    Decision::Call { .. } => Call,
                    Decision::Respond(r) | Decision::Refuse { response: r, .. } => {
                        let answer = message::to_bytes(&SipMessage::Response(r));
                        answered(&bytes, &answer)
                    }
                    Decision::Drop => Silent,
                    // A request in a dialog we do not have: the engine answers 481.
                    Decision::InDialog(_) => Answer(481),
                });
            }
            // A 2xx for no transaction: the engine looks for its dialog, finds none, drops it.
            Output::StrayResponse { .. } => {}
            other => panic!("{tag}: unexpected {other:?}"),
        }
    }
    match outcomes.len() {
        0 => Silent,
        1 => outcomes.remove(0),
        _ => panic!("{tag}: more than one outcome: {outcomes:?}"),
    }
}

/// The code of an answer to `request`, after checking that we can read what we wrote and that
/// it goes back along the request's top Via (RFC 3261 §8.2.6: Via copied).
fn answered(request: &[u8], answer: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(answer);
    let parsed =
        message::read(answer).unwrap_or_else(|e| panic!("our answer is unreadable: {e}\n{text}"));
    let SipMessage::Response(response) = parsed.message else {
        panic!("an answer that is not a response:\n{text}");
    };
    let via_of = |headers: &message::Headers| message::header(headers, "Via").map(str::to_owned);
    let request = message::read(request).expect("the request read").message;
    let sent_via = via_of(request.headers());
    assert_eq!(
        via_of(&response.headers),
        sent_via,
        "the answer's Via:\n{text}"
    );
    if let Some(via) = &sent_via {
        if TopVia::of(via).is_ok() {
            assert!(TopVia::of(via_of(&response.headers).as_deref().unwrap()).is_ok());
        }
    }
    Answer(response.status_code.code())
}

macro_rules! rfc4475 {
    ($($(#[$doc:meta])* $tag:ident => $want:expr,)*) => {
        $(
            $(#[$doc])*
            #[test]
            fn $tag() {
                assert_eq!(handle(stringify!($tag)), $want, "{}", stringify!($tag));
            }
        )*
    };
}

rfc4475! {
    // §3.1.1: valid messages, which a parser must accept.
    /// Folded lines, compact and oddly spaced names, unknown headers. Its To has a tag: a
    /// request in a dialog we do not have, 481.
    wsinv => Answer(481),
    /// An extension method: 501 with Allow.
    intmeth => Answer(501),
    /// Escaped characters in URIs: a call.
    esc01 => Call,
    /// Escaped NULs in a REGISTER: read, and REGISTER is not ours (405).
    escnull => Answer(405),
    /// `RE%47IST%45R` is not REGISTER: an extension method, 501.
    esc02 => Answer(501),
    /// No white space between display name and `<`: OPTIONS answered 200.
    lwsdisp => Answer(200),
    /// Very long values everywhere: a call.
    longreq => Call,
    /// A REGISTER followed by junk in the same datagram: the REGISTER alone is answered.
    dblreq => Answer(405),
    /// A `;` in the Request-URI's user part: 200.
    semiuri => Answer(200),
    /// Unknown transports in lower Vias: 200.
    transports => Answer(200),
    /// A multipart MESSAGE with binary content: read; MESSAGE is not ours (405).
    mpart01 => Answer(405),
    /// A response with a UTF-8 reason phrase, for no transaction of ours: nothing.
    unreason => Silent,
    /// A response with an empty reason phrase, for no transaction of ours: nothing.
    noreason => Silent,

    // §3.1.2: invalid messages.
    /// Empty Via and Contact parameters: 400.
    badinv01 => Answer(400),
    /// Content-Length larger than the datagram: 400.
    clerr => Answer(400),
    /// Negative Content-Length: 400.
    ncl => Answer(400),
    /// CSeq past 2^32, Max-Forwards 300, huge expiries: 400.
    scalar02 => Answer(400),
    /// A response with overlarge numbers: dropped.
    scalarlg => Silent,
    /// An unterminated quoted string: 400.
    quotbal => Answer(400),
    /// A Request-URI in `<>`: 400.
    ltgtruri => Answer(400),
    /// White space inside the Request-URI: 400.
    lwsruri => Answer(400),
    /// Two SPs between the request line's elements: 400 (the RFC allows either).
    lwsstart => Answer(400),
    /// White space after `SIP/2.0`: accepted (the RFC allows either), OPTIONS answered 200.
    trws => Answer(200),
    /// Headers in the Request-URI: 400 (the RFC allows either).
    escruri => Answer(400),
    /// A Date in a time zone other than GMT: the Date does not matter to us, a call.
    baddate => Call,
    /// A Contact with `?` outside `<>`: 400.
    regbadct => Answer(400),
    /// White space inside `<>`: 400.
    badaspec => Answer(400),
    /// A display name with a comma, unquoted: 400.
    baddn => Answer(400),
    /// SIP/7.0: 505.
    badvers => Answer(505),
    /// CSeq method differs from the request's: 400.
    mismatch01 => Answer(400),
    /// An extension method whose CSeq says INVITE: 400 (501 would also do).
    mismatch02 => Answer(400),
    /// A status code past 32 bits: dropped.
    bigcode => Silent,

    // §3.2: transaction layer.
    /// A branch that is only the magic cookie: answered as any OPTIONS, 200.
    badbranch => Answer(200),

    // §3.3: application layer.
    /// No Call-ID, From or To: 400.
    insuf => Answer(400),
    /// An unknown Request-URI scheme: 416.
    unkscm => Answer(416),
    /// A known but unusable scheme: 416.
    novelsc => Answer(416),
    /// Unknown schemes in To, From and Contact of a REGISTER: 405.
    unksm2 => Answer(405),
    /// An unknown Require: 420 with Unsupported.
    bext01 => Answer(420),
    /// An unknown body type: 415 with Accept.
    invut => Answer(415),
    /// An unknown authorization scheme in a REGISTER: 405.
    regaut01 => Answer(405),
    /// Two each of Call-ID, To, From, Max-Forwards and CSeq: 400.
    multi01 => Answer(400),
    /// Two Content-Length headers: 400.
    mcl01 => Answer(400),
    /// A response with a broadcast Via: dropped.
    bcast => Silent,
    /// Max-Forwards 0 at the endpoint it is for: 200.
    zeromf => Answer(200),
    /// A REGISTER with a contact parameter: 405.
    cparam01 => Answer(405),
    /// A REGISTER with a URI parameter: 405.
    cparam02 => Answer(405),
    /// A REGISTER with an escaped header in its Contact: 405.
    regescrt => Answer(405),
    /// An INVITE whose sender accepts no SDP answer: 406.
    sdp01 => Answer(406),

    // §3.4: backward compatibility.
    /// An RFC 2543 INVITE (no branch, no From tag, no Contact): a call.
    inv2543 => Call,
}

/// The unknown Require tags are listed back, and an unknown method is answered with what we
/// allow: the headers the RFC asks for, not only the code.
#[test]
fn answers_carry_the_headers_the_rfc_asks_for() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rfc4475");
    let pjsip = PjsipConfig::parse_str(CARRIER, "pjsip.conf").unwrap();
    let trunks: Vec<&Trunk> = pjsip.trunks().iter().collect();
    let now = Instant::now();
    let peer_ip = "198.51.100.7".parse().unwrap();
    let mut switch = Switch::new(10, now);
    for (tag, name, value) in [
        (
            "bext01",
            "Unsupported",
            "nothingSupportsThis, nothingSupportsThisEither",
        ),
        ("intmeth", "Allow", message::ALLOW),
        ("invut", "Accept", "application/sdp"),
    ] {
        let bytes = std::fs::read(dir.join(format!("{tag}.dat"))).unwrap();
        let request = message::parse(&bytes).unwrap().try_into().unwrap();
        let Decision::Respond(response) =
            switch.request(now, &request, peer_ip, trunks.iter().copied(), 0)
        else {
            panic!("{tag}: not answered");
        };
        assert_eq!(
            message::header(&response.headers, name),
            Some(value),
            "{tag}"
        );
    }
}
