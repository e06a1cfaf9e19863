//! What the console's loopback tests share: the console started as `allerta-web` starts it
//! (`service::start`), on a database made by the same store with an operator `anna` (and
//! an administrator `capo` when asked), spoken to with raw TLS and HTTP/1.1 bytes.
#![allow(dead_code)] // each test binary uses its part

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use component::contract::Role;
use console::config::Config;
use console::service::{self, Running};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

pub(crate) const PASSWORD: &str = "una password lunga";

pub(crate) struct Console {
    pub(crate) running: Running,
    pub(crate) tls: TlsConnector,
    _dir: tempfile::TempDir,
    cancel: CancellationToken,
    _role: watch::Sender<Role>,
}

impl Drop for Console {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub(crate) async fn console(extra: &str) -> Console {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("allerta.db");
    {
        let mut s = alertdb::store::Store::open(&db, "node-a").unwrap();
        s.migrate().unwrap();
        s.add_operator("anna", "operator", PASSWORD, None, "test")
            .unwrap();
        s.add_operator("capo", "admin", PASSWORD, None, "test")
            .unwrap();
    }
    let text = format!(
        "[node]\nname = \"node-a\"\n[console]\nlisten = \"127.0.0.1:0\"\ndatabase = \"{}\"\n{extra}",
        db.display()
    );
    let config = Config::parse(&text, Path::new("node.toml")).unwrap();
    let (role_tx, role_rx) = watch::channel(Role::Master);
    let cancel = CancellationToken::new();
    let running = service::start(config, role_rx, cancel.clone())
        .await
        .unwrap();
    // The master makes the pair's certificate and key; wait for them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pem = loop {
        let stored = running
            .app
            .db
            .run(|s| Ok((s.console_certificate()?, s.console_keys()?)))
            .await
            .unwrap();
        if let (Some(pem), false) = (stored.0, stored.1.is_empty()) {
            if running.app.certificates.pem().as_ref() == Some(&pem) {
                break pem;
            }
        }
        assert!(Instant::now() < deadline, "no certificate made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.cert.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Console {
        running,
        tls: TlsConnector::from(Arc::new(config)),
        _dir: dir,
        cancel,
        _role: role_tx,
    }
}

impl Console {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.running.local_addr
    }

    /// Sends `request` (with `Host` and `Connection: close` added) and reads the answer.
    pub(crate) async fn http(&self, request: &str) -> String {
        let tcp = TcpStream::connect(self.addr()).await.unwrap();
        let mut tls = self
            .tls
            .connect(ServerName::try_from("allerta").unwrap(), tcp)
            .await
            .unwrap();
        let (head, body) = request.split_once("\r\n\r\n").unwrap_or((request, ""));
        let text = format!("{head}\r\nHost: allerta\r\nConnection: close\r\n\r\n{body}");
        tls.write_all(text.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    pub(crate) fn counter(&self, which: impl Fn(&console::app::Counters) -> u64) -> u64 {
        which(&self.running.app.counters)
    }
}

pub(crate) fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn post(path: &str, body: &str, origin: bool) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}{}\r\n\r\n{body}",
        body.len(),
        if origin {
            "\r\nOrigin: https://allerta"
        } else {
            ""
        },
    )
}

impl Console {
    /// Signs `name` in; the session cookie (`__Host-allerta=…`).
    pub(crate) async fn sign_in(&self, name: &str) -> String {
        let body = format!("name={name}&password={}", PASSWORD.replace(' ', "+"));
        let ok = self.http(&post("/login", &body, true)).await;
        assert_eq!(status(&ok), 303, "{ok}");
        ok.lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned()
    }

    /// GET `path` with `cookie`.
    pub(crate) async fn get(&self, path: &str, cookie: &str) -> String {
        self.http(&format!("GET {path} HTTP/1.1\r\nCookie: {cookie}\r\n\r\n"))
            .await
    }

    /// POST a form to `path` as the signed-in `cookie`, with the page's CSRF token.
    pub(crate) async fn submit(&self, path: &str, cookie: &str, fields: &str) -> String {
        let page = self.get("/", cookie).await;
        let csrf = page
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let body = format!("_csrf={csrf}&{fields}");
        self.http(
            &post(path, &body, true).replace("\r\n\r\n", &format!("\r\nCookie: {cookie}\r\n\r\n")),
        )
        .await
    }
}
