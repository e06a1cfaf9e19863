//! Settings (administrators only): the replicated settings an administrator may change
//! from a browser. Today that is the SLA windows file, `sla.toml` (announced work and
//! excluded periods, which the availability report reads). Node-local settings (addresses,
//! trunks, certificates) are not here: they belong to the vSphere wizard.
//!
//! A change takes the path of a change by hand: the file is written on the master (a new
//! file renamed over the old one, with the suffix the sync agent never replicates), the
//! sync agent carries it to the backup, and the supervisor on each node reads it for its
//! next report (every minute). The file's format and rules are `sla_windows`, the
//! supervisor's own; an edit keeps the administrator's comments. Every change is audited
//! with the administrator's name and the window. A form shown before someone else changed
//! the file is refused (the file's fingerprint), so nobody removes the wrong window.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use sla_windows::edit::{self, EditError};
use sla_windows::rules::{self, NewWindow};
use sla_windows::{format_local, Kind, Window};
use tracing::{info, warn};

use super::{admin_form, admins_only, db_failure, failure, Chrome, DoneQuery};
use crate::app::App;
use crate::i18n::Texts;
use crate::session::Signed;

/// One window as the list shows it (times to the minute).
#[derive(Debug, Clone)]
pub struct WindowRow {
    /// Its place among the windows of its kind (what a removal names).
    pub index: usize,
    pub from: String,
    pub to: String,
    /// When announced work was announced (empty for an exclusion).
    pub announced: String,
    pub text: String,
}

/// The windows of one kind.
#[derive(Debug, Clone)]
pub struct Section {
    /// "excluded" or "announced": the form's `kind` and the table's id.
    pub kind: &'static str,
    pub announced: bool,
    pub rows: Vec<WindowRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub t: Texts,
    pub chrome: Chrome,
    /// The file's path on the nodes.
    pub path: String,
    /// Excluded periods, then announced work.
    pub sections: [Section; 2],
    /// The file does not read ("sla.toml:9: from must be before to"): shown, and nothing
    /// can be changed from here until it is fixed.
    pub broken: Option<String>,
    /// The fingerprint of the file the page shows.
    pub version: String,
    /// The add form as typed (kept when it is refused).
    pub f: NewWindow,
    /// (field, problem) of the add form.
    pub errors: Vec<(String, String)>,
    pub done: Option<String>,
    /// A change that could not be made (the file changed meanwhile, …).
    pub refused: Option<String>,
}

impl SettingsPage {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, e)| e.as_str())
    }
}

fn minute(local: i64) -> String {
    format_local(local)[..16].to_owned()
}

fn rows(windows: &[Window], excluded: bool) -> Vec<WindowRow> {
    windows
        .iter()
        .filter(|w| w.is_excluded() == excluded)
        .enumerate()
        .map(|(index, w)| {
            let (announced, text) = match &w.kind {
                Kind::Announced { announced, what } => (minute(*announced), what.clone()),
                Kind::Excluded { reason } => (String::new(), reason.clone()),
            };
            WindowRow {
                index,
                from: minute(w.from),
                to: minute(w.to),
                announced,
                text,
            }
        })
        .collect()
}

/// The file's text; a missing file is an empty one (no windows).
fn read_file(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// Replaces the file whole: a temporary file (never replicated: the sync agent's own
/// suffix), flushed to disk, renamed over the old one, and the directory flushed. A
/// reader (the supervisor, the sync agent) sees the old file or the new one, never half.
fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.console.allerta-sync-tmp"));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
}

fn path_of(app: &App) -> PathBuf {
    app.config.sla_windows.clone()
}

/// What the add form starts with: an exclusion, announced "now" for announced work.
fn empty_form() -> NewWindow {
    let now = component::localtime::local_secs(component::localtime::now_ms());
    NewWindow {
        excluded: true,
        announced: minute(now - now.rem_euclid(60)),
        ..NewWindow::default()
    }
}

struct Shown {
    f: NewWindow,
    errors: Vec<(String, String)>,
    done: Option<String>,
    refused: Option<String>,
}

async fn render(app: &App, signed: &Signed, shown: Shown) -> Response {
    let path = path_of(app);
    let text = match blocking({
        let path = path.clone();
        move || read_file(&path)
    })
    .await
    {
        Ok(text) => text,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot read the SLA windows file");
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{}: {e}", path.display()),
            );
        }
    };
    let (windows, broken) = match sla_windows::parse(&text) {
        Ok(w) => (w, None),
        Err(e) => (Vec::new(), Some(format!("{}:{e}", path.display()))),
    };
    let t = signed.texts;
    let status = if !shown.errors.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if shown.refused.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    let page = SettingsPage {
        chrome: Chrome::new(app, &t, Some(signed), "settings"),
        path: path.display().to_string(),
        sections: [
            Section {
                kind: "excluded",
                announced: false,
                rows: rows(&windows, true),
            },
            Section {
                kind: "announced",
                announced: true,
                rows: rows(&windows, false),
            },
        ],
        broken,
        version: edit::fingerprint(&text),
        f: shown.f,
        errors: shown.errors,
        done: shown.done,
        refused: shown.refused,
        t,
    };
    (status, page).into_response()
}

pub async fn page(State(app): State<App>, signed: Signed, Query(q): Query<DoneQuery>) -> Response {
    if let Some(r) = admins_only(&signed) {
        return r;
    }
    let done = q.text("settings.done", &signed.texts);
    let shown = Shown {
        f: empty_form(),
        errors: vec![],
        done,
        refused: None,
    };
    render(&app, &signed, shown).await
}

