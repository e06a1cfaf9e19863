//! Pure: what the agent reports: role, position, lag (time and records), last applied
//! change, bytes, errors, divergences; as the control contract's `status` JSON, with the
//! `fresh` check the supervisor tracks as `sync/fresh` (the health input "sync stale").

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::proto::Pos;

#[derive(Debug, Clone, Default)]
pub struct Status {
    pub role: Option<&'static str>,
    /// The peer of the current session, if one is up.
    pub peer: Option<String>,
    /// The sync protocol the other node speaks (`tls::PROTOCOL`), learnt at the last
    /// handshake.
    pub peer_protocol: Option<u32>,
    /// This node's log head (the master's journal, or what the backup applied).
    pub head: Pos,
    /// Master: the backup's acknowledged position. Backup: the master's head, as last heard.
    pub other: Pos,
    /// When this side was last fully in step with the other (None: never since start).
    pub in_step_at: Option<Instant>,
    /// The last change applied (backup) or acknowledged (master), for humans.
    pub last_change: Option<String>,
    pub last_change_at_ms: Option<u64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub records: u64,
    pub sessions: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    pub refused_peers: u64,
    /// The last connection refused because the other node is not of this pair (a different
    /// pairing secret or TLS material), until a session starts.
    pub pair_problem: Option<String>,
    /// Since when (ms since the epoch) no session is up; None while one is.
    pub alone_since_ms: Option<u64>,
    pub divergences: u64,
    pub last_divergence: Option<String>,
    /// (Master) divergence events whose records all reached this node's inbox.
    pub divergent_received: u64,
    /// (Backup) divergence events of this node delivered to the master.
    pub divergent_delivered: u64,
    /// (Master) the other node's operator changes waiting for `divergence apply`.
    pub divergent_waiting: u64,
    pub snapshots: u64,
    /// The last position at which this backup's tables matched the master's digest.
    pub verified_seq: Option<u64>,
    pub verified_at_ms: Option<u64>,
}

impl Status {
    /// Records not yet on the backup.
    pub fn lag_records(&self) -> u64 {
        match self.role {
            Some("master") => self.head.seq.saturating_sub(self.other.seq),
            _ => self.other.seq.saturating_sub(self.head.seq),
        }
    }

    /// How long the two have been out of step (zero when in step).
    pub fn lag(&self, now: Instant) -> Option<Duration> {
        if self.peer.is_some() && self.lag_records() == 0 {
            return Some(Duration::ZERO);
        }
        self.in_step_at.map(|t| now.saturating_duration_since(t))
    }

    /// Marks the two sides in step if they are.
    pub fn settle(&mut self, now: Instant) {
        if self.peer.is_some() && self.lag_records() == 0 {
            self.in_step_at = Some(now);
        }
    }

    pub fn error(&mut self, what: String) {
        self.errors += 1;
        self.last_error = Some(what);
    }

    /// The other node was refused as not of this pair (`tls::not_this_pair`).
    pub fn not_this_pair(&mut self, what: String) {
        self.pair_problem = Some(what.clone());
        self.error(what);
    }

    /// A session with `peer` started.
    pub fn met(&mut self, peer: String) {
        self.peer = Some(peer);
        self.pair_problem = None;
        self.alone_since_ms = None;
    }

    /// No session from `now_ms` (ms since the epoch): the last one ended, or none started
    /// yet in this role.
    pub fn parted(&mut self, now_ms: u64) {
        self.peer = None;
        self.alone_since_ms.get_or_insert(now_ms);
    }

