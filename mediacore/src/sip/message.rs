//! Pure: SIP messages on top of `rsip` (RFC 3261 §7, §8.1.1, §8.2.6, §20).
//!
//! `rsip` parses and prints messages; this module keeps it at arm's length: our own
//! [`SipError`], the few header fields the transaction and dialog layers key on, read from
//! the untyped header values with small tolerant parsers (rsip's typed parsers reject values
//! that real peers send), and builders for the requests and responses we originate.
//! rsip is pinned (=0.4.0): its last release is from 2022.

use std::fmt::Write as _;

use rsip::{Header, Headers, Method, Request, Response, SipMessage, StatusCode};

/// RFC 3261 §8.1.1.7: every branch we create starts with the magic cookie.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// What we say we are, in `User-Agent` and `Server`.
pub const AGENT: &str = concat!("Allerta/", env!("CARGO_PKG_VERSION"));

/// A message we could not use. Always the peer's fault: answered with 400 when we can tell
/// who to answer, otherwise dropped and counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    /// rsip could not tokenize the message.
    #[error("unparsable SIP message: {reason}")]
    Unparsable {
        /// rsip's own words.
        reason: String,
    },
    /// A header every request/response must carry is missing.
    #[error("missing {name} header")]
    MissingHeader {
        /// The header's full name.
        name: &'static str,
    },
    /// A header is there but its value cannot be used.
    #[error("bad {name} header: {value:?}")]
    BadHeader {
        /// The header's full name.
        name: &'static str,
        /// The value as received (truncated to 100 bytes).
        value: String,
    },
    /// The body is shorter than Content-Length (RFC 3261 §18.3).
    #[error("body of {got} bytes is shorter than Content-Length {want}")]
    ShortBody {
        /// Bytes present.
        got: usize,
        /// Bytes promised.
        want: usize,
    },
}

impl SipError {
    fn bad(name: &'static str, value: &str) -> Self {
        let mut value = value.to_owned();
        value.truncate(value.floor_char_boundary(100));
        Self::BadHeader { name, value }
    }
}

/// RFC 3261 §7.3.3 compact header names, expanded before rsip sees them (rsip only knows
/// the long forms).
const COMPACT: [(u8, &str); 10] = [
    (b'v', "Via"),
    (b'f', "From"),
    (b't', "To"),
    (b'i', "Call-ID"),
    (b'm', "Contact"),
    (b'l', "Content-Length"),
    (b'c', "Content-Type"),
    (b'k', "Supported"),
    (b's', "Subject"),
    (b'e', "Content-Encoding"),
];

/// Parses one complete message (a UDP datagram, or a frame cut by [`super::framing`]).
///
/// A datagram longer than its Content-Length is cut to it; a shorter one is an error
/// (RFC 3261 §18.3). Compact header names are expanded.
pub fn parse(bytes: &[u8]) -> Result<SipMessage, SipError> {
    check_head(bytes)?;
    let head_end = find(bytes, b"\r\n\r\n").map(|i| i + 4);
    let expanded;
    let mut bytes = bytes;
    if let Some(head_end) = head_end {
        let head = &bytes[..head_end];
        if head.split(|&b| b == b'\n').skip(1).any(is_compact_line) {
            expanded = expand_compact(head, &bytes[head_end..]);
            bytes = &expanded;
        }
    }
    let head_end = find(bytes, b"\r\n\r\n").map_or(bytes.len(), |i| i + 4);
    let declared = content_length(&bytes[..head_end]);
    let body = bytes.len() - head_end;
    let bytes = match declared {
        Some(want) if want > body => return Err(SipError::ShortBody { got: body, want }),
        Some(want) => &bytes[..head_end + want],
        None => bytes,
    };
    SipMessage::try_from(bytes).map_err(|e| {
        let mut reason = e.to_string();
        reason.truncate(reason.floor_char_boundary(200));
        SipError::Unparsable { reason }
    })
}

