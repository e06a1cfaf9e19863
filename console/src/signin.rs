//! Driver: checking an operator's password without letting a guesser starve the node.
//!
//! - A name, or an address, that failed `lockout_failures` times is refused for
//!   `lockout_window` without a password check (fail2ban's rule, `component::lockout`).
//!   Kept in memory: a takeover starts the count again, which costs a guesser a failover
//!   per few guesses.
//! - argon2id takes 19 MiB and tens of milliseconds: at most two checks run at once, on two
//!   threads of their own, so a flood of sign-ins queues here and never delays the dialling
//!   node's other work (nor grows the console's memory); a sign-in that waits too long is
//!   told to try again.
//! - An unknown name costs the same check as a known one (against a fixed hash), so the
//!   answer's timing does not say which names exist.

use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use alertdb::console::Operator;
use component::lockout::Lockout;
use tokio::sync::Semaphore;

/// How many names and addresses the lockout remembers.
const REMEMBERED: usize = 10_000;
/// Password checks at once.
const CHECKS_AT_ONCE: usize = 2;
/// A sign-in waits this long at most for a turn.
const WAIT_FOR_TURN: Duration = Duration::from_secs(5);

pub struct SignIn {
    by_name: Mutex<Lockout<String>>,
    by_address: Mutex<Lockout<IpAddr>>,
    checks: Semaphore,
    /// The threads that run argon2 (see [`Checkers`]).
    checkers: Checkers,
}

type Job = Box<dyn FnOnce() + Send>;

/// Two threads of their own for argon2, rather than tokio's blocking pool: argon2 takes
/// 19 MiB, which glibc keeps in the allocating thread's arena after the first few times,
/// so checks spread over eight pool threads held about 150 MiB; two threads hold 40.
struct Checkers {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Checkers {
    fn start() -> Self {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..CHECKS_AT_ONCE {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the console is stopping
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-checking thread");
            }
        }
        Self { jobs }
    }

    /// Whether `password` matches `hash`, checked on one of the threads.
    async fn verify(&self, password: String, hash: String) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(alertdb::password::verify(&password, &hash));
        });
        if self.jobs.send(job).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

/// How a sign-in went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted(Operator),
    /// Wrong name or password (the page does not say which).
    Refused,
    /// Right password, but the operator is disabled.
    Disabled,
    /// Too many failures from this name or address: wait.
    LockedOut,
    /// Too many sign-ins at once.
    Busy,
}

impl SignIn {
    pub fn new(failures: u32, window: Duration) -> Self {
        Self {
            by_name: Mutex::new(Lockout::new(failures, window, REMEMBERED)),
            by_address: Mutex::new(Lockout::new(failures * 4, window, REMEMBERED)),
            checks: Semaphore::new(CHECKS_AT_ONCE),
            checkers: Checkers::start(),
        }
    }

    fn locked(&self, name: &str, addr: IpAddr) -> bool {
        let now = Instant::now();
        let name_locked = self
            .by_name
            .lock()
            .is_ok_and(|l| l.is_locked(now, &name.to_owned()));
        name_locked
            || self
                .by_address
                .lock()
                .is_ok_and(|l| l.is_locked(now, &addr))
    }

    /// Checks `password` for `operator` (None: no such name) from `addr`.
    pub async fn check(
        &self,
        name: &str,
        password: String,
        operator: Option<Operator>,
        addr: IpAddr,
    ) -> Verdict {
        if self.locked(name, addr) {
            return Verdict::LockedOut;
        }
        let Ok(Ok(_turn)) = tokio::time::timeout(WAIT_FOR_TURN, self.checks.acquire()).await else {
            return Verdict::Busy;
        };
        let hash = operator
            .as_ref()
            .map(|o| o.password_hash.clone())
            .unwrap_or_else(|| unknown_name_hash().to_owned());
        let matched = self.checkers.verify(password, hash).await;
        let now = Instant::now();
        match operator {
            Some(o) if matched => {
                if let Ok(mut l) = self.by_name.lock() {
                    l.succeeded(&name.to_owned());
                }
                if o.disabled {
                    Verdict::Disabled
                } else {
                    Verdict::Accepted(o)
                }
            }
            _ => {
                if let Ok(mut l) = self.by_name.lock() {
                    l.failed(now, &name.to_owned());
                }
                if let Ok(mut l) = self.by_address.lock() {
                    l.failed(now, &addr);
                }
                Verdict::Refused
            }
        }
    }
}

/// A hash no password matches in practice, checked for names that do not exist.
fn unknown_name_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        alertdb::password::hash("no operator has this name: the timing stays the same")
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anna(password: &str) -> Operator {
        Operator {
            id: 1,
            name: "anna".into(),
            role: "operator".into(),
            password_hash: alertdb::password::hash(password).unwrap(),
            disabled: false,
            session_epoch: 0,
        }
    }

    #[tokio::test]
    async fn repeated_failures_lock_the_name_out_even_with_the_right_password() {
        let s = SignIn::new(3, Duration::from_secs(60));
        let addr: IpAddr = "10.77.0.50".parse().unwrap();
        let op = anna("giusta");
        assert!(matches!(
            s.check("anna", "giusta".into(), Some(op.clone()), addr)
                .await,
            Verdict::Accepted(_)
        ));
        for _ in 0..3 {
            assert_eq!(
                s.check("anna", "sbagliata".into(), Some(op.clone()), addr)
                    .await,
                Verdict::Refused
            );
        }
        assert_eq!(
            s.check("anna", "giusta".into(), Some(op.clone()), addr)
                .await,
            Verdict::LockedOut
        );
        // Another name from the same address still gets its checks (4x the limit).
        assert_eq!(
            s.check("bruno", "x".into(), None, addr).await,
            Verdict::Refused
        );
        let mut off = op;
        off.disabled = true;
        let other: IpAddr = "10.77.0.51".parse().unwrap();
        let s = SignIn::new(3, Duration::from_secs(60));
        assert_eq!(
            s.check("anna", "giusta".into(), Some(off), other).await,
            Verdict::Disabled
        );
    }
}
