//! Pure: reading a SIP message from bytes (RFC 3261 §7, §25), taking what RFC 4475 (the
//! SIP torture test messages) says a receiver must take: folded header lines, compact and
//! oddly spaced header names, any token as a method, any scheme in a Request-URI, escaped
//! control characters in quoted strings, trailing bytes after a datagram's Content-Length.
//!
//! What is read falls in three kinds. Bytes that are not a SIP message (no blank line after
//! the head, no start line, a header line without a name) are an `Err`: nothing in them can
//! be trusted, not even where an answer would go. A message that reads but breaks a rule
//! (two Content-Length headers, a Request-URI in `<>`, an unbalanced quote, a version that
//! is not 2.0) comes back with its `fault`, so that a request can be answered 400 (505 for
//! the version) through its Via; the endpoint never acts on it otherwise. Everything else
//! is a message.
//!
//! Two rules are stricter than the grammar asks, because our answers copy a request's
//! headers: a bare CR or LF inside the head is refused (only CRLF ends a line, so a value
//! cannot smuggle a header into a response of ours), and a control character is accepted
//! only escaped inside a quoted string (RFC 3261 §25.1 `quoted-pair`).

use super::types::{
    is_token, Header, Headers, Method, Request, Response, SipError, SipMessage, StatusCode, Version,
};

/// A message and the first rule it breaks, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The message as read.
    pub message: SipMessage,
    /// Why it must not be acted on (a request gets 400 or 505 instead), if it must not.
    pub fault: Option<SipError>,
}

