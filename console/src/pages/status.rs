//! Both nodes at a glance (the master's home page), and the backup's read-only page that
//! names the master and links to it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{duration, when, Chrome};
use crate::app::App;
use crate::i18n::Texts;
use crate::pair::{NodeView, PairView};
use crate::session::{self, Signed};

/// A node as the page shows it.
pub struct NodeCard {
    pub name: String,
    pub role: String,
    pub health: &'static str,
    pub health_text: String,
    pub reasons: Vec<String>,
    pub trunks: Vec<(String, bool, String)>,
    pub sync: String,
    pub alarms: Vec<String>,
    /// "Availability of 2026-12 (SLA)", then each service time's line.
    pub sla: Option<(String, Vec<SlaLine>)>,
}

/// One service time's line: hours, availability, minimum, met.
pub type SlaLine = (String, String, String, bool);

pub struct FailoverLine {
    pub when: String,
    pub node: String,
    pub change: String,
    pub cause: String,
    pub phases: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "status.html")]
pub struct StatusPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub nodes: Vec<NodeCard>,
    pub master: String,
    pub split_brain: bool,
    pub failover: Option<FailoverLine>,
}

fn card(t: &Texts, n: &NodeView) -> NodeCard {
    let sync = match (n.role.as_str(), n.sync_lag_ms) {
        ("MASTER", _) => t.get("status.sync_sender").to_owned(),
        (_, Some(ms)) => t.fill("status.sync_lag", &duration(ms as f64 / 1000.0)),
        _ => t.get("status.unknown").to_owned(),
    };
    NodeCard {
        name: n.name.clone(),
        role: if n.answered {
            n.role.clone()
        } else {
            t.get("status.silent").to_owned()
        },
        health: n.health.class(),
        health_text: t.get(&format!("health.{}", n.health.class())).to_owned(),
        reasons: n.reasons.clone(),
        trunks: n
            .trunks
            .iter()
            .map(|tr| (tr.name.clone(), tr.registered, tr.state.clone()))
            .collect(),
        sync,
        alarms: n.alarms.clone(),
        sla: n.sla.as_ref().map(|s| {
            (
                t.fill("status.sla_month", &s.month),
                s.service_times
                    .iter()
                    .map(|(hours, got, target, met)| {
                        (
                            hours.clone(),
                            format!("{got:.2} %"),
                            format!("{target:.0} %"),
                            *met,
                        )
                    })
                    .collect(),
            )
        }),
    }
}

fn master_line(t: &Texts, view: &PairView) -> String {
    match view.master() {
        Some(m) => t.fill("status.master_is", m),
        None if view.split_brain() => t.fill("status.split_brain", &view.masters.join(", ")),
        None => t.get("status.no_master").to_owned(),
    }
}

pub async fn page(State(app): State<App>, signed: Signed) -> StatusPage {
    let t = signed.texts;
    let view = app.nodes.view().await;
    let failover = view.last_failover.as_ref().map(|f| {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.1} ms")).unwrap_or("–".into());
        FailoverLine {
            when: when(f.at_ms as i64),
            node: f.node.clone(),
            change: format!("{} → {}", f.from, f.to),
            cause: f.cause.clone(),
            phases: format!(
                "{} {} · {} {} · {} {}",
                t.get("status.detect"),
                ms(f.detect_ms),
                t.get("status.vip_added"),
                ms(f.vip_added_ms),
                t.get("status.first_garp"),
                ms(f.first_garp_ms)
            ),
        }
    });
    StatusPage {
        chrome: Chrome::new(&app, &t, Some(&signed), "status"),
        nodes: view.nodes.iter().map(|n| card(&t, n)).collect(),
        master: master_line(&t, &view),
        split_brain: view.split_brain(),
        failover,
        t,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "backup.html")]
pub struct BackupPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub master: String,
    /// Where operators work: the VIP.
    pub link: Option<String>,
}

/// Every page, on the backup.
pub async fn backup(app: &App, headers: &HeaderMap) -> Response {
    let t = session::texts(headers);
    let view = app.nodes.view().await;
    BackupPage {
        chrome: Chrome::new(app, &t, None, "backup"),
        master: master_line(&t, &view),
        link: app.config.vip.map(|ip| format!("https://{ip}/")),
        t,
    }
    .into_response()
}
