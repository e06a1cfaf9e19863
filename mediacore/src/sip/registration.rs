//! Pure: keeping one trunk registered with its provider (RFC 3261 §10, §22.2).
//!
//! A [`Registration`] builds its REGISTER requests (one Call-ID for its life, CSeq rising),
//! answers digest challenges once per nonce, refreshes before the binding expires and, when
//! the provider is down or refuses us, retries with exponential backoff from 1 s up to the
//! trunk's `retry_interval`. Unlike Asterisk it never gives up for good (no
//! `max_retries` stop, no permanent 403): an alerting appliance must keep trying to reach
//! its carrier and say loudly that it cannot, through [`State::Failed`].
//!
//! The driver runs the client transaction; this machine only sees its outcome.

use std::time::{Duration, Instant};

use super::message::{Method, Request, Response};

use super::digest;
use super::message::{self, header, header_param, headers_named, NewRequest, Transport};

/// What a registration needs to know; built from pjsip.conf by the driver.
#[derive(Debug, Clone)]
pub struct Config {
    /// The trunk's name, for logs and status.
    pub trunk: String,
    /// `server_uri`: the registrar's Request-URI.
    pub server_uri: String,
    /// `client_uri`: the address-of-record, our From and To.
    pub client_uri: String,
    /// The Contact we register (`<sip:user@our-ip:port>`).
    pub contact: String,
    /// Our Via sent-by (`ip:port`).
    pub sent_by: String,
    /// Transport toward the registrar.
    pub transport: Transport,
    /// `expiration`: what we ask for.
    pub expires: Duration,
    /// `retry_interval`: the backoff cap after a failure.
    pub retry_interval: Duration,
    /// `forbidden_retry_interval`, used after a 403 when non-zero (else `retry_interval`).
    pub forbidden_retry_interval: Duration,
    /// Digest credentials (username, password), if the provider challenges.
    pub credentials: Option<(String, String)>,
}

/// Where a registration stands, as shown to operators and health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not started, or unregistered on shutdown.
    Unregistered,
    /// A REGISTER is in flight and we were never registered (or the last one failed).
    Registering,
    /// The registrar accepted our binding until `until`.
    Registered {
        /// When the binding expires if not refreshed.
        until: Instant,
    },
    /// The last attempt failed; the next one is at `retry_at`.
    Failed {
        /// What went wrong, for the operator (`408 no response`, `403 Forbidden`, ...).
        reason: String,
        /// When we try again.
        retry_at: Instant,
    },
}

impl State {
    /// Whether the trunk can currently receive calls through its registration.
    pub fn is_registered(&self) -> bool {
        matches!(self, Self::Registered { .. })
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a client transaction for this REGISTER.
    Send(Box<Request>),
    /// The status changed (log it, export it).
    Changed(State),
}

/// One trunk's registration.
#[derive(Debug)]
pub struct Registration {
    cfg: Config,
    call_id: String,
    from_tag: String,
    cseq: u32,
    status: State,
    /// When to send the next REGISTER (refresh or retry), if none is in flight.
    next_at: Option<Instant>,
    in_flight: Option<Request>,
    /// The nonce we already answered, so a second 401 for it means "wrong password".
    answered_nonce: Option<String>,
    nc: u32,
    failures: u32,
    /// What we ask for next; raised by a 423's Min-Expires.
    asked: Duration,
    stopping: bool,
}

impl Registration {
    /// A registration that sends its first REGISTER on the first tick.
    pub fn new(cfg: Config, now: Instant) -> Self {
        let asked = cfg.expires;
        Self {
            call_id: format!("{}@allerta", message::token()),
            from_tag: message::token(),
            cseq: 0,
            status: State::Unregistered,
            next_at: Some(now),
            in_flight: None,
            answered_nonce: None,
            nc: 0,
            failures: 0,
            asked,
            stopping: false,
            cfg,
        }
    }

    /// The trunk name.
    pub fn trunk(&self) -> &str {
        &self.cfg.trunk
    }

    /// The current status.
    pub fn status(&self) -> &State {
        &self.status
    }

