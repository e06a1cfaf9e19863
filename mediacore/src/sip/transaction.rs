//! Pure: the RFC 3261 §17 transaction layer, with RFC 6026's Accepted state.
//!
//! Four machines: INVITE client (timers A, B, D, M), non-INVITE client (E, F, K), INVITE
//! server (G, H, I, L) and non-INVITE server (J). Each is a plain struct that takes
//! `now` and an input (a message, a response from the TU, a tick) and pushes [`Event`]s;
//! timers are deadlines behind [`ClientTransaction::next_deadline`] and
//! [`ServerTransaction::next_deadline`], never tasks. On a reliable transport (TCP) the
//! retransmit timers are off and the wait timers are zero, as §17 says.
//!
//! One deliberate simplification: the 2xx to an INVITE is retransmitted by the server
//! transaction in its Accepted state (T1 doubling to T2, for 64×T1) rather than by the
//! dialog layer (§13.3.1.4). What goes on the wire is the same, and all SIP timing lives
//! in this one module.

use std::time::{Duration, Instant};

use super::message::{Headers, Method, Request, Response, SipMessage, Version};

use super::message::{self, headers_named, push_header};

/// RFC 3261 §17.1.1.1 timer values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// T1, the round-trip estimate (default 500 ms).
    pub t1: Duration,
    /// T2, the cap on non-INVITE and response retransmit intervals (default 4 s).
    pub t2: Duration,
    /// T4, how long a message may linger in the network (default 5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// What a transaction asks its driver or its transaction user (TU) to do or know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send these bytes to the transaction's peer (a first transmission or a retransmission).
    Transmit(Vec<u8>),
    /// Client: a response for the TU (retransmitted 2xx included: the TU re-sends its ACK).
    Response(Box<Response>),
    /// Client: no final response within Timer B/F (the TU acts as if 408 had arrived).
    TimedOut,
    /// Server INVITE: our final response was never acknowledged (Timer H, or L for a 2xx).
    NoAck,
    /// Server INVITE: the ACK for our 2xx arrived (its own branch; routed here by the core).
    Acked,
    /// Server: a retransmission of the request was absorbed (counted by the driver).
    Retransmission,
    /// The transaction is over; the driver forgets it.
    Terminated,
}

/// How long a wait timer (D, I, J, K) runs: on a reliable transport there is nothing to
/// absorb, so zero (§17.1.1.2, §17.2.1).
fn wait(reliable: bool, unreliable: Duration) -> Duration {
    if reliable {
        Duration::ZERO
    } else {
        unreliable
    }
}

/// Client transaction states (§17.1.1.2, §17.1.2.2, RFC 6026 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE sent, nothing heard yet.
    Calling,
    /// Non-INVITE sent, nothing heard yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived (non-2xx for INVITE); absorbing retransmissions.
    Completed,
    /// INVITE: a 2xx arrived; more 2xx from forks or retransmissions go to the TU.
    Accepted,
    /// Done.
    Terminated,
}

/// A client transaction: one request we sent and its responses.
#[derive(Debug)]
pub struct ClientTransaction {
    request: Request,
    bytes: Vec<u8>,
    reliable: bool,
    timers: Timers,
    state: ClientState,
    /// Timer A (INVITE) or E (non-INVITE): next retransmission.
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timer B or F: give up waiting for a final response.
    timeout_at: Option<Instant>,
    /// Timer D, K or M: stop absorbing retransmissions.
    end_at: Option<Instant>,
    /// The ACK we sent for a non-2xx final response, re-sent when it is retransmitted.
    ack: Option<Vec<u8>>,
}

impl ClientTransaction {
    /// Starts a transaction for `request` and pushes its first transmission.
    pub fn start(
        request: Request,
        reliable: bool,
        timers: Timers,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> Self {
        let bytes = message::to_bytes(&SipMessage::Request(request.clone()));
        let is_invite = request.method == Method::Invite;
        out.push(Event::Transmit(bytes.clone()));
        Self {
            request,
            bytes,
            reliable,
            timers,
            state: if is_invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            retransmit_at: (!reliable).then(|| now + timers.t1),
            interval: timers.t1,
            timeout_at: Some(now + 64 * timers.t1),
            end_at: None,
            ack: None,
        }
    }

    /// The request this transaction carries.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    fn is_invite(&self) -> bool {
        self.request.method == Method::Invite
    }

