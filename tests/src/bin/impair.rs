//! `impair`: loss and delay on a lab link, where `tc netem` is not available (this
//! machine's kernel is built without sch_netem). Packets the namespace's iptables rules
//! send to NFQUEUE `--queue` are dropped with probability `--loss` percent, the others
//! released `--delay-ms` later, in order. Runs until SIGTERM; the rules use
//! `--queue-bypass`, so traffic flows unimpaired once it is gone.
//!
//! usage: impair --queue N --loss PERCENT --delay-ms MS

use std::collections::VecDeque;
use std::time::{Duration, Instant};

fn arg(name: &str) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: impair --queue N --loss PERCENT --delay-ms MS");
            std::process::exit(2)
        })
}

fn main() -> std::io::Result<()> {
    let queue_num = arg("--queue") as u16;
    let loss = arg("--loss").min(100);
    let delay = Duration::from_millis(arg("--delay-ms"));
    let mut queue = nfq::Queue::open()?;
    queue.bind(queue_num)?;
    // Never block the link if we fall behind: accept what overflows.
    queue.set_fail_open(queue_num, true)?;
    queue.set_nonblocking(true);
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    // xorshift64: the loss pattern needs no quality beyond "about `loss` in 100".
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!(
        "impair: queue {queue_num}, {loss} % loss, {} ms delay",
        delay.as_millis()
    );
    loop {
        loop {
            match queue.recv() {
                Ok(mut msg) => {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x % 100 < loss {
                        msg.set_verdict(nfq::Verdict::Drop);
                        queue.verdict(msg)?;
                    } else {
                        held.push_back((Instant::now() + delay, msg));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            let (_, mut msg) = held.pop_front().expect("checked");
            msg.set_verdict(nfq::Verdict::Accept);
            queue.verdict(msg)?;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
