//! Pure: what one VRRP instance looks like from outside, published by its driver after every
//! step and read by the supervisor's control socket, `allertactl status` and the metrics.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::machine::State;

/// Counters of one instance (shown by `allertactl status` and the metrics endpoint).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Stats {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub dropped_malformed: u64,
    pub dropped_not_from_peer: u64,
    pub garps_sent: u64,
    pub send_errors: u64,
}

/// What an instance looks like now, published after every step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub vrid: u8,
    pub state: State,
    /// The priority adverts carry now.
    pub priority: u8,
    pub configured_priority: u8,
    pub yielded: bool,
    /// A component holds preemption back (a campaign runs on the master).
    #[serde(default)]
    pub preempt_held: bool,
    pub promoted: bool,
    pub stats: Stats,
    /// Milliseconds since the Unix epoch of the last advert heard from another router.
    pub peer_last_heard_ms: Option<u64>,
    pub peer_address: Option<Ipv4Addr>,
    pub peer_priority: Option<u8>,
    /// The unicast peers the instance was given (empty: multicast).
    #[serde(default)]
    pub peers: Vec<Ipv4Addr>,
    /// A router of our VRID that is not one of `peers`, heard lately: while it is, the
    /// instance stays in Fault (`vrrp::stranger`).
    #[serde(default)]
    pub stranger: Option<Ipv4Addr>,
}

impl InstanceStatus {
    /// An instance that has not started yet.
    pub fn new(name: &str, vrid: u8, priority: u8, peers: Vec<Ipv4Addr>) -> Self {
        Self {
            name: name.to_owned(),
            vrid,
            state: State::Initialize,
            priority,
            configured_priority: priority,
            yielded: false,
            preempt_held: false,
            promoted: false,
            stats: Stats::default(),
            peer_last_heard_ms: None,
            peer_address: None,
            peer_priority: None,
            peers,
            stranger: None,
        }
    }
}
