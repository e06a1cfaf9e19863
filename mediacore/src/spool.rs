//! Driver: the outgoing call spool, Asterisk's `/var/spool/asterisk/outgoing` for us.
//!
//! An application writes a call file elsewhere and moves it into `outgoing_dir` (a rename,
//! so we never read half a file; a file whose modification time is in the future waits
//! for it, as in Asterisk). We poll the directory every 250 ms, take each ready file out
//! of it, place the call with retries, and, when the file asks for `Archive: yes`, leave a
//! copy with `Status: Completed|Failed|Expired` in `outgoing_done`. A file that does not
//! parse goes to `outgoing_done` at once with `Status: Invalid` and the reason, so it is
//! never lost and never retried forever.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::call::shared::Shared;
use crate::callfile::CallFile;
use crate::dialplan::exec::DialStatus;
use crate::originate::{self, Dialled, Originate, Then};

/// Watches `dir` until `cancel`; finished files go to `done`.
pub async fn run(dir: PathBuf, done: PathBuf, shared: Arc<Shared>, cancel: CancellationToken) {
    if let Err(error) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::create_dir_all(&done))
    {
        warn!(dir = %dir.display(), %error, "call spool unavailable");
        return;
    }
    info!(dir = %dir.display(), "call spool watching");
    let mut calls = JoinSet::new();
    loop {
        for path in ready_files(&dir) {
            let text = std::fs::read_to_string(&path);
            let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
            let _ = std::fs::remove_file(&path);
            let text = match text {
                Ok(t) => t,
                Err(error) => {
                    warn!(path = %path.display(), %error, "unreadable call file");
                    continue;
                }
            };
            match CallFile::parse(&text) {
                Ok(file) => {
                    info!(file = ?name, number = %file.number, trunk = %file.trunk, "call file");
                    calls.spawn(place(file, text, done.join(&name), shared.clone()));
                }
                Err(error) => {
                    warn!(file = ?name, %error, "invalid call file");
                    let _ = std::fs::write(
                        done.join(&name),
                        format!("{text}\nStatus: Invalid\nReason: {error}\n"),
                    );
                }
            }
        }
        while calls.try_join_next().is_some() {}
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    calls.abort_all();
}

fn ready_files(dir: &Path) -> Vec<PathBuf> {
    let now = SystemTime::now();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| m <= now)
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

async fn place(file: CallFile, text: String, done: PathBuf, shared: Arc<Shared>) {
    let request = Originate {
        dialled: Dialled::Trunk {
            trunk: file.trunk.clone(),
            number: file.number.clone(),
        },
        then: Then::Dialplan {
            context: file.context.clone(),
            exten: file.exten.clone(),
            priority: 1,
        },
        ring_timeout: file.wait,
        vars: file.vars.clone(),
    };
    let mut attempts = 0;
    let status = loop {
        attempts += 1;
        let status = originate::originate(request.clone(), shared.clone()).await;
        if status == DialStatus::Answer {
            break "Completed";
        }
        if attempts > file.max_retries {
            break if file.max_retries > 0 {
                "Expired"
            } else {
                "Failed"
            };
        }
        info!(number = %file.number, status = status.as_str(), attempt = attempts, "retrying later");
        tokio::time::sleep(file.retry_time).await;
    };
    info!(number = %file.number, status, attempts, "call file done");
    if file.archive {
        let _ = std::fs::write(
            &done,
            format!("{text}\nStartRetry: {attempts}\nStatus: {status}\n"),
        );
    }
}
