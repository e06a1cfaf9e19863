//! Client-side measurement of the service on the VIP: a UDP echo service on each node and a
//! probe from the client that sends every 10 ms and records who answered.
//!
//! Both run as threads of the test process, with sockets opened inside the lab's namespaces
//! (a socket stays in the namespace it was created in), so no helper binary is needed.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The UDP port the echo service listens on.
pub const ECHO_PORT: u16 = 7007;

/// Runs `f` on a fresh thread that has entered network namespace `ns`.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
    .join()
    .expect("netns thread panicked")
}

/// A UDP socket bound inside namespace `ns`.
pub fn udp_socket_in(ns: &str, bind: SocketAddrV4) -> UdpSocket {
    in_netns(ns, move || {
        UdpSocket::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"))
    })
}

/// Answers every datagram with `<tag> <payload>`; stops when dropped.
pub struct EchoServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    pub fn start(ns: &str, tag: &str) -> Self {
        let socket = udp_socket_in(ns, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, ECHO_PORT));
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, tag) = (stop.clone(), tag.to_string());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let mut reply = tag.clone().into_bytes();
                    reply.push(b' ');
                    reply.extend_from_slice(&buf[..n]);
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One probe: when it was sent and who answered (if anyone).
#[derive(Debug, Clone)]
pub struct Sample {
    pub sent: Instant,
    pub answered_by: Option<String>,
}

/// Sends a numbered datagram to `target` every `interval` from namespace `ns`.
pub struct Probe {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Probe {
    pub fn start(ns: &str, target: Ipv4Addr, interval: Duration) -> Self {
        let socket = udp_socket_in(ns, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let to = SocketAddrV4::new(target, ECHO_PORT);
        let sender = {
            let (socket, samples, stop) =
                (socket.try_clone().unwrap(), samples.clone(), stop.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut seq: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    samples.lock().unwrap().push(Sample {
                        sent: Instant::now(),
                        answered_by: None,
                    });
                    // A send error (no route, no ARP answer yet) is just an unanswered probe.
                    let _ = socket.send_to(seq.to_string().as_bytes(), to);
                    seq += 1;
                    // Absolute schedule: probe n leaves at start + n × interval.
                    let next = start + interval * seq as u32;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            })
        };
        let receiver = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = socket.recv(&mut buf) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let Some((tag, seq)) = text.split_once(' ') else {
                        continue;
                    };
                    let Ok(seq) = seq.parse::<usize>() else {
                        continue;
                    };
                    if let Some(s) = samples.lock().unwrap().get_mut(seq) {
                        s.answered_by.get_or_insert_with(|| tag.to_string());
                    }
                }
            })
        };
        Self {
            samples,
            stop,
            threads: vec![sender, receiver],
        }
    }

    /// A copy of the samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }

    /// Who answered the most recent answered probe.
    pub fn last_answer(&self) -> Option<String> {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|s| s.answered_by.clone())
    }

    /// Waits until probes are answered by `tag` (recent ones, at least 3 in a row).
    pub fn wait_answered_by(&self, tag: &str, timeout: Duration) -> bool {
        crate::lab::wait_until(timeout, || {
            let s = self.samples.lock().unwrap();
            let answered: Vec<_> = s.iter().rev().skip(3).take(3).collect();
            answered.len() == 3
                && answered
                    .iter()
                    .all(|x| x.answered_by.as_deref() == Some(tag))
        })
        .is_some()
    }

    /// Who answered the last 20 probes, oldest first (`-` for none), for failure messages.
    pub fn recent(&self) -> String {
        let s = self.samples.lock().unwrap();
        s.iter()
            .rev()
            .take(20)
            .rev()
            .map(|x| x.answered_by.clone().unwrap_or_else(|| "-".into()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.samples()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The service outage around a fault at `fault`: from the last answered probe sent before
/// the first unanswered one at or after `fault`, to the first answered probe after it.
/// `None` if no probe after the fault went unanswered (no outage at probe resolution: 0).
pub fn outage(samples: &[Sample], fault: Instant) -> Option<Duration> {
    // Probes sent in the last 20 ms before the fault may have been lost to it as well.
    let from = samples
        .iter()
        .position(|s| s.sent + Duration::from_millis(20) >= fault)?;
    let first_lost = from
        + samples[from..]
            .iter()
            .position(|s| s.answered_by.is_none())?;
    let recovered = first_lost
        + samples[first_lost..]
            .iter()
            .position(|s| s.answered_by.is_some())?;
    let last_ok = samples[..first_lost]
        .iter()
        .rposition(|s| s.answered_by.is_some())?;
    Some(samples[recovered].sent - samples[last_ok].sent)
}

/// Probes that got no answer in `samples` after `after`, excluding the last `tail` ones
/// (still in flight).
pub fn unanswered_since(samples: &[Sample], after: Instant, tail: usize) -> usize {
    let end = samples.len().saturating_sub(tail);
    samples[..end]
        .iter()
        .filter(|s| s.sent >= after && s.answered_by.is_none())
        .count()
}

/// A plain HTTP/1.0 GET from namespace `ns` (a node's metrics port); the whole answer.
pub fn http_get(ns: &str, addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let path = path.to_owned();
    in_netns(ns, move || {
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .expect("connect to metrics");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body
    })
}
