//! Driver: the supervisor's core loop. It owns the VRRP instance threads, the components and
//! the periodic checks, turns their health into Fault / priority inputs for the instances,
//! tells the components their role, runs the notify hooks, keeps the history, and answers
//! the control socket and the metrics endpoint.
//!
//! ```text
//!  components (child.rs tasks) ─ComponentEvent─┐
//!  checks (script.rs tasks) ────HealthEvent────┤
//!  VRRP threads (driver.rs) ───InstanceEvent───┼─▶ supervise loop ─Input─▶ VRRP threads
//!  control socket / metrics ───(Request, reply)┘        │  └─ role (watch) ─▶ components
//!  signals (TERM, INT) ─────────────────────────────────┘  └─ guard stdin, notify hooks
//!  availability probe (probe.rs task; appends to the ledger) ─watch: last probe─▶ status
//! ```

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use component::client::ControlClient;
use component::contract::{self, Role};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::availability;
use crate::child::{self, ComponentEvent};
use crate::config::Config;
use crate::control::protocol::{
    AvailabilityStatus, Detection, Request, Response, Status, Transition,
};
use crate::control::server;
use crate::health::script;
use crate::node::{Node, Order};
use crate::vrrp::driver::{self, InstanceEvent, InstanceHandle, STOP_TIMEOUT};
use crate::vrrp::guard::{forward_to_guard, respawn_guard, Guard};
use crate::vrrp::machine::State;
use crate::{metrics, notify, systemd};

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error(transparent)]
    Driver(#[from] driver::DriverError),
    #[error("binding the control socket {path}")]
    ControlSocket {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("installing signal handlers")]
    Signals(#[source] std::io::Error),
    #[error("starting the VIP guard")]
    Guard(#[source] std::io::Error),
    #[error("a VRRP instance stopped with an error (see the log)")]
    InstanceFailed,
}

/// How many transitions `history` keeps.
const HISTORY: usize = 200;

struct Supervisor {
    config: Config,
    instances: Vec<InstanceHandle>,
    /// The node's policy (pure): what the instances are told.
    node: Node,
    role_tx: watch::Sender<Role>,
    history: VecDeque<Transition>,
    transitions_total: u64,
    transitions_by_reason: std::collections::BTreeMap<String, u64>,
    detection: Detection,
    guard: Option<Guard>,
    hooks: JoinSet<()>,
    /// Switchovers and promotes in progress: they wait for the peer and for drains, so they
    /// run beside the loop, which keeps reacting (and feeding the watchdog) meanwhile.
    operations: JoinSet<Operation>,
    ready_sent: bool,
    /// The availability probe's latest result, when it runs.
    availability: Option<watch::Receiver<AvailabilityStatus>>,
}

/// What an operator request found out, back on the loop.
enum Operation {
    /// The peer check and the drains are done (Ok: a note on the drains) or refused.
    Switchover {
        reply: oneshot::Sender<Response>,
        outcome: Result<String, String>,
    },
    Promote {
        reply: oneshot::Sender<Response>,
        outcome: Result<(), String>,
    },
    /// Every component was asked to reload (SIGHUP has no one to reply to).
    Reload {
        reply: Option<oneshot::Sender<Response>>,
        outcome: Result<String, String>,
    },
}

pub async fn run(config: Config, with_guard: bool) -> Result<(), SuperviseError> {
    info!(node = %config.node_name, config = %config.path.display(), version = env!("CARGO_PKG_VERSION"), "supervisor starting");
    let cancel = CancellationToken::new();
    let guard = if with_guard {
        Some(Guard::spawn(&config.path).map_err(SuperviseError::Guard)?)
    } else {
        None
    };

    let (instance_tx, mut instance_rx) = mpsc::unbounded_channel();
    let mut instances = Vec::new();
    for instance in config.instances.iter().cloned() {
        instances.push(driver::spawn(
            instance,
            instance_tx.clone(),
            cancel.child_token(),
        )?);
    }
    drop(instance_tx);

    let mut tasks = JoinSet::new();
    let (role_tx, role_rx) = watch::channel(Role::Backup);
    let (component_tx, mut component_rx) = mpsc::unbounded_channel();
    let components_cancel = CancellationToken::new(); // stopped after the VIP is released
    for c in &config.components {
        tasks.spawn(child::run(
            c.component.clone(),
            role_rx.clone(),
            // The role follows the first instance, and so does the dispatch lease.
            instances.first().map(|i| i.adverts.clone()),
            component_tx.clone(),
            components_cancel.clone(),
        ));
    }
    let (health_tx, mut health_rx) = mpsc::unbounded_channel();
    for c in &config.checks {
        tasks.spawn(script::run(
            c.name.clone(),
            c.probe.clone(),
            c.interval,
            health_tx.clone(),
            cancel.child_token(),
        ));
    }
    drop(health_tx);

    let (calls_tx, mut calls_rx) = mpsc::channel(64);
    let listener = component::unix::bind(&config.control_socket).map_err(|source| {
        SuperviseError::ControlSocket {
            path: config.control_socket.display().to_string(),
            source,
        }
    })?;
    tasks.spawn({
        let (path, calls_tx, cancel) = (
            config.control_socket.clone(),
            calls_tx.clone(),
            cancel.child_token(),
        );
        async move {
            server::serve(listener, path, calls_tx, cancel).await;
        }
    });
    if let Some(bind) = config.metrics_bind {
        let (calls_tx, cancel) = (calls_tx.clone(), cancel.child_token());
        tasks.spawn(async move {
            if let Err(e) = metrics::serve(bind, calls_tx, cancel).await {
                error!(error = %e, %bind, "metrics endpoint stopped");
            }
        });
    }
    drop(calls_tx);
    let availability_rx = config.availability.enabled.then(|| {
        let a = &config.availability;
        let (status_tx, status_rx) = watch::channel(AvailabilityStatus {
            service: a.service.to_string(),
            ledger: a.ledger.display().to_string(),
            ..AvailabilityStatus::default()
        });
        tasks.spawn(availability::probe::run(
            a.clone(),
            status_tx,
            cancel.child_token(),
        ));
        status_rx
    });

    let maintenance_file = config.state_dir.join("maintenance");
    let maintenance = maintenance_file.exists();
    if maintenance {
        warn!(file = %maintenance_file.display(), "in maintenance (left on before the restart): not a candidate until `allertactl maintenance off`");
    }
    let mut sup = Supervisor {
        node: Node::new(&config, maintenance),
        config,
        instances,
        role_tx,
        history: VecDeque::new(),
        transitions_total: 0,
        transitions_by_reason: Default::default(),
        detection: Detection::default(),
        guard,
        hooks: JoinSet::new(),
        operations: JoinSet::new(),
        ready_sent: false,
        availability: availability_rx,
    };
    // Weights of checks that start up (positive weights) and persisted maintenance apply now.
    let orders = sup.node.decide();
    sup.send(orders);
    let mut sigterm = signal(SignalKind::terminate()).map_err(SuperviseError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(SuperviseError::Signals)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(SuperviseError::Signals)?;
    let mut watchdog =
        tokio::time::interval(systemd::watchdog_interval().unwrap_or(Duration::from_secs(3600)));
    let mut housekeeping = tokio::time::interval(Duration::from_secs(1));
    let mut running = sup.instances.len();
    let mut failed = false;
    while running > 0 && !cancel.is_cancelled() {
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); cancel.cancel(); }
            _ = sigint.recv() => { info!("SIGINT: shutting down"); cancel.cancel(); }
            _ = sighup.recv() => { info!("SIGHUP: components reload their configuration"); sup.start_reload(None); }
            _ = watchdog.tick() => systemd::watchdog(),
            _ = housekeeping.tick() => sup.check_guard(),
            Some(event) = instance_rx.recv() => {
                if let InstanceEvent::Stopped { error, .. } = &event {
                    running -= 1;
                    failed |= error.is_some();
                    cancel.cancel();
                }
                sup.on_instance_event(event);
            }
            Some(event) = component_rx.recv() => sup.on_component_event(event),
            Some(event) = health_rx.recv() => {
                let orders = sup.node.probed(Instant::now(), &event.check, event.result);
                sup.send(orders);
            }
            Some((request, reply)) = calls_rx.recv() => sup.on_request(request, reply),
            Some(done) = sup.operations.join_next(), if !sup.operations.is_empty() => {
                if let Ok(operation) = done {
                    sup.on_operation(operation);
                }
            }
            Some(_) = sup.hooks.join_next(), if !sup.hooks.is_empty() => {}
        }
    }
    systemd::stopping();
    // A master releases its VIP first (priority 0), then the components stop.
    let drain = async {
        while running > 0 {
            match instance_rx.recv().await {
                Some(event) => {
                    if let InstanceEvent::Stopped { error, .. } = &event {
                        running -= 1;
                        failed |= error.is_some();
                    }
                    sup.on_instance_event(event);
                }
                None => break,
            }
        }
    };
    if tokio::time::timeout(STOP_TIMEOUT, drain).await.is_err() {
        // An instance that did not stop may still hold its VIP: leave it to the guard.
        error!(?STOP_TIMEOUT, "instances still running; exiting anyway");
        failed = true;
    }
    components_cancel.cancel();
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(6), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while sup.hooks.join_next().await.is_some() {}
    })
    .await;
    if failed {
        // Leave the guard to release whatever an instance that failed still held.
        return Err(SuperviseError::InstanceFailed);
    }
    if let Some(guard) = sup.guard.take() {
        guard.dismiss();
    }
    for handle in sup.instances {
        let _ = handle.thread.join();
    }
    info!("supervisor stopped");
    Ok(())
}

