//! Pure: the signalling of one call leg, inbound (we are the UAS) or outbound (UAC)
//! (RFC 3261 §13, §14, §15; RFC 3264 for when SDP goes where).
//!
//! A [`Leg`] is driven by what its user decides (answer, reject, hang up, cancel) and by
//! what the [`super::endpoint::Endpoint`] reports (responses, ACKs, CANCEL, in-dialog
//! requests, timeouts). It returns [`Action`]s: responses and requests for the endpoint,
//! and [`CallEvent`]s for the user.

use super::message::{Method, Request, Response};

use super::dialog::{Dialog, DialogId};
use super::digest;
use super::endpoint::TxId;
use super::message::{self, Transport};

/// Why a call ended, in Asterisk's terms (`DIALSTATUS`, hangup cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum EndCause {
    /// We hung up.
    LocalHangup,
    /// They hung up (BYE).
    RemoteHangup,
    /// They cancelled before we answered.
    Cancelled,
    /// Outbound: busy (486, 600).
    Busy,
    /// Outbound: no answer (408, 480, 487 after our CANCEL, timeout).
    NoAnswer,
    /// Outbound: the network or the carrier refused (5xx, 403, 404, 488...).
    Congestion,
    /// Outbound: the number does not exist or the trunk is unusable (404, 484, 410).
    Unavailable,
    /// Our 2xx was never acknowledged, or a transaction timed out mid-call.
    SignallingTimeout,
}

impl EndCause {
    /// Asterisk's `DIALSTATUS` word for an outbound leg that never answered.
    pub fn dial_status(self) -> &'static str {
        match self {
            Self::Busy => "BUSY",
            Self::NoAnswer | Self::SignallingTimeout => "NOANSWER",
            Self::Cancelled | Self::LocalHangup => "CANCEL",
            Self::Unavailable => "CHANUNAVAIL",
            Self::Congestion => "CONGESTION",
            Self::RemoteHangup => "ANSWER",
        }
    }

    /// The Q.850 cause Asterisk reports in `Hangup` events.
    pub fn q850(self) -> u16 {
        match self {
            Self::LocalHangup | Self::RemoteHangup => 16,
            Self::Cancelled => 16,
            Self::Busy => 17,
            Self::NoAnswer => 19,
            Self::Congestion => 34,
            Self::Unavailable => 1,
            Self::SignallingTimeout => 102,
        }
    }

    fn from_status(code: u16) -> Self {
        match code {
            486 | 600 => Self::Busy,
            408 | 480 | 487 => Self::NoAnswer,
            404 | 410 | 484 | 604 => Self::Unavailable,
            _ => Self::Congestion,
        }
    }
}

/// What the user of a leg learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// Outbound: the far end is ringing (180/183).
    Ringing,
    /// Outbound: answered, with their SDP answer.
    Answered {
        /// The SDP body of the 2xx.
        sdp: Vec<u8>,
    },
    /// Inbound: our 2xx was acknowledged; media may flow both ways. `sdp` is the ACK's
    /// body: the answer when the INVITE came without an offer and our 2xx made one
    /// (RFC 3261 §13.2.1), else empty.
    Confirmed {
        /// The ACK's body.
        sdp: Vec<u8>,
    },
    /// Outbound: the far end refused with this final status (486, 603, 503…); `Ended`
    /// follows.
    Refused {
        /// The SIP status code.
        code: u16,
    },
    /// The leg is over.
    Ended(EndCause),
    /// Not from SIP: the application asked the call task to stop what it is doing (AMI
    /// `Redirect`); the engine passes it down the leg's event channel so that whatever
    /// the task waits on wakes up.
    Interrupted,
}

/// What the driver does for a leg.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer server transaction `tx`.
    Respond {
        /// The transaction.
        tx: TxId,
        /// The response.
        response: Box<Response>,
    },
    /// Send a request in a new client transaction, remembering it belongs to this leg.
    Request(Box<Request>),
    /// Cancel the INVITE client transaction `tx`.
    Cancel {
        /// The INVITE's transaction.
        tx: TxId,
    },
    /// Send an ACK for a 2xx (no transaction).
    Ack(Box<Request>),
    /// Tell the server transaction `tx` its 2xx was acknowledged.
    Acked {
        /// The INVITE's server transaction.
        tx: TxId,
    },
    /// For the user.
    Event(CallEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Inbound: INVITE received, not answered. Outbound: INVITE sent, nothing final.
    Early,
    /// Inbound: 2xx sent, waiting for the ACK.
    Answered,
    /// Both: the dialog is confirmed.
    Confirmed,
    /// Our BYE is out.
    Ending,
    /// Over.
    Ended,
}

