//! Campaigns: the list, the form that creates one (every field checked on the server, each
//! problem shown next to its field), the page of one with its live progress and its
//! per-recipient report, and start/pause/resume/stop behind a confirmation page. Every
//! change goes through `alertdb`'s store, as the command line's do: the same rules, the
//! same audit lines, with the operator's name.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tracing::info;

use alertdb::console::CampaignRow;
use alertdb::store::{ReportRow, StoreError};
use alertdb::{parse_window, CampaignSpec};

use super::{db_failure, duration, failure, when, Chrome};
use crate::app::App;
use crate::db::DbError;
use crate::i18n::Texts;
use crate::live::{self, Snapshot};
use crate::session::Signed;

/// A recipient's statuses, in the report's filter.
const RECIPIENT_STATUSES: [&str; 5] = ["pending", "calling", "confirmed", "gave_up", "stopped"];

/// Rows on one page of the report (the CSV has them all): a page stays small enough to
/// load in a few milliseconds on a busy node.
const REPORT_ROWS: usize = 100;

pub struct Row {
    pub id: i64,
    pub name: String,
    pub state: String,
    pub state_class: String,
    pub done: String,
    pub confirmed: u64,
    pub created: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "campaigns.html")]
pub struct ListPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub rows: Vec<Row>,
}

fn state_text(t: &Texts, state: &str) -> String {
    t.get(&format!("state.{state}")).to_owned()
}

pub async fn list(State(app): State<App>, signed: Signed) -> Response {
    let rows = match app.db.read(|s| s.campaign_rows()).await {
        Ok(rows) => rows,
        Err(e) => return db_failure(e),
    };
    let t = signed.texts;
    let row = |c: CampaignRow| Row {
        id: c.id,
        state: state_text(&t, &c.state),
        state_class: c.state.clone(),
        done: format!("{}/{}", c.finished, c.recipients),
        confirmed: c.confirmed,
        created: when(c.created_at),
        name: c.name,
    };
    ListPage {
        chrome: Chrome::new(&app, &t, Some(&signed), "campaigns"),
        rows: rows.into_iter().map(row).collect(),
        t,
    }
    .into_response()
}

/// The form's fields as typed (kept on a refusal so nothing is typed twice).
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub _csrf: String,
    pub name: String,
    pub message: String,
    pub priority: String,
    pub lines: String,
    pub cps: String,
    pub ring: String,
    pub attempts: String,
    pub retry: String,
    pub window: String,
}

impl Fields {
    /// The form's fields and its checked lists (`list`, once per checked box: a key the
    /// form repeats, which a struct cannot take).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> (Self, Vec<String>) {
        let mut f = Self::default();
        let mut lists = Vec::new();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "_csrf" => &mut f._csrf,
                "name" => &mut f.name,
                "message" => &mut f.message,
                "priority" => &mut f.priority,
                "lines" => &mut f.lines,
                "cps" => &mut f.cps,
                "ring" => &mut f.ring,
                "attempts" => &mut f.attempts,
                "retry" => &mut f.retry,
                "window" => &mut f.window,
                "list" => {
                    if lists.len() < 1000 {
                        lists.push(value);
                    }
                    continue;
                }
                _ => continue,
            };
            *slot = value;
        }
        (f, lists)
    }

    fn defaults() -> Self {
        Self {
            priority: "0".into(),
            lines: "30".into(),
            cps: "5".into(),
            ring: "30".into(),
            attempts: "3".into(),
            retry: "300".into(),
            ..Self::default()
        }
    }
}

/// One checkbox of the form.
pub struct ListChoice {
    pub name: String,
    pub size: u64,
    pub checked: bool,
}

/// A field of the form's grid.
pub struct NumberField {
    pub field: &'static str,
    pub value: String,
    pub label: String,
    pub help: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_new.html")]
pub struct NewPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub f: Fields,
    pub grid: Vec<NumberField>,
    pub messages: Vec<String>,
    pub lists: Vec<ListChoice>,
    /// (field, problem), in the form's order.
    pub errors: Vec<(String, String)>,
}

impl NewPage {
    /// The problem with `field`, if any (shown next to it).
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, e)| e.as_str())
    }
}

