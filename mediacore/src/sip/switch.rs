//! Pure: what the media core decides for each SIP request a peer sends outside a
//! transaction it already has: a request inside a dialog goes to its call; an INVITE is
//! identified as one of our trunks (by address, `identify`) or authenticated (digest,
//! RFC 3261 §22.4, with nonces we issued, that expire and buy one attempt each: `nonce`),
//! then admitted if a call slot is free; OPTIONS is answered; any other method is not
//! allowed. An address that answers a challenge wrongly [`GUESSES`] times in [`GUESS_WINDOW`]
//! is refused without a check until the window passes. The engine (`engine.rs`) performs the
//! decision: it owns the sockets, the transactions and the calls.
//!
//! Nothing here keeps state for a peer that has not proved itself, beyond the bounded
//! records of `nonce` and `lockout`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::message::{Method, Request, Response};

use super::dialog::DialogId;
use super::nonce::{Nonces, Stale};
use super::{digest, message, uas};
use crate::conf::pjsip::Trunk;
use crate::lockout::Lockout;

/// The realm of our digest challenges.
pub const REALM: &str = "allerta";
/// Wrong answers an address may give within [`GUESS_WINDOW`] before it is refused unheard.
pub const GUESSES: u32 = 5;
/// See [`GUESSES`].
pub const GUESS_WINDOW: Duration = Duration::from_secs(300);
/// How many guessing addresses are remembered at most.
const GUESSERS_MAX: usize = 4096;

/// What to do with a request.
#[derive(Debug)]
pub enum Decision {
    /// Not a request we can place (its Call-ID, From or To is unusable): dropped.
    Drop,
    /// Inside a dialog: the call that owns `DialogId` answers it (481 if none does).
    InDialog(DialogId),
    /// Answer with this response, and that is all.
    Respond(Response),
    /// An INVITE refused (403; 503 while too many peers authenticate at once): the engine
    /// counts it (`unidentified_invites`) and logs why.
    Refuse {
        response: Response,
        reason: &'static str,
    },
    /// A new inbound call on trunk number `trunk`, admitted: the engine opens its leg.
    Call {
        trunk: usize,
        /// The Request-URI's user part (`s` when there is none).
        exten: String,
        /// The From URI's user part.
        caller: String,
        /// Whether the peer proved who it is with a password (else: by its address).
        authenticated: bool,
    },
}

#[derive(Debug)]
pub struct Switch {
    max_calls: usize,
    nonces: Nonces,
    guessers: Lockout<IpAddr>,
}

impl Switch {
    pub fn new(max_calls: usize, now: Instant) -> Self {
        Self {
            max_calls,
            nonces: Nonces::new(now),
            guessers: Lockout::new(GUESSES, GUESS_WINDOW, GUESSERS_MAX),
        }
    }

    /// What the switch remembers about unproven peers: answered nonces, guessing addresses
    /// (the tests check that both stay bounded).
    pub fn remembered(&self) -> (usize, usize) {
        (self.nonces.spent(), self.guessers.len())
    }

