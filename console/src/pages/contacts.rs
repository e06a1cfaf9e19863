//! Contacts and lists: search, edit one, and import a CSV file in two steps. The file is
//! checked line by line first (`alertdb::contacts::check_file`, the command line's rules): any
//! bad line and the operator sees every problem with its line number, and nothing is
//! imported; a good file is shown (how many, the first rows) and imported only when the
//! operator confirms, in one transaction. The confirmation carries the file back and it
//! is checked again; the import runs only once the whole request has arrived, so a
//! connection dropped on the way leaves nothing half imported.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tracing::info;

use alertdb::console::ContactRow;
use alertdb::contacts::{self, Contact};
use alertdb::store::StoreError;

use super::{db_failure, failure, Chrome};
use crate::app::App;
use crate::db::DbError;
use crate::i18n::Texts;
use crate::session::Signed;

/// Contacts shown by a search; the count says how many matched.
const SHOWN: usize = 200;
/// Rows of a file shown before the import.
const PREVIEW_ROWS: usize = 20;
/// The largest file taken (about 100,000 contacts).
pub const MAX_FILE: usize = 8 * 1024 * 1024;
/// Problems listed for a bad file (the count says how many there were).
const PROBLEMS_SHOWN: usize = 200;

#[derive(Template, WebTemplate)]
#[template(path = "contacts.html")]
pub struct ContactsPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub q: String,
    pub lists: Vec<(String, u64)>,
    pub found: Vec<ContactRow>,
    pub matched: u64,
    /// After an import: how many into which list.
    pub imported: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub imported: Option<u64>,
    #[serde(default)]
    pub list: String,
}

pub async fn page(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<SearchQuery>,
) -> Response {
    let needle: String = q.q.chars().take(100).collect();
    let search = needle.clone();
    let read = app
        .db
        .read(move |s| Ok((s.lists_with_sizes()?, s.search_contacts(&search, SHOWN)?)))
        .await;
    let (lists, (found, matched)) = match read {
        Ok(r) => r,
        Err(e) => return db_failure(e),
    };
    let t = signed.texts;
    ContactsPage {
        chrome: Chrome::new(&app, &t, Some(&signed), "contacts"),
        q: needle,
        lists,
        found,
        matched,
        imported: q.imported.map(|n| {
            t.fill("contacts.imported", &n.to_string())
                .replacen("{}", &q.list, 1)
        }),
        t,
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "contacts_preview.html")]
pub struct PreviewPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub list: String,
    pub file: String,
    /// The file's text, sent back with the confirmation.
    pub csv: String,
    pub count: usize,
    pub rows: Vec<Contact>,
    /// Every problem (`file:line: reason`), when the file cannot be imported.
    pub problems: Vec<String>,
    pub problems_total: usize,
    /// A problem with the form itself (no file, no list name).
    pub error: Option<String>,
}

/// Reads the upload form: (CSRF token, list, file name, file text), or what is wrong.
async fn upload(
    t: &Texts,
    mut form: Multipart,
) -> Result<(String, String, String, String), String> {
    let (mut csrf, mut list, mut name, mut text) = (String::new(), String::new(), None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(format!("{}: {e}", t.get("contacts.upload_failed"))),
        };
        match field.name().unwrap_or_default() {
            "_csrf" => csrf = field.text().await.unwrap_or_default(),
            "list" => list = field.text().await.unwrap_or_default(),
            "file" => {
                name = Some(field.file_name().unwrap_or("contacts.csv").to_owned());
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| format!("{}: {e}", t.get("contacts.upload_failed")))?;
                // Spreadsheets save UTF-8 with a byte-order mark; anything else that is not
                // UTF-8 is refused with a clear message rather than guessed at.
                let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
                text = Some(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| t.get("contacts.not_utf8").to_owned())?,
                );
            }
            _ => {}
        }
    }
    let text = text
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| t.get("contacts.no_file").to_owned())?;
    Ok((csrf, list, name.unwrap_or_default(), text))
}

fn list_problem(t: &Texts, list: &str) -> Option<String> {
    let n = list.trim().chars().count();
    (n == 0 || n > 100).then(|| t.get("contacts.list_name").to_owned())
}