async fn new_page(
    app: &App,
    signed: &Signed,
    f: Fields,
    chosen: &[String],
    errors: Vec<(String, String)>,
) -> Response {
    let choices = app
        .db
        .read(|s| Ok((s.message_names()?, s.lists_with_sizes()?)))
        .await;
    let (messages, lists) = match choices {
        Ok(c) => c,
        Err(e) => return db_failure(e),
    };
    let t = signed.texts;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let grid = [
        ("priority", &f.priority),
        ("lines", &f.lines),
        ("cps", &f.cps),
        ("ring", &f.ring),
        ("attempts", &f.attempts),
        ("retry", &f.retry),
        ("window", &f.window),
    ]
    .into_iter()
    .map(|(field, value)| NumberField {
        field,
        value: value.clone(),
        label: t.get(&format!("campaign.{field}")).to_owned(),
        help: t.get(&format!("help.{field}")).to_owned(),
    })
    .collect();
    let page = NewPage {
        chrome: Chrome::new(app, &t, Some(signed), "campaigns"),
        grid,
        f,
        messages,
        lists: lists
            .into_iter()
            .map(|(name, size)| ListChoice {
                checked: chosen.contains(&name),
                name,
                size,
            })
            .collect(),
        errors,
        t,
    };
    (status, page).into_response()
}

pub async fn new_form(State(app): State<App>, signed: Signed) -> Response {
    new_page(&app, &signed, Fields::defaults(), &[], vec![]).await
}

/// Reads the form into a campaign, or every problem by field (in the operator's language
/// where the problem is about the form itself; the store's rules say theirs).
pub fn read_form(
    t: &Texts,
    f: &Fields,
    lists: &[String],
) -> Result<CampaignSpec, Vec<(String, String)>> {
    let mut errors = Vec::new();
    fn number<T: std::str::FromStr + Default>(
        t: &Texts,
        errors: &mut Vec<(String, String)>,
        field: &str,
        text: &str,
    ) -> T {
        match text.trim().replace(',', ".").parse() {
            Ok(v) => v,
            Err(_) => {
                errors.push((field.to_owned(), t.get("form.not_a_number").to_owned()));
                T::default()
            }
        }
    }
    let priority: i64 = number(t, &mut errors, "priority", &f.priority);
    let max_lines: u32 = number(t, &mut errors, "lines", &f.lines);
    let cps: f64 = number(t, &mut errors, "cps", &f.cps);
    let ring_secs: u32 = number(t, &mut errors, "ring", &f.ring);
    let max_attempts: u32 = number(t, &mut errors, "attempts", &f.attempts);
    let retry_secs: u32 = number(t, &mut errors, "retry", &f.retry);
    let window = match f.window.trim() {
        "" => None,
        w => match parse_window(w) {
            Ok(w) => Some(w),
            Err(e) => {
                errors.push(("window".into(), e));
                None
            }
        },
    };
    if f.name.chars().count() > 100 {
        errors.push(("name".into(), t.get("form.too_long").to_owned()));
    }
    if f.message.trim().is_empty() {
        errors.push(("message".into(), t.get("campaign.pick_message").to_owned()));
    }
    let spec = CampaignSpec {
        name: f.name.trim().to_owned(),
        message: f.message.trim().to_owned(),
        lists: lists.to_vec(),
        priority,
        max_lines,
        cps,
        ring_secs,
        max_attempts,
        retry_secs,
        window,
    };
    // The store's rules decide; the operator reads them in their language.
    for (field, _) in spec.problems() {
        if !errors.iter().any(|(f, _)| f == field) {
            errors.push((
                field.to_owned(),
                t.get(&format!("problem.{field}")).to_owned(),
            ));
        }
    }
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(errors)
    }
}