    /// The `status` answer of the control contract.
    pub fn to_json(&self, now: Instant, stale_after: Duration) -> Value {
        let lag = self.lag(now);
        let (fresh, reason) = match (self.role, &self.peer, lag) {
            (None, _, _) => (true, "no role yet".to_owned()),
            // Staleness is the backup's health (it must not take over, or take the role
            // back, before it caught up). A master with a lagging or absent backup is no
            // less fit to serve: lowering its priority would hand the role to the stale side.
            (Some("master"), peer, _) => (
                true,
                match peer {
                    Some(_) => format!("master; backup {} record(s) behind", self.lag_records()),
                    None => "master; no backup connected".to_owned(),
                },
            ),
            (Some(_), None, _) => (false, "no session with the peer".to_owned()),
            (Some(_), Some(_), Some(l)) if l <= stale_after => {
                (true, format!("lag {} ms", l.as_millis()))
            }
            (Some(_), Some(_), Some(l)) => (false, format!("lag {} ms", l.as_millis())),
            (Some(_), Some(_), None) => (false, "never in step since start".to_owned()),
        };
        json!({
            "component": "sync",
            "role": self.role.unwrap_or("none"),
            "peer": self.peer,
            "protocol": crate::tls::PROTOCOL,
            "peer_protocol": self.peer_protocol,
            "version": env!("CARGO_PKG_VERSION"),
            "head": self.head,
            "peer_position": self.other,
            "lag_records": self.lag_records(),
            "lag_ms": lag.map(|l| l.as_millis() as u64),
            "last_change": self.last_change,
            "last_change_at_ms": self.last_change_at_ms,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "records": self.records,
            "sessions": self.sessions,
            "snapshots": self.snapshots,
            "verified_seq": self.verified_seq,
            "verified_at_ms": self.verified_at_ms,
            "errors": self.errors,
            "last_error": self.last_error,
            "refused_peers": self.refused_peers,
            "pair_problem": self.pair_problem,
            "alone_since_ms": self.alone_since_ms,
            "divergences": self.divergences,
            "last_divergence": self.last_divergence,
            "divergent_received": self.divergent_received,
            "divergent_delivered": self.divergent_delivered,
            "divergent_waiting": self.divergent_waiting,
            "checks": { "fresh": { "ok": fresh, "reason": reason } },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_since_is_the_start_of_the_gap_and_a_session_clears_it_and_the_pair_problem() {
        let mut s = Status::default();
        s.parted(1_000);
        s.not_this_pair("the peer's certificate is not from this pair".into());
        s.parted(5_000);
        let v = s.to_json(Instant::now(), Duration::from_secs(5));
        assert_eq!(v["alone_since_ms"], 1_000);
        assert_eq!(
            v["pair_problem"],
            "the peer's certificate is not from this pair"
        );
        assert_eq!(s.errors, 1);
        s.met("10.77.0.11:40000".into());
        let v = s.to_json(Instant::now(), Duration::from_secs(5));
        assert!(v["alone_since_ms"].is_null() && v["pair_problem"].is_null());
        s.parted(9_000);
        assert_eq!(s.alone_since_ms, Some(9_000));
    }

    #[test]
    fn a_master_is_never_stale_even_without_its_backup() {
        let s = Status {
            role: Some("master"),
            ..Status::default()
        };
        let v = s.to_json(Instant::now(), Duration::from_secs(5));
        assert_eq!(v["checks"]["fresh"]["ok"], true);
        assert_eq!(
            v["checks"]["fresh"]["reason"],
            "master; no backup connected"
        );
    }

    #[test]
    fn a_backup_in_step_is_fresh_and_one_cut_off_goes_stale() {
        let t0 = Instant::now();
        let mut s = Status {
            role: Some("backup"),
            peer: Some("10.77.0.11:40000".into()),
            head: Pos { gen: 1, seq: 5 },
            other: Pos { gen: 1, seq: 5 },
            ..Status::default()
        };
        s.settle(t0);
        assert_eq!(
            s.to_json(t0, Duration::from_secs(5))["checks"]["fresh"]["ok"],
            true
        );
        s.other.seq = 9;
        let later = t0 + Duration::from_secs(6);
        let v = s.to_json(later, Duration::from_secs(5));
        assert_eq!(v["lag_records"], 4);
        assert_eq!(v["lag_ms"], 6000);
        assert_eq!(v["checks"]["fresh"]["ok"], false);
        s.peer = None;
        assert_eq!(
            s.to_json(later, Duration::from_secs(5))["checks"]["fresh"]["reason"],
            "no session with the peer"
        );
    }
}
