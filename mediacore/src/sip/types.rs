//! Pure: the SIP message as data (RFC 3261 §7): methods, requests, responses and their
//! headers, and how they are written out. Reading them is `parse`; building them is
//! `message`.
//!
//! Our own types replaced `rsip` (last release 2022): its closed method set could not hold
//! an extension method (so no `501 Not Implemented`), its URI type refused schemes it did
//! not know (so no `416`), and it refused folded header lines, all of which RFC 4475 says a
//! receiver must take. A header is a name and its unfolded value; the few fields the
//! transaction and dialog layers need are read from the text by `message`'s small parsers.

use std::fmt;
use std::str::FromStr;

/// A message we could not use. Always the peer's fault: answered (400, or 505 for
/// [`SipError::Version`]) when we can tell who to answer, otherwise dropped and counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    /// Not a SIP message at all: nothing in it can be trusted, not even where to answer.
    #[error("unparsable SIP message: {reason}")]
    Unparsable {
        /// What is wrong.
        reason: String,
    },
    /// The request line is readable but wrong (RFC 4475 §3.1.2.7–9: a Request-URI in `<>`,
    /// with white space in it, elements separated by more than one SP).
    #[error("bad request line: {reason}")]
    BadRequestLine {
        /// What is wrong.
        reason: &'static str,
    },
    /// A protocol version other than SIP/2.0 (answered 505).
    #[error("unsupported protocol version {version}")]
    Version {
        /// The version as received (truncated to 20 bytes).
        version: String,
    },
    /// A header every request/response must carry is missing.
    #[error("missing {name} header")]
    MissingHeader {
        /// The header's full name.
        name: &'static str,
    },
    /// A header that may appear once appears twice (RFC 3261 §7.3.1, RFC 4475 §3.3.8–9).
    #[error("more than one {name} header")]
    Duplicate {
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
    /// A [`SipError::BadHeader`] with the value cut to 100 bytes.
    pub fn bad(name: &'static str, value: &str) -> Self {
        let mut value = value.to_owned();
        value.truncate(value.floor_char_boundary(100));
        Self::BadHeader { name, value }
    }

    /// A [`SipError::Unparsable`].
    pub fn unparsable(reason: &str) -> Self {
        Self::Unparsable {
            reason: reason.to_owned(),
        }
    }
}

/// A request method (RFC 3261 §7.1, §27.4). Any token is a method; the ones we know by name
/// are variants, the rest are kept as `Other` so that they can be answered `501`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE.
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// OPTIONS.
    Options,
    /// REGISTER.
    Register,
    /// INFO (RFC 6086).
    Info,
    /// UPDATE (RFC 3311).
    Update,
    /// NOTIFY (RFC 6665).
    Notify,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// REFER (RFC 3515).
    Refer,
    /// MESSAGE (RFC 3428).
    Message,
    /// PRACK (RFC 3262).
    Prack,
    /// PUBLISH (RFC 3903).
    Publish,
    /// An extension method, as received (method names are case-sensitive, §7.1).
    Other(String),
}

const KNOWN: [(&str, Method); 14] = [
    ("INVITE", Method::Invite),
    ("ACK", Method::Ack),
    ("BYE", Method::Bye),
    ("CANCEL", Method::Cancel),
    ("OPTIONS", Method::Options),
    ("REGISTER", Method::Register),
    ("INFO", Method::Info),
    ("UPDATE", Method::Update),
    ("NOTIFY", Method::Notify),
    ("SUBSCRIBE", Method::Subscribe),
    ("REFER", Method::Refer),
    ("MESSAGE", Method::Message),
    ("PRACK", Method::Prack),
    ("PUBLISH", Method::Publish),
];

impl Method {
    /// The method's name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(name) => name,
            known => KNOWN
                .iter()
                .find(|(_, m)| m == known)
                .map_or("", |(name, _)| name),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A method name that is not a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAToken;

impl FromStr for Method {
    type Err = NotAToken;

    fn from_str(s: &str) -> Result<Self, NotAToken> {
        if !is_token(s) {
            return Err(NotAToken);
        }
        Ok(KNOWN
            .iter()
            .find(|(name, _)| *name == s)
            .map_or_else(|| Self::Other(s.to_owned()), |(_, m)| m.clone()))
    }
}

/// RFC 3261 §25.1 `token`: one or more of alphanumerics and `-.!%*_+`'~`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// One byte of a `token`.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// The protocol version of a request line. Only 2.0 is ours; another one is kept so that
/// the request can be answered `505` (RFC 3261 §8.2, RFC 4475 §3.1.2.16).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Version {
    /// SIP/2.0.
    #[default]
    V2,
    /// Any other `SIP/x.y`, as received.
    Other(String),
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V2 => f.write_str("SIP/2.0"),
            Self::Other(v) => f.write_str(v),
        }
    }
}

/// A status code, 100 to 699 (RFC 3261 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// The number.
    pub fn code(self) -> u16 {
        self.0
    }
}

/// One header line: its name (a compact form already expanded, the case as received) and
/// its value with folds unfolded and the surrounding white space trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

impl Header {
    /// Whether this header is called `name` (header names are case-insensitive, §7.3.1).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

/// A message's headers, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// Appends a header.
    pub fn push(&mut self, header: Header) {
        self.0.push(header);
    }

    /// The headers in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Keeps only the headers `keep` says yes to.
    pub fn retain(&mut self, keep: impl FnMut(&Header) -> bool) {
        self.0.retain(keep);
    }

    /// How many header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Header>> for Headers {
    fn from(headers: Vec<Header>) -> Self {
        Self(headers)
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI, as text (any scheme).
    pub uri: String,
    /// The version from the request line.
    pub version: Version,
    /// The headers.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status_code: StatusCode,
    /// The headers.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// Asked for a request, got a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotARequest;

impl TryFrom<SipMessage> for Request {
    type Error = NotARequest;

    fn try_from(msg: SipMessage) -> Result<Self, NotARequest> {
        match msg {
            SipMessage::Request(r) => Ok(r),
            SipMessage::Response(_) => Err(NotARequest),
        }
    }
}

impl SipMessage {
    /// The headers of either kind.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }

    /// The body of either kind.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Request(r) => &r.body,
            Self::Response(r) => &r.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_token_is_a_method_and_the_known_ones_are_named() {
        assert_eq!("INVITE".parse(), Ok(Method::Invite));
        assert_eq!(
            "RE%47IST%45R".parse(),
            Ok(Method::Other("RE%47IST%45R".into()))
        );
        // Method names are case-sensitive: `invite` is an extension method.
        assert_eq!("invite".parse(), Ok(Method::Other("invite".into())));
        let odd = "!interesting-Method0123456789_*+`.%indeed'~";
        assert_eq!(odd.parse::<Method>().unwrap().to_string(), odd);
        for bad in ["", "IN VITE", "<INVITE>", "INVITE:"] {
            assert_eq!(bad.parse::<Method>(), Err(NotAToken), "{bad:?}");
        }
        for (name, method) in KNOWN {
            assert_eq!(method.to_string(), name);
        }
    }
}
