//! Pure: the transaction layer's switchboard (RFC 3261 §17.1.3, §17.2.3, §9.2, §18).
//!
//! The [`Endpoint`] parses what arrives, matches it to a transaction (or creates a server
//! transaction), absorbs retransmissions, answers what the transaction layer answers by
//! itself (100 Trying, 200 to a CANCEL, 481 to a CANCEL for nothing, 400 to a malformed
//! request) and hands the rest to its user as [`Output`]s. All timers of all transactions
//! are kept in one deadline heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use super::message::{Headers, Method, Request, Response, SipMessage, Version};

use super::message::{self, Ids, Parsed, SipError, Transport};
use super::transaction::{ClientTransaction, Event, ServerTransaction, Timers};

/// Identifies a transaction inside the endpoint.
pub type TxId = u64;

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The address (for TCP, the connection's remote address).
    pub addr: SocketAddr,
    /// The transport.
    pub transport: Transport,
}

/// What the endpoint asks of its driver and its user.
#[derive(Debug)]
pub enum Output {
    /// Send bytes.
    Send {
        /// To whom.
        peer: Peer,
        /// What.
        bytes: Vec<u8>,
    },
    /// A new request (not a retransmission, not an ACK, not a CANCEL) for the user.
    Request {
        /// The server transaction to answer through [`Endpoint::respond`].
        tx: TxId,
        /// The request.
        request: Box<Request>,
        /// Who sent it.
        peer: Peer,
    },
    /// An ACK outside any transaction: the ACK for a 2xx, for the dialog.
    Ack {
        /// The ACK.
        request: Box<Request>,
        /// Who sent it.
        peer: Peer,
    },
    /// The INVITE of server transaction `invite` was cancelled; it was already answered 200
    /// to the CANCEL, the user now answers the INVITE 487.
    Cancelled {
        /// The INVITE's server transaction.
        invite: TxId,
    },
    /// A response for a client transaction.
    Response {
        /// The client transaction.
        tx: TxId,
        /// The response.
        response: Box<Response>,
    },
    /// A 2xx to an INVITE whose transaction is gone: the user re-sends its ACK.
    StrayResponse {
        /// The response.
        response: Box<Response>,
    },
    /// Client transaction without a final response in time (acts as 408).
    TimedOut {
        /// The client transaction.
        tx: TxId,
    },
    /// Server INVITE transaction: our 2xx was acknowledged.
    Acked {
        /// The server transaction.
        tx: TxId,
    },
    /// Server INVITE transaction: our final response was never acknowledged.
    NoAck {
        /// The server transaction.
        tx: TxId,
    },
}

/// Counters for status and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Messages received.
    pub received: u64,
    /// Messages dropped as unparsable.
    pub unparsable: u64,
    /// Requests answered 400.
    pub bad_requests: u64,
    /// Requests that were retransmissions of ones we had.
    pub retransmissions_in: u64,
    /// Messages we had to send again (timer-driven retransmissions).
    pub retransmissions_out: u64,
    /// Requests refused 503 because [`MAX_SERVER_TRANSACTIONS`] were open.
    pub overloaded: u64,
}

/// At most this many server transactions are open at once. A call holds one or two; even at
/// the largest `max_calls` a legitimate load stays far below.
pub const MAX_SERVER_TRANSACTIONS: usize = 16_384;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: String,
    sent_by: String,
    method: String,
}

#[derive(Debug)]
struct Client {
    tx: ClientTransaction,
    peer: Peer,
    key: (String, String),
}

#[derive(Debug)]
struct Server {
    tx: ServerTransaction,
    peer: Peer,
    key: ServerKey,
    request: Request,
}

/// All transactions of one SIP stack.
#[derive(Debug, Default)]
pub struct Endpoint {
    timers: Timers,
    next_id: TxId,
    clients: HashMap<TxId, Client>,
    client_keys: HashMap<(String, String), TxId>,
    servers: HashMap<TxId, Server>,
    server_keys: HashMap<ServerKey, TxId>,
    deadlines: BinaryHeap<Reverse<(Instant, TxId)>>,
    stats: Stats,
}

