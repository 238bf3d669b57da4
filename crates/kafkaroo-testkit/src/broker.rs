//! The brokers' network side and request handlers: one task per listener, one per connection; each
//! connection answers its requests one at a time, in order, as a Kafka broker does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafkaroo_wire::messages::api_versions_response::ApiVersion;
use kafkaroo_wire::messages::fetch_response::{
    EpochEndOffset as DivergingEpoch, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kafkaroo_wire::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafkaroo_wire::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafkaroo_wire::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafkaroo_wire::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, RequestHeader, TopicName,
};
use kafkaroo_wire::protocol::{Decodable, Message};
use kafkaroo_wire::{ErrorCode, FrameDecoder, StrBytes, Uuid, encode_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tracing::{debug, trace, warn};

use crate::control::{Kind, RequestInfo};
use crate::messages::{Request, Response};
use crate::state::{FetchSession, Inner, SessionEntry, Sessions, State};

pub(crate) async fn listen(inner: Arc<Inner>, broker: i32, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = inner.accepted(broker);
        debug!(broker, connection, %peer, "accepted");
        let task = tokio::spawn(serve(inner.clone(), broker, connection, stream));
        inner.track(task.abort_handle());
    }
}

struct Parsed {
    version: i16,
    correlation_id: i32,
    /// The header's `client.id` (group members keep it for DescribeGroups).
    client_id: String,
    request: Request,
}

async fn serve(inner: Arc<Inner>, broker: i32, connection: u64, mut stream: TcpStream) {
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // After a black hole nothing more is answered on this connection.
    let mut silent = false;
    loop {
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frame.freeze(),
            Ok(None) => {
                match stream.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                continue;
            }
            Err(e) => {
                warn!(broker, connection, error = %e, "bad request frame; closing");
                return;
            }
        };
        if silent {
            continue;
        }
        let parsed = match parse(&inner, frame) {
            Ok(p) => p,
            Err(e) => {
                warn!(broker, connection, error = %e, "cannot serve request; closing");
                return;
            }
        };
        let info = RequestInfo {
            broker,
            connection,
            version: parsed.version,
            correlation_id: parsed.correlation_id,
            request: &parsed.request,
        };
        trace!(broker, connection, api = ?info.api_key(), version = parsed.version, correlation_id = parsed.correlation_id, "request");
        let (kind, delay) = inner
            .on_request(&info)
            .map_or((Kind::Handle, None), |a| (a.kind, a.delay));
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let mut correlation_id = parsed.correlation_id;
        let mut version = parsed.version;
        let mut close_mid = false;
        let response = match kind {
            Kind::BlackHole => {
                debug!(
                    broker,
                    connection, "black hole: answering nothing more on this connection"
                );
                silent = true;
                continue;
            }
            Kind::Close => {
                debug!(broker, connection, "closing the connection instead of answering");
                return;
            }
            Kind::Raw(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                continue;
            }
            Kind::Respond(r) => r,
            kind => {
                let (mut response, v) = handle(&inner, broker, &parsed).await;
                if matches!(&parsed.request, Request::Produce(p) if p.acks == 0) {
                    // acks=0: the producer expects no answer.
                    continue;
                }
                version = v;
                match kind {
                    Kind::Edit(edit) => edit(&mut response),
                    Kind::CorrelationId(id) => correlation_id = id,
                    Kind::CloseMidResponse => close_mid = true,
                    _ => {}
                }
                response
            }
        };
        let out = match encode(&response, correlation_id, version) {
            Ok(out) => out,
            Err(e) => {
                warn!(broker, connection, error = %e, "cannot encode the response; closing");
                return;
            }
        };
        if close_mid {
            let half = out.len() / 2;
            let _ = stream.write_all(&out[..half]).await;
            let _ = stream.flush().await;
            debug!(
                broker,
                connection,
                sent = half,
                of = out.len(),
                "closing mid-response"
            );
            return;
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
        // KIP-219: a throttled client's channel is muted until its throttle time has passed.
        let throttle_ms = response.throttle_time_ms();
        if throttle_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::try_from(throttle_ms).unwrap_or(0))).await;
        }
    }
}

