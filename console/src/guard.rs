//! Driver: what every response and request goes through, whatever the page.
//!
//! - `headers`: the time the console took (`Server-Timing`), a strict Content-Security-Policy (our own scripts, styles and images only;
//!   no inline script, no eval, no framing), `nosniff`, `same-origin` referrers, and no
//!   caching of pages (they carry operators' data). No HSTS: the pair's certificate is
//!   self-signed unless the administrator gives one, and HSTS would make it fatal.
//! - `same_origin`: a request that changes something (not GET or HEAD) must come from a
//!   page of ours (`Sec-Fetch-Site`, else `Origin` against `Host`); the form's CSRF token
//!   is checked by each handler on top.
//! - `deadline`: a handler that has not answered within `request_timeout` is answered
//!   503 (the live stream returns at once; its body is not a handler's time).
//! - `backup_page`: on the backup, every page is the read-only status page that names the
//!   master; nothing of the database is shown or changed there.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

pub async fn headers(request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    // How long the console took (browsers' developer tools show it; the benchmark reads
    // it to tell the console's time from the network's and the client's).
    if let Ok(v) = HeaderValue::from_str(&format!(
        "app;dur={:.1}",
        started.elapsed().as_secs_f64() * 1000.0
    )) {
        h.insert("server-timing", v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_static && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Whether a state-changing request comes from one of our pages.
pub fn from_our_page(request: &Request) -> bool {
    let h = request.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            h.get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .strip_prefix("https://")
            .is_some_and(|o| o.eq_ignore_ascii_case(&host)),
        _ => false,
    }
}

pub async fn same_origin(State(app): State<App>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) || from_our_page(&request) {
        return next.run(request).await;
    }
    app.count(|c| &c.forged);
    (
        StatusCode::FORBIDDEN,
        "refused: this request did not come from a page of this console",
    )
        .into_response()
}

pub async fn deadline(State(app): State<App>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(app.config.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            app.count(|c| &c.timeouts);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the console took too long to answer; try again",
            )
                .into_response()
        }
    }
}

pub async fn backup_page(State(app): State<App>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if app.is_master() || path.starts_with("/static/") || path.starts_with("/lang/") {
        return next.run(request).await;
    }
    if path.starts_with("/live/") {
        // A browser's live stream that reached the backup (the VIP was moving): tell it,
        // with a 200 so it tries again, through the VIP, shortly.
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::from("retry: 500\nevent: backup\ndata: backup\n\n"))
            .unwrap_or_else(|_| StatusCode::SERVICE_UNAVAILABLE.into_response());
    }
    crate::pages::status::backup(&app, request.headers()).await
}
