//! `console-bench`: the web console under its operators' load, on the shipped pair in the
//! lab's namespaces (root).
//!
//! ```text
//! console-bench [--browsers 20] [--recipients 2000] [--lines 100]
//! ```
//! A campaign to `--recipients` sipp citizens runs on node A while `--browsers` clients in
//! the client namespace, each signed in with a session of its own, keep the campaign's live
//! stream open (as its page does) through the VIP and load a page every 2 s (the campaign
//! page, and the status page every fifth time), over a kept-alive HTTPS connection as a
//! browser does. Printed beside the issue's targets:
//! - page: from the request's first byte sent to the last byte of the answer, p50/p99/max
//!   (target p99 < 100 ms), and of that the console's own time (its `Server-Timing`);
//! - progress: for every write to the campaign's ledger (an attempt's start or end, with
//!   the time the store wrote it, read from the database afterwards), the time until each
//!   client received the first progress event that includes it, p50/p99/max (target
//!   p99 < 1 s);
//! - the console's CPU and memory over the run.
//!
//! Difference from browsers: the clients are Rust threads speaking HTTP/1.1 (the page
//! loads) and HTTP/1.0 (the stream, so it needs no chunked decoding) over rustls, not
//! Chromium: what is measured is the console's side, which is the same for both; the
//! lab's Chromium test (`console_lab`) checks the page's own handling of the stream.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use system_tests::appliance::{Appliance, Setup};
use system_tests::bench::{arg, cpu_ticks, ms, percentile, rss_bytes, ticks_per_sec};
use system_tests::campaign::Citizen;
use system_tests::lab::{Node, VIP};
use system_tests::probe::in_netns;

const PASSWORD: &str = "password del banco di prova";

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A TLS connection to the console on the VIP, opened inside the client namespace.
fn connect(ns: &str, tls: &Arc<ClientConfig>) -> Tls {
    try_connect(ns, tls).expect("connecting to the console")
}

fn try_connect(ns: &str, tls: &Arc<ClientConfig>) -> std::io::Result<Tls> {
    let addr = SocketAddr::from((VIP, 443));
    let tcp = in_netns(ns, move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })?;
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let conn = ClientConnection::new(tls.clone(), ServerName::try_from("allerta").unwrap())
        .map_err(std::io::Error::other)?;
    Ok(StreamOwned::new(conn, tcp))
}

/// Reads one HTTP/1.1 answer with a Content-Length; (status, headers, body).
fn read_answer(stream: &mut BufReader<Tls>) -> (u16, String, Vec<u8>) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("an answer's body");
    (status, head, body)
}

/// Signs in; the session cookie.
fn sign_in(ns: &str, tls: &Arc<ClientConfig>) -> String {
    let mut s = BufReader::new(connect(ns, tls));
    let body = format!("name=bench&password={}", PASSWORD.replace(' ', "+"));
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: allerta\r\nOrigin: https://allerta\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.get_mut().write_all(req.as_bytes()).unwrap();
    let (status, head, _) = read_answer(&mut s);
    assert_eq!(status, 303, "sign-in: {head}");
    head.lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// What one client saw: progress events (received at, ledger written at), page times.
#[derive(Default)]
struct Seen {
    events: Vec<(i64, i64)>,
    pages: Vec<Duration>,
    /// The console's own time for each page (its `Server-Timing` header).
    server: Vec<Duration>,
    failed_pages: u64,
    /// Live streams opened (1 unless one broke).
    streams: u64,
}

/// Keeps the campaign's live stream open until `stop`, noting each progress event.
fn stream(
    ns: String,
    tls: Arc<ClientConfig>,
    cookie: String,
    id: i64,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(conn) = try_connect(&ns, &tls) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        seen.lock().unwrap().streams += 1;
        let mut s = BufReader::new(conn);
        let req = format!(
            "GET /live/campaigns/{id} HTTP/1.0\r\nHost: allerta\r\nCookie: {cookie}\r\n\
             Accept: text/event-stream\r\n\r\n"
        );
        if s.get_mut().write_all(req.as_bytes()).is_err() {
            continue;
        }
        let (mut event, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            match s.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if event == "progress" {
                    let written = data
                        .split("data-written=\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .and_then(|w| w.parse::<i64>().ok());
                    if let Some(w) = written {
                        seen.lock().unwrap().events.push((now_ms(), w));
                    }
                }
                event.clear();
                data.clear();
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            } else if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            }
        }
    }
}