/// What rsip 0.4 would let through but must not pass (found by fuzzing): a head without
/// its blank line, a bare CR or LF inside it (rsip ends lines only at CRLF, so a value
/// could smuggle a second header into the responses we copy it into), a start line that
/// is not `METHOD SP URI SP SIP/2.0` or `SIP/2.0 SP code SP reason` (rsip reads a URI
/// across line breaks), and status codes outside 100–699 (RFC 3261 §7.2, §7.5).
fn check_head(bytes: &[u8]) -> Result<(), SipError> {
    let bad = |reason: &str| {
        Err(SipError::Unparsable {
            reason: reason.to_owned(),
        })
    };
    let Some(end) = find(bytes, b"\r\n\r\n") else {
        return bad("no blank line after the headers");
    };
    let head = &bytes[..end + 2];
    for (i, &b) in head.iter().enumerate() {
        let lone_lf = b == b'\n' && (i == 0 || head[i - 1] != b'\r');
        let lone_cr = b == b'\r' && head.get(i + 1) != Some(&b'\n');
        if lone_lf || lone_cr {
            return bad("bare CR or LF in the headers");
        }
        // No other control character belongs in a head (RFC 3261 §25.1: TEXT-UTF8 excludes
        // them); rsip misreads some (a NUL in a Request-URI made it read the body as
        // headers, and our 400 copied a body line; found by the sip_message fuzz target).
        if (b < 0x20 && !matches!(b, b'\r' | b'\n' | b'\t')) || b == 0x7f {
            return bad("a control character in the headers");
        }
    }
    let first = &head[..find(head, b"\r\n").unwrap_or(head.len())];
    let Ok(first) = std::str::from_utf8(first) else {
        return bad("start line is not UTF-8");
    };
    let parts: Vec<&str> = first.splitn(3, ' ').collect();
    if let Some(code) = first.strip_prefix("SIP/2.0 ") {
        let code = code.get(..3).and_then(|c| c.parse::<u16>().ok());
        let space_after = first.as_bytes().get(11).is_none_or(|&b| b == b' ');
        if !code.is_some_and(|c| (100..=699).contains(&c)) || !space_after {
            return bad("status line without a code in 100-699");
        }
    } else if parts.len() != 3
        || parts[2] != "SIP/2.0"
        || parts[1].is_empty()
        || parts[1].contains(' ')
        // Every Request-URI has a scheme (RFC 3261 §25.1); without one rsip reads on into
        // the following lines and loses headers (found by the sip_dialog fuzz target).
        || !parts[1].contains(':')
    {
        return bad("request line is not METHOD URI SIP/2.0");
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_compact_line(line: &[u8]) -> bool {
    let name_len = line
        .iter()
        .position(|&b| b == b':' || b == b' ' || b == b'\t');
    name_len == Some(1) && COMPACT.iter().any(|(c, _)| line[0].eq_ignore_ascii_case(c))
}

fn expand_compact(head: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 64 + body.len());
    for (i, line) in head.split_inclusive(|&b| b == b'\n').enumerate() {
        match COMPACT
            .iter()
            .find(|(c, _)| line[0].eq_ignore_ascii_case(c))
        {
            Some((_, long)) if i > 0 && is_compact_line(line) => {
                out.extend_from_slice(long.as_bytes());
                out.extend_from_slice(&line[1..]);
            }
            _ => out.extend_from_slice(line),
        }
    }
    out.extend_from_slice(body);
    out
}

/// The Content-Length header's value in a message head, if present and numeric.
pub fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = line[..colon].trim_ascii();
        let is_length = name.eq_ignore_ascii_case(b"Content-Length") || name == b"l";
        if !is_length {
            return None;
        }
        std::str::from_utf8(line[colon + 1..].trim_ascii())
            .ok()?
            .parse()
            .ok()
    })
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
    use rsip::headers::UntypedHeader;
    headers.iter().filter_map(move |h| {
        let (n, v): (&str, &str) = match h {
            Header::Via(v) => ("Via", v.value()),
            Header::From(v) => ("From", v.value()),
            Header::To(v) => ("To", v.value()),
            Header::CallId(v) => ("Call-ID", v.value()),
            Header::CSeq(v) => ("CSeq", v.value()),
            Header::Contact(v) => ("Contact", v.value()),
            Header::RecordRoute(v) => ("Record-Route", v.value()),
            Header::Route(v) => ("Route", v.value()),
            Header::WwwAuthenticate(v) => ("WWW-Authenticate", v.value()),
            Header::ProxyAuthenticate(v) => ("Proxy-Authenticate", v.value()),
            Header::Authorization(v) => ("Authorization", v.value()),
            Header::ProxyAuthorization(v) => ("Proxy-Authorization", v.value()),
            Header::Expires(v) => ("Expires", v.value()),
            Header::MinExpires(v) => ("Min-Expires", v.value()),
            Header::ContentType(v) => ("Content-Type", v.value()),
            Header::MaxForwards(v) => ("Max-Forwards", v.value()),
            Header::Require(v) => ("Require", v.value()),
            Header::Supported(v) => ("Supported", v.value()),
            Header::Allow(v) => ("Allow", v.value()),
            Header::UserAgent(v) => ("User-Agent", v.value()),
            Header::Server(v) => ("Server", v.value()),
            Header::Other(n, v) => (n.as_str(), v.as_str()),
            _ => return None,
        };
        n.eq_ignore_ascii_case(name).then_some(v)
    })
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
        // Only the first Via of a comma-separated list is ours to read.
        let top_via = via.split(',').next().unwrap_or(via);
        let sent_by = top_via
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.split(';').next())
            .ok_or_else(|| SipError::bad("Via", via))?;
        let branch = header_param(top_via, "branch").unwrap_or("");
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

