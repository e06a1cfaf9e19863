//! The progress stream of one campaign, as server-sent events: the progress panel (HTML)
//! at once, then at each change of the ledger, and a `ping` every second so the page can
//! tell a stream that went silent (a node that vanished with the VIP leaves a half-open
//! connection behind) and open a new one (`static/live.js`).
//!
//! The stream ends when this node stops being the master or shuts down: the browser
//! comes back through the VIP, which then leads to the new master, and carries on from
//! that node's ledger. Without a valid session the stream says `signin` (a 200, as
//! EventSource gives up for good on any other status) and the page goes to sign-in.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use component::contract::Role;
use futures::stream::{self, Stream};
use tokio::sync::watch;

use super::campaigns::render_panel;
use crate::app::App;
use crate::i18n::Texts;
use crate::live::Snapshot;
use crate::session::{self, Signed};

/// How often an idle stream says it is alive; the page reopens a stream silent for 3 s.
pub const PING: Duration = Duration::from_secs(1);
/// How soon a browser comes back after a stream ends.
pub const RETRY: Duration = Duration::from_millis(300);

struct Watch {
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    role: watch::Receiver<Role>,
    app: App,
    texts: Texts,
    first: bool,
    ticker: tokio::time::Interval,
}

fn event(texts: Texts, snap: &Snapshot, node: &str) -> Event {
    Event::default()
        .event("progress")
        .id(snap.id.clone())
        .data(render_panel(texts, snap, node))
}

fn one(name: &'static str) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(stream::iter([Ok(Event::default()
        .retry(RETRY)
        .event(name)
        .data(name))]))
}

pub async fn campaign(
    State(app): State<App>,
    signed: Result<Signed, session::NotSigned>,
    Path(id): Path<i64>,
) -> Response {
    let Ok(signed) = signed else {
        return one("signin").into_response();
    };
    let mut ticker = tokio::time::interval(PING);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Watch {
        snapshots: app.hub.subscribe(id),
        role: app.role.clone(),
        texts: signed.texts,
        app: app.clone(),
        first: true,
        ticker,
    };
    let events = stream::unfold(state, |mut w| async move {
        if w.first {
            w.first = false;
            // The retry delay rides on the first event: the panel if another browser
            // watches this campaign already, else a greeting, the panel following as soon
            // as the hub has read it.
            let current = w.snapshots.borrow_and_update().clone();
            let first = match current {
                Some(snap) => event(w.texts, &snap, &w.app.config.node),
                None => Event::default().event("hello").data(" "),
            };
            return Some((Ok::<_, Infallible>(first.retry(RETRY)), w));
        }
        loop {
            tokio::select! {
                _ = w.app.cancel.cancelled() => return None,
                changed = w.role.changed() => {
                    if changed.is_err() || *w.role.borrow() != Role::Master {
                        return None;
                    }
                }
                changed = w.snapshots.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    let snap = w.snapshots.borrow_and_update().clone();
                    if let Some(snap) = snap {
                        return Some((Ok(event(w.texts, &snap, &w.app.config.node)), w));
                    }
                }
                _ = w.ticker.tick() => {
                    return Some((Ok(Event::default().event("ping").data(" ")), w));
                }
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
