//! RFC 4475, the SIP torture test messages: each one, as the RFC gives it
//! (`scenarios/rfc4475/<tag>.dat`, what the RFC asks in `EXPECT.md`), through the media
//! core's receive path as a UDP datagram from a carrier's identified address: the endpoint
//! (`mediacore::sip::endpoint`) and then the switch (`mediacore::sip::switch`), which is what
//! the node does with a datagram before a call starts. One test per message.
//! What each should get, and why, is `system_tests::rfc4475::CASES`; the lab test
//! `mediacore_lab` sends them all to a running node.

use std::time::Instant;

use mediacore::conf::pjsip::{PjsipConfig, Trunk};
use mediacore::sip::endpoint::{Endpoint, Output, Peer};
use mediacore::sip::message::{self, SipMessage, TopVia, Transport};
use mediacore::sip::switch::{Decision, Switch};

use system_tests::rfc4475::{self, Outcome, Outcome::*};

const CARRIER: &str = "[carrier]\ntype=endpoint\ncontext=from-carrier\nallow=ulaw\n\
    [carrier-ip]\ntype=identify\nendpoint=carrier\nmatch=198.51.100.0/24\n";

fn handle(tag: &str) -> Outcome {
    let bytes = rfc4475::message(tag);
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
    ($($tag:ident)*) => {
        $(
            #[test]
            fn $tag() {
                let tag = stringify!($tag);
                assert_eq!(handle(tag), rfc4475::expected(tag), "{tag}");
            }
        )*
        /// Every message has its test.
        #[test]
        fn every_message_of_the_rfc_has_a_test() {
            let tested = [$(stringify!($tag)),*];
            for (tag, _, _) in rfc4475::CASES {
                assert!(tested.contains(tag), "{tag} has no test");
                assert!(rfc4475::message_path(tag).exists(), "{tag}.dat");
            }
            assert_eq!(tested.len(), rfc4475::CASES.len());
        }
    };
}

rfc4475! {
    wsinv intmeth esc01 escnull esc02 lwsdisp longreq dblreq semiuri transports mpart01
    unreason noreason badinv01 clerr ncl scalar02 scalarlg quotbal ltgtruri lwsruri lwsstart
    trws escruri baddate regbadct badaspec baddn badvers mismatch01 mismatch02 bigcode
    badbranch insuf unkscm novelsc unksm2 bext01 invut regaut01 multi01 mcl01 bcast zeromf
    cparam01 cparam02 regescrt sdp01 inv2543
}

/// The unknown Require tags are listed back, and an unknown method is answered with what we
/// allow: the headers the RFC asks for, not only the code.
#[test]
fn answers_carry_the_headers_the_rfc_asks_for() {
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
        let bytes = rfc4475::message(tag);
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