/// Digest credentials for an outbound leg.
#[derive(Debug, Clone)]
pub struct Login {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// One call leg.
#[derive(Debug)]
pub struct Leg {
    inbound: bool,
    state: State,
    /// Inbound: the INVITE and its server transaction. Outbound: our INVITE (latest).
    invite: Request,
    invite_tx: Option<TxId>,
    dialog: Option<Dialog>,
    local_tag: String,
    local_sdp: Vec<u8>,
    contact: String,
    sent_by: String,
    transport: Transport,
    credentials: Option<Login>,
    answered_nonce: Option<String>,
    nc: u32,
    provisional_seen: bool,
    cancel_pending: bool,
    /// Inbound: we hung up after our 2xx and before its ACK; the BYE waits (RFC 3261 §15).
    bye_pending: bool,
    cause: Option<EndCause>,
}

impl Leg {
    /// An inbound leg for an INVITE the endpoint handed us (server transaction `tx`).
    /// `contact` is our Contact URI for this trunk.
    pub fn inbound(
        tx: TxId,
        invite: Request,
        contact: &str,
        sent_by: &str,
        transport: Transport,
    ) -> Self {
        Self {
            inbound: true,
            state: State::Early,
            invite,
            invite_tx: Some(tx),
            dialog: None,
            local_tag: message::token(),
            local_sdp: Vec::new(),
            contact: contact.to_owned(),
            sent_by: sent_by.to_owned(),
            transport,
            credentials: None,
            answered_nonce: None,
            nc: 0,
            provisional_seen: false,
            cancel_pending: false,
            bye_pending: false,
            cause: None,
        }
    }

    /// An outbound leg: `invite` (with our SDP offer) is sent at once.
    pub fn outbound(
        invite: Request,
        credentials: Option<Login>,
        transport: Transport,
        out: &mut Vec<Action>,
    ) -> Self {
        let ids = message::Ids::of(&invite.headers).ok();
        let local_sdp = invite.body.clone();
        out.push(Action::Request(Box::new(invite.clone())));
        Self {
            inbound: false,
            state: State::Early,
            local_tag: ids.as_ref().map(|i| i.from_tag.clone()).unwrap_or_default(),
            sent_by: ids.map(|i| i.sent_by).unwrap_or_default(),
            invite,
            invite_tx: None,
            dialog: None,
            local_sdp,
            contact: String::new(),
            transport,
            credentials,
            answered_nonce: None,
            nc: 0,
            provisional_seen: false,
            cancel_pending: false,
            bye_pending: false,
            cause: None,
        }
    }

    /// Outbound: the driver tells us which client transaction carries our INVITE.
    pub fn set_invite_tx(&mut self, tx: TxId, out: &mut Vec<Action>) {
        self.invite_tx = Some(tx);
        if self.cancel_pending && self.provisional_seen {
            out.push(Action::Cancel { tx });
        }
    }

    /// The INVITE (inbound: theirs; outbound: ours, latest).
    pub fn invite(&self) -> &Request {
        &self.invite
    }

    /// The dialog's identifiers once there is one; inbound legs know theirs from the start.
    pub fn dialog_id(&self) -> Option<DialogId> {
        if let Some(d) = &self.dialog {
            return Some(d.id.clone());
        }
        let ids = message::Ids::of(&self.invite.headers).ok()?;
        self.inbound.then(|| DialogId {
            call_id: ids.call_id,
            local_tag: self.local_tag.clone(),
            remote_tag: ids.from_tag,
        })
    }