impl Supervisor {
    fn on_instance_event(&mut self, event: InstanceEvent) {
        let InstanceEvent::StateChanged {
            instance,
            from,
            to,
            reason,
            at,
            priority,
            vip_added_ms,
            first_garp_ms,
        } = event
        else {
            return;
        };
        let masters: Vec<String> = self
            .instances
            .iter()
            .map(|i| i.status_rx.borrow().clone())
            .filter(|st| {
                if st.name == instance {
                    to == State::Master
                } else {
                    st.state == State::Master
                }
            })
            .map(|st| st.name)
            .collect();
        forward_to_guard(&mut self.guard, &self.config.path, &instance, to, &masters);

        let first = self
            .instances
            .first()
            .is_some_and(|i| i.status_rx.borrow().name == instance);
        if first {
            let role = if to == State::Master {
                Role::Master
            } else {
                Role::Backup
            };
            self.role_tx
                .send_if_modified(|r| std::mem::replace(r, role) != role);
            if !self.ready_sent && matches!(to, State::Master | State::Backup | State::Fault) {
                self.ready_sent = true;
                systemd::ready();
            }
            systemd::status(&format!("{to:?}, priority {priority}"));
        }
        if let Some(cfg) = self.config.instances.iter().find(|i| i.name == instance) {
            for (command, args) in notify::commands(&cfg.notify, &instance, to, priority) {
                self.hooks.spawn(run_hook(command, args));
            }
        }
        let cause = self.node.cause(Instant::now());
        if from == State::Master || to == State::Master {
            self.transitions_total += 1;
            *self
                .transitions_by_reason
                .entry(format!("{reason:?}"))
                .or_default() += 1;
            if let Some((_, ms)) = &cause {
                self.detection.observe(ms / 1000.0);
            }
        }
        let at_ms = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let transition = Transition {
            at_ms,
            instance,
            from: format!("{from:?}"),
            to: format!("{to:?}"),
            reason: format!("{reason:?}"),
            detect_ms: cause.as_ref().map(|(_, ms)| *ms),
            cause: cause.map(|(c, _)| c),
            vip_added_ms,
            first_garp_ms,
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(transition);
    }

    /// A guard that died (someone killed it) is replaced at once and told who is master.
    fn check_guard(&mut self) {
        let Some(guard) = &mut self.guard else { return };
        if !matches!(guard.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let masters: Vec<String> = self
            .instances
            .iter()
            .map(|i| i.status_rx.borrow().clone())
            .filter(|st| st.state == State::Master)
            .map(|st| st.name)
            .collect();
        warn!("VIP guard exited; starting a new one");
        self.guard = respawn_guard(&self.config.path, &masters);
    }

    fn on_component_event(&mut self, event: ComponentEvent) {
        let now = Instant::now();
        let orders = match event {
            ComponentEvent::Started { name, pid } => {
                self.node.started(&name, pid);
                Vec::new()
            }
            ComponentEvent::Exited { name, reason } => self.node.exited(now, &name, reason),
            ComponentEvent::Probe { name, result } => self.node.probed(now, &name, result),
            ComponentEvent::Version { name, version } => {
                info!(component = %name, %version, "component version");
                self.node.version_reported(&name, version);
                Vec::new()
            }
            ComponentEvent::RoleAcknowledged { name, role, after } => {
                info!(component = %name, role = role.as_str(), ack_ms = after.as_secs_f64() * 1000.0, "role acknowledged");
                Vec::new()
            }
            ComponentEvent::RoleFailed { name, role, reason } => {
                warn!(component = %name, role = role.as_str(), %reason, "role not acknowledged");
                Vec::new()
            }
            ComponentEvent::Status { name, status } => self.node.status_reported(now, name, status),
        };
        self.send(orders);
    }

    /// Sends the node's orders to the instances.
    fn send(&self, orders: Vec<Order>) {
        for order in orders {
            if let Some(handle) = self.instances.get(order.instance) {
                let _ = handle.inputs_tx.send(order.input);
            }
        }
    }

    fn status(&self) -> Status {
        let link_faults: Vec<String> = self
            .config
            .instances
            .iter()
            .zip(&self.instances)
            .filter(|(_, h)| h.status_rx.borrow().state == State::Fault)
            .map(|(c, h)| match h.status_rx.borrow().stranger {
                Some(stranger) => format!(
                    "instance {} (adverts of its VRID from {stranger}, which is not its peer)",
                    c.name
                ),
                None => format!(
                    "instance {} (interface {} down, or tracked faults)",
                    c.name, c.interface
                ),
            })
            .collect();
        let instances: Vec<_> = self
            .instances
            .iter()
            .map(|i| i.status_rx.borrow().clone())
            .collect();
        let maintenance = self.node.maintenance();
        let role = match (maintenance, instances.first().map(|i| i.state)) {
            (true, _) => "MAINTENANCE",
            (_, Some(State::Master)) => "MASTER",
            (_, Some(State::Backup)) => "BACKUP",
            (_, Some(State::Fault)) => "FAULT",
            _ => "INITIALIZE",
        };
        let (components, checks) = self.node.check_statuses();
        let faults = self.node.faults(link_faults);
        Status {
            node: self.config.node_name.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            role: role.into(),
            maintenance,
            faults,
            instances,
            components,
            checks,
            transitions_total: self.transitions_total,
            transitions_by_reason: self.transitions_by_reason.clone(),
            detection: self.detection.clone(),
            last_transitions: self.history.iter().rev().take(10).cloned().collect(),
            component_status: self.node.component_status().clone(),
            availability: self.availability.as_ref().map(|rx| rx.borrow().clone()),
        }
    }

    fn on_request(&mut self, request: Request, reply: oneshot::Sender<Response>) {
        let response = match request {
            Request::Status => Response::Status(Box::new(self.status())),
            Request::History => Response::History {
                transitions: self.history.iter().cloned().collect(),
            },
            Request::Maintenance { on } => {
                // Kept across restarts: a node put in maintenance stays out until `off`.
                let file = self.config.state_dir.join("maintenance");
                let saved = if on {
                    std::fs::create_dir_all(&self.config.state_dir)
                        .and_then(|()| std::fs::write(&file, b"on\n"))
                } else {
                    match std::fs::remove_file(&file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                        _ => Ok(()),
                    }
                };
                if let Err(e) = saved {
                    let _ = reply.send(Response::Refused {
                        message: format!("cannot record maintenance in {}: {e}", file.display()),
                    });
                    return;
                }
                let orders = self.node.set_maintenance(Instant::now(), on);
                self.send(orders);
                Response::Done {
                    message: if on {
                        "maintenance on: this node releases the VIP if it holds it and will not be elected until `maintenance off`".into()
                    } else {
                        "maintenance off: this node is a candidate again".into()
                    },
                }
            }
            Request::Switchover { drain_secs, force } => {
                return self.start_switchover(drain_secs, force, reply)
            }
            Request::Promote { force } => return self.start_promote(force, reply),
            Request::Reload => return self.start_reload(Some(reply)),
        };
        let _ = reply.send(response);
    }

    /// Each component's name and control socket.
    fn component_sockets(&self) -> Vec<(String, std::path::PathBuf)> {
        self.config
            .components
            .iter()
            .map(|c| (c.component.name.clone(), c.component.control_socket.clone()))
            .collect()
    }

    /// Asks every component to load its configuration again, each over its own control
    /// connection (the probes' connections stay free); what did not load shows in its
    /// status.
    fn start_reload(&mut self, reply: Option<oneshot::Sender<Response>>) {
        let sockets = self.component_sockets();
        self.operations.spawn(async move {
            let mut done = Vec::new();
            let mut failed = Vec::new();
            for (name, socket) in sockets {
                let mut client = ControlClient::new(socket);
                match client
                    .call(&contract::Request::Reload, Duration::from_secs(2))
                    .await
                {
                    Ok(contract::Response::Reloaded) => done.push(name),
                    Ok(other) => failed.push(format!("{name} answered {other:?}")),
                    Err(e) => failed.push(format!("{name}: {}", component::error::chain(&e))),
                }
            }
            let outcome = if failed.is_empty() {
                Ok(format!("reloading: {}", done.join(", ")))
            } else {
                Err(format!("reload not done everywhere: {}", failed.join("; ")))
            };
            Operation::Reload { reply, outcome }
        });
    }

    fn on_operation(&mut self, operation: Operation) {
        match operation {
            Operation::Reload { reply, outcome } => {
                match &outcome {
                    Ok(message) => info!(%message, "reload"),
                    Err(message) => warn!(%message, "reload"),
                }
                if let Some(reply) = reply {
                    let _ = reply.send(match outcome {
                        Ok(message) => Response::Done { message },
                        Err(message) => Response::Refused { message },
                    });
                }
            }
            Operation::Switchover {
                reply,
                outcome: Err(message),
            }
            | Operation::Promote {
                reply,
                outcome: Err(message),
            } => {
                let _ = reply.send(Response::Refused { message });
            }
            Operation::Switchover {
                reply,
                outcome: Ok(note),
            } => match self.node.switch_over(Instant::now(), self.first_state()) {
                Err(refusal) => {
                    let message = refusal.to_string();
                    let _ = reply.send(Response::Refused { message });
                }
                Ok(orders) => {
                    self.send(orders);
                    let _ = reply.send(Response::Done {
                        message: format!("switched over ({note}); this node is backup and will not take the role back until `allertactl promote`"),
                    });
                }
            },
            Operation::Promote {
                reply,
                outcome: Ok(()),
            } => match self.node.promote(Instant::now(), self.first_state()) {
                Err(refusal) => {
                    let message = refusal.to_string();
                    let _ = reply.send(Response::Refused { message });
                }
                Ok(orders) => {
                    self.send(orders);
                    let _ = reply.send(Response::Done {
                        message:
                            "promoted: this node advertises priority 254 until the next switchover"
                                .into(),
                    });
                }
            },
        }
    }

    fn first_state(&self) -> Option<State> {
        self.instances.first().map(|i| i.status_rx.borrow().state)
    }

    fn start_switchover(&mut self, drain_secs: u32, force: bool, reply: oneshot::Sender<Response>) {
        if let Some(refusal) = Node::switchover_refusal(self.first_state(), drain_secs) {
            let message = refusal.to_string();
            let _ = reply.send(Response::Refused { message });
            return;
        }
        let peer_status = self.config.peer_status;
        let sockets = self.component_sockets();
        self.operations.spawn(async move {
            let outcome = switchover_checks(peer_status, force, drain_secs, sockets).await;
            Operation::Switchover { reply, outcome }
        });
    }

    fn start_promote(&mut self, force: bool, reply: oneshot::Sender<Response>) {
        if let Some(refusal) = self.node.promote_refusal(self.first_state()) {
            let message = refusal.to_string();
            let _ = reply.send(Response::Refused { message });
            return;
        }
        if self.first_state() == Some(State::Master) {
            let _ = reply.send(Response::Done {
                message: "already master".into(),
            });
            return;
        }
        let peer_status = self.config.peer_status;
        self.operations.spawn(async move {
            let mut outcome = Ok(());
            if let (false, Some(addr)) = (force, peer_status) {
                if let Ok(peer) = metrics::fetch_status(addr, PEER_TIMEOUT).await {
                    if peer.role == "MASTER" {
                        outcome = Err(format!(
                            "the peer {} is alive and master; use --force to take the role from it",
                            peer.node
                        ));
                    }
                }
            }
            Operation::Promote { reply, outcome }
        });
    }
}

/// How long the peer's `/status` may take.
const PEER_TIMEOUT: Duration = Duration::from_millis(1500);

/// The slow part of a switchover, off the loop: is the peer a healthy backup (unless
/// `force`), then let every component drain. Ok: a note on the drains; Err: the refusal.
async fn switchover_checks(
    peer_status: Option<std::net::SocketAddr>,
    force: bool,
    drain_secs: u32,
    sockets: Vec<(String, std::path::PathBuf)>,
) -> Result<String, String> {
    if !force {
        let peer = match peer_status {
            None => None,
            Some(addr) => Some(metrics::fetch_status(addr, PEER_TIMEOUT).await),
        };
        match peer {
                None => {
                    return Err("no peer_status configured in [supervisor]: cannot tell whether the peer is healthy; use --force to hand over anyway".into())
                }
                Some(Err(e)) => return Err(format!("the peer is not reachable ({e}); use --force to hand over anyway")),
                Some(Ok(peer)) if peer.role != "BACKUP" || !peer.faults.is_empty() => {
                    return Err(format!("the peer {} is {} with faults {:?}; use --force to hand over anyway", peer.node, peer.role, peer.faults))
                }
                Some(Ok(_)) => {}
            }
    }
    // Let the components finish what they are doing (calls in progress), bounded.
    let started = Instant::now();
    let mut drains = JoinSet::new();
    for (name, path) in sockets {
        drains.spawn(async move {
            let mut client = ControlClient::new(path);
            let timeout = Duration::from_secs(u64::from(drain_secs) + 2);
            (
                name,
                client
                    .call(&contract::Request::Drain { secs: drain_secs }, timeout)
                    .await,
            )
        });
    }
    let mut notes = Vec::new();
    while let Some(Ok((name, result))) = drains.join_next().await {
        match result {
            Ok(contract::Response::Drained { timed_out: false }) => {
                notes.push(format!("{name} drained"))
            }
            Ok(contract::Response::Drained { timed_out: true }) => {
                notes.push(format!("{name} drain timed out"))
            }
            Ok(other) => notes.push(format!("{name} answered {other:?}")),
            Err(e) => notes.push(format!("{name}: {}", component::error::chain(&e))),
        }
    }
    Ok(format!(
        "after {:.1} s of drain: {}",
        started.elapsed().as_secs_f64(),
        if notes.is_empty() {
            "no components".to_string()
        } else {
            notes.join(", ")
        }
    ))
}

async fn run_hook(command: std::path::PathBuf, args: Vec<String>) {
    let mut cmd = tokio::process::Command::new(&command);
    cmd.args(&args).stdin(Stdio::null()).kill_on_drop(true);
    match cmd.spawn() {
        Ok(mut child) => match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => warn!(hook = %command.display(), %status, "notify hook failed"),
            Ok(Err(e)) => warn!(hook = %command.display(), error = %e, "notify hook"),
            Err(_) => {
                warn!(hook = %command.display(), "notify hook still running after 60 s; killed")
            }
        },
        Err(e) => warn!(hook = %command.display(), error = %e, "cannot run notify hook"),
    }
}
