//! Driver: probes the service the way an application finds it (a TCP connection to the
//! service address, normally AMI on the VIP, and its banner line), feeds the results to
//! the `Monitor` and appends the records it returns to the ledger. One task, one probe at a
//! time; the ledger writes go through `spawn_blocking`, so neither the supervisor's loop
//! nor the VRRP threads ever wait for it.
//!
//! A refused or timed-out connection, a connection closed before the banner and a wrong
//! banner are all failed probes. A stopped (SIGSTOP) media core still has its connections
//! accepted by the kernel, but sends no banner: down, as its clients see it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use component::localtime::now_ms;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::ledger::Record;
use super::monitor::Monitor;
use super::store;
use crate::config::AvailabilityConfig;
use crate::control::protocol::{AvailabilityStatus, SlaMonth};

/// The longest banner line read.
const MAX_BANNER: usize = 256;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("connect")]
    Connect(#[source] std::io::Error),
    #[error("reading the banner")]
    Read(#[source] std::io::Error),
    #[error("closed before the banner")]
    Closed,
    #[error("banner {got:?} does not start with {want:?}")]
    Banner { got: String, want: String },
    #[error("no answer within {ms} ms")]
    Timeout { ms: u128 },
}

impl ProbeError {
    /// The text the ledger keeps: the error and its cause on one line.
    fn line(&self) -> String {
        match std::error::Error::source(self) {
            Some(cause) => format!("{self}: {cause}"),
            None => self.to_string(),
        }
    }
}

/// One probe: connect, then read the first line unless `banner` is empty.
pub async fn probe(service: SocketAddr, banner: &str, timeout: Duration) -> Result<(), ProbeError> {
    let attempt = async {
        let mut stream = TcpStream::connect(service)
            .await
            .map_err(ProbeError::Connect)?;
        if banner.is_empty() {
            return Ok(());
        }
        let mut line = Vec::with_capacity(64);
        let mut buf = [0u8; 128];
        while !line.contains(&b'\n') && line.len() < MAX_BANNER {
            let n = stream.read(&mut buf).await.map_err(ProbeError::Read)?;
            if n == 0 {
                return Err(ProbeError::Closed);
            }
            line.extend_from_slice(&buf[..n]);
        }
        if line.starts_with(banner.as_bytes()) {
            Ok(())
        } else {
            let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
            Err(ProbeError::Banner {
                got: String::from_utf8_lossy(&line[..end]).trim_end().to_string(),
                want: banner.into(),
            })
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(ProbeError::Timeout {
            ms: timeout.as_millis(),
        }))
}

/// Probes until `cancel`, keeping the ledger and `status_tx` up to date. At start, it closes
/// an outage a previous run left open; at the end, the one in progress (at its last failed
/// probe: what comes after is not watched).
#[tracing::instrument(name = "availability", skip_all, fields(service = %cfg.service))]
pub async fn run(
    cfg: AvailabilityConfig,
    status_tx: watch::Sender<AvailabilityStatus>,
    cancel: CancellationToken,
) {
    let path = cfg.ledger.clone();
    let recovered = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || store::recover(&path)).await
    };
    match recovered {
        Ok(Ok(r)) => {
            if let Some(bytes) = r.torn_bytes {
                warn!(path = %path.display(), bytes, "ledger: cut a torn last line (a crash mid-write)");
            }
            if let Some(Record::Close { at_ms, open_ms, .. }) = r.closed {
                warn!(path = %path.display(), open_ms, closed_ms = at_ms, "ledger: closed the outage the previous run left open, at its last sighting");
            }
        }
        Ok(Err(e)) => {
            error!(
                error = &e as &dyn std::error::Error,
                "ledger unreadable: a dangling outage stays open; fix or move the file"
            )
        }
        Err(e) => error!(error = %e, "ledger recovery task failed"),
    }
    info!(ledger = %path.display(), interval_ms = cfg.interval.as_millis() as u64, "probing the service");
    let mut monitor = Monitor::new();
    let mut records = Vec::new();
    // The month's figures: at start, every minute, and when an outage opens or closes.
    let mut month_due = std::time::Instant::now();
    let mut tick = tokio::time::interval(cfg.interval);
    // A slow probe (up to its timeout) delays the next one: one probe at a time.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        let started_ms = now_ms();
        let result = tokio::select! {
            _ = cancel.cancelled() => break,
            result = probe(cfg.service, &cfg.banner, cfg.timeout) => result,
        };
        let error = result.as_ref().err().map(ProbeError::line);
        // A failure counts from the probe's start, an answer from its arrival (monitor.rs).
        let at_ms = if error.is_some() {
            started_ms
        } else {
            now_ms()
        };
        monitor.on_probe(at_ms, error.clone().map_or(Ok(()), Err), &mut records);
        for record in records.drain(..) {
            match &record {
                Record::Open { error, .. } => {
                    warn!(
                        error = error.as_deref().unwrap_or(""),
                        "service down: outage opened"
                    )
                }
                Record::Close { at_ms, open_ms, .. } => {
                    info!(
                        down_ms = at_ms - open_ms,
                        "service answering again: outage closed"
                    )
                }
                Record::StillDown { .. } => {}
            }
            if !matches!(record, Record::StillDown { .. }) {
                month_due = std::time::Instant::now();
            }
            write(&path, record).await;
        }
        if std::time::Instant::now() >= month_due {
            month_due = std::time::Instant::now() + MONTH_EVERY;
            let (month, error) = this_month(&cfg).await;
            status_tx.send_modify(|s| {
                s.month = month;
                s.sla_error = error;
            });
        }
        status_tx.send_modify(|s| {
            s.last_probe_ms = Some(started_ms);
            s.up = Some(error.is_none());
            s.last_error = error;
            s.down_since_ms = monitor.down_since_ms();
        });
    }
    monitor.stop(&mut records);
    for record in records {
        write(&path, record).await;
    }
}

