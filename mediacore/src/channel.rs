//! Pure: a channel as AMI lists it (`CoreShowChannels`, `Status`, the channel events): what
//! the engine publishes about each leg and the AMI modules read.

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