/// RFC 3261 §7.3.3 and the registry's compact header names.
const COMPACT: [(u8, &str); 20] = [
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'n', "Identity-Info"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// Headers that may appear at most once (RFC 3261 §7.3.1: only a comma-separated list may
/// be split over several lines; these are not lists). Two of them make the message faulty.
const SINGLE: [&str; 9] = [
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Expires",
    "Min-Expires",
];

/// Headers holding name-addrs whose quotes and brackets are checked.
const ADDRESSES: [&str; 5] = ["From", "To", "Contact", "Route", "Record-Route"];

/// Reads one message: a UDP datagram, or a frame cut from a stream by `framing`.
///
/// A body longer than Content-Length is cut to it (the rest of a datagram is ignored, RFC
/// 3261 §18.3, RFC 4475 §3.1.1.8); one shorter is a fault. Without Content-Length the body
/// is the rest of the bytes.
pub fn read(bytes: &[u8]) -> Result<Parsed, SipError> {
    // §7.5: CRLFs before the start line are ignored.
    let skip = bytes
        .iter()
        .take_while(|&&b| matches!(b, b'\r' | b'\n'))
        .count();
    let bytes = &bytes[skip..];
    let (head, rest) = match find(bytes, b"\r\n\r\n") {
        Some(end) => (&bytes[..end + 2], &bytes[end + 4..]),
        // A datagram that ends right after a header line's CRLF is a message without a
        // body that forgot its empty line (RFC 4475 §3.1.2.15's is one): read, so that it
        // can be answered. A stream frame always has the empty line (`framing`).
        None if bytes.ends_with(b"\r\n") && bytes.len() > 2 => (bytes, &[][..]),
        None => return Err(SipError::unparsable("no blank line after the headers")),
    };
    for (i, &b) in head.iter().enumerate() {
        let lone_lf = b == b'\n' && (i == 0 || head[i - 1] != b'\r');
        let lone_cr = b == b'\r' && head.get(i + 1) != Some(&b'\n');
        if lone_lf || lone_cr {
            return Err(SipError::unparsable("a bare CR or LF in the headers"));
        }
    }
    let head =
        std::str::from_utf8(head).map_err(|_| SipError::unparsable("the head is not UTF-8"))?;
    let mut lines = head.split_terminator("\r\n");
    let mut fault = None;
    let start = start_line(lines.next().unwrap_or(""), &mut fault)?;
    let headers = header_lines(lines)?;
    for header in &headers {
        let value_fault = check_value(&header.value)
            .err()
            .or_else(|| {
                ADDRESSES
                    .iter()
                    .any(|name| header.is(name))
                    .then(|| check_addresses(&header.value).err())
                    .flatten()
            })
            .map(|reason| SipError::bad(static_name(&header.name), reason));
        note(&mut fault, value_fault);
    }
    for name in SINGLE {
        if headers.iter().filter(|h| h.is(name)).count() > 1 {
            note(&mut fault, Some(SipError::Duplicate { name }));
        }
    }
    note(&mut fault, check_scalars(&headers).err());
    let declared = headers.iter().find(|h| h.is("Content-Length")).map(|h| {
        // Digits only: no sign (RFC 4475 §3.1.2.3), no more than fit in 32 bits.
        let digits = !h.value.is_empty() && h.value.bytes().all(|b| b.is_ascii_digit());
        digits
            .then(|| h.value.parse::<u32>().ok())
            .flatten()
            .ok_or_else(|| SipError::bad("Content-Length", &h.value))
    });
    let body = match declared {
        Some(Ok(want)) if want as usize <= rest.len() => &rest[..want as usize],
        Some(Ok(want)) => {
            note(
                &mut fault,
                Some(SipError::ShortBody {
                    got: rest.len(),
                    want: want as usize,
                }),
            );
            rest
        }
        Some(Err(e)) => {
            note(&mut fault, Some(e));
            rest
        }
        None => rest,
    };
    let headers = Headers::from(headers);
    let message = match start {
        Start::Request(method, uri, version) => SipMessage::Request(Request {
            method,
            uri,
            version,
            headers,
            body: body.to_vec(),
        }),
        Start::Response(code) => SipMessage::Response(Response {
            status_code: StatusCode(code),
            headers,
            body: body.to_vec(),
        }),
    };
    Ok(Parsed { message, fault })
}

/// [`read`] for callers that only want a message that breaks no rule.
pub fn parse(bytes: &[u8]) -> Result<SipMessage, SipError> {
    let parsed = read(bytes)?;
    match parsed.fault {
        Some(fault) => Err(fault),
        None => Ok(parsed.message),
    }
}

/// Keeps the first fault.
fn note(fault: &mut Option<SipError>, new: Option<SipError>) {
    if fault.is_none() {
        *fault = new;
    }
}

enum Start {
    Request(Method, String, Version),
    Response(u16),
}

/// `Request-Line = Method SP Request-URI SP SIP-Version` or `Status-Line = SIP-Version SP
/// Status-Code SP Reason-Phrase` (§7.1, §7.2).
fn start_line(line: &str, fault: &mut Option<SipError>) -> Result<Start, SipError> {
    let not_sip = || SipError::unparsable("the start line is neither a request nor a status line");
    if let Some(status) = line.strip_prefix("SIP/2.0 ") {
        // A status line; any reason phrase, even an empty one (RFC 4475 §3.1.1.12–13).
        let code = status
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
        let code = code.and_then(|c| c.parse::<u16>().ok());
        let then = status.as_bytes().get(3);
        return match code {
            Some(code) if (100..=699).contains(&code) && then.is_none_or(|&b| b == b' ') => {
                Ok(Start::Response(code))
            }
            _ => Err(SipError::unparsable("a status code outside 100-699")),
        };
    }
    // Trailing white space is tolerated (RFC 4475 §3.1.2.10 leaves it to the receiver).
    let line = line.trim_end_matches([' ', '\t']);
    let (method, rest) = line.split_once(' ').ok_or_else(not_sip)?;
    let method: Method = method.parse().map_err(|_| not_sip())?;
    let (uri, version) = rest.rsplit_once(' ').ok_or_else(not_sip)?;
    let version = match version_of(version) {
        Some((2, 0)) => Version::V2,
        Some(_) => {
            let mut text = version.to_owned();
            text.truncate(20);
            note(
                fault,
                Some(SipError::Version {
                    version: text.clone(),
                }),
            );
            Version::Other(text)
        }
        None => return Err(not_sip()),
    };
    if uri.starts_with(' ') || uri.ends_with(' ') {
        note(
            fault,
            Some(SipError::BadRequestLine {
                reason: "more than one SP between its elements",
            }),
        );
    } else if let Err(reason) = check_request_uri(uri) {
        note(fault, Some(SipError::BadRequestLine { reason }));
    }
    Ok(Start::Request(method, uri.to_owned(), version))
}

/// `"SIP" "/" 1*DIGIT "." 1*DIGIT` (case-insensitive, as ABNF strings are).
fn version_of(text: &str) -> Option<(u32, u32)> {
    if !text.get(..4)?.eq_ignore_ascii_case("SIP/") {
        return None;
    }
    let (major, minor) = text[4..].split_once('.')?;
    let number = |s: &str| {
        let digits = !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| s.parse().ok()).flatten()
    };
    Some((number(major)?, number(minor)?))
}