/// Loads a page every 2 s over one kept-alive connection until `stop`.
fn pages(
    ns: String,
    tls: Arc<ClientConfig>,
    cookie: String,
    id: i64,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut s = BufReader::new(connect(&ns, &tls));
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let path = if n.is_multiple_of(5) {
            "/".to_owned()
        } else {
            format!("/campaigns/{id}")
        };
        let req = format!("GET {path} HTTP/1.1\r\nHost: allerta\r\nCookie: {cookie}\r\n\r\n");
        let start = Instant::now();
        let mut server = None;
        let ok = s.get_mut().write_all(req.as_bytes()).is_ok() && {
            let (status, head, body) = read_answer(&mut s);
            server = head.lines().find_map(|l| {
                let v = l.strip_prefix("server-timing: app;dur=")?;
                Some(Duration::from_secs_f64(
                    v.trim().parse::<f64>().ok()? / 1000.0,
                ))
            });
            status == 200 && !body.is_empty()
        };
        let took = start.elapsed();
        {
            let mut seen = seen.lock().unwrap();
            if ok {
                seen.pages.push(took);
                seen.server.extend(server);
            } else {
                seen.failed_pages += 1;
            }
        }
        if !ok {
            s = BufReader::new(connect(&ns, &tls));
        }
        std::thread::sleep(Duration::from_secs(2).saturating_sub(took));
    }
}