    /// Whether the leg is over.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Whether media may flow (answered inbound, or answered outbound).
    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Answered | State::Confirmed)
    }

    /// Why the leg ended, once it has.
    pub fn cause(&self) -> Option<EndCause> {
        self.cause
    }

    fn end(&mut self, cause: EndCause, out: &mut Vec<Action>) {
        if self.state != State::Ended {
            self.state = State::Ended;
            self.cause = Some(cause);
            out.push(Action::Event(CallEvent::Ended(cause)));
        }
    }

    fn respond_invite(&self, code: u16, body: Option<&[u8]>, out: &mut Vec<Action>) {
        let Some(tx) = self.invite_tx else { return };
        let mut response = message::response(&self.invite, code, Some(&self.local_tag));
        if (101..300).contains(&code) {
            message::push_header(&mut response.headers, "Contact", self.contact.clone());
            message::push_header(&mut response.headers, "Allow", message::ALLOW);
        }
        if let Some(body) = body {
            message::set_body(
                &mut response.headers,
                &mut response.body,
                Some("application/sdp"),
                body.to_vec(),
            );
        }
        out.push(Action::Respond {
            tx,
            response: Box::new(response),
        });
    }

    /// Inbound: 180 Ringing.
    pub fn ring(&mut self, out: &mut Vec<Action>) {
        if self.inbound && self.state == State::Early {
            self.respond_invite(180, None, out);
        }
    }

    /// Inbound: 200 OK with our SDP answer.
    pub fn answer(&mut self, sdp: Vec<u8>, out: &mut Vec<Action>) {
        if !self.inbound || self.state != State::Early {
            return;
        }
        match Dialog::as_uas(&self.invite, &self.local_tag, &self.sent_by, self.transport) {
            Ok(dialog) => self.dialog = Some(dialog),
            Err(_) => {
                // No Contact: we could not send a BYE later. Refuse now rather than strand it.
                self.respond_invite(400, None, out);
                return self.end(EndCause::Congestion, out);
            }
        }
        self.local_sdp = sdp;
        self.respond_invite(200, Some(&self.local_sdp.clone()), out);
        self.state = State::Answered;
    }

    /// Inbound: refuse with `code` (486 busy, 488 no common codec, 480, 603...).
    pub fn reject(&mut self, code: u16, out: &mut Vec<Action>) {
        if self.inbound && self.state == State::Early {
            self.respond_invite(code, None, out);
            self.end(EndCause::LocalHangup, out);
        }
    }

    /// As [`Leg::hangup`], with a Q.850 cause: an inbound call not yet answered is refused
    /// with the SIP status the cause maps to ([`sip_status`]).
    pub fn hangup_with_cause(&mut self, cause: u16, out: &mut Vec<Action>) {
        if self.inbound && self.state == State::Early {
            self.respond_invite(sip_status(cause), None, out);
            return self.end(EndCause::LocalHangup, out);
        }
        self.hangup(out);
    }

    /// We hang up: BYE if the call is up, else reject (inbound) or cancel (outbound). A
    /// callee "MUST NOT send a BYE on a confirmed dialog until it has received an ACK for
    /// its 2xx response or until the server transaction times out" (RFC 3261 §15): hung up
    /// between our 2xx and its ACK, the BYE goes when either comes.
    pub fn hangup(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Answered => self.bye_pending = true,
            State::Confirmed => self.send_bye(out),
            State::Early if self.inbound => {
                self.respond_invite(480, None, out);
                self.end(EndCause::LocalHangup, out);
            }
            State::Early => self.cancel(out),
            State::Ending | State::Ended => {}
        }
    }

    fn send_bye(&mut self, out: &mut Vec<Action>) {
        let bye = self.dialog.as_mut().map(|d| d.request(Method::Bye));
        match bye {
            Some(Ok(bye)) => {
                out.push(Action::Request(Box::new(bye)));
                self.state = State::Ending;
            }
            _ => self.end(EndCause::LocalHangup, out),
        }
    }

    /// Outbound: give up before an answer (CANCEL once a provisional came, §9.1).
    pub fn cancel(&mut self, out: &mut Vec<Action>) {
        if self.inbound || self.state != State::Early {
            return;
        }
        self.cancel_pending = true;
        if let (true, Some(tx)) = (self.provisional_seen, self.invite_tx) {
            out.push(Action::Cancel { tx });
        }
    }

    /// Inbound: the ACK for our 2xx, with its body.
    pub fn on_ack(&mut self, body: &[u8], out: &mut Vec<Action>) {
        if self.state == State::Answered {
            self.state = State::Confirmed;
            if let Some(tx) = self.invite_tx {
                out.push(Action::Acked { tx });
            }
            out.push(Action::Event(CallEvent::Confirmed { sdp: body.to_vec() }));
            if self.bye_pending {
                self.send_bye(out);
            }
        }
    }

    /// Inbound: our 2xx was never acknowledged (§13.3.1.4: send BYE).
    pub fn on_no_ack(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Answered {
            self.send_bye(out);
            let cause = match self.bye_pending {
                true => EndCause::LocalHangup,
                false => EndCause::SignallingTimeout,
            };
            self.end(cause, out);
        }
    }

    /// Inbound: the caller cancelled.
    pub fn on_cancelled(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Early {
            self.respond_invite(487, None, out);
            self.end(EndCause::Cancelled, out);
        }
    }

    /// A request inside our dialog (BYE, re-INVITE, OPTIONS, INFO...).
    pub fn on_request(&mut self, tx: TxId, request: &Request, out: &mut Vec<Action>) {
        let respond =
            |code: u16, body: Option<&[u8]>, contact: Option<&str>, out: &mut Vec<Action>| {
                let mut response = message::response(request, code, None);
                if let Some(contact) = contact {
                    message::push_header(&mut response.headers, "Contact", contact);
                }
                if let Some(body) = body {
                    message::set_body(
                        &mut response.headers,
                        &mut response.body,
                        Some("application/sdp"),
                        body.to_vec(),
                    );
                }
                out.push(Action::Respond {
                    tx,
                    response: Box::new(response),
                });
            };
        let in_order = self.dialog.as_mut().map(|d| d.on_request(request));
        if let Some(Err(_)) = in_order {
            return respond(500, None, None, out);
        }
        match request.method {
            Method::Bye => {
                respond(200, None, None, out);
                self.end(EndCause::RemoteHangup, out);
            }
            Method::Invite if self.state == State::Confirmed => {
                // A re-INVITE (session refresh, hold): answer with the SDP we already use.
                let contact = if self.inbound {
                    self.contact.clone()
                } else {
                    String::new()
                };
                let contact = (!contact.is_empty()).then_some(contact.as_str());
                respond(200, Some(&self.local_sdp.clone()), contact, out);
            }
            Method::Invite => respond(491, None, None, out),
            Method::Options | Method::Info | Method::Update | Method::Notify => {
                respond(200, None, None, out)
            }
            _ => respond(501, None, None, out),
        }
    }

    /// A response to one of our client transactions (INVITE, BYE, re-INVITE).
    pub fn on_response(&mut self, response: &Response, out: &mut Vec<Action>) {
        let code = response.status_code.code();
        let method = message::Ids::of(&response.headers).map(|i| i.cseq_method);
        match method {
            Ok(Method::Invite) if !self.inbound => self.on_invite_response(code, response, out),
            Ok(Method::Bye) if code >= 200 => {
                self.end(self.cause.unwrap_or(EndCause::LocalHangup), out)
            }
            _ => {}
        }
    }

    fn on_invite_response(&mut self, code: u16, response: &Response, out: &mut Vec<Action>) {
        match code {
            100 => {}
            101..=199 => {
                let first = !self.provisional_seen;
                self.provisional_seen = true;
                if self.cancel_pending {
                    if let (true, Some(tx)) = (first, self.invite_tx) {
                        out.push(Action::Cancel { tx });
                    }
                } else if code == 180 || code == 183 {
                    out.push(Action::Event(CallEvent::Ringing));
                }
            }
            200..=299 => {
                let dialog = match &self.dialog {
                    Some(d) => Ok(d.clone()),
                    None => Dialog::as_uac(&self.invite, response, self.transport),
                };
                let Ok(dialog) = dialog else {
                    return self.end(EndCause::Congestion, out);
                };
                let cseq = message::Ids::of(&response.headers).map_or(1, |i| i.cseq);
                if let Ok(ack) = dialog.ack(cseq) {
                    out.push(Action::Ack(Box::new(ack)));
                }
                let first = self.state == State::Early;
                self.dialog = Some(dialog);
                if !first {
                    return; // a retransmitted 2xx: the ACK again is all it needs
                }
                self.state = State::Confirmed;
                if self.cancel_pending {
                    // The answer crossed our CANCEL: the call is up, so end it with a BYE.
                    self.send_bye(out);
                    self.cause = Some(EndCause::Cancelled);
                } else {
                    out.push(Action::Event(CallEvent::Answered {
                        sdp: response.body.clone(),
                    }));
                }
            }
            401 | 407 if self.state == State::Early && !self.cancel_pending => {
                self.authenticate(code, response, out)
            }
            _ if self.state == State::Early => {
                let cause = if self.cancel_pending {
                    EndCause::Cancelled
                } else {
                    out.push(Action::Event(CallEvent::Refused { code }));
                    EndCause::from_status(code)
                };
                self.end(cause, out);
            }
            _ => {}
        }
    }

    fn authenticate(&mut self, code: u16, response: &Response, out: &mut Vec<Action>) {
        let Some(creds) = self.credentials.clone() else {
            return self.end(EndCause::Congestion, out);
        };
        let ask = if code == 401 {
            "WWW-Authenticate"
        } else {
            "Proxy-Authenticate"
        };
        let nonce = message::headers_named(&response.headers, ask)
            .find_map(|v| digest::Challenge::parse(v).ok());
        if nonce
            .as_ref()
            .is_some_and(|c| !c.stale && self.answered_nonce.as_deref() == Some(&c.nonce))
        {
            return self.end(EndCause::Congestion, out); // our credentials were refused
        }
        self.nc += 1;
        let mut invite = self.invite.clone();
        match digest::authorize(
            &mut invite,
            response,
            &creds.username,
            &creds.password,
            self.nc,
        ) {
            Ok(challenge) => {
                self.answered_nonce = Some(challenge.nonce);
                let cseq = message::Ids::of(&invite.headers).map_or(1, |i| i.cseq) + 1;
                message::renew(&mut invite, cseq);
                self.invite = invite.clone();
                self.invite_tx = None;
                self.provisional_seen = false;
                out.push(Action::Request(Box::new(invite)));
            }
            Err(_) => self.end(EndCause::Congestion, out),
        }
    }

    /// A client transaction of ours timed out (INVITE: no answer at all; BYE: gone).
    pub fn on_timeout(&mut self, out: &mut Vec<Action>) {
        let cause = match self.state {
            State::Early => EndCause::NoAnswer,
            _ => self.cause.unwrap_or(EndCause::SignallingTimeout),
        };
        self.end(cause, out);
    }

    /// Our SDP, as sent in the offer or answer.
    pub fn local_sdp(&self) -> &[u8] {
        &self.local_sdp
    }

    /// A 2xx to our INVITE arrived after its transaction ended: ACK it again.
    pub fn on_stray_2xx(&mut self, response: &Response, out: &mut Vec<Action>) {
        if let Some(d) = &self.dialog {
            let cseq = message::Ids::of(&response.headers).map_or(1, |i| i.cseq);
            if let Ok(ack) = d.ack(cseq) {
                out.push(Action::Ack(Box::new(ack)));
            }
        }
    }
}