/// A Request-URI: an absolute URI of any scheme (an unknown one is answered 416 later, RFC
/// 4475 §3.3.2), with no white space, no brackets and nothing a URI cannot hold.
fn check_request_uri(uri: &str) -> Result<(), &'static str> {
    if uri.starts_with('<') {
        return Err("a Request-URI in <>");
    }
    if uri.contains([' ', '\t']) {
        return Err("white space in the Request-URI");
    }
    if !is_uri(uri) {
        return Err("the Request-URI is not a URI");
    }
    // §19.1.1: headers (`?` after the host) are not allowed in a SIP Request-URI (RFC 4475
    // §3.1.2.11); a `?` in the user part is only a character (§3.1.1.2).
    let host_on = uri.rfind('@').unwrap_or(0);
    if is_sip_uri(uri) && uri[host_on..].contains('?') {
        return Err("headers in the Request-URI");
    }
    Ok(())
}

/// Whether `uri` names the sip or sips scheme.
pub fn is_sip_uri(uri: &str) -> bool {
    let scheme = uri.split(':').next().unwrap_or("");
    scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")
}

/// `scheme ":" 1*uric`: a scheme (a letter, then letters, digits, `+ - .`) and then only
/// the characters RFC 3986 lets a URI hold (unreserved, reserved, `%`), plus `#`, which
/// carriers send unescaped in numbers.
pub fn is_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut scheme_bytes = scheme.bytes();
    scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'();/?:@&=+$,%[]#".contains(&b))
}

/// The header lines after the start line: `name HCOLON value`, a line starting with SP or
/// HT continuing the one before (§7.3.1: the fold reads as one SP).
fn header_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<Header>, SipError> {
    let mut headers: Vec<Header> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers
                .last_mut()
                .ok_or_else(|| SipError::unparsable("a continuation line before any header"))?;
            let more = line.trim_matches([' ', '\t']);
            if !more.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(more);
            }
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| SipError::unparsable("a header line without a colon"))?;
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(SipError::unparsable("a header name that is not a token"));
        }
        headers.push(Header {
            name: expand(name).to_owned(),
            value: value.trim_matches([' ', '\t']).to_owned(),
        });
    }
    Ok(headers)
}

fn expand(name: &str) -> &str {
    match name.as_bytes() {
        [c] => COMPACT
            .iter()
            .find(|(short, _)| c.eq_ignore_ascii_case(short))
            .map_or(name, |(_, long)| long),
        _ => name,
    }
}

/// The `&'static` name for an error about a header: the known ones by name, the rest as
/// "extension" (a header we do not know by name).
fn static_name(name: &str) -> &'static str {
    ADDRESSES
        .iter()
        .chain(SINGLE.iter())
        .chain(["Via"].iter())
        .find(|n| n.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("extension")
}

/// Walks a header value byte by byte, saying of each whether it is inside a quoted string
/// (the quotes themselves count as inside); a `\` in a quoted string and the byte it
/// escapes (a quoted-pair, §25.1) are stepped over. After the walk, `open` says whether a
/// quoted string never ended.
struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
    open: bool,
}

impl<'a> Walk<'a> {
    fn new(value: &'a str) -> Self {
        Self {
            bytes: value.as_bytes(),
            at: 0,
            open: false,
        }
    }
}

impl Iterator for Walk<'_> {
    type Item = (usize, u8, bool);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (i, b) = (self.at, *self.bytes.get(self.at)?);
            self.at += 1;
            match b {
                b'\\' if self.open => self.at += 1,
                b'"' => {
                    self.open = !self.open;
                    return Some((i, b, true));
                }
                _ => return Some((i, b, self.open)),
            }
        }
    }
}

/// No control character except HT, unless escaped in a quoted string.
fn check_value(value: &str) -> Result<(), &'static str> {
    let control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    match Walk::new(value).any(|(_, b, _)| control(b)) {
        true => Err("a control character"),
        false => Ok(()),
    }
}

