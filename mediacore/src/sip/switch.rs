//! Pure: what the media core decides for each SIP request a peer sends outside a
//! transaction it already has: a request inside a dialog goes to its call; an INVITE is
//! identified as one of our trunks (by address, `identify`) or authenticated (digest,
//! RFC 3261 §22.4, with nonces we issued and that expire), then admitted if a call slot is
//! free; OPTIONS is answered; any other method is not allowed. The engine (`engine.rs`)
//! performs the decision: it owns the sockets, the transactions and the calls.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rsip::{Method, Request, Response};

use super::dialog::DialogId;
use super::{digest, message};
use crate::conf::pjsip::Trunk;

/// The realm of our digest challenges.
pub const REALM: &str = "allerta";
/// How long a nonce we issued may be answered.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(60);

/// What to do with a request.
#[derive(Debug)]
pub enum Decision {
    /// Not a request we can place (its Call-ID, From or To is unusable): dropped.
    Drop,
    /// Inside a dialog: the call that owns `DialogId` answers it (481 if none does).
    InDialog(DialogId),
    /// Answer with this response, and that is all.
    Respond(Response),
    /// An INVITE refused (403): the engine counts it (`unidentified_invites`) and logs why.
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
    /// The nonces we issued, with when.
    nonces: HashMap<String, Instant>,
}

impl Switch {
    pub fn new(max_calls: usize) -> Self {
        Self {
            max_calls,
            nonces: HashMap::new(),
        }
    }

    /// How many challenges are outstanding (the tests check that they do not pile up).
    pub fn nonces(&self) -> usize {
        self.nonces.len()
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
            None => match self.authenticate(now, request, trunks) {
                Ok(trunk) => (trunk, true),
                Err(decision) => return decision,
            },
        };
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
        trunks: impl Iterator<Item = &'a Trunk> + Clone,
    ) -> Result<usize, Decision> {
        self.nonces
            .retain(|_, issued| now.saturating_duration_since(*issued) < NONCE_LIFETIME);
        if !trunks.clone().any(|t| t.inbound_auth.is_some()) {
            return Err(refuse(request, "unidentified address"));
        }
        let Some(value) = message::header(&request.headers, "Authorization") else {
            return Err(self.challenge(now, request));
        };
        let Ok(creds) = digest::Authorization::parse(value) else {
            return Err(refuse(request, "unusable Authorization"));
        };
        if !self.nonces.contains_key(&creds.nonce) {
            // Not ours, or expired: a fresh challenge (the peer's password may be right).
            return Err(self.challenge(now, request));
        }
        let method = request.method.to_string();
        let found = trunks.clone().position(|t| {
            t.inbound_auth
                .as_ref()
                .is_some_and(|a| a.username == creds.username && creds.verify(&a.password, &method))
        });
        match found {
            Some(trunk) => {
                self.nonces.remove(&creds.nonce);
                Ok(trunk)
            }
            None => Err(refuse(request, "wrong credentials")),
        }
    }

    fn challenge(&mut self, now: Instant, request: &Request) -> Decision {
        let nonce = message::token();
        self.nonces.insert(nonce.clone(), now);
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
        Request::try_from(text.as_bytes()).unwrap()
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
        let mut s = Switch::new(2);
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

    #[test]
    fn an_unknown_address_is_challenged_then_admitted_with_the_right_password_once() {
        let mut s = Switch::new(10);
        let now = Instant::now();
        let challenge = run(&mut s, now, &invite(""), "203.0.113.5", 0);
        assert_eq!(code(&challenge), 401);
        let Decision::Respond(response) = challenge else {
            unreachable!()
        };
        let header = message::header(&response.headers, "WWW-Authenticate").unwrap();
        let challenge = digest::Challenge::parse(header).unwrap();
        let authorization = |password: &str| {
            let value = digest::authorization(
                &challenge,
                "pbx",
                password,
                "INVITE",
                "sip:112@192.0.2.11",
                1,
                "c0ffee",
            );
            format!("Authorization: {value}\r\n")
        };
        let wrong = run(
            &mut s,
            now,
            &invite(&authorization("guess")),
            "203.0.113.5",
            0,
        );
        assert!(matches!(
            wrong,
            Decision::Refuse {
                reason: "wrong credentials",
                ..
            }
        ));
        let right = run(
            &mut s,
            now,
            &invite(&authorization("s3cret")),
            "203.0.113.5",
            0,
        );
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
        // The nonce is used up: the same answer again gets a fresh challenge.
        let again = run(
            &mut s,
            now,
            &invite(&authorization("s3cret")),
            "203.0.113.5",
            0,
        );
        assert_eq!(code(&again), 401);
    }

    #[test]
    fn an_expired_nonce_gets_a_fresh_challenge_and_nonces_do_not_pile_up() {
        let mut s = Switch::new(10);
        let t0 = Instant::now();
        for _ in 0..5 {
            run(&mut s, t0, &invite(""), "203.0.113.5", 0);
        }
        assert_eq!(s.nonces(), 5);
        let later = t0 + NONCE_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            code(&run(&mut s, later, &invite(""), "203.0.113.5", 0)),
            401
        );
        assert_eq!(s.nonces(), 1, "the expired ones are forgotten");
    }

    #[test]
    fn in_dialog_requests_go_to_their_call_and_other_methods_are_answered() {
        let mut s = Switch::new(10);
        let now = Instant::now();
        let bye = Request::try_from(
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
            Request::try_from(
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
        let mut s = Switch::new(10);
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
        assert_eq!(s.nonces(), 0);
    }
}
