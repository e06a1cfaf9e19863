//! Pure: building and reading the parts of SIP messages (RFC 3261 §8.1.1, §8.2.6, §20).
//!
//! The message types are `types`, reading bytes is `parse`; this module has the few header
//! fields the transaction and dialog layers key on, read from the header text by small
//! tolerant parsers, and the builders for the requests and responses we originate.

use std::fmt::Write as _;

use super::parse::split_list;
pub use super::parse::{parse, read, Parsed};
pub use super::types::{
    Header, Headers, Method, Request, Response, SipError, SipMessage, StatusCode, Version,
};

/// RFC 3261 §8.1.1.7: every branch we create starts with the magic cookie.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// What we say we are, in `User-Agent` and `Server`.
pub const AGENT: &str = concat!("Allerta/", env!("CARGO_PKG_VERSION"));

/// The Content-Length a stream message's head declares: the framer needs it before the
/// body arrives. `None` when there is none, or two that differ, or one that is not a
/// number: such a stream cannot be framed.
pub fn content_length(head: &[u8]) -> Option<usize> {
    super::parse::content_length(head)
}

/// The value of the first header called `name` (long form, case-insensitive).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers_named(headers, name).next()
}

/// Every value of the headers called `name`, in order (long form, case-insensitive).
pub fn headers_named<'a, 'n>(
    headers: &'a Headers,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |h| h.is(name))
        .map(|h| h.value.as_str())
}

/// The value of a `;name=value` parameter of a header value, looking only after the
/// name-addr's closing `>` when there is one (URI parameters are not header parameters).
pub fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match value.rfind('>') {
        Some(gt) => &value[gt + 1..],
        None => value.find(';').map_or("", |semi| &value[semi..]),
    };
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// The URI inside a name-addr (`"Bob" <sip:bob@x>;tag=1` → `sip:bob@x`) or an addr-spec
/// (`sip:bob@x;tag=1` → `sip:bob@x`).
pub fn addr_uri(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(lt), Some(gt)) if lt < gt => value[lt + 1..gt].trim(),
        _ => value.split(';').next().unwrap_or("").trim(),
    }
}

/// The fields a transaction or dialog is found by (RFC 3261 §17.1.3, §17.2.3, §12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// CSeq method.
    pub cseq_method: Method,
    /// The top Via's branch (empty when a pre-RFC 3261 peer sent none).
    pub branch: String,
    /// The top Via's sent-by (`host[:port]`).
    pub sent_by: String,
    /// From tag.
    pub from_tag: String,
    /// To tag, if any.
    pub to_tag: Option<String>,
}

impl Ids {
    /// Reads the identifying fields of a request or response.
    pub fn of(headers: &Headers) -> Result<Self, SipError> {
        let need =
            |name: &'static str| header(headers, name).ok_or(SipError::MissingHeader { name });
        let via = need("Via")?;
        let call_id = need("Call-ID")?.trim();
        let cseq_value = need("CSeq")?;
        let (num, method) = cseq_value
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| SipError::bad("CSeq", cseq_value))?;
        // "MUST be less than 2**31" (RFC 3261 §8.1.1.5): the dialog adds to it, never past u32.
        let cseq = num
            .parse::<u32>()
            .ok()
            .filter(|n| *n < 1 << 31)
            .ok_or_else(|| SipError::bad("CSeq", cseq_value))?;
        let cseq_method = method
            .trim()
            .parse::<Method>()
            .map_err(|_| SipError::bad("CSeq", cseq_value))?;
        let top = TopVia::of(via)?;
        let (sent_by, branch) = (top.sent_by, top.branch.unwrap_or(""));
        let from = need("From")?;
        let from_tag = header_param(from, "tag").unwrap_or("");
        let to_tag = header_param(need("To")?, "tag").filter(|t| !t.is_empty());
        if call_id.is_empty() {
            return Err(SipError::bad("Call-ID", call_id));
        }
        Ok(Self {
            call_id: call_id.to_owned(),
            cseq,
            cseq_method,
            branch: branch.to_owned(),
            sent_by: sent_by.to_owned(),
            from_tag: from_tag.to_owned(),
            to_tag: to_tag.map(str::to_owned),
        })
    }
}

/// What we read of a request's or response's top Via (RFC 3261 §20.42, §25.1 `via-parm`),
/// white space allowed around its `/`, `:`, `;` and `=` (RFC 4475 §3.1.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopVia<'a> {
    /// The transport token (`UDP`, `TCP`, `TLS`, `SCTP` or any other).
    pub transport: &'a str,
    /// `host[:port]`, white space taken out.
    pub sent_by: String,
    /// The `branch` parameter, if any.
    pub branch: Option<&'a str>,
}

