//! A broker's lane: requests are encoded and handed to its connection one after the other, in the order
//! the sender drained them, so a partition's batches reach the broker in sequence order while several are
//! in flight; their answers are awaited concurrently.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use kafkaroo_net::{PendingResponse, Purpose};
use kafkaroo_records::set_producer_state;
use kafkaroo_wire::StrBytes;
use kafkaroo_wire::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafkaroo_wire::messages::{ProduceRequest, ProduceResponse, TopicName};
use tokio::sync::mpsc;

use crate::accumulator::Batch;
use crate::error::Error;
use crate::idempotence::ProducerId;
use crate::producer::Shared;

/// A batch on its way: where it goes, under which sequence.
pub(crate) struct Sending {
    pub(crate) topic: Arc<str>,
    pub(crate) topic_id: kafkaroo_wire::Uuid,
    pub(crate) partition: i32,
    pub(crate) batch: Batch,
}

/// One Produce request's batches and its outcome.
pub(crate) struct Completed {
    pub(crate) node: i32,
    pub(crate) batches: Vec<Sending>,
    pub(crate) result: Result<ProduceResponse, kafkaroo_net::Error>,
}

/// One broker's lane: requests are encoded and handed to the connection one after the other, in the
/// order they were drained, so a partition's batches reach the broker in sequence order while several
/// are in flight; their answers are awaited concurrently.
pub(crate) async fn lane(
    shared: Arc<Shared>,
    node: i32,
    mut requests: mpsc::UnboundedReceiver<Vec<Sending>>,
    done: mpsc::UnboundedSender<Completed>,
) {
    while let Some(mut batches) = requests.recv().await {
        match start(&shared, node, &mut batches).await {
            Err(e) => {
                let _ = done.send(Completed {
                    node,
                    batches,
                    result: Err(e),
                });
                shared.wake.notify_one();
            }
            Ok(pending) => {
                let (shared, done) = (shared.clone(), done.clone());
                tokio::spawn(async move {
                    let result = answer(&shared, pending).await;
                    let _ = done.send(Completed {
                        node,
                        batches,
                        result,
                    });
                    shared.wake.notify_one();
                });
            }
        }
    }
}

/// Encodes the batches that need it and hands the request to the broker's connection.
async fn start(
    shared: &Shared,
    node: i32,
    batches: &mut [Sending],
) -> Result<PendingResponse<ProduceRequest>, kafkaroo_net::Error> {
    let pid = shared.lock().producer_id;
    let mut topic_data: Vec<TopicProduceData> = Vec::new();
    for s in batches.iter_mut() {
        encode(&mut s.batch, pid, shared.config.compression)
            .map_err(|e| kafkaroo_net::Error::Config(e.to_string()))?;
        let data = PartitionProduceData::default()
            .with_index(s.partition)
            .with_records(s.batch.encoded.clone());
        match topic_data
            .iter_mut()
            .find(|t| t.topic_id == s.topic_id && *t.name.0 == *s.topic)
        {
            Some(t) => t.partition_data.push(data),
            None => topic_data.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(s.topic.to_string())))
                    .with_topic_id(s.topic_id)
                    .with_partition_data(vec![data]),
            ),
        }
    }
    let request = ProduceRequest::default()
        .with_acks(shared.config.acks.wire())
        .with_timeout_ms(i32::try_from(shared.config.request_timeout.as_millis()).unwrap_or(i32::MAX))
        .with_topic_data(topic_data);
    let conn = shared.client.connection(node, Purpose::General).await?;
    conn.start_request(&request).await
}

/// Waits for a request's answer.
async fn answer(
    shared: &Shared,
    pending: PendingResponse<ProduceRequest>,
) -> Result<ProduceResponse, kafkaroo_net::Error> {
    let conn = pending.connection().clone();
    let response = pending.response().await;
    // Test hook: lose the answer as a dropped connection would (the broker did write the batch).
    let drop = shared
        .drop_responses
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if drop && response.is_ok() {
        conn.close();
        return Err(kafkaroo_net::Error::LocallyClosed {
            addr: conn.addr().to_owned(),
        });
    }
    response
}

/// Encodes a batch under `pid` and its sequence, or rewrites the producer fields of its bytes when
/// they changed (after an epoch bump): records are never compressed twice.
fn encode(
    batch: &mut Batch,
    pid: Option<ProducerId>,
    compression: kafkaroo_records::Compression,
) -> Result<(), Error> {
    let want = pid.map(|p| (p, batch.base_sequence));
    let state = pid.map_or(kafkaroo_records::ProducerState::NONE, |p| {
        p.state(batch.base_sequence)
    });
    match &batch.encoded {
        None => {
            let mut out = Vec::with_capacity(batch.builder.uncompressed_size() + 64);
            batch.builder.encode(state, &mut out)?;
            batch.encoded = Some(Bytes::from(out));
            // The records now live in `encoded`: free the builder's buffer.
            batch.builder = kafkaroo_records::BatchBuilder::new(compression);
        }
        Some(bytes) if batch.encoded_as != want => {
            let mut copy = BytesMut::from(&bytes[..]);
            set_producer_state(&mut copy, state)?;
            batch.encoded = Some(copy.freeze());
        }
        Some(_) => {}
    }
    batch.encoded_as = want;
    Ok(())
}