/// The SIP status for a Q.850 cause when we refuse a call (RFC 3398 §7.2.4.1, as Asterisk's
/// `hangup_cause2sip`); 480 for normal clearing and causes without a mapping.
pub fn sip_status(cause: u16) -> u16 {
    match cause {
        1..=3 => 404,
        17 => 486,
        18 => 408,
        19 | 20 | 31 => 480,
        21 | 55 | 57 => 403,
        22 => 410,
        27 => 502,
        28 => 484,
        29 | 79 => 501,
        34 | 38 | 41 | 42 | 47 | 58 => 503,
        65 | 88 => 488,
        102 => 504,
        111 | 127 => 500,
        _ => 480,
    }
}

#[cfg(test)]
mod tests {
    use super::message::SipMessage;
    use super::*;

    const INVITE: &str = "INVITE sip:100@10.78.0.11 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.78.0.1:5060;branch=z9hG4bK1\r\n\
        From: <sip:0744@10.78.0.1>;tag=ft\r\nTo: <sip:100@10.78.0.11>\r\n\
        Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:0744@10.78.0.1:5060>\r\n\
        Content-Length: 0\r\n\r\n";

    fn request(text: &str) -> Request {
        match message::parse(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => unreachable!(),
        }
    }

    fn codes(out: &[Action]) -> Vec<u16> {
        out.iter()
            .filter_map(|a| match a {
                Action::Respond { response, .. } => Some(response.status_code.code()),
                _ => None,
            })
            .collect()
    }

