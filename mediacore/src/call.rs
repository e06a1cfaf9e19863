//! Driver: one task per call. It negotiates the media, opens the RTP stream and runs the
//! dialplan: [`crate::dialplan::exec::Execution`] decides, this task performs each
//! [`Action`] (answer, play, collect digits, record, wait, hang up) and feeds the outcome
//! back. Signalling goes through the SIP engine ([`crate::engine::Command`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

use crate::codec::g711::Codec;
use crate::codec::wav::Prompt;
use crate::dialplan::exec::{Action, DialStatus, Execution, Outcome};
use crate::dialplan::parse::Dialplan;
use crate::engine::{Command, NewCall, Placed};
use crate::media::{BridgeEnd, Ports, Source, Stream, Wake};
use crate::sdp::{LocalMedia, SessionDescription};
use crate::sip::call::CallEvent;

/// What every call task shares.
pub struct Shared {
    /// The dialplan in force (replaced on reload).
    pub dialplan: RwLock<Arc<Dialplan>>,
    /// Where prompts are.
    pub prompts_dir: PathBuf,
    /// Where relative recordings go.
    pub recordings_dir: PathBuf,
    /// Loaded prompts by name, each with the identity of the file it was read from: a
    /// prompt re-recorded or replicated under the same name is read again on its next use.
    pub prompts: Mutex<HashMap<String, (crate::reload::FileId, Arc<Prompt>)>>,
    /// RTP ports.
    pub ports: Arc<Ports>,
    /// The address in our SDP and where RTP sockets bind.
    pub media_ip: IpAddr,
    /// Hang up after this long without RTP.
    pub rtp_timeout: Duration,
    /// Codecs per trunk, in preference order.
    pub codecs: HashMap<String, Vec<Codec>>,
    /// Signalling.
    pub commands: mpsc::UnboundedSender<Command>,
    /// Sends every call's audio.
    pub pacer: Arc<crate::pacer::Pacer>,
    /// Running calls as AMI reaches them (variables, redirects), and AMI globals.
    pub live: crate::live::LiveChannels,
    /// The campaign database (the inbound alert line reads the current alert from it).
    pub store: Option<Arc<Mutex<crate::campaign::store::Store>>>,
    /// The engine's status (our role: recording an alert by phone is for the master).
    pub status: Arc<Mutex<crate::engine::Status>>,
}

