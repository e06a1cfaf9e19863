//! The console as a hostile network sees it, on loopback (no root, no browser): the console
//! is started as `allerta-web` starts it (`service::start`), with a database made by the
//! same store, and spoken to with raw TLS and HTTP/1.1 bytes.
//! - a connection that never completes its TLS handshake, or its request's headers, is
//!   closed after the timeout, and counted;
//! - connections beyond the limit are closed at once, and counted;
//! - a state-changing request without an origin of ours is refused before any work;
//! - a form larger than the limit is refused with 413;
//! - a forged session cookie gets the sign-in page, never data;
//! - repeated wrong passwords lock the name out, even for the right password;
//! - every page carries the Content-Security-Policy.

use std::io::ErrorKind;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::{console, post, status, PASSWORD};

/// Waits until the peer closes `tcp` (EOF or reset); how long that took.
async fn closed_after(mut tcp: TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(limit, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) => return Some(start.elapsed()),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionReset => return Some(start.elapsed()),
            Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_and_slow_peers_are_cut_off_and_extra_connections_refused() {
    let c = console("handshake_timeout_ms = 300\nmax_connections = 8\n").await;
    // No handshake at all.
    let silent = TcpStream::connect(c.addr()).await.unwrap();
    let took = closed_after(silent, Duration::from_secs(5)).await;
    assert!(
        took.is_some_and(|d| d >= Duration::from_millis(250)),
        "a silent connection stayed open: {took:?}"
    );
    assert!(c.counter(|k| k.server.handshake_failed.load(Ordering::Relaxed)) >= 1);

    // A handshake, then headers that never end (slowloris).
    let tcp = TcpStream::connect(c.addr()).await.unwrap();
    let mut tls = c
        .tls
        .connect(ServerName::try_from("allerta").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: allerta\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "headers that never end kept the connection open"
    );
    assert!(start.elapsed() < Duration::from_secs(3));

    // Eight connections held open; the ninth is closed at once.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(c.addr()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let extra = TcpStream::connect(c.addr()).await.unwrap();
    let took = closed_after(extra, Duration::from_secs(2)).await;
    assert!(
        took.is_some_and(|d| d < Duration::from_millis(250)),
        "the connection over the limit was not refused at once: {took:?}"
    );
    assert!(c.counter(|k| k.server.refused_busy.load(Ordering::Relaxed)) >= 1);
    drop(held);
}

#[tokio::test]
async fn forged_oversized_and_unsigned_requests_get_nothing() {
    let c = console("").await;
    let page = c.http("GET /login HTTP/1.1\r\n\r\n").await;
    assert_eq!(status(&page), 200, "{page}");
    assert!(
        page.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    assert!(page.contains("x-frame-options: DENY"));

    // Another site's form (no origin of ours): refused before the password is read.
    let body = format!("name=anna&password={}", PASSWORD.replace(' ', "+"));
    let forged = c.http(&post("/login", &body, false)).await;
    assert_eq!(status(&forged), 403, "{forged}");
    assert_eq!(c.counter(|k| k.forged.load(Ordering::Relaxed)), 1);
    assert_eq!(c.counter(|k| k.sign_ins.load(Ordering::Relaxed)), 0);

    // A body over the form limit.
    let huge = format!("name=anna&password={}", "x".repeat(100_000));
    let answer = c.http(&post("/login", &huge, true)).await;
    assert_eq!(status(&answer), 413, "{answer}");

    // A session cookie nobody signed: the sign-in page, no data.
    let fake =
        "GET /campaigns HTTP/1.1\r\nCookie: __Host-allerta=v1.1.1.0.0.99999999999.00\r\n\r\n";
    let answer = c.http(fake).await;
    assert_eq!(status(&answer), 303, "{answer}");
    assert!(answer.contains("location: /login"), "{answer}");

    // The right password signs in; its cookie opens the pages.
    let ok = c.http(&post("/login", &body, true)).await;
    assert_eq!(status(&ok), 303, "{ok}");
    let cookie = ok
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.starts_with("__Host-allerta=v1."), "{cookie}");
    let list = c
        .http(&format!(
            "GET /campaigns HTTP/1.1\r\nCookie: {cookie}\r\n\r\n"
        ))
        .await;
    assert_eq!(status(&list), 200, "{list}");
    // A state change without the form's CSRF token, from our own origin: refused.
    let answer = c
        .http(
            &post("/logout", "_csrf=0000", true)
                .replace("\r\n\r\n", &format!("\r\nCookie: {cookie}\r\n\r\n")),
        )
        .await;
    assert_eq!(status(&answer), 403, "{answer}");
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_name_out() {
    let c = console("lockout_failures = 3\n").await;
    for _ in 0..3 {
        let answer = c
            .http(&post("/login", "name=anna&password=sbagliata", true))
            .await;
        assert_eq!(status(&answer), 401, "{answer}");
    }
    let body = format!("name=anna&password={}", PASSWORD.replace(' ', "+"));
    let answer = c.http(&post("/login", &body, true)).await;
    assert_eq!(status(&answer), 429, "{answer}");
    assert_eq!(c.counter(|k| k.sign_ins_locked.load(Ordering::Relaxed)), 1);
    assert_eq!(c.counter(|k| k.sign_ins.load(Ordering::Relaxed)), 0);
}

#[tokio::test]
async fn an_import_cut_off_mid_request_leaves_nothing_and_a_whole_one_everything() {
    let c = console("").await;
    let anna = c.sign_in("anna").await;
    let page = c.get("/contacts", &anna).await;
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let mut csv = String::from("id,name,numbers\n");
    for i in 0..2000 {
        csv.push_str(&format!("C{i},Persona {i},0743{i:06}\n"));
    }
    let body = format!(
        "_csrf={csrf}&list=Centro&file=c.csv&csv={}",
        csv.replace(',', "%2C").replace('\n', "%0A")
    );
    let count = || async {
        c.running
            .app
            .db
            .run(|s| {
                Ok(s.connection()
                    .query_row("SELECT count(*) FROM contacts", [], |r| r.get::<_, i64>(0))?)
            })
            .await
            .unwrap()
    };
    // Half the body, then the connection is gone.
    let tcp = TcpStream::connect(c.addr()).await.unwrap();
    let mut tls = c
        .tls
        .connect(ServerName::try_from("allerta").unwrap(), tcp)
        .await
        .unwrap();
    let head = format!(
        "POST /contacts/import HTTP/1.1\r\nHost: allerta\r\nOrigin: https://allerta\r\n\
         Cookie: {anna}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .unwrap();
    tls.flush().await.unwrap();
    drop(tls);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count().await, 0, "a cut-off import wrote contacts");

    // The whole request: every contact, in one transaction.
    let answer = c
        .http(
            &post("/contacts/import", &body, true)
                .replace("\r\n\r\n", &format!("\r\nCookie: {anna}\r\n\r\n")),
        )
        .await;
    assert_eq!(status(&answer), 303, "{}", &answer[..answer.len().min(400)]);
    assert_eq!(count().await, 2000);
}
