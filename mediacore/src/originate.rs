//! Driver: outbound calls an application asks for (AMI `Originate`, call files): dial a
//! number through a trunk, or run a `Local/<exten>@<context>` dialplan that dials, and
//! once answered run the dialplan at Context/Exten/Priority or a single Application.
//!
//! A `Local/` channel is a pair (`local`): `;2` runs `<exten>@<context>`, its `Answer()`
//! answers `;1`, which runs the Originate's target; what either half plays the other
//! hears. When `;2`'s Dial is answered, the answered channel
//! runs the Originate's target itself, which is what the callee hears in Asterisk too once
//! the local channels optimise away.

use std::sync::Arc;
use std::time::Duration;

use tracing::{warn, Instrument};

use crate::call::dial::{dial_out, Answered};
use crate::call::runner::run_dialplan;
use crate::call::shared::Shared;
use crate::dialplan::exec::{Action, DialStatus, Execution, Outcome};
use crate::dialplan::parse::Dialplan;
use crate::engine::Command;
use crate::local;

/// Who is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialled {
    /// `PJSIP/<number>@<trunk>`.
    Trunk {
        /// The trunk (pjsip endpoint).
        trunk: String,
        /// The number.
        number: String,
    },
    /// `Local/<exten>@<context>`: that dialplan runs and dials.
    Local {
        /// Extension.
        exten: String,
        /// Context.
        context: String,
    },
}

impl Dialled {
    /// Parses an AMI `Channel:` (`PJSIP/5551234@trunk-out`, `Local/5551234@dial-out`,
    /// `Local/5551234@dial-out/n`: Local's option letters are accepted and ignored).
    pub fn parse(channel: &str) -> Result<Self, String> {
        if let Some(rest) = channel.strip_prefix("PJSIP/") {
            let (number, trunk) = rest
                .split_once('@')
                .filter(|(n, t)| !n.is_empty() && !t.is_empty())
                .ok_or("Channel must be PJSIP/<number>@<trunk>")?;
            if !crate::sip::message::is_dialable(number) {
                return Err(format!(
                    "cannot originate {channel:?}: a number holds digits, letters and + * - . _ only"
                ));
            }
            return Ok(Self::Trunk {
                trunk: trunk.to_owned(),
                number: number.to_owned(),
            });
        }
        if let Some(rest) = channel.strip_prefix("Local/") {
            let rest = rest.split_once('/').map_or(rest, |(r, _options)| r);
            let (exten, context) = rest
                .split_once('@')
                .filter(|(e, c)| !e.is_empty() && !c.is_empty())
                .ok_or("Channel must be Local/<exten>@<context>")?;
            return Ok(Self::Local {
                exten: exten.to_owned(),
                context: context.to_owned(),
            });
        }
        Err(format!(
            "cannot originate {channel:?}: channels are PJSIP/<number>@<trunk> or Local/<exten>@<context>"
        ))
    }
}

/// What the answered channel runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// The dialplan from here.
    Dialplan {
        /// Context.
        context: String,
        /// Extension.
        exten: String,
        /// Priority.
        priority: u32,
    },
    /// One application, then hang up.
    Application {
        /// Its name (`Playback`).
        name: String,
        /// Its arguments.
        data: String,
    },
}

impl Then {
    /// An application target, checked: the name must be a plain word, so that it and its
    /// data make one dialplan line.
    pub fn application(name: &str, data: &str) -> Result<Self, String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("Application {name:?} is not an application name"));
        }
        Ok(Self::Application {
            name: name.to_owned(),
            data: data.to_owned(),
        })
    }
}

/// An outbound call request.
#[derive(Debug, Clone)]
pub struct Originate {
    /// Who to call.
    pub dialled: Dialled,
    /// What the answered call runs.
    pub then: Then,
    /// How long to let it ring before giving up (CANCEL).
    pub ring_timeout: Duration,
    /// Channel variables.
    pub vars: Vec<(String, String)>,
}

