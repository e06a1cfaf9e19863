//! A plain AMI client for the lab's protocol tests and the AMI benchmark: raw bytes out,
//! messages in, no library in between, so the tests see exactly what goes on the wire.
//! The connection is made inside a namespace and then used from any thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::probe::in_netns;

/// One message as received: its `Key: Value` pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Msg(pub Vec<(String, String)>);

impl Msg {
    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is the event `name`.
    pub fn is_event(&self, name: &str) -> bool {
        self.get("Event") == Some(name)
    }

    /// The keys in order.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// A connected client.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The banner line, once read.
    pub banner: Option<String>,
}

impl Client {
    /// Connects from namespace `ns` to `to`; reads nothing yet.
    pub fn connect(ns: &str, to: SocketAddr) -> Self {
        let stream = in_netns(ns, move || {
            TcpStream::connect_timeout(&to, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("ami connect {to}: {e}"))
        });
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: Vec::new(),
            banner: None,
        }
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("ami write");
    }

    /// Sends an action built from `fields` (CRLF, blank line at the end).
    pub fn send(&mut self, fields: &[(&str, &str)]) {
        let mut text = String::new();
        for (k, v) in fields {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        self.send_raw(text.as_bytes());
    }

    /// Reads until `timeout`; `None` on timeout, `Some(None)` when the server closed.
    fn fill(&mut self, deadline: Instant) -> Option<Option<()>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        self.stream.set_read_timeout(Some(left)).expect("timeout");
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Some(None),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Some(Some(()))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(_) => Some(None),
        }
    }

    /// The next message, or `None` if none came within `timeout` or the server closed.
    pub fn next(&mut self, timeout: Duration) -> Option<Msg> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.banner.is_none() {
                if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=end).collect();
                    self.banner = Some(String::from_utf8_lossy(&line).trim_end().to_owned());
                    continue;
                }
            } else if let Some(msg) = self.take_message() {
                return Some(msg);
            }
            match self.fill(deadline) {
                Some(Some(())) => {}
                _ => return None,
            }
        }
    }

    fn take_message(&mut self) -> Option<Msg> {
        // Skip blank lines between messages, then find the blank line that ends one.
        while self.buf.starts_with(b"\r\n") || self.buf.starts_with(b"\n") {
            let n = if self.buf[0] == b'\r' { 2 } else { 1 };
            self.buf.drain(..n);
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let end = text.find("\r\n\r\n").map(|i| (i, 4));
        let (at, len) = end?;
        let msg = Msg(text[..at]
            .split("\r\n")
            .filter_map(|line| {
                let (k, v) = line.split_once(':')?;
                Some((k.trim().to_owned(), v.trim_start().to_owned()))
            })
            .collect());
        self.buf.drain(..text[..at + len].len());
        Some(msg)
    }

    /// Whether the server closed the connection within `timeout` (messages before the
    /// close are dropped).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline) {
                Some(None) => return true,
                Some(Some(())) => self.buf.clear(),
                None => return false,
            }
        }
    }

    /// Sends an action with `ActionID: id` and returns the response that carries it;
    /// events before it are returned too, in order.
    pub fn action(&mut self, id: &str, fields: &[(&str, &str)]) -> (Msg, Vec<Msg>) {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("ActionID", id));
        self.send(&all);
        let mut before = Vec::new();
        loop {
            let msg = self
                .next(Duration::from_secs(10))
                .unwrap_or_else(|| panic!("no response to {fields:?} (id {id}); saw {before:?}"));
            if msg.get("Response").is_some() && msg.get("ActionID") == Some(id) {
                return (msg, before);
            }
            before.push(msg);
        }
    }

    /// Logs in with a plain secret; panics unless accepted.
    pub fn login(&mut self, user: &str, secret: &str) {
        self.login_with_events(user, secret, "on");
    }

    /// Logs in asking for these events (`on`, `off`, `call,system`…).
    pub fn login_with_events(&mut self, user: &str, secret: &str, events: &str) {
        let (r, _) = self.action(
            "login",
            &[
                ("Action", "Login"),
                ("Username", user),
                ("Secret", secret),
                ("Events", events),
            ],
        );
        assert_eq!(r.get("Response"), Some("Success"), "login {user}: {r:?}");
    }

    /// Reads messages until one matches `pred` (returned with those skipped before it).
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Msg) -> bool,
    ) -> Option<(Msg, Vec<Msg>)> {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.next(left)?;
            if pred(&msg) {
                return Some((msg, skipped));
            }
            skipped.push(msg);
        }
    }
}

