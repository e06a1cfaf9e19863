//! Driver: the master's campaign dispatch. Every 50 ms it asks the planner how many
//! calls each running campaign may start, takes that many due recipients from the
//! ledger, records each attempt before dialling, and runs the call (ring, then the IVR)
//! in its own task, which records the outcome after.
//!
//! Only the master dispatches. On becoming master the dialer brings the schema up to
//! date and recovers the ledger (attempts left open by a crash or by the old master end
//! as `interrupted`, counted once); on becoming backup it stops starting calls and lets
//! those in progress finish.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use component::monotonic;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

use super::fence::{Edge, Fence, Hold, Record};
use super::ivr;
use super::plan::{self, Load, Throttle};
use super::reconcile;
use super::store::{now_ms, AttemptEnd, Campaign, Store, StoreError};
use super::tts::{self, CallPrompts};
use super::Outcome;
use crate::call::dial::dial_out;
use crate::call::shared::Shared;
use crate::status::Status;

/// How often the dialer plans.
const TICK: Duration = Duration::from_millis(50);
/// On a backup, how often (in ticks) the replicated ledger is read for running campaigns.
const BACKUP_LOOK_TICKS: u32 = 20;
/// On the master, how often (in ticks) the campaigns' messages are looked up again.
const PROMPT_LOOK_TICKS: u32 = 20;
/// How often (in ticks) recent campaigns' figures are read for the status (the metrics).
const FIGURES_TICKS: u32 = 40;
/// How long a call is taken to last when its campaign or prompts cannot be read.
const UNKNOWN_CALL: Duration = Duration::from_secs(120);
/// After the old master's longest call, time for its outcome to reach this node's ledger
/// (its sync agent resyncs and sends it; `reconcile` merges it).
const MERGE_MARGIN: Duration = Duration::from_secs(5);

/// What the dialer needs.
pub struct Dialer {
    /// The database.
    pub store: Arc<Mutex<Store>>,
    /// The media core.
    pub shared: Arc<Shared>,
    /// The engine's status (our role).
    pub status: Arc<Mutex<Status>>,
    /// The outbound trunk.
    pub trunk: String,
    /// Concurrent campaign calls the trunk carries.
    pub trunk_lines: u32,
    /// The dispatch lease (`fence`): a master whose supervisor sent no advert for this
    /// long stops starting calls, and a new master waits this long (plus a margin) after
    /// the last advert it heard from another.
    pub supervisor_lease: Duration,
}

/// Runs `f` on the store off the async runtime (SQLite blocks).
pub async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut s)
    })
    .await
    .unwrap_or_else(|e| Err(StoreError::Refused(format!("database task failed: {e}"))))
}

/// Minutes after local midnight (the dialling window is local time).
fn local_minute() -> u32 {
    let local = component::localtime::local_secs(component::localtime::now_ms());
    (local.rem_euclid(86_400) / 60) as u32
}

impl Dialer {
    /// On a backup: a campaign the replicated ledger shows running is the master's; until
    /// it ends, ask the supervisor not to take the role back (its calls would be cut).
    async fn hold_preempt_while_campaigns_run(&self) {
        let hold = match blocking(&self.store, |s| s.running()).await {
            Ok(running) if running.is_empty() => None,
            Ok(running) => {
                let names: Vec<&str> = running.iter().map(|c| c.name.as_str()).collect();
                Some(format!(
                    "campaign {} running on the master",
                    names.join(", ")
                ))
            }
            // A replica being restored from a snapshot may be briefly unreadable: keep
            // what we had.
            Err(error) => {
                warn!(%error, "reading the replicated campaigns");
                return;
            }
        };
        self.set_hold_preempt(hold);
    }

    fn set_hold_preempt(&self, hold: Option<String>) {
        if let Ok(mut status) = self.status.lock() {
            status.hold_preempt = hold;
        }
    }

