//! Broker throttling (KIP-219) as the fake injects it with `Cluster::throttle`: the consumer still gets
//! every record, without errors, and the throttled broker sees at most one fetch per throttle time. (The
//! fake mutes the connection as Kafka does, so this bounds the pair; that the client itself holds back
//! its next request is tested against a scripted peer in kafkaroo-net's connection tests.)

mod common;

use std::time::Duration;

use common::{Delivered, produce, tp};
use kafkaroo_testkit::{ApiKey, Cluster};

#[tokio::test]
async fn a_throttled_fetch_is_honoured_and_records_still_arrive() {
    common::tracing();
    let cluster = Cluster::builder().topic("t", 1).build().await.unwrap();
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 20);
    let throttle = cluster.throttle(1, ApiKey::Fetch, Duration::from_millis(400));
    let mut c = common::consumer(common::config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 20).await;
    d.assert_exact(&t0, 0..20);
    // Idle now: without throttling the consumer long-polls every 50 ms (fetch.wait.max.ms); throttled
    // at 400 ms it may send at most one fetch per 400 ms (plus one in flight when the window opens).
    let before = cluster.request_count_to(1, ApiKey::Fetch);
    // A fixed window on purpose: the check below is a rate (fetches per 1.2 s), not "nothing more".
    d.poll_quiet(&mut c, Duration::from_millis(1200)).await;
    let fetches = cluster.request_count_to(1, ApiKey::Fetch) - before;
    assert!(cluster.fired(throttle) >= 1, "no response was throttled");
    assert!(
        fetches <= 5,
        "{fetches} fetches in 1.2 s while throttled at 400 ms"
    );
    d.assert_no_errors();
}
