//! Driver: the supervisor's side of the control contract: one connection per component,
//! re-opened after any failure, every exchange bounded by a timeout.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::contract::{ContractError, Request, Response};

/// Why an exchange with a component failed (its probe fails with this reason).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("connecting to {}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sending")]
    Send(#[source] std::io::Error),
    #[error("reading")]
    Read(#[source] std::io::Error),
    #[error("connection closed")]
    Closed,
    #[error("no answer in {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error(transparent)]
    Answer(#[from] ContractError),
}

pub struct ControlClient {
    path: PathBuf,
    conn: Option<(BufReader<OwnedReadHalf>, OwnedWriteHalf)>,
}

impl ControlClient {
    pub fn new(path: PathBuf) -> Self {
        Self { path, conn: None }
    }

    /// Sends `request` and waits at most `timeout` for the answer. Any failure drops the
    /// connection, so the next call starts clean (a late answer cannot be mistaken for the
    /// next one's).
    pub async fn call(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let result = tokio::time::timeout(timeout, self.exchange(request)).await;
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                Err(CallError::Timeout(timeout))
            }
        }
    }

    async fn exchange(&mut self, request: &Request) -> Result<Response, CallError> {
        if self.conn.is_none() {
            let stream =
                UnixStream::connect(&self.path)
                    .await
                    .map_err(|source| CallError::Connect {
                        path: self.path.clone(),
                        source,
                    })?;
            let (rd, wr) = stream.into_split();
            self.conn = Some((BufReader::new(rd), wr));
        }
        let (rd, wr) = self.conn.as_mut().expect("connected above");
        wr.write_all(request.encode().as_bytes())
            .await
            .map_err(CallError::Send)?;
        let mut line = String::new();
        match rd.read_line(&mut line).await {
            Ok(0) => Err(CallError::Closed),
            Ok(_) => Ok(Response::decode(&line)?),
            Err(e) => Err(CallError::Read(e)),
        }
    }
}