    /// At takeover: the old master's open attempts are left to it until the longest call
    /// of their campaign could have ended (ring, every IVR round, the thanks) plus time for
    /// its outcome to come back through the merge. Returns (attempt, deadline µs).
    async fn leave_to_old_master(&self, open: &[(i64, i64)]) -> Vec<(i64, u64)> {
        if open.is_empty() {
            return Vec::new();
        }
        let campaigns = blocking(&self.store, |s| s.running())
            .await
            .unwrap_or_default();
        let mut longest: HashMap<i64, Duration> = HashMap::new();
        for (_, campaign) in open {
            if longest.contains_key(campaign) {
                continue;
            }
            let wait = match campaigns.iter().find(|c| c.id == *campaign) {
                Some(c) => {
                    let answered = match self.prompts_for(c.message_id).await {
                        Ok(p) => ivr::longest_answered(&self.shared, &p),
                        Err(_) => UNKNOWN_CALL,
                    };
                    Duration::from_secs(c.ring_secs.into()) + answered
                }
                None => UNKNOWN_CALL,
            };
            longest.insert(*campaign, wait + MERGE_MARGIN);
        }
        let now = monotonic::now_us();
        let out: Vec<(i64, u64)> = open
            .iter()
            .map(|(attempt, campaign)| {
                let wait = longest.get(campaign).copied().unwrap_or(UNKNOWN_CALL);
                (*attempt, now + wait.as_micros() as u64)
            })
            .collect();
        let wait_s = longest.values().max().map_or(0, Duration::as_secs);
        warn!(
            calls = out.len(),
            wait_s,
            "the old master's calls in progress are left to it: their citizens are not called until those calls end"
        );
        out
    }

    /// Whether campaign calls may go after the other node claimed master
    /// ([`reconcile::AfterSplit`]); says so in the status while they wait.
    async fn after_split_allows(&self, after_split: &mut reconcile::AfterSplit) -> bool {
        let now_us = monotonic::now_us();
        let since = after_split.waiting_since();
        let (met, awaiting) = blocking(&self.store, move |s| {
            let c = s.connection();
            let met = match since {
                Some(since) => journal::inbox::met_since(c, since)?,
                None => true,
            };
            let awaiting =
                journal::inbox::awaiting_divergent(c, now_us, reconcile::AFTER_SPLIT_MAX_US)?;
            Ok((met, awaiting))
        })
        .await
        .unwrap_or((false, false));
        // The session just found the backup diverged: its records are on their way.
        if awaiting {
            if let Ok(mut status) = self.status.lock() {
                status.dispatching = false;
                status.dispatch_hold =
                    Some("merging what the other node wrote alone during a split".into());
            }
            return false;
        }
        if since.is_none() {
            return true;
        }
        match after_split.check(now_us, met) {
            reconcile::Wait::Go => {
                info!("the other node is met and what it wrote alone merged: campaign calls go on");
                true
            }
            reconcile::Wait::GaveUp => {
                warn!(
                    "the other node's writes did not arrive in time: campaign calls go on; they are merged when they arrive"
                );
                true
            }
            reconcile::Wait::Hold { left_us } => {
                if let Ok(mut status) = self.status.lock() {
                    status.dispatching = false;
                    status.dispatch_hold = Some(format!(
                        "waiting for what the other node wrote alone during a split (at most {} ms more)",
                        left_us / 1000
                    ));
                }
                false
            }
        }
    }

