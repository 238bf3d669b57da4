//! Helpers shared by the consumer fault tests: a consumer configured for quick retries, a recorder of
//! everything `poll` returned, and exact-delivery assertions (invariants 1, 4, 5, 12 of
//! docs/faults-and-invariants.md).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, ConsumerConfigBuilder, Error, TopicPartition};
use kafkaroo_testkit::{ApiKey, Cluster};
use tokio::time::Instant;

pub mod recorder;

/// Generous bound for anything that should take milliseconds; a failure names what it waited for.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// The value of the record at `offset` of partition `partition`, as [`produce`] writes it.
pub fn value(partition: i32, offset: i64) -> Vec<u8> {
    format!("p{partition}-o{offset}").into_bytes()
}

/// Appends one batch of `n` records (values from [`value`]) and returns their offsets.
pub fn produce(cluster: &Cluster, topic: &str, partition: i32, n: usize) -> Range<i64> {
    let (_, end) = cluster.offsets(topic, partition).expect("partition exists");
    let values: Vec<Vec<u8>> = (end..end + n as i64).map(|o| value(partition, o)).collect();
    let range = cluster.produce(topic, partition, values).expect("produce");
    assert_eq!(range.start, end);
    range
}

/// A consumer config with short waits and backoffs so retries take milliseconds.
pub fn config(cluster: &Cluster) -> ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .bootstrap_servers(&cluster.bootstrap())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(50))
        .retry_backoff(Duration::from_millis(10))
        .set("reconnect.backoff.ms", "10")
        .and_then(|b| b.set("reconnect.backoff.max.ms", "50"))
        .expect("valid properties")
}

pub async fn consumer(config: ConsumerConfigBuilder, partitions: &[TopicPartition]) -> Consumer {
    let mut c = Consumer::new(config.build().expect("valid config"))
        .await
        .expect("consumer connects to the fake cluster");
    c.assign(partitions.iter().cloned()).expect("assign");
    c
}

/// `(offset, value)` as delivered.
pub type Got = (i64, Option<Vec<u8>>);

/// Everything `poll` returned: records per partition in delivery order, and errors.
#[derive(Debug, Default)]
pub struct Delivered {
    pub records: BTreeMap<TopicPartition, Vec<Got>>,
    pub errors: Vec<Error>,
}

impl Delivered {
    pub fn offsets(&self, tp: &TopicPartition) -> Vec<i64> {
        self.records
            .get(tp)
            .map(|r| r.iter().map(|(o, _)| *o).collect())
            .unwrap_or_default()
    }

    pub fn count(&self, tp: &TopicPartition) -> usize {
        self.records.get(tp).map_or(0, Vec::len)
    }

    pub fn last(&self, tp: &TopicPartition) -> Option<i64> {
        self.records.get(tp).and_then(|r| r.last()).map(|(o, _)| *o)
    }