impl<'a> TopVia<'a> {
    /// Reads the first element of a Via header's value.
    pub fn of(via: &'a str) -> Result<Self, SipError> {
        let bad = || SipError::bad("Via", via);
        let top = split_list(via).into_iter().next().unwrap_or(via);
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport
        let mut rest = top;
        let mut parts = [""; 3];
        for (i, part) in parts.iter_mut().enumerate() {
            rest = rest.trim_start_matches([' ', '\t']);
            if i > 0 {
                rest = rest.strip_prefix('/').ok_or_else(bad)?;
                rest = rest.trim_start_matches([' ', '\t']);
            }
            let end = rest
                .find(|c: char| !c.is_ascii() || !super::types::is_token_byte(c as u8))
                .unwrap_or(rest.len());
            *part = &rest[..end];
            rest = &rest[end..];
        }
        let [name, version, transport] = parts;
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || transport.is_empty() {
            return Err(bad());
        }
        let (sent_by, params) = rest.split_at(rest.find(';').unwrap_or(rest.len()));
        let sent_by: String = sent_by.split_whitespace().collect();
        if sent_by.is_empty() || sent_by.contains([',', '"', '<', '>']) {
            return Err(bad());
        }
        let mut branch = None;
        for param in params.split(';').skip(1) {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let key = key.trim_matches([' ', '\t']);
            if key.is_empty() {
                return Err(bad()); // `;;` (RFC 4475 §3.1.2.1)
            }
            if key.eq_ignore_ascii_case("branch") {
                branch = Some(value.trim_matches([' ', '\t']));
            }
        }
        Ok(Self {
            transport,
            sent_by,
            branch,
        })
    }
}

/// A fresh random token (tags, branches, Call-IDs): 16 hex digits of randomness.
pub fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A fresh branch with the RFC 3261 cookie.
pub fn branch() -> String {
    format!("{BRANCH_COOKIE}{}", token())
}

/// Appends a header.
pub fn push_header(headers: &mut Headers, name: &str, value: impl Into<String>) {
    headers.push(Header {
        name: name.to_owned(),
        value: value.into(),
    });
}

/// Removes every header called `name`.
pub fn remove_headers(headers: &mut Headers, name: &str) {
    headers.retain(|h| !h.is(name));
}

/// The transport token for Via headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, retransmissions by timer.
    Udp,
    /// TCP: reliable, framed by Content-Length.
    Tcp,
}

impl Transport {
    /// The token in Via (`SIP/2.0/UDP`) and `;transport=` parameters.
    pub fn token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        }
    }

    /// Whether the transaction layer may rely on delivery (§17.1.1.2).
    pub fn is_reliable(self) -> bool {
        self == Self::Tcp
    }
}

/// The parts of a request sent outside a dialog (REGISTER, OPTIONS, initial INVITE).
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    /// The method.
    pub method: Method,
    /// Request-URI.
    pub uri: &'a str,
    /// Our `host:port` for Via sent-by.
    pub sent_by: &'a str,
    /// Transport for Via.
    pub transport: Transport,
    /// From value without tag (`<sip:alert@10.78.0.11>`).
    pub from: &'a str,
    /// Our From tag.
    pub from_tag: &'a str,
    /// To value (`<sip:100@carrier>`).
    pub to: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq number.
    pub cseq: u32,
    /// Contact value, if the method needs one.
    pub contact: Option<&'a str>,
}

impl NewRequest<'_> {
    /// Builds the request with a fresh branch; `uri` must parse as a SIP URI.
    pub fn build(&self) -> Result<Request, SipError> {
        if !super::parse::is_uri(self.uri) {
            return Err(SipError::bad("Request-URI", self.uri));
        }
        let mut headers = Headers::default();
        let via = format!(
            "SIP/2.0/{} {};branch={};rport",
            self.transport.token(),
            self.sent_by,
            branch()
        );
        push_header(&mut headers, "Via", via);
        push_header(&mut headers, "Max-Forwards", "70");
        push_header(
            &mut headers,
            "From",
            format!("{};tag={}", self.from, self.from_tag),
        );
        push_header(&mut headers, "To", self.to);
        push_header(&mut headers, "Call-ID", self.call_id);
        push_header(
            &mut headers,
            "CSeq",
            format!("{} {}", self.cseq, self.method),
        );
        if let Some(contact) = self.contact {
            push_header(&mut headers, "Contact", contact);
        }
        push_header(&mut headers, "User-Agent", AGENT);
        Ok(Request {
            method: self.method.clone(),
            uri: self.uri.to_owned(),
            version: Version::V2,
            headers,
            body: Vec::new(),
        })
    }
}