    fn inbound() -> Leg {
        Leg::inbound(
            7,
            request(INVITE),
            "<sip:100@10.78.0.11:5060>",
            "10.78.0.11:5060",
            Transport::Udp,
        )
    }

    #[test]
    fn an_inbound_call_is_answered_confirmed_and_ended_by_the_callers_bye() {
        let (mut leg, mut out) = (inbound(), Vec::new());
        leg.ring(&mut out);
        leg.answer(b"v=0\r\n".to_vec(), &mut out);
        assert_eq!(codes(&out), [180, 200]);
        let Action::Respond { response, .. } = &out[1] else {
            panic!()
        };
        assert_eq!(response.body, b"v=0\r\n");
        assert!(message::header(&response.headers, "Contact").is_some());
        out.clear();
        leg.on_ack(b"v=0 (the answer to a delayed offer)", &mut out);
        assert!(matches!(
            &out[..],
            [
                Action::Acked { tx: 7 },
                Action::Event(CallEvent::Confirmed { sdp })
            ] if sdp == b"v=0 (the answer to a delayed offer)"
        ));
        out.clear();
        let bye = request(
            &INVITE
                .replace("INVITE sip", "BYE sip")
                .replace("1 INVITE", "2 BYE"),
        );
        leg.on_request(9, &bye, &mut out);
        assert_eq!(codes(&out), [200]);
        assert!(matches!(
            out[1],
            Action::Event(CallEvent::Ended(EndCause::RemoteHangup))
        ));
        assert!(leg.is_ended());
    }

