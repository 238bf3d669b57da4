//! Sample order events and the producer that writes them (the harness' Java producer, or the in-process
//! cluster's append API): a batch up front, then a background thread keeping a steady rate so that lag
//! moves while the group works.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kafkaroo_testcontainers::{RecordPosition, TestRecord};

use super::broker::DemoBroker;
use super::state::Demo;

/// Distinct customers; orders are keyed by customer, so one customer's orders keep their order.
const CUSTOMERS: u64 = 100;

/// A cheap deterministic mix of an order id (splitmix64's finaliser): varied customers and amounts
/// without a random number generator.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Order `id` as a record: key `customer-NNN`, value `{"order_id":..,"customer":..,"amount":..}`.
pub(crate) fn order(id: u64) -> TestRecord {
    let customer = format!("customer-{:03}", mix(id) % CUSTOMERS);
    let cents = 199 + mix(id ^ 0x5eed) % 49_800;
    let value = format!(
        r#"{{"order_id":{id},"customer":"{customer}","amount":{}.{:02}}}"#,
        cents / 100,
        cents % 100
    );
    TestRecord::new(customer, value)
}

/// Produces orders `first..first + count` to `topic` and waits for the broker's acknowledgements.
pub(crate) fn produce_orders(
    cluster: &DemoBroker,
    topic: &str,
    first: u64,
    count: u64,
) -> anyhow::Result<Vec<RecordPosition>> {
    let records = (first..first + count).map(order).collect();
    cluster.produce(topic, records)
}

/// Produces `rate` orders per second in a thread until stopped. Each call to the Java helper starts a
/// producer, so the thread sends whatever is due in one call and catches up after a slow one.
pub(crate) struct BackgroundProducer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundProducer {
    pub(crate) fn spawn(
        cluster: Arc<DemoBroker>,
        topic: String,
        rate: u32,
        first_id: u64,
        demo: Arc<Demo>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("demo-producer".into())
            .spawn(move || {
                let started = Instant::now();
                let mut sent = 0u64;
                while rate > 0 && !stopped.load(Ordering::Relaxed) {
                    let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
                    // At most a second's worth per call, so stopping is never far away.
                    let count = due.saturating_sub(sent).min(u64::from(rate));
                    if count == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    match produce_orders(&cluster, &topic, first_id + sent, count) {
                        Ok(positions) => demo.record_produced(&positions),
                        Err(e) => {
                            demo.error(format!("background producer: {e}"));
                            return;
                        }
                    }
                    sent += count;
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops producing and waits (up to `timeout`) for the batch in flight to be acknowledged.
    pub(crate) async fn stop(mut self, timeout: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::time::timeout(timeout, tokio::task::spawn_blocking(move || thread.join())).await;
        }
    }
}

impl Drop for BackgroundProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_is_json_keyed_by_its_customer() {
        let record = order(42);
        let key = String::from_utf8(record.key.clone().unwrap()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
        assert_eq!(value["order_id"], 42);
        assert_eq!(value["customer"], key.as_str());
        assert!(key.starts_with("customer-"));
        assert!(value["amount"].as_f64().unwrap() > 0.0);
    }

    #[test]
    fn orders_spread_over_many_customers() {
        let customers: std::collections::HashSet<Vec<u8>> =
            (0..1000).map(|id| order(id).key.unwrap()).collect();
        assert!(customers.len() > 50, "{} customers", customers.len());
    }
}