    /// Whether a campaign call may start now ([`Fence`]); records and logs each change (the
    /// media core's own record of when it dispatched, which the fault suite reads) and
    /// shows it in the status.
    fn may_dispatch(&self, record: &mut Record) -> bool {
        let Ok(mut status) = self.status.lock() else {
            return false;
        };
        let now_us = monotonic::now_us();
        let fence = Fence {
            lease: self.supervisor_lease,
        };
        let verdict = if status.draining && status.role == "master" {
            Err(Hold::Draining)
        } else {
            fence.check(now_us, status.role == "master", status.adverts)
        };
        if let Some(edge) = record.observe(now_us, verdict, fence.lease_end(status.adverts)) {
            // Wall-clock microseconds of the edge, for logs compared across nodes.
            let wall = |at: u64| {
                (component::localtime::now_ms() * 1000).saturating_sub(now_us.saturating_sub(at))
            };
            // `mono_us` is the host's CLOCK_MONOTONIC, which a lab that moves a node's wall
            // clock (libfaketime) leaves alone: the fault suite compares nodes with it.
            match edge {
                Edge::On { at_us } => {
                    info!(at_us = wall(at_us), mono_us = at_us, "campaign dispatch on")
                }
                Edge::Off { at_us, hold } => {
                    let (wall_us, reason) = (wall(at_us), hold.reason());
                    if matches!(hold, Hold::LeaseExpired { .. }) {
                        warn!(
                            at_us = wall_us,
                            mono_us = at_us,
                            reason,
                            "campaign dispatch off"
                        );
                    } else {
                        info!(
                            at_us = wall_us,
                            mono_us = at_us,
                            reason,
                            "campaign dispatch off"
                        );
                    }
                }
            }
        }
        status.dispatching = verdict.is_ok();
        status.dispatch_hold = verdict.err().map(|h| match h {
            Hold::PeerLease { until_us } => format!(
                "{} (for {} ms more)",
                h.reason(),
                until_us.saturating_sub(now_us) / 1000
            ),
            h => h.reason().to_owned(),
        });
        verdict.is_ok()
    }

    /// Recent campaigns' figures into the status; a read that fails leaves the last ones
    /// (said at debug: the dispatch path reports a ledger that cannot be read).
    async fn publish_figures(&self) {
        let read = blocking(&self.store, |s| {
            Ok(alertdb::summary::recent(
                s.connection(),
                alertdb::store::now_ms(),
            )?)
        })
        .await;
        match read {
            Ok(figures) => {
                if let Ok(mut status) = self.status.lock() {
                    status.campaigns = figures;
                }
            }
            Err(error) => debug!(%error, "reading campaign figures"),
        }
    }

