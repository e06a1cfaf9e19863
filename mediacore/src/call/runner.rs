//! Driver: one task per call. It negotiates the media, opens the RTP stream and runs the
//! dialplan: [`crate::dialplan::exec::Execution`] decides, this task performs each
//! [`Action`] (answer, play, collect digits, record, wait, hang up) and feeds the outcome
//! back. Signalling goes through the SIP engine ([`crate::engine::Command`]). Inbound calls
//! start here; AMI's Local channels run the dialplan through it too.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

use crate::codec::g711::Codec;
use crate::dialplan::exec::{Action, DialStatus, Execution, Outcome};
use crate::dialplan::parse::Dialplan;
use crate::engine::{Command, NewCall, Placed};
use crate::media::{BridgeEnd, Stream};
use crate::sdp::{LocalMedia, SessionDescription};
use crate::sip::call::CallEvent;

use super::dial::{dial_out, watch_dtmf, Answered};
use super::shared::Shared;
use super::steps;

/// Runs an inbound call to its end.
pub async fn run_inbound(call: NewCall, shared: Arc<Shared>) {
    let span = tracing::info_span!("call", leg = call.leg, trunk = %call.trunk);
    inbound(call, shared).instrument(span).await;
}

async fn inbound(mut call: NewCall, shared: Arc<Shared>) {
    let cmd = |c: Command| {
        let _ = shared.commands.send(c);
    };
    // No body: a delayed offer (RFC 3261 §13.2.1): we offer in the 2xx, the ACK answers.
    let delayed = call.offer.iter().all(u8::is_ascii_whitespace);
    let offer = match SessionDescription::parse(&call.offer) {
        _ if delayed => None,
        Ok(offer) => Some(offer),
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
    let (stream, answer) = match offer {
        Some(offer) => {
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
            (stream, answer)
        }
        None => {
            info!("no offer in the INVITE: offering in the 2xx, the ACK answers");
            let offer = local.offer();
            let stream = Stream::awaiting_answer(sockets, local, shared.rtp_timeout, &shared.pacer);
            (stream, offer)
        }
    };
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
        ("UNIQUEID".to_owned(), call.uniqueid.clone()),
    ];
    let vars = shared.live.globals().into_iter().chain(vars);
    let exec = Execution::new(plan.clone(), &call.context, &call.exten, vars)
        .with_environment(shared.environment());
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
    live.attach_dtmf(stream.dtmf_sender());
    // Where an AGI script said the dialplan goes on (SET CONTEXT/EXTENSION/PRIORITY).
    let mut agi_jump: Option<crate::agi::session::Jump> = None;
    loop {
        for (name, value) in live.take_pending() {
            exec.set_var(&name, &value);
        }
        let action = match (live.take_redirect(), agi_jump.take()) {
            (Some(to), _) => {
                info!(context = %to.context, exten = %to.exten, priority = to.priority, "redirected");
                exec.redirect(&to.context, &to.exten, to.priority)
            }
            (None, Some(to)) => exec.redirect(&to.context, &to.exten, to.priority),
            (None, None) => exec.step(outcome),
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
                let caller = exec.var("CALLERID(num)").unwrap_or("").to_owned();
                crate::campaign::alert_line::record_alert(shared, stream, events, &message, &caller)
                    .await
            }
            Action::Wait(_) | Action::Playtones(_) | Action::StopPlaytones => {
                steps::run(shared, stream, events, &action, plan, exec.context())
                    .await
                    .unwrap_or(Outcome::Done)
            }
            step @ (Action::Playback { .. }
            | Action::Background { .. }
            | Action::Read { .. }
            | Action::WaitExten { .. }
            | Action::Record { .. }
            | Action::SendDtmf { .. }) => {
                ensure_answered(&mut answered, stream);
                steps::run(shared, stream, events, &step, plan, exec.context())
                    .await
                    .unwrap_or(Outcome::Done)
            }
            Action::Verbose { message, .. } => {
                info!(%message, "verbose");
                Outcome::Done
            }
            Action::UserEvent { name, fields } => {
                shared.user_event(&name, fields, exec.var("CHANNEL"), exec.var("UNIQUEID"));
                Outcome::Done
            }
            Action::Agi { target, args } => {
                let call = crate::agi::session::Call {
                    shared,
                    leg,
                    stream: &mut *stream,
                    events: &mut *events,
                    exec: &mut exec,
                    answered: &mut answered,
                    answer_sdp: &answer,
                };
                let (outcome, jump) = crate::agi::session::run(call, &target, &args).await;
                agi_jump = jump;
                outcome
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
            Action::Hangup { cause } => {
                if !hung_up {
                    cmd(match cause {
                        Some(cause) => Command::HangupWithCause(leg, cause),
                        None => Command::Hangup(leg),
                    });
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
        foreign = stats.foreign,
        send_gaps = stats.send_gaps,
        send_off_pace = stats.send_off_pace,
        send_max_gap_us = stats.send_max_gap_us,
        "call ended"
    );
    cmd(Command::Hangup(leg));
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

fn is_media(action: &Action) -> bool {
    !matches!(
        action,
        Action::Verbose { .. } | Action::UserEvent { .. } | Action::Hangup { .. }
    )
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
