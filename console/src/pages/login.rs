//! Sign-in, sign-out and the language switch.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tracing::{info, warn};

use super::Chrome;
use crate::app::{now_secs, App};
use crate::i18n::{Lang, Texts};
use crate::server::Peer;
use crate::session::{self, Signed};
use crate::signin::Verdict;
use crate::token::{self, Claims};

/// The longest name and password read (argon2 would take longer ones; nobody types them).
const MAX_FIELD: usize = 256;

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub name: String,
    pub error: Option<String>,
}

pub async fn form(State(app): State<App>, headers: HeaderMap) -> LoginPage {
    let t = session::texts(&headers);
    LoginPage {
        chrome: Chrome::new(&app, &t, None, "login"),
        t,
        name: String::new(),
        error: None,
    }
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn submit(
    State(app): State<App>,
    Extension(Peer(addr)): Extension<Peer>,
    headers: HeaderMap,
    Form(c): Form<Credentials>,
) -> Response {
    let t = session::texts(&headers);
    let page = |status: StatusCode, key: &str, name: &str| {
        let page = LoginPage {
            chrome: Chrome::new(&app, &t, None, "login"),
            t,
            name: name.chars().take(MAX_FIELD).collect(),
            error: Some(t.get(key).to_owned()),
        };
        (status, page).into_response()
    };
    let name = c.name.trim().to_owned();
    if name.is_empty() || c.password.is_empty() {
        return page(StatusCode::UNPROCESSABLE_ENTITY, "login.missing", &name);
    }
    if name.len() > MAX_FIELD || c.password.len() > MAX_FIELD {
        app.count(|c| &c.sign_ins_failed);
        return page(StatusCode::UNPROCESSABLE_ENTITY, "login.refused", "");
    }
    let lookup = {
        let name = name.clone();
        app.db.run(move |s| s.operator_named(&name)).await
    };
    let operator = match lookup {
        Ok(o) => o,
        Err(e) => {
            warn!(error = %e, "sign-in: reading the operators");
            return page(StatusCode::SERVICE_UNAVAILABLE, "error.database", &name);
        }
    };
    match app
        .sign_in
        .check(&name, c.password, operator, addr.ip())
        .await
    {
        Verdict::Accepted(op) => {
            let lifetime = app.config.session_lifetime.as_secs();
            let now = now_secs();
            let (op_id, epoch, who) = (op.id, op.session_epoch, op.name.clone());
            let ip = addr.ip().to_string();
            let issued = app
                .db
                .run(move |s| {
                    let keys = s.console_keys()?;
                    s.audit(&who, "console sign-in", &ip)?;
                    Ok(keys)
                })
                .await;
            let keys = match issued {
                Ok(keys) if !keys.is_empty() => keys,
                Ok(_) => {
                    warn!("sign-in: no session key yet (is this node the master?)");
                    return page(StatusCode::SERVICE_UNAVAILABLE, "error.database", &name);
                }
                Err(e) => {
                    warn!(error = %e, "sign-in: recording it");
                    return page(StatusCode::SERVICE_UNAVAILABLE, "error.database", &name);
                }
            };
            let (kid, key) = &keys[0];
            let claims = Claims {
                operator: op_id,
                epoch,
                issued: now,
                expires: now + lifetime,
            };
            let token = token::sign(*kid, key, &claims);
            app.count(|c| &c.sign_ins);
            info!(operator = %op.name, %addr, "signed in");
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                session::session_cookie(&token, lifetime),
            );
            r
        }
        Verdict::Refused => {
            app.count(|c| &c.sign_ins_failed);
            info!(%name, %addr, "sign-in refused");
            page(StatusCode::UNAUTHORIZED, "login.refused", &name)
        }
        Verdict::Disabled => {
            app.count(|c| &c.sign_ins_failed);
            page(StatusCode::FORBIDDEN, "login.disabled", &name)
        }
        Verdict::LockedOut => {
            app.count(|c| &c.sign_ins_locked);
            warn!(%name, %addr, "sign-in locked out");
            page(StatusCode::TOO_MANY_REQUESTS, "login.locked", &name)
        }
        Verdict::Busy => page(StatusCode::SERVICE_UNAVAILABLE, "login.busy", &name),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    _csrf: String,
}

/// Ends every session of this operator (a new epoch, replicated), then this browser's.
pub async fn sign_out(State(app): State<App>, signed: Signed, Form(f): Form<CsrfOnly>) -> Response {
    let (id, who, given) = (signed.operator.id, signed.operator.name.clone(), f._csrf);
    let texts = signed.texts;
    let done = app
        .db
        .run(move |s| {
            let keys = s.console_keys()?;
            if !token::csrf_ok(&signed.token, &keys, &given) {
                return Ok(false);
            }
            s.end_sessions(id, &who, "console sign-out")?;
            Ok(true)
        })
        .await;
    match done {
        Ok(true) => {
            let mut r = Redirect::to("/login").into_response();
            r.headers_mut()
                .insert(header::SET_COOKIE, session::cleared_cookie());
            r
        }
        Ok(false) => super::forged(&app, &texts),
        Err(e) => super::failure(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Sets the language cookie and goes back to the page the link was on.
pub async fn language(Path(code): Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::It);
    // Only a path of ours: the Referer's path, never another site.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("https://"))
        .and_then(|r| r.find('/').map(|i| r[i..].to_owned()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/lang/"))
        .unwrap_or_else(|| "/".to_owned());
    let mut r = Redirect::to(&back).into_response();
    if let Ok(v) = format!(
        "{}={}; Path=/; Secure; SameSite=Lax; Max-Age=31536000",
        session::LANG_COOKIE,
        lang.code()
    )
    .parse()
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
