//! Pure: the status as Prometheus text (format 0.0.4). The supervisor holds its figures in
//! [`Status`], the snapshot `allertactl status` also shows, so nothing is counted twice:
//! each scrape encodes one snapshot as a prometheus-client collector.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use super::exposition::Series;
use crate::control::protocol::Status;

/// The `Content-Type` of what [`render`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Renders `status` in the Prometheus text format, every series under `allerta_`.
pub fn render(status: &Status) -> String {
    let mut registry = Registry::with_prefix("allerta");
    registry.register_collector(Box::new(Snapshot(status.clone())));
    let mut out = String::new();
    // Writing to a String cannot fail, and no series of ours is refused by the encoder.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

#[derive(Debug)]
struct Snapshot(Status);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let mut out = Series::new(&mut encoder, &self.0.node);
        super::node_series::write(&mut out, &self.0)?;
        super::component_series::write(&mut out, &self.0)
    }
}
