//! The operators' web console (`allerta-web`): launch and follow an alert from a browser,
//! served over HTTPS on every address of the node, so on the VIP wherever it is. The
//! master serves the console; the backup a read-only page naming the master. Run by the
//! supervisor as a component like the media core and the sync agent.
//!
//! Pure: `config` (the `[console]` table), `token` (sessions and CSRF), `pair` (both nodes
//! at a glance), `i18n` (Italian and English). Drivers: `server` (TLS and HTTP with their
//! limits), `app` (the shared state), `routes` (every page's address), `guard` (headers, origin, deadlines, the backup's
//! page), `session` (who is asking), `signin` (passwords, lockout), `db` (the store),
//! `live` (progress for the browsers), `nodes` (the supervisors' status), `tls` (the
//! certificate), `upkeep` (what a master prepares), `service` (all of it started together), `control` (the supervisor's
//! contract), `pages/` (the pages), with `templates/` and `static/` beside `src/`.

pub mod app;
pub mod config;
pub mod control;
pub mod db;
pub mod guard;
pub mod i18n;
pub mod live;
pub mod nodes;
pub mod pages;
pub mod pair;
pub mod routes;
pub mod server;
pub mod service;
pub mod session;
pub mod signin;
pub mod tls;
pub mod token;
pub mod upkeep;
