//! RFC 4475, the SIP torture test messages: what the media core does with each, as a UAS
//! receiving it over UDP from a carrier's identified address. The messages are
//! `scenarios/rfc4475/<tag>.dat`, what the RFC asks is `scenarios/rfc4475/EXPECT.md`. The
//! pure test (`tests/rfc4475.rs`) runs them through the endpoint and the switch, the lab test
//! (`mediacore_lab`) sends them to a running node.
//!
//! Where the RFC leaves the choice to the receiver we take the stricter one and say so:
//! `lwsstart`, `escruri`, `badaspec`, `baddn` and `regbadct` are answered 400; `trws` (trailing
//! white space on the request line) is accepted; `mismatch02` is answered 400 (the CSeq method
//! differs; 501 would also do); REGISTER, MESSAGE and the other methods we do not serve are
//! answered 405 (we are no registrar).

use std::path::PathBuf;

/// What the node does with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The INVITE is taken: a call starts (100 Trying; its final answer is the dialplan's).
    Call,
    /// Answered with this status code, and nothing else happens.
    Answer(u16),
    /// Nothing: no answer, no call (a response for no transaction, or junk).
    Silent,
}
use Outcome::{Answer, Call, Silent};

/// The message file of `tag`.
pub fn message_path(tag: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/rfc4475")
        .join(format!("{tag}.dat"))
}