/// Splits a header value at the commas that separate list elements: not inside a quoted
/// string and not inside `<>`.
pub fn split_list(value: &str) -> Vec<&str> {
    let (mut parts, mut start, mut angle) = (Vec::new(), 0, false);
    for (i, b, quoted) in Walk::new(value) {
        match b {
            _ if quoted => {}
            b'<' => angle = true,
            b'>' => angle = false,
            b',' if !angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// Each element of a From/To/Contact/Route value is a name-addr or an addr-spec with
/// parameters (§20.10, §25.1); `*` is a Contact of its own (REGISTER).
fn check_addresses(value: &str) -> Result<(), &'static str> {
    if value.trim() == "*" {
        return Ok(());
    }
    split_list(value)
        .into_iter()
        .try_for_each(|a| check_address(a.trim()))
}

fn check_address(value: &str) -> Result<(), &'static str> {
    let lt = match unquoted_find(value, b'<') {
        Ok(lt) => lt,
        Err(Unbalanced) => return Err("an unterminated quoted string"),
    };
    let Some(lt) = lt else {
        // addr-spec: "if the URI contains a comma, question mark or semicolon, the URI MUST
        // be enclosed in angle brackets" (§20); what follows the first `;` are parameters.
        let (uri, params) = value.split_at(value.find(';').unwrap_or(value.len()));
        let uri = uri.trim_end_matches([' ', '\t']);
        if uri.contains(['?', ',', ' ', '\t', '"']) || !is_uri(uri) {
            return Err("an address that is not a URI (a URI with ? or , needs <>)");
        }
        return check_params(params);
    };
    let display = value[..lt].trim_matches([' ', '\t']);
    let quoted = display.len() >= 2 && display.starts_with('"') && display.ends_with('"');
    if !display.is_empty()
        && !quoted
        && !display
            .split([' ', '\t'])
            .all(|w| w.is_empty() || is_token(w))
    {
        return Err("a display name that is neither tokens nor quoted");
    }
    let after = &value[lt + 1..];
    let gt = after.find('>').ok_or("a < without >")?;
    let uri = &after[..gt];
    if uri.contains([' ', '\t']) || !is_uri(uri) {
        return Err("no URI between < and >");
    }
    check_params(&after[gt + 1..])
}

/// `*( SEMI generic-param )`, white space allowed around `;` and `=` (§25.1 SEMI, EQUAL).
fn check_params(params: &str) -> Result<(), &'static str> {
    let params = params.trim_matches([' ', '\t']);
    if params.is_empty() {
        return Ok(());
    }
    let Some(params) = params.strip_prefix(';') else {
        return Err("something other than parameters after the address");
    };
    for param in params.split(';') {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if !is_token(name.trim_matches([' ', '\t'])) {
            return Err("an empty or bad parameter");
        }
        let value = value.trim_matches([' ', '\t']);
        let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
        let host = value.starts_with('[') && value.ends_with(']');
        if param.contains('=') && !(quoted || host || is_token(value)) {
            return Err("a parameter value that is neither a token nor quoted");
        }
    }
    Ok(())
}

struct Unbalanced;

/// The first `byte` outside quoted strings; `Err` if a quoted string never ends.
fn unquoted_find(value: &str, byte: u8) -> Result<Option<usize>, Unbalanced> {
    let mut walk = Walk::new(value);
    let found = walk.by_ref().find(|&(_, b, quoted)| b == byte && !quoted);
    walk.by_ref().for_each(drop);
    match walk.open {
        true => Err(Unbalanced),
        false => Ok(found.map(|(i, _, _)| i)),
    }
}

/// Numbers a peer gives us that have a range (RFC 4475 §3.1.2.4): Max-Forwards 0–255,
/// Expires and Min-Expires 32-bit delta-seconds. (CSeq is checked where it is read.)
fn check_scalars(headers: &[Header]) -> Result<(), SipError> {
    for h in headers {
        let (name, max): (&'static str, u64) = if h.is("Max-Forwards") {
            ("Max-Forwards", 255)
        } else if h.is("Expires") {
            ("Expires", u64::from(u32::MAX))
        } else if h.is("Min-Expires") {
            ("Min-Expires", u64::from(u32::MAX))
        } else {
            continue;
        };
        let ok = !h.value.is_empty()
            && h.value.len() <= 10
            && h.value.bytes().all(|b| b.is_ascii_digit())
            && h.value.parse::<u64>().is_ok_and(|n| n <= max);
        if !ok {
            return Err(SipError::bad(name, &h.value));
        }
    }
    Ok(())
}