/// Whether `user` can log in to the AMI at `to`, connecting from namespace `ns`.
pub fn logs_in(ns: &str, to: SocketAddr, user: &str, secret: &str) -> bool {
    let mut c = Client::connect(ns, to);
    let (r, _) = c.action(
        "login",
        &[
            ("Action", "Login"),
            ("Username", user),
            ("Secret", secret),
            ("Events", "off"),
        ],
    );
    r.get("Response") == Some("Success")
}

/// Tries a Login at `to` from namespace `ns`: Some(accepted), or None when nothing answers
/// there (no listener, no route): for waits where "refused" and "not running" differ.
pub fn login_outcome(ns: &str, to: SocketAddr, user: &str, secret: &str) -> Option<bool> {
    login_outcome_from(ns, None, to, user, secret)
}

/// Addresses the client namespace may add to log in from (10.77.0.150–165), so that
/// [`first_login`]'s tries are not refused as too many waiting from one address.
pub fn extra_client_ips() -> Vec<std::net::Ipv4Addr> {
    (150..166)
        .map(|last| std::net::Ipv4Addr::new(10, 77, 0, last))
        .collect()
}

/// When a login with `user` first succeeds at `to`: a try every `every` until `timeout`,
/// each on its own connection from the next of `from` (addresses of namespace `ns`),
/// without waiting for the tries before it. A failed login is answered only a second
/// later (as Asterisk 22 does), so waiting for each answer would measure that second and
/// not when the user came into force. Returns the instant the first successful try began.
pub fn first_login(
    ns: &str,
    from: &[std::net::Ipv4Addr],
    to: SocketAddr,
    user: &str,
    secret: &str,
    every: Duration,
    timeout: Duration,
) -> Option<std::time::Instant> {
    use std::time::Instant;
    let (tx, rx) = std::sync::mpsc::channel();
    let deadline = Instant::now() + timeout;
    let mut k = 0;
    while Instant::now() < deadline {
        let began = Instant::now();
        let (ns, src, user, secret, tx) = (
            ns.to_owned(),
            from[k % from.len()],
            user.to_owned(),
            secret.to_owned(),
            tx.clone(),
        );
        std::thread::spawn(move || {
            if login_outcome_from(&ns, Some(src), to, &user, &secret) == Some(true) {
                let _ = tx.send(began);
            }
        });
        k += 1;
        if let Ok(first) = rx.recv_timeout(every) {
            // A try that began earlier may answer a moment later: take the earliest.
            std::thread::sleep(Duration::from_millis(50));
            return Some(rx.try_iter().fold(first, Instant::min));
        }
    }
    None
}

fn login_outcome_from(
    ns: &str,
    src: Option<std::net::Ipv4Addr>,
    to: SocketAddr,
    user: &str,
    secret: &str,
) -> Option<bool> {
    use std::io::{BufRead, BufReader};
    let (user, secret) = (user.to_owned(), secret.to_owned());
    in_netns(ns, move || {
        let stream = match src {
            None => TcpStream::connect_timeout(&to, Duration::from_secs(2)).ok()?,
            Some(ip) => {
                use socket2::{Domain, Socket, Type};
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
                s.bind(&SocketAddr::from((ip, 0)).into()).ok()?;
                s.connect_timeout(&to.into(), Duration::from_secs(2)).ok()?;
                TcpStream::from(s)
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?; // the banner
        (&stream)
            .write_all(
                format!(
                    "Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: off\r\n\r\n"
                )
                .as_bytes(),
            )
            .ok()?;
        let mut response = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
                break;
            }
            response.push_str(&line);
        }
        Some(response.contains("Response: Success"))
    })
}
