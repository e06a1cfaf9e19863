//! Driver: a node's status document over plain HTTP (`GET /status` from a supervisor's
//! metrics address), read whole up to a size and within a time: what the peer's
//! supervisor asks before a switchover and what the web console shows.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of an answer read (a status is a few kilobytes).
pub const MAX_ANSWER: u64 = 1 << 20;

/// The body of `GET /status` at `addr`, or why there is none.
pub async fn status_body(addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    let fetch = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream
            .write_all(b"GET /status HTTP/1.0\r\nHost: allerta\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&answer);
        let (_, body) = text.split_once("\r\n\r\n").ok_or("no HTTP body")?;
        Ok(body.to_owned())
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| format!("{addr} did not answer in {} ms", timeout.as_millis()))?
}