/// The Content-Length a stream message's head (start line to blank line) declares; `None`
/// when there is none, two that differ, or one that is not a 32-bit number.
pub fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    let head = head.trim_end_matches("\r\n");
    let headers = header_lines(head.split("\r\n").skip(1)).ok()?;
    let mut values = headers.iter().filter(|h| h.is("Content-Length"));
    let first = values.next()?;
    if values.any(|h| h.value != first.value) {
        return None;
    }
    let digits = !first.value.is_empty() && first.value.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| first.value.parse::<u32>().ok())??
        .try_into()
        .ok()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> (Request, Option<SipError>) {
        let parsed = read(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"));
        match parsed.message {
            SipMessage::Request(r) => (r, parsed.fault),
            SipMessage::Response(_) => panic!("a response"),
        }
    }

    const HEAD: &str = "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n\
        To: <sip:a@example.com>\r\nFrom: <sip:b@example.com>;tag=1\r\n\
        Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n";

    fn options(first: &str, more: &str) -> String {
        format!("{first}\r\n{HEAD}{more}Content-Length: 0\r\n\r\n")
    }

    #[test]
    fn folded_lines_unfold_into_one_value() {
        let text = options(
            "OPTIONS sip:a@example.com SIP/2.0",
            "NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n\
             Subject :\r\n\tlater\r\n",
        );
        let (r, fault) = request(&text);
        assert_eq!(fault, None);
        let value = |n: &str| r.headers.iter().find(|h| h.is(n)).unwrap().value.clone();
        assert_eq!(
            value("NewFangledHeader"),
            "newfangled value continued newfangled value"
        );
        assert_eq!(value("Subject"), "later");
    }

    #[test]
    fn an_extension_method_and_any_scheme_are_read() {
        let (r, fault) = request(&options("FOO nobodyKnowsThisScheme:opaque SIP/2.0", ""));
        assert_eq!(fault, None);
        assert_eq!(r.method, Method::Other("FOO".into()));
        assert_eq!(r.uri, "nobodyKnowsThisScheme:opaque");
    }

    #[test]
    fn a_readable_but_wrong_request_line_is_a_fault_not_an_error() {
        for (line, fault) in [
            ("INVITE <sip:a@example.com> SIP/2.0", "a Request-URI in <>"),
            (
                "INVITE sip:a@example.com; lr SIP/2.0",
                "white space in the Request-URI",
            ),
            (
                "INVITE  sip:a@example.com  SIP/2.0",
                "more than one SP between its elements",
            ),
            (
                "INVITE sip:a@example.com?Route=%3Csip:x%3E SIP/2.0",
                "headers in the Request-URI",
            ),
        ] {
            let (_, got) = request(&options(line, ""));
            assert_eq!(
                got,
                Some(SipError::BadRequestLine { reason: fault }),
                "{line}"
            );
        }
        let (r, got) = request(&options("OPTIONS sip:a@example.com SIP/7.0", ""));
        assert_eq!(
            got,
            Some(SipError::Version {
                version: "SIP/7.0".into()
            })
        );
        assert_eq!(r.version, Version::Other("SIP/7.0".into()));
        let (_, trailing) = request(&options("OPTIONS sip:a@example.com SIP/2.0  ", ""));
        assert_eq!(trailing, None);
    }

    #[test]
    fn what_is_not_a_message_is_an_error() {
        for junk in [
            "",
            "\r\n\r\n",
            "INVITE\r\n\r\n",
            "SIP/2.0 abc\r\n\r\n",
            "SIP/2.0 4294967301 better not break the receiver\r\n\r\n",
            "SIP/2.0 050 Low\r\n\r\n",
            "INVITE sip:a@b HTTP/1.1\r\n\r\n",
            "<INVITE> sip:a@b SIP/2.0\r\n\r\n",
            " continued\r\nOPTIONS sip:a@b SIP/2.0\r\n\r\n",
            "OPTIONS sip:a@b SIP/2.0\r\nno colon here\r\n\r\n",
            "OPTIONS sip:a@b SIP/2.0\r\nVia: a\nTo: b\r\n\r\n",
        ] {
            assert!(read(junk.as_bytes()).is_err(), "{junk:?}");
        }
        assert!(read(&[0xff; 40]).is_err());
    }

    #[test]
    fn content_length_rules() {
        let base = "OPTIONS sip:a@example.com SIP/2.0";
        let (r, f) = request(&format!("{base}\r\n{HEAD}Content-Length: 3\r\n\r\nabcdef"));
        assert_eq!(
            (r.body.as_slice(), f),
            (&b"abc"[..], None),
            "trailing bytes cut"
        );
        let (_, f) = request(&format!("{base}\r\n{HEAD}Content-Length: 9\r\n\r\nabc"));
        assert_eq!(f, Some(SipError::ShortBody { got: 3, want: 9 }));
        let (_, f) = request(&format!("{base}\r\n{HEAD}Content-Length: -999\r\n\r\n"));
        assert_eq!(f, Some(SipError::bad("Content-Length", "-999")));
        let (_, f) = request(&format!(
            "{base}\r\n{HEAD}l: 0\r\nContent-Length: 0\r\n\r\n"
        ));
        assert_eq!(
            f,
            Some(SipError::Duplicate {
                name: "Content-Length"
            })
        );
        let (r, f) = request(&format!("{base}\r\n{HEAD}\r\nabc"));
        assert_eq!(
            (r.body.as_slice(), f),
            (&b"abc"[..], None),
            "no length: the rest"
        );
    }

    #[test]
    fn addresses_are_checked() {
        for (header, ok) in [
            ("To: caller<sip:caller@example.com>;tag=323", true),
            (
                "To: \"J Rosenberg \\\\\\\"\" <sip:j@example.com> ; tag = 98",
                true,
            ),
            ("To: sip:a@example.com ;   tag    = 1918181833n", true),
            ("Contact: *", true),
            ("Contact: <sip:a@x>;expires=60, \"B\" <sip:b@y>", true),
            ("To: \"BEL:\\\u{7} NUL:\\\u{0}\" <sip:a@example.com>", true),
            ("To: Bell, Alexander <sip:a@example.com>", false),
            ("To: \"Watson, Thomas\" < sip:t@example.org >", false),
            ("To: \"Mr. J. User <sip:j.user@example.com>", false),
            ("Contact: sip:user@example.com?Route=%3Csip:x%3E", false),
            ("Contact: \"Joe\" <sip:joe@example.org>;;;;", false),
            ("To: BEL:\u{7} <sip:a@example.com>", false),
        ] {
            let head = HEAD.replace("To: <sip:a@example.com>\r\n", "");
            let text = format!("OPTIONS sip:a@example.com SIP/2.0\r\n{head}{header}\r\n\r\n");
            let (_, f) = request(&text);
            assert_eq!(f.is_none(), ok, "{header:?}: {f:?}");
        }
    }

    #[test]
    fn single_headers_twice_and_scalars_out_of_range_are_faults() {
        let base = "OPTIONS sip:a@example.com SIP/2.0";
        let (_, f) = request(&options(base, "Call-ID: again\r\n"));
        assert_eq!(f, Some(SipError::Duplicate { name: "Call-ID" }));
        for (more, name) in [
            ("Max-Forwards: 300\r\n", "Max-Forwards"),
            ("Expires: 10000000000000000\r\n", "Expires"),
        ] {
            let head = HEAD.replace("Max-Forwards: 70\r\n", "");
            let text = format!("{base}\r\n{head}{more}\r\n");
            let (_, f) = request(&text);
            assert!(
                matches!(f, Some(SipError::BadHeader { name: n, .. }) if n == name),
                "{more}: {f:?}"
            );
        }
    }

    #[test]
    fn responses_with_any_reason_phrase() {
        for line in ["SIP/2.0 100 ", "SIP/2.0 200 Окей", "SIP/2.0 180"] {
            let text = format!("{line}\r\n{HEAD}\r\n");
            let parsed = read(text.as_bytes()).unwrap();
            assert!(matches!(parsed.message, SipMessage::Response(_)), "{line}");
        }
    }
}
