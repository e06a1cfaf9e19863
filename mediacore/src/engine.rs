//! Driver: the SIP engine, one task that owns every piece of SIP state.
//!
//! ```text
//!  UDP/TCP ──▶ ┌──────────────────────────────┐ ──NewCall──▶ call tasks (call.rs)
//!              │ engine: Endpoint (all txs),   │ ◀─Command──  (answer, hang up, dial)
//!  control ──▶ │ legs, registrations, qualify  │ ──CallEvent─▶ the call's task
//!  (ping…)     └──────────────────────────────┘
//! ```
//!
//! Everything here is plumbing between the pure parts: [`crate::sip::endpoint::Endpoint`]
//! (transactions), [`crate::sip::call::Leg`] (per-call signalling),
//! [`crate::sip::registration::Registration`] and [`crate::sip::qualify::Qualify`]. The
//! supervisor's `ping` is answered from this loop, so a stuck engine stops answering.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sip::message::{Method, Request, Response, SipMessage};
use component::contract::{Adverts, Request as Control, Response as ControlResponse, Role};
use component::log_budget::LogBudget;
use component::server::Call as ControlCall;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::channel::{Channel, ChannelInfo, ChannelState};
use crate::conf::pjsip::Trunk;
use crate::sip::call::{Action as LegAction, CallEvent, EndCause, Leg, Login};
use crate::sip::dialog::DialogId;
use crate::sip::endpoint::{Endpoint, Output, Peer, TxId};
use crate::sip::message::{self, Ids, NewRequest, Transport};
use crate::sip::pike::{self, Admit, Pike};
use crate::sip::registration;
use crate::sip::switch::{Decision, Switch};
use crate::sip::transaction::Timers;
use crate::sip::transport::{NetEvent, Transports};

/// How often the status is built while only packets arrive.
const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
/// After a drain ends, how long campaign calls stay held: the supervisor hands the role over
/// within this (a priority-0 advert), and a call started in between would only run on the
/// node that is leaving.
const DRAIN_HOLD: std::time::Duration = std::time::Duration::from_secs(5);
use crate::status::Status;
use crate::trunks::{self, Trunks};

/// Identifies a call leg across the engine and its call task.
pub type LegId = u64;

/// What a call task asks of the engine.
#[derive(Debug)]
pub enum Command {
    /// The channels up or being set up (AMI CoreShowChannels).
    Channels(oneshot::Sender<Vec<ChannelInfo>>),
    /// Hang up the channel with this name (AMI Hangup); whether it existed.
    HangupChannel(String, oneshot::Sender<bool>),
    /// 180 Ringing.
    Ring(LegId),
    /// 200 OK with this SDP answer.
    Answer(LegId, Vec<u8>),
    /// Refuse an inbound call with this status.
    Reject(LegId, u16),
    /// Hang up (BYE, CANCEL or a final response, as the state requires).
    Hangup(LegId),
    /// Hang up with a Q.850 cause (dialplan `Hangup(cause)`, `Busy`, `Congestion`): an
    /// inbound call not yet answered is refused with the matching SIP status (486 for
    /// busy, 503 for congestion …).
    HangupWithCause(LegId, u16),
    /// Place an outbound call through a trunk.
    Dial {
        /// The trunk (pjsip endpoint) name.
        trunk: String,
        /// The number to call.
        number: String,
        /// Our SDP offer.
        offer: Vec<u8>,
        /// Where the leg's events go.
        events: mpsc::UnboundedSender<CallEvent>,
        /// The new leg, or why it could not be placed.
        reply: oneshot::Sender<Result<Placed, NotPlaced>>,
    },
    /// Wake the call task of the channel with this name from what it waits on (AMI
    /// `Redirect`); whether it existed.
    Interrupt(String, oneshot::Sender<bool>),
    /// A key press on a leg's media, for AMI DTMFBegin/DTMFEnd.
    Dtmf(LegId, crate::dtmf::rfc4733::DtmfEvent),
    /// A `Local/<exten>@<context>` pair (`local`): its two channels are listed and announced
    /// like legs (`;1` Down, `;2` Ring); AMI's Hangup of either sends on its `hangup`.
    LocalPair {
        /// `<exten>@<context>`.
        exten: String,
        /// The context.
        context: String,
        /// The caller ID number.
        caller: String,
        /// Where a hangup of `;1` and of `;2` is told.
        hangups: [mpsc::UnboundedSender<()>; 2],
        /// The two channels: id, name and Uniqueid of `;1` and of `;2`.
        reply: oneshot::Sender<[(LegId, String, String); 2]>,
    },
    /// A Local channel's new state (Newstate).
    LocalState(LegId, ChannelState),
    /// A Local channel is gone (Hangup with this Q.850 cause).
    LocalGone(LegId, u16),
}

/// An outbound leg just placed.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The leg.
    pub leg: LegId,
    /// Its channel name (`PJSIP/<trunk>-<leg>`).
    pub channel: String,
    /// Its Uniqueid.
    pub uniqueid: String,
}

/// Why the engine could not place an outbound call (the call task answers CHANUNAVAIL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPlaced {
    #[error("no trunk {0:?}")]
    NoTrunk(String),
    #[error("trunk {0:?} has no contact to send calls to")]
    NoContact(String),
    #[error("call limit reached")]
    CallLimit,
    /// Characters a number cannot hold (`sip::message::is_dialable`).
    #[error("{0:?} is not a number to dial (digits, letters and + * - . _ only)")]
    BadNumber(String),
    /// The number does not make a Request-URI (or a header) with the trunk's host.
    #[error(transparent)]
    Request(#[from] crate::sip::message::SipError),
}

