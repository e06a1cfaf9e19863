//! Pure: HTTP digest authentication as a SIP client (RFC 3261 §22.2, §22.4; RFC 7616 for
//! SHA-256 and qop; RFC 8760 for its use in SIP).
//!
//! We only answer challenges: a 401 (WWW-Authenticate → Authorization) or 407
//! (Proxy-Authenticate → Proxy-Authorization). When a server offers several challenges we
//! take SHA-256 over MD5. `qop=auth` is used when offered; `auth-int` alone is refused.

use super::message::{Request, Response};
use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The hash a challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (RFC 2617), the default when the challenge names none.
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The `algorithm=` parameter (MD5 when absent; some peers write `SHA256`).
    fn parse(value: Option<String>) -> Result<Self, DigestError> {
        match value {
            None => Ok(Self::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Ok(Self::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") || a.eq_ignore_ascii_case("SHA256") => {
                Ok(Self::Sha256)
            }
            Some(other) => Err(DigestError::Algorithm(other)),
        }
    }

    fn token(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    fn hex(self, data: &str) -> String {
        match self {
            Self::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Self::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// A challenge we can answer, parsed from a WWW-Authenticate or Proxy-Authenticate value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`, echoed back.
    pub realm: String,
    /// `nonce`, echoed back.
    pub nonce: String,
    /// `opaque`, echoed back when present.
    pub opaque: Option<String>,
    /// The hash to use.
    pub algorithm: Algorithm,
    /// Whether the server offered `qop=auth`.
    pub qop_auth: bool,
    /// `stale=true`: our credentials were right, only the nonce expired.
    pub stale: bool,
}

/// A challenge we cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not the Digest scheme (e.g. Basic).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// realm or nonce missing.
    #[error("digest challenge without {0}")]
    Missing(&'static str),
    /// An algorithm we do not implement (SHA-512-256, -sess variants).
    #[error("unsupported digest algorithm {0:?}")]
    Algorithm(String),
    /// Only qop=auth-int offered.
    #[error("unsupported qop {0:?}")]
    Qop(String),
}

/// Splits `a=b, c="d,e"` into pairs, honouring quotes and backslash escapes.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.trim().is_empty() {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
            while chars.peek().is_some_and(|&c| c != ',') {
                chars.next();
            }
        } else {
            value = chars.by_ref().take_while(|&c| c != ',').collect();
        }
        out.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// The parameters of a `Digest …` header value (challenge or credentials).
fn digest_params(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    Ok(params(rest))
}

impl Challenge {
    /// Parses one challenge header value.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let params = digest_params(value)?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let realm = get("realm").ok_or(DigestError::Missing("realm"))?;
        let nonce = get("nonce").ok_or(DigestError::Missing("nonce"))?;
        let algorithm = Algorithm::parse(get("algorithm"))?;
        let qop_auth = match get("qop") {
            None => false,
            Some(q) if q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) => true,
            Some(other) => return Err(DigestError::Qop(other)),
        };
        Ok(Self {
            realm,
            nonce,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The best challenge among several header values: SHA-256 first, then MD5.
    pub fn choose<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, DigestError> {
        let mut best: Option<Self> = None;
        let mut last_error = DigestError::Missing("challenge");
        for value in values {
            match Self::parse(value) {
                Ok(c) if best.as_ref().is_none_or(|b| b.algorithm == Algorithm::Md5) => {
                    best = Some(c);
                }
                Ok(_) => {}
                Err(e) => last_error = e,
            }
        }
        best.ok_or(last_error)
    }
}

/// The answer to a challenge, ready for an Authorization or Proxy-Authorization header.
///
/// `nc` counts the requests made with this nonce (1 for the first); `cnonce` is our random
/// client nonce (only used with qop).
pub fn authorization(
    challenge: &Challenge,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let alg = challenge.algorithm;
    let ha1 = alg.hex(&format!("{username}:{}:{password}", challenge.realm));
    let ha2 = alg.hex(&format!("{method}:{uri}"));
    let nonce = &challenge.nonce;
    let response = if challenge.qop_auth {
        alg.hex(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}"))
    } else {
        alg.hex(&format!("{ha1}:{nonce}:{ha2}"))
    };
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
        quote(username),
        quote(&challenge.realm),
        alg.token()
    );
    if challenge.qop_auth {
        out.push_str(&format!(", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\""));
    }
    if let Some(opaque) = &challenge.opaque {
        out.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
    }
    out
}

/// Answers the challenge in `response` (401 or 407) on `request`: replaces any earlier
/// Authorization/Proxy-Authorization and adds ours. The caller gives the request a new
/// branch and CSeq (see [`crate::sip::message::renew`]).
pub fn authorize(
    request: &mut Request,
    response: &Response,
    username: &str,
    password: &str,
    nc: u32,
) -> Result<Challenge, DigestError> {
    use crate::sip::message::{headers_named, push_header, remove_headers};
    let (ask, answer) = match response.status_code.code() {
        407 => ("Proxy-Authenticate", "Proxy-Authorization"),
        _ => ("WWW-Authenticate", "Authorization"),
    };
    let challenge = Challenge::choose(headers_named(&response.headers, ask))?;
    let cnonce = format!("{:016x}", rand::random::<u64>());
    let uri = request.uri.to_string();
    let method = request.method.to_string();
    let value = authorization(&challenge, username, password, &method, &uri, nc, &cnonce);
    remove_headers(&mut request.headers, answer);
    push_header(&mut request.headers, answer, value);
    Ok(challenge)
}

/// The fields of an Authorization header we check as a server (RFC 3261 §22.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`, which must be one we issued.
    pub nonce: String,
    /// `uri`.
    pub uri: String,
    /// `response`, the hash to check.
    pub response: String,
    /// `algorithm` (MD5 when absent).
    pub algorithm: Algorithm,
    /// `nc` and `cnonce` when `qop=auth` was used.
    pub qop: Option<(String, String)>,
}

impl Authorization {
    /// Parses an Authorization / Proxy-Authorization value.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let params = digest_params(value)?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let need = |k: &'static str| get(k).ok_or(DigestError::Missing(k));
        let algorithm = Algorithm::parse(get("algorithm"))?;
        let qop = match get("qop") {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => Some((need("nc")?, need("cnonce")?)),
            Some(other) => return Err(DigestError::Qop(other)),
        };
        Ok(Self {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: need("response")?,
            algorithm,
            qop,
        })
    }

    /// Whether `response` is right for `password` and `method`.
    pub fn verify(&self, password: &str, method: &str) -> bool {
        let alg = self.algorithm;
        let ha1 = alg.hex(&format!("{}:{}:{password}", self.username, self.realm));
        let ha2 = alg.hex(&format!("{method}:{}", self.uri));
        let expected = match &self.qop {
            Some((nc, cnonce)) => {
                alg.hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
            }
            None => alg.hex(&format!("{ha1}:{}:{ha2}", self.nonce)),
        };
        // Compared without an early exit, so timing says nothing about how close a guess was.
        let (a, b) = (
            expected.as_bytes(),
            self.response.to_ascii_lowercase().into_bytes(),
        );
        a.len() == b.len() && a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A WWW-Authenticate value challenging a peer (MD5, qop=auth: what every SIP trunk
/// device answers).
pub fn challenge(realm: &str, nonce: &str) -> String {
    format!(
        "Digest realm=\"{}\", nonce=\"{nonce}\", qop=\"auth\", algorithm=MD5",
        quote(realm)
    )
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_of(auth: &str) -> &str {
        let start = auth.find("response=\"").unwrap() + 10;
        &auth[start..start + auth[start..].find('"').unwrap()]
    }

    #[test]
    fn rfc_2617_example_gives_its_published_response() {
        let ch = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(ch.qop_auth);
        let auth = authorization(
            &ch,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert_eq!(response_of(&auth), "6629fae49393a05397450978507c4ef1");
        assert!(auth.contains("nc=00000001"), "{auth}");
        assert!(
            auth.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{auth}"
        );
    }

    #[test]
    fn rfc_7616_sha256_and_md5_examples_give_their_published_responses() {
        let base = "realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let sha = Challenge::parse(&format!("Digest {base}, algorithm=SHA-256")).unwrap();
        let md5 = Challenge::parse(&format!("Digest {base}, algorithm=MD5")).unwrap();
        let a = authorization(
            &sha,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            cnonce,
        );
        assert_eq!(
            response_of(&a),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert!(a.contains("algorithm=SHA-256"));
        let b = authorization(
            &md5,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            cnonce,
        );
        assert_eq!(response_of(&b), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn sha256_is_preferred_when_both_are_offered() {
        let ch = Challenge::choose([
            "Digest realm=\"r\", nonce=\"n1\", algorithm=MD5",
            "Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256",
        ])
        .unwrap();
        assert_eq!((ch.algorithm, ch.nonce.as_str()), (Algorithm::Sha256, "n2"));
    }

    #[test]
    fn challenges_we_cannot_answer_are_errors() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(DigestError::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(DigestError::Missing("realm"))
        );
        assert!(matches!(
            Challenge::parse("Digest realm=r, nonce=n, algorithm=SHA-512-256"),
            Err(DigestError::Algorithm(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=r, nonce=n, qop=auth-int"),
            Err(DigestError::Qop(_))
        ));
        assert!(Challenge::parse("").is_err());
        assert!(Challenge::parse("Digest \"\\").is_err());
    }

    #[test]
    fn our_own_answer_verifies_as_a_server_and_a_wrong_password_does_not() {
        let ch = Challenge::parse(&challenge("allerta", "n0nce")).unwrap();
        let auth = authorization(&ch, "gw", "pw", "INVITE", "sip:100@10.78.0.11", 1, "c1");
        let creds = Authorization::parse(&auth).unwrap();
        assert_eq!(creds.qop, Some(("00000001".into(), "c1".into())));
        assert!(creds.verify("pw", "INVITE"));
        assert!(!creds.verify("wrong", "INVITE"));
        assert!(!creds.verify("pw", "BYE"));
        assert!(Authorization::parse("Digest username=\"a\"").is_err());
    }

    #[test]
    fn no_qop_uses_the_rfc_2069_form() {
        let ch = Challenge::parse("Digest realm=\"asterisk\",nonce=\"1234\"").unwrap();
        let a = authorization(&ch, "alice", "secret", "REGISTER", "sip:10.78.0.1", 1, "c");
        assert!(!a.contains("qop"), "{a}");
        let ha1 = Algorithm::Md5.hex("alice:asterisk:secret");
        let ha2 = Algorithm::Md5.hex("REGISTER:sip:10.78.0.1");
        assert_eq!(
            response_of(&a),
            Algorithm::Md5.hex(&format!("{ha1}:1234:{ha2}"))
        );
    }
}