impl Shared {
    /// A prompt by dialplan name (`alert`, `custom/alert`, with or without `.wav`), from
    /// the cache if the file is the one it was read from, else from the prompts directory.
    /// One `stat` per use: the cache holds what the file says now, whoever changed it.
    pub fn prompt(&self, name: &str) -> Result<Arc<Prompt>, String> {
        if name.contains("..") {
            return Err(format!("prompt name {name:?} leaves the prompts directory"));
        }
        let path = wav_path(&self.prompts_dir, name);
        let id = crate::reload::FileId::of(&path);
        if let Some((cached_id, p)) = self.prompts.lock().ok().and_then(|c| c.get(name).cloned()) {
            if Some(cached_id) == id {
                return Ok(p);
            }
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let prompt =
            Arc::new(Prompt::from_wav(&bytes).map_err(|e| format!("{}: {e}", path.display()))?);
        // Cached under the identity seen before the read: if the file changed in between,
        // the next use reads it again.
        if let (Some(id), Ok(mut cache)) = (id, self.prompts.lock()) {
            cache.insert(name.to_owned(), (id, prompt.clone()));
        }
        Ok(prompt)
    }

    /// Several prompts by name, in order.
    pub fn prompts(&self, files: &[String]) -> Result<Vec<Arc<Prompt>>, String> {
        files.iter().map(|f| self.prompt(f)).collect()
    }
}

/// The WAV file a dialplan name means: `.wav` added if missing, relative names in `dir`.
fn wav_path(dir: &Path, name: &str) -> PathBuf {
    let file = if name.ends_with(".wav") {
        name.to_owned()
    } else {
        format!("{name}.wav")
    };
    if Path::new(&file).is_absolute() {
        PathBuf::from(file)
    } else {
        dir.join(file)
    }
}

/// Runs an inbound call to its end.
pub async fn run_inbound(call: NewCall, shared: Arc<Shared>) {
    let span = tracing::info_span!("call", leg = call.leg, trunk = %call.trunk);
    inbound(call, shared).instrument(span).await;
}

async fn inbound(mut call: NewCall, shared: Arc<Shared>) {
    let cmd = |c: Command| {
        let _ = shared.commands.send(c);
    };
    let offer = match SessionDescription::parse(&call.offer) {
        Ok(offer) => offer,
        Err(error) => {
            warn!(%error, "unusable sdp offer; refusing with 488");
            return cmd(Command::Reject(call.leg, 488));
        }
    };
    let sockets = match shared.ports.bind(shared.media_ip).await {
        Ok(s) => s,
        Err(error) => {
            warn!(%error, "no rtp port; refusing with 503");
            return cmd(Command::Reject(call.leg, 503));
        }
    };
    let port = sockets.0.local_addr().map(|a| a.port()).unwrap_or(0);
    let local = LocalMedia {
        address: shared.media_ip,
        port,
        codecs: shared
            .codecs
            .get(&call.trunk)
            .cloned()
            .unwrap_or_else(|| Codec::ALL.to_vec()),
        telephone_event: true,
        session_id: rand::random::<u32>().into(),
        session_version: 1,
    };
    let (negotiated, answer) = match local.answer(&offer) {
        Ok(x) => x,
        Err(error) => {
            warn!(%error, "no common codec; refusing with 488");
            return cmd(Command::Reject(call.leg, 488));
        }
    };
    let stream = Stream::new(
        sockets,
        negotiated.remote,
        negotiated.codec,
        negotiated.telephone_event,
        shared.rtp_timeout,
        &shared.pacer,
    );
    let mut stream = match stream {
        Ok(mut s) => {
            watch_dtmf(&shared, call.leg, &mut s);
            s
        }
        Err(error) => {
            warn!(%error, "cannot set up media; refusing with 503");
            return cmd(Command::Reject(call.leg, 503));
        }
    };
    let plan: Option<Arc<Dialplan>> = shared.dialplan.read().ok().map(|p| p.clone());
    let Some(plan) = plan else {
        return cmd(Command::Reject(call.leg, 500));
    };
    let vars = [
        ("CALLERID(num)".to_owned(), call.caller.clone()),
        (
            "CHANNEL".to_owned(),
            format!("PJSIP/{}-{:08x}", call.trunk, call.leg),
        ),
    ];
    let vars = shared.live.globals().into_iter().chain(vars);
    let exec = Execution::new(plan.clone(), &call.context, &call.exten, vars);
    let answer = Some(answer.into_bytes());
    run_dialplan(
        &shared,
        call.leg,
        &mut stream,
        &mut call.events,
        exec,
        &plan,
        answer,
    )
    .await;
}

/// Runs the dialplan on a call whose media is set up. `answer` is the SDP answer to send
/// when the dialplan first needs the call answered (`None`: the call is already up, as an
/// originated call is once the far end answered).
pub(crate) async fn run_dialplan(
    shared: &Shared,
    leg: crate::engine::LegId,
    stream: &mut Stream,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
    mut exec: Execution,
    plan: &Dialplan,
    answer: Option<Vec<u8>>,
) {
    let cmd = |c: Command| {
        let _ = shared.commands.send(c);
    };
    let mut answered = answer.is_none();
    let mut hung_up = false;
    let mut outcome = Outcome::Start;
    let answer = answer.unwrap_or_default();
    stream.set_sending(answered);
    let channel = exec.var("CHANNEL").unwrap_or_default().to_owned();
    let registration = shared.live.register(&channel);
    let live = &registration.live;
    loop {
        for (name, value) in live.take_pending() {
            exec.set_var(&name, &value);
        }
        let action = match live.take_redirect() {
            Some(to) => {
                info!(context = %to.context, exten = %to.exten, priority = to.priority, "redirected");
                exec.redirect(&to.context, &to.exten, to.priority)
            }
            None => exec.step(outcome),
        };
        live.publish(exec.vars());
        if hung_up && is_media(&action) {
            // After a hangup only the `h` extension's non-media steps run.
            outcome = Outcome::HungUp;
            continue;
        }
        // Answers the call the first time a step needs it up; media flows from then on.
        let ensure_answered = |answered: &mut bool, stream: &mut Stream| {
            if !*answered {
                cmd(Command::Answer(leg, answer.clone()));
                *answered = true;
            }
            stream.set_sending(true);
        };
        outcome = match action {
            Action::Answer => {
                ensure_answered(&mut answered, stream);
                Outcome::Done
            }
            Action::AllertaAlert => {
                ensure_answered(&mut answered, stream);
                crate::campaign::alert_line::play_alert(shared, stream, events).await
            }
            Action::AllertaRecordAlert { message } => {
                ensure_answered(&mut answered, stream);
                crate::campaign::alert_line::record_alert(shared, stream, events, &message).await
            }
            Action::Playback { files } => {
                ensure_answered(&mut answered, stream);
                match shared.prompts(&files) {
                    Ok(prompts) => wake_outcome(
                        stream
                            .run(Source::Prompts(&prompts), true, false, None, events)
                            .await,
                    ),
                    Err(error) => {
                        warn!(%error, "playback failed");
                        Outcome::PlaybackFailed
                    }
                }
            }
            Action::Background { files } => {
                ensure_answered(&mut answered, stream);
                match shared.prompts(&files) {
                    Ok(prompts) => match stream
                        .run(Source::Prompts(&prompts), true, true, None, events)
                        .await
                    {
                        Wake::Digit(d) => {
                            collect_exten(stream, plan, exec.context(), d, events).await
                        }
                        other => wake_outcome(other),
                    },
                    Err(error) => {
                        warn!(%error, "background failed");
                        Outcome::PlaybackFailed
                    }
                }
            }
            Action::WaitExten { timeout } => {
                ensure_answered(&mut answered, stream);
                let deadline = Some(Instant::now() + timeout);
                match stream
                    .run(Source::Silence, false, true, deadline, events)
                    .await
                {
                    Wake::Digit(d) => collect_exten(stream, plan, exec.context(), d, events).await,
                    other => wake_outcome(other),
                }
            }
            Action::Read {
                files,
                max_digits,
                timeout,
                ..
            } => {
                ensure_answered(&mut answered, stream);
                let prompts = shared.prompts(&files).unwrap_or_else(|error| {
                    warn!(%error, "read prompt missing; collecting digits anyway");
                    Vec::new()
                });
                read_digits(stream, &prompts, max_digits, timeout, events).await
            }
            Action::Record {
                file, max_duration, ..
            } => {
                ensure_answered(&mut answered, stream);
                record(stream, shared, &file, max_duration, events).await
            }
            Action::Wait(d) => {
                let deadline = Some(Instant::now() + d);
                wake_outcome(
                    stream
                        .run(Source::Silence, false, false, deadline, events)
                        .await,
                )
            }
            Action::Verbose { message, .. } => {
                info!(%message, "verbose");
                Outcome::Done
            }
            Action::Dial { targets, timeout } => {
                dial_and_bridge(
                    shared,
                    leg,
                    stream,
                    events,
                    &targets,
                    timeout,
                    &answer,
                    &mut answered,
                )
                .await
            }
            Action::Hangup { .. } => {
                if !hung_up {
                    cmd(Command::Hangup(leg));
                }
                if exec.is_finished() {
                    break;
                }
                // The `h` extension runs next (non-media steps only).
                Outcome::HungUp
            }
        };
        if matches!(outcome, Outcome::HungUp) {
            hung_up = true;
        }
    }
    stream.bye();
    let _ = stream.stop_recording();
    let stats = stream.stats();
    info!(
        sent = stats.sent,
        received = stats.received,
        lost = stats.lost,
        digits = stats.digits,
        send_gaps = stats.send_gaps,
        send_off_pace = stats.send_off_pace,
        send_max_gap_us = stats.send_max_gap_us,
        "call ended"
    );
    cmd(Command::Hangup(leg));
}

/// Why an outbound call was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DialFailure {
    /// Asterisk's DIALSTATUS.
    pub(crate) status: DialStatus,
    /// The far end's final response, when it sent one.
    pub(crate) sip_code: Option<u16>,
}