fn parse(inner: &Inner, mut frame: Bytes) -> Result<Parsed, String> {
    if frame.len() < 4 {
        return Err(format!("request of {} bytes", frame.len()));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let key = ApiKey::try_from(api_key).map_err(|()| format!("unknown API key {api_key}"))?;
    let header =
        RequestHeader::decode(&mut frame, key.request_header_version(version)).map_err(|e| e.to_string())?;
    let advertised = inner.versions.get(&api_key).copied();
    let Some((min, max)) = advertised else {
        return Err(format!("{key:?} is not served"));
    };
    let request = if key == ApiKey::ApiVersions {
        if version > max || version > ApiVersionsRequest::VERSIONS.max {
            // Answered with UNSUPPORTED_VERSION in v0; the body cannot be read.
            Request::ApiVersions(ApiVersionsRequest::default())
        } else {
            Request::ApiVersions(decode(&mut frame, version)?)
        }
    } else {
        if version < min || version > max {
            return Err(format!(
                "{key:?} v{version} is outside the advertised {min}..={max}"
            ));
        }
        match key {
            ApiKey::Metadata => Request::Metadata(decode(&mut frame, version)?),
            ApiKey::ListOffsets => Request::ListOffsets(decode(&mut frame, version)?),
            ApiKey::Fetch => Request::Fetch(decode(&mut frame, version)?),
            ApiKey::OffsetForLeaderEpoch => Request::OffsetForLeaderEpoch(decode(&mut frame, version)?),
            ApiKey::FindCoordinator => Request::FindCoordinator(decode(&mut frame, version)?),
            ApiKey::JoinGroup => Request::JoinGroup(decode(&mut frame, version)?),
            ApiKey::SyncGroup => Request::SyncGroup(decode(&mut frame, version)?),
            ApiKey::Heartbeat => Request::Heartbeat(decode(&mut frame, version)?),
            ApiKey::LeaveGroup => Request::LeaveGroup(decode(&mut frame, version)?),
            ApiKey::OffsetCommit => Request::OffsetCommit(decode(&mut frame, version)?),
            ApiKey::OffsetFetch => Request::OffsetFetch(decode(&mut frame, version)?),
            ApiKey::ConsumerGroupHeartbeat => Request::ConsumerGroupHeartbeat(decode(&mut frame, version)?),
            ApiKey::Produce => Request::Produce(decode(&mut frame, version)?),
            ApiKey::InitProducerId => Request::InitProducerId(decode(&mut frame, version)?),
            ApiKey::CreateTopics => Request::CreateTopics(decode(&mut frame, version)?),
            ApiKey::DeleteTopics => Request::DeleteTopics(decode(&mut frame, version)?),
            ApiKey::ListGroups => Request::ListGroups(decode(&mut frame, version)?),
            ApiKey::DescribeGroups => Request::DescribeGroups(decode(&mut frame, version)?),
            other => return Err(format!("{other:?} is not served")),
        }
    };
    Ok(Parsed {
        version,
        correlation_id: header.correlation_id,
        client_id: header.client_id.as_deref().unwrap_or_default().to_owned(),
        request,
    })
}

fn decode<M: Decodable>(frame: &mut Bytes, version: i16) -> Result<M, String> {
    M::decode(frame, version).map_err(|e| e.to_string())
}

fn encode(response: &Response, correlation_id: i32, version: i16) -> Result<BytesMut, String> {
    let mut out = BytesMut::new();
    let r = match response {
        Response::ApiVersions(r) => encode_response(&mut out, correlation_id, version, r),
        Response::Metadata(r) => encode_response(&mut out, correlation_id, version, r),
        Response::ListOffsets(r) => encode_response(&mut out, correlation_id, version, r),
        Response::Fetch(r) => encode_response(&mut out, correlation_id, version, r),
        Response::OffsetForLeaderEpoch(r) => encode_response(&mut out, correlation_id, version, r),
        Response::FindCoordinator(r) => encode_response(&mut out, correlation_id, version, r),
        Response::JoinGroup(r) => encode_response(&mut out, correlation_id, version, r),
        Response::SyncGroup(r) => encode_response(&mut out, correlation_id, version, r),
        Response::Heartbeat(r) => encode_response(&mut out, correlation_id, version, r),
        Response::LeaveGroup(r) => encode_response(&mut out, correlation_id, version, r),
        Response::OffsetCommit(r) => encode_response(&mut out, correlation_id, version, r),
        Response::OffsetFetch(r) => encode_response(&mut out, correlation_id, version, r),
        Response::ConsumerGroupHeartbeat(r) => encode_response(&mut out, correlation_id, version, r),
        Response::Produce(r) => encode_response(&mut out, correlation_id, version, r),
        Response::InitProducerId(r) => encode_response(&mut out, correlation_id, version, r),
        Response::CreateTopics(r) => encode_response(&mut out, correlation_id, version, r),
        Response::DeleteTopics(r) => encode_response(&mut out, correlation_id, version, r),
        Response::ListGroups(r) => encode_response(&mut out, correlation_id, version, r),
        Response::DescribeGroups(r) => encode_response(&mut out, correlation_id, version, r),
    };
    r.map_err(|e| e.to_string())?;
    Ok(out)
}

/// The broker's own answer, and the version to encode it in.
async fn handle(inner: &Arc<Inner>, broker: i32, parsed: &Parsed) -> (Response, i16) {
    let version = parsed.version;
    match &parsed.request {
        Request::ApiVersions(_) => {
            let keys = inner
                .versions
                .iter()
                .map(|(&k, &(min, max))| {
                    ApiVersion::default()
                        .with_api_key(k)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect();
            let max = inner.versions[&(ApiKey::ApiVersions as i16)].1;
            if version > max || version > ApiVersionsRequest::VERSIONS.max {
                let r = ApiVersionsResponse::default()
                    .with_error_code(ErrorCode::UNSUPPORTED_VERSION.0)
                    .with_api_keys(keys);
                return (Response::ApiVersions(r), 0);
            }
            let r = ApiVersionsResponse::default().with_api_keys(keys);
            (Response::ApiVersions(r), version)
        }
        Request::Metadata(r) => (Response::Metadata(metadata(&inner.lock(), r, version)), version),
        Request::ListOffsets(r) => (
            Response::ListOffsets(list_offsets(&inner.lock(), broker, r, version)),
            version,
        ),
        Request::OffsetForLeaderEpoch(r) => (
            Response::OffsetForLeaderEpoch(offset_for_leader_epoch(&inner.lock(), broker, r, version)),
            version,
        ),
        Request::Fetch(r) => (Response::Fetch(fetch(inner, broker, r, version).await), version),
        Request::Produce(r) => {
            let (response, appended) = crate::produce_api::produce(&mut inner.lock(), broker, r, version);
            if appended {
                inner.changed.notify_waiters();
            }
            (Response::Produce(response), version)
        }
        Request::InitProducerId(r) => (
            Response::InitProducerId(crate::produce_api::init_producer_id(&mut inner.lock(), r)),
            version,
        ),
        Request::CreateTopics(r) => {
            let (response, created) = crate::produce_api::create_topics(&mut inner.lock(), r);
            if created {
                inner.changed.notify_waiters();
            }
            (Response::CreateTopics(response), version)
        }
        Request::DeleteTopics(r) => {
            let (response, deleted) = crate::admin_api::delete_topics(&mut inner.lock(), r, version);
            if deleted {
                inner.changed.notify_waiters();
            }
            (Response::DeleteTopics(response), version)
        }
        Request::ListGroups(r) => (
            Response::ListGroups(crate::admin_api::list_groups(&inner.lock(), r, version)),
            version,
        ),
        Request::DescribeGroups(r) => (
            Response::DescribeGroups(crate::admin_api::describe_groups(&inner.lock(), r)),
            version,
        ),
        group => (
            crate::group_api::handle(inner, broker, group, version, &parsed.client_id).await,
            version,
        ),
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn metadata(st: &State, req: &MetadataRequest, version: i16) -> MetadataResponse {
    let brokers = st
        .brokers
        .iter()
        .map(|(&id, addr)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(addr.ip().to_string()))
                .with_port(i32::from(addr.port()))
        })
        .collect();
    // (name, id) per requested topic; all topics for a null list (or an empty one in v0).
    let wanted: Vec<(Option<String>, Uuid)> = match &req.topics {
        Some(list) if !(list.is_empty() && version == 0) => list
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect(),
        _ => st.topics.keys().map(|n| (Some(n.clone()), Uuid::nil())).collect(),
    };
    let mut topics = Vec::new();
    for (topic_name, id) in wanted {
        let found = match &topic_name {
            Some(n) => st.topics.get(n).map(|t| (n.clone(), t)),
            None => st.topic_name(id).map(|n| (n.to_owned(), &st.topics[n])),
        };
        let Some((n, t)) = found else {
            let code = if topic_name.is_some() {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                ErrorCode::UNKNOWN_TOPIC_ID
            };
            let mut r = MetadataResponseTopic::default()
                .with_error_code(code.0)
                .with_name(topic_name.as_deref().map(name));
            if version >= 10 {
                r = r.with_topic_id(id);
            }
            topics.push(r);
            continue;
        };
        let partitions = t
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let code = if p.leader < 0 {
                    ErrorCode::LEADER_NOT_AVAILABLE
                } else {
                    ErrorCode::NONE
                };
                let mut r = MetadataResponsePartition::default()
                    .with_error_code(code.0)
                    .with_partition_index(i as i32)
                    .with_leader_id(BrokerId(p.leader))
                    .with_replica_nodes(p.replicas.iter().map(|&b| BrokerId(b)).collect())
                    .with_isr_nodes(p.replicas.iter().map(|&b| BrokerId(b)).collect());
                if version >= 7 {
                    r = r.with_leader_epoch(p.epoch);
                }
                r
            })
            .collect();
        let mut r = MetadataResponseTopic::default()
            .with_name(Some(name(&n)))
            .with_partitions(partitions);
        if version >= 10 {
            r = r.with_topic_id(t.id);
        }
        topics.push(r);
    }
    let mut r = MetadataResponse::default()
        .with_brokers(brokers)
        .with_topics(topics);
    if version >= 1 {
        r = r.with_controller_id(BrokerId(st.brokers.keys().next().copied().unwrap_or(-1)));
    }
    if version >= 2 {
        r = r.with_cluster_id(Some(StrBytes::from_static_str("kafkaroo-testkit")));
    }
    r
}

/// The error a partition request to `broker` gets before any data is read: unknown, not the leader
/// (nor, with `read_replica_serves`, the partition's read replica), or a leader epoch that is behind
/// (fenced) or ahead (unknown).
fn check_leader(
    st: &State,
    broker: i32,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    read_replica_serves: bool,
) -> Result<(), ErrorCode> {
    let p = st
        .partition(topic, partition)
        .map_err(|_| ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
    let serves = p.leader == broker || (read_replica_serves && p.read_replica == Some(broker));
    if !serves {
        return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    if current_leader_epoch >= 0 && current_leader_epoch < p.epoch {
        return Err(ErrorCode::FENCED_LEADER_EPOCH);
    }
    if current_leader_epoch > p.epoch {
        return Err(ErrorCode::UNKNOWN_LEADER_EPOCH);
    }
    Ok(())
}

fn list_offsets(st: &State, broker: i32, req: &ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = t.name.0.as_str();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    let epoch = if version >= 4 { p.current_leader_epoch } else { -1 };
                    if let Err(code) = check_leader(st, broker, topic, p.partition_index, epoch, false) {
                        return r.with_error_code(code.0);
                    }
                    let part = st.partition(topic, p.partition_index).expect("checked");
                    let log = &part.log;
                    let (offset, ts) = match p.timestamp {
                        -1 => (log.end(), -1),
                        -3 => log.max_timestamp().unwrap_or((-1, -1)),
                        t if t < 0 => (log.log_start(), -1),
                        t => log.offset_for_timestamp(t).unwrap_or((-1, -1)),
                    };
                    let mut r = r.with_offset(offset).with_timestamp(ts);
                    if version >= 4 {
                        let epoch = if offset < 0 {
                            -1
                        } else if offset == log.end() {
                            part.epoch
                        } else {
                            log.epochs()
                                .iter()
                                .rev()
                                .find(|&&(_, s)| s <= offset)
                                .map_or(-1, |&(e, _)| e)
                        };
                        r = r.with_leader_epoch(epoch);
                    }
                    r
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn offset_for_leader_epoch(
    st: &State,
    broker: i32,
    req: &OffsetForLeaderEpochRequest,
    _version: i16,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = t.topic.0.as_str();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    if let Err(code) =
                        check_leader(st, broker, topic, p.partition, p.current_leader_epoch, false)
                    {
                        return r.with_error_code(code.0);
                    }
                    let log = &st.partition(topic, p.partition).expect("checked").log;
                    let (epoch, end) = log.end_offset_for_epoch(p.leader_epoch);
                    r.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

// ----- Fetch -----

fn same_partition(e: &SessionEntry, topic: &Option<String>, id: Uuid, partition: i32) -> bool {
    e.partition == partition
        && match (&e.topic, topic) {
            (Some(a), Some(b)) => a == b,
            _ => !id.is_nil() && e.topic_id == id,
        }
}

/// The partitions a Fetch lists, resolved to names (by id for v13+).
fn requested(st: &State, req: &FetchRequest, version: i16) -> Vec<SessionEntry> {
    let mut out = Vec::new();
    for t in &req.topics {
        let (topic, id) = if version >= 13 {
            (st.topic_name(t.topic_id).map(str::to_owned), t.topic_id)
        } else {
            let n = t.topic.0.to_string();
            let id = st.topics.get(&n).map_or(Uuid::nil(), |x| x.id);
            (Some(n), id)
        };
        for p in &t.partitions {
            out.push(SessionEntry {
                topic: topic.clone(),
                topic_id: id,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                current_leader_epoch: if version >= 9 { p.current_leader_epoch } else { -1 },
                last_fetched_epoch: if version >= 12 { p.last_fetched_epoch } else { -1 },
                sent: None,
            });
        }
    }
    out
}

fn forgotten(st: &State, req: &FetchRequest, version: i16) -> Vec<(Option<String>, Uuid, i32)> {
    let mut out = Vec::new();
    if version < 7 {
        return out;
    }
    for t in &req.forgotten_topics_data {
        let (topic, id) = if version >= 13 {
            (st.topic_name(t.topic_id).map(str::to_owned), t.topic_id)
        } else {
            (Some(t.topic.0.to_string()), Uuid::nil())
        };
        for &p in &t.partitions {
            out.push((topic.clone(), id, p));
        }
    }
    out
}

/// What a Fetch will answer for: which partitions, and which session (if any) to keep up to date.
struct FetchPlan {
    session_id: i32,
    incremental: bool,
    entries: Vec<SessionEntry>,
}

fn plan_fetch(st: &mut State, broker: i32, req: &FetchRequest, version: i16) -> Result<FetchPlan, ErrorCode> {
    let listed = requested(st, req, version);
    if version < 7 {
        return Ok(FetchPlan {
            session_id: 0,
            incremental: false,
            entries: listed,
        });
    }
    let gone = forgotten(st, req, version);
    let sessions = st.sessions.entry(broker).or_default();
    let (id, epoch) = (req.session_id, req.session_epoch);
    let create = |sessions: &mut Sessions, entries: Vec<SessionEntry>| {
        sessions.next_id += 1;
        let id = sessions.next_id;
        sessions.map.insert(
            id,
            FetchSession {
                epoch: 1,
                entries: entries.clone(),
            },
        );
        FetchPlan {
            session_id: id,
            incremental: false,
            entries,
        }
    };
    match (id, epoch) {
        (0, -1) => Ok(FetchPlan {
            session_id: 0,
            incremental: false,
            entries: listed,
        }),
        (0, 0) => Ok(create(sessions, listed)),
        (0, _) => Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH),
        (id, -1) => {
            sessions.map.remove(&id);
            Ok(FetchPlan {
                session_id: 0,
                incremental: false,
                entries: listed,
            })
        }
        (id, 0) => {
            sessions.map.remove(&id);
            Ok(create(sessions, listed))
        }
        (id, epoch) => {
            let session = sessions
                .map
                .get_mut(&id)
                .ok_or(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)?;
            if session.epoch != epoch {
                return Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH);
            }
            for e in listed {
                match session
                    .entries
                    .iter_mut()
                    .find(|x| same_partition(x, &e.topic, e.topic_id, e.partition))
                {
                    Some(x) => {
                        x.fetch_offset = e.fetch_offset;
                        x.max_bytes = e.max_bytes;
                        x.current_leader_epoch = e.current_leader_epoch;
                        x.last_fetched_epoch = e.last_fetched_epoch;
                    }
                    None => session.entries.push(e),
                }
            }
            session
                .entries
                .retain(|x| !gone.iter().any(|(t, i, p)| same_partition(x, t, *i, *p)));
            session.epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
            Ok(FetchPlan {
                session_id: id,
                incremental: true,
                entries: session.entries.clone(),
            })
        }
    }
}

/// Whether a request is a Fetch that will be answered for `topic`/`partition` (listed, or held by its
/// session and not forgotten).
pub(crate) fn fetch_includes(inner: &Inner, req: &RequestInfo<'_>, topic: &str, partition: i32) -> bool {
    let Some(f) = req.fetch() else { return false };
    let st = inner.lock();
    let want = Some(topic.to_owned());
    if requested(&st, f, req.version)
        .iter()
        .any(|e| e.topic == want && e.partition == partition)
    {
        return true;
    }
    if req.version < 7 || f.session_id == 0 || f.session_epoch <= 0 {
        return false;
    }
    let id = st.topics.get(topic).map_or(Uuid::nil(), |t| t.id);
    if forgotten(&st, f, req.version)
        .iter()
        .any(|(t, i, p)| *p == partition && (t.as_deref() == Some(topic) || (!i.is_nil() && *i == id)))
    {
        return false;
    }
    st.sessions
        .get(&req.broker)
        .and_then(|s| s.map.get(&f.session_id))
        .is_some_and(|s| {
            s.entries
                .iter()
                .any(|e| e.topic == want && e.partition == partition)
        })
}

async fn fetch(inner: &Arc<Inner>, broker: i32, req: &FetchRequest, version: i16) -> FetchResponse {
    let plan = match plan_fetch(&mut inner.lock(), broker, req, version) {
        Ok(p) => p,
        Err(code) => {
            debug!(broker, session_id = req.session_id, epoch = req.session_epoch, error = ?code, "fetch session error");
            return FetchResponse::default()
                .with_error_code(code.0)
                .with_session_id(0);
        }
    };
    let deadline = Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    loop {
        let changed = inner.changed.notified();
        let (parts, bytes, urgent) = read_all(inner, &inner.lock(), broker, req, version, &plan.entries);
        let ready = req.max_wait_ms <= 0
            || plan.entries.is_empty()
            || urgent
            || i64::try_from(bytes).unwrap_or(i64::MAX) >= i64::from(req.min_bytes);
        if ready || Instant::now() >= deadline {
            return finish(inner, broker, &plan, parts, version);
        }
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Reads every planned partition. Returns the answers, the record bytes, and whether something must be
/// answered at once (an error or a diverging epoch).
fn read_all(
    inner: &Inner,
    st: &State,
    broker: i32,
    req: &FetchRequest,
    version: i16,
    entries: &[SessionEntry],
) -> (Vec<(PartitionData, Option<i32>)>, usize, bool) {
    let mut remaining = usize::try_from(req.max_bytes).unwrap_or(0);
    let mut any_bytes = false;
    let mut total = 0;
    let mut urgent = false;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let mut pd = PartitionData::default()
            .with_partition_index(e.partition)
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
            .with_aborted_transactions((req.isolation_level == 1).then(Vec::new))
            .with_records(Some(Bytes::new()));
        let mut hint = None;
        let result = (|| {
            let Some(topic) = e.topic.as_deref() else {
                return Err(ErrorCode::UNKNOWN_TOPIC_ID);
            };
            // Sessions hold partitions by topic id (v13+): a topic re-created under the same name is a
            // different topic, as on a real broker.
            if version >= 13
                && !e.topic_id.is_nil()
                && st.topics.get(topic).is_some_and(|t| t.id != e.topic_id)
            {
                return Err(ErrorCode::UNKNOWN_TOPIC_ID);
            }
            // Fetch 11+ carries the consumer's rack: a follower may serve it (KIP-392).
            let from_follower = version >= 11;
            if let Err(code) = check_leader(
                st,
                broker,
                topic,
                e.partition,
                e.current_leader_epoch,
                from_follower,
            ) {
                if code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                    && version >= 13
                    && !st.topics.contains_key(topic)
                {
                    return Err(ErrorCode::UNKNOWN_TOPIC_ID);
                }
                if matches!(
                    code,
                    ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::FENCED_LEADER_EPOCH
                ) {
                    hint = st.partition(topic, e.partition).ok().map(|p| (p.leader, p.epoch));
                }
                return Err(code);
            }
            let p = st.partition(topic, e.partition).expect("checked");
            let log = &p.log;
            pd.high_watermark = log.end();
            pd.last_stable_offset = log.end();
            pd.log_start_offset = log.log_start();
            if let Some(replica) = p
                .read_replica
                .filter(|r| from_follower && p.leader == broker && *r != broker)
            {
                // KIP-392: the leader skips the read and names the replica, answering at once.
                pd.preferred_read_replica = BrokerId(replica);
                return Ok(true);
            }
            if version >= 12 && e.last_fetched_epoch >= 0 {
                let (epoch, end) = log.end_offset_for_epoch(e.last_fetched_epoch);
                if epoch < e.last_fetched_epoch || end < e.fetch_offset {
                    pd.diverging_epoch = DivergingEpoch::default().with_epoch(epoch).with_end_offset(end);
                    return Ok(true);
                }
            }
            if e.fetch_offset < log.log_start() || e.fetch_offset > log.end() {
                return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
            }
            let limit = usize::try_from(e.max_bytes).unwrap_or(0).min(remaining);
            let records = log.read(e.fetch_offset, limit, inner.cut, !any_bytes);
            remaining = remaining.saturating_sub(records.len());
            total += records.len();
            any_bytes |= !records.is_empty();
            pd.records = Some(records);
            Ok(false)
        })();
        match result {
            Ok(diverging) => urgent |= diverging,
            Err(code) => {
                urgent = true;
                pd.error_code = code.0;
                if version >= 16
                    && let Some((leader, epoch)) = hint
                {
                    pd.current_leader = LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(leader))
                        .with_leader_epoch(epoch);
                }
            }
        }
        let leader = (pd.current_leader.leader_id.0 >= 0).then_some(pd.current_leader.leader_id.0);
        out.push((pd, leader));
    }
    (out, total, urgent)
}

/// Drops what an incremental response must not repeat, updates the session, builds the response.
fn finish(
    inner: &Inner,
    broker: i32,
    plan: &FetchPlan,
    parts: Vec<(PartitionData, Option<i32>)>,
    version: i16,
) -> FetchResponse {
    let mut st = inner.lock();
    let brokers = st.brokers.clone();
    let mut session = st
        .sessions
        .get_mut(&broker)
        .and_then(|s| s.map.get_mut(&plan.session_id))
        .filter(|_| plan.session_id != 0);
    let mut responses: Vec<FetchableTopicResponse> = Vec::new();
    let mut endpoints: BTreeMap<i32, NodeEndpoint> = BTreeMap::new();
    for (e, (pd, leader)) in plan.entries.iter().zip(parts) {
        let key = (pd.high_watermark, pd.last_stable_offset, pd.log_start_offset);
        let entry = session.as_mut().and_then(|s| {
            s.entries
                .iter_mut()
                .find(|x| same_partition(x, &e.topic, e.topic_id, e.partition))
        });
        let changed = entry.as_ref().is_none_or(|x| x.sent != Some(key));
        if let Some(x) = entry {
            x.sent = Some(key);
        }
        let has_records = pd.records.as_ref().is_some_and(|r| !r.is_empty());
        let nothing_new = !has_records
            && pd.error_code == 0
            && pd.diverging_epoch.epoch < 0
            && pd.preferred_read_replica.0 < 0
            && !changed;
        if plan.incremental && nothing_new {
            continue;
        }
        if let Some(addr) = leader.and_then(|l| brokers.get(&l).map(|a| (l, a))) {
            endpoints.insert(
                addr.0,
                NodeEndpoint::default()
                    .with_node_id(BrokerId(addr.0))
                    .with_host(StrBytes::from_string(addr.1.ip().to_string()))
                    .with_port(i32::from(addr.1.port())),
            );
        }
        let topic_name = e.topic.clone().unwrap_or_default();
        let same = responses.last().is_some_and(|t| {
            if version >= 13 {
                t.topic_id == e.topic_id
            } else {
                t.topic.0.as_str() == topic_name
            }
        });
        if !same {
            let mut t = FetchableTopicResponse::default();
            if version >= 13 {
                t = t.with_topic_id(e.topic_id);
            } else {
                t = t.with_topic(name(&topic_name));
            }
            responses.push(t);
        }
        responses.last_mut().expect("pushed").partitions.push(pd);
    }
    let mut r = FetchResponse::default().with_responses(responses);
    if version >= 7 {
        r = r.with_session_id(plan.session_id);
    }
    if version >= 16 {
        r = r.with_node_endpoints(endpoints.into_values().collect());
    }
    r
}