    /// Dispatches until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<i64>();
        let mut in_flight: HashMap<i64, u32> = HashMap::new();
        let mut throttle = Throttle::default();
        let mut prompts: HashMap<i64, Result<CallPrompts, String>> = HashMap::new();
        // The last error said about each message, so a lasting one is said once.
        let mut unusable: HashMap<i64, String> = HashMap::new();
        let mut master = false;
        let mut backup_ticks = 0u32;
        let mut master_ticks = 0u32;
        let mut record = Record::default();
        let mut after_split = reconcile::AfterSplit::default();
        // The old master's attempts left open at takeover, each with when (CLOCK_MONOTONIC
        // µs) its call must have ended there.
        let mut in_doubt: Vec<(i64, u64)> = Vec::new();
        let mut figures_ticks = 0u32;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(id) = done_rx.recv() => {
                    if let Some(n) = in_flight.get_mut(&id) {
                        *n = n.saturating_sub(1);
                    }
                    continue;
                }
                _ = tick.tick() => {}
            }
            if figures_ticks.is_multiple_of(FIGURES_TICKS) {
                self.publish_figures().await;
            }
            figures_ticks = figures_ticks.wrapping_add(1);
            let role_is_master = self
                .status
                .lock()
                .map(|s| s.role == "master")
                .unwrap_or_default();
            let heard_us = self
                .status
                .lock()
                .ok()
                .and_then(|s| s.adverts.and_then(|a| a.heard_us));
            if after_split.observe(monotonic::now_us(), role_is_master, heard_us) {
                warn!(
                    max_ms = reconcile::AFTER_SPLIT_MAX_US / 1000,
                    "the other node claimed master while this one is: campaign calls wait until what it wrote alone is merged"
                );
            }
            if !role_is_master {
                self.may_dispatch(&mut record);
                in_doubt.clear();
                if master {
                    let calls: u32 = in_flight.values().sum();
                    info!(
                        calls,
                        "backup: campaign dispatch stops; calls in progress finish"
                    );
                    master = false;
                }
                if backup_ticks.is_multiple_of(BACKUP_LOOK_TICKS) {
                    self.hold_preempt_while_campaigns_run().await;
                }
                backup_ticks = backup_ticks.wrapping_add(1);
                continue;
            }
            if backup_ticks != 0 {
                backup_ticks = 0;
                self.set_hold_preempt(None);
            }
            // A message an operator corrected under the same name (new text, a prompt
            // re-recorded) is looked up again each second: later calls say the new one.
            master_ticks = master_ticks.wrapping_add(1);
            if master_ticks.is_multiple_of(PROMPT_LOOK_TICKS) {
                prompts.clear();
            }
            // Never two dispatchers: see `fence` for the rule and why it holds. Calls in
            // progress go on while held; nothing is recovered before the fence opens, since
            // the old master's attempts may still be running.
            if !self.may_dispatch(&mut record) {
                continue;
            }
            if !master {
                match blocking(&self.store, |s| {
                    s.migrate()?;
                    s.recover()
                })
                .await
                {
                    Ok(recovered) => {
                        info!(
                            recovered = recovered.interrupted,
                            in_doubt = recovered.in_doubt.len(),
                            "master: campaigns dispatch from the ledger"
                        );
                        master = true;
                        prompts.clear();
                        in_doubt = self.leave_to_old_master(&recovered.in_doubt).await;
                    }
                    Err(error) => {
                        error!(%error, "cannot open the campaign ledger; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            if in_doubt.iter().any(|(_, end)| monotonic::now_us() >= *end) {
                let now = monotonic::now_us();
                let ended: Vec<i64> = in_doubt
                    .iter()
                    .filter(|(_, end)| now >= *end)
                    .map(|(id, _)| *id)
                    .collect();
                in_doubt.retain(|(_, end)| now < *end);
                match blocking(&self.store, move |s| s.settle_in_doubt(&ended)).await {
                    Ok(closed) => info!(
                        closed,
                        "the old master's calls have surely ended: those it did not report are interrupted, due again"
                    ),
                    Err(error) => warn!(%error, "closing the old master's calls"),
                }
            }
            // After a split brain: what the other node recorded alone (confirmations,
            // outcomes) is merged before anyone else is called.
            match blocking(&self.store, reconcile::merge_new).await {
                Ok(merged) => {
                    for m in merged {
                        warn!(
                            peer = %m.peer, event = %m.event, attempts = m.attempts,
                            confirmations = m.confirmations, left_out = m.left_out,
                            waiting_for_apply = m.waiting,
                            "split brain healed: the other node's campaign facts merged"
                        );
                    }
                }
                Err(error) => warn!(%error, "merging the other node's divergent writes"),
            }
            if !self.after_split_allows(&mut after_split).await {
                continue;
            }
            let campaigns = match blocking(&self.store, |s| s.running()).await {
                Ok(c) => c,
                Err(error) => {
                    warn!(%error, "reading campaigns");
                    continue;
                }
            };
            throttle.retain(&campaigns.iter().map(|c| c.id).collect::<Vec<_>>());
            let loads: Vec<Load> = campaigns
                .iter()
                .map(|c| Load {
                    id: c.id,
                    priority: c.priority,
                    max_lines: c.max_lines,
                    cps: c.cps,
                    in_flight: in_flight.get(&c.id).copied().unwrap_or(0),
                    window: c.window,
                })
                .collect();
            let now = now_ms();
            let allowed =
                plan::allocate(&loads, self.trunk_lines, local_minute(), now, &mut throttle);
            for (id, n) in allowed {
                let Some(campaign) = campaigns.iter().find(|c| c.id == id) else {
                    continue;
                };
                let call_prompts = match prompts.get(&campaign.message_id) {
                    Some(p) => p.clone(),
                    None => {
                        let p = self.prompts_for(campaign.message_id).await;
                        // Said once per problem, not at every look.
                        let said = unusable.get(&campaign.message_id);
                        match &p {
                            Err(error) if said != Some(error) => {
                                error!(campaign = %campaign.name, %error, "campaign message unusable");
                                unusable.insert(campaign.message_id, error.clone());
                            }
                            Ok(_) if said.is_some() => {
                                info!(campaign = %campaign.name, "campaign message usable again");
                                unusable.remove(&campaign.message_id);
                            }
                            _ => {}
                        }
                        prompts.insert(campaign.message_id, p.clone());
                        p
                    }
                };
                let Ok(call_prompts) = call_prompts else {
                    continue;
                };
                let due = match blocking(&self.store, move |s| s.due(id, now, n as usize)).await {
                    Ok(d) => d,
                    Err(error) => {
                        warn!(%error, "reading due recipients");
                        continue;
                    }
                };
                for d in due {
                    // Checked again before each start: the lease may run out mid-tick.
                    if !self.may_dispatch(&mut record) {
                        break;
                    }
                    let Some(number) = d
                        .numbers
                        .get(d.attempts as usize % d.numbers.len().max(1))
                        .cloned()
                    else {
                        continue;
                    };
                    let n2 = number.clone();
                    let attempt = match blocking(&self.store, move |s| {
                        s.begin_attempt(id, d.contact_id, &n2)
                    })
                    .await
                    {
                        Ok(a) => a,
                        Err(error) => {
                            warn!(%error, "attempt not started");
                            continue;
                        }
                    };
                    throttle.spend(id, 1);
                    *in_flight.entry(id).or_default() += 1;
                    let call = Call {
                        shared: self.shared.clone(),
                        store: self.store.clone(),
                        trunk: self.trunk.clone(),
                        campaign: campaign.clone(),
                        prompts: call_prompts.clone(),
                        attempt,
                        number,
                    };
                    let done = done_tx.clone();
                    let span = tracing::info_span!("attempt", campaign = %campaign.name, attempt);
                    tokio::spawn(
                        async move {
                            call.run().await;
                            let _ = done.send(id);
                        }
                        .instrument(span),
                    );
                }
            }
        }
    }

    async fn prompts_for(&self, message: i64) -> Result<CallPrompts, String> {
        let row = blocking(&self.store, move |s| s.message(message))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the campaign's message is gone")?;
        let dir = self.shared.prompts_dir.clone();
        tokio::task::spawn_blocking(move || {
            tts::call_prompts(&dir, &row.kind, &row.body, &row.language)
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// One attempt: ring, then the IVR; the ledger after.
struct Call {
    shared: Arc<Shared>,
    store: Arc<Mutex<Store>>,
    trunk: String,
    campaign: Campaign,
    prompts: CallPrompts,
    attempt: i64,
    number: String,
}

impl Call {
    async fn run(self) {
        let ring = Duration::from_secs(self.campaign.ring_secs.into());
        let end = match dial_out(&self.shared, &self.trunk, &self.number, ring, None).await {
            Ok(answered) => {
                let answered_at = now_ms();
                let (store, attempt) = (self.store.clone(), self.attempt);
                let ivr = ivr::run(&self.shared, answered, &self.prompts, move || {
                    let store = store.clone();
                    async move {
                        match blocking(&store, move |s| s.confirm(attempt)).await {
                            Ok(()) => true,
                            Err(error) => {
                                error!(%error, "confirmation not recorded");
                                false
                            }
                        }
                    }
                })
                .await;
                AttemptEnd {
                    outcome: if ivr.confirmed {
                        Outcome::Confirmed
                    } else {
                        Outcome::Answered
                    },
                    sip_code: None,
                    answered_at: Some(answered_at),
                    dtmf: (!ivr.digits.is_empty()).then_some(ivr.digits),
                }
            }
            Err(f) => AttemptEnd {
                outcome: super::outcome_of_dial(f.status, f.sip_code),
                sip_code: f.sip_code,
                answered_at: None,
                dtmf: None,
            },
        };
        info!(outcome = end.outcome.as_str(), sip_code = ?end.sip_code, "attempt ended");
        let retry_at = now_ms() + i64::from(self.campaign.retry_secs) * 1000;
        let max = self.campaign.max_attempts;
        let attempt = self.attempt;
        if let Err(error) = blocking(&self.store, move |s| {
            s.end_attempt(attempt, &end, max, retry_at)
        })
        .await
        {
            error!(%error, "attempt outcome not recorded (recovered as interrupted at the next start)");
        }
    }
}