/// A new inbound call for a call task.
#[derive(Debug)]
pub struct NewCall {
    /// The leg.
    pub leg: LegId,
    /// The trunk it came in on.
    pub trunk: String,
    /// The trunk's dialplan context.
    pub context: String,
    /// The dialled extension (Request-URI user).
    pub exten: String,
    /// The caller's number (From user).
    pub caller: String,
    /// The channel's Uniqueid (as AMI events give it).
    pub uniqueid: String,
    /// The SDP offer in the INVITE (may be empty: offer in the 200, answer in the ACK).
    pub offer: Vec<u8>,
    /// Where signalling came from.
    pub peer: SocketAddr,
    /// The leg's events.
    pub events: mpsc::UnboundedReceiver<CallEvent>,
}

struct LegEntry {
    leg: Leg,
    peer: Peer,
    events: mpsc::UnboundedSender<CallEvent>,
    dialog: Option<DialogId>,
    channel: Channel,
}

enum TxOwner {
    Leg(LegId),
    Registration(usize),
    Qualify(usize),
}

/// Everything the engine needs to start.
pub struct Config {
    /// The SIP listening address (UDP and TCP).
    pub bind: SocketAddr,
    /// Whether to listen on TCP as well.
    pub tcp: bool,
    /// The trunks.
    pub trunks: Vec<Trunk>,
    /// Transaction timers.
    pub timers: Timers,
    /// Refuse calls beyond this many with 503.
    pub max_calls: usize,
    /// Where AMI events go (`None`: no AMI).
    pub events: Option<tokio::sync::broadcast::Sender<Arc<crate::ami::events::Event>>>,
    /// The config watcher's wake-up (`reload` from the supervisor).
    pub reload: Arc<tokio::sync::Notify>,
}

/// The engine task's handles.
pub struct Handles {
    /// Commands from call tasks.
    pub commands: mpsc::UnboundedSender<Command>,
    /// The latest status.
    pub status: Arc<Mutex<Status>>,
    /// The bound SIP address.
    pub local: SocketAddr,
}

struct Engine {
    ep: Endpoint,
    net: Transports,
    sent_by: String,
    trunks: Trunks,
    legs: HashMap<LegId, LegEntry>,
    /// Local channels (`Command::LocalPair`): no SIP, listed and announced like legs.
    locals: HashMap<LegId, (Channel, mpsc::UnboundedSender<()>)>,
    /// Local pairs so far (their names' number, as Asterisk counts them).
    local_pairs: u64,
    by_tx: HashMap<TxId, TxOwner>,
    by_invite: HashMap<TxId, LegId>,
    by_dialog: HashMap<DialogId, LegId>,
    next_leg: LegId,
    calls_tx: mpsc::UnboundedSender<NewCall>,
    status: Arc<Mutex<Status>>,
    counters: Status,
    /// Refused INVITEs come at whatever rate a peer sends them: logged within a budget.
    refusal_log: LogBudget,
    /// Messages per address other than the trunks' (`sip::pike`).
    pike: Pike,
    /// Addresses going over their share, logged within a budget.
    flood_log: LogBudget,
    /// When the status was last published, and whether packets came since.
    published: Instant,
    unpublished: bool,
    max_calls: usize,
    role: Role,
    /// When the supervisor last pinged us.
    supervisor_seen: Option<Instant>,
    /// See [`Status::adverts`].
    adverts: Option<Adverts>,
    /// Wakes the config watcher (`reload`) for `reload` from the supervisor.
    reload: Arc<tokio::sync::Notify>,
    drain: Option<(Instant, oneshot::Sender<ControlResponse>)>,
    /// When the last drain ended: campaign calls stay held for `DRAIN_HOLD` after it, the
    /// time the supervisor takes to hand the role over.
    drained_at: Option<Instant>,
    /// What each request outside our transactions gets (pure).
    switch: Switch,
    /// AMI events.
    ami_events: Option<tokio::sync::broadcast::Sender<Arc<crate::ami::events::Event>>>,
    /// Start time, seconds since the epoch (Uniqueid prefix).
    started_secs: u64,
}

