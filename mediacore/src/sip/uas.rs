//! Pure: the checks a UAS makes of every request before acting on it (RFC 3261 §8.2), in
//! the RFC's order, each answered as the RFC says: an unknown method 501 with `Allow`
//! (§8.2.1), a Request-URI scheme other than sip or sips 416 (§8.2.2.1), an extension the
//! request requires and we do not have 420 with `Unsupported` (§8.2.2.3), a body we cannot
//! read 415 with `Accept` or `Accept-Encoding` (§8.2.3), an INVITE whose sender accepts no
//! SDP answer 406 (RFC 4475 §3.3.15).
//!
//! Authentication comes first (§8.2: "once a request is authenticated"): `switch` calls
//! [`inspect`] for an INVITE only after the peer is identified or has proved itself, and for
//! any other request at once (they cost us nothing).

use super::message::{self, header, headers_named, Method, Request, Response};
use super::parse::is_sip_uri;

/// The body types we read.
pub const ACCEPT: &str = "application/sdp";

/// The response the request gets instead of being acted on, if any.
pub fn inspect(request: &Request) -> Option<Response> {
    if let Method::Other(_) = request.method {
        let mut response = refusal(request, 501);
        message::push_header(&mut response.headers, "Allow", message::ALLOW);
        return Some(response);
    }
    if !is_sip_uri(&request.uri) {
        return Some(refusal(request, 416));
    }
    // Never for an ACK (it cannot be answered) or a CANCEL (its Require is its INVITE's).
    if !matches!(request.method, Method::Ack | Method::Cancel) {
        let required: Vec<&str> = headers_named(&request.headers, "Require")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .collect();
        if !required.is_empty() {
            // We implement no extension a peer could require (no 100rel, timer, replaces).
            let mut response = refusal(request, 420);
            message::push_header(&mut response.headers, "Unsupported", required.join(", "));
            return Some(response);
        }
    }
    // Only an INVITE's body is read (the SDP offer); other bodies are not ours to judge.
    if request.method == Method::Invite && !request.body.is_empty() {
        let encoding = header(&request.headers, "Content-Encoding").unwrap_or("identity");
        if !encoding.trim().eq_ignore_ascii_case("identity") {
            let mut response = refusal(request, 415);
            message::push_header(&mut response.headers, "Accept-Encoding", "identity");
            return Some(response);
        }
        let content_type = header(&request.headers, "Content-Type").unwrap_or("");
        if !is_sdp(content_type) {
            let mut response = refusal(request, 415);
            message::push_header(&mut response.headers, "Accept", ACCEPT);
            return Some(response);
        }
        if let Some(accept) = header(&request.headers, "Accept") {
            if !accepts_sdp(accept) {
                let mut response = refusal(request, 406);
                message::push_header(
                    &mut response.headers,
                    "Warning",
                    "399 allerta \"our answer can only be application/sdp\"",
                );
                return Some(response);
            }
        }
    }
    None
}

fn refusal(request: &Request, code: u16) -> Response {
    message::response(request, code, Some(&message::token()))
}

/// `application/sdp`, parameters allowed, any case (media types are case-insensitive).
fn is_sdp(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case(ACCEPT)
}

/// Whether an `Accept` value lets us answer with SDP (an empty one accepts nothing but,
/// by §20.1, means the default, application/sdp).
fn accepts_sdp(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|range| {
            let media = range.split(';').next().unwrap_or("").trim();
            is_sdp(media) || media.eq_ignore_ascii_case("application/*") || media == "*/*"
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::SipMessage;

    fn request(line: &str, more: &str, body: &str) -> Request {
        let text = format!(
            "{line}\r\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n\
             To: <sip:a@example.com>\r\nFrom: <sip:b@example.com>;tag=1\r\n\
             Call-ID: c1\r\nCSeq: 1 {}\r\n{more}Content-Length: {}\r\n\r\n{body}",
            line.split(' ').next().unwrap(),
            body.len()
        );
        match message::parse(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => unreachable!(),
        }
    }

    fn answer(r: &Request) -> Option<(u16, Vec<(String, String)>)> {
        inspect(r).map(|resp| {
            let extra = [
                "Allow",
                "Unsupported",
                "Accept",
                "Accept-Encoding",
                "Warning",
            ]
            .iter()
            .filter_map(|n| header(&resp.headers, n).map(|v| (n.to_string(), v.to_owned())))
            .collect();
            (resp.status_code.code(), extra)
        })
    }

    const SDP: &str = "v=0\r\n";

    #[test]
    fn each_check_in_the_rfcs_order() {
        let ok = request(
            "INVITE sip:a@example.com SIP/2.0",
            "Content-Type: application/sdp\r\n",
            SDP,
        );
        assert_eq!(answer(&ok), None);
        let unknown = request("FOO sip:a@example.com SIP/2.0", "Require: x\r\n", "");
        assert_eq!(
            answer(&unknown),
            Some((501, vec![("Allow".into(), message::ALLOW.into())]))
        );
        let scheme = request(
            "OPTIONS nobodyKnowsThisScheme:x SIP/2.0",
            "Require: x\r\n",
            "",
        );
        assert_eq!(answer(&scheme), Some((416, vec![])));
        let require = request(
            "OPTIONS sip:a@example.com SIP/2.0",
            "Require: nothingSupportsThis, nothingSupportsThisEither\r\nProxy-Require: p\r\n",
            "",
        );
        assert_eq!(
            answer(&require),
            Some((
                420,
                vec![(
                    "Unsupported".into(),
                    "nothingSupportsThis, nothingSupportsThisEither".into()
                )]
            ))
        );
        let content = request(
            "INVITE sip:a@example.com SIP/2.0",
            "Content-Type: application/unknownformat\r\n",
            SDP,
        );
        assert_eq!(
            answer(&content),
            Some((415, vec![("Accept".into(), ACCEPT.into())]))
        );
        let encoding = request(
            "INVITE sip:a@example.com SIP/2.0",
            "Content-Type: application/sdp\r\nContent-Encoding: gzip\r\n",
            SDP,
        );
        assert_eq!(answer(&encoding).map(|a| a.0), Some(415));
        let accept = request(
            "INVITE sip:a@example.com SIP/2.0",
            "Content-Type: application/SDP; charset=x\r\nAccept: text/nobodyKnowsThis\r\n",
            SDP,
        );
        assert_eq!(answer(&accept).map(|a| a.0), Some(406));
        for fine in ["application/sdp", "application/*, text/html", "*/*", ""] {
            let r = request(
                "INVITE sips:a@example.com SIP/2.0",
                &format!("Content-Type: application/sdp\r\nAccept: {fine}\r\n"),
                SDP,
            );
            assert_eq!(answer(&r), None, "Accept: {fine}");
        }
        // Bodies of other methods are not judged (INFO's dtmf-relay, MESSAGE's text).
        let info = request(
            "INFO sip:a@example.com SIP/2.0",
            "Content-Type: text/plain\r\n",
            "x",
        );
        assert_eq!(answer(&info), None);
    }
}
