//! Pure: what the media core publishes after every turn of the engine's loop, read by AMI,
//! the dialer, health checks and the supervisor's `status` (each trunk's registration and
//! reachability, calls, counters, the role and the dispatch fence's inputs).

use std::time::Instant;

use component::contract::Adverts;
use serde::Serialize;

use crate::sip::endpoint::Stats;
use crate::sip::qualify::Reachability;

/// One trunk's state as shown to operators, health checks and tests.
#[derive(Debug, Clone, Serialize)]
pub struct TrunkStatus {
    /// The trunk.
    pub name: String,
    /// `registered`, `registering`, `unregistered`, `failed: <reason>`, or `none`.
    pub registration: String,
    /// Whether it is registered (or needs no registration).
    pub registered: bool,
    /// OPTIONS reachability, when qualify is on.
    pub reachability: Option<Reachability>,
    /// The last OPTIONS round trip in milliseconds.
    pub rtt_ms: Option<f64>,
}

/// The engine's state, published after every turn of its loop.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Per trunk.
    pub trunks: Vec<TrunkStatus>,
    /// Calls up or being set up.
    pub active_calls: usize,
    /// Calls since start (inbound and outbound legs).
    pub total_calls: u64,
    /// INVITEs refused because they came from no trunk's identified address.
    pub unidentified_invites: u64,
    /// SIP messages dropped unread: an address other than a trunk's sent more than its
    /// share (`sip::pike`).
    pub sip_flood_dropped: u64,
    /// Transaction-layer counters.
    pub sip: Stats,
    /// The role the supervisor gave us.
    pub role: String,
    /// On a backup, why it should not take the master role back now (set by the dialer:
    /// the replicated ledger shows a campaign running on the master). The supervisor holds
    /// preemption back while it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_preempt: Option<String>,
    /// When the supervisor last pinged us (never: we run without one).
    #[serde(skip)]
    pub supervisor_seen: Option<Instant>,
    /// How long ago that was, in ms (a master silent past its lease does not dial).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervisor_silent_ms: Option<u64>,
    /// The dispatch lease's stamps from the supervisor's last ping (None: never pinged
    /// with stamps; see `campaign::fence`).
    #[serde(skip)]
    pub adverts: Option<Adverts>,
    /// Set by the config watcher (`reload`): replicated files that changed and did not
    /// load (file:line and why); the running configuration stays in force meanwhile.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config_alarms: Vec<String>,
    /// A planned switchover is draining this node (and for `DRAIN_HOLD` after its drain
    /// ended, until the role moves): the dialer starts no campaign call.
    pub draining: bool,
    /// Set by the dialer: whether it may start campaign calls now, and if not, why.
    pub dispatching: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch_hold: Option<String>,
    /// Set by the AMI server: connections it refused or closed before a login.
    pub ami: AmiRefusals,
    /// Set by the dialer every few seconds, on either role: recent campaigns' figures from
    /// the replicated ledger (the supervisor's metrics).
    pub campaigns: Vec<alertdb::summary::Summary>,
}

/// What the AMI server refused before a login, since start (each also logged).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct AmiRefusals {
    /// Closed at accept: no user of manager.conf may log in from the address.
    pub not_permitted: u64,
    /// Closed at accept: its address already had its share of connections waiting to log
    /// in (`ami::waiting`).
    pub over_auth_limit: u64,
    /// Closed while waiting to log in: `authlimit` were waiting and a newcomer took the
    /// place of the one that had waited longest.
    pub evicted: u64,
    /// Closed for not logging in within `authtimeout`.
    pub auth_timeouts: u64,
    /// Closed after a failed login.
    pub failed_logins: u64,
    /// Closed for sending what cannot be framed (a line, a message too long).
    pub unframeable: u64,
}
