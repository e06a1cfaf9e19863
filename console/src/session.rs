//! Driver: who is asking. A page handler that takes a [`Signed`] runs only for a signed-in
//! operator still allowed in: the cookie's token verifies with a replicated key, and the
//! operator's row (read at each request) is enabled and in the token's epoch. Anyone else
//! is sent to the sign-in page, with nothing read but the keys and that row.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use alertdb::console::Operator;

use crate::app::App;
use crate::i18n::{Lang, Texts};
use crate::token;

/// The session cookie. `__Host-`: the browser keeps it only if it came over HTTPS, for
/// this host alone, for every path (no `Domain`), so no other site or subdomain sets it.
pub const COOKIE: &str = "__Host-allerta";
/// The operator's language choice.
pub const LANG_COOKIE: &str = "lang";

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct Signed {
    pub operator: Operator,
    /// The session token (from the cookie).
    pub token: String,
    /// The CSRF token every form of theirs carries.
    pub csrf: String,
    pub texts: Texts,
}

impl Signed {
    pub fn is_admin(&self) -> bool {
        self.operator.role == "admin"
    }

    /// Whether a form's CSRF token is this session's.
    pub fn csrf_ok(&self, keys: &[(i64, Vec<u8>)], given: &str) -> bool {
        token::csrf_ok(&self.token, keys, given)
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The page's language: the operator's choice, else the browser's.
pub fn texts(headers: &HeaderMap) -> Texts {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Texts::new(Lang::choose(cookie(headers, LANG_COOKIE), accept))
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(token: &str, max_age_secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("__Host-allerta=; Path=/; Secure; Max-Age=0"))
}

/// `Set-Cookie` that ends the session in this browser.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-allerta=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Why a request is not a signed-in operator's.
#[derive(Debug)]
pub enum NotSigned {
    /// No valid session: sign in (pages), or 401 (the live stream says so itself).
    SignIn,
    /// The database could not be read.
    Unavailable,
}

impl IntoResponse for NotSigned {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => {
                let mut r = Redirect::to("/login").into_response();
                // A session that no longer verifies must not be sent again.
                r.headers_mut().insert(header::SET_COOKIE, cleared_cookie());
                r
            }
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database cannot be read; try again in a moment",
            )
                .into_response(),
        }
    }
}

impl FromRequestParts<App> for Signed {
    type Rejection = NotSigned;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, COOKIE)
            .filter(|t| !t.is_empty() && t.len() <= token::MAX_LEN)
            .ok_or(NotSigned::SignIn)?
            .to_owned();
        let texts = texts(&parts.headers);
        let now = crate::app::now_secs();
        let checked = {
            let token = token.clone();
            app.db
                .read(move |s| {
                    let keys = s.console_keys()?;
                    let Ok(claims) = token::verify(&token, &keys, now) else {
                        return Ok(None);
                    };
                    let operator = s.operator_by_id(claims.operator)?;
                    Ok(operator
                        .filter(|o| !o.disabled && o.session_epoch == claims.epoch)
                        .and_then(|o| Some((o, token::csrf(&token, &keys)?))))
                })
                .await
        };
        match checked {
            Ok(Some((operator, csrf))) => Ok(Self {
                operator,
                token,
                csrf,
                texts,
            }),
            Ok(None) => {
                app.count(|c| &c.sessions_refused);
                Err(NotSigned::SignIn)
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading a session");
                Err(NotSigned::Unavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name_across_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; lang=en"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-allerta=v1.2.3"),
        );
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_eq!(cookie(&h, COOKIE), Some("v1.2.3"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(texts(&h).lang, Lang::En);
    }
}