/// A fresh random token (tags, branches, Call-IDs): 16 hex digits of randomness.
pub fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A fresh branch with the RFC 3261 cookie.
pub fn branch() -> String {
    format!("{BRANCH_COOKIE}{}", token())
}

fn untyped(name: &str, value: impl Into<String>) -> Header {
    let value = value.into();
    use rsip::headers::*;
    match name {
        "Via" => Header::Via(Via::new(value)),
        "From" => Header::From(From::new(value)),
        "To" => Header::To(To::new(value)),
        "Call-ID" => Header::CallId(CallId::new(value)),
        "CSeq" => Header::CSeq(CSeq::new(value)),
        "Contact" => Header::Contact(Contact::new(value)),
        "Max-Forwards" => Header::MaxForwards(MaxForwards::new(value)),
        "Content-Length" => Header::ContentLength(ContentLength::new(value)),
        "Content-Type" => Header::ContentType(ContentType::new(value)),
        "Route" => Header::Route(Route::new(value)),
        "Record-Route" => Header::RecordRoute(RecordRoute::new(value)),
        "Expires" => Header::Expires(Expires::new(value)),
        "Authorization" => Header::Authorization(Authorization::new(value)),
        "Proxy-Authorization" => Header::ProxyAuthorization(ProxyAuthorization::new(value)),
        "User-Agent" => Header::UserAgent(UserAgent::new(value)),
        "Server" => Header::Server(Server::new(value)),
        "Allow" => Header::Allow(Allow::new(value)),
        _ => Header::Other(name.to_owned(), value),
    }
}

/// Appends a header by name, using rsip's variant when it has one.
pub fn push_header(headers: &mut Headers, name: &str, value: impl Into<String>) {
    headers.push(untyped(name, value));
}

/// Removes every header called `name`.
pub fn remove_headers(headers: &mut Headers, name: &str) {
    let lower = name.to_ascii_lowercase();
    headers.retain(|h| {
        let text = h.to_string();
        let hname = text
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        hname != lower
    });
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
        let uri =
            rsip::Uri::try_from(self.uri).map_err(|_| SipError::bad("Request-URI", self.uri))?;
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
            method: self.method,
            uri,
            version: rsip::Version::V2,
            headers,
            body: Vec::new(),
        })
    }
}

/// Gives `request` a new branch and CSeq number (a new transaction for the same request,
/// e.g. after a digest challenge, §22.2).
pub fn renew(request: &mut Request, cseq: u32) {
    use rsip::headers::UntypedHeader;
    let method = request.method;
    let old = std::mem::take(&mut request.headers);
    let mut first_via = true;
    for h in old.iter() {
        match h {
            Header::Via(via) if first_via => {
                first_via = false;
                push_header(
                    &mut request.headers,
                    "Via",
                    with_branch(via.value(), &branch()),
                );
            }
            Header::CSeq(_) => {
                push_header(&mut request.headers, "CSeq", format!("{cseq} {method}"))
            }
            other => request.headers.push(other.clone()),
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
        status_code: status(code),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// rsip's status code for `code`, keeping the standard reason phrase for codes rsip lacks.
pub fn status(code: u16) -> StatusCode {
    match StatusCode::from(code) {
        StatusCode::Other(code, _) => StatusCode::Other(code, reason(code).to_owned()),
        known => known,
    }
}

/// The RFC 3261 §21 reason phrase (rsip prints its enum names, `BadRequest`).
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
        415 => "Unsupported Media Type",
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
        503 => "Service Unavailable",
        504 => "Server Time-out",
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
        has_length |= matches!(h, Header::ContentLength(_));
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

/// The method of a request, or of the request a response answers.
pub fn method_of(msg: &SipMessage) -> Option<Method> {
    match msg {
        SipMessage::Request(r) => Some(r.method),
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
    fn header_params_ignore_uri_params() {
        let v = "<sip:a@b;tag=uri>;tag=hdr;x";
        assert_eq!(header_param(v, "tag"), Some("hdr"));
        assert_eq!(header_param("sip:a@b;tag=t1", "tag"), Some("t1"));
        assert_eq!(addr_uri("\"A\" <sip:a@b;lr>;tag=1"), "sip:a@b;lr");
        assert_eq!(addr_uri("sip:a@b;tag=1"), "sip:a@b");
    }

    #[test]
    fn what_rsip_would_misread_is_refused() {
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
