//! The engine's requests on the wire: Fetch (built from a [`FetchPlan`] by a pure function, so its
//! version-gated fields are tested without a broker), ListOffsets and OffsetForLeaderEpoch.

use std::collections::HashMap;
use std::time::Duration;

use kafkaroo_net::{Client, Metadata, Purpose};
use kafkaroo_wire::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafkaroo_wire::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafkaroo_wire::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafkaroo_wire::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, OffsetForLeaderEpochRequest, TopicName,
};
use kafkaroo_wire::{ErrorCode, StrBytes, Uuid};

use super::plan::{FetchPlan, ValidateQuery};
use super::{ListOffsetsAnswer, Shared, ValidateAnswer};
use crate::budget::Reservation;
use crate::config::ConsumerConfig;
use crate::record::TopicPartition;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// The Fetch request for `plan` in `version`, asking for at most `max_bytes`.
pub(super) fn fetch_request(
    plan: &FetchPlan,
    metadata: &Metadata,
    version: i16,
    config: &ConsumerConfig,
    max_bytes: i32,
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for tp in &plan.session.send {
        let sp = plan.wanted[tp];
        let mut fp = FetchPartition::default()
            .with_partition(tp.partition)
            .with_fetch_offset(sp.fetch_offset)
            .with_partition_max_bytes(sp.max_bytes);
        if version >= 9 {
            fp = fp.with_current_leader_epoch(sp.current_leader_epoch);
        }
        if version >= 12 {
            fp = fp.with_last_fetched_epoch(sp.last_fetched_epoch);
        }
        if version >= 5 {
            fp = fp.with_log_start_offset(-1);
        }
        match topics
            .last_mut()
            .filter(|t| fetch_topic_is(t, &tp.topic, metadata, version))
        {
            Some(t) => t.partitions.push(fp),
            None => topics.push(fetch_topic(&tp.topic, metadata, version).with_partitions(vec![fp])),
        }
    }
    let mut forgotten: Vec<ForgottenTopic> = Vec::new();
    for tp in &plan.session.forget {
        let mut ft = ForgottenTopic::default().with_partitions(vec![tp.partition]);
        if version >= 13 {
            ft = ft.with_topic_id(metadata.topics.get(&tp.topic).map_or(Uuid::nil(), |t| t.id));
        } else {
            ft = ft.with_topic(topic_name(&tp.topic));
        }
        forgotten.push(ft);
    }
    let mut request = FetchRequest::default()
        .with_max_wait_ms(config.fetch_max_wait.as_millis() as i32)
        .with_min_bytes(config.fetch_min_bytes)
        .with_max_bytes(max_bytes)
        .with_isolation_level(config.isolation_level.wire())
        .with_topics(topics);
    if version >= 7 {
        request = request
            .with_session_id(plan.session.session_id)
            .with_session_epoch(plan.session.epoch)
            .with_forgotten_topics_data(forgotten);
    }
    if let Some(rack) = config.client_rack.as_ref().filter(|_| version >= 11) {
        request = request.with_rack_id(StrBytes::from_string(rack.clone()));
    }
    request
}

/// Sends the fetch of `plan` to `broker`; the answer's frame stays counted by `reservation` until its
/// last slice drops.
pub(super) async fn send_fetch(
    client: &Client,
    shared: &Shared,
    broker: i32,
    plan: &FetchPlan,
    metadata: &Metadata,
    reservation: Reservation,
    max_bytes: i32,
) -> Result<(FetchResponse, i16), kafkaroo_net::Error> {
    let conn = client.connection(broker, Purpose::Fetch).await?;
    let version = conn.negotiated_version::<FetchRequest>()?;
    let config = &shared.config;
    let request = fetch_request(plan, metadata, version, config, max_bytes);
    let timeout = config.request_timeout + config.fetch_max_wait;
    let frame = conn.request_frame(&request, version, timeout).await?;
    let frame_len = frame.len();
    let frame = reservation.attach(frame);
    shared.telemetry.fetched(frame_len);
    let response = conn.decode_frame::<FetchRequest>(version, frame)?;
    Ok((response, version))
}

fn fetch_topic(name: &str, metadata: &Metadata, version: i16) -> FetchTopic {
    if version >= 13 {
        FetchTopic::default().with_topic_id(metadata.topics.get(name).map_or(Uuid::nil(), |t| t.id))
    } else {
        FetchTopic::default().with_topic(topic_name(name))
    }
}

fn fetch_topic_is(t: &FetchTopic, name: &str, metadata: &Metadata, version: i16) -> bool {
    if version >= 13 {
        metadata.topics.get(name).is_some_and(|m| m.id == t.topic_id)
    } else {
        t.topic.0.as_str() == name
    }
}

/// ListOffsets to `broker` for `(partition, timestamp or -1/-2, current leader epoch)` queries.
pub(crate) async fn list_offsets<'a>(
    client: &Client,
    broker: i32,
    queries: impl Iterator<Item = (&'a TopicPartition, i64, i32)>,
    isolation: i8,
    timeout: Duration,
) -> Result<ListOffsetsAnswer, kafkaroo_net::Error> {
    let conn = client.connection(broker, Purpose::General).await?;
    let version = conn.negotiated_version::<ListOffsetsRequest>()?;
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (tp, timestamp, epoch) in queries {
        let mut lp = ListOffsetsPartition::default()
            .with_partition_index(tp.partition)
            .with_timestamp(timestamp);
        if version >= 4 {
            lp = lp.with_current_leader_epoch(epoch);
        }
        match topics.last_mut().filter(|t| t.name.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(lp),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(topic_name(&tp.topic))
                    .with_partitions(vec![lp]),
            ),
        }
    }
    let mut request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(topics);
    if version >= 2 {
        request = request.with_isolation_level(isolation);
    }
    if version >= 10 {
        request = request.with_timeout_ms(timeout.as_millis() as i32);
    }
    let response = conn.send_version(&request, version, timeout).await?;
    let mut out = HashMap::new();
    for t in response.topics {
        for p in t.partitions {
            out.insert(
                TopicPartition::new(t.name.0.as_str(), p.partition_index),
                (ErrorCode(p.error_code), p.offset, p.timestamp),
            );
        }
    }
    Ok(out)
}

/// OffsetForLeaderEpoch to `broker` for the last fetched epochs of `parts`.
pub(super) async fn validate_epochs(
    client: &Client,
    broker: i32,
    parts: &[ValidateQuery],
) -> Result<ValidateAnswer, kafkaroo_net::Error> {
    let conn = client.connection(broker, Purpose::General).await?;
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for (tp, _, last_epoch, current_epoch) in parts {
        let p = OffsetForLeaderPartition::default()
            .with_partition(tp.partition)
            .with_leader_epoch(*last_epoch)
            .with_current_leader_epoch(*current_epoch);
        match topics.last_mut().filter(|t| t.topic.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(topic_name(&tp.topic))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id((-2).into())
        .with_topics(topics);
    let response = conn.send(&request).await?;
    let mut out = HashMap::new();
    for t in response.topics {
        for p in t.partitions {
            out.insert(
                TopicPartition::new(t.topic.0.as_str(), p.partition),
                (ErrorCode(p.error_code), p.leader_epoch, p.end_offset),
            );
        }
    }
    Ok(out)
}