/// Gives `request` a new branch and CSeq number (a new transaction for the same request,
/// e.g. after a digest challenge, §22.2).
pub fn renew(request: &mut Request, cseq: u32) {
    let method = request.method.clone();
    let old = std::mem::take(&mut request.headers);
    let mut first_via = true;
    for h in old.iter() {
        if h.is("Via") && first_via {
            first_via = false;
            push_header(
                &mut request.headers,
                "Via",
                with_branch(&h.value, &branch()),
            );
        } else if h.is("CSeq") {
            push_header(&mut request.headers, "CSeq", format!("{cseq} {method}"));
        } else {
            request.headers.push(h.clone());
        }
    }
}

/// `via` with its branch parameter replaced by (or given) `branch`.
fn with_branch(via: &str, branch: &str) -> String {
    let mut parts: Vec<String> = via.split(';').map(str::to_owned).collect();
    match parts
        .iter_mut()
        .skip(1)
        .find(|p| p.trim().to_ascii_lowercase().starts_with("branch="))
    {
        Some(p) => *p = format!("branch={branch}"),
        None => parts.push(format!("branch={branch}")),
    }
    parts.join(";")
}

/// What we allow, in `Allow` headers and 405 responses.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// Builds a response to `request` (RFC 3261 §8.2.6): Via, From, Call-ID, CSeq copied; To
/// copied and given `to_tag` unless it already has one (100 Trying carries no tag).
pub fn response(request: &Request, code: u16, to_tag: Option<&str>) -> Response {
    let mut headers = Headers::default();
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for value in headers_named(&request.headers, name) {
            let value = if name == "To" && header_param(value, "tag").is_none() {
                match to_tag {
                    Some(tag) if code != 100 => format!("{value};tag={tag}"),
                    _ => value.to_owned(),
                }
            } else {
                value.to_owned()
            };
            push_header(&mut headers, name, value);
        }
    }
    push_header(&mut headers, "Server", AGENT);
    Response {
        status_code: StatusCode(code),
        headers,
        body: Vec::new(),
    }
}

/// The RFC 3261 §21 reason phrase.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// Sets the body and the Content-Type/Content-Length headers (replacing any).
pub fn set_body(
    headers: &mut Headers,
    body_slot: &mut Vec<u8>,
    content_type: Option<&str>,
    body: Vec<u8>,
) {
    remove_headers(headers, "Content-Type");
    remove_headers(headers, "Content-Length");
    if let Some(ct) = content_type.filter(|_| !body.is_empty()) {
        push_header(headers, "Content-Type", ct);
    }
    push_header(headers, "Content-Length", body.len().to_string());
    *body_slot = body;
}