    /// Decides for `request` from `peer`, with `trunks` as configured now (in their order:
    /// `Decision::Call::trunk` counts in it) and `calls` in progress. The trunks are walked
    /// only for an INVITE, and nothing is allocated for them.
    pub fn request<'a>(
        &mut self,
        now: Instant,
        request: &Request,
        peer: IpAddr,
        trunks: impl Iterator<Item = &'a Trunk> + Clone,
        calls: usize,
    ) -> Decision {
        let Ok(ids) = message::Ids::of(&request.headers) else {
            return Decision::Drop;
        };
        // §8.2's checks; a new INVITE's come once it is authenticated (in `invite`).
        if request.method != Method::Invite || ids.to_tag.is_some() {
            if let Some(response) = uas::inspect(request) {
                return Decision::Respond(response);
            }
        }
        if let Some(to_tag) = ids.to_tag {
            return Decision::InDialog(DialogId {
                call_id: ids.call_id,
                local_tag: to_tag,
                remote_tag: ids.from_tag,
            });
        }
        match request.method {
            Method::Invite => self.invite(now, request, peer, trunks, calls),
            Method::Options => {
                let mut response = message::response(request, 200, Some(&message::token()));
                message::push_header(&mut response.headers, "Allow", message::ALLOW);
                message::push_header(&mut response.headers, "Accept", "application/sdp");
                Decision::Respond(response)
            }
            Method::Bye => Decision::Respond(reply(request, 481)),
            _ => {
                let mut response = message::response(request, 405, Some(&message::token()));
                message::push_header(&mut response.headers, "Allow", message::ALLOW);
                Decision::Respond(response)
            }
        }
    }

    fn invite<'a>(
        &mut self,
        now: Instant,
        request: &Request,
        peer: IpAddr,
        trunks: impl Iterator<Item = &'a Trunk> + Clone,
        calls: usize,
    ) -> Decision {
        let identified = trunks
            .clone()
            .position(|t| t.identify.iter().any(|net| net.contains(&peer)));
        let (trunk, authenticated) = match identified {
            Some(trunk) => (trunk, false),
            None => match self.authenticate(now, request, peer, trunks) {
                Ok(trunk) => (trunk, true),
                Err(decision) => return decision,
            },
        };
        if let Some(response) = uas::inspect(request) {
            return Decision::Respond(response);
        }
        if calls >= self.max_calls {
            tracing::warn!(
                max = self.max_calls,
                "call limit reached; refusing with 503"
            );
            return Decision::Respond(reply(request, 503));
        }
        let exten = match uri_user(&request.uri.to_string()) {
            user if user.is_empty() => "s".to_owned(),
            user => user,
        };
        let caller = message::header(&request.headers, "From")
            .map(uri_user)
            .unwrap_or_default();
        Decision::Call {
            trunk,
            exten,
            caller,
            authenticated,
        }
    }

    /// An INVITE from no identified address: accepted only from a peer that proves it is
    /// an endpoint with `auth=`, else a challenge (401) or a refusal (403).
    fn authenticate<'a>(
        &mut self,
        now: Instant,
        request: &Request,
        peer: IpAddr,
        trunks: impl Iterator<Item = &'a Trunk> + Clone,
    ) -> Result<usize, Decision> {
        if !trunks.clone().any(|t| t.inbound_auth.is_some()) {
            return Err(refuse(request, "unidentified address"));
        }
        if self.guessers.is_locked(now, &peer) {
            return Err(refuse(
                request,
                "too many wrong passwords from this address",
            ));
        }
        let Some(value) = message::header(&request.headers, "Authorization") else {
            return Err(self.challenge(now, request, peer));
        };
        let Ok(creds) = digest::Authorization::parse(value) else {
            return Err(refuse(request, "unusable Authorization"));
        };
        match self.nonces.spend(now, &creds.nonce, peer) {
            Ok(()) => {}
            // Not ours, expired or used: a fresh challenge (the password may be right).
            Err(Stale::Foreign | Stale::Expired | Stale::Spent) => {
                return Err(self.challenge(now, request, peer))
            }
            Err(Stale::Busy) => {
                return Err(Decision::Refuse {
                    response: reply(request, 503),
                    reason: "too many authentication attempts in the last minute",
                })
            }
        }
        // The answer must be for our realm. Its `uri` is not compared with the Request-URI
        // (RFC 2617 §3.2.2.5 says "should"): sipp and other clients put the server's address
        // there, Asterisk does not compare it either, and a nonce that buys one attempt from
        // one address cannot be replayed for another request anyway.
        let method = request.method.to_string();
        let fits = creds.realm == REALM;
        let found = trunks.clone().position(|t| {
            t.inbound_auth
                .as_ref()
                .is_some_and(|a| a.username == creds.username && creds.verify(&a.password, &method))
        });
        match found.filter(|_| fits) {
            Some(trunk) => {
                self.guessers.succeeded(&peer);
                Ok(trunk)
            }
            None => {
                if self.guessers.failed(now, &peer) {
                    tracing::warn!(%peer, guesses = GUESSES, "address locked out for guessing");
                }
                Err(refuse(
                    request,
                    if fits {
                        "wrong credentials"
                    } else {
                        "credentials for another realm"
                    },
                ))
            }
        }
    }

    fn challenge(&mut self, now: Instant, request: &Request, peer: IpAddr) -> Decision {
        let nonce = self.nonces.issue(now, peer);
        let mut response = reply(request, 401);
        message::push_header(
            &mut response.headers,
            "WWW-Authenticate",
            digest::challenge(REALM, &nonce),
        );
        Decision::Respond(response)
    }
}

fn reply(request: &Request, code: u16) -> Response {
    message::response(request, code, Some(&message::token()))
}

fn refuse(request: &Request, reason: &'static str) -> Decision {
    Decision::Refuse {
        response: reply(request, 403),
        reason,
    }
}

