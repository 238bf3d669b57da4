//! The consumer's tracing spans (the table in `kafkaroo`'s telemetry module docs): a member that joins
//! a group opens one `kafka.consumer.rebalance` span with its phases as children and the JoinGroup and
//! SyncGroup requests under them, closed with the generation and outcome once stable; a commit is a
//! `kafka.consumer.commit` span naming the group and its partition count; fetches are
//! `kafka.consumer.fetch` spans. And `TraceParent::of` reads the producer's trace from a record.
//!
//! Spans are collected by a layer installed as the global subscriber, which is why this is its own
//! test binary.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{WAIT, config};
use kafkaroo::{Consumer, TraceParent};
use kafkaroo_testkit::{Cluster, TestBatch, TestRecord};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// One span as the layer saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
    closed: bool,
}

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<BTreeMap<u64, Seen>>>);

impl Spans {
    fn named(&self, name: &str) -> Vec<(u64, Seen)> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(id, s)| (*id, s.clone()))
            .collect()
    }

    fn children(&self, parent: u64) -> Vec<Seen> {
        let spans = self.0.lock().unwrap();
        spans
            .values()
            .filter(|s| s.parent == Some(parent))
            .cloned()
            .collect()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = if let Some(p) = attrs.parent() {
            Some(p.into_u64())
        } else if attrs.is_contextual() {
            ctx.current_span().id().map(Id::into_u64)
        } else {
            None
        };
        let mut seen = Seen {
            name: attrs.metadata().name(),
            parent,
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        // Ids are reused once a span closes: the newest span with an id replaces the older one.
        self.0.lock().unwrap().insert(id.into_u64(), seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(seen) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        if let Some(seen) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            seen.closed = true;
        }
    }
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_a_commit_and_fetches_are_spans_with_messaging_attributes() {
    let spans = Spans::default();
    tracing_subscriber::registry()
        .with(
            spans
                .clone()
                .with_filter(tracing_subscriber::filter::LevelFilter::from_level(Level::DEBUG)),
        )
        .init();

    let cluster = Cluster::builder().topic("t", 2).build().await.unwrap();
    let mut traced = TestRecord::new(0, Some(b"k"), Some(b"traced"));
    traced.headers = vec![(b"traceparent".to_vec(), Some(TRACEPARENT.as_bytes().to_vec()))];
    let plain = TestRecord::new(1, Some(b"k"), Some(b"plain"));
    cluster
        .append("t", 0, TestBatch::new(0, vec![traced, plain]))
        .unwrap();

    let mut consumer = Consumer::new(
        config(&cluster)
            .group_id("traced-group")
            .set("enable.auto.commit", "false")
            .unwrap()
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(["t"]).unwrap();

    // Both records of partition 0, the first carrying the producer's trace.
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "records not delivered: {got:?}"
        );
        let batch = consumer.poll(Duration::from_millis(50)).await.unwrap();
        got.extend(batch.iter().map(|r| (r.offset(), TraceParent::of(r))));
    }
    let expected = TraceParent::parse(TRACEPARENT.as_bytes()).unwrap();
    assert_eq!(got, vec![(0, Some(expected)), (1, None)]);
    assert_eq!(expected.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");

    consumer.commit_sync(None).await.unwrap();
    assert_eq!(cluster.committed("traced-group", "t", 0), Some(2));

    // One rebalance: from the first join to the stable generation, closed with its outcome.
    let rebalances = spans.named("kafka.consumer.rebalance");
    assert_eq!(rebalances.len(), 1, "{rebalances:#?}");
    let (rebalance_id, rebalance) = &rebalances[0];
    assert!(
        rebalance.closed,
        "the rebalance span ended once stable: {rebalance:#?}"
    );
    assert_eq!(rebalance.fields["messaging.system"], "kafka");
    assert_eq!(rebalance.fields["messaging.consumer.group.name"], "traced-group");
    assert_eq!(rebalance.fields["outcome"], "stable");
    assert_eq!(
        rebalance.fields["kafka.generation"],
        consumer.group_state().unwrap().generation.to_string()
    );
    let phases: Vec<&str> = spans.children(*rebalance_id).iter().map(|s| s.name).collect();
    for phase in ["find_coordinator", "join", "sync"] {
        assert!(phases.contains(&phase), "phase {phase} missing: {phases:?}");
    }
    // The JoinGroup request ran inside the join phase.
    let (join_id, _) = spans
        .named("join")
        .into_iter()
        .find(|(_, s)| s.parent == Some(*rebalance_id))
        .unwrap();
    let in_join: Vec<String> = spans
        .children(join_id)
        .iter()
        .map(|s| s.fields.get("api").cloned().unwrap_or_default())
        .collect();
    assert!(
        in_join.iter().any(|a| a == "JoinGroup"),
        "requests in the join phase: {in_join:?}"
    );

    // The commit: one span naming the group and the partitions it covered (both assigned ones).
    let commits = spans.named("kafka.consumer.commit");
    assert_eq!(commits.len(), 1, "{commits:#?}");
    let commit = &commits[0].1;
    assert_eq!(commit.fields["messaging.consumer.group.name"], "traced-group");
    assert_eq!(commit.fields["messaging.operation.name"], "commit");
    assert_eq!(commit.fields["kafka.partitions"], "2");
    assert_eq!(
        commit.parent, None,
        "a commit in a stable generation is a root span"
    );

    let fetches = spans.named("kafka.consumer.fetch");
    assert!(!fetches.is_empty(), "no fetch spans");
    assert!(
        fetches
            .iter()
            .all(|(_, f)| f.fields["messaging.operation.name"] == "fetch"),
        "{fetches:#?}"
    );
    drop(consumer);
}
