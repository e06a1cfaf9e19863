//! The configured trunks, resolved for sending (host names looked up once, at start, with the
//! system resolver: never per call), each with its registration and qualify state machines
//! (pure, in `sip/`), and what operators see of them. The engine drives the machines.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Instant;

use crate::conf::pjsip::{Protocol, Trunk};
use crate::sip::endpoint::Peer;
use crate::sip::message::{self, Transport};
use crate::sip::qualify::Qualify;
use crate::sip::registration::{self, Registration};
use crate::status::TrunkStatus;

/// A trunk and where requests to it go, resolved at start.
#[derive(Debug, Clone)]
pub struct Route {
    pub cfg: Trunk,
    /// Where requests to the trunk go (its first contact), if it has one.
    pub target: Option<Peer>,
    /// Host[:port] of the trunk's first contact, for Request-URIs.
    pub host: Option<String>,
}

/// Every trunk, and the registration and qualify machines of those that have them (by
/// index into `list`).
pub struct Trunks {
    pub list: Vec<Route>,
    pub regs: Vec<(usize, Registration)>,
    pub quals: Vec<(usize, Qualify)>,
}

impl Trunks {
    /// The trunks of the configuration; `sent_by` is our SIP address (Via, Contact).
    pub fn new(cfgs: Vec<Trunk>, sent_by: &str, now: Instant) -> Self {
        let mut list = Vec::new();
        let mut regs = Vec::new();
        let mut quals = Vec::new();
        for (i, t) in cfgs.into_iter().enumerate() {
            let transport = match t.transport.as_ref().map(|tr| tr.protocol) {
                Some(Protocol::Tcp) => Transport::Tcp,
                _ => Transport::Udp,
            };
            let host = t.contacts.first().map(|c| uri_hostport(c));
            let target = t
                .contacts
                .first()
                .and_then(|c| resolve(c))
                .map(|addr| Peer { addr, transport });
            if let Some(r) = &t.registration {
                let user = r.contact_user.clone().unwrap_or_else(|| "s".into());
                let reg_cfg = registration::Config {
                    trunk: t.name.clone(),
                    server_uri: r.server_uri.clone(),
                    client_uri: r.client_uri.clone(),
                    contact: format!("<sip:{user}@{sent_by}>"),
                    sent_by: sent_by.to_owned(),
                    transport,
                    expires: r.expiration,
                    retry_interval: r.retry_interval,
                    forbidden_retry_interval: r.forbidden_retry_interval,
                    credentials: r
                        .auth
                        .as_ref()
                        .map(|a| (a.username.clone(), a.password.clone())),
                };
                regs.push((i, Registration::new(reg_cfg, now)));
            }
            if let (Some(every), Some(_)) = (t.qualify_frequency, &target) {
                quals.push((i, Qualify::new(every, now)));
            }
            list.push(Route {
                cfg: t,
                target,
                host,
            });
        }
        Self { list, regs, quals }
    }

    /// The earliest deadline of a registration or qualify machine.
    pub fn next_deadline(&self) -> Option<Instant> {
        let regs = self.regs.iter().filter_map(|(_, r)| r.next_deadline());
        let quals = self.quals.iter().filter_map(|(_, q)| q.next_deadline());
        regs.chain(quals).min()
    }

    /// Each trunk as operators see it.
    pub fn status(&self) -> Vec<TrunkStatus> {
        self.list
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let reg = self
                    .regs
                    .iter()
                    .find(|(ti, _)| *ti == i)
                    .map(|(_, r)| r.status().clone());
                let (registration, registered) = match reg {
                    None => ("none".to_owned(), true),
                    Some(registration::State::Registered { .. }) => ("registered".to_owned(), true),
                    Some(registration::State::Registering) => ("registering".to_owned(), false),
                    Some(registration::State::Unregistered) => ("unregistered".to_owned(), false),
                    Some(registration::State::Failed { reason, .. }) => {
                        (format!("failed: {reason}"), false)
                    }
                };
                let q = self.quals.iter().find(|(ti, _)| *ti == i).map(|(_, q)| q);
                TrunkStatus {
                    name: t.cfg.name.clone(),
                    registration,
                    registered,
                    reachability: q.map(Qualify::reachability),
                    rtt_ms: q.and_then(Qualify::rtt).map(|d| d.as_secs_f64() * 1000.0),
                }
            })
            .collect()
    }
}

/// `host[:port]` of a SIP URI (`sip:user@host:port;params`).
pub fn uri_hostport(uri: &str) -> String {
    let uri = message::addr_uri(uri);
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split([';', '?']).next().unwrap_or(rest).to_owned()
}

/// The socket address a SIP URI points at (port 5060 by default). Names are looked up
/// with the system resolver: only done for trunk contacts at start, never per call.
pub fn resolve(uri: &str) -> Option<SocketAddr> {
    let hp = uri_hostport(uri);
    if let Ok(addr) = hp.parse::<SocketAddr>() {
        return Some(addr);
    }
    if let Ok(ip) = hp.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 5060));
    }
    let with_port = if hp.contains(':') {
        hp
    } else {
        format!("{hp}:5060")
    };
    with_port.to_socket_addrs().ok()?.next()
}

/// Like [`resolve`] but only for IP literals (in-dialog targets: never block on DNS).
pub fn literal(uri: &str) -> Option<SocketAddr> {
    let hp = uri_hostport(uri);
    hp.parse::<SocketAddr>().ok().or_else(|| {
        hp.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 5060))
    })
}