/// The user part of a SIP URI in a header value.
pub fn uri_user(value: &str) -> String {
    let uri = message::addr_uri(value);
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    rest.rsplit_once('@')
        .map_or("", |(u, _)| u)
        .split(';')
        .next()
        .unwrap_or("")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::pjsip::PjsipConfig;

    /// The carrier's trunk (identified by address) and a PBX that authenticates.
    fn trunks() -> Vec<Trunk> {
        let text = "\
[carrier]\ntype=endpoint\ncontext=from-carrier\nallow=ulaw\n\
[carrier-ip]\ntype=identify\nendpoint=carrier\nmatch=198.51.100.0/24\n\
[pbx]\ntype=endpoint\ncontext=from-pbx\nallow=ulaw\nauth=pbx-auth\n\
[pbx-auth]\ntype=auth\nauth_type=userpass\nusername=pbx\npassword=s3cret\n";
        PjsipConfig::parse_str(text, "pjsip.conf")
            .unwrap()
            .trunks()
            .to_vec()
    }

    fn invite(extra: &str) -> Request {
        let text = format!(
            "INVITE sip:112@192.0.2.11 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-1\r\n\
             From: <sip:0612345678@203.0.113.5>;tag=a1\r\n\
             To: <sip:112@192.0.2.11>\r\n\
             Call-ID: c1@203.0.113.5\r\n\
             CSeq: 1 INVITE\r\n\
             {extra}Content-Length: 0\r\n\r\n"
        );
        request_of(text.as_bytes()).unwrap()
    }

    fn request_of(bytes: &[u8]) -> Result<Request, message::SipError> {
        Ok(Request::try_from(message::parse(bytes)?).expect("a request"))
    }

    fn code(d: &Decision) -> u16 {
        match d {
            Decision::Respond(r) | Decision::Refuse { response: r, .. } => r.status_code.code(),
            other => panic!("not a response: {other:?}"),
        }
    }

    fn run(switch: &mut Switch, now: Instant, req: &Request, peer: &str, calls: usize) -> Decision {
        let trunks = trunks();
        switch.request(now, req, peer.parse().unwrap(), trunks.iter(), calls)
    }

    #[test]
    fn the_carriers_address_identifies_its_trunk_and_a_slot_admits_the_call() {
        let mut s = Switch::new(2, Instant::now());
        let now = Instant::now();
        match run(&mut s, now, &invite(""), "198.51.100.7", 0) {
            Decision::Call {
                trunk,
                exten,
                caller,
                authenticated,
            } => {
                assert_eq!(
                    (trunk, exten.as_str(), caller.as_str()),
                    (0, "112", "0612345678")
                );
                assert!(!authenticated);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(code(&run(&mut s, now, &invite(""), "198.51.100.7", 2)), 503);
    }

    /// Asks for a challenge from `peer` and answers it with `password` (for `realm`, else ours).
    fn answer(
        s: &mut Switch,
        now: Instant,
        peer: &str,
        password: &str,
        realm: Option<&str>,
    ) -> Decision {
        let Decision::Respond(response) = run(s, now, &invite(""), peer, 0) else {
            panic!("no challenge")
        };
        assert_eq!(response.status_code.code(), 401);
        let header = message::header(&response.headers, "WWW-Authenticate").unwrap();
        let mut challenge = digest::Challenge::parse(header).unwrap();
        if let Some(realm) = realm {
            challenge.realm = realm.to_owned();
        }
        let value = digest::authorization(&challenge, "pbx", password, "INVITE", URI, 1, "c0ffee");
        run(
            s,
            now,
            &invite(&format!("Authorization: {value}\r\n")),
            peer,
            0,
        )
    }

    const URI: &str = "sip:112@192.0.2.11";

    #[test]
    fn an_unknown_address_is_challenged_then_admitted_with_the_right_password() {
        let mut s = Switch::new(10, Instant::now());
        let now = Instant::now();
        let wrong = answer(&mut s, now, "203.0.113.5", "guess", None);
        assert!(
            matches!(
                wrong,
                Decision::Refuse {
                    reason: "wrong credentials",
                    ..
                }
            ),
            "{wrong:?}"
        );
        let right = answer(&mut s, now, "203.0.113.5", "s3cret", None);
        assert!(
            matches!(
                right,
                Decision::Call {
                    trunk: 1,
                    authenticated: true,
                    ..
                }
            ),
            "{right:?}"
        );
        let elsewhere = answer(&mut s, now, "203.0.113.5", "s3cret", Some("other"));
        assert!(
            matches!(
                elsewhere,
                Decision::Refuse {
                    reason: "credentials for another realm",
                    ..
                }
            ),
            "{elsewhere:?}"
        );
    }

    #[test]
    fn each_nonce_buys_one_attempt_right_or_wrong() {
        let mut s = Switch::new(10, Instant::now());
        let now = Instant::now();
        let Decision::Respond(response) = run(&mut s, now, &invite(""), "203.0.113.5", 0) else {
            panic!()
        };
        let header = message::header(&response.headers, "WWW-Authenticate").unwrap();
        let challenge = digest::Challenge::parse(header).unwrap();
        let with = |password: &str| {
            let value =
                digest::authorization(&challenge, "pbx", password, "INVITE", URI, 1, "c0ffee");
            invite(&format!("Authorization: {value}\r\n"))
        };
        assert_eq!(
            code(&run(&mut s, now, &with("guess"), "203.0.113.5", 0)),
            403
        );
        assert_eq!(
            code(&run(&mut s, now, &with("s3cret"), "203.0.113.5", 0)),
            401,
            "the nonce of a wrong guess is used up"
        );
        let right = answer(&mut s, now, "203.0.113.5", "s3cret", None);
        assert!(matches!(right, Decision::Call { .. }), "{right:?}");
        assert_eq!(
            code(&run(&mut s, now, &with("s3cret"), "203.0.113.5", 0)),
            401,
            "a replayed answer gets a fresh challenge"
        );
        assert_eq!(
            code(&run(&mut s, now, &with("s3cret"), "203.0.113.99", 0)),
            401,
            "a nonce issued to another address is not ours to accept"
        );
    }

    #[test]
    fn a_guessing_address_is_refused_unheard_until_its_window_passes() {
        let t0 = Instant::now();
        let mut s = Switch::new(10, t0);
        for _ in 0..GUESSES {
            answer(&mut s, t0, "203.0.113.5", "guess", None);
        }
        let locked = run(&mut s, t0, &invite(""), "203.0.113.5", 0);
        assert!(
            matches!(
                locked,
                Decision::Refuse {
                    reason: "too many wrong passwords from this address",
                    ..
                }
            ),
            "not even a challenge: {locked:?}"
        );
        let other = answer(&mut s, t0, "203.0.113.6", "s3cret", None);
        assert!(matches!(other, Decision::Call { .. }), "{other:?}");
        let later = t0 + GUESS_WINDOW;
        let back = answer(&mut s, later, "203.0.113.5", "s3cret", None);
        assert!(matches!(back, Decision::Call { .. }), "{back:?}");
    }

    #[test]
    fn challenges_keep_nothing_and_an_expired_nonce_gets_a_fresh_one() {
        let t0 = Instant::now();
        let mut s = Switch::new(10, t0);
        let Decision::Respond(response) = run(&mut s, t0, &invite(""), "203.0.113.5", 0) else {
            panic!()
        };
        for _ in 0..10_000 {
            assert_eq!(code(&run(&mut s, t0, &invite(""), "203.0.113.5", 0)), 401);
        }
        assert_eq!(s.remembered(), (0, 0));
        let header = message::header(&response.headers, "WWW-Authenticate").unwrap();
        let challenge = digest::Challenge::parse(header).unwrap();
        let value = digest::authorization(&challenge, "pbx", "s3cret", "INVITE", URI, 1, "c0");
        let later = t0 + super::super::nonce::LIFETIME;
        let late = invite(&format!("Authorization: {value}\r\n"));
        assert_eq!(code(&run(&mut s, later, &late, "203.0.113.5", 0)), 401);
    }

    #[test]
    fn in_dialog_requests_go_to_their_call_and_other_methods_are_answered() {
        let mut s = Switch::new(10, Instant::now());
        let now = Instant::now();
        let bye = request_of(
            "BYE sip:112@192.0.2.11 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK-2\r\n\
             From: <sip:a@203.0.113.5>;tag=a1\r\nTo: <sip:112@192.0.2.11>;tag=b2\r\n\
             Call-ID: c1@203.0.113.5\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
                .as_bytes(),
        )
        .unwrap();
        match run(&mut s, now, &bye, "203.0.113.5", 0) {
            Decision::InDialog(d) => {
                assert_eq!((d.local_tag.as_str(), d.remote_tag.as_str()), ("b2", "a1"))
            }
            other => panic!("{other:?}"),
        }
        let outside = |method: &str| {
            request_of(
                format!(
                    "{method} sip:112@192.0.2.11 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK-3\r\n\
                     From: <sip:a@203.0.113.5>;tag=a1\r\nTo: <sip:112@192.0.2.11>\r\n\
                     Call-ID: c2@203.0.113.5\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(
            code(&run(&mut s, now, &outside("OPTIONS"), "203.0.113.5", 0)),
            200
        );
        assert_eq!(
            code(&run(&mut s, now, &outside("BYE"), "203.0.113.5", 0)),
            481
        );
        assert_eq!(
            code(&run(&mut s, now, &outside("MESSAGE"), "203.0.113.5", 0)),
            405
        );
    }

    #[test]
    fn without_any_password_configured_an_unknown_address_is_refused_outright() {
        let mut s = Switch::new(10, Instant::now());
        let carrier_only: Vec<Trunk> = trunks().into_iter().take(1).collect();
        let d = s.request(
            Instant::now(),
            &invite(""),
            "203.0.113.5".parse().unwrap(),
            carrier_only.iter(),
            0,
        );
        assert!(
            matches!(
                d,
                Decision::Refuse {
                    reason: "unidentified address",
                    ..
                }
            ),
            "{d:?}"
        );
        assert_eq!(s.remembered(), (0, 0));
    }
}
