//! Driver: every route, in one table so a newcomer finds any page from here; the pages
//! themselves are in `pages/`, the rules every response follows in `guard`.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};

use crate::app::App;
use crate::{guard, pages};

/// Form bodies are small; nothing the console takes in this table is larger.
pub const MAX_FORM: usize = 64 * 1024;

/// Every route.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(pages::status::page))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/logout", post(pages::login::sign_out))
        .route("/lang/{code}", get(pages::login::language))
        .route(
            "/campaigns",
            get(pages::campaigns::list).post(pages::campaigns::create),
        )
        .route("/campaigns/new", get(pages::campaigns::new_form))
        .route("/campaigns/{id}", get(pages::campaigns::show))
        .route("/campaigns/{id}/confirm", get(pages::campaigns::confirm))
        .route("/campaigns/{id}/action", post(pages::campaigns::act))
        .route(
            "/campaigns/{id}/report.csv",
            get(pages::campaigns::report_csv),
        )
        .route("/contacts", get(pages::contacts::page))
        .route(
            "/contacts/preview",
            post(pages::contacts::preview)
                .layer(DefaultBodyLimit::max(pages::contacts::MAX_FILE + MAX_FORM)),
        )
        .route(
            // The file comes back percent-encoded: up to three bytes for one.
            "/contacts/import",
            post(pages::contacts::import).layer(DefaultBodyLimit::max(
                3 * pages::contacts::MAX_FILE + MAX_FORM,
            )),
        )
        .route(
            "/contacts/{id}",
            get(pages::contacts::edit_form).post(pages::contacts::edit),
        )
        .route("/messages", get(pages::messages::page))
        .route("/messages/text", post(pages::messages::text))
        .route(
            "/messages/upload",
            post(pages::messages::upload).layer(DefaultBodyLimit::max(
                pages::messages::MAX_UPLOAD + MAX_FORM,
            )),
        )
        .route("/audio/{*prompt}", get(pages::messages::audio))
        .route(
            "/operators",
            get(pages::operators::page).post(pages::operators::add),
        )
        .route("/operators/{id}", post(pages::operators::change))
        .route("/settings", get(pages::settings::page))
        .route("/settings/windows", post(pages::settings::add))
        .route("/settings/windows/remove", post(pages::settings::remove))
        .route("/live/campaigns/{id}", get(pages::live::campaign))
        .route("/static/{file}", get(pages::assets::file))
        .fallback(pages::assets::not_found)
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            guard::backup_page,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            guard::same_origin,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), guard::deadline))
        .layer(middleware::from_fn(guard::headers))
        .with_state(app)
}