/// Binds the SIP sockets and starts the engine task; new inbound calls go to `calls_tx`.
pub async fn start(
    cfg: Config,
    calls_tx: mpsc::UnboundedSender<NewCall>,
    control_rx: mpsc::Receiver<ControlCall>,
    cancel: CancellationToken,
) -> std::io::Result<(Handles, tokio::task::JoinHandle<()>)> {
    let (net_tx, net_rx) = mpsc::channel(4096);
    let net = Transports::bind(cfg.bind, cfg.tcp, net_tx).await?;
    let local = net.local;
    info!(%local, tcp = cfg.tcp, "sip listening");
    let now = Instant::now();
    let sent_by = local.to_string();
    let trunks = Trunks::new(cfg.trunks, &sent_by, now);
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let status = Arc::new(Mutex::new(Status::default()));
    let engine = Engine {
        ep: Endpoint::new(cfg.timers),
        net,
        sent_by,
        trunks,
        legs: HashMap::new(),
        locals: HashMap::new(),
        local_pairs: 0,
        by_tx: HashMap::new(),
        by_invite: HashMap::new(),
        by_dialog: HashMap::new(),
        next_leg: 0,
        calls_tx,
        status: status.clone(),
        counters: Status::default(),
        refusal_log: LogBudget::new(20),
        pike: Pike::default(),
        flood_log: LogBudget::new(20),
        published: Instant::now(),
        unpublished: false,
        max_calls: cfg.max_calls,
        role: Role::Backup,
        supervisor_seen: None,
        adverts: None,
        reload: cfg.reload.clone(),
        drain: None,
        drained_at: None,
        switch: Switch::new(cfg.max_calls, Instant::now()),
        ami_events: cfg.events.clone(),
        started_secs: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let task = tokio::spawn(engine.run(net_rx, commands_rx, control_rx, cancel));
    Ok((
        Handles {
            commands,
            status,
            local,
        },
        task,
    ))
}

impl Engine {
    async fn run(
        mut self,
        mut net_rx: mpsc::Receiver<NetEvent>,
        mut commands_rx: mpsc::UnboundedReceiver<Command>,
        mut control_rx: mpsc::Receiver<ControlCall>,
        cancel: CancellationToken,
    ) {
        let udp = self.net.udp.clone();
        let mut buf = vec![0u8; 65_536];
        let mut out = Vec::new();
        // Readers of the status (AMI, the dialer) see the role from the start.
        self.publish();
        loop {
            let deadline = self.next_deadline().map(tokio::time::Instant::from_std);
            let mut packet = false;
            tokio::select! {
                _ = cancel.cancelled() => break,
                recv = udp.recv_from(&mut buf) => match recv {
                    Ok((n, addr)) => {
                        if self.admit(addr) {
                            let peer = Peer { addr, transport: Transport::Udp };
                            self.ep.receive(Instant::now(), &buf[..n], peer, &mut out);
                        }
                        packet = true;
                    }
                    Err(error) => debug!(%error, "udp receive error"),
                },
                Some(event) = net_rx.recv() => {
                    self.net.on_event(&event);
                    if let NetEvent::Message { peer, bytes } = event {
                        if self.admit(peer.addr) {
                            self.ep.receive(Instant::now(), &bytes, peer, &mut out);
                        }
                        packet = true;
                    }
                }
                Some(cmd) = commands_rx.recv() => self.command(cmd, &mut out),
                Some((request, reply)) = control_rx.recv() => self.control(request, reply),
                _ = sleep_until(deadline) => self.tick(&mut out),
            }
            self.process(&mut out);
            self.finish_drain();
            // A packet's counters reach the status within PUBLISH_EVERY (building the status
            // for every packet would cost a flood its own weight again); anything else at once.
            if !packet || self.published.elapsed() >= PUBLISH_EVERY {
                self.publish();
            } else {
                self.unpublished = true;
            }
        }
        self.shutdown(&mut out).await;
    }

    /// Whether to read a message from `addr`: a trunk's address always, any other within
    /// its share (`sip::pike`); over it, dropped unread and counted.
    fn admit(&mut self, addr: SocketAddr) -> bool {
        let ip = addr.ip();
        let trunk = self.trunks.list.iter().any(|t| {
            t.cfg.identify.iter().any(|net| net.contains(&ip))
                || t.target.is_some_and(|p| p.addr.ip() == ip)
        });
        if trunk {
            return true;
        }
        let now = Instant::now();
        match self.pike.admit(now, ip) {
            Admit::Yes => true,
            Admit::No { first } => {
                self.counters.sip_flood_dropped += 1;
                if first {
                    if let Some(left_out) = self.flood_log.admit(now) {
                        warn!(peer = %ip, per_window = pike::PER_WINDOW, left_out,
                            "sip: an address sends more than its share; dropping the rest unread");
                    }
                }
                false
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let drain = self.drain.as_ref().map(|(at, _)| *at);
        // A packet's counters not yet published are published within PUBLISH_EVERY.
        let publish = self.unpublished.then_some(self.published + PUBLISH_EVERY);
        [
            self.ep.next_deadline(),
            self.trunks.next_deadline(),
            drain,
            publish,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn tick(&mut self, out: &mut Vec<Output>) {
        let now = Instant::now();
        self.ep.on_tick(now, out);
        for k in 0..self.trunks.regs.len() {
            let mut actions = Vec::new();
            self.trunks.regs[k].1.on_tick(now, &mut actions);
            self.registration_actions(k, actions, out);
        }
        for k in 0..self.trunks.quals.len() {
            if self.trunks.quals[k].1.due(now) {
                self.send_options(k, out);
            }
        }
    }

    fn send_options(&mut self, k: usize, out: &mut Vec<Output>) {
        let trunk = &self.trunks.list[self.trunks.quals[k].0];
        let (Some(peer), Some(host)) = (trunk.target, trunk.host.clone()) else {
            return;
        };
        let request = NewRequest {
            method: Method::Options,
            uri: &format!("sip:{host}"),
            sent_by: &self.sent_by,
            transport: peer.transport,
            from: &format!("<sip:qualify@{}>", self.sent_by),
            from_tag: &message::token(),
            to: &format!("<sip:{host}>"),
            call_id: &format!("{}@allerta", message::token()),
            cseq: 1,
            contact: None,
        }
        .build();
        if let Ok(request) = request {
            let tx = self.ep.send_request(Instant::now(), request, peer, out);
            self.by_tx.insert(tx, TxOwner::Qualify(k));
        }
    }

    fn registration_actions(
        &mut self,
        k: usize,
        actions: Vec<registration::Action>,
        out: &mut Vec<Output>,
    ) {
        for action in actions {
            match action {
                registration::Action::Send(request) => {
                    let trunk = &self.trunks.list[self.trunks.regs[k].0];
                    let transport = trunk.target.map_or(Transport::Udp, |p| p.transport);
                    let server = trunk.cfg.registration.as_ref().map(|r| {
                        r.outbound_proxy
                            .clone()
                            .unwrap_or_else(|| r.server_uri.clone())
                    });
                    match server.as_deref().and_then(trunks::resolve) {
                        Some(addr) => {
                            let tx = self.ep.send_request(
                                Instant::now(),
                                *request,
                                Peer { addr, transport },
                                out,
                            );
                            self.by_tx.insert(tx, TxOwner::Registration(k));
                        }
                        None => {
                            let mut more = Vec::new();
                            self.trunks.regs[k].1.on_failure(
                                "registrar address does not resolve",
                                Instant::now(),
                                &mut more,
                            );
                            // Only a status change can come back; no recursion into sending.
                            for a in more {
                                if let registration::Action::Changed(s) = a {
                                    warn!(trunk = self.trunks.regs[k].1.trunk(), status = ?s, "registration");
                                }
                            }
                        }
                    }
                }
                registration::Action::Changed(status) => match &status {
                    registration::State::Registered { .. } => {
                        info!(trunk = self.trunks.regs[k].1.trunk(), "registered")
                    }
                    registration::State::Failed { reason, .. } => {
                        warn!(trunk = self.trunks.regs[k].1.trunk(), %reason, "registration failed")
                    }
                    other => {
                        info!(trunk = self.trunks.regs[k].1.trunk(), status = ?other, "registration")
                    }
                },
            }
        }
    }

    fn process(&mut self, out: &mut Vec<Output>) {
        // Handling one output may produce more (a leg's response): loop until quiet.
        while !out.is_empty() {
            let batch = std::mem::take(out);
            for output in batch {
                self.output(output, out);
            }
        }
    }

    fn output(&mut self, output: Output, out: &mut Vec<Output>) {
        let now = Instant::now();
        match output {
            Output::Send { peer, bytes } => self.net.send(peer, bytes),
            Output::Request { tx, request, peer } => self.on_request(tx, *request, peer, out),
            Output::Ack { request, .. } => {
                let id = Ids::of(&request.headers).ok().and_then(|ids| {
                    let d = DialogId {
                        call_id: ids.call_id,
                        local_tag: ids.to_tag.unwrap_or_default(),
                        remote_tag: ids.from_tag,
                    };
                    self.by_dialog.get(&d).copied()
                });
                if let Some(id) = id {
                    self.with_leg(id, out, |leg, acts| leg.on_ack(&request.body, acts));
                }
            }
            Output::Cancelled { invite } => {
                if let Some(&id) = self.by_invite.get(&invite) {
                    self.with_leg(id, out, |leg, acts| leg.on_cancelled(acts));
                }
            }
            Output::Response { tx, response } => match self.by_tx.get(&tx) {
                Some(TxOwner::Leg(id)) => {
                    let id = *id;
                    if response.status_code.code() >= 200 {
                        self.forget_tx_if_final(tx, &response);
                    }
                    self.with_leg(id, out, |leg, acts| leg.on_response(&response, acts));
                }
                Some(TxOwner::Registration(k)) => {
                    let k = *k;
                    if response.status_code.code() >= 200 {
                        self.by_tx.remove(&tx);
                        let mut actions = Vec::new();
                        self.trunks.regs[k]
                            .1
                            .on_response(&response, now, &mut actions);
                        self.registration_actions(k, actions, out);
                    }
                }
                Some(TxOwner::Qualify(k)) => {
                    let k = *k;
                    if response.status_code.code() >= 200 {
                        self.by_tx.remove(&tx);
                        self.trunks.quals[k].1.on_response(now);
                    }
                }
                None => {}
            },
            Output::StrayResponse { response } => {
                let id = Ids::of(&response.headers).ok().and_then(|ids| {
                    let d = DialogId {
                        call_id: ids.call_id,
                        local_tag: ids.from_tag,
                        remote_tag: ids.to_tag.unwrap_or_default(),
                    };
                    self.by_dialog.get(&d).copied()
                });
                if let Some(id) = id {
                    self.with_leg(id, out, |leg, acts| leg.on_stray_2xx(&response, acts));
                }
            }
            Output::TimedOut { tx } => match self.by_tx.remove(&tx) {
                Some(TxOwner::Leg(id)) => self.with_leg(id, out, |leg, acts| leg.on_timeout(acts)),
                Some(TxOwner::Registration(k)) => {
                    let mut actions = Vec::new();
                    self.trunks.regs[k].1.on_failure(
                        "408 no response from registrar",
                        now,
                        &mut actions,
                    );
                    self.registration_actions(k, actions, out);
                }
                Some(TxOwner::Qualify(k)) => self.trunks.quals[k].1.on_timeout(now),
                None => {}
            },
            Output::NoAck { tx } => {
                if let Some(&id) = self.by_invite.get(&tx) {
                    self.with_leg(id, out, |leg, acts| leg.on_no_ack(acts));
                }
            }
            Output::Acked { .. } => {}
        }
    }

    fn forget_tx_if_final(&mut self, tx: TxId, response: &Response) {
        // An INVITE's 2xx may be retransmitted to us through the transaction (Accepted
        // state), so keep INVITE transactions mapped until the endpoint drops them.
        let is_invite = Ids::of(&response.headers).is_ok_and(|i| i.cseq_method == Method::Invite);
        if !is_invite {
            self.by_tx.remove(&tx);
        }
    }

    /// A request outside our transactions: the switch decides, this performs it.
    fn on_request(&mut self, tx: TxId, request: Request, peer: Peer, out: &mut Vec<Output>) {
        let now = Instant::now();
        let trunks = self.trunks.list.iter().map(|t| &t.cfg);
        let decision = self
            .switch
            .request(now, &request, peer.addr.ip(), trunks, self.legs.len());
        match decision {
            Decision::Drop => {}
            Decision::InDialog(d) => match self.by_dialog.get(&d).copied() {
                Some(id) => {
                    if request.method == Method::Invite {
                        self.ep.trying(now, tx, out);
                    }
                    self.with_leg(id, out, |leg, acts| leg.on_request(tx, &request, acts))
                }
                None => {
                    let response = message::response(&request, 481, Some(&message::token()));
                    self.ep.respond_once(tx, &response, out);
                }
            },
            // Answers to peers that have not proved themselves keep no transaction.
            Decision::Respond(response) => self.ep.respond_once(tx, &response, out),
            Decision::Refuse { response, reason } => {
                self.counters.unidentified_invites += 1;
                if let Some(left_out) = self.refusal_log.admit(now) {
                    warn!(peer = %peer.addr, reason, left_out, "invite refused");
                }
                self.ep.respond_once(tx, &response, out);
            }
            Decision::Call {
                trunk,
                exten,
                caller,
                authenticated,
            } => {
                if authenticated {
                    info!(peer = %peer.addr, trunk = %self.trunks.list[trunk].cfg.name, "peer authenticated");
                }
                self.ep.trying(now, tx, out);
                self.new_call(tx, request, peer, trunk, exten, caller, out);
            }
        }
    }

    /// An admitted inbound call: its leg, its channel, and the call task's start.
    #[allow(clippy::too_many_arguments)]
    fn new_call(
        &mut self,
        tx: TxId,
        request: Request,
        peer: Peer,
        ti: usize,
        exten: String,
        caller: String,
        out: &mut Vec<Output>,
    ) {
        let (trunk_name, context) = (
            self.trunks.list[ti].cfg.name.clone(),
            self.trunks.list[ti].cfg.context.clone(),
        );
        let contact = format!("<sip:{exten}@{}>", self.sent_by);
        let leg = Leg::inbound(tx, request.clone(), &contact, &self.sent_by, peer.transport);
        let id = self.new_leg_id();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let dialog = leg.dialog_id();
        if let Some(d) = &dialog {
            self.by_dialog.insert(d.clone(), id);
        }
        self.by_invite.insert(tx, id);
        let mut channel = self.channel(id, &trunk_name, &caller, &context, &exten);
        channel.state = ChannelState::Ring;
        self.newchannel(&channel, ChannelState::Ring);
        self.legs.insert(
            id,
            LegEntry {
                leg,
                peer,
                events: events_tx,
                dialog,
                channel,
            },
        );
        self.counters.total_calls += 1;
        info!(leg = id, trunk = %trunk_name, %exten, %caller, peer = %peer.addr, "inbound call");
        let uniqueid = self.legs[&id].channel.uniqueid.clone();
        let call = NewCall {
            leg: id,
            trunk: trunk_name,
            context,
            exten,
            caller,
            uniqueid,
            offer: request.body.clone(),
            peer: peer.addr,
            events: events_rx,
        };
        if self.calls_tx.send(call).is_err() {
            self.with_leg(id, out, |leg, acts| leg.reject(503, acts));
        }
    }

    fn new_leg_id(&mut self) -> LegId {
        self.next_leg += 1;
        self.next_leg
    }

    fn command(&mut self, cmd: Command, out: &mut Vec<Output>) {
        match cmd {
            Command::Ring(id) => self.with_leg(id, out, |leg, acts| leg.ring(acts)),
            Command::Answer(id, sdp) => self.with_leg(id, out, |leg, acts| leg.answer(sdp, acts)),
            Command::Reject(id, code) => self.with_leg(id, out, |leg, acts| leg.reject(code, acts)),
            Command::Hangup(id) => self.with_leg(id, out, |leg, acts| leg.hangup(acts)),
            Command::HangupWithCause(id, cause) => {
                self.with_leg(id, out, |leg, acts| leg.hangup_with_cause(cause, acts))
            }
            Command::Channels(reply) => {
                let _ = reply.send(self.channels());
            }
            Command::Interrupt(name, reply) => {
                let entry = self.legs.values().find(|e| e.channel.name == name);
                let found = entry.is_some_and(|e| e.events.send(CallEvent::Interrupted).is_ok());
                let _ = reply.send(found);
            }
            Command::Dtmf(id, event) => {
                if let Some(entry) = self.legs.get(&id) {
                    self.emit(crate::ami::events::dtmf(
                        &entry.channel.info(Instant::now()),
                        event,
                    ));
                }
            }
            Command::HangupChannel(name, reply) => {
                let id = self
                    .legs
                    .iter()
                    .find(|(_, e)| e.channel.name == name)
                    .map(|(id, _)| *id);
                if let Some(id) = id {
                    self.with_leg(id, out, |leg, acts| leg.hangup(acts));
                }
                let local = self.locals.values().find(|(c, _)| c.name == name);
                let local = local.is_some_and(|(_, hangup)| hangup.send(()).is_ok());
                let _ = reply.send(id.is_some() || local);
            }
            Command::LocalPair {
                exten,
                context,
                caller,
                hangups,
                reply,
            } => {
                let pair = self.local_pairs;
                self.local_pairs += 1;
                let mut made = Vec::new();
                for (half, hangup) in hangups.into_iter().enumerate() {
                    let id = self.new_leg_id();
                    let mut channel = self.channel(id, "", &caller, &context, &exten);
                    channel.name = format!("Local/{exten}@{context}-{pair:08x};{}", half + 1);
                    let state = if half == 0 {
                        ChannelState::Down
                    } else {
                        ChannelState::Ring
                    };
                    channel.state = state;
                    self.newchannel(&channel, state);
                    made.push((id, channel.name.clone(), channel.uniqueid.clone()));
                    self.locals.insert(id, (channel, hangup));
                }
                if let Ok(pair) = <[(LegId, String, String); 2]>::try_from(made) {
                    let _ = reply.send(pair);
                }
            }
            Command::LocalState(id, state) => {
                if let Some((channel, _)) = self.locals.get_mut(&id) {
                    channel.state = state;
                    let channel = channel.clone();
                    self.newstate(&channel, state);
                }
            }
            Command::LocalGone(id, cause) => {
                if let Some((channel, _)) = self.locals.remove(&id) {
                    self.hangup_event(&channel, cause);
                }
            }
            Command::Dial {
                trunk,
                number,
                offer,
                events,
                reply,
            } => {
                let result = self.dial(&trunk, &number, offer, events, out);
                let _ = reply.send(result);
            }
        }
    }

    fn dial(
        &mut self,
        trunk: &str,
        number: &str,
        offer: Vec<u8>,
        events: mpsc::UnboundedSender<CallEvent>,
        out: &mut Vec<Output>,
    ) -> Result<Placed, NotPlaced> {
        let t = self
            .trunks
            .list
            .iter()
            .find(|t| t.cfg.name == trunk)
            .ok_or_else(|| NotPlaced::NoTrunk(trunk.to_owned()))?;
        if !message::is_dialable(number) {
            return Err(NotPlaced::BadNumber(number.to_owned()));
        }
        let (Some(peer), Some(host)) = (t.target, t.host.clone()) else {
            return Err(NotPlaced::NoContact(trunk.to_owned()));
        };
        if self.legs.len() >= self.max_calls {
            return Err(NotPlaced::CallLimit);
        }
        let user = t
            .cfg
            .from_user
            .clone()
            .or_else(|| {
                t.cfg
                    .registration
                    .as_ref()
                    .and_then(|r| r.contact_user.clone())
            })
            .unwrap_or_else(|| "allerta".into());
        let domain = t
            .cfg
            .from_domain
            .clone()
            .unwrap_or_else(|| self.sent_by.clone());
        let credentials = t.cfg.outbound_auth.as_ref().map(|a| Login {
            username: a.username.clone(),
            password: a.password.clone(),
        });
        let mut invite = NewRequest {
            method: Method::Invite,
            uri: &format!("sip:{number}@{host}"),
            sent_by: &self.sent_by,
            transport: peer.transport,
            from: &format!("<sip:{user}@{domain}>"),
            from_tag: &message::token(),
            to: &format!("<sip:{number}@{host}>"),
            call_id: &format!("{}@allerta", message::token()),
            cseq: 1,
            contact: Some(&format!("<sip:{user}@{}>", self.sent_by)),
        }
        .build()?;
        message::push_header(&mut invite.headers, "Allow", message::ALLOW);
        message::set_body(
            &mut invite.headers,
            &mut invite.body,
            Some("application/sdp"),
            offer,
        );
        let id = self.new_leg_id();
        let mut acts = Vec::new();
        let leg = Leg::outbound(invite, credentials, peer.transport, &mut acts);
        let mut channel = self.channel(id, trunk, number, "", number);
        self.newchannel(&channel, ChannelState::Down);
        let dial_string = format!("{number}@{trunk}");
        self.emit(crate::ami::events::dial_begin(
            &channel.info(Instant::now()),
            &dial_string,
        ));
        channel.dialling = Some(dial_string);
        let placed = Placed {
            leg: id,
            channel: channel.name.clone(),
            uniqueid: channel.uniqueid.clone(),
        };
        self.legs.insert(
            id,
            LegEntry {
                leg,
                peer,
                events,
                dialog: None,
                channel,
            },
        );
        self.counters.total_calls += 1;
        info!(leg = id, trunk, number, "outbound call");
        self.leg_actions(id, acts, out);
        Ok(placed)
    }

    fn with_leg(
        &mut self,
        id: LegId,
        out: &mut Vec<Output>,
        f: impl FnOnce(&mut Leg, &mut Vec<LegAction>),
    ) {
        let Some(entry) = self.legs.get_mut(&id) else {
            return;
        };
        let mut acts = Vec::new();
        f(&mut entry.leg, &mut acts);
        self.leg_actions(id, acts, out);
    }

    fn leg_actions(&mut self, id: LegId, acts: Vec<LegAction>, out: &mut Vec<Output>) {
        let now = Instant::now();
        for act in acts {
            let Some(entry) = self.legs.get_mut(&id) else {
                return;
            };
            let peer = entry.peer;
            match act {
                LegAction::Respond { tx, response } => self.ep.respond(now, tx, &response, out),
                LegAction::Request(request) => {
                    let is_invite = request.method == Method::Invite;
                    // In-dialog requests go to the remote target when it is an address we
                    // can use without DNS; otherwise back where the call came from.
                    let to = if is_invite {
                        peer
                    } else {
                        Peer {
                            addr: trunks::literal(&request.uri.to_string()).unwrap_or(peer.addr),
                            transport: peer.transport,
                        }
                    };
                    let tx = self.ep.send_request(now, *request, to, out);
                    self.by_tx.insert(tx, TxOwner::Leg(id));
                    if is_invite {
                        let mut more = Vec::new();
                        if let Some(entry) = self.legs.get_mut(&id) {
                            entry.leg.set_invite_tx(tx, &mut more);
                        }
                        for a in more {
                            if let LegAction::Cancel { tx } = a {
                                if let Some(c) = self.ep.cancel(now, tx, out) {
                                    self.by_tx.insert(c, TxOwner::Leg(id));
                                }
                            }
                        }
                    }
                }
                LegAction::Cancel { tx } => {
                    if let Some(c) = self.ep.cancel(now, tx, out) {
                        self.by_tx.insert(c, TxOwner::Leg(id));
                    }
                }
                LegAction::Ack(ack) => {
                    let to = Peer {
                        addr: trunks::literal(&ack.uri.to_string()).unwrap_or(peer.addr),
                        transport: peer.transport,
                    };
                    self.ep.send_stateless(&SipMessage::Request(*ack), to, out);
                }
                LegAction::Acked { tx } => self.ep.ack_2xx(now, tx, out),
                LegAction::Event(event) => {
                    let ended = matches!(event, CallEvent::Ended(_));
                    let channel = entry.channel.clone();
                    let new_state = match &event {
                        CallEvent::Ringing => Some(ChannelState::Ringing),
                        CallEvent::Answered { .. } | CallEvent::Confirmed { .. } => {
                            Some(ChannelState::Up)
                        }
                        CallEvent::Ended(cause) => {
                            self.dial_end(id, cause.dial_status());
                            self.hangup_event(&channel, cause.q850());
                            None
                        }
                        CallEvent::Interrupted | CallEvent::Refused { .. } => None,
                    };
                    if let Some(state) = new_state {
                        self.newstate(&channel, state);
                        if let Some(e) = self.legs.get_mut(&id) {
                            e.channel.state = state;
                        }
                        if let CallEvent::Answered { .. } = &event {
                            self.dial_end(id, "ANSWER");
                        }
                    }
                    let Some(entry) = self.legs.get_mut(&id) else {
                        return;
                    };
                    if let CallEvent::Answered { .. } = &event {
                        if let Some(d) = entry.leg.dialog_id() {
                            entry.dialog = Some(d.clone());
                            self.by_dialog.insert(d, id);
                        }
                    }
                    let _ = entry.events.send(event);
                    if ended {
                        self.remove_leg(id);
                    }
                }
            }
        }
    }

    fn channel(&self, id: LegId, trunk: &str, caller: &str, context: &str, exten: &str) -> Channel {
        Channel::new(
            id,
            self.started_secs,
            trunk,
            caller,
            context,
            exten,
            Instant::now(),
        )
    }

    /// Sends an AMI event (no AMI: nothing).
    fn emit(&self, event: crate::ami::events::Event) {
        if let Some(tx) = &self.ami_events {
            let _ = tx.send(event.shared());
        }
    }

    fn channel_event(&self, name: &str, channel: &Channel, state: ChannelState) {
        let mut info = channel.info(Instant::now());
        info.state = state.fields();
        self.emit(crate::ami::events::channel(name, &info));
    }

    fn newchannel(&self, channel: &Channel, state: ChannelState) {
        self.channel_event("Newchannel", channel, state);
    }

    fn newstate(&self, channel: &Channel, state: ChannelState) {
        self.channel_event("Newstate", channel, state);
    }

    fn hangup_event(&self, channel: &Channel, cause: u16) {
        let mut info = channel.info(Instant::now());
        info.state = ChannelState::Down.fields();
        self.emit(crate::ami::events::hangup(&info, cause));
    }

    /// DialEnd, once, when an outbound channel's dial is over.
    fn dial_end(&mut self, id: LegId, status: &str) {
        let Some(entry) = self.legs.get_mut(&id) else {
            return;
        };
        if entry.channel.dialling.take().is_some() {
            let info = entry.channel.info(Instant::now());
            self.emit(crate::ami::events::dial_end(&info, status));
        }
    }

    fn remove_leg(&mut self, id: LegId) {
        if let Some(entry) = self.legs.remove(&id) {
            if let Some(d) = entry.dialog {
                self.by_dialog.remove(&d);
            }
            let cause = entry.leg.cause().unwrap_or(EndCause::LocalHangup);
            debug!(leg = id, ?cause, "leg ended");
        }
        self.by_invite.retain(|_, l| *l != id);
        self.by_tx
            .retain(|_, owner| !matches!(owner, TxOwner::Leg(l) if *l == id));
    }

    /// The channels up or being set up, oldest first.
    fn channels(&self) -> Vec<ChannelInfo> {
        let now = Instant::now();
        let mut list: Vec<(LegId, ChannelInfo)> = self
            .legs
            .iter()
            .map(|(id, e)| (*id, e.channel.info(now)))
            .chain(self.locals.iter().map(|(id, (c, _))| (*id, c.info(now))))
            .collect();
        list.sort_by_key(|(id, _)| *id);
        list.into_iter().map(|(_, c)| c).collect()
    }

    fn control(&mut self, request: Control, reply: oneshot::Sender<ControlResponse>) {
        let response = match request {
            Control::Ping(adverts) => {
                if let Some(new) = adverts {
                    self.adverts = Some(self.adverts.map_or(new, |old| old.merge(new)));
                }
                self.supervisor_seen = Some(Instant::now());
                ControlResponse::Pong
            }
            Control::Role(role) => {
                if role != self.role {
                    self.emit(crate::ami::events::role_changed(
                        role.as_str(),
                        self.role.as_str(),
                    ));
                }
                self.role = role;
                info!(role = role.as_str(), "role");
                ControlResponse::RoleSet(role)
            }
            Control::Reload => {
                self.reload.notify_one();
                ControlResponse::Reloaded
            }
            Control::Calls => ControlResponse::Calls(crate::channel::calls_doc(&self.channels())),
            Control::Version => {
                ControlResponse::Version(component::contract::version_doc("allerta-mediacore"))
            }
            Control::Drain { secs } => {
                self.drain = Some((Instant::now() + Duration::from_secs(secs.into()), reply));
                // The dialer sees it at its next tick: no campaign call starts from now.
                self.publish();
                return;
            }
            Control::Status => {
                self.publish();
                let status = self.status.lock().map(|s| s.clone()).unwrap_or_default();
                let checks: serde_json::Map<String, serde_json::Value> = status
                    .trunks
                    .iter()
                    .map(|t| {
                        let check =
                            serde_json::json!({ "ok": t.registered, "reason": t.registration });
                        (format!("trunk-{}", t.name), check)
                    })
                    .collect();
                let mut value = serde_json::to_value(&status).unwrap_or_default();
                value["checks"] = serde_json::Value::Object(checks);
                ControlResponse::Status(value)
            }
        };
        let _ = reply.send(response);
    }

    fn finish_drain(&mut self) {
        let Some((deadline, _)) = &self.drain else {
            return;
        };
        let timed_out = if self.legs.is_empty() {
            false
        } else if Instant::now() >= *deadline {
            true
        } else {
            return;
        };
        if let Some((_, reply)) = self.drain.take() {
            self.drained_at = Some(Instant::now());
            let _ = reply.send(ControlResponse::Drained { timed_out });
        }
    }

    fn publish(&mut self) {
        self.published = Instant::now();
        self.unpublished = false;
        let trunks = self.trunks.status();
        let status = Status {
            trunks,
            active_calls: self.legs.len(),
            total_calls: self.counters.total_calls,
            unidentified_invites: self.counters.unidentified_invites,
            sip_flood_dropped: self.counters.sip_flood_dropped,
            sip: self.ep.stats(),
            role: self.role.as_str().to_owned(),
            hold_preempt: None,
            supervisor_seen: self.supervisor_seen,
            supervisor_silent_ms: self.supervisor_seen.map(|t| t.elapsed().as_millis() as u64),
            adverts: self.adverts,
            draining: self.drain.is_some()
                || self.drained_at.is_some_and(|t| t.elapsed() < DRAIN_HOLD),
            dispatching: false,
            dispatch_hold: None,
            config_alarms: Vec::new(),
            ami: Default::default(),
            campaigns: Vec::new(),
        };
        if let Ok(mut shared) = self.status.lock() {
            // The dialer owns `hold_preempt`, the dispatch fields and `campaigns`, the
            // config watcher `config_alarms`, the AMI server `ami`.
            *shared = Status {
                campaigns: std::mem::take(&mut shared.campaigns),
                hold_preempt: shared.hold_preempt.take(),
                dispatching: shared.dispatching,
                dispatch_hold: shared.dispatch_hold.take(),
                config_alarms: std::mem::take(&mut shared.config_alarms),
                ami: shared.ami,
                ..status
            };
        }
    }

    async fn shutdown(&mut self, out: &mut Vec<Output>) {
        info!(calls = self.legs.len(), "sip engine stopping");
        let ids: Vec<LegId> = self.legs.keys().copied().collect();
        for id in ids {
            self.with_leg(id, out, |leg, acts| leg.hangup(acts));
        }
        let now = Instant::now();
        for k in 0..self.trunks.regs.len() {
            let mut actions = Vec::new();
            self.trunks.regs[k].1.stop(now, &mut actions);
            self.registration_actions(k, actions, out);
        }
        self.process(out);
        // Give BYEs and un-REGISTERs a moment on the wire before the sockets close.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