impl From<DialStatus> for DialFailure {
    fn from(status: DialStatus) -> Self {
        Self {
            status,
            sip_code: None,
        }
    }
}

/// An answered outbound leg with its media.
pub(crate) struct Answered {
    /// The leg, its channel name and Uniqueid.
    pub(crate) placed: Placed,
    pub(crate) stream: Stream,
    pub(crate) events: mpsc::UnboundedReceiver<CallEvent>,
}

/// Calls `number` through `trunk` and waits up to `ring_timeout` for an answer. With
/// `caller`, the events of the call that dialled are watched too: if it hangs up while
/// this one rings, this one is cancelled and the result is `Cancel`.
pub(crate) async fn dial_out(
    shared: &Shared,
    trunk: &str,
    number: &str,
    ring_timeout: Duration,
    mut caller: Option<&mut mpsc::UnboundedReceiver<CallEvent>>,
) -> Result<Answered, DialFailure> {
    let sockets = shared.ports.bind(shared.media_ip).await.map_err(|error| {
        warn!(%error, "no rtp port");
        DialFailure::from(DialStatus::Congestion)
    })?;
    let local = LocalMedia {
        address: shared.media_ip,
        port: sockets.0.local_addr().map(|a| a.port()).unwrap_or(0),
        codecs: shared
            .codecs
            .get(trunk)
            .cloned()
            .unwrap_or_else(|| Codec::ALL.to_vec()),
        telephone_event: true,
        session_id: rand::random::<u32>().into(),
        session_version: 1,
    };
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
    let dial = Command::Dial {
        trunk: trunk.to_owned(),
        number: number.to_owned(),
        offer: local.offer().into_bytes(),
        events: events_tx,
        reply: reply_tx,
    };
    shared
        .commands
        .send(dial)
        .map_err(|_| DialStatus::ChanUnavail)?;
    let placed = match reply_rx.await {
        Ok(Ok(placed)) => placed,
        Ok(Err(reason)) => {
            warn!(%reason, "cannot dial");
            return Err(DialStatus::ChanUnavail.into());
        }
        Err(_) => return Err(DialStatus::ChanUnavail.into()),
    };
    let leg = placed.leg;
    let hang_up = |status: DialStatus| {
        let _ = shared.commands.send(Command::Hangup(leg));
        Err(status.into())
    };
    let ring_deadline = tokio::time::Instant::now() + ring_timeout;
    let mut sip_code = None;
    let answer = loop {
        let caller_gone = async {
            match caller.as_deref_mut() {
                Some(rx) => loop {
                    if matches!(rx.recv().await, Some(CallEvent::Ended(_)) | None) {
                        return;
                    }
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => match event {
                Some(CallEvent::Answered { sdp }) => break sdp,
                Some(CallEvent::Refused { code }) => sip_code = Some(code),
                Some(CallEvent::Ended(cause)) => {
                    info!(status = cause.dial_status(), ?sip_code, "not answered");
                    return Err(DialFailure {
                        status: dial_status(cause.dial_status()),
                        sip_code,
                    });
                }
                Some(_) => {}
                None => return Err(DialStatus::ChanUnavail.into()),
            },
            () = caller_gone => {
                info!("the caller hung up while ringing; cancelling");
                return hang_up(DialStatus::Cancel);
            }
            _ = tokio::time::sleep_until(ring_deadline) => {
                info!("ring timeout; cancelling");
                return hang_up(DialStatus::NoAnswer);
            }
        }
    };
    let negotiated = SessionDescription::parse(&answer)
        .map_err(|e| e.to_string())
        .and_then(|sdp| local.accept_answer(&sdp).map_err(|e| e.to_string()));
    let negotiated = match negotiated {
        Ok(n) => n,
        Err(error) => {
            warn!(%error, "unusable sdp answer; hanging up");
            return hang_up(DialStatus::Congestion);
        }
    };
    info!(leg, "answered");
    match Stream::new(
        sockets,
        negotiated.remote,
        negotiated.codec,
        negotiated.telephone_event,
        shared.rtp_timeout,
        &shared.pacer,
    ) {
        Ok(mut stream) => {
            watch_dtmf(shared, leg, &mut stream);
            Ok(Answered {
                placed,
                stream,
                events,
            })
        }
        Err(error) => {
            warn!(%error, "cannot set up media; hanging up");
            hang_up(DialStatus::Congestion)
        }
    }
}

/// Dial() on a call: rings the first target; when it answers, answers the caller if
/// needed and bridges the two until one hangs up.
#[allow(clippy::too_many_arguments)]
async fn dial_and_bridge(
    shared: &Shared,
    leg: crate::engine::LegId,
    stream: &mut Stream,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
    targets: &[crate::dialplan::exec::DialTarget],
    timeout: Option<Duration>,
    answer: &[u8],
    answered: &mut bool,
) -> Outcome {
    let Some(target) = targets.first() else {
        return Outcome::DialStatus(DialStatus::ChanUnavail);
    };
    if targets.len() > 1 {
        warn!(
            count = targets.len(),
            "Dial to several targets rings the first only"
        );
    }
    let Some(number) = target.number.clone() else {
        warn!(trunk = %target.trunk, "Dial needs PJSIP/<number>@<trunk>");
        return Outcome::DialStatus(DialStatus::ChanUnavail);
    };
    // Asterisk's default: ring until the far end gives up (we cap it at 3 minutes).
    let ring = timeout.unwrap_or(Duration::from_secs(180));
    let Answered {
        placed: Placed { leg: other, .. },
        stream: mut far,
        events: mut far_events,
    } = match dial_out(shared, &target.trunk, &number, ring, Some(&mut *events)).await {
        Ok(answered) => answered,
        Err(f) if f.status == DialStatus::Cancel => return Outcome::HungUp,
        Err(f) => return Outcome::DialStatus(f.status),
    };
    if !*answered {
        let _ = shared.commands.send(Command::Answer(leg, answer.to_vec()));
        *answered = true;
    }
    info!(leg, other, "bridged");
    let end = Stream::bridge(stream, &mut far, events, &mut far_events).await;
    let relayed = (stream.stats().relayed, far.stats().relayed);
    far.bye();
    info!(
        leg,
        other,
        ?end,
        caller_to_callee = relayed.0,
        callee_to_caller = relayed.1,
        "bridge ended"
    );
    let _ = shared.commands.send(Command::Hangup(other));
    match end {
        BridgeEnd::Caller | BridgeEnd::Inactive => Outcome::HungUp,
        BridgeEnd::Callee => Outcome::DialStatus(DialStatus::Answer),
    }
}

fn dial_status(word: &str) -> DialStatus {
    match word {
        "BUSY" => DialStatus::Busy,
        "NOANSWER" => DialStatus::NoAnswer,
        "CANCEL" => DialStatus::Cancel,
        "CONGESTION" => DialStatus::Congestion,
        "ANSWER" => DialStatus::Answer,
        _ => DialStatus::ChanUnavail,
    }
}

fn is_media(action: &Action) -> bool {
    !matches!(action, Action::Verbose { .. } | Action::Hangup { .. })
}

pub(crate) fn wake_outcome(wake: Wake) -> Outcome {
    match wake {
        Wake::Done => Outcome::Done,
        Wake::Timeout => Outcome::Timeout,
        Wake::Digit(d) => Outcome::Interrupted {
            digits: d.to_string(),
        },
        Wake::Inactive => {
            info!("no rtp for the inactivity timeout; hanging up");
            Outcome::HungUp
        }
        Wake::Hangup => Outcome::HungUp,
        // The dialplan goes where the redirect says; this outcome is not used.
        Wake::Interrupted => Outcome::Done,
    }
}

/// Tells the engine of every key press on `stream` (AMI DTMFBegin/DTMFEnd).
fn watch_dtmf(shared: &Shared, leg: crate::engine::LegId, stream: &mut Stream) {
    let commands = shared.commands.clone();
    stream.observe_dtmf(Box::new(move |event| {
        let _ = commands.send(Command::Dtmf(leg, event));
    }));
}

/// After a first digit in Background/WaitExten, keeps collecting while more digits could
/// still complete an extension (Asterisk's digit timeout: 5 s between digits).
async fn collect_exten(
    stream: &mut Stream,
    plan: &Dialplan,
    context: &str,
    first: char,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) -> Outcome {
    let mut digits = first.to_string();
    while plan.can_match_more(context, &digits) {
        let deadline = Some(Instant::now() + Duration::from_secs(5));
        match stream
            .run(Source::Silence, false, true, deadline, events)
            .await
        {
            Wake::Digit(d) => digits.push(d),
            Wake::Timeout => break,
            other => return wake_outcome(other),
        }
    }
    Outcome::Interrupted { digits }
}

/// Read(): plays the prompts (a digit stops them), then collects up to `max_digits`
/// (`#` ends early), waiting `timeout` for each digit.
pub(crate) async fn read_digits(
    stream: &mut Stream,
    prompts: &[Arc<Prompt>],
    max_digits: Option<u32>,
    timeout: Duration,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) -> Outcome {
    let max = max_digits.filter(|&m| m > 0).unwrap_or(255) as usize;
    let mut digits = String::new();
    match stream
        .run(Source::Prompts(prompts), true, true, None, events)
        .await
    {
        Wake::Digit(d) => digits.push(d),
        Wake::Done => {}
        other => return wake_outcome(other),
    }
    while digits.len() < max && !digits.ends_with('#') {
        let deadline = Some(Instant::now() + timeout);
        match stream
            .run(Source::Silence, false, true, deadline, events)
            .await
        {
            Wake::Digit(d) => digits.push(d),
            Wake::Timeout => break,
            other => return wake_outcome(other),
        }
    }
    if digits.ends_with('#') {
        digits.pop();
    }
    Outcome::Digits(digits)
}

/// Record(): what the caller says goes to a WAV file until `#`, the maximum duration, or
/// hangup.
pub(crate) async fn record(
    stream: &mut Stream,
    shared: &Shared,
    file: &str,
    max: Option<Duration>,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) -> Outcome {
    let path = wav_path(&shared.recordings_dir, file);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let opened = std::fs::File::create(&path).and_then(|f| stream.record_to(f));
    if let Err(error) = opened {
        warn!(path = %path.display(), %error, "cannot record");
        return Outcome::Done;
    }
    let deadline = max.filter(|d| !d.is_zero()).map(|d| Instant::now() + d);
    let wake = loop {
        match stream
            .run(Source::Silence, false, true, deadline, events)
            .await
        {
            Wake::Digit('#') => break Wake::Done,
            Wake::Digit(_) => continue,
            other => break other,
        }
    };
    if let Err(error) = stream.stop_recording() {
        warn!(path = %path.display(), %error, "recording not finished cleanly");
    }
    info!(path = %path.display(), "recorded");
    match wake {
        Wake::Timeout => Outcome::Done,
        other => wake_outcome(other),
    }
}

/// Spawns a task per new inbound call, reaping finished ones, until the engine stops.
pub async fn dispatch(mut calls_rx: mpsc::UnboundedReceiver<NewCall>, shared: Arc<Shared>) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            call = calls_rx.recv() => match call {
                Some(call) => {
                    tasks.spawn(run_inbound(call, shared.clone()));
                }
                None => break,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}