    #[test]
    fn our_hangup_sends_bye_in_the_dialog() {
        let (mut leg, mut out) = (inbound(), Vec::new());
        leg.answer(b"v=0\r\n".to_vec(), &mut out);
        leg.on_ack(b"", &mut out);
        out.clear();
        leg.hangup(&mut out);
        let Action::Request(bye) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(bye.method, Method::Bye);
        assert_eq!(bye.uri.to_string(), "sip:0744@10.78.0.1:5060");
        assert!(!leg.is_ended(), "ended when the BYE is answered");
    }

    #[test]
    fn hung_up_before_the_ack_the_bye_waits_for_the_ack_or_its_timeout() {
        let is_bye = |out: &[Action]| {
            out.iter()
                .any(|a| matches!(a, Action::Request(r) if r.method == Method::Bye))
        };
        // Answer() then Hangup() at once: no BYE until the ACK (RFC 3261 §15).
        let (mut leg, mut out) = (inbound(), Vec::new());
        leg.answer(b"v=0\r\n".to_vec(), &mut out);
        out.clear();
        leg.hangup(&mut out);
        assert!(out.is_empty(), "{out:?}");
        leg.on_ack(b"", &mut out);
        assert!(is_bye(&out), "{out:?}");
        assert!(!leg.is_ended(), "ended when the BYE is answered");
        // No ACK ever: the BYE goes when the transaction gives up, and the call ends as ours.
        let (mut leg, mut out) = (inbound(), Vec::new());
        leg.answer(b"v=0\r\n".to_vec(), &mut out);
        leg.hangup(&mut out);
        out.clear();
        leg.on_no_ack(&mut out);
        assert!(is_bye(&out), "{out:?}");
        assert_eq!(leg.cause(), Some(EndCause::LocalHangup));
    }

    #[test]
    fn a_cause_refuses_an_unanswered_call_with_its_sip_status() {
        for (cause, code) in [
            (17, 486),
            (34, 503),
            (1, 404),
            (21, 403),
            (16, 480),
            (200, 480),
        ] {
            let (mut leg, mut out) = (inbound(), Vec::new());
            leg.hangup_with_cause(cause, &mut out);
            assert_eq!(codes(&out), [code], "cause {cause}");
            assert!(leg.is_ended());
        }
        // Answered: a BYE, whatever the cause.
        let (mut leg, mut out) = (inbound(), Vec::new());
        leg.answer(b"v=0\r\n".to_vec(), &mut out);
        leg.on_ack(b"", &mut out);
        out.clear();
        leg.hangup_with_cause(17, &mut out);
        assert!(
            matches!(&out[..], [Action::Request(r)] if r.method == Method::Bye),
            "{out:?}"
        );
    }