/// The bytes of `tag`'s message.
pub fn message(tag: &str) -> Vec<u8> {
    let path = message_path(tag);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The outcome the media core gives `tag`'s message.
pub fn expected(tag: &str) -> Outcome {
    CASES
        .iter()
        .find(|(t, _, _)| *t == tag)
        .map(|(_, o, _)| *o)
        .unwrap_or_else(|| panic!("no RFC 4475 message {tag}"))
}

/// Every message: its tag, what the node does with it, and why.
pub const CASES: &[(&str, Outcome, &str)] = &[
    // §3.1.1: valid messages, which a parser must accept.
    (
        "wsinv",
        Answer(481),
        "Folded lines, compact and oddly spaced names, unknown headers. Its To has a tag: a request in a dialog we do not have, 481.",
    ),
    (
        "intmeth",
        Answer(501),
        "An extension method: 501 with Allow.",
    ),
    (
        "esc01",
        Call,
        "Escaped characters in URIs: a call.",
    ),
    (
        "escnull",
        Answer(405),
        "Escaped NULs in a REGISTER: read, and REGISTER is not ours (405).",
    ),
    (
        "esc02",
        Answer(501),
        "`RE%47IST%45R` is not REGISTER: an extension method, 501.",
    ),
    (
        "lwsdisp",
        Answer(200),
        "No white space between display name and `<`: OPTIONS answered 200.",
    ),
    (
        "longreq",
        Call,
        "Very long values everywhere: a call.",
    ),
    (
        "dblreq",
        Answer(405),
        "A REGISTER followed by junk in the same datagram: the REGISTER alone is answered.",
    ),
    (
        "semiuri",
        Answer(200),
        "A `;` in the Request-URI's user part: 200.",
    ),
    (
        "transports",
        Answer(200),
        "Unknown transports in lower Vias: 200.",
    ),
    (
        "mpart01",
        Answer(405),
        "A multipart MESSAGE with binary content: read; MESSAGE is not ours (405).",
    ),
    (
        "unreason",
        Silent,
        "A response with a UTF-8 reason phrase, for no transaction of ours: nothing.",
    ),
    (
        "noreason",
        Silent,
        "A response with an empty reason phrase, for no transaction of ours: nothing.",
    ),
    // §3.1.2: invalid messages.
    (
        "badinv01",
        Answer(400),
        "Empty Via and Contact parameters: 400.",
    ),
    (
        "clerr",
        Answer(400),
        "Content-Length larger than the datagram: 400.",
    ),
    (
        "ncl",
        Answer(400),
        "Negative Content-Length: 400.",
    ),
    (
        "scalar02",
        Answer(400),
        "CSeq past 2^32, Max-Forwards 300, huge expiries: 400.",
    ),
    (
        "scalarlg",
        Silent,
        "A response with overlarge numbers: dropped.",
    ),
    (
        "quotbal",
        Answer(400),
        "An unterminated quoted string: 400.",
    ),
    (
        "ltgtruri",
        Answer(400),
        "A Request-URI in `<>`: 400.",
    ),
    (
        "lwsruri",
        Answer(400),
        "White space inside the Request-URI: 400.",
    ),
    (
        "lwsstart",
        Answer(400),
        "Two SPs between the request line's elements: 400 (the RFC allows either).",
    ),
    (
        "trws",
        Answer(200),
        "White space after `SIP/2.0`: accepted (the RFC allows either), OPTIONS answered 200.",
    ),
    (
        "escruri",
        Answer(400),
        "Headers in the Request-URI: 400 (the RFC allows either).",
    ),
    (
        "baddate",
        Call,
        "A Date in a time zone other than GMT: the Date does not matter to us, a call.",
    ),
    (
        "regbadct",
        Answer(400),
        "A Contact with `?` outside `<>`: 400.",
    ),
    (
        "badaspec",
        Answer(400),
        "White space inside `<>`: 400.",
    ),
    (
        "baddn",
        Answer(400),
        "A display name with a comma, unquoted: 400.",
    ),
    (
        "badvers",
        Answer(505),
        "SIP/7.0: 505.",
    ),
    (
        "mismatch01",
        Answer(400),
        "CSeq method differs from the request's: 400.",
    ),
    (
        "mismatch02",
        Answer(400),
        "An extension method whose CSeq says INVITE: 400 (501 would also do).",
    ),
    (
        "bigcode",
        Silent,
        "A status code past 32 bits: dropped.",
    ),
    // §3.2: transaction layer.
    (
        "badbranch",
        Answer(200),
        "A branch that is only the magic cookie: answered as any OPTIONS, 200.",
    ),
    // §3.3: application layer.
    (
        "insuf",
        Answer(400),
        "No Call-ID, From or To: 400.",
    ),
    (
        "unkscm",
        Answer(416),
        "An unknown Request-URI scheme: 416.",
    ),
    (
        "novelsc",
        Answer(416),
        "A known but unusable scheme: 416.",
    ),
    (
        "unksm2",
        Answer(405),
        "Unknown schemes in To, From and Contact of a REGISTER: 405.",
    ),
    (
        "bext01",
        Answer(420),
        "An unknown Require: 420 with Unsupported.",
    ),
    (
        "invut",
        Answer(415),
        "An unknown body type: 415 with Accept.",
    ),
    (
        "regaut01",
        Answer(405),
        "An unknown authorization scheme in a REGISTER: 405.",
    ),
    (
        "multi01",
        Answer(400),
        "Two each of Call-ID, To, From, Max-Forwards and CSeq: 400.",
    ),
    (
        "mcl01",
        Answer(400),
        "Two Content-Length headers: 400.",
    ),
    (
        "bcast",
        Silent,
        "A response with a broadcast Via: dropped.",
    ),
    (
        "zeromf",
        Answer(200),
        "Max-Forwards 0 at the endpoint it is for: 200.",
    ),
    (
        "cparam01",
        Answer(405),
        "A REGISTER with a contact parameter: 405.",
    ),
    (
        "cparam02",
        Answer(405),
        "A REGISTER with a URI parameter: 405.",
    ),
    (
        "regescrt",
        Answer(405),
        "A REGISTER with an escaped header in its Contact: 405.",
    ),
    (
        "sdp01",
        Answer(406),
        "An INVITE whose sender accepts no SDP answer: 406.",
    ),
    // §3.4: backward compatibility.
    (
        "inv2543",
        Call,
        "An RFC 2543 INVITE (no branch, no From tag, no Contact): a call.",
    ),
];
