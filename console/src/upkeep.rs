//! Driver: what the console keeps current in the background.
//!
//! - On becoming master: the database's tables (the media core may not have made them yet
//!   on a new pair), a session-signing key if there is none, and, unless the administrator
//!   gave certificate files, the pair's certificate if there is none. All through the
//!   store, so they replicate to the backup.
//! - On every node, every `REFRESH`: the replicated certificate, served from the next
//!   handshake when it differs from the one in force (a backup that started before the
//!   master's certificate reached it).

use std::sync::Arc;
use std::time::Duration;

use component::contract::Role;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::db::Db;
use crate::tls::{self, Certificates};

const REFRESH: Duration = Duration::from_secs(2);

/// The names the pair's certificate carries: the VIP, both nodes' data addresses, and
/// `allerta` (for a DNS name the site may give the VIP).
fn certificate_names(config: &Config) -> (Vec<String>, Vec<std::net::IpAddr>) {
    let mut ips: Vec<std::net::IpAddr> = config.vip.into_iter().collect();
    for status in [config.local_status, config.peer_status]
        .into_iter()
        .flatten()
    {
        if !ips.contains(&status.ip()) {
            ips.push(status.ip());
        }
    }
    (vec!["allerta".to_owned()], ips)
}

/// Makes what a master needs; returns the certificate now in the database.
async fn become_master(
    db: &Db,
    config: &Config,
) -> anyhow::Result<Option<alertdb::console::CertificatePem>> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| anyhow::anyhow!("no system randomness for the session key"))?;
    let fresh = if config.tls.is_none() {
        let (names, ips) = certificate_names(config);
        Some(tls::generate(&names, &ips)?)
    } else {
        None
    };
    let cert = db
        .run(move |s| {
            s.migrate()?;
            s.ensure_console_key(&key)?;
            match fresh {
                Some(pem) => Ok(Some(s.ensure_console_certificate(&pem)?)),
                None => Ok(None),
            }
        })
        .await?;
    Ok(cert)
}

pub async fn run(
    db: Db,
    config: Config,
    certificates: Arc<Certificates>,
    mut role: watch::Receiver<Role>,
    cancel: CancellationToken,
) {
    let mut ticker = tokio::time::interval(REFRESH);
    let mut prepared = false;
    loop {
        let master = *role.borrow_and_update() == Role::Master;
        if master && !prepared {
            match become_master(&db, &config).await {
                Ok(cert) => {
                    prepared = true;
                    if let Some(cert) = cert {
                        match certificates.replace(&cert) {
                            Ok(true) => info!("serving the pair's console certificate"),
                            Ok(false) => {}
                            Err(e) => warn!(error = %e, "the pair's console certificate"),
                        }
                    }
                    info!("master: session key and certificate in place");
                }
                Err(e) => warn!(error = %e, "preparing the console as master; retrying"),
            }
        }
        if !master {
            prepared = false;
        }
        if config.tls.is_none() {
            match db.read(|s| s.console_certificate()).await {
                Ok(Some(cert)) => match certificates.replace(&cert) {
                    Ok(true) => info!("serving the pair's console certificate"),
                    Ok(false) => {}
                    Err(e) => warn!(error = %e, "the replicated console certificate is unusable"),
                },
                Ok(None) => {}
                // A backup before the first replication has no tables yet: nothing to read.
                Err(_) => {}
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
            changed = role.changed() => if changed.is_err() { return },
        }
    }
}
