//! A real browser in the lab: Debian's headless Chromium, driven over WebDriver by its
//! chromedriver (the same Debian version), both in the client namespace, as an operator's
//! browser on the data network. The test talks to chromedriver through a connector that
//! opens its sockets inside that namespace (`probe::in_netns`); chromedriver and Chromium
//! talk over the namespace's loopback. fantoccini is the WebDriver client.
//!
//! Differences from an operator's browser, both named here: it runs headless as root
//! (`--no-sandbox`, which Chromium requires as root), and it accepts the console's
//! self-signed certificate (`acceptInsecureCerts`), as an operator clicks through the
//! warning once or installs the certificate.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::lab::{Lab, Proc};
use crate::prereq;

/// What the browser needs: Debian's `chromium` and `chromium-driver`.
pub const NEEDS: &[&str] = &["chromium", "chromedriver"];

/// chromedriver's port on the client namespace's loopback.
const DRIVER_PORT: u16 = 9515;

/// Opens TCP connections inside a network namespace (for chromedriver's loopback).
#[derive(Clone)]
struct NetnsConnector {
    ns: String,
}

impl tower::Service<hyper::Uri> for NetnsConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let ns = self.ns.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or("127.0.0.1").to_owned();
            let port = uri.port_u16().unwrap_or(80);
            let addr: SocketAddr = format!("{host}:{port}")
                .parse()
                .map_err(|e| std::io::Error::other(format!("{host}:{port}: {e}")))?;
            let stream = tokio::task::spawn_blocking(move || {
                crate::probe::in_netns(&ns, move || std::net::TcpStream::connect(addr))
            })
            .await
            .map_err(std::io::Error::other)??;
            stream.set_nonblocking(true)?;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(tokio::net::TcpStream::from_std(stream)?))
        })
    }
}

/// One browser window, driven step by step from a test.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Proc,
    shots: PathBuf,
}

/// Where a test's screenshots are kept (`target/artifacts/<folder>`): outside the lab
/// directory, which a passing test removes.
pub fn artifacts(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/artifacts")
        .join(folder)
}

impl Browser {
    /// Starts chromedriver in `role`'s namespace and a Chromium session on it; screenshots
    /// go to `target/artifacts/console`.
    pub fn start(lab: &Lab, role: &str, test: &str) -> Self {
        Self::start_in(lab, role, test, "console")
    }

    /// As [`Browser::start`], screenshots going to `target/artifacts/<folder>`.
    pub fn start_in(lab: &Lab, role: &str, test: &str, folder: &str) -> Self {
        prereq::require_tools(test, NEEDS);
        let chromedriver = prereq::which("chromedriver").expect("chromedriver");
        let driver = lab.spawn(
            role,
            "chromedriver",
            &chromedriver,
            &[&format!("--port={DRIVER_PORT}")],
            &[],
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the browser");
        let profile = lab.dir().join("chromium-profile");
        let caps = json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--lang=it-IT",
                    "--window-size=1280,900", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                ],
                // An Italian operator's browser (headless Chromium asks for en-US).
                "prefs": { "intl.accept_languages": "it-IT,it" },
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        let connector = NetnsConnector { ns: lab.ns(role) };
        let url = format!("http://127.0.0.1:{DRIVER_PORT}");
        // chromedriver needs a moment to listen.
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let attempt = runtime.block_on(
                ClientBuilder::new(connector.clone())
                    .capabilities(caps.clone())
                    .connect(&url),
            );
            match attempt {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("chromedriver in {role}: {e} (log {})", driver.log.display()),
            }
        };
        let shots = artifacts(folder);
        std::fs::create_dir_all(&shots).expect("artifacts directory");
        Self {
            runtime,
            client: Some(client),
            driver,
            shots,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("an open session")
    }

    pub fn goto(&self, url: &str) {
        self.runtime
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    pub fn url(&self) -> String {
        self.runtime
            .block_on(self.client().current_url())
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub fn wait(&self, css: &str, timeout: Duration) {
        let c = self.client();
        self.runtime
            .block_on(
                c.wait()
                    .at_most(timeout)
                    .every(Duration::from_millis(100))
                    .for_element(Locator::Css(css)),
            )
            .unwrap_or_else(|e| panic!("no {css} within {timeout:?} on {}: {e}", self.url()));
    }

    pub fn exists(&self, css: &str) -> bool {
        self.runtime
            .block_on(self.client().find_all(Locator::Css(css)))
            .is_ok_and(|found| !found.is_empty())
    }

    /// Types `text` into the field matching `css` (after clearing it).
    pub fn fill(&self, css: &str, text: &str) {
        let c = self.client();
        self.runtime
            .block_on(async {
                let e = c.find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    pub fn click(&self, css: &str) {
        let c = self.client();
        self.runtime
            .block_on(async { c.find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("clicking {css} on {}: {e}", self.url()));
    }

    /// Picks the option whose value is `value` in the `<select>` matching `css`.
    pub fn select(&self, css: &str, value: &str) {
        let c = self.client();
        self.runtime
            .block_on(async {
                c.find(Locator::Css(css))
                    .await?
                    .select_by_value(value)
                    .await
            })
            .unwrap_or_else(|e| panic!("choosing {value} in {css}: {e}"));
    }

    pub fn text(&self, css: &str) -> String {
        let c = self.client();
        self.runtime
            .block_on(async { c.find(Locator::Css(css)).await?.text().await })
            .unwrap_or_else(|e| panic!("text of {css} on {}: {e}", self.url()))
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let c = self.client();
        self.runtime
            .block_on(async { c.find(Locator::Css(css)).await?.attr(name).await })
            .ok()
            .flatten()
    }

    /// Runs `script` in the page; its return value.
    pub fn execute(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.client().execute(script, vec![]))
            .unwrap_or_else(|e| panic!("script on {}: {e}", self.url()))
    }

    /// Saves the page as `<name>.png` in the artifacts folder; its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .runtime
            .block_on(self.client().screenshot())
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("saving a screenshot");
        path
    }

    /// The chromedriver process (its log names Chromium's trouble).
    pub fn driver(&self) -> &Proc {
        &self.driver
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium; the lab ends chromedriver and whatever is left in its namespace.
        // Not while a failed test unwinds: a second panic would abort the run and hide
        // the first; the lab's teardown ends Chromium either way.
        if std::thread::panicking() {
            return;
        }
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), client.close()).await
            });
        }
    }
}
