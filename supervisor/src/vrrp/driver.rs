//! Driver: runs one VRRP instance on a dedicated OS thread with its own single-threaded tokio
//! runtime, at realtime priority where allowed, so advert timing does not depend on what the
//! rest of the supervisor (or the machine) is doing. All decisions are the machine's.
//!
//! ```text
//!  main runtime                      instance thread "vrrp-<name>" (SCHED_FIFO)
//!  ───────────                       ──────────────────────────────────────────
//!  cancel token ───────────────────▶ select! { cancel | socket | link events | deadline }
//!  events_rx ◀── InstanceEvent ───── step(): machine.handle() → perform Actions in order
//! ```

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use component::contract::Adverts;
use component::realtime;
use futures::StreamExt;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::link::LinkFlags;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::MulticastGroup;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::machine::{Action, Input, Reason, RouterConfig, State, VirtualRouter};
use super::packet::{Advert, DecodeError, Ipv4Header, PseudoHeader};
use super::socket::VrrpSocket;
use super::status::{InstanceStatus, Stats};
use super::stranger::{Change, Strangers};
use crate::arp::garp;
use crate::arp::socket::ArpSocket;
use crate::config::InstanceConfig;
use crate::vip::netlink::{Netlink, NetlinkError};
use crate::vip::Vips;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("starting the instance thread")]
    Thread(#[source] std::io::Error),
    #[error("building the instance runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("opening the VRRP socket on {iface}")]
    Socket {
        iface: String,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the ARP socket on interface {ifindex}")]
    ArpSocket {
        ifindex: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("receiving adverts")]
    Recv(#[source] std::io::Error),
    #[error("sending an advert")]
    Send(#[source] std::io::Error),
    #[error("the link monitor stopped")]
    LinkMonitor,
    #[error("the instance thread panicked")]
    Panicked,
}

/// What an instance tells the rest of the supervisor.
#[derive(Debug, Clone, Serialize)]
pub enum InstanceEvent {
    StateChanged {
        instance: String,
        from: State,
        to: State,
        reason: Reason,
        /// Wall-clock time of the change, for the history and the timeline.
        at: SystemTime,
        /// The priority in force at the change.
        priority: u8,
        /// Becoming master: from the decision to the VIP configured, and to the first
        /// gratuitous ARP sent (milliseconds).
        vip_added_ms: Option<f64>,
        first_garp_ms: Option<f64>,
    },
    /// The thread ended: `error` is `None` on a requested shutdown.
    Stopped {
        instance: String,
        error: Option<String>,
    },
}

/// When the instance last sent and heard an advert with a priority above 0, in
/// [`component::monotonic`] microseconds (0: never). Written by the instance's thread, read by
/// the component probes, which pass them to the media core with every ping: its dispatch
/// lease (`contract::Adverts`).
#[derive(Debug, Default)]
pub struct AdvertStamps {
    sent_us: AtomicU64,
    heard_us: AtomicU64,
}

impl AdvertStamps {
    /// The stamps as a ping carries them. After a stall the thread stamps the adverts it
    /// finds queued before it sends its own, so `sent` is read first: whoever sees a new
    /// `sent` also sees the `heard` stored before it (Release/Acquire), never a fresh lease
    /// beside a stale view of the peer.
    pub fn read(&self) -> Adverts {
        let stamp = |a: &AtomicU64| Some(a.load(Ordering::Acquire)).filter(|us| *us != 0);
        Adverts {
            sent_us: stamp(&self.sent_us),
            heard_us: stamp(&self.heard_us),
        }
    }
}

/// The handles the supervisor keeps for a running instance.
pub struct InstanceHandle {
    pub thread: std::thread::JoinHandle<()>,
    /// Machine inputs from the supervisor: Fault, FaultCleared, SetPriority, Yield, Promote.
    pub inputs_tx: mpsc::UnboundedSender<Input>,
    pub status_rx: tokio::sync::watch::Receiver<InstanceStatus>,
    pub adverts: Arc<AdvertStamps>,
}

/// Starts the instance on its own thread. The thread reports through `events_tx` and ends
/// after `cancel` (a master first sends priority 0 and drops its addresses).
pub fn spawn(
    cfg: InstanceConfig,
    events_tx: mpsc::UnboundedSender<InstanceEvent>,
    cancel: CancellationToken,
) -> Result<InstanceHandle, DriverError> {
    let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
    let (status_tx, status_rx) = tokio::sync::watch::channel(InstanceStatus::new(
        &cfg.name,
        cfg.vrid,
        cfg.priority,
        cfg.unicast_peers.clone(),
    ));
    let adverts = Arc::new(AdvertStamps::default());
    let thread = spawn_thread(
        cfg,
        events_tx,
        inputs_rx,
        status_tx,
        adverts.clone(),
        cancel,
    )?;
    Ok(InstanceHandle {
        thread,
        inputs_tx,
        status_rx,
        adverts,
    })
}

fn spawn_thread(
    cfg: InstanceConfig,
    events_tx: mpsc::UnboundedSender<InstanceEvent>,
    inputs_rx: mpsc::UnboundedReceiver<Input>,
    status_tx: tokio::sync::watch::Sender<InstanceStatus>,
    adverts: Arc<AdvertStamps>,
    cancel: CancellationToken,
) -> Result<std::thread::JoinHandle<()>, DriverError> {
    std::thread::Builder::new()
        .name(format!("vrrp-{}", cfg.name))
        .spawn(move || {
            let instance = cfg.name.clone();
            let kept = cfg.clone();
            let run = std::panic::AssertUnwindSafe(|| {
                run_thread(
                    cfg,
                    events_tx.clone(),
                    inputs_rx,
                    status_tx,
                    adverts,
                    cancel,
                )
            });
            let result = match std::panic::catch_unwind(run) {
                Ok(result) => result,
                Err(_) => Err(DriverError::Panicked),
            };
            if result.is_err() {
                // Whatever went wrong, a VIP held by a dead instance must not stay up while
                // the peer takes over.
                release_after_failure(&kept);
            }
            let error = result.err().map(|e| {
                let chain = component::error::chain(&e);
                tracing::error!(%instance, error = %chain, "vrrp instance stopped");
                chain
            });
            let _ = events_tx.send(InstanceEvent::Stopped { instance, error });
        })
        .map_err(DriverError::Thread)
}

/// Best effort after the instance failed: priority 0 and the VIPs removed, on a fresh runtime.
fn release_after_failure(cfg: &InstanceConfig) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    match rt.block_on(release(cfg)) {
        Ok(()) => warn!(instance = %cfg.name, "instance failed: released its VIPs"),
        Err(e) => {
            tracing::error!(instance = %cfg.name, error = %component::error::chain(&e), "instance failed and could not release its VIPs")
        }
    }
}

/// Sends the instance's priority-0 advert and removes its virtual addresses; the addresses
/// are removed even if the advert cannot be sent (a down link).
pub async fn release(cfg: &InstanceConfig) -> Result<(), DriverError> {
    let netlink = Netlink::connect()?;
    let link = netlink.link(&cfg.interface).await?;
    let source = source_address(&netlink, cfg, link.index).await?;
    let vips = Vips::resolve(&netlink, &cfg.vips).await?;
    let router = VirtualRouter::new(router_config(cfg, source, vips.addrs().collect()));
    let sent = VrrpSocket::open(&cfg.interface, link.index, source, &cfg.unicast_peers)
        .map_err(|source| DriverError::Socket {
            iface: cfg.interface.clone(),
            source,
        })
        .and_then(|mut sock| sock.send(&router.advert(0)).map_err(DriverError::Send));
    vips.remove_all(&netlink).await?;
    sent?;
    info!(instance = %cfg.name, "guard: sent priority 0 and removed the virtual addresses");
    Ok(())
}

fn run_thread(
    cfg: InstanceConfig,
    events_tx: mpsc::UnboundedSender<InstanceEvent>,
    inputs_rx: mpsc::UnboundedReceiver<Input>,
    status_tx: tokio::sync::watch::Sender<InstanceStatus>,
    adverts: Arc<AdvertStamps>,
    cancel: CancellationToken,
) -> Result<(), DriverError> {
    let _span = tracing::info_span!("vrrp", instance = %cfg.name, vrid = cfg.vrid).entered();
    if cfg.realtime_priority > 0 {
        match realtime::set_fifo(cfg.realtime_priority) {
            Ok(()) => info!(
                priority = cfg.realtime_priority,
                "advert thread runs SCHED_FIFO"
            ),
            Err(e) => {
                warn!(error = %e, "no realtime priority; advert timing may suffer under load")
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DriverError::Runtime)?;
    rt.block_on(run(cfg, events_tx, inputs_rx, status_tx, adverts, cancel))
}

/// The interface's source address for adverts: configured, or its first IPv4 address.
pub async fn source_address(
    netlink: &Netlink,
    cfg: &InstanceConfig,
    ifindex: u32,
) -> Result<Ipv4Addr, NetlinkError> {
    if let Some(ip) = cfg.source_ip {
        return Ok(ip);
    }
    let vips: Vec<Ipv4Addr> = cfg.vips.iter().map(|v| v.net.addr()).collect();
    netlink
        .ipv4_addrs(ifindex)
        .await?
        .into_iter()
        .map(|n| n.addr())
        .find(|a| !vips.contains(a))
        .ok_or_else(|| NetlinkError::NoIpv4(cfg.interface.clone()))
}

/// The machine's view of an instance: its config, with the source address found on the
/// interface and the VIPs resolved.
pub fn router_config(
    cfg: &InstanceConfig,
    primary_ip: Ipv4Addr,
    vips: Vec<Ipv4Addr>,
) -> RouterConfig {
    RouterConfig {
        version: cfg.version,
        vrid: cfg.vrid,
        priority: cfg.priority,
        adver_int: cfg.adver_int,
        preempt: cfg.preempt,
        preempt_delay: cfg.preempt_delay,
        primary_ip,
        vips,
        garp_master_delay: cfg.garp_master_delay,
    }
}

/// Everything `step` needs besides the machine.
struct Io {
    name: String,
    sock: VrrpSocket,
    netlink: Netlink,
    vips: Vips,
    /// One ARP socket and MAC per interface that carries a VIP.
    arp: Vec<(u32, [u8; 6], ArpSocket)>,
    garp_repeat: u8,
    events_tx: mpsc::UnboundedSender<InstanceEvent>,
    status_tx: tokio::sync::watch::Sender<InstanceStatus>,
    adverts: Arc<AdvertStamps>,
    /// Our VRID and source address: only another router's adverts of our VRID stamp
    /// `adverts.heard_us` (were our own to come back, our media core would fence itself).
    vrid: u8,
    source: Ipv4Addr,
    stats: Stats,
    /// Whether the last advert failed to send (to log the first failure only).
    sending_fails: bool,
}

async fn run(
    cfg: InstanceConfig,
    events_tx: mpsc::UnboundedSender<InstanceEvent>,
    mut inputs_rx: mpsc::UnboundedReceiver<Input>,
    status_tx: tokio::sync::watch::Sender<InstanceStatus>,
    adverts: Arc<AdvertStamps>,
    cancel: CancellationToken,
) -> Result<(), DriverError> {
    let netlink = Netlink::connect()?;
    // Subscribe to link changes before reading the link's state, so none falls in between.
    let (link_conn, _, mut link_events) =
        rtnetlink::new_multicast_connection(&[MulticastGroup::Link]).map_err(NetlinkError::Open)?;
    let link_task = tokio::spawn(link_conn);
    let _abort_link_task = AbortOnDrop(link_task);
    let link = netlink.link(&cfg.interface).await?;
    let source = source_address(&netlink, &cfg, link.index).await?;
    let sock = VrrpSocket::open(&cfg.interface, link.index, source, &cfg.unicast_peers).map_err(
        |source| DriverError::Socket {
            iface: cfg.interface.clone(),
            source,
        },
    )?;
    let vips = Vips::resolve(&netlink, &cfg.vips).await?;
    vips.remove_stale(&netlink).await?;
    let mut arp = Vec::new();
    for vip in &cfg.vips {
        let l = netlink.link(&vip.interface).await?;
        if arp.iter().all(|(index, _, _)| *index != l.index) {
            let socket = ArpSocket::open(l.index).map_err(|source| DriverError::ArpSocket {
                ifindex: l.index,
                source,
            })?;
            arp.push((l.index, l.mac, socket));
        }
    }
    let mut router = VirtualRouter::new(router_config(&cfg, source, vips.addrs().collect()));
    let mut io = Io {
        name: cfg.name.clone(),
        sock,
        netlink,
        vips,
        arp,
        garp_repeat: cfg.garp_repeat,
        events_tx,
        status_tx,
        adverts,
        vrid: cfg.vrid,
        source,
        stats: Stats::default(),
        sending_fails: false,
    };
    let mode = if cfg.unicast_peers.is_empty() {
        "multicast"
    } else {
        "unicast"
    };
    info!(
        iface = %cfg.interface, %source, priority = cfg.priority, version = cfg.version.number(),
        advert_interval_ms = cfg.adver_int.as_millis() as u64, mode,
        destinations = ?io.sock.destinations(), "vrrp instance listening"
    );

    let mut buf = vec![0u8; 2048];
    let mut faults = FaultSources {
        link_down: !link.is_up,
        tracked: false,
        stranger: false,
    };
    let mut strangers = Strangers::default();
    let first = if link.is_up {
        Input::Startup
    } else {
        Input::Fault
    };
    if !link.is_up {
        warn!(iface = %cfg.interface, "interface is down at start-up: starting in Fault");
    }
    step(&mut router, first, &mut io).await?;
    let mut stopping = false;
    loop {
        let deadline = [router.next_deadline(), strangers.deadline()]
            .into_iter()
            .flatten()
            .min()
            .map(Instant::from_std);
        let input = tokio::select! {
            biased; // shutdown first, then adverts, then timers
            // Once stopping, a master's handover still runs (adverts, timer) until it ends.
            _ = cancel.cancelled(), if !stopping => Input::Shutdown,
            input = inputs_rx.recv(), if !stopping => match input {
                // The supervisor's Fault is one source of two: the link is the other.
                Some(Input::Fault) => match faults.set_tracked(true, router.state()) {
                    Some(input) => input,
                    None => continue,
                },
                Some(Input::FaultCleared) => match faults.set_tracked(false, router.state()) {
                    Some(input) => input,
                    None => continue,
                },
                Some(input) => input,
                None => Input::Shutdown, // the supervisor is gone
            },
            rx = io.sock.recv(&mut buf) => {
                let len = rx.map_err(DriverError::Recv)?;
                match decode(&buf[..len], &cfg, &mut io.stats) {
                    Received::Advert(input) => input,
                    Received::Stranger(src) => {
                        let quiet = router.master_down_interval();
                        let change = strangers.heard(std::time::Instant::now(), src, quiet);
                        match change.and_then(|c| stranger_changed(c, &mut faults, &router, &io)) {
                            Some(input) => input,
                            None => continue,
                        }
                    }
                    Received::Dropped => continue,
                }
            }
            msg = link_events.next() => {
                let Some((msg, _)) = msg else { return Err(DriverError::LinkMonitor) };
                let Some(up) = link_change(msg.payload, link.index) else { continue };
                if up != faults.link_down {
                    continue;
                }
                if up {
                    info!(iface = %cfg.interface, "interface up");
                } else {
                    warn!(iface = %cfg.interface, "interface down");
                }
                match faults.set_link_down(!up, router.state()) {
                    Some(input) => input,
                    None => continue,
                }
            }
            _ = sleep_until_some(deadline) => {
                // After a stall (a frozen VM, a busy core) the timer and queued adverts are
                // ready together; an advert already queued must count before the timer, or
                // a backup takes over from a master that is alive.
                // The same for a stranger's queued advert: it keeps us out as one read in time.
                while let Some(len) = io.sock.try_recv(&mut buf).map_err(DriverError::Recv)? {
                    let input = match decode(&buf[..len], &cfg, &mut io.stats) {
                        Received::Advert(input) => Some(input),
                        Received::Stranger(src) => {
                            let quiet = router.master_down_interval();
                            let change = strangers.heard(std::time::Instant::now(), src, quiet);
                            change.and_then(|c| stranger_changed(c, &mut faults, &router, &io))
                        }
                        Received::Dropped => None,
                    };
                    if let Some(input) = input {
                        step(&mut router, input, &mut io).await?;
                    }
                }
                let quiet = strangers.tick(std::time::Instant::now());
                if let Some(input) = quiet.and_then(|c| stranger_changed(c, &mut faults, &router, &io)) {
                    step(&mut router, input, &mut io).await?;
                }
                Input::Tick
            }
        };
        stopping |= matches!(input, Input::Shutdown);
        step(&mut router, input, &mut io).await?;
        if stopping && !router.is_handing_over() {
            info!(stats = ?io.stats, ignored = ?router.ignored(), "vrrp instance stopped");
            return Ok(());
        }
    }
}

/// A stranger began or stopped keeping us out: say so, publish it, and give the machine the
/// input the fault sources call for.
fn stranger_changed(
    change: Change,
    faults: &mut FaultSources,
    router: &VirtualRouter,
    io: &Io,
) -> Option<Input> {
    let (stranger, now_out) = match change {
        Change::Began(src) => {
            warn!(
                instance = %io.name, vrid = io.vrid, stranger = %src, peers = ?io.sock.destinations(),
                "adverts of our VRID come from a router that is not our peer: one node's \
                 ha.peer_ip is wrong; this node stays out of the election (Fault) until they stop"
            );
            (Some(src), true)
        }
        Change::Ended(src) => {
            info!(instance = %io.name, stranger = %src, "adverts from a router that is not our peer stopped: rejoining the election");
            (None, false)
        }
    };
    io.status_tx.send_modify(|s| s.stranger = stranger);
    faults.set_stranger(now_out, router.state())
}

/// An instance is in Fault while its link is down, the supervisor says so (a component or
/// check down, maintenance) or a stranger advertises our VRID, and leaves it only when all
/// are clear: one source clearing must not undo another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FaultSources {
    link_down: bool,
    tracked: bool,
    stranger: bool,
}

impl FaultSources {
    fn is_faulted(self) -> bool {
        self.link_down || self.tracked || self.stranger
    }

    fn set_stranger(&mut self, heard: bool, state: State) -> Option<Input> {
        self.change(state, |f| f.stranger = heard)
    }

    fn set_link_down(&mut self, down: bool, state: State) -> Option<Input> {
        self.change(state, |f| f.link_down = down)
    }

    fn set_tracked(&mut self, fault: bool, state: State) -> Option<Input> {
        self.change(state, |f| f.tracked = fault)
    }

    /// The machine input a change calls for, if any.
    fn change(&mut self, state: State, edit: impl FnOnce(&mut Self)) -> Option<Input> {
        let before = self.is_faulted();
        edit(self);
        match (before, self.is_faulted()) {
            (false, true) => Some(Input::Fault),
            (true, false) if state == State::Initialize => Some(Input::Startup),
            (true, false) => Some(Input::FaultCleared),
            _ => None,
        }
    }
}

/// What one received packet is to the instance.
enum Received {
    Advert(Input),
    /// An advert of our VRID from a router that is not our unicast peer.
    Stranger(Ipv4Addr),
    /// Malformed, or another VRID's from outside our peers: counted and dropped.
    Dropped,
}

/// Checks the IP header and decodes the advert; counts and drops what is malformed.
fn decode(packet: &[u8], cfg: &InstanceConfig, stats: &mut Stats) -> Received {
    let parsed = Ipv4Header::parse(packet).and_then(|(ip, payload)| {
        let ph = PseudoHeader {
            src: ip.src,
            dst: ip.dst,
        };
        Advert::decode(payload, ph, cfg.version).map(|advert| (ip, advert))
    });
    match parsed {
        Ok((ip, advert)) => {
            if !cfg.unicast_peers.is_empty() && !cfg.unicast_peers.contains(&ip.src) {
                stats.dropped_not_from_peer += 1;
                debug!(src = %ip.src, vrid = advert.vrid, "dropping advert from outside unicast_peers");
                return if advert.vrid == cfg.vrid {
                    Received::Stranger(ip.src)
                } else {
                    Received::Dropped
                };
            }
            stats.adverts_received += 1;
            Received::Advert(Input::Advert {
                src: ip.src,
                advert,
            })
        }
        Err(error) => {
            stats.dropped_malformed += 1;
            log_drop(&error);
            Received::Dropped
        }
    }
}

fn log_drop(error: &DecodeError) {
    debug!(cause = error.cause(), %error, "dropping malformed advert");
}

/// `Some(is_up)` if `payload` is a link message about interface `index`.
fn link_change(payload: NetlinkPayload<RouteNetlinkMessage>, index: u32) -> Option<bool> {
    let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) = payload else {
        return None;
    };
    if link.header.index != index {
        return None;
    }
    let flags = link.header.flags;
    Some(flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp))
}

async fn step(router: &mut VirtualRouter, input: Input, io: &mut Io) -> Result<(), DriverError> {
    let mut actions = Vec::new();
    let started = std::time::Instant::now();
    let (mut vip_added_ms, mut first_garp_ms) = (None, None);
    let since = |t: std::time::Instant| Some(t.elapsed().as_secs_f64() * 1000.0);
    // Only our VRID's adverts tell us about the peer: another pair may share the link.
    if let Input::Advert { src, advert } = &input {
        let (src, priority) = (*src, advert.priority);
        // Taken on receipt (or later, after a stall), so never before the peer's stamp of
        // the same advert: the fence built on it errs on the late side.
        if advert.vrid == io.vrid && priority > 0 && src != io.source {
            io.adverts
                .heard_us
                .store(component::monotonic::now_us(), Ordering::Release);
        }
        io.status_tx.send_if_modified(|s| {
            if advert.vrid != s.vrid {
                return false;
            }
            s.peer_last_heard_ms = Some(component::localtime::now_ms());
            s.peer_address = Some(src);
            s.peer_priority = Some(priority);
            true
        });
    }
    router.handle(Instant::now().into_std(), input, &mut actions);
    for action in actions {
        match action {
            Action::SendAdvert { priority } => {
                // Stamped before the send, so never after the peer's receipt; kept only if
                // it went out. Priority 0 renews nothing: it says we are leaving.
                let stamp = component::monotonic::now_us();
                match io.sock.send(&router.advert(priority)) {
                    Ok(_) => {
                        if priority > 0 {
                            io.adverts.sent_us.store(stamp, Ordering::Release);
                        }
                        io.stats.adverts_sent += 1;
                        io.sending_fails = false;
                    }
                    // Never fatal: a down link (ENETUNREACH) or a full send buffer must not
                    // stop the instance, nor skip the actions after this one (RemoveVips on
                    // a Fault).
                    Err(error) => {
                        io.stats.send_errors += 1;
                        if !std::mem::replace(&mut io.sending_fails, true) {
                            warn!(%error, "cannot send adverts");
                        }
                    }
                }
            }
            Action::AddVips => {
                io.vips.add_all(&io.netlink).await?;
                vip_added_ms = since(started);
            }
            Action::RemoveVips => {
                // A failure here must not stop the instance: keep going and say so loudly.
                if let Err(e) = io.vips.remove_all(&io.netlink).await {
                    tracing::error!(error = %component::error::chain(&e), "could not remove a virtual address");
                }
            }
            Action::SendGratuitousArp => {
                send_garps(io);
                first_garp_ms = first_garp_ms.or(since(started));
            }
            Action::StateChanged { from, to, reason } => {
                io.status_tx.send_modify(|s| s.state = to);
                info!(instance = %io.name, ?from, ?to, ?reason, "state changed");
                let at = SystemTime::now();
                let _ = io.events_tx.send(InstanceEvent::StateChanged {
                    instance: io.name.clone(),
                    from,
                    to,
                    reason,
                    at,
                    priority: router.priority(),
                    vip_added_ms,
                    first_garp_ms,
                });
            }
        }
    }
    let stats = io.stats;
    io.status_tx.send_modify(|s| {
        s.priority = router.priority();
        s.yielded = router.is_yielded();
        s.preempt_held = router.is_preempt_held();
        s.promoted = router.is_promoted();
        s.stats = stats;
    });
    Ok(())
}

fn send_garps(io: &mut Io) {
    for (ifindex, vip) in io.vips.by_interface().collect::<Vec<_>>() {
        let Some((_, mac, socket)) = io.arp.iter().find(|(i, _, _)| *i == ifindex) else {
            continue;
        };
        let frame = garp::frame(*mac, vip);
        for _ in 0..io.garp_repeat {
            match socket.send(&frame) {
                Ok(()) => io.stats.garps_sent += 1,
                Err(e) => warn!(%vip, error = %e, "gratuitous ARP not sent"),
            }
        }
    }
    debug!(repeat = io.garp_repeat, "gratuitous ARPs sent");
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a graceful stop may take before the caller gives up waiting.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_clears_only_when_link_and_tracked_faults_both_clear() {
        let mut f = FaultSources {
            link_down: false,
            tracked: false,
            stranger: false,
        };
        assert_eq!(f.set_tracked(true, State::Master), Some(Input::Fault));
        assert_eq!(f.set_link_down(true, State::Fault), None);
        assert_eq!(
            f.set_link_down(false, State::Fault),
            None,
            "the component is still down"
        );
        assert_eq!(
            f.set_tracked(false, State::Fault),
            Some(Input::FaultCleared)
        );
        assert_eq!(f.set_link_down(true, State::Backup), Some(Input::Fault));
        assert_eq!(
            f.set_link_down(false, State::Initialize),
            Some(Input::Startup)
        );
    }
}
