//! Operators (administrators only): add one, disable or enable, set a new password or
//! phone PIN. A new password or disabling ends every session of that operator on both
//! nodes (the replicated epoch); the last enabled administrator cannot be disabled. Every
//! change is audited with the administrator's name.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tracing::info;

use alertdb::console::OperatorRow;
use alertdb::password::{password_problem, pin_problem};
use alertdb::store::StoreError;

use super::{admin_form, admins_only, db_failure, failure, Chrome, DoneQuery};
use crate::app::App;
use crate::db::DbError;
use crate::i18n::Texts;
use crate::session::Signed;

#[derive(Debug, Clone, Default)]
pub struct NewOperator {
    pub name: String,
    pub role: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "operators.html")]
pub struct OperatorsPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub operators: Vec<OperatorRow>,
    pub f: NewOperator,
    /// (field, problem) of the add form, or `op<id>` for a change to one operator.
    pub errors: Vec<(String, String)>,
    pub done: Option<String>,
    pub me: i64,
}

impl OperatorsPage {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, e)| e.as_str())
    }

    pub fn op_error(&self, id: &i64) -> Option<&str> {
        self.error(&format!("op{id}"))
    }
}

async fn render(
    app: &App,
    signed: &Signed,
    f: NewOperator,
    errors: Vec<(String, String)>,
    done: Option<String>,
) -> Response {
    let operators = match app.db.read(|s| s.operators()).await {
        Ok(o) => o,
        Err(e) => return db_failure(e),
    };
    let t = signed.texts;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = OperatorsPage {
        chrome: Chrome::new(app, &t, Some(signed), "operators"),
        operators,
        f,
        errors,
        done,
        me: signed.operator.id,
        t,
    };
    (status, page).into_response()
}

pub async fn page(State(app): State<App>, signed: Signed, Query(q): Query<DoneQuery>) -> Response {
    if let Some(r) = admins_only(&signed) {
        return r;
    }
    let done = q.text("operators.done", &signed.texts);
    let f = NewOperator {
        role: "operator".into(),
        ..NewOperator::default()
    };
    render(&app, &signed, f, vec![], done).await
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    pub _csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub again: String,
    #[serde(default)]
    pub pin: String,
}

/// Checks a new password typed twice: (field, problem) pairs.
fn new_password_problems(
    t: &Texts,
    password: &str,
    again: &str,
    field: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if password_problem(password).is_some() {
        out.push((
            field.to_owned(),
            t.get("operators.problem.password").to_owned(),
        ));
    } else if password != again {
        out.push((
            field.to_owned(),
            t.get("operators.problem.again").to_owned(),
        ));
    }
    out
}

pub async fn add(State(app): State<App>, signed: Signed, Form(f): Form<AddForm>) -> Response {
    if let Some(r) = admin_form(&app, &signed, &f._csrf).await {
        return r;
    }
    let t = signed.texts;
    let name = f.name.trim().to_owned();
    let mut errors = Vec::new();
    if name.is_empty()
        || name.chars().count() > 64
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "._-".contains(c))
    {
        errors.push((
            "name".to_owned(),
            t.get("operators.problem.name").to_owned(),
        ));
    }
    if !matches!(f.role.as_str(), "admin" | "operator") {
        errors.push((
            "role".to_owned(),
            t.get("operators.problem.role").to_owned(),
        ));
    }
    errors.extend(new_password_problems(&t, &f.password, &f.again, "password"));
    let pin = Some(f.pin.trim())
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    if pin.as_deref().and_then(pin_problem).is_some() {
        errors.push(("pin".to_owned(), t.get("operators.problem.pin").to_owned()));
    }
    let kept = NewOperator {
        name: name.clone(),
        role: f.role.clone(),
    };
    if !errors.is_empty() {
        app.count(|c| &c.invalid_forms);
        return render(&app, &signed, kept, errors, None).await;
    }
    let who = signed.operator.name.clone();
    let (role, password) = (f.role.clone(), f.password);
    let added = {
        // argon2 twice (password and PIN): on a blocking thread, as a sign-in is.
        let name = name.clone();
        app.db
            .run(move |s| s.add_operator(&name, &role, &password, pin.as_deref(), &who))
            .await
    };
    match added {
        Ok(()) => {
            info!(admin = %signed.operator.name, operator = %name, "operator added");
            Redirect::to("/operators?done=operators.done.added").into_response()
        }
        Err(DbError::Store(StoreError::Refused(why))) if why.contains("exists") => {
            let errors = vec![(
                "name".to_owned(),
                t.get("operators.problem.exists").to_owned(),
            )];
            render(&app, &signed, kept, errors, None).await
        }
        Err(e) => db_failure(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    pub _csrf: String,
    /// `disable`, `enable`, `password`, `pin`, `remove-pin`.
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub again: String,
    #[serde(default)]
    pub pin: String,
}

pub async fn change(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(f): Form<ChangeForm>,
) -> Response {
    if let Some(r) = admin_form(&app, &signed, &f._csrf).await {
        return r;
    }
    let t = signed.texts;
    let field = format!("op{id}");
    let problem = |key: &str| vec![(field.clone(), t.get(key).to_owned())];
    let keep = NewOperator {
        role: "operator".into(),
        ..NewOperator::default()
    };
    let errors = match f.action.as_str() {
        "password" => new_password_problems(&t, &f.password, &f.again, &field),
        "pin" if pin_problem(f.pin.trim()).is_some() => problem("operators.problem.pin"),
        "disable" if id == signed.operator.id => problem("operators.problem.self"),
        "disable" | "enable" | "pin" | "remove-pin" => vec![],
        _ => {
            return failure(
                StatusCode::BAD_REQUEST,
                format!("unknown action {:?}", f.action),
            )
        }
    };
    if !errors.is_empty() {
        app.count(|c| &c.invalid_forms);
        return render(&app, &signed, keep, errors, None).await;
    }
    let who = signed.operator.name.clone();
    let action = f.action.clone();
    let (password, pin) = (f.password, f.pin.trim().to_owned());
    let done = app
        .db
        .run(move |s| match action.as_str() {
            "disable" => s.set_disabled(id, true, &who),
            "enable" => s.set_disabled(id, false, &who),
            "password" => s.set_password(id, &password, &who),
            "pin" => s.set_pin(id, Some(&pin), &who),
            _ => s.set_pin(id, None, &who),
        })
        .await;
    match done {
        Ok(()) => {
            info!(admin = %signed.operator.name, operator = id, action = %f.action, "operator changed");
            Redirect::to(&format!("/operators?done=operators.done.{}", f.action)).into_response()
        }
        Err(DbError::Store(StoreError::Refused(why))) => {
            let key = if why.contains("last enabled administrator") {
                "operators.problem.last_admin"
            } else {
                "operators.problem.missing"
            };
            render(&app, &signed, keep, problem(key), None).await
        }
        Err(e) => db_failure(e),
    }
}