    /// The Call-ID of our REGISTERs (responses are matched by the transaction layer).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// When [`Self::on_tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            None
        } else {
            self.next_at
        }
    }

    /// Sends a REGISTER if one is due.
    pub fn on_tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.in_flight.is_some() || self.next_at.is_none_or(|at| now < at) {
            return;
        }
        self.next_at = None;
        if self.status == State::Unregistered {
            self.set(State::Registering, out);
        }
        self.send(self.asked, now, out);
    }

    /// Unregisters (Expires: 0) if we are registered; the binding is gone either way.
    pub fn stop(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.stopping = true;
        self.next_at = None;
        if self.status.is_registered() && self.in_flight.is_none() {
            self.send(Duration::ZERO, now, out);
        }
        self.set(State::Unregistered, out);
    }

    fn send(&mut self, expires: Duration, now: Instant, out: &mut Vec<Action>) {
        self.cseq += 1;
        let built = NewRequest {
            method: Method::Register,
            uri: &self.cfg.server_uri,
            sent_by: &self.cfg.sent_by,
            transport: self.cfg.transport,
            from: &format!("<{}>", self.cfg.client_uri),
            from_tag: &self.from_tag,
            to: &format!("<{}>", self.cfg.client_uri),
            call_id: &self.call_id,
            cseq: self.cseq,
            contact: Some(&self.cfg.contact),
        }
        .build();
        match built {
            Ok(mut request) => {
                message::push_header(
                    &mut request.headers,
                    "Expires",
                    expires.as_secs().to_string(),
                );
                message::push_header(&mut request.headers, "Allow", message::ALLOW);
                self.in_flight = Some(request.clone());
                out.push(Action::Send(Box::new(request)));
            }
            Err(e) => {
                // A config error pjsip.conf validation should have caught; retry later so
                // a fixed config (reload) recovers without a restart.
                self.fail(
                    format!("cannot build REGISTER: {e}"),
                    self.cfg.retry_interval,
                    now,
                    out,
                );
            }
        }
    }

    /// The final response to our in-flight REGISTER.
    pub fn on_response(&mut self, response: &Response, now: Instant, out: &mut Vec<Action>) {
        let Some(mut request) = self.in_flight.take() else {
            return;
        };
        let code = response.status_code.code();
        match code {
            200..=299 => {
                self.failures = 0;
                self.answered_nonce = None;
                if self.stopping {
                    return;
                }
                // A registrar may shorten the expiry we asked for, never lengthen it (RFC 3261
                // §10.2.1); holding it to ours also keeps a huge value from overflowing a deadline.
                let granted = granted_expiry(response, &self.cfg.contact)
                    .unwrap_or(self.asked)
                    .min(self.asked);
                if granted.is_zero() {
                    self.fail(
                        "registrar granted 0 s".into(),
                        self.cfg.retry_interval,
                        now,
                        out,
                    );
                    return;
                }
                self.set(
                    State::Registered {
                        until: now + granted,
                    },
                    out,
                );
                self.next_at = Some(now + refresh_after(granted));
            }
            401 | 407 => {
                let Some((user, pass)) = self.cfg.credentials.clone() else {
                    return self.fail(
                        format!("{code} challenged, but no outbound_auth"),
                        self.cfg.retry_interval,
                        now,
                        out,
                    );
                };
                let challenge = headers_named(
                    &response.headers,
                    if code == 401 {
                        "WWW-Authenticate"
                    } else {
                        "Proxy-Authenticate"
                    },
                )
                .find_map(|v| digest::Challenge::parse(v).ok());
                let repeated = challenge.as_ref().is_some_and(|c| {
                    !c.stale && self.answered_nonce.as_deref() == Some(c.nonce.as_str())
                });
                if repeated {
                    self.answered_nonce = None;
                    return self.fail(
                        format!("{code} authentication rejected (check username/password)"),
                        self.cfg.retry_interval,
                        now,
                        out,
                    );
                }
                self.nc += 1;
                match digest::authorize(&mut request, response, &user, &pass, self.nc) {
                    Ok(answered) => {
                        self.answered_nonce = Some(answered.nonce);
                        self.cseq += 1;
                        message::renew(&mut request, self.cseq);
                        self.in_flight = Some(request.clone());
                        out.push(Action::Send(Box::new(request)));
                    }
                    Err(e) => self.fail(
                        format!("{code} challenge unusable: {e}"),
                        self.cfg.retry_interval,
                        now,
                        out,
                    ),
                }
            }
            423 => {
                // delta-seconds fit 32 bits (RFC 3261 §20.23); anything larger is unusable.
                let min = header(&response.headers, "Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .map(|secs| Duration::from_secs(secs.into()));
                match min {
                    Some(min) if min > self.asked => {
                        self.asked = min;
                        self.send(self.asked, now, out);
                    }
                    _ => self.fail(
                        "423 Interval Too Brief without a usable Min-Expires".into(),
                        self.cfg.retry_interval,
                        now,
                        out,
                    ),
                }
            }
            403 => {
                let wait = if self.cfg.forbidden_retry_interval.is_zero() {
                    self.cfg.retry_interval
                } else {
                    self.cfg.forbidden_retry_interval
                };
                self.fail("403 Forbidden".into(), wait, now, out);
            }
            _ => {
                let reason = format!("{code} {}", message::reason(code));
                let wait = self.backoff();
                self.fail(reason.trim().to_owned(), wait, now, out);
            }
        }
    }

    /// The transaction timed out (Timer F) or the transport failed.
    pub fn on_failure(&mut self, reason: &str, now: Instant, out: &mut Vec<Action>) {
        if self.in_flight.take().is_none() || self.stopping {
            return;
        }
        let wait = self.backoff();
        self.fail(reason.to_owned(), wait, now, out);
    }

    fn backoff(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exp = Duration::from_secs(1u64 << self.failures.saturating_sub(1).min(16));
        exp.min(self.cfg.retry_interval).max(Duration::from_secs(1))
    }

    fn fail(&mut self, reason: String, wait: Duration, now: Instant, out: &mut Vec<Action>) {
        self.in_flight = None;
        let retry_at = now + wait;
        self.next_at = Some(retry_at);
        self.set(State::Failed { reason, retry_at }, out);
    }

    fn set(&mut self, status: State, out: &mut Vec<Action>) {
        if self.status != status {
            self.status = status.clone();
            out.push(Action::Changed(status));
        }
    }
}

