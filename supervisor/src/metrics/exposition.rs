//! Pure: the writer of series families over prometheus-client's encoder, which names
//! counters `_total`, escapes label values and writes `HELP` and `TYPE`.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// Labels of one sample, besides `node` (which every sample carries).
pub type Labels = Vec<(&'static str, String)>;

/// Writes families of samples; every sample is labelled with the node.
pub struct Series<'a, 'b> {
    encoder: &'a mut DescriptorEncoder<'b>,
    node: &'a str,
}

impl<'a, 'b> Series<'a, 'b> {
    pub fn new(encoder: &'a mut DescriptorEncoder<'b>, node: &'a str) -> Self {
        Self { encoder, node }
    }

    /// A gauge family. Nothing is written when `samples` is empty.
    pub fn gauge(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) -> fmt::Result {
        self.family(name, help, MetricType::Gauge, samples, |m, v| {
            match whole(v) {
                Some(n) => m.encode_gauge(&n),
                None => m.encode_gauge(&v),
            }
        })
    }

    /// A counter family; the encoder adds `_total` to `name`.
    pub fn counter(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) -> fmt::Result {
        self.family(
            name,
            help,
            MetricType::Counter,
            samples,
            |m, v| match whole(v).and_then(|n| u64::try_from(n).ok()) {
                Some(n) => m.encode_counter::<NoLabelSet, u64, f64>(&n, None),
                None => m.encode_counter::<NoLabelSet, f64, f64>(&v, None),
            },
        )
    }

    /// A histogram of one series: `buckets` are (upper bound, cumulative count).
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        sum: f64,
        count: u64,
        buckets: &[(f64, u64)],
    ) -> fmt::Result {
        let mut metric = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        let labels = vec![("node", self.node.to_owned())];
        metric
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(sum, count, buckets, None)
    }

    fn family(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        samples: impl IntoIterator<Item = (Labels, f64)>,
        mut value: impl FnMut(&mut prometheus_client::encoding::MetricEncoder<'_>, f64) -> fmt::Result,
    ) -> fmt::Result {
        let mut samples = samples.into_iter().peekable();
        if samples.peek().is_none() {
            return Ok(());
        }
        let mut metric = self.encoder.encode_descriptor(name, help, None, kind)?;
        for (mut labels, v) in samples {
            labels.insert(0, ("node", self.node.to_owned()));
            value(&mut metric.encode_family(&labels)?, v)?;
        }
        Ok(())
    }
}

/// A whole number is written as one ("3", not "3.0"): easier on the eye in a scrape, and
/// the same value to Prometheus.
fn whole(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

/// One sample with no labels but the node.
pub fn one(v: f64) -> Vec<(Labels, f64)> {
    vec![(Vec::new(), v)]
}

/// 1 or 0.
pub fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}