impl Endpoint {
    /// An endpoint with these timer values.
    pub fn new(timers: Timers) -> Self {
        Self {
            timers,
            ..Self::default()
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Live transactions (client, server).
    pub fn transactions(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    /// The request a server transaction answers.
    pub fn request(&self, tx: TxId) -> Option<&Request> {
        self.servers.get(&tx).map(|s| &s.request)
    }

    /// The earliest timer of any transaction.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    fn id(&mut self) -> TxId {
        self.next_id += 1;
        self.next_id
    }

    /// Handles one received message (a datagram or a stream frame).
    pub fn receive(&mut self, now: Instant, bytes: &[u8], peer: Peer, out: &mut Vec<Output>) {
        self.stats.received += 1;
        match message::read(bytes) {
            Ok(Parsed {
                message: SipMessage::Request(request),
                fault,
            }) => match fault {
                None => self.on_request(now, request, peer, out),
                // Read well enough to answer, not to act on (RFC 4475 §3.1.2).
                Some(fault) => self.bad_request(&request, peer, &fault, out),
            },
            Ok(Parsed {
                message: SipMessage::Response(response),
                fault: None,
            }) => self.on_response(now, response, out),
            Ok(_) | Err(_) => self.stats.unparsable += 1,
        }
    }

    fn on_request(&mut self, now: Instant, request: Request, peer: Peer, out: &mut Vec<Output>) {
        let ids = match Ids::of(&request.headers) {
            Ok(ids) if ids.cseq_method == request.method || request.method == Method::Ack => ids,
            Ok(_) => {
                return self.bad_request(
                    &request,
                    peer,
                    &SipError::BadHeader {
                        name: "CSeq",
                        value: "method differs from the request's".into(),
                    },
                    out,
                )
            }
            Err(e) => return self.bad_request(&request, peer, &e, out),
        };
        let key = |method: &Method| ServerKey {
            branch: branch_key(&ids),
            sent_by: ids.sent_by.clone(),
            method: method.to_string(),
        };
        match request.method.clone() {
            Method::Ack => match self.server_keys.get(&key(&Method::Invite)).copied() {
                Some(id) => self.with_server(id, now, out, |tx, now, ev| tx.on_ack(now, ev)),
                None => out.push(Output::Ack {
                    request: Box::new(request),
                    peer,
                }),
            },
            method => {
                if let Some(&id) = self.server_keys.get(&key(&method)) {
                    self.stats.retransmissions_in += 1;
                    return self.with_server(id, now, out, |tx, _, ev| tx.on_retransmission(ev));
                }
                let is_cancel = method == Method::Cancel;
                let invite = if is_cancel {
                    self.server_keys.get(&key(&Method::Invite)).copied()
                } else {
                    None
                };
                if self.servers.len() >= MAX_SERVER_TRANSACTIONS {
                    // More open requests than any legitimate load makes: refuse, keep nothing.
                    self.stats.overloaded += 1;
                    if method != Method::Cancel {
                        let response = message::response(&request, 503, Some(&message::token()));
                        out.push(Output::Send {
                            peer,
                            bytes: message::to_bytes(&SipMessage::Response(response)),
                        });
                    }
                    return;
                }
                // No 100 Trying yet: the user sends it ([`Endpoint::trying`]) for an INVITE it
                // takes, so a refused one costs the sender one answer, not two.
                let mut events = Vec::new();
                let skey = key(&method);
                let tx = ServerTransaction::start(
                    method,
                    peer.transport.is_reliable(),
                    self.timers,
                    None,
                    &mut events,
                );
                let id = self.id();
                self.server_keys.insert(skey.clone(), id);
                self.servers.insert(
                    id,
                    Server {
                        tx,
                        peer,
                        key: skey,
                        request: request.clone(),
                    },
                );
                self.apply_server(id, events, false, out);
                if is_cancel {
                    // §9.2: the CANCEL itself is answered by the transaction layer.
                    let code = if invite.is_some() { 200 } else { 481 };
                    let response = message::response(&request, code, Some(&message::token()));
                    self.respond(now, id, &response, out);
                    if let Some(invite) = invite {
                        out.push(Output::Cancelled { invite });
                    }
                } else {
                    out.push(Output::Request {
                        tx: id,
                        request: Box::new(request),
                        peer,
                    });
                }
            }
        }
    }

    fn bad_request(
        &mut self,
        request: &Request,
        peer: Peer,
        error: &SipError,
        out: &mut Vec<Output>,
    ) {
        self.stats.bad_requests += 1;
        if request.method == Method::Ack {
            return; // never answer an ACK
        }
        // Without a Via we would not know where to answer.
        if message::header(&request.headers, "Via").is_none() {
            return;
        }
        let code = match error {
            SipError::Version { .. } => 505,
            _ => 400,
        };
        let mut response = message::response(request, code, Some(&message::token()));
        message::push_header(
            &mut response.headers,
            "Warning",
            format!("399 allerta \"{}\"", error.to_string().replace('"', "'")),
        );
        out.push(Output::Send {
            peer,
            bytes: message::to_bytes(&SipMessage::Response(response)),
        });
    }

    fn on_response(&mut self, now: Instant, response: Response, out: &mut Vec<Output>) {
        let Ok(ids) = Ids::of(&response.headers) else {
            self.stats.unparsable += 1;
            return;
        };
        let key = (ids.branch.clone(), ids.cseq_method.to_string());
        match self.client_keys.get(&key).copied() {
            Some(id) => {
                let Some(client) = self.clients.get_mut(&id) else {
                    return;
                };
                let mut events = Vec::new();
                client.tx.on_response(response, now, &mut events);
                self.apply_client(id, events, false, out);
            }
            None if ids.cseq_method == Method::Invite
                && (200..300).contains(&response.status_code.code()) =>
            {
                out.push(Output::StrayResponse {
                    response: Box::new(response),
                });
            }
            None => {} // late response to a finished transaction: absorbed
        }
    }

    /// Sends a request in a new client transaction.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        peer: Peer,
        out: &mut Vec<Output>,
    ) -> TxId {
        let method = request.method.to_string();
        let key = Ids::of(&request.headers).map_or_else(
            |_| (message::branch(), method.clone()),
            |ids| (ids.branch, method.clone()),
        );
        let mut events = Vec::new();
        let tx = ClientTransaction::start(
            request,
            peer.transport.is_reliable(),
            self.timers,
            now,
            &mut events,
        );
        let id = self.id();
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(id, Client { tx, peer, key });
        self.apply_client(id, events, false, out);
        id
    }

    /// Cancels the INVITE of client transaction `invite` (§9.1): a CANCEL with the same
    /// Request-URI, Call-ID, From, To, top Via and CSeq number. Returns its transaction.
    pub fn cancel(&mut self, now: Instant, invite: TxId, out: &mut Vec<Output>) -> Option<TxId> {
        let client = self.clients.get(&invite)?;
        let peer = client.peer;
        let inv = client.tx.request();
        let mut headers = Headers::default();
        if let Some(via) = message::header(&inv.headers, "Via") {
            message::push_header(&mut headers, "Via", via);
        }
        message::push_header(&mut headers, "Max-Forwards", "70");
        for name in ["Route", "From", "To", "Call-ID"] {
            for v in message::headers_named(&inv.headers, name) {
                message::push_header(&mut headers, name, v);
            }
        }
        let cseq = Ids::of(&inv.headers).map_or(1, |i| i.cseq);
        message::push_header(&mut headers, "CSeq", format!("{cseq} CANCEL"));
        let cancel = Request {
            method: Method::Cancel,
            uri: inv.uri.clone(),
            version: Version::V2,
            headers,
            body: Vec::new(),
        };
        Some(self.send_request(now, cancel, peer, out))
    }

    /// Sends a message outside any transaction (the ACK for a 2xx, §13.2.2.4).
    pub fn send_stateless(&mut self, message: &SipMessage, peer: Peer, out: &mut Vec<Output>) {
        out.push(Output::Send {
            peer,
            bytes: message::to_bytes(message),
        });
    }

    /// Answers INVITE server transaction `tx` with 100 Trying (§17.2.1): the user took the
    /// INVITE and the peer may stop retransmitting it.
    pub fn trying(&mut self, now: Instant, tx: TxId, out: &mut Vec<Output>) {
        let Some(request) = self.request(tx) else {
            return;
        };
        let response = message::response(request, 100, None);
        self.respond(now, tx, &response, out);
    }

    /// Answers server transaction `tx` once and forgets it: what a request from a peer that
    /// has not proved itself gets (a challenge, a refusal, OPTIONS). A retransmission of the
    /// request is a new request and gets its own single answer, so a spoofed source receives
    /// no more than was sent in its name (RFC 3261 §8.2.7 lets a UAS answer statelessly).
    pub fn respond_once(&mut self, tx: TxId, response: &Response, out: &mut Vec<Output>) {
        let Some(server) = self.servers.remove(&tx) else {
            return;
        };
        self.server_keys.remove(&server.key);
        out.push(Output::Send {
            peer: server.peer,
            bytes: message::to_bytes(&SipMessage::Response(response.clone())),
        });
    }

    /// Answers server transaction `tx`.
    pub fn respond(&mut self, now: Instant, tx: TxId, response: &Response, out: &mut Vec<Output>) {
        let code = response.status_code.code();
        let bytes = message::to_bytes(&SipMessage::Response(response.clone()));
        self.with_server(tx, now, out, |t, now, ev| t.respond(code, bytes, now, ev));
    }

    /// Forgets a client transaction at once (the user gave up on it).
    pub fn abandon(&mut self, tx: TxId) {
        if let Some(client) = self.clients.remove(&tx) {
            self.client_keys.remove(&client.key);
        }
    }

    /// Runs every due timer.
    pub fn on_tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if let Some(client) = self.clients.get_mut(&id) {
                if client.tx.next_deadline().is_some_and(|d| d <= now) {
                    let mut events = Vec::new();
                    client.tx.on_tick(now, &mut events);
                    self.apply_client(id, events, true, out);
                }
            } else if let Some(server) = self.servers.get_mut(&id) {
                if server.tx.next_deadline().is_some_and(|d| d <= now) {
                    let mut events = Vec::new();
                    server.tx.on_tick(now, &mut events);
                    self.apply_server(id, events, true, out);
                }
            }
        }
    }

    fn with_server(
        &mut self,
        id: TxId,
        now: Instant,
        out: &mut Vec<Output>,
        f: impl FnOnce(&mut ServerTransaction, Instant, &mut Vec<Event>),
    ) {
        let Some(server) = self.servers.get_mut(&id) else {
            return;
        };
        let mut events = Vec::new();
        f(&mut server.tx, now, &mut events);
        self.apply_server(id, events, false, out);
    }

    fn apply_client(&mut self, id: TxId, events: Vec<Event>, timer: bool, out: &mut Vec<Output>) {
        let Some(peer) = self.clients.get(&id).map(|c| c.peer) else {
            return;
        };
        if self.translate(id, peer, events, timer, out) {
            self.abandon(id);
        } else if let Some(at) = self.clients.get(&id).and_then(|c| c.tx.next_deadline()) {
            self.deadlines.push(Reverse((at, id)));
        }
    }

    fn apply_server(&mut self, id: TxId, events: Vec<Event>, timer: bool, out: &mut Vec<Output>) {
        let Some(peer) = self.servers.get(&id).map(|s| s.peer) else {
            return;
        };
        if self.translate(id, peer, events, timer, out) {
            if let Some(server) = self.servers.remove(&id) {
                self.server_keys.remove(&server.key);
            }
        } else if let Some(at) = self.servers.get(&id).and_then(|s| s.tx.next_deadline()) {
            self.deadlines.push(Reverse((at, id)));
        }
    }

    /// Turns a transaction's events into outputs (client transactions never report
    /// NoAck/Acked, server ones never Response/TimedOut); whether it terminated.
    /// `timer`: the events come from a timer, so a transmission is a retransmission.
    fn translate(
        &mut self,
        id: TxId,
        peer: Peer,
        events: Vec<Event>,
        timer: bool,
        out: &mut Vec<Output>,
    ) -> bool {
        let mut terminated = false;
        for event in events {
            match event {
                Event::Transmit(bytes) => {
                    self.stats.retransmissions_out += u64::from(timer);
                    out.push(Output::Send { peer, bytes });
                }
                Event::Response(response) => out.push(Output::Response { tx: id, response }),
                Event::TimedOut => out.push(Output::TimedOut { tx: id }),
                Event::NoAck => out.push(Output::NoAck { tx: id }),
                Event::Acked => out.push(Output::Acked { tx: id }),
                Event::Terminated => terminated = true,
                Event::Retransmission => {}
            }
        }
        terminated
    }

    /// Finds the INVITE server transaction an ACK for a 2xx belongs to, by dialog: the
    /// ACK has its own branch (§17.2.3), so the user matches it by Call-ID and CSeq and
    /// calls this with the transaction it answered.
    pub fn ack_2xx(&mut self, now: Instant, tx: TxId, out: &mut Vec<Output>) {
        self.with_server(tx, now, out, |t, now, ev| t.on_ack(now, ev));
    }
}

