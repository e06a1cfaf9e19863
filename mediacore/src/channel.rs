//! Pure: a channel as AMI lists it (`CoreShowChannels`, `Status`, the channel events): what
//! the engine keeps and publishes about each leg and the AMI modules read.

use std::time::Instant;

/// A channel as AMI lists it.
#[derive(Debug, Clone)]
pub struct ChannelInfo {
    /// `PJSIP/<trunk>-<leg>`.
    pub name: String,
    /// `ChannelState` and `ChannelStateDesc`.
    pub state: (&'static str, &'static str),
    /// Caller number.
    pub caller: String,
    /// Dialplan context.
    pub context: String,
    /// Extension.
    pub exten: String,
    /// Uniqueid.
    pub uniqueid: String,
    /// Seconds since the channel appeared.
    pub duration_secs: u64,
}

/// The contract's `calls` answer (`allertactl calls`): each channel as `core show channels`
/// lists it, the oldest first, at most `MAX_CALLS_LISTED` of them and how many more.
pub fn calls_doc(channels: &[ChannelInfo]) -> serde_json::Value {
    use component::contract::MAX_CALLS_LISTED;
    let calls: Vec<serde_json::Value> = channels
        .iter()
        .take(MAX_CALLS_LISTED)
        .map(|c| {
            serde_json::json!({
                "channel": c.name,
                "state": c.state.1,
                "caller": c.caller,
                "context": c.context,
                "exten": c.exten,
                "uniqueid": c.uniqueid,
                "duration_secs": c.duration_secs,
            })
        })
        .collect();
    serde_json::json!({
        "calls": calls,
        "more": channels.len().saturating_sub(MAX_CALLS_LISTED),
    })
}

/// What AMI events say about a leg (Asterisk's channel fields).
#[derive(Debug, Clone)]
pub struct Channel {
    /// `PJSIP/<trunk>-<leg as 8 hex digits>`.
    pub name: String,
    /// `<start time>.<leg>`.
    pub uniqueid: String,
    pub caller: String,
    pub context: String,
    pub exten: String,
    pub state: ChannelState,
    pub since: Instant,
    /// Outbound: `<number>@<trunk>` while the dial is not over (DialBegin sent, DialEnd
    /// not yet).
    pub dialling: Option<String>,
}

impl Channel {
    /// A new channel for leg `leg` of the media core started at `started_secs` (seconds
    /// since the epoch, the Uniqueid's prefix), Down.
    pub fn new(
        leg: u64,
        started_secs: u64,
        trunk: &str,
        caller: &str,
        context: &str,
        exten: &str,
        now: Instant,
    ) -> Self {
        Self {
            name: format!("PJSIP/{trunk}-{leg:08x}"),
            uniqueid: format!("{started_secs}.{leg}"),
            caller: caller.to_owned(),
            context: context.to_owned(),
            exten: exten.to_owned(),
            state: ChannelState::Down,
            since: now,
            dialling: None,
        }
    }

    /// As AMI lists it at `now`.
    pub fn info(&self, now: Instant) -> ChannelInfo {
        ChannelInfo {
            name: self.name.clone(),
            state: self.state.fields(),
            caller: self.caller.clone(),
            context: self.context.clone(),
            exten: self.exten.clone(),
            uniqueid: self.uniqueid.clone(),
            duration_secs: now.saturating_duration_since(self.since).as_secs(),
        }
    }
}

/// Asterisk's channel states (`ChannelState`, `ChannelStateDesc`).
#[derive(Debug, Clone, Copy)]
pub enum ChannelState {
    Down,
    Ring,
    Ringing,
    Up,
}

impl ChannelState {
    pub fn fields(self) -> (&'static str, &'static str) {
        match self {
            Self::Down => ("0", "Down"),
            Self::Ring => ("4", "Ring"),
            Self::Ringing => ("5", "Ringing"),
            Self::Up => ("6", "Up"),
        }
    }
}