/// How a dial ended, as soon as it is known: what AMI's OriginateResponse reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialed {
    /// The outcome.
    pub status: DialStatus,
    /// The answered channel's name and Uniqueid.
    pub channel: Option<(String, String)>,
}

/// Places the call and, once answered, runs the target to the end. Returns how the
/// dial ended (`Answer` when the target ran).
pub async fn originate(req: Originate, shared: Arc<Shared>) -> DialStatus {
    originate_reporting(req, shared, None).await
}

/// As [`originate`], and tells `dialled` how the dial ended as soon as it is known.
pub async fn originate_reporting(
    req: Originate,
    shared: Arc<Shared>,
    dialled: Option<tokio::sync::oneshot::Sender<Dialed>>,
) -> DialStatus {
    let span = match &req.dialled {
        Dialled::Trunk { trunk, number } => tracing::info_span!("originate", %trunk, %number),
        Dialled::Local { exten, context } => {
            tracing::info_span!("originate", local = %format!("{exten}@{context}"))
        }
    };
    let mut report = Reporter(dialled);
    let status = match &req.dialled {
        Dialled::Trunk { trunk, number } => {
            let dial = dial_out(&shared, trunk, number, req.ring_timeout, None);
            match dial.instrument(span.clone()).await {
                Ok(answered) => {
                    report.send(DialStatus::Answer, Some(&answered));
                    run_then(&shared, answered, &req, number)
                        .instrument(span)
                        .await;
                    DialStatus::Answer
                }
                Err(f) => f.status,
            }
        }
        Dialled::Local { exten, context } => {
            run_local(&shared, exten, context, &req, &mut report)
                .instrument(span)
                .await
        }
    };
    report.send(status, None);
    status
}

/// Sends the dial's outcome once.
struct Reporter(Option<tokio::sync::oneshot::Sender<Dialed>>);

impl Reporter {
    fn send(&mut self, status: DialStatus, answered: Option<&Answered>) {
        if let Some(tx) = self.0.take() {
            let channel = answered.map(|a| (a.placed.channel.clone(), a.placed.uniqueid.clone()));
            let _ = tx.send(Dialed { status, channel });
        }
    }

    /// As `send`, naming the answered channel (a Local pair's `;1`).
    fn send_channel(&mut self, status: DialStatus, channel: (String, String)) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Dialed {
                status,
                channel: Some(channel),
            });
        }
    }
}

/// Runs the originate's target on an answered channel.
async fn run_then(shared: &Shared, answered: Answered, req: &Originate, number: &str) {
    let Answered {
        placed,
        mut stream,
        mut events,
    } = answered;
    let hang_up = || {
        let _ = shared.commands.send(Command::Hangup(placed.leg));
    };
    let vars = target_vars(
        shared,
        req,
        [
            ("CALLERID(num)".to_owned(), number.to_owned()),
            ("CHANNEL".to_owned(), placed.channel.clone()),
            ("UNIQUEID".to_owned(), placed.uniqueid.clone()),
        ],
    );
    let Some((plan, exec)) = target_exec(shared, &req.then, vars) else {
        return hang_up();
    };
    run_dialplan(
        shared,
        placed.leg,
        &mut stream,
        &mut events,
        exec,
        &plan,
        None,
    )
    .await;
}

/// The variables the channel running an originate's target starts with: the globals, the
/// originate's, then the channel's own.
fn target_vars<const N: usize>(
    shared: &Shared,
    req: &Originate,
    own: [(String, String); N],
) -> Vec<(String, String)> {
    shared
        .live
        .globals()
        .into_iter()
        .chain(req.vars.iter().cloned())
        .chain(own)
        .collect()
}