pub async fn create(
    State(app): State<App>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (f, lists) = Fields::from_pairs(pairs);
    let keys = match app.db.read(|s| s.console_keys()).await {
        Ok(k) => k,
        Err(e) => return db_failure(e),
    };
    if !signed.csrf_ok(&keys, &f._csrf) {
        return super::forged(&app, &signed.texts);
    }
    let spec = match read_form(&signed.texts, &f, &lists) {
        Ok(spec) => spec,
        Err(errors) => {
            app.count(|c| &c.invalid_forms);
            return new_page(&app, &signed, f, &lists, errors).await;
        }
    };
    let who = signed.operator.name.clone();
    let name = spec.name.clone();
    match app
        .db
        .run(move |s| {
            s.create_campaign(&spec, &who)?;
            Ok(s.campaign(&spec.name)?.map(|c| c.id))
        })
        .await
    {
        Ok(Some(id)) => {
            info!(operator = %signed.operator.name, campaign = %name, "campaign created");
            Redirect::to(&format!("/campaigns/{id}")).into_response()
        }
        Ok(None) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "created, then not found".into(),
        ),
        Err(DbError::Store(StoreError::Refused(why))) => {
            app.count(|c| &c.invalid_forms);
            let error = if why.contains("exists") {
                (
                    "name".into(),
                    signed.texts.get("campaign.exists").to_owned(),
                )
            } else if why.contains("message") {
                ("message".into(), why)
            } else {
                ("name".into(), why)
            };
            new_page(&app, &signed, f, &lists, vec![error]).await
        }
        Err(e) => db_failure(e),
    }
}

/// The progress panel (also what the live stream sends).
#[derive(Template)]
#[template(path = "progress.html")]
pub struct ProgressPanel<'a> {
    pub t: Texts,
    pub s: &'a Snapshot,
    /// The node that rendered it (the page's header follows it after a takeover).
    pub node: &'a str,
    pub state: String,
    /// (action, label) the operator may take now: they change with the state.
    pub actions: Vec<(&'static str, String)>,
    /// (outcome, label, count), most first.
    pub outcomes: Vec<(String, String, u64)>,
    pub percent: String,
    pub eta: String,
    pub chart: String,
}

impl<'a> ProgressPanel<'a> {
    pub fn new(t: Texts, s: &'a Snapshot, node: &'a str) -> Self {
        let eta = match s.progress.eta_secs {
            Some(_) if s.state != "running" => "–".to_owned(),
            Some(secs) => duration(secs),
            None => t.get("progress.eta_unknown").to_owned(),
        };
        Self {
            t,
            s,
            node,
            state: t.get(&format!("state.{}", s.state)).to_owned(),
            outcomes: s
                .outcomes
                .iter()
                .map(|(o, n)| (o.clone(), t.get(&format!("outcome.{o}")).to_owned(), *n))
                .collect(),
            actions: actions(&s.state)
                .iter()
                .map(|a| (*a, t.get(&format!("action.{a}")).to_owned()))
                .collect(),
            percent: format!("{:.0}", s.progress.percent.floor()),
            eta,
            chart: chart_points(s.started_at, &s.timeline, s.progress.total),
        }
    }
}

/// The chart's polyline: time along (from the start to the last finish), people finished
/// up, in a 600×120 box; at most one point per horizontal unit, so a long campaign's
/// chart stays small.
pub fn chart_points(started_at: Option<i64>, timeline: &[(i64, u64)], total: u64) -> String {
    let Some(last) = timeline.last() else {
        return String::new();
    };
    let start = started_at.unwrap_or(timeline[0].0).min(timeline[0].0);
    let span = (last.0 - start).max(1_000) as f64;
    let top = total.max(1) as f64;
    let mut points = vec!["0.0,120.0".to_owned()];
    let mut last_x = -1.0_f64;
    for (i, (at, n)) in timeline.iter().enumerate() {
        let x = ((at - start) as f64 / span * 600.0).round();
        let y = 120.0 - *n as f64 / top * 120.0;
        // The last point of each horizontal unit (and always the very last).
        let next_x = timeline
            .get(i + 1)
            .map(|(t, _)| ((t - start) as f64 / span * 600.0).round());
        if next_x == Some(x) && i + 1 < timeline.len() {
            continue;
        }
        if x > last_x || i + 1 == timeline.len() {
            points.push(format!("{x:.1},{y:.1}"));
            last_x = x;
        }
    }
    points.join(" ")
}

pub fn render_panel(t: Texts, s: &Snapshot, node: &str) -> String {
    ProgressPanel::new(t, s, node)
        .render()
        .unwrap_or_else(|e| format!("<p>{e}</p>"))
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign.html")]
pub struct CampaignPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub id: i64,
    pub name: String,
    pub state: String,
    pub panel: String,
    pub report: Vec<ReportLine>,
    pub report_total: usize,
    /// (value, label, selected) of the status filter.
    pub statuses: Vec<(String, String, bool)>,
    pub filter: String,
    pub search: String,
    /// The CSV's query (filter and search, percent-encoded).
    pub csv_query: String,
    /// The previous and next pages' queries, where there are some; this page's number
    /// and how many there are.
    pub prev: Option<String>,
    pub next: Option<String>,
    pub page: usize,
    pub pages: usize,
}