/// Serializes a message, making sure it carries a Content-Length (required on TCP, and
/// what lets a UDP receiver drop padding).
pub fn to_bytes(msg: &SipMessage) -> Vec<u8> {
    let (headers, body) = match msg {
        SipMessage::Request(r) => (&r.headers, &r.body),
        SipMessage::Response(r) => (&r.headers, &r.body),
    };
    let mut text = String::with_capacity(512 + body.len());
    match msg {
        SipMessage::Request(r) => {
            let _ = write!(text, "{} {} SIP/2.0\r\n", r.method, r.uri);
        }
        SipMessage::Response(r) => {
            let code = r.status_code.code();
            let _ = write!(text, "SIP/2.0 {code} {}\r\n", reason(code));
        }
    }
    let mut has_length = false;
    for h in headers.iter() {
        has_length |= h.is("Content-Length");
        let _ = write!(text, "{h}\r\n");
    }
    if !has_length {
        let _ = write!(text, "Content-Length: {}\r\n", body.len());
    }
    text.push_str("\r\n");
    let mut out = text.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Where a response goes over TCP when the connection its request came on (from `source`)
/// has closed: RFC 3261 §18.2.2, the source address (the Via's `received`) and the top Via's
/// sent-by port, 5060 when it names none. Anything that is not a response with a readable
/// Via goes to `source`.
pub fn response_target(bytes: &[u8], source: std::net::SocketAddr) -> std::net::SocketAddr {
    if !bytes.starts_with(b"SIP/2.0 ") {
        return source;
    }
    let Ok(parsed) = read(bytes) else {
        return source;
    };
    let via = header(parsed.message.headers(), "Via");
    let Some(top) = via.and_then(|v| TopVia::of(v).ok()) else {
        return source;
    };
    let port = top.sent_by.rsplit_once(':').and_then(|(host, port)| {
        // An IPv6 reference without a port is `[::1]`: its colons are not a port's.
        (!host.is_empty() && !port.ends_with(']')).then(|| port.parse::<u16>().ok())?
    });
    std::net::SocketAddr::new(source.ip(), port.unwrap_or(5060))
}

/// The method of a request, or of the request a response answers.
pub fn method_of(msg: &SipMessage) -> Option<Method> {
    match msg {
        SipMessage::Request(r) => Some(r.method.clone()),
        SipMessage::Response(r) => Ids::of(&r.headers).ok().map(|ids| ids.cseq_method),
    }
}

/// Whether `number` may be dialled: it becomes the user part of a Request-URI and of the
/// To header, so only what a phone number or an extension holds (digits, letters, `+ * - .
/// _`), 1 to 64 long. A number from an AMI application, a call file or the dialplan that
/// holds anything else (`@`, `;`, `<`, a space, a line break) would change the request's
/// meaning or add headers to it.
pub fn is_dialable(number: &str) -> bool {
    (1..=64).contains(&number.len())
        && number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+*-._".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:100@10.78.0.11:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.78.0.1:5060;branch=z9hG4bK-1-0;rport\r\n\
        From: \"sipp\" <sip:sipp@10.78.0.1:5060>;tag=1SIPpTag001\r\n\
        To: <sip:100@10.78.0.11:5060>\r\n\
        Call-ID: 1-4242@10.78.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: sip:sipp@10.78.0.1:5060\r\n\
        Max-Forwards: 70\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn a_sipp_invite_yields_its_transaction_and_dialog_ids() {
        let SipMessage::Request(req) = parse(INVITE.as_bytes()).unwrap() else {
            panic!("not a request")
        };
        let ids = Ids::of(&req.headers).unwrap();
        assert_eq!(ids.call_id, "1-4242@10.78.0.1");
        assert_eq!((ids.cseq, ids.cseq_method), (1, Method::Invite));
        assert_eq!(ids.branch, "z9hG4bK-1-0");
        assert_eq!(ids.sent_by, "10.78.0.1:5060");
        assert_eq!(ids.from_tag, "1SIPpTag001");
        assert_eq!(ids.to_tag, None);
        assert_eq!(req.body, b"v=0\n");
    }

    #[test]
    fn a_control_character_in_the_head_is_unparsable() {
        let text = INVITE.replace(
            "sip:100@10.78.0.11:5060 SIP",
            "sip:1\u{0}00@10.78.0.11:5060 SIP",
        );
        assert!(parse(text.as_bytes()).is_err());
        let body = INVITE.replace("v=0\n", "v=\u{1}\n");
        assert!(parse(body.as_bytes()).is_ok(), "the body is not the head");
    }

    #[test]
    fn a_request_uri_without_a_scheme_is_unparsable() {
        let text = INVITE.replace(
            "INVITE sip:100@10.78.0.11:5060 SIP/2.0",
            "BYE IP/2.0 SIP/2.0",
        );
        assert!(parse(text.as_bytes()).is_err());
    }

    #[test]
    fn only_what_a_number_holds_is_dialable() {
        for ok in [
            "0744123456",
            "+390744123456",
            "*31#"[..3].as_ref(),
            "ext-1.2_b",
        ] {
            assert!(is_dialable(ok), "{ok}");
        }
        for bad in [
            "",
            "1@evil.example",
            "1;transport=tcp",
            "1\r\nX: y",
            "1 2",
            "<1>",
            "1%0d",
        ] {
            assert!(!is_dialable(bad), "{bad:?}");
        }
        assert!(!is_dialable(&"1".repeat(65)));
    }

    #[test]
    fn a_cseq_of_2_to_the_31_or_more_is_a_bad_header() {
        for (cseq, ok) in [
            ("2147483647", true),
            ("2147483648", false),
            ("4294967295", false),
        ] {
            let text = INVITE.replace("CSeq: 1 INVITE", &format!("CSeq: {cseq} INVITE"));
            let SipMessage::Request(req) = parse(text.as_bytes()).unwrap() else {
                panic!("not a request")
            };
            assert_eq!(Ids::of(&req.headers).is_ok(), ok, "{cseq}");
        }
    }

    #[test]
    fn bytes_past_content_length_are_dropped_and_a_short_body_is_an_error() {
        let padded = format!("{INVITE}garbage");
        let SipMessage::Request(req) = parse(padded.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(req.body, b"v=0\n");
        let short = &INVITE.as_bytes()[..INVITE.len() - 2];
        assert_eq!(parse(short), Err(SipError::ShortBody { got: 2, want: 4 }));
    }

    #[test]
    fn compact_header_names_are_expanded() {
        let compact = INVITE
            .replace("Via:", "v:")
            .replace("From:", "f:")
            .replace("To:", "t:")
            .replace("Call-ID:", "i:")
            .replace("Content-Length:", "l:");
        let SipMessage::Request(req) = parse(compact.as_bytes()).unwrap() else {
            panic!()
        };
        let ids = Ids::of(&req.headers).unwrap();
        assert_eq!(ids.call_id, "1-4242@10.78.0.1");
        assert_eq!(ids.from_tag, "1SIPpTag001");
    }

    #[test]
    fn a_response_copies_the_dialog_headers_and_adds_our_tag() {
        let SipMessage::Request(req) = parse(INVITE.as_bytes()).unwrap() else {
            panic!()
        };
        let resp = response(&req, 200, Some("abc"));
        let ids = Ids::of(&resp.headers).unwrap();
        assert_eq!(ids.to_tag.as_deref(), Some("abc"));
        assert_eq!(ids.branch, "z9hG4bK-1-0");
        let trying = response(&req, 100, Some("abc"));
        assert_eq!(Ids::of(&trying.headers).unwrap().to_tag, None);
        let bytes = to_bytes(&SipMessage::Response(resp));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 0\r\n"), "{text}");
        assert!(parse(&bytes).is_ok());
    }

    #[test]
    fn a_tcp_response_without_its_connection_goes_to_the_via_port() {
        let source: std::net::SocketAddr = "192.0.2.7:49152".parse().unwrap();
        let answer = |via: &str| {
            format!(
                "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n\
                 Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
        };
        for (via, port) in [
            ("SIP/2.0/TCP pbx.example.com:5070;branch=z9hG4bK1", 5070),
            ("SIP/2.0/TCP pbx.example.com;branch=z9hG4bK1", 5060),
            ("SIP / 2.0 / TCP 10.0.0.1 : 5080 ;branch=z9hG4bK1", 5080),
            ("SIP/2.0/TCP [2001:db8::1];branch=z9hG4bK1", 5060),
            ("SIP/2.0/TCP [2001:db8::1]:5090;branch=z9hG4bK1", 5090),
        ] {
            let to = response_target(answer(via).as_bytes(), source);
            assert_eq!(to, std::net::SocketAddr::new(source.ip(), port), "{via}");
        }
        // A request we send goes where it is addressed.
        assert_eq!(response_target(INVITE.as_bytes(), source), source);
    }

    #[test]
    fn header_params_ignore_uri_params() {
        let v = "<sip:a@b;tag=uri>;tag=hdr;x";
        assert_eq!(header_param(v, "tag"), Some("hdr"));
        assert_eq!(header_param("sip:a@b;tag=t1", "tag"), Some("t1"));
        assert_eq!(addr_uri("\"A\" <sip:a@b;lr>;tag=1"), "sip:a@b;lr");
        assert_eq!(addr_uri("sip:a@b;tag=1"), "sip:a@b");
    }

    #[test]
    fn heads_that_once_misread_are_refused() {
        // Inputs the sip_message fuzz target found (tests/fuzz/README.md).
        let spanning =
            b"INVITE x\r\nContent-Length: 32\r\n\r\nfoo:a@b SIP/2.0\r\nVia: a\r\n\r\nhello";
        let lf = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\nContent-Length: 5\r\n\r\nhello";
        let low_code =
            b"SIP/2.0 050 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
        let no_blank = b"SIP/2.0 200 OK\r\nl: 0\r\nVia: x";
        for input in [&spanning[..], lf, low_code, no_blank] {
            assert!(
                matches!(parse(input), Err(SipError::Unparsable { .. })),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        assert!(parse(INVITE.as_bytes()).is_ok());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [
            &b""[..],
            b"\r\n\r\n",
            b"INVITE\r\n\r\n",
            b"SIP/2.0 abc\r\n\r\n",
            &[0xff; 40],
        ] {
            assert!(parse(junk).is_err(), "{junk:?}");
        }
    }
}