/// The dialplan and execution that run an originate's target with `vars`; `None` when
/// there is no dialplan or the application does not make a dialplan line (logged).
fn target_exec(
    shared: &Shared,
    then: &Then,
    vars: Vec<(String, String)>,
) -> Option<(Arc<Dialplan>, Execution)> {
    match then {
        Then::Dialplan {
            context,
            exten,
            priority,
        } => {
            let plan = shared.dialplan.read().ok().map(|p| p.clone())?;
            let exec = Execution::new_at(plan.clone(), context, exten, *priority, vars)
                .with_environment(shared.environment());
            Some((plan, exec))
        }
        Then::Application { name, data } => {
            // One application is a one-line dialplan: the same executor runs it.
            let text = format!("[originate]\nexten => s,1,{name}({data})\n");
            match Dialplan::parse_str(&text, "Originate Application") {
                Ok(plan) => {
                    let plan = Arc::new(plan);
                    let exec = Execution::new(plan.clone(), "originate", "s", vars)
                        .with_environment(shared.environment());
                    Some((plan, exec))
                }
                Err(error) => {
                    warn!(%error, "cannot run the application; hanging up");
                    None
                }
            }
        }
    }
}

/// A `Local/<exten>@<context>` pair (`local`): `;2` runs that dialplan; its `Answer()`
/// answers `;1`, which then runs the originate's target, the two hearing each other;
/// its `Dial`, once answered, runs the target on the answered channel (the pair optimised
/// away). Hanging up either half ends both.
async fn run_local(
    shared: &Arc<Shared>,
    exten: &str,
    context: &str,
    req: &Originate,
    report: &mut Reporter,
) -> DialStatus {
    let Some(plan) = shared.dialplan.read().ok().map(|p| p.clone()) else {
        return DialStatus::ChanUnavail;
    };
    if !plan.exists(context, exten) {
        warn!(%context, %exten, "no such extension for the Local channel");
        return DialStatus::ChanUnavail;
    }
    let caller = req
        .vars
        .iter()
        .find(|(k, _)| k == "CALLERID(num)")
        .map_or("", |(_, v)| v.as_str());
    let Some(mut pair) = local::Pair::open(shared, exten, context, caller).await else {
        return DialStatus::ChanUnavail;
    };
    let (one_media, mut two_media) = match local::media(shared).await {
        Ok(media) => media,
        Err(error) => {
            warn!(%error, "no loopback rtp for a Local channel");
            pair.close(shared);
            return DialStatus::ChanUnavail;
        }
    };
    let (one_ender, two_ender) = (one_media.ender(), two_media.ender());
    pair.forward_hangups([one_ender.clone(), two_ender.clone()]);
    let mut one_media = Some(one_media);
    let vars = shared
        .live
        .globals()
        .into_iter()
        .chain(req.vars.iter().cloned())
        .chain([
            ("CHANNEL".to_owned(), pair.two.name.clone()),
            ("UNIQUEID".to_owned(), pair.two.uniqueid.clone()),
        ]);
    let mut exec =
        Execution::new(plan.clone(), context, exten, vars).with_environment(shared.environment());
    let mut outcome = Outcome::Start;
    let mut status = DialStatus::ChanUnavail;
    let mut hung_up = false;
    // `;1` running the target once `;2` answered.
    let mut one: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let action = exec.step(outcome);
        outcome = match action {
            Action::Dial { targets, timeout } if !hung_up => {
                let target = targets
                    .iter()
                    .find_map(|t| Some((&t.trunk, t.number.as_ref()?)));
                let ring = timeout.unwrap_or(req.ring_timeout);
                status = match target {
                    None => {
                        warn!("Dial on a Local channel needs PJSIP/<number>@<trunk>");
                        DialStatus::ChanUnavail
                    }
                    Some((trunk, number)) => {
                        match dial_out(shared, trunk, number, ring, None).await {
                            Ok(answered) => {
                                pair.answered(shared);
                                report.send(DialStatus::Answer, Some(&answered));
                                run_then(shared, answered, req, number).await;
                                DialStatus::Answer
                            }
                            Err(f) => f.status,
                        }
                    }
                };
                Outcome::DialStatus(status)
            }
            Action::Hangup { .. } => {
                if exec.is_finished() {
                    break;
                }
                hung_up = true;
                Outcome::HungUp
            }
            Action::Answer if !hung_up => {
                if let Some(media) = one_media.take() {
                    // `;2` answers `;1`: the originate succeeded, `;1` runs its target.
                    pair.answered(shared);
                    status = DialStatus::Answer;
                    report.send_channel(
                        DialStatus::Answer,
                        (pair.one.name.clone(), pair.one.uniqueid.clone()),
                    );
                    let (shared, req, half) = (shared.clone(), req.clone(), pair.one.clone());
                    let two = two_ender.clone();
                    one = Some(tokio::spawn(
                        async move {
                            run_target_on_local(&shared, &req, &half, media).await;
                            two.end(); // `;1` is over: so is `;2`
                        }
                        .in_current_span(),
                    ));
                }
                Outcome::Done
            }
            other => {
                let channel = (pair.two.name.as_str(), pair.two.uniqueid.as_str());
                let context = exec.context().to_owned();
                local::step(shared, &mut two_media, &other, &plan, &context, channel)
                    .await
                    .unwrap_or(Outcome::Done)
            }
        };
        if outcome == Outcome::HungUp {
            hung_up = true;
        }
    }
    if let Some(mut task) = one {
        // `;2` is over: so is `;1`, which finishes its step (a recording is kept).
        one_ender.end();
        if tokio::time::timeout(Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
    pair.close(shared);
    status
}

/// `;1` of a Local pair runs the originate's target on its half's media; it ends the pair
/// when the target ends.
async fn run_target_on_local(
    shared: &Arc<Shared>,
    req: &Originate,
    half: &local::Half,
    mut media: local::Media,
) {
    let vars = target_vars(
        shared,
        req,
        [
            ("CHANNEL".to_owned(), half.name.clone()),
            ("UNIQUEID".to_owned(), half.uniqueid.clone()),
        ],
    );
    let Some((plan, mut exec)) = target_exec(shared, &req.then, vars) else {
        return;
    };
    let mut outcome = Outcome::Start;
    loop {
        let action = exec.step(outcome);
        outcome = match action {
            Action::Hangup { .. } if exec.is_finished() => return,
            Action::Hangup { .. } => Outcome::HungUp,
            Action::Answer => Outcome::Done,
            Action::Dial { .. } => {
                warn!("Dial from the target of a Local channel is not supported");
                Outcome::DialStatus(DialStatus::ChanUnavail)
            }
            other => {
                let context = exec.context().to_owned();
                let channel = (half.name.as_str(), half.uniqueid.as_str());
                local::step(shared, &mut media, &other, &plan, &context, channel)
                    .await
                    .unwrap_or(Outcome::Done)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_parsed_as_asterisk_names_them() {
        assert_eq!(
            Dialled::parse("PJSIP/5551234@trunk-out"),
            Ok(Dialled::Trunk {
                trunk: "trunk-out".into(),
                number: "5551234".into()
            })
        );
        let local = Ok(Dialled::Local {
            exten: "5559876".into(),
            context: "dial-out".into(),
        });
        assert_eq!(Dialled::parse("Local/5559876@dial-out"), local);
        assert_eq!(Dialled::parse("Local/5559876@dial-out/n"), local);
        for bad in [
            "SIP/1@x",
            "PJSIP/5551234",
            "PJSIP/@t",
            "Local/@c",
            "Local/1",
        ] {
            assert!(Dialled::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_application_name_cannot_carry_more_dialplan() {
        assert!(Then::application("Playback", "thanks").is_ok());
        for bad in ["", "Playback(x)", "Play back", "A,B"] {
            assert!(Then::application(bad, "").is_err(), "{bad}");
        }
    }
}
