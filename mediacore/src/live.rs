//! What an application (AMI) can do to a running call besides hanging it up: read and
//! set its channel variables (`Getvar`/`Setvar`), send it elsewhere in the dialplan
//! (`Redirect`) and send digits to its far end (`PlayDTMF`). Each call task registers its channel here by name, publishes its
//! variables after every dialplan step and picks up what AMI left for it before the
//! next one; AMI never touches the call's [`crate::dialplan::exec::Execution`] itself.
//! AMI-set globals (`Setvar` without a channel) are kept here too, for new calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a `Redirect` sends a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Context.
    pub context: String,
    /// Extension.
    pub exten: String,
    /// Priority (1 if not given).
    pub priority: u32,
}

/// One running call, as AMI sees it.
#[derive(Debug, Default)]
pub struct Live {
    /// The variables as of the call's last dialplan step, plus what AMI set since.
    vars: Mutex<HashMap<String, String>>,
    /// Set by AMI, not yet given to the dialplan.
    pending: Mutex<Vec<(String, String)>>,
    redirect: Mutex<Option<Redirect>>,
    /// The call's digit sender, once its media is up.
    dtmf: Mutex<Option<crate::media::DtmfSender>>,
}

/// A poisoned lock only means another task panicked while holding it; the maps are
/// still whole (every update is a single insert or replace), so go on with them.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Live {
    /// A variable's value.
    pub fn getvar(&self, name: &str) -> Option<String> {
        lock(&self.vars).get(name).cloned()
    }

    /// Sets a variable: visible to `getvar` at once, to the dialplan at its next step.
    pub fn setvar(&self, name: &str, value: &str) {
        lock(&self.vars).insert(name.to_owned(), value.to_owned());
        lock(&self.pending).push((name.to_owned(), value.to_owned()));
    }

    /// Asks the call to continue at `to` (the caller also wakes the call task).
    pub fn redirect(&self, to: Redirect) {
        *lock(&self.redirect) = Some(to);
    }

    /// For the call task: where `PlayDTMF` digits go.
    pub fn attach_dtmf(&self, sender: crate::media::DtmfSender) {
        *lock(&self.dtmf) = Some(sender);
    }

    /// Sends `digits` to the call's far end, each for `duration`.
    pub fn play_dtmf(&self, digits: &str, duration: std::time::Duration) -> Result<(), String> {
        match lock(&self.dtmf).as_ref() {
            Some(sender) => sender.send(digits, duration),
            None => Err("the channel has no media yet".to_owned()),
        }
    }

    /// For the call task: the variables AMI set since the last call.
    pub fn take_pending(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// For the call task: a pending redirect.
    pub fn take_redirect(&self) -> Option<Redirect> {
        lock(&self.redirect).take()
    }

    /// For the call task: its variables after a step.
    pub fn publish(&self, vars: &HashMap<String, String>) {
        let mut published = lock(&self.vars);
        published.clone_from(vars);
        // What AMI set but the dialplan has not seen yet stays visible.
        for (k, v) in lock(&self.pending).iter() {
            published.insert(k.clone(), v.clone());
        }
    }
}

/// The running calls by channel name, and AMI globals.
#[derive(Debug, Default)]
pub struct LiveChannels {
    channels: Mutex<HashMap<String, Arc<Live>>>,
    globals: Mutex<Vec<(String, String)>>,
}

/// Removes the channel when the call task ends, however it ends.
#[derive(Debug)]
pub struct Listed<'a> {
    channels: &'a LiveChannels,
    name: String,
    /// The channel's entry.
    pub live: Arc<Live>,
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        lock(&self.channels.channels).remove(&self.name);
    }
}

impl LiveChannels {
    /// Registers a running call's channel.
    pub fn register(&self, name: &str) -> Listed<'_> {
        let live = Arc::new(Live::default());
        lock(&self.channels).insert(name.to_owned(), live.clone());
        Listed {
            channels: self,
            name: name.to_owned(),
            live,
        }
    }

    /// A running call by channel name.
    pub fn get(&self, name: &str) -> Option<Arc<Live>> {
        lock(&self.channels).get(name).cloned()
    }

    /// Sets a global for calls that start from now on.
    pub fn set_global(&self, name: &str, value: &str) {
        let mut globals = lock(&self.globals);
        globals.retain(|(k, _)| k != name);
        globals.push((name.to_owned(), value.to_owned()));
    }

    /// A global set through AMI.
    pub fn global(&self, name: &str) -> Option<String> {
        lock(&self.globals)
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// The AMI globals, to seed a new call's variables.
    pub fn globals(&self) -> Vec<(String, String)> {
        lock(&self.globals).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_channel_is_reachable_until_its_task_ends() {
        let all = LiveChannels::default();
        {
            let reg = all.register("PJSIP/gw-00000001");
            reg.live
                .publish(&HashMap::from([("ACK".into(), "".into())]));
            let live = all.get("PJSIP/gw-00000001").expect("registered");
            live.setvar("ACK", "1");
            // AMI sees its own write at once; a publish before the dialplan took it
            // does not hide it.
            reg.live
                .publish(&HashMap::from([("ACK".into(), "".into())]));
            assert_eq!(live.getvar("ACK").as_deref(), Some("1"));
            assert_eq!(reg.live.take_pending(), [("ACK".into(), "1".into())]);
            assert!(reg.live.take_pending().is_empty());
            live.redirect(Redirect {
                context: "c".into(),
                exten: "s".into(),
                priority: 1,
            });
            assert!(reg.live.take_redirect().is_some());
            assert!(reg.live.take_redirect().is_none());
        }
        assert!(all.get("PJSIP/gw-00000001").is_none());
    }

    #[test]
    fn a_global_set_twice_keeps_the_last_value() {
        let all = LiveChannels::default();
        all.set_global("MODE", "test");
        all.set_global("MODE", "live");
        assert_eq!(all.globals(), [("MODE".into(), "live".into())]);
        assert_eq!(all.global("MODE").as_deref(), Some("live"));
    }
}
