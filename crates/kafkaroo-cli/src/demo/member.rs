//! One group member of the demo: a kafkaroo `Consumer` subscribed with cooperative-sticky, a rebalance
//! listener feeding the shared record, and a processing loop with a small artificial cost per record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, RebalanceListener, TopicPartition};
use tokio::task::JoinHandle;

use super::state::{Change, Demo, Event};

/// How long one poll waits; the stop flag and the member's view are checked in between.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// Small polls keep the view fresh: a poll's records are processed before the next poll.
const MAX_POLL_RECORDS: &str = "50";
/// How long a leaving member may take for its final commit and LeaveGroup.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// What every member needs to join the demo's group.
#[derive(Debug, Clone)]
pub(crate) struct GroupSpec {
    pub(crate) bootstrap: String,
    pub(crate) group: String,
    pub(crate) topic: String,
    /// Simulated processing time per record.
    pub(crate) cost_per_record: Duration,
}

impl GroupSpec {
    fn config(&self, name: &str) -> Result<ConsumerConfig, kafkaroo::Error> {
        ConsumerConfig::builder()
            .bootstrap_servers(&self.bootstrap)
            .group_id(&self.group)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .fetch_max_wait(Duration::from_millis(100))
            .set("client.id", &format!("kafkaroo-demo-{name}"))?
            .set("partition.assignment.strategy", "cooperative-sticky")?
            .set("session.timeout.ms", "10000")?
            .set("heartbeat.interval.ms", "500")?
            // Positions are committed every second and, for revoked partitions, before they are released.
            .set("enable.auto.commit", "true")?
            .set("auto.commit.interval.ms", "1000")?
            .set("max.poll.records", MAX_POLL_RECORDS)?
            .build()
    }
}

/// Listener callbacks not yet stamped with a generation.
type Pending = Arc<Mutex<Vec<Event>>>;

/// Records ownership changes in the shared record at once (so pauses are timed when they happen) and
/// queues them for the member loop, which stamps them with the generation.
struct Listener {
    member: usize,
    demo: Arc<Demo>,
    pending: Pending,
}

impl Listener {
    fn changed(&self, change: Change, partitions: &[TopicPartition]) {
        self.demo.ownership_change(self.member, change, partitions);
        if partitions.is_empty() {
            return;
        }
        let mut ids: Vec<i32> = partitions.iter().map(|tp| tp.partition).collect();
        ids.sort_unstable();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Event {
                at: self.demo.elapsed(),
                member: self.member,
                change,
                partitions: ids,
                generation: -1,
            });
    }
}

impl RebalanceListener for Listener {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        self.changed(Change::Assigned, partitions);
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.changed(Change::Revoked, partitions);
    }
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.changed(Change::Lost, partitions);
    }
}

/// A running member; [`Member::leave`] closes it cleanly (final commit, LeaveGroup).
pub(crate) struct Member {
    pub(crate) index: usize,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Member {
    pub(crate) fn spawn(spec: &GroupSpec, demo: &Arc<Demo>) -> Self {
        let name = format!("member-{}", demo.lock().members.len() + 1);
        let index = demo.add_member(name.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run(spec.clone(), name, index, demo.clone(), stop.clone()));
        Self { index, stop, task }
    }

    /// Asks the member to finish the records in hand and close; waits up to `timeout` for it.
    pub(crate) async fn leave(self, demo: Arc<Demo>, timeout: Duration) {
        demo.deactivate(self.index);
        self.stop.store(true, Ordering::Relaxed);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(timeout, self.task).await.is_err() {
            abort.abort();
            demo.error(format!(
                "member-{} did not close within {timeout:?}",
                self.index + 1
            ));
        }
    }
}

async fn run(spec: GroupSpec, name: String, index: usize, demo: Arc<Demo>, stop: Arc<AtomicBool>) {
    let consumer = match spec.config(&name) {
        Ok(config) => Consumer::new(config).await,
        Err(e) => Err(e),
    };
    let mut consumer = match consumer {
        Ok(c) => c,
        Err(e) => {
            demo.error(format!("{name}: cannot start the consumer: {e}"));
            demo.member_left(index);
            return;
        }
    };
    let pending: Pending = Arc::default();
    let listener = Listener {
        member: index,
        demo: demo.clone(),
        pending: pending.clone(),
    };
    if let Err(e) = consumer.subscribe_with_listener([spec.topic.clone()], listener) {
        demo.error(format!("{name}: subscribe: {e}"));
        demo.member_left(index);
        return;
    }
    let mut generation = -1;
    while !stop.load(Ordering::Relaxed) {
        let batch = match consumer.poll(POLL_TIMEOUT).await {
            Ok(batch) => batch,
            Err(e) => {
                demo.error(format!("{name}: poll: {e}"));
                if e.is_fatal() || matches!(e, kafkaroo::Error::Closed) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        generation = report_view(&consumer, index, &demo, &pending);
        if batch.is_empty() {
            continue;
        }
        let count = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        tokio::time::sleep(spec.cost_per_record * count).await;
        demo.record_processed(index, batch.iter().map(|r| (r.partition(), r.offset())));
    }
    // A clean leave: the final revocation commits the positions, then LeaveGroup.
    if tokio::time::timeout(CLOSE_TIMEOUT, consumer.close())
        .await
        .is_err()
    {
        demo.error(format!("{name}: close did not finish within {CLOSE_TIMEOUT:?}"));
    }
    stamp(&pending, &demo, generation);
    demo.member_left(index);
}

/// Publishes the member's state, generation, assignment and high watermarks, and stamps the listener
/// events queued since the last poll with the generation. Returns the generation.
fn report_view(consumer: &Consumer, index: usize, demo: &Demo, pending: &Pending) -> i32 {
    let group = consumer.group_state();
    let generation = group.as_ref().map_or(-1, |g| g.generation);
    let assignment = consumer.assignment();
    let highs: Vec<(i32, i64)> = assignment
        .iter()
        .filter_map(|tp| Some((tp.partition, consumer.watermarks(tp)?.high)))
        .collect();
    let mut owned: Vec<i32> = assignment.iter().map(|tp| tp.partition).collect();
    owned.sort_unstable();
    demo.member_view(index, group.map(|g| g.state), generation, owned, &highs);
    stamp(pending, demo, generation);
    generation
}

fn stamp(pending: &Pending, demo: &Demo, generation: i32) {
    let events = std::mem::take(&mut *pending.lock().unwrap_or_else(|e| e.into_inner()));
    demo.publish_events(events.into_iter().map(|mut e| {
        e.generation = generation;
        e
    }));
}
