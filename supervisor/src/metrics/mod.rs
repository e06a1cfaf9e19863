//! Metrics: the status snapshot `allertactl status` shows, as Prometheus text, and the HTTP
//! endpoint that serves it.
//!
//! - `snapshot` (pure): [`render`], the status as Prometheus text;
//! - `exposition` (pure): the [`Series`](exposition::Series) writer over the encoder;
//! - `node_series` (pure): the supervisor's own series (VRRP, transitions, health);
//! - `component_series` (pure): the media core's and the sync agent's, from their reports;
//! - `http`: `GET /metrics` and `GET /status`, and fetching the peer's status.

pub mod component_series;
pub mod exposition;
pub mod http;
pub mod node_series;
pub mod snapshot;

pub use http::{fetch_status, serve};
pub use snapshot::{render, CONTENT_TYPE};

#[cfg(test)]
mod tests;
