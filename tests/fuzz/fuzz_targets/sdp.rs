//! Arbitrary bytes as an SDP body, into `mediacore::sdp` (RFC 4566 parsing, RFC 3264
//! offer/answer).
//!
//! - `SessionDescription::parse`;
//! - on success, `LocalMedia::answer` as the answerer (both G.711 codecs, telephone-event):
//!   the answer text we would send must parse again, keep one m-line per offered one, and
//!   its chosen m-line must carry our port, the negotiated payload type first, that payload
//!   type's codec and the negotiated telephone-event payload type;
//! - `LocalMedia::accept_answer` on the same description, as if it answered our offer.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use mediacore::codec::Codec;
use mediacore::sdp::{LocalMedia, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let local = LocalMedia {
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        port: 4000,
        codecs: Codec::ALL.to_vec(),
        telephone_event: true,
        session_id: 1,
        session_version: 1,
    };
    if let Ok((negotiated, text)) = local.answer(&sdp) {
        let answer = SessionDescription::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("our answer does not parse: {e}; answer {text:?}"));
        assert_eq!(answer.media.len(), sdp.media.len(), "answer {text:?}");
        let media = &answer.media[negotiated.media_index];
        assert_eq!(media.port, local.port, "answer {text:?}");
        assert_eq!(
            media.payload_types().next(),
            Some(negotiated.payload_type),
            "answer {text:?}"
        );
        assert_eq!(
            media.codec(negotiated.payload_type),
            Some(negotiated.codec),
            "answer {text:?}"
        );
        assert_eq!(
            media.telephone_event(),
            negotiated.telephone_event,
            "answer {text:?}"
        );
        assert_eq!(
            answer.media_connection(media),
            Some(local.address),
            "answer {text:?}"
        );
    }
    let _ = local.accept_answer(&sdp);
    let _ = local.offer();
});