pub async fn preview(State(app): State<App>, signed: Signed, form: Multipart) -> Response {
    let t = signed.texts;
    let keys = match app.db.read(|s| s.console_keys()).await {
        Ok(k) => k,
        Err(e) => return db_failure(e),
    };
    let page = |status: StatusCode, p: PreviewPage| (status, p).into_response();
    let empty = |error: Option<String>, list: String| PreviewPage {
        chrome: Chrome::new(&app, &t, Some(&signed), "contacts"),
        t,
        list,
        file: String::new(),
        csv: String::new(),
        count: 0,
        rows: vec![],
        problems: vec![],
        problems_total: 0,
        error,
    };
    let (csrf, list, file, text) = match upload(&t, form).await {
        Ok(u) => u,
        Err(e) => {
            app.count(|c| &c.invalid_forms);
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                empty(Some(e), String::new()),
            );
        }
    };
    if !signed.csrf_ok(&keys, &csrf) {
        return super::forged(&app, &signed.texts);
    }
    if let Some(e) = list_problem(&t, &list) {
        app.count(|c| &c.invalid_forms);
        return page(StatusCode::UNPROCESSABLE_ENTITY, empty(Some(e), list));
    }
    let list = list.trim().to_owned();
    match contacts::check_file(&text) {
        Ok(found) => page(
            StatusCode::OK,
            PreviewPage {
                count: found.len(),
                rows: found.into_iter().take(PREVIEW_ROWS).collect(),
                csv: text,
                file,
                ..empty(None, list)
            },
        ),
        Err(problems) => {
            app.count(|c| &c.invalid_forms);
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                PreviewPage {
                    problems_total: problems.len(),
                    problems: problems
                        .iter()
                        .take(PROBLEMS_SHOWN)
                        .map(|p| said(&t, p))
                        .collect(),
                    file,
                    ..empty(None, list)
                },
            )
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    pub _csrf: String,
    #[serde(default)]
    pub list: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub csv: String,
}

pub async fn import(State(app): State<App>, signed: Signed, Form(f): Form<ImportForm>) -> Response {
    let t = signed.texts;
    if list_problem(&t, &f.list).is_some() {
        return failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            t.get("contacts.list_name").to_owned(),
        );
    }
    // Checked again: the confirmation's text came back from the browser.
    let found = match contacts::check_file(&f.csv) {
        Ok(found) => found,
        Err(problems) => {
            let said: Vec<String> = problems.iter().map(|p| said(&t, p)).collect();
            return failure(StatusCode::UNPROCESSABLE_ENTITY, said.join("\n"));
        }
    };
    let (token, who, list) = (
        signed.token.clone(),
        signed.operator.name.clone(),
        f.list.trim().to_owned(),
    );
    let csrf = f._csrf;
    let into = list.clone();
    let done = app
        .db
        .run(move |s| {
            if !crate::token::csrf_ok(&token, &s.console_keys()?, &csrf) {
                return Ok(None);
            }
            Ok(Some(s.import_contacts(&found, &into, &who)?))
        })
        .await;
    match done {
        Ok(Some(n)) => {
            info!(operator = %signed.operator.name, contacts = n, %list, "contacts imported");
            let query: String = super::query(&[("imported", &n.to_string()), ("list", &list)]);
            Redirect::to(&format!("/contacts?{query}")).into_response()
        }
        Ok(None) => super::forged(&app, &signed.texts),
        Err(DbError::Store(StoreError::Refused(why))) => failure(StatusCode::CONFLICT, why),
        Err(e) => db_failure(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "contact_edit.html")]
pub struct EditPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub numbers: String,
    pub language: String,
    pub tags: String,
    pub lists: Vec<String>,
    pub errors: Vec<(String, String)>,
}

impl EditPage {
    /// (field, value, label key, help key) in the form's order.
    pub fn fields(&self) -> [(&'static str, &str, &'static str, &'static str); 4] {
        [
            ("name", &self.name, "report.name", ""),
            (
                "numbers",
                &self.numbers,
                "contacts.numbers",
                "contacts.numbers_help",
            ),
            ("language", &self.language, "contacts.language", ""),
            ("tags", &self.tags, "contacts.tags", "contacts.tags_help"),
        ]
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, e)| e.as_str())
    }
}