    /// The earliest timer, if any is running.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// A response whose branch and CSeq method match this transaction.
    pub fn on_response(&mut self, response: Response, now: Instant, out: &mut Vec<Event>) {
        let code = response.status_code.code();
        let invite = self.is_invite();
        match (invite, self.state, code) {
            (
                _,
                ClientState::Calling | ClientState::Trying | ClientState::Proceeding,
                100..=199,
            ) => {
                self.state = ClientState::Proceeding;
                if invite {
                    // Timer A stops once anything is heard (§17.1.1.2); B only runs in Calling.
                    self.retransmit_at = None;
                    self.timeout_at = None;
                } else if let Some(at) = &mut self.retransmit_at {
                    // Non-INVITE keeps retransmitting, at T2 (§17.1.2.2).
                    self.interval = self.timers.t2;
                    *at = now + self.interval;
                }
                out.push(Event::Response(Box::new(response)));
            }
            (true, ClientState::Calling | ClientState::Proceeding, 200..=299) => {
                self.stop_waiting();
                self.state = ClientState::Accepted;
                self.end_at = Some(now + 64 * self.timers.t1); // Timer M
                out.push(Event::Response(Box::new(response)));
            }
            (true, ClientState::Accepted, 200..=299) => {
                out.push(Event::Response(Box::new(response)))
            }
            (true, ClientState::Calling | ClientState::Proceeding, 300..) => {
                self.stop_waiting();
                let ack = message::to_bytes(&SipMessage::Request(ack_for_non_2xx(
                    &self.request,
                    &response,
                )));
                out.push(Event::Transmit(ack.clone()));
                self.ack = Some(ack);
                self.state = ClientState::Completed;
                self.end_at = Some(now + wait(self.reliable, Duration::from_secs(32))); // Timer D
                out.push(Event::Response(Box::new(response)));
            }
            (false, ClientState::Trying | ClientState::Proceeding, 200..) => {
                self.stop_waiting();
                self.state = ClientState::Completed;
                self.end_at = Some(now + wait(self.reliable, self.timers.t4)); // Timer K
                out.push(Event::Response(Box::new(response)));
            }
            (true, ClientState::Completed, 300..) => {
                if let Some(ack) = &self.ack {
                    out.push(Event::Transmit(ack.clone()));
                }
            }
            _ => {} // late provisional, retransmitted final of a non-INVITE: absorbed
        }
        self.terminate_if_due(now, out);
    }

    /// Runs the timers that are due.
    pub fn on_tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        if self.timeout_at.is_some_and(|at| now >= at) {
            self.stop_waiting();
            self.state = ClientState::Terminated;
            out.extend([Event::TimedOut, Event::Terminated]);
            return;
        }
        if let Some(at) = self.retransmit_at.filter(|&at| now >= at) {
            out.push(Event::Transmit(self.bytes.clone()));
            self.interval = if self.is_invite() {
                self.interval * 2 // Timer A doubles without a cap
            } else {
                (self.interval * 2).min(self.timers.t2)
            };
            // From the deadline, not from `now`, so a late tick does not stretch the schedule.
            self.retransmit_at = Some((at + self.interval).max(now));
        }
        self.terminate_if_due(now, out);
    }

    /// The TU gives up (it sent a CANCEL and the peer never answered): end at once.
    pub fn abandon(&mut self, out: &mut Vec<Event>) {
        if self.state != ClientState::Terminated {
            self.stop_waiting();
            self.end_at = None;
            self.state = ClientState::Terminated;
            out.push(Event::Terminated);
        }
    }

    fn stop_waiting(&mut self) {
        self.retransmit_at = None;
        self.timeout_at = None;
    }

    fn terminate_if_due(&mut self, now: Instant, out: &mut Vec<Event>) {
        if self.end_at.is_some_and(|at| now >= at) && self.state != ClientState::Terminated {
            self.end_at = None;
            self.state = ClientState::Terminated;
            out.push(Event::Terminated);
        }
    }
}