/// Why a change was not made.
enum Refusal {
    /// Someone changed the file after this form was shown.
    Changed,
    /// The file does not read, or the window is gone.
    Edit(EditError),
    Io(std::io::Error),
    Db(crate::db::DbError),
}

/// Changes the file under the console's lock, if it is still the one the form showed,
/// then audits. If the audit cannot be written the old file is put back: a change is
/// made and audited, or not made.
async fn change(
    app: &App,
    signed: &Signed,
    version: &str,
    what: &'static str,
    edit: impl FnOnce(&str) -> Result<(String, String), EditError>,
) -> Result<(), Refusal> {
    let _one_at_a_time = app.settings_lock.lock().await;
    let path = path_of(app);
    let old = blocking({
        let path = path.clone();
        move || read_file(&path)
    })
    .await
    .map_err(Refusal::Io)?;
    if edit::fingerprint(&old) != version {
        return Err(Refusal::Changed);
    }
    let (new, detail) = edit(&old).map_err(Refusal::Edit)?;
    blocking({
        let (path, new) = (path.clone(), new.clone());
        move || write_file(&path, &new)
    })
    .await
    .map_err(Refusal::Io)?;
    let who = signed.operator.name.clone();
    let audited = {
        let detail = detail.clone();
        app.db.run(move |s| s.audit(&who, what, &detail)).await
    };
    if let Err(e) = audited {
        let put_back = blocking(move || write_file(&path, &old)).await;
        warn!(error = %e, put_back = ?put_back.err(), "settings change not audited: undone");
        return Err(Refusal::Db(e));
    }
    info!(admin = %signed.operator.name, %detail, what, "settings changed");
    Ok(())
}

async fn refused(app: &App, signed: &Signed, f: NewWindow, why: Refusal) -> Response {
    let t = signed.texts;
    let text = match why {
        Refusal::Changed => t.get("settings.changed_meanwhile").to_owned(),
        Refusal::Edit(EditError::NoSuchWindow) => t.get("settings.changed_meanwhile").to_owned(),
        Refusal::Edit(e) => t.fill("settings.unreadable", &e.to_string()),
        Refusal::Io(e) => {
            warn!(error = %e, "cannot write the SLA windows file");
            t.fill("settings.not_written", &e.to_string())
        }
        Refusal::Db(e) => return db_failure(e),
    };
    let shown = Shown {
        f,
        errors: vec![],
        done: None,
        refused: Some(text),
    };
    render(app, signed, shown).await
}

/// An administrator's form with its CSRF token, naming a `kind`: an exclusion (true) or
/// announced work.
async fn admitted(app: &App, signed: &Signed, csrf: &str, kind: &str) -> Result<bool, Response> {
    if let Some(r) = admin_form(app, signed, csrf).await {
        return Err(r);
    }
    match kind {
        "excluded" => Ok(true),
        "announced" => Ok(false),
        other => Err(failure(
            StatusCode::BAD_REQUEST,
            format!("unknown kind {other:?}"),
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    pub _csrf: String,
    #[serde(default)]
    pub version: String,
    /// `announced` or `excluded`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub announced: String,
    #[serde(default)]
    pub text: String,
}

pub async fn add(State(app): State<App>, signed: Signed, Form(f): Form<AddForm>) -> Response {
    let excluded = match admitted(&app, &signed, &f._csrf, &f.kind).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let typed = NewWindow {
        excluded,
        from: f.from,
        to: f.to,
        announced: f.announced,
        text: f.text,
    };
    let window = match rules::check(&typed) {
        Ok(w) => w,
        Err(problems) => {
            app.count(|c| &c.invalid_forms);
            let t = signed.texts;
            let errors = problems
                .iter()
                .map(|(field, problem)| {
                    let key = format!("settings.problem.{}", problem.key());
                    (field.name().to_owned(), t.get(&key).to_owned())
                })
                .collect();
            let shown = Shown {
                f: typed,
                errors,
                done: None,
                refused: None,
            };
            return render(&app, &signed, shown).await;
        }
    };
    let what = if excluded {
        "sla window excluded"
    } else {
        "sla window announced"
    };
    let made = change(&app, &signed, &f.version, what, |old| {
        Ok((edit::add(old, &window)?, window.describe()))
    })
    .await;
    match made {
        Ok(()) => Redirect::to("/settings?done=settings.done.added").into_response(),
        Err(why) => refused(&app, &signed, typed, why).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    pub _csrf: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub index: usize,
}

pub async fn remove(State(app): State<App>, signed: Signed, Form(f): Form<RemoveForm>) -> Response {
    let excluded = match admitted(&app, &signed, &f._csrf, &f.kind).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let made = change(&app, &signed, &f.version, "sla window removed", |old| {
        let gone = sla_windows::parse(old)
            .map_err(EditError::Unreadable)?
            .into_iter()
            .filter(|w| w.is_excluded() == excluded)
            .nth(f.index)
            .ok_or(EditError::NoSuchWindow)?;
        Ok((edit::remove(old, excluded, f.index)?, gone.describe()))
    })
    .await;
    match made {
        Ok(()) => Redirect::to("/settings?done=settings.done.removed").into_response(),
        Err(why) => refused(&app, &signed, empty_form(), why).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sla.toml");
        write_file(&path, "# one\n").unwrap();
        write_file(&path, "# two\n").unwrap();
        assert_eq!(read_file(&path).unwrap(), "# two\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["sla.toml"]);
        assert_eq!(read_file(&dir.path().join("absent.toml")).unwrap(), "");
    }
}