/// Refresh a binding before it lapses: 30 s early for long ones, half-way for short ones.
fn refresh_after(granted: Duration) -> Duration {
    if granted > Duration::from_secs(60) {
        granted - Duration::from_secs(30)
    } else {
        granted / 2
    }
}

/// The expiry the registrar granted our contact: its Contact `expires` parameter, else the
/// Expires header (RFC 3261 §10.2.4).
fn granted_expiry(response: &Response, our_contact: &str) -> Option<Duration> {
    let ours = message::addr_uri(our_contact);
    let contacts: Vec<&str> = headers_named(&response.headers, "Contact")
        .flat_map(|v| v.split(','))
        .collect();
    let mine = contacts
        .iter()
        .find(|c| message::addr_uri(c) == ours)
        .or(contacts.first());
    mine.and_then(|c| header_param(c, "expires"))
        .or_else(|| header(&response.headers, "Expires"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::message::SipMessage;
    use super::*;

    fn cfg() -> Config {
        Config {
            trunk: "out".into(),
            server_uri: "sip:10.78.0.1".into(),
            client_uri: "sip:alerta@10.78.0.1".into(),
            contact: "<sip:alerta@10.78.0.11:5060>".into(),
            sent_by: "10.78.0.11:5060".into(),
            transport: Transport::Udp,
            expires: Duration::from_secs(3600),
            retry_interval: Duration::from_secs(60),
            forbidden_retry_interval: Duration::ZERO,
            credentials: Some(("alerta".into(), "s3cret".into())),
        }
    }

    fn sent(out: &[Action]) -> Request {
        out.iter()
            .rev()
            .find_map(|a| match a {
                Action::Send(r) => Some((**r).clone()),
                Action::Changed(_) => None,
            })
            .expect("a REGISTER was sent")
    }

    fn reply(req: &Request, code: u16, extra: &[(&str, &str)]) -> Response {
        let mut r = message::response(req, code, Some("reg"));
        for (k, v) in extra {
            message::push_header(&mut r.headers, k, *v);
        }
        // Round-trip through bytes, as a real response would arrive (faults included: the
        // registration must hold even against what `parse` would already refuse).
        match message::read(&message::to_bytes(&SipMessage::Response(r)))
            .unwrap()
            .message
        {
            SipMessage::Response(r) => r,
            SipMessage::Request(_) => unreachable!(),
        }
    }

    const CHALLENGE: (&str, &str) = (
        "WWW-Authenticate",
        "Digest realm=\"carrier\", nonce=\"n1\", qop=\"auth\"",
    );

    #[test]
    fn a_challenged_register_is_resent_with_credentials_then_refreshed_before_expiry() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut reg = Registration::new(cfg(), t0);
        reg.on_tick(t0, &mut out);
        assert_eq!(out[0], Action::Changed(State::Registering));
        let first = sent(&out);
        assert_eq!(message::header(&first.headers, "Expires"), Some("3600"));
        out.clear();
        reg.on_response(&reply(&first, 401, &[CHALLENGE]), t0, &mut out);
        let second = sent(&out);
        let auth = message::header(&second.headers, "Authorization").unwrap();
        assert!(
            auth.contains("username=\"alerta\"") && auth.contains("qop=auth"),
            "{auth}"
        );
        let (a, b) = (
            message::Ids::of(&first.headers).unwrap(),
            message::Ids::of(&second.headers).unwrap(),
        );
        assert_eq!(a.call_id, b.call_id);
        assert_eq!(b.cseq, a.cseq + 1);
        assert_ne!(a.branch, b.branch);
        out.clear();
        reg.on_response(
            &reply(
                &second,
                200,
                &[("Contact", "<sip:alerta@10.78.0.11:5060>;expires=120")],
            ),
            t0,
            &mut out,
        );
        assert_eq!(
            out,
            [Action::Changed(State::Registered {
                until: t0 + Duration::from_secs(120)
            })]
        );
        assert_eq!(reg.next_deadline(), Some(t0 + Duration::from_secs(90)));
    }

    #[test]
    fn a_second_challenge_for_the_same_nonce_means_wrong_credentials() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut reg = Registration::new(cfg(), t0);
        reg.on_tick(t0, &mut out);
        reg.on_response(&reply(&sent(&out), 401, &[CHALLENGE]), t0, &mut out);
        reg.on_response(&reply(&sent(&out), 401, &[CHALLENGE]), t0, &mut out);
        let State::Failed { reason, retry_at } = reg.status() else {
            panic!("{:?}", reg.status())
        };
        assert!(reason.contains("authentication rejected"), "{reason}");
        assert_eq!(*retry_at, t0 + Duration::from_secs(60));
    }

    #[test]
    fn a_provider_that_does_not_answer_is_retried_with_backoff_capped_at_retry_interval() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut reg = Registration::new(cfg(), t0);
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..9 {
            reg.on_tick(now, &mut out);
            reg.on_failure("408 no response", now, &mut out);
            let next = reg.next_deadline().unwrap();
            waits.push((next - now).as_secs());
            now = next;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        out.clear();
        reg.on_tick(now, &mut out);
        reg.on_response(
            &reply(&sent(&out), 200, &[("Expires", "60")]),
            now,
            &mut out,
        );
        assert!(
            reg.status().is_registered(),
            "recovers when the provider is back"
        );
    }

    #[test]
    fn interval_too_brief_raises_the_expiry_we_ask_for() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut reg = Registration::new(
            Config {
                expires: Duration::from_secs(30),
                ..cfg()
            },
            t0,
        );
        reg.on_tick(t0, &mut out);
        out.clear();
        reg.on_response(
            &reply(&sent(&out_with(&reg)), 423, &[("Min-Expires", "90")]),
            t0,
            &mut out,
        );
        assert_eq!(message::header(&sent(&out).headers, "Expires"), Some("90"));
    }

    #[test]
    fn a_huge_expiry_or_min_expires_is_bounded_not_a_panic() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut reg = Registration::new(cfg(), t0);
        reg.on_tick(t0, &mut out);
        let huge = u64::MAX.to_string();
        reg.on_response(
            &reply(&sent(&out), 200, &[("Expires", huge.as_str())]),
            t0,
            &mut out,
        );
        assert_eq!(
            reg.status(),
            &State::Registered {
                until: t0 + Duration::from_secs(3600)
            },
            "held to the expiry we asked for"
        );
        reg.on_tick(reg.next_deadline().unwrap(), &mut out);
        let refresh = sent(&out);
        reg.on_response(
            &reply(&refresh, 423, &[("Min-Expires", huge.as_str())]),
            t0,
            &mut out,
        );
        let State::Failed { reason, .. } = reg.status() else {
            panic!("{:?}", reg.status())
        };
        assert!(reason.contains("Min-Expires"), "{reason}");
    }

    fn out_with(reg: &Registration) -> Vec<Action> {
        vec![Action::Send(Box::new(reg.in_flight.clone().unwrap()))]
    }

    #[test]
    fn stop_unregisters_with_expires_zero() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut reg = Registration::new(cfg(), t0);
        reg.on_tick(t0, &mut out);
        reg.on_response(
            &reply(&sent(&out), 200, &[("Expires", "600")]),
            t0,
            &mut out,
        );
        out.clear();
        reg.stop(t0, &mut out);
        assert_eq!(message::header(&sent(&out).headers, "Expires"), Some("0"));
        assert_eq!(reg.status(), &State::Unregistered);
    }
}