/// How often the month's figures are computed again without an outage changing.
const MONTH_EVERY: Duration = Duration::from_secs(60);

/// This month's figures from the files, off the task's thread.
async fn this_month(cfg: &AvailabilityConfig) -> (Option<SlaMonth>, Option<String>) {
    let cfg = cfg.clone();
    let done = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let (year, month) = store::this_month(now);
        store::month_report(&cfg, year, month, now)
    })
    .await;
    match done {
        Ok(Ok((report, _, _))) => (
            Some(SlaMonth {
                month: report.month,
                outages: report.outages.len(),
                service_times: report.service_times,
            }),
            None,
        ),
        Ok(Err(e)) => (None, Some(component::error::chain(&e))),
        Err(e) => (None, Some(e.to_string())),
    }
}

async fn write(path: &Path, record: Record) {
    let owned: PathBuf = path.into();
    let done = tokio::task::spawn_blocking(move || store::append(&owned, &record)).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!(
            error = &e as &dyn std::error::Error,
            "cannot write the availability ledger"
        ),
        Err(e) => error!(error = %e, "availability ledger task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn a_probe_wants_the_banner_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            // 1: the right banner; 2: another one; 3: silence (a stopped process).
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"Asterisk Call Manager/11.0.0\r\n")
                .await
                .unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"SSH-2.0-OpenSSH\r\n").await.unwrap();
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            drop(s);
        });
        let banner = "Asterisk Call Manager/";
        let t = Duration::from_millis(200);
        assert!(probe(addr, banner, t).await.is_ok());
        let e = probe(addr, banner, t).await.unwrap_err();
        assert!(
            matches!(&e, ProbeError::Banner { got, .. } if got == "SSH-2.0-OpenSSH"),
            "{e}"
        );
        let e = probe(addr, banner, t).await.unwrap_err();
        assert_eq!(e.line(), "no answer within 200 ms");
        server.await.unwrap();
        // Nobody listening any more.
        let e = probe(addr, "", t).await.unwrap_err();
        assert!(e.line().starts_with("connect: "), "{}", e.line());
    }
}