/// The ACK for a non-2xx final response (§17.1.1.3): same Request-URI, Call-ID, From,
/// Route and top Via as the INVITE, CSeq number with method ACK, To from the response.
pub fn ack_for_non_2xx(invite: &Request, response: &Response) -> Request {
    let mut headers = Headers::default();
    if let Some(via) = headers_named(&invite.headers, "Via").next() {
        push_header(
            &mut headers,
            "Via",
            via.split(',').next().unwrap_or(via).trim(),
        );
    }
    push_header(&mut headers, "Max-Forwards", "70");
    for name in ["From", "Call-ID", "Route"] {
        for value in headers_named(&invite.headers, name) {
            push_header(&mut headers, name, value);
        }
    }
    if let Some(to) = headers_named(&response.headers, "To").next() {
        push_header(&mut headers, "To", to);
    }
    let cseq = message::Ids::of(&invite.headers).map_or(1, |ids| ids.cseq);
    push_header(&mut headers, "CSeq", format!("{cseq} ACK"));
    push_header(&mut headers, "Content-Length", "0");
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Server transaction states (§17.2.1, §17.2.2, RFC 6026 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE received, the TU has not answered yet.
    Trying,
    /// A provisional response was sent (INVITE starts here with 100 Trying).
    Proceeding,
    /// A final response was sent (non-2xx for INVITE): retransmitting until ACK / absorbing.
    Completed,
    /// INVITE: the ACK arrived; absorbing ACK retransmissions (Timer I).
    Confirmed,
    /// INVITE: a 2xx was sent; retransmitting it until its ACK arrives (Timer L bounds it).
    Accepted,
    /// Done.
    Terminated,
}

/// A server transaction: one request we received and our responses to it.
#[derive(Debug)]
pub struct ServerTransaction {
    method: Method,
    reliable: bool,
    timers: Timers,
    state: ServerState,
    last_response: Option<Vec<u8>>,
    /// Timer G (non-2xx) or the 2xx retransmit timer.
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timer H (non-2xx) or L (2xx): give up waiting for the ACK.
    ack_deadline: Option<Instant>,
    /// Timer I or J: stop absorbing retransmissions.
    end_at: Option<Instant>,
}

impl ServerTransaction {
    /// Starts a transaction for a new request. An INVITE is answered at once with
    /// `trying` (our 100 Trying) so the peer stops retransmitting (§17.2.1).
    pub fn start(
        method: Method,
        reliable: bool,
        timers: Timers,
        trying: Option<Vec<u8>>,
        out: &mut Vec<Event>,
    ) -> Self {
        let mut tx = Self {
            method,
            reliable,
            timers,
            state: ServerState::Trying,
            last_response: None,
            retransmit_at: None,
            interval: timers.t1,
            ack_deadline: None,
            end_at: None,
        };
        if tx.method == Method::Invite {
            tx.state = ServerState::Proceeding;
            if let Some(trying) = trying {
                out.push(Event::Transmit(trying.clone()));
                tx.last_response = Some(trying);
            }
        }
        tx
    }

    /// The current state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The earliest timer, if any is running.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.ack_deadline, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// The request arrived again (same branch): re-send our last response, if any.
    pub fn on_retransmission(&mut self, out: &mut Vec<Event>) {
        out.push(Event::Retransmission);
        match self.state {
            ServerState::Proceeding | ServerState::Completed | ServerState::Accepted => {
                if let Some(last) = &self.last_response {
                    out.push(Event::Transmit(last.clone()));
                }
            }
            _ => {}
        }
    }

    /// An ACK for this INVITE: for a non-2xx (same branch) or for our 2xx (routed by dialog).
    pub fn on_ack(&mut self, now: Instant, out: &mut Vec<Event>) {
        match self.state {
            ServerState::Completed => {
                self.retransmit_at = None;
                self.ack_deadline = None;
                self.state = ServerState::Confirmed;
                self.end_at = Some(now + wait(self.reliable, self.timers.t4)); // Timer I
            }
            ServerState::Accepted => {
                self.retransmit_at = None;
                self.ack_deadline = None;
                self.state = ServerState::Terminated;
                out.extend([Event::Acked, Event::Terminated]);
                return;
            }
            _ => {}
        }
        self.terminate_if_due(now, out);
    }

    /// The TU answers; `code` is the response's status, `bytes` its serialization.
    pub fn respond(&mut self, code: u16, bytes: Vec<u8>, now: Instant, out: &mut Vec<Event>) {
        let open = matches!(self.state, ServerState::Trying | ServerState::Proceeding);
        if !open {
            return; // a final response was already sent; the TU lost a race, nothing to do
        }
        out.push(Event::Transmit(bytes.clone()));
        self.last_response = Some(bytes);
        match (self.method == Method::Invite, code) {
            (_, 100..=199) => self.state = ServerState::Proceeding,
            (true, 200..=299) => {
                self.state = ServerState::Accepted;
                self.arm_retransmit(now);
                self.ack_deadline = Some(now + 64 * self.timers.t1); // Timer L
            }
            (true, _) => {
                self.state = ServerState::Completed;
                self.arm_retransmit(now); // Timer G
                self.ack_deadline = Some(now + 64 * self.timers.t1); // Timer H
            }
            (false, _) => {
                self.state = ServerState::Completed;
                self.end_at = Some(now + wait(self.reliable, 64 * self.timers.t1));
                // Timer J
            }
        }
        self.terminate_if_due(now, out);
    }

    fn arm_retransmit(&mut self, now: Instant) {
        self.interval = self.timers.t1;
        self.retransmit_at = (!self.reliable).then(|| now + self.interval);
    }

    /// Runs the timers that are due.
    pub fn on_tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        if self.ack_deadline.is_some_and(|at| now >= at) {
            self.retransmit_at = None;
            self.ack_deadline = None;
            self.state = ServerState::Terminated;
            out.extend([Event::NoAck, Event::Terminated]);
            return;
        }
        if let Some(at) = self.retransmit_at.filter(|&at| now >= at) {
            if let Some(last) = &self.last_response {
                out.push(Event::Transmit(last.clone()));
            }
            self.interval = (self.interval * 2).min(self.timers.t2);
            self.retransmit_at = Some((at + self.interval).max(now));
        }
        self.terminate_if_due(now, out);
    }

    fn terminate_if_due(&mut self, now: Instant, out: &mut Vec<Event>) {
        if self.end_at.is_some_and(|at| now >= at) && self.state != ServerState::Terminated {
            self.end_at = None;
            self.state = ServerState::Terminated;
            out.push(Event::Terminated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    fn request(method: &str) -> Request {
        let text = format!(
            "{method} sip:100@10.78.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.78.0.11:5060;branch=z9hG4bKabc\r\n\
             From: <sip:alert@10.78.0.11>;tag=f1\r\n\
             To: <sip:100@10.78.0.1>\r\n\
             Call-ID: c1\r\n\
             CSeq: 7 {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => unreachable!(),
        }
    }

    fn response(req: &Request, code: u16) -> Response {
        message::response(req, code, Some("t9"))
    }

    fn transmits(out: &[Event]) -> usize {
        out.iter()
            .filter(|e| matches!(e, Event::Transmit(_)))
            .count()
    }

    #[test]
    fn an_unanswered_invite_is_retransmitted_at_doubling_intervals_then_times_out_at_64_t1() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx =
            ClientTransaction::start(request("INVITE"), false, Timers::default(), t0, &mut out);
        assert_eq!(transmits(&out), 1);
        let mut sent_at = Vec::new();
        let mut now = t0;
        while let Some(at) = tx.next_deadline() {
            now = at;
            out.clear();
            tx.on_tick(now, &mut out);
            if transmits(&out) > 0 {
                sent_at.push((now - t0).as_millis());
            }
            if out.contains(&Event::TimedOut) {
                break;
            }
        }
        assert_eq!(sent_at, [500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(now - t0, Duration::from_secs(32));
        assert_eq!(tx.state(), ClientState::Terminated);
    }

    #[test]
    fn a_non_2xx_final_to_an_invite_is_acked_and_the_ack_repeated_for_retransmissions() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let invite = request("INVITE");
        let mut tx =
            ClientTransaction::start(invite.clone(), false, Timers::default(), t0, &mut out);
        out.clear();
        tx.on_response(response(&invite, 486), t0, &mut out);
        let Event::Transmit(ack) = &out[0] else {
            panic!("{out:?}")
        };
        let ack_text = String::from_utf8_lossy(ack);
        assert!(
            ack_text.starts_with("ACK sip:100@10.78.0.1 SIP/2.0"),
            "{ack_text}"
        );
        assert!(ack_text.contains("CSeq: 7 ACK"), "{ack_text}");
        assert!(ack_text.contains("tag=t9"), "{ack_text}");
        assert!(ack_text.contains("branch=z9hG4bKabc"), "{ack_text}");
        assert!(matches!(out[1], Event::Response(_)));
        let ack = ack.clone();
        out.clear();
        tx.on_response(response(&invite, 486), t0, &mut out);
        assert_eq!(out, [Event::Transmit(ack)]);
        out.clear();
        tx.on_tick(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(out, [Event::Terminated]);
    }

    #[test]
    fn a_2xx_goes_to_the_tu_and_so_do_its_retransmissions_until_timer_m() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let invite = request("INVITE");
        let mut tx =
            ClientTransaction::start(invite.clone(), true, Timers::default(), t0, &mut out);
        out.clear();
        tx.on_response(response(&invite, 180), t0, &mut out);
        tx.on_response(response(&invite, 200), t0, &mut out);
        tx.on_response(response(&invite, 200), t0, &mut out);
        assert_eq!(
            out.iter()
                .filter(|e| matches!(e, Event::Response(_)))
                .count(),
            3
        );
        assert_eq!(transmits(&out), 0, "the TU acks a 2xx, not the transaction");
        assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(32)));
    }

    #[test]
    fn a_non_invite_retransmits_capped_at_t2_and_ends_after_timer_k() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let reg = request("REGISTER");
        let mut tx = ClientTransaction::start(reg.clone(), false, Timers::default(), t0, &mut out);
        let mut sent_at = Vec::new();
        for _ in 0..6 {
            let at = tx.next_deadline().unwrap();
            out.clear();
            tx.on_tick(at, &mut out);
            sent_at.push((at - t0).as_millis());
        }
        assert_eq!(sent_at, [500, 1500, 3500, 7500, 11500, 15500]);
        out.clear();
        let now = t0 + Duration::from_secs(16);
        tx.on_response(response(&reg, 200), now, &mut out);
        assert!(matches!(out[..], [Event::Response(_)]));
        assert_eq!(tx.next_deadline(), Some(now + Duration::from_secs(5)));
    }

    #[test]
    fn a_server_invite_sends_trying_and_retransmits_a_rejection_until_acked() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerTransaction::start(
            Method::Invite,
            false,
            Timers::default(),
            Some(b"100".to_vec()),
            &mut out,
        );
        assert_eq!(out, [Event::Transmit(b"100".to_vec())]);
        out.clear();
        tx.on_retransmission(&mut out);
        assert_eq!(
            out,
            [Event::Retransmission, Event::Transmit(b"100".to_vec())]
        );
        out.clear();
        tx.respond(486, b"486".to_vec(), t0, &mut out);
        tx.on_tick(t0 + Duration::from_millis(500), &mut out);
        assert_eq!(transmits(&out), 2);
        out.clear();
        tx.on_ack(t0 + Duration::from_millis(600), &mut out);
        assert_eq!(tx.state(), ServerState::Confirmed);
        tx.on_tick(t0 + Duration::from_millis(5600), &mut out);
        assert_eq!(out, [Event::Terminated]);
    }

    #[test]
    fn a_2xx_that_is_never_acked_ends_in_no_ack() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx =
            ServerTransaction::start(Method::Invite, false, Timers::default(), None, &mut out);
        tx.respond(200, b"200".to_vec(), t0, &mut out);
        let mut n = 0;
        while let Some(at) = tx.next_deadline() {
            out.clear();
            tx.on_tick(at, &mut out);
            n += transmits(&out);
            if out.contains(&Event::NoAck) {
                assert_eq!(at - t0, Duration::from_secs(32));
                break;
            }
        }
        assert_eq!(
            n, 10,
            "retransmits at 0.5, 1.5, 3.5, 7.5, then every 4 s until 32 s"
        );
    }

    #[test]
    fn a_server_non_invite_repeats_its_final_response_and_ends_after_timer_j() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx =
            ServerTransaction::start(Method::Options, false, Timers::default(), None, &mut out);
        assert!(out.is_empty());
        tx.respond(200, b"200".to_vec(), t0, &mut out);
        out.clear();
        tx.on_retransmission(&mut out);
        assert_eq!(
            out,
            [Event::Retransmission, Event::Transmit(b"200".to_vec())]
        );
        out.clear();
        tx.on_tick(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(out, [Event::Terminated]);
        let mut tcp =
            ServerTransaction::start(Method::Bye, true, Timers::default(), None, &mut out);
        out.clear();
        tcp.respond(200, b"200".to_vec(), t0, &mut out);
        assert_eq!(out, [Event::Transmit(b"200".to_vec()), Event::Terminated]);
    }
}
