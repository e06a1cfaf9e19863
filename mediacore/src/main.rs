//! `allerta-mediacore`: the media core. Reads the `[mediacore]` table of the node file,
//! the node's trunks (`pjsip.conf`) and the shared dialplan (`extensions.conf`), serves
//! SIP and RTP, and answers the supervisor's control contract from the SIP engine's loop.
//!
//! `extensions.conf` and `manager.conf` are put in force when they change (`reload`), and
//! SIGHUP loads both again at once; a file that does not load leaves the running one in
//! place (and says why, with file and line). SIGTERM hangs calls up, unregisters the
//! trunks and exits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{bail, Context};
use clap::Parser;
use mediacore::call::runner;
use mediacore::call::shared::Shared;
use mediacore::codec::g711::Codec;
use mediacore::conf::pjsip::{self, PjsipConfig, Protocol};
use mediacore::dialplan::parse::Dialplan;
use mediacore::engine;
use mediacore::media::Ports;
use mediacore::settings::Settings;
use mediacore::sip::transaction::Timers;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

#[derive(Debug, Parser)]
#[command(
    name = "allerta-mediacore",
    version,
    about = "Allerta media core: SIP trunks, RTP, dialplan"
)]
struct Args {
    /// The control socket the supervisor talks to.
    #[arg(long, default_value = "/run/allerta/mediacore.sock")]
    control: PathBuf,
    /// The node file; its `[mediacore]` table is ours.
    #[arg(long, short, default_value = "/etc/allerta/node.toml")]
    config: PathBuf,
    /// Check the configuration (node file, pjsip.conf, extensions.conf, prompts) and exit.
    #[arg(long)]
    check: bool,
    /// With an operator's command: print what it did as JSON.
    #[arg(long)]
    json: bool,
    /// An operator's command instead of running the media core (`allertactl` hands them
    /// on: `allertactl campaign …`).
    #[command(subcommand)]
    admin: Option<mediacore::campaign::cli::Admin>,
}

fn codec(c: pjsip::Codec) -> Codec {
    match c {
        pjsip::Codec::Ulaw => Codec::Pcmu,
        pjsip::Codec::Alaw => Codec::Pcma,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    component::logging::init(&component::logging::Logging::from_node_file(
        "allerta-mediacore",
        &args.config,
    )?)?;
    let settings = Settings::load(&args.config)?;
    if let Some(admin) = args.admin {
        let who = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "cli".into());
        return mediacore::campaign::cli::execute(admin, &settings, &args.control, &who, args.json);
    }
    let trunks = PjsipConfig::load(&settings.pjsip)?;
    let dialplan = Dialplan::load(&settings.extensions)?;
    let Some(transport) = trunks.transports.first() else {
        bail!(
            "{}: no type=transport section: nothing to listen on",
            settings.pjsip.display()
        );
    };
    if transport.bind.ip().is_unspecified() {
        bail!(
            "{}: transport {:?} binds {}: give the node's voice address, it goes in Via and Contact",
            settings.pjsip.display(),
            transport.name,
            transport.bind
        );
    }
    let tcp = trunks
        .transports
        .iter()
        .any(|t| t.protocol == Protocol::Tcp);
    let media_ip = settings.media_address.unwrap_or(transport.bind.ip());
    for t in trunks.trunks() {
        if !t.ignored_codecs.is_empty() {
            info!(trunk = %t.name, codecs = ?t.ignored_codecs, "codecs allowed in pjsip.conf but not carried");
        }
    }
    if args.check {
        println!(
            "configuration ok: {} trunks, {} dialplan contexts",
            trunks.trunks().len(),
            dialplan.contexts().len()
        );
        return Ok(());
    }
    std::fs::create_dir_all(&settings.recordings_dir)
        .with_context(|| format!("creating {}", settings.recordings_dir.display()))?;

    // Per call: RTP and RTCP sockets, twice when bridged; plus SIP-TCP, AMI and files.
    let needed = 4 * settings.max_calls as u64 + 2048;
    component::open_files::ensure(needed, &format!("max_calls = {}", settings.max_calls));

    let cancel = CancellationToken::new();
    let (calls_tx, calls_rx) = mpsc::unbounded_channel();
    let (control_tx, control_rx) = mpsc::channel(16);
    let listener = component::server::bind(&args.control)
        .with_context(|| format!("control socket {}", args.control.display()))?;
    let control = tokio::spawn(component::server::serve(
        listener,
        args.control.clone(),
        control_tx,
        cancel.clone(),
    ));
    // AMI events: the engine and the call tasks publish, each AMI client subscribes.
    let (ami_events, _) = tokio::sync::broadcast::channel(mediacore::ami::server::EVENT_BACKLOG);
    // SIGHUP and the supervisor's `reload` wake the config watcher.
    let force_reload = Arc::new(tokio::sync::Notify::new());
    let cfg = engine::Config {
        events: Some(ami_events.clone()),
        reload: force_reload.clone(),
        bind: transport.bind,
        tcp,
        trunks: trunks.trunks().to_vec(),
        timers: Timers {
            t1: settings.sip_t1,
            ..Timers::default()
        },
        max_calls: settings.max_calls,
    };
    let (handles, engine_task) = engine::start(cfg, calls_tx, control_rx, cancel.clone())
        .await
        .with_context(|| format!("binding sip on {}", transport.bind))?;
    let codecs: HashMap<String, Vec<Codec>> = trunks
        .trunks()
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.codecs.iter().copied().map(codec).collect(),
            )
        })
        .collect();
    let store = open_store(&settings)?;
    let shared = Arc::new(Shared {
        dialplan: RwLock::new(Arc::new(dialplan)),
        prompts_dir: settings.prompts_dir.clone(),
        recordings_dir: settings.recordings_dir.clone(),
        prompts: Mutex::new(HashMap::new()),
        ports: Ports::new(settings.rtp_ports.clone()),
        media_ip,
        rtp_timeout: settings.rtp_timeout,
        codecs,
        commands: handles.commands.clone(),
        pacer: mediacore::pacer::Pacer::start(settings.realtime_priority)
            .context("starting the rtp pacer")?,
        live: mediacore::live::LiveChannels::default(),
        store: Some(store.clone()),
        status: handles.status.clone(),
        pins: Mutex::default(),
        events: Some(ami_events.clone()),
    });
    let dispatch = tokio::spawn(runner::dispatch(calls_rx, shared.clone()));
    let dialer = start_dialer(&settings, &store, &shared, &handles, cancel.clone());
    let (reloads_done_tx, reloads_done) = tokio::sync::watch::channel(0);
    let ami = mediacore::ami::context::Ami {
        users: tokio::sync::watch::Sender::new(Arc::new(mediacore::ami::users::Users::off())),
        shared: shared.clone(),
        status: handles.status.clone(),
        events: ami_events,
        started: std::time::SystemTime::now(),
        write_timeout: mediacore::ami::context::WRITE_TIMEOUT,
        store: Some(store.clone()),
        peer: settings.peer.clone(),
        pjsip: Some(Arc::new(trunks.clone())),
        reload: Some(mediacore::ami::context::ReloadHandle {
            force: force_reload.clone(),
            done: reloads_done,
        }),
        timeouts: Arc::default(),
    };
    let ami = start_ami(&settings, ami, cancel.clone()).await?;
    let reloader = tokio::spawn(
        mediacore::reload::Reloader {
            extensions: settings.extensions.clone(),
            manager: settings.manager.clone(),
            shared: shared.clone(),
            ami,
            status: handles.status.clone(),
            force: force_reload.clone(),
            done: reloads_done_tx,
        }
        .run(cancel.clone()),
    );
    let done = settings.outgoing_dir.with_file_name("outgoing_done");
    let spool = tokio::spawn(mediacore::spool::run(
        settings.outgoing_dir.clone(),
        done,
        shared.clone(),
        cancel.clone(),
    ));
    info!(sip = %handles.local, %media_ip, rtp = ?settings.rtp_ports, "mediacore ready");

    let (mut term, mut int, mut hup) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
        signal(SignalKind::hangup())?,
    );
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                info!("SIGHUP: loading extensions.conf and manager.conf again");
                force_reload.notify_one();
            }
        }
    }
    info!("stopping");
    cancel.cancel();
    let _ = engine_task.await;
    // The reloader owns AMI's listeners: they saw the cancel; give their clients a moment
    // to be told (each session sends Shutdown).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), reloader).await;
    dispatch.abort();
    if let Some(dialer) = dialer {
        dialer.abort();
    }
    spool.abort();
    control.abort();
    let _ = std::fs::remove_file(&args.control);
    Ok(())
}