    /// Polls until `done` holds; panics naming `what` (with everything delivered) after [`WAIT`].
    pub async fn poll_until(&mut self, c: &mut Consumer, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; delivered so far: {:?}",
                self.summary()
            );
            self.poll_once(c, Duration::from_millis(50)).await;
        }
    }

    /// One `poll` of at most `timeout`, recorded; returns whether it handed out anything (records or an
    /// error).
    pub async fn poll_once(&mut self, c: &mut Consumer, timeout: Duration) -> bool {
        match c.poll(timeout).await {
            Ok(batch) => {
                let mut any = false;
                for (tp, records) in batch.partitions() {
                    any |= !records.is_empty();
                    self.records.entry(tp.clone()).or_default().extend(
                        records
                            .iter()
                            .map(|r| (r.offset(), r.value().map(<[u8]>::to_vec))),
                    );
                }
                any
            }
            Err(e) => {
                self.errors.push(e);
                true
            }
        }
    }

    /// Polls until `tp` got `n` records in total.
    pub async fn poll_count(&mut self, c: &mut Consumer, tp: &TopicPartition, n: usize) {
        let what = format!("{n} records of {tp}");
        self.poll_until(c, &what, |d| d.count(tp) >= n).await;
    }

    /// Polls (recording) until the consumer has nothing more to hand out from `brokers`: everything any
    /// of them answered from now on up to a full fetch round trip is recorded. Call it after the
    /// expected records arrived, then assert that nothing more (no duplicate, nothing past the end) did.
    ///
    /// Why this waits long enough without a fixed window: the fetch engine keeps at most one Fetch in
    /// flight per broker (the driver's `fetching` set) and plans the next Fetch to a broker only after it
    /// applied the answer to the previous one (under the same lock `poll` takes its records from). So when
    /// a broker has received two more Fetch requests than now, the first of them was sent after this call
    /// and its answer, and every earlier answer, is already buffered in the consumer; the final polls,
    /// which run until one hands out nothing, deliver whatever those answers carried. A duplicate or a
    /// record past the end would have to come from one of them. Panics after [`WAIT`] if a broker does not
    /// get two more Fetch requests (e.g. every partition it leads is paused: then there is no event).
    pub async fn poll_settled(&mut self, c: &mut Consumer, cluster: &Cluster, brokers: &[i32]) {
        let targets: Vec<(i32, usize)> = brokers
            .iter()
            .map(|&b| (b, cluster.request_count_to(b, ApiKey::Fetch) + 2))
            .collect();
        let deadline = Instant::now() + WAIT;
        while let Some(&(broker, target)) = targets
            .iter()
            .find(|&&(b, target)| cluster.request_count_to(b, ApiKey::Fetch) < target)
        {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for Fetch {target} to broker {broker}; delivered so far: {:?}",
                self.summary()
            );
            self.poll_once(c, Duration::from_millis(20)).await;
        }
        while self.poll_once(c, Duration::from_millis(20)).await {
            assert!(
                Instant::now() < deadline,
                "still delivering after {WAIT:?}; delivered so far: {:?}",
                self.summary()
            );
        }
    }

    /// [`Delivered::poll_settled`] on the current leaders of `partitions` (each broker once).
    pub async fn poll_settled_for(
        &mut self,
        c: &mut Consumer,
        cluster: &Cluster,
        partitions: &[&TopicPartition],
    ) {
        let mut brokers: Vec<i32> = partitions
            .iter()
            .map(|p| cluster.leader(&p.topic, p.partition).expect("partition exists").0)
            .collect();
        brokers.sort_unstable();
        brokers.dedup();
        self.poll_settled(c, cluster, &brokers).await;
    }

    /// Polls for a fixed window, recording. Only where no event marks the end (see the comment at each
    /// use); [`Delivered::poll_settled`] otherwise.
    pub async fn poll_quiet(&mut self, c: &mut Consumer, for_: Duration) {
        let deadline = Instant::now() + for_;
        while Instant::now() < deadline {
            self.poll_once(c, Duration::from_millis(20)).await;
        }
    }

    fn summary(&self) -> (BTreeMap<String, Vec<i64>>, Vec<String>) {
        (
            self.records
                .iter()
                .map(|(tp, r)| (tp.to_string(), r.iter().map(|(o, _)| *o).collect()))
                .collect(),
            self.errors.iter().map(ToString::to_string).collect(),
        )
    }

    /// `tp` delivered exactly `expected` offsets, in order, with the values [`produce`] wrote: no gap, no
    /// duplicate, no reordering.
    pub fn assert_exact(&self, tp: &TopicPartition, expected: impl IntoIterator<Item = i64>) {
        let expected: Vec<i64> = expected.into_iter().collect();
        assert_eq!(self.offsets(tp), expected, "offsets delivered for {tp}");
        for (o, v) in self.records.get(tp).into_iter().flatten() {
            assert_eq!(
                v.as_deref(),
                Some(value(tp.partition, *o).as_slice()),
                "value at {tp}@{o}"
            );
        }
    }

    /// Polls until `tp` got `expected.end` records, then a while longer, and checks it got exactly
    /// `expected` ([`assert_exact`](Self::assert_exact)) and no error.
    pub async fn expect_exactly(&mut self, c: &mut Consumer, tp: &TopicPartition, expected: Range<i64>) {
        self.poll_count(c, tp, expected.end as usize).await;
        self.poll_quiet(c, Duration::from_millis(100)).await;
        self.assert_exact(tp, expected);
        self.assert_no_errors();
    }

    /// No error reached the application (invariant 12: retriable faults stay internal).
    pub fn assert_no_errors(&self) {
        assert!(self.errors.is_empty(), "errors surfaced: {:?}", self.summary().1);
    }
}

/// One step of a group's timeline as the members' applications saw it (`who` names the member).
#[derive(Debug)]
pub enum Step<'a> {
    Assigned(char, &'a [TopicPartition]),
    /// Revoked or lost.
    GaveUp(char, &'a [TopicPartition]),
    Record(char, &'a TopicPartition, i64),
}

/// Replays a group's timeline: a partition is never owned by two members (it reaches a new owner
/// only after the previous one gave it up), no member hands out a record of a partition it does not
/// own, and no record is delivered twice. `context` is printed on failure.
pub fn assert_handovers<'a>(steps: impl IntoIterator<Item = Step<'a>>, context: &dyn std::fmt::Debug) {
    let mut owner: BTreeMap<&TopicPartition, char> = BTreeMap::new();
    let mut counts: BTreeMap<(&TopicPartition, i64), usize> = BTreeMap::new();
    for step in steps {
        match step {
            Step::Assigned(who, ps) => {
                for p in ps {
                    if let Some(other) = owner.insert(p, who) {
                        assert_eq!(
                            other, who,
                            "{p} assigned to {who} while {other} owns it: {context:?}"
                        );
                    }
                }
            }
            Step::GaveUp(who, ps) => {
                for p in ps {
                    assert_eq!(
                        owner.remove(p),
                        Some(who),
                        "{who} gave up {p} it did not own: {context:?}"
                    );
                }
            }
            Step::Record(who, p, o) => {
                assert_eq!(
                    owner.get(p),
                    Some(&who),
                    "{who} delivered {p}@{o} without owning it: {context:?}"
                );
                *counts.entry((p, o)).or_default() += 1;
            }
        }
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "delivered twice: {repeated:?} in {context:?}"
    );
}
