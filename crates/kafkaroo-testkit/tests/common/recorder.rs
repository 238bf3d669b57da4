//! A `metrics-util` `DebuggingRecorder` installed for each test alone (`metrics::with_local_recorder`
//! around a current-thread runtime, so the consumer's tasks and the fake cluster run on the test's
//! thread and nothing moves between two reads that no `.await` separates), and readers of what it
//! recorded.

use std::future::Future;

use kafkaroo::TopicPartition;
use metrics::{Key, Label};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};

/// The consumer lag gauge (from the position).
pub const LAG: &str = "messaging.kafka.consumer.lag";

/// Runs `test` with a recorder of its own.
pub fn with_recorder<F: Future<Output = ()>>(test: impl FnOnce(Metrics) -> F) {
    super::tracing();
    let recorder = DebuggingRecorder::new();
    let metrics = Metrics(recorder.snapshotter());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    metrics::with_local_recorder(&recorder, || rt.block_on(test(metrics)));
}

/// Reads what was recorded.
pub struct Metrics(Snapshotter);

impl Metrics {
    /// Everything recorded so far. A snapshot of the debugging recorder takes the values out (counters
    /// and gauges read 0 after it): they are put back at once, so that reading changes nothing.
    pub fn read(&self) -> Vec<(CompositeKey, DebugValue)> {
        let values: Vec<(CompositeKey, DebugValue)> = self
            .0
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(k, _, _, v)| (k, v))
            .collect();
        metrics::with_recorder(|r| {
            let meta = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
            for (k, v) in &values {
                match v {
                    DebugValue::Counter(n) => r.register_counter(k.key(), &meta).increment(*n),
                    DebugValue::Gauge(g) => r.register_gauge(k.key(), &meta).set(g.0),
                    DebugValue::Histogram(_) => {}
                }
            }
        });
        values
    }

    pub fn find(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Vec<DebugValue> {
        self.read()
            .into_iter()
            .filter(|(k, _)| k.kind() == kind && k.key().name() == name && has_labels(k.key(), labels))
            .map(|(_, v)| v)
            .collect()
    }

    /// The gauge with these labels (`None` if it was never set).
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(MetricKind::Gauge, name, labels).as_slice() {
            [] => None,
            [DebugValue::Gauge(v)] => Some(v.0),
            other => panic!("{name} {labels:?}: {other:?}"),
        }
    }

    /// The sum of the counters with these labels.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.find(MetricKind::Counter, name, labels)
            .iter()
            .map(|v| match v {
                DebugValue::Counter(n) => *n,
                other => panic!("{name}: {other:?}"),
            })
            .sum()
    }

    /// The lag gauge of `tp` of consumer `client`.
    pub fn lag(&self, client: &str, tp: &TopicPartition) -> Option<f64> {
        let partition = tp.partition.to_string();
        self.gauge(
            LAG,
            &[
                ("messaging.client.id", client),
                ("messaging.destination.name", &tp.topic),
                ("messaging.destination.partition.id", &partition),
            ],
        )
    }
}

pub fn has_labels(key: &Key, labels: &[(&str, &str)]) -> bool {
    labels
        .iter()
        .all(|(k, v)| key.labels().any(|l: &Label| l.key() == *k && l.value() == *v))
}

/// The samples of histogram `name` of consumer `client` recorded since the last read.
pub fn histogram(all: &[(CompositeKey, DebugValue)], name: &str, client: &str) -> Vec<f64> {
    histogram_with(all, name, &[("messaging.client.id", client)])
}

/// The samples of histogram `name` with these labels recorded since the last read.
pub fn histogram_with(all: &[(CompositeKey, DebugValue)], name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    all.iter()
        .filter(|(k, _)| {
            k.kind() == MetricKind::Histogram && k.key().name() == name && has_labels(k.key(), labels)
        })
        .flat_map(|(_, v)| match v {
            DebugValue::Histogram(samples) => samples.iter().map(|s| s.0).collect::<Vec<_>>(),
            other => panic!("{name}: {other:?}"),
        })
        .collect()
}

/// The series of one partition of client `client`.
pub fn partition_labels<'a>(client: &'a str, topic: &'a str, partition: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("messaging.client.id", client),
        ("messaging.destination.name", topic),
        ("messaging.destination.partition.id", partition),
    ]
}