/// Contact `id`, or the page that says there is none (or that the database failed).
async fn contact(app: &App, t: &Texts, id: i64) -> Result<ContactRow, Response> {
    match app.db.read(move |s| s.contact_by_id(id)).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => Err(failure(
            StatusCode::NOT_FOUND,
            t.get("contacts.not_found").to_owned(),
        )),
        Err(e) => Err(db_failure(e)),
    }
}

pub async fn edit_form(State(app): State<App>, signed: Signed, Path(id): Path<i64>) -> Response {
    let t = signed.texts;
    let row = match contact(&app, &t, id).await {
        Ok(row) => row,
        Err(r) => return r,
    };
    EditPage {
        chrome: Chrome::new(&app, &t, Some(&signed), "contacts"),
        id,
        external_id: row.contact.external_id,
        name: row.contact.name,
        numbers: row.contact.numbers.join("; "),
        language: row.contact.language,
        tags: row.contact.tags.join("; "),
        lists: row.lists,
        errors: vec![],
        t,
    }
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    pub _csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub numbers: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub tags: String,
}

/// The operator's words for a field's problem.
/// A line's problems in the operator's language: "riga 3: manca il nome; …".
fn said(t: &Texts, line: &contacts::LineProblems) -> String {
    let problems: Vec<String> = line
        .problems
        .iter()
        .map(|p| {
            let key = format!("contacts.file_problem.{}", p.key());
            match p {
                contacts::Problem::FieldCount { got, want } => t
                    .fill(&key, &got.to_string())
                    .replacen("{}", &want.to_string(), 1),
                _ => t.fill(&key, &p.value()),
            }
        })
        .collect();
    match line.line {
        0 => problems.join("; "),
        n => format!(
            "{}: {}",
            t.fill("contacts.line", &n.to_string()),
            problems.join("; ")
        ),
    }
}

fn field_problem(t: &Texts, field: &str) -> String {
    t.get(&format!("contact.problem.{field}")).to_owned()
}

pub async fn edit(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(f): Form<EditForm>,
) -> Response {
    let t = signed.texts;
    let current = match contact(&app, &t, id).await {
        Ok(row) => row,
        Err(r) => return r,
    };
    let long = [&f.name, &f.numbers, &f.language, &f.tags]
        .iter()
        .any(|v| v.chars().count() > 500);
    let read = if long {
        Err(vec![contacts::Problem::NoName])
    } else {
        contacts::read_one(
            &current.contact.external_id,
            &f.name,
            &f.numbers,
            &f.language,
            &f.tags,
        )
    };
    let contact = match read {
        Ok(c) => c,
        Err(problems) => {
            app.count(|c| &c.invalid_forms);
            let mut errors: Vec<(String, String)> = Vec::new();
            for field in problems.iter().filter_map(contacts::Problem::field) {
                if !errors.iter().any(|(f, _)| f == field) {
                    errors.push((field.to_owned(), field_problem(&t, field)));
                }
            }
            let page = EditPage {
                chrome: Chrome::new(&app, &t, Some(&signed), "contacts"),
                id,
                external_id: current.contact.external_id,
                name: f.name,
                numbers: f.numbers,
                language: f.language,
                tags: f.tags,
                lists: current.lists,
                errors,
                t,
            };
            return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
        }
    };
    let (token, who, csrf) = (signed.token.clone(), signed.operator.name.clone(), f._csrf);
    let done = app
        .db
        .run(move |s| {
            if !crate::token::csrf_ok(&token, &s.console_keys()?, &csrf) {
                return Ok(false);
            }
            s.update_contact(id, &contact, &who)?;
            Ok(true)
        })
        .await;
    match done {
        Ok(true) => Redirect::to(&format!("/contacts/{id}")).into_response(),
        Ok(false) => super::forged(&app, &signed.texts),
        Err(DbError::Store(StoreError::Refused(why))) => failure(StatusCode::CONFLICT, why),
        Err(e) => db_failure(e),
    }
}