/// A recipient's line, its status in the operator's words.
pub struct ReportLine {
    pub row: ReportRow,
    pub status: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub q: String,
    /// The report's page, from 0.
    #[serde(default)]
    pub page: usize,
}

impl ReportQuery {
    /// This filter and search at `page`, as a query string.
    fn at(&self, page: Option<usize>) -> String {
        let page = page.map(|p| p.to_string());
        let mut pairs = vec![("status", self.status.as_str()), ("q", self.q.as_str())];
        if let Some(p) = &page {
            pairs.push(("page", p));
        }
        super::query(&pairs)
    }
}

fn filtered(rows: Vec<ReportRow>, q: &ReportQuery) -> Vec<ReportRow> {
    let needle = q.q.trim().to_lowercase();
    rows.into_iter()
        .filter(|r| q.status.is_empty() || r.status == q.status)
        .filter(|r| {
            needle.is_empty()
                || r.name.to_lowercase().contains(&needle)
                || r.external_id.to_lowercase().contains(&needle)
                || r.last_number.contains(&needle)
        })
        .collect()
}

/// What an operator may do with a campaign in `state`.
pub fn actions(state: &str) -> &'static [&'static str] {
    match state {
        "draft" => &["start"],
        "running" => &["pause", "stop"],
        "paused" => &["resume", "stop"],
        _ => &[],
    }
}

pub async fn show(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let read = app
        .db
        .read(move |s| Ok((live::snapshot(s, id)?, s.report(id)?)))
        .await;
    let (snap, report) = match read {
        Ok((Some(snap), report)) => (snap, report),
        Ok((None, _)) => return not_found(&signed.texts),
        Err(e) => return db_failure(e),
    };
    let t = signed.texts;
    let rows = filtered(report, &q);
    let report_total = rows.len();
    let pages = report_total.div_ceil(REPORT_ROWS).max(1);
    let page = q.page.min(pages - 1);
    CampaignPage {
        chrome: Chrome::new(&app, &t, Some(&signed), "campaigns"),
        id,
        name: snap.name.clone(),
        state: snap.state.clone(),
        panel: render_panel(t, &snap, &app.config.node),
        report: rows
            .into_iter()
            .skip(page * REPORT_ROWS)
            .take(REPORT_ROWS)
            .map(|row| ReportLine {
                status: t.get(&format!("recipient.{}", row.status)).to_owned(),
                row,
            })
            .collect(),
        statuses: RECIPIENT_STATUSES
            .iter()
            .map(|st| {
                (
                    (*st).to_owned(),
                    t.get(&format!("recipient.{st}")).to_owned(),
                    q.status == *st,
                )
            })
            .collect(),
        report_total,
        csv_query: q.at(None),
        prev: (page > 0).then(|| q.at(Some(page - 1))),
        next: (page + 1 < pages).then(|| q.at(Some(page + 1))),
        page: page + 1,
        pages,
        filter: q.status,
        search: q.q,
        t,
    }
    .into_response()
}

fn not_found(t: &Texts) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        t.get("campaign.not_found").to_owned(),
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub id: i64,
    pub action: String,
    pub question: String,
    pub label: String,
}

#[derive(Debug, Deserialize)]
pub struct ActionQuery {
    #[serde(default)]
    pub action: String,
}

/// "Start campaign X? It will call N people." A second, deliberate step.
pub async fn confirm(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<ActionQuery>,
) -> Response {
    let t = signed.texts;
    let read = app
        .db
        .read(move |s| Ok((live::snapshot(s, id)?, s.campaign_audience(id)?)))
        .await;
    let (snap, audience) = match read {
        Ok((Some(s), audience)) => (s, audience),
        Ok((None, _)) => return not_found(&t),
        Err(e) => return db_failure(e),
    };
    if !actions(&snap.state).contains(&q.action.as_str()) {
        return Redirect::to(&format!("/campaigns/{id}")).into_response();
    }
    let question = t
        .fill(&format!("confirm.{}", q.action), &snap.name)
        .replacen("{}", &audience.to_string(), 1);
    ConfirmPage {
        chrome: Chrome::new(&app, &t, Some(&signed), "campaigns"),
        id,
        label: t.get(&format!("action.{}", q.action)).to_owned(),
        action: q.action,
        question,
        t,
    }
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub _csrf: String,
    #[serde(default)]
    pub action: String,
}

