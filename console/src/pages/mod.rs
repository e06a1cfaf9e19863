//! The pages, one module per subject: `login` (sign-in, sign-out, language), `status`
//! (both nodes; the backup's page), `campaigns` (list, create, control, report),
//! `contacts` (search, edit, import with a preview), `messages` (spoken texts to listen
//! to, uploaded recordings), `operators` and `settings` (administrators only), `live`
//! (the progress stream), `assets` (the stylesheet and the script). Each renders an
//! askama template from `templates/`; texts come from `i18n`.

pub mod assets;
pub mod campaigns;
pub mod contacts;
pub mod live;
pub mod login;
pub mod messages;
pub mod operators;
pub mod settings;
pub mod status;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::i18n::Texts;
use crate::session::Signed;

/// What every page's frame shows: the node, its role, who is signed in.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub node: String,
    /// "MASTER" or "BACKUP", as the operator reads it.
    pub role: String,
    pub role_class: &'static str,
    /// The signed-in operator's name (none on the sign-in and backup pages).
    pub operator: Option<String>,
    pub admin: bool,
    pub csrf: String,
    /// Which menu entry is this page's.
    pub section: &'static str,
}

impl Chrome {
    pub fn new(app: &App, t: &Texts, signed: Option<&Signed>, section: &'static str) -> Self {
        let master = app.is_master();
        Self {
            node: app.config.node.clone(),
            role: t
                .get(if master { "role.master" } else { "role.backup" })
                .to_owned(),
            role_class: if master { "master" } else { "backup" },
            operator: signed.map(|s| s.operator.name.clone()),
            admin: signed.is_some_and(Signed::is_admin),
            csrf: signed.map(|s| s.csrf.clone()).unwrap_or_default(),
            section,
        }
    }
}

/// The administrators' pages refuse everyone else.
pub fn admins_only(signed: &Signed) -> Option<Response> {
    (!signed.is_admin()).then(|| {
        failure(
            StatusCode::FORBIDDEN,
            signed.texts.get("operators.admins_only").to_owned(),
        )
    })
}

/// Whether `given` is this session's CSRF token (the keys are read from the database).
pub async fn csrf_ok(app: &App, signed: &Signed, given: &str) -> Result<bool, Response> {
    match app.db.read(|s| s.console_keys()).await {
        Ok(keys) => Ok(signed.csrf_ok(&keys, given)),
        Err(e) => Err(db_failure(e)),
    }
}

/// An administrator's form: refused (a response) unless the session is an
/// administrator's and the form carries its CSRF token.
pub async fn admin_form(app: &App, signed: &Signed, csrf: &str) -> Option<Response> {
    if let Some(r) = admins_only(signed) {
        return Some(r);
    }
    match csrf_ok(app, signed, csrf).await {
        Ok(true) => None,
        Ok(false) => Some(forged(app, &signed.texts)),
        Err(r) => Some(r),
    }
}

/// `?done=family.what` after a change: the text to show, if the key is of `family`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    pub done: Option<String>,
}

impl DoneQuery {
    pub fn text(self, family: &str, t: &Texts) -> Option<String> {
        self.done
            .filter(|d| d.strip_prefix(family).is_some_and(|r| r.starts_with('.')))
            .map(|d| t.get(&d).to_owned())
    }
}

/// A failure the operator cannot fix from the form: said plainly, with a status.
pub fn failure(status: StatusCode, text: String) -> Response {
    (status, text).into_response()
}

/// The database could not be read or written: logged, and said to the operator.
pub fn db_failure(e: crate::db::DbError) -> Response {
    tracing::warn!(error = %e, "console database");
    failure(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// A state-changing form without this session's CSRF token (another site's, or a page
/// left open past a sign-out): counted and refused.
pub fn forged(app: &App, t: &Texts) -> Response {
    app.count(|c| &c.forged);
    failure(StatusCode::FORBIDDEN, t.get("form.stale").to_owned())
}

/// `k=v&…` with each value percent-encoded (links and redirects that carry what an
/// operator typed).
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Milliseconds since the epoch as the node's local "YYYY-MM-DD HH:MM:SS".
pub fn when(ms: i64) -> String {
    let local = component::localtime::local_secs(ms.max(0) as u64);
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = component::civil::civil_from_days(days).unwrap_or((1970, 1, 1));
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Seconds as "1 h 05 min", "12 min", "40 s".
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_carry_what_was_typed_encoded() {
        assert_eq!(
            query(&[("imported", "3"), ("list", "Zona Nord & più")]),
            "imported=3&list=Zona%20Nord%20%26%20pi%C3%B9"
        );
    }
}