/// Opens the campaign database (shared by the dialer, AMI and nothing else).
fn open_store(
    settings: &Settings,
) -> anyhow::Result<Arc<Mutex<mediacore::campaign::store::Store>>> {
    let mut store =
        mediacore::campaign::store::Store::open(&settings.database, &settings.node_name)
            .with_context(|| format!("opening the database {}", settings.database.display()))?;
    if let Some(sock) = &settings.sync_wake_socket {
        store = store.with_wake_socket(sock);
    }
    Ok(Arc::new(Mutex::new(store)))
}

/// With a `campaign_trunk`, starts the dialer (it dispatches only while the node is
/// master).
fn start_dialer(
    settings: &Settings,
    store: &Arc<Mutex<mediacore::campaign::store::Store>>,
    shared: &Arc<Shared>,
    handles: &engine::Handles,
    cancel: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(trunk) = settings.campaign_trunk.clone() else {
        info!("no campaign_trunk in [mediacore]: campaigns do not dispatch from this node");
        return None;
    };
    let dialer = mediacore::campaign::dialer::Dialer {
        store: store.clone(),
        shared: shared.clone(),
        status: handles.status.clone(),
        trunk,
        trunk_lines: settings.campaign_lines,
        supervisor_lease: settings.supervisor_lease,
    };
    Some(tokio::spawn(dialer.run(cancel)))
}

/// AMI as `manager.conf` says at start: listening if the file exists and says
/// `enabled = yes`. A file that does not load, or an address that cannot be bound, is an
/// error at start; later changes are the reloader's (`reload`), which also turns AMI on
/// when the file first appears and off when it goes.
async fn start_ami(
    settings: &Settings,
    ami: mediacore::ami::context::Ami,
    cancel: CancellationToken,
) -> anyhow::Result<mediacore::ami::listener::Listeners> {
    let users = if settings.manager.exists() {
        Some(mediacore::ami::users::Users::load(&settings.manager)?)
    } else {
        info!(path = %settings.manager.display(), "no manager.conf: AMI off until one is written");
        None
    };
    let mut listeners = mediacore::ami::listener::Listeners::new(Arc::new(ami), cancel);
    listeners.apply(users).await?;
    Ok(listeners)
}