pub async fn act(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    if !["start", "pause", "resume", "stop"].contains(&f.action.as_str()) {
        return failure(
            StatusCode::BAD_REQUEST,
            format!("unknown action {:?}", f.action),
        );
    }
    let who = signed.operator.name.clone();
    let token = signed.token.clone();
    let action = f.action.clone();
    let done = app
        .db
        .run(move |s| {
            if !crate::token::csrf_ok(&token, &s.console_keys()?, &f._csrf) {
                return Ok(Err("forged"));
            }
            let Some(c) = s.campaign_by_id(id)? else {
                return Ok(Err("missing"));
            };
            s.control(&c.name, &action, &who)?;
            Ok(Ok(c.name))
        })
        .await;
    match done {
        Ok(Ok(name)) => {
            info!(operator = %signed.operator.name, campaign = %name, action = %f.action, "campaign control");
            Redirect::to(&format!("/campaigns/{id}")).into_response()
        }
        Ok(Err("forged")) => super::forged(&app, &signed.texts),
        Ok(Err(_)) => not_found(&signed.texts),
        Err(DbError::Store(StoreError::Refused(why))) => failure(StatusCode::CONFLICT, why),
        Err(e) => db_failure(e),
    }
}

pub async fn report_csv(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let read = app
        .db
        .read(move |s| Ok((s.campaign_by_id(id)?, s.report(id)?)))
        .await;
    let (campaign, rows) = match read {
        Ok((Some(c), rows)) => (c, rows),
        Ok((None, _)) => return not_found(&signed.texts),
        Err(e) => return db_failure(e),
    };
    let body = alertdb::report::csv_for_spreadsheets(&filtered(rows, &q));
    let file: String = campaign
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn a_bad_form_names_every_field_it_got_wrong() {
        let t = Texts::new(Lang::It);
        let f = Fields {
            name: "".into(),
            message: "allerta".into(),
            lines: "tanti".into(),
            cps: "5".into(),
            ring: "2".into(),
            attempts: "3".into(),
            retry: "300".into(),
            priority: "0".into(),
            window: "25:00-06:00".into(),
            ..Fields::default()
        };
        let errors = read_form(&t, &f, &[]).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["lines", "window", "name", "lists", "ring"]);
        assert_eq!(errors[0].1, t.get("form.not_a_number"));
        assert_eq!(errors[4].1, t.get("problem.ring"));
        let f = Fields {
            name: "Esondazione".into(),
            message: "allerta".into(),
            cps: "2,5".into(),
            window: "08:00-20:00".into(),
            ..Fields::defaults()
        };
        let spec = read_form(&t, &f, &["Centro".into()]).unwrap();
        assert_eq!(
            (spec.cps, spec.window, spec.max_lines),
            (2.5, Some((480, 1200)), 30)
        );
    }

    #[test]
    fn repeated_checkboxes_are_the_lists() {
        let pairs = [
            ("_csrf", "x"),
            ("name", "Piena"),
            ("list", "Centro"),
            ("list", "Zona Nord"),
            ("x", "y"),
        ];
        let (f, lists) = Fields::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        assert_eq!((f._csrf.as_str(), f.name.as_str()), ("x", "Piena"));
        assert_eq!(lists, ["Centro", "Zona Nord"]);
    }

    #[test]
    fn the_chart_rises_with_finished_people_from_the_start() {
        assert_eq!(chart_points(Some(0), &[], 10), "");
        let p = chart_points(Some(0), &[(30_000, 5), (60_000, 10)], 10);
        assert_eq!(p, "0.0,120.0 300.0,60.0 600.0,0.0");
        // A day's campaign with a finish every second: one point per horizontal unit.
        let day: Vec<(i64, u64)> = (1..=86_400).map(|s| (s * 1000, s as u64)).collect();
        let p = chart_points(Some(0), &day, 86_400);
        assert!(
            p.split(' ').count() <= 602,
            "{} points",
            p.split(' ').count()
        );
        assert!(p.ends_with("600.0,0.0"));
    }
}