fn main() {
    let browsers = arg("--browsers", 20) as usize;
    let recipients = arg("--recipients", 2000) as usize;
    let lines = arg("--lines", 100) as u32;
    let pair = Appliance::start(
        "web-bench",
        Setup {
            lines,
            ..Setup::default()
        },
    );
    pair.operator_with_input(Node::A, &["operator", "add", "bench"], PASSWORD);
    let cert = rusqlite::Connection::open(pair.db(Node::A))
        .and_then(|c| {
            c.query_row("SELECT cert_pem FROM console_tls", [], |r| {
                r.get::<_, String>(0)
            })
        })
        .expect("the console's certificate in node-a's database");
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let ns = pair.lab.ns("client");
    let cookies: Vec<String> = (0..browsers).map(|_| sign_in(&ns, &tls)).collect();

    // The campaign, created as the operators' command line does; started with the
    // browsers already watching its page.
    pair.start_campaign(Node::A, "bench", &[(Citizen::Confirms, recipients)]);
    let id: i64 = rusqlite::Connection::open(pair.db(Node::A))
        .and_then(|c| {
            c.query_row("SELECT id FROM campaigns WHERE name = 'bench'", [], |r| {
                r.get(0)
            })
        })
        .expect("the campaign");
    let web = pair
        .pid_of(Node::A, "allerta-web")
        .expect("node-a's console") as u32;
    let (cpu0, t0) = (cpu_ticks(web), Instant::now());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut seens = Vec::new();
    for cookie in &cookies {
        let seen = Arc::new(Mutex::new(Seen::default()));
        seens.push(seen.clone());
        for f in [stream as fn(_, _, _, _, _, _), pages] {
            let (ns, tls, cookie, stop, seen) = (
                ns.clone(),
                tls.clone(),
                cookie.clone(),
                stop.clone(),
                seen.clone(),
            );
            threads.push(std::thread::spawn(move || {
                f(ns, tls, cookie, id, stop, seen)
            }));
        }
    }
    let mut peak_rss = 0;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        peak_rss = peak_rss.max(rss_bytes(web));
        // Done, and every call over: a call goes on after its "1" (the thanks), and its
        // end is a write the clients must see too.
        let p = pair.progress(Node::A, "bench");
        let open: i64 = rusqlite::Connection::open(pair.db(Node::A))
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM attempts WHERE campaign_id = ?1 AND ended_at IS NULL",
                    [id],
                    |r| r.get(0),
                )
            })
            .unwrap_or(1);
        if p.as_ref().is_some_and(|p| p.state == "done") && open == 0 || Instant::now() > deadline {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(2)); // the last events
    let cpu = (cpu_ticks(web) - cpu0) as f64 / ticks_per_sec();
    let wall = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let stopped_at = now_ms();
    for t in threads {
        let _ = t.join();
    }

    // Every write to the ledger, and when each client first saw it.
    let db = rusqlite::Connection::open(pair.db(Node::A)).unwrap();
    let mut writes: Vec<i64> = Vec::new();
    let mut stmt = db
        .prepare("SELECT started_at, ended_at FROM attempts WHERE campaign_id = ?1")
        .unwrap();
    for row in stmt
        .query_map([id], |r| Ok([r.get::<_, Option<i64>>(0)?, r.get(1)?]))
        .unwrap()
    {
        writes.extend(row.unwrap().into_iter().flatten());
    }
    writes.sort_unstable();
    let mut progress = Vec::new();
    let mut unseen = 0u64;
    let mut streams = 0;
    let last_write = writes.last().copied().unwrap_or(0);
    let (mut page_times, mut failed_pages, mut events) = (Vec::new(), 0, 0);
    let mut server_times = Vec::new();
    for seen in &seens {
        let seen = seen.lock().unwrap();
        events += seen.events.len();
        streams += seen.streams;
        if let Some(&(_, mark)) = seen.events.last() {
            if mark < last_write {
                let tail: Vec<String> = seen.events[seen.events.len().saturating_sub(3)..]
                    .iter()
                    .map(|(r, w)| format!("received {} marks {}", r - last_write, w - last_write))
                    .collect();
                println!(
                    "a client's last event marks {} ms before the last write ({} events; \
                     the last, in ms from that write: {}; stopped at {})",
                    last_write - mark,
                    seen.events.len(),
                    tail.join(", "),
                    stopped_at - last_write
                );
            }
        }
        page_times.extend(seen.pages.iter().copied());
        server_times.extend(seen.server.iter().copied());
        failed_pages += seen.failed_pages;
        // Events in the order received; a write is seen by the first whose mark covers it.
        let mut covered: HashMap<usize, i64> = HashMap::new();
        let mut next = 0;
        for &(received, written) in &seen.events {
            while next < writes.len() && writes[next] <= written {
                covered.insert(next, received);
                next += 1;
            }
        }
        for (i, w) in writes.iter().enumerate() {
            match covered.get(&i) {
                Some(r) => progress.push(Duration::from_millis((r - w).max(0) as u64)),
                None => unseen += 1,
            }
        }
    }
    page_times.sort_unstable();
    server_times.sort_unstable();
    progress.sort_unstable();
    let row = |name: &str, v: &[Duration], target: &str| {
        println!(
            "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {target} |",
            v.len(),
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99)),
            ms(v.last().copied().unwrap_or_default()),
        );
    };
    println!("\nconsole-bench: {browsers} browsers, {recipients} recipients on {lines} lines, campaign {:.0} s", wall.as_secs_f64());
    println!("| measure | samples | p50 | p99 | max | target |");
    println!("|---|---|---|---|---|---|");
    row(
        "page (campaign page, status page every fifth)",
        &page_times,
        "p99 < 100 ms",
    );
    row(
        "of which the console's own time (Server-Timing)",
        &server_times,
        "",
    );
    row(
        "progress (ledger write → client)",
        &progress,
        "p99 < 1000 ms",
    );
    println!(
        "\nevents received {events} on {streams} streams; ledger writes {} × {browsers} clients, \
         {unseen} never seen; pages failed {failed_pages}",
        writes.len()
    );
    println!(
        "allerta-web on node-a: CPU {cpu:.1} s over {:.0} s ({:.1} %), peak RSS {:.1} MiB",
        wall.as_secs_f64(),
        cpu * 100.0 / wall.as_secs_f64(),
        peak_rss as f64 / 1048576.0
    );
    let p99 = |v: &[Duration]| percentile(v, 0.99);
    let met = p99(&page_times) < Duration::from_millis(100)
        && p99(&progress) < Duration::from_secs(1)
        && failed_pages == 0
        && unseen == 0;
    println!("targets {}", if met { "met" } else { "NOT met" });
    // exit() runs no destructors: the lab is taken down first, or its 140 MB stay in /tmp.
    drop(pair);
    std::process::exit(if met { 0 } else { 1 });
}