/// The branch, or for a pre-RFC 3261 peer without the magic cookie, a key from the
/// fields §17.2.3 says to match on instead.
fn branch_key(ids: &Ids) -> String {
    if ids.branch.starts_with(message::BRANCH_COOKIE) {
        ids.branch.clone()
    } else {
        format!("{}|{}|{}", ids.call_id, ids.cseq, ids.from_tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer() -> Peer {
        Peer {
            addr: "10.78.0.1:5060".parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    fn invite(branch: &str) -> String {
        format!(
            "INVITE sip:100@10.78.0.11 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.78.0.1:5060;branch={branch}\r\n\
             From: <sip:a@10.78.0.1>;tag=f\r\nTo: <sip:100@10.78.0.11>\r\n\
             Call-ID: e1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@10.78.0.1>\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    fn sent(out: &[Output]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { bytes, .. } => Some(
                    String::from_utf8_lossy(bytes)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                ),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_taken_invite_is_tried_and_its_retransmission_absorbed() {
        let (t0, mut ep, mut out) = (Instant::now(), Endpoint::new(Timers::default()), Vec::new());
        ep.receive(t0, invite("z9hG4bKx").as_bytes(), peer(), &mut out);
        assert_eq!(
            sent(&out),
            [] as [&str; 0],
            "nothing before the user decides"
        );
        let Output::Request { tx, .. } = out[0] else {
            panic!("{out:?}")
        };
        out.clear();
        ep.trying(t0, tx, &mut out);
        assert_eq!(sent(&out), ["SIP/2.0 100 Trying"]);
        out.clear();
        ep.receive(t0, invite("z9hG4bKx").as_bytes(), peer(), &mut out);
        assert_eq!(sent(&out), ["SIP/2.0 100 Trying"]);
        assert_eq!(out.len(), 1, "not handed to the user twice");
        assert_eq!(ep.stats().retransmissions_in, 1);
    }

    #[test]
    fn a_request_answered_once_is_forgotten_and_each_retransmission_gets_one_answer() {
        let (t0, mut ep, mut out) = (Instant::now(), Endpoint::new(Timers::default()), Vec::new());
        for _ in 0..3 {
            ep.receive(t0, invite("z9hG4bKr").as_bytes(), peer(), &mut out);
            let Some(Output::Request { tx, request, .. }) = out.pop() else {
                panic!("{out:?}")
            };
            ep.respond_once(tx, &message::response(&request, 401, Some("t")), &mut out);
            assert_eq!(ep.transactions(), (0, 0));
        }
        assert_eq!(sent(&out), ["SIP/2.0 401 Unauthorized"; 3]);
        out.clear();
        while let Some(at) = ep.next_deadline() {
            ep.on_tick(at, &mut out);
        }
        assert!(out.is_empty(), "no retransmission of a stateless answer");
    }

    #[test]
    fn past_the_transaction_cap_a_request_gets_503_and_keeps_nothing() {
        let (t0, mut ep, mut out) = (Instant::now(), Endpoint::new(Timers::default()), Vec::new());
        for i in 0..MAX_SERVER_TRANSACTIONS {
            ep.receive(
                t0,
                invite(&format!("z9hG4bK{i}")).as_bytes(),
                peer(),
                &mut out,
            );
        }
        out.clear();
        ep.receive(t0, invite("z9hG4bKlast").as_bytes(), peer(), &mut out);
        assert_eq!(sent(&out), ["SIP/2.0 503 Service Unavailable"]);
        assert_eq!(ep.transactions().1, MAX_SERVER_TRANSACTIONS);
        assert_eq!(ep.stats().overloaded, 1);
    }

    #[test]
    fn a_cancel_is_answered_200_and_the_invite_reported_cancelled() {
        let (t0, mut ep, mut out) = (Instant::now(), Endpoint::new(Timers::default()), Vec::new());
        ep.receive(t0, invite("z9hG4bKc").as_bytes(), peer(), &mut out);
        let Output::Request { tx: inv, .. } = out[0] else {
            panic!()
        };
        out.clear();
        let cancel = invite("z9hG4bKc")
            .replace("INVITE sip", "CANCEL sip")
            .replace("1 INVITE", "1 CANCEL");
        ep.receive(t0, cancel.as_bytes(), peer(), &mut out);
        assert_eq!(sent(&out), ["SIP/2.0 200 OK"]);
        assert!(matches!(out[1], Output::Cancelled { invite } if invite == inv));
        out.clear();
        let stray = cancel.replace("z9hG4bKc", "z9hG4bKother");
        ep.receive(t0, stray.as_bytes(), peer(), &mut out);
        assert_eq!(sent(&out), ["SIP/2.0 481 Call/Transaction Does Not Exist"]);
    }

    #[test]
    fn a_request_without_call_id_gets_400_and_garbage_is_dropped() {
        let (t0, mut ep, mut out) = (Instant::now(), Endpoint::new(Timers::default()), Vec::new());
        let bad = invite("z9hG4bKb").replace("Call-ID: e1\r\n", "");
        ep.receive(t0, bad.as_bytes(), peer(), &mut out);
        assert_eq!(sent(&out), ["SIP/2.0 400 Bad Request"]);
        out.clear();
        ep.receive(t0, b"\x00\x01garbage", peer(), &mut out);
        assert!(out.is_empty());
        assert_eq!(ep.stats().unparsable, 1);
    }

    #[test]
    fn an_unanswered_options_times_out_and_is_forgotten() {
        let (t0, mut ep, mut out) = (Instant::now(), Endpoint::new(Timers::default()), Vec::new());
        let req = message::NewRequest {
            method: Method::Options,
            uri: "sip:10.78.0.1",
            sent_by: "10.78.0.11:5060",
            transport: Transport::Udp,
            from: "<sip:q@10.78.0.11>",
            from_tag: "t",
            to: "<sip:10.78.0.1>",
            call_id: "q1",
            cseq: 1,
            contact: None,
        }
        .build()
        .unwrap();
        let tx = ep.send_request(t0, req, peer(), &mut out);
        let mut now = t0;
        while let Some(at) = ep.next_deadline() {
            now = at;
            ep.on_tick(now, &mut out);
        }
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::TimedOut { tx: t } if *t == tx)));
        assert_eq!(now - t0, Duration::from_secs(32));
        assert_eq!(ep.transactions(), (0, 0));
        assert_eq!(ep.stats().retransmissions_out, 10);
    }
}
