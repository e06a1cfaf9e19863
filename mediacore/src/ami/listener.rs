//! Driver: AMI's listeners as `manager.conf`'s `[general]` asks, at start and after every
//! change of the file: started when the file appears or says `enabled = yes`, moved when the
//! address, port or TLS settings change, stopped when the file goes or says `enabled = no`.
//! A change of users alone touches no listener and no session: each client follows the
//! users' watch (`Ami::users`).
//!
//! Why this matters: the appliance ships without a `manager.conf` (no AMI until an operator
//! wants one), and the operator writes it on the master, from where it is replicated. Both
//! nodes must then listen without a restart, or the backup would take over with no AMI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::context::Ami;
use super::server::{serve, tls_acceptor};
use super::users::{Tls, Users};

/// What the running listeners were bound from: a change of it means new listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bound {
    plain: SocketAddr,
    tls: Option<Tls>,
}

impl Bound {
    /// What `users` asks for; None: AMI off.
    fn of(users: Option<&Users>) -> Option<Self> {
        let users = users.filter(|u| u.enabled)?;
        Some(Self {
            plain: SocketAddr::new(users.bindaddr, users.port),
            tls: users.tls.clone(),
        })
    }
}

struct Running {
    bound: Bound,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// AMI's listeners and the users in force.
pub struct Listeners {
    ami: Arc<Ami>,
    running: Option<Running>,
    /// The media core's: stopping it stops every listener and session.
    cancel: CancellationToken,
}

/// How long stopped listeners get to tell their clients and let go of their ports.
const STOP_WAIT: Duration = Duration::from_secs(2);

impl Listeners {
    /// No listener yet: [`Self::apply`] starts what the file asks for.
    pub fn new(ami: Arc<Ami>, cancel: CancellationToken) -> Self {
        Self {
            ami,
            running: None,
            cancel,
        }
    }

    /// The AMI context the listeners serve (its users watch, for tests and status).
    pub fn ami(&self) -> &Arc<Ami> {
        &self.ami
    }

    /// Whether AMI is listening now.
    pub fn is_listening(&self) -> bool {
        self.running.is_some()
    }

    /// Puts a loaded `manager.conf` in force (None: there is no file, so AMI is off). The
    /// users are in force at once; the listeners are replaced only if their settings
    /// changed. An error (an address that cannot be bound, a TLS key that does not load)
    /// leaves AMI off until a later change loads, and says why.
    pub async fn apply(&mut self, users: Option<Users>) -> anyhow::Result<()> {
        let want = Bound::of(users.as_ref());
        let users = Arc::new(users.unwrap_or_else(Users::off));
        self.ami.users.send_replace(users.clone());
        if self.running.as_ref().map(|r| &r.bound) == want.as_ref() {
            return Ok(());
        }
        self.stop().await;
        let Some(bound) = want else {
            info!("ami off: no manager.conf, or enabled = no in it");
            return Ok(());
        };
        // Bound before anything is served, TLS included: a bad key is an error now, not a
        // silent plain-only AMI.
        let plain = tokio::net::TcpListener::bind(bound.plain)
            .await
            .with_context(|| format!("binding AMI on {}", bound.plain))?;
        let tls = match &bound.tls {
            Some(tls) => {
                let acceptor = tls_acceptor(tls)?;
                let listener = tokio::net::TcpListener::bind(tls.bind)
                    .await
                    .with_context(|| format!("binding AMI over TLS on {}", tls.bind))?;
                Some((listener, acceptor, tls.bind))
            }
            None => None,
        };
        let stop = self.cancel.child_token();
        let mut tasks = vec![tokio::spawn(serve(
            plain,
            None,
            self.ami.clone(),
            stop.clone(),
        ))];
        info!(bind = %bound.plain, users = users.users.len(), "ami listening");
        if let Some((listener, acceptor, at)) = tls {
            tasks.push(tokio::spawn(serve(
                listener,
                Some(acceptor),
                self.ami.clone(),
                stop.clone(),
            )));
            info!(bind = %at, "ami listening over tls");
        }
        self.running = Some(Running { bound, stop, tasks });
        Ok(())
    }

    /// Stops the listeners and their sessions (each client is sent a Shutdown event).
    pub async fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.cancel();
        for task in running.tasks {
            let _ = tokio::time::timeout(STOP_WAIT, task).await;
        }
        info!(bind = %running.bound.plain, "ami listener stopped");
    }
}