    #[test]
    fn a_cancelled_inbound_call_is_answered_487() {
        let (mut leg, mut out) = (inbound(), Vec::new());
        leg.on_cancelled(&mut out);
        assert_eq!(codes(&out), [487]);
        assert_eq!(leg.cause(), Some(EndCause::Cancelled));
    }

    fn outbound_invite() -> Request {
        message::NewRequest {
            method: Method::Invite,
            uri: "sip:0744100@10.78.0.1",
            sent_by: "10.78.0.11:5060",
            transport: Transport::Udp,
            from: "<sip:alert@10.78.0.11>",
            from_tag: "me",
            to: "<sip:0744100@10.78.0.1>",
            call_id: "o1",
            cseq: 1,
            contact: Some("<sip:alert@10.78.0.11:5060>"),
        }
        .build()
        .unwrap()
    }

    fn reply(req: &Request, code: u16, extra: &[(&str, &str)]) -> Response {
        let mut r = message::response(req, code, Some("them"));
        for (k, v) in extra {
            message::push_header(&mut r.headers, k, *v);
        }
        r
    }

    #[test]
    fn an_outbound_call_answers_a_challenge_then_acks_the_2xx() {
        let mut out = Vec::new();
        let creds = Login {
            username: "alerta".into(),
            password: "pw".into(),
        };
        let mut leg = Leg::outbound(outbound_invite(), Some(creds), Transport::Udp, &mut out);
        leg.set_invite_tx(1, &mut out);
        out.clear();
        let challenge = ("Proxy-Authenticate", "Digest realm=\"c\", nonce=\"n\"");
        leg.on_response(&reply(leg.invite(), 407, &[challenge]), &mut out);
        let Action::Request(second) = &out[0] else {
            panic!("{out:?}")
        };
        assert!(message::header(&second.headers, "Proxy-Authorization").is_some());
        assert_eq!(message::Ids::of(&second.headers).unwrap().cseq, 2);
        leg.set_invite_tx(2, &mut out);
        out.clear();
        let ok = reply(leg.invite(), 200, &[("Contact", "<sip:x@10.78.0.1:5062>")]);
        leg.on_response(&ok, &mut out);
        let Action::Ack(ack) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(message::Ids::of(&ack.headers).unwrap().cseq, 2);
        assert_eq!(ack.uri.to_string(), "sip:x@10.78.0.1:5062");
        assert!(matches!(out[1], Action::Event(CallEvent::Answered { .. })));
        out.clear();
        leg.on_response(&ok, &mut out);
        assert!(
            matches!(out[..], [Action::Ack(_)]),
            "a retransmitted 2xx is acked again"
        );
    }

    #[test]
    fn busy_and_refused_credentials_end_with_their_dial_status() {
        let mut out = Vec::new();
        let mut leg = Leg::outbound(outbound_invite(), None, Transport::Udp, &mut out);
        leg.on_response(&reply(leg.invite(), 486, &[]), &mut out);
        assert_eq!(leg.cause().map(EndCause::dial_status), Some("BUSY"));
        let creds = Login {
            username: "a".into(),
            password: "b".into(),
        };
        let mut leg = Leg::outbound(outbound_invite(), Some(creds), Transport::Udp, &mut out);
        let challenge = ("WWW-Authenticate", "Digest realm=\"c\", nonce=\"n\"");
        leg.on_response(&reply(leg.invite(), 401, &[challenge]), &mut out);
        leg.on_response(&reply(leg.invite(), 401, &[challenge]), &mut out);
        assert_eq!(leg.cause().map(EndCause::dial_status), Some("CONGESTION"));
    }

    #[test]
    fn a_cancel_waits_for_a_provisional_response() {
        let mut out = Vec::new();
        let mut leg = Leg::outbound(outbound_invite(), None, Transport::Udp, &mut out);
        leg.set_invite_tx(4, &mut out);
        out.clear();
        leg.cancel(&mut out);
        assert!(out.is_empty(), "no CANCEL before a provisional (§9.1)");
        leg.on_response(&reply(leg.invite(), 180, &[]), &mut out);
        assert!(matches!(out[..], [Action::Cancel { tx: 4 }]));
        out.clear();
        leg.on_response(&reply(leg.invite(), 487, &[]), &mut out);
        assert_eq!(leg.cause(), Some(EndCause::Cancelled));
    }
}
