//! ListOffsets, Fetch, OffsetForLeaderEpoch against partition 0 of the suite's topic, which holds
//! `RECORDS` records with create times `base_ts + 1000 * i`.

use std::time::Duration;

use anyhow::{anyhow, ensure};
use kafkaroo_wire::messages::fetch_request::{FetchPartition, FetchTopic};
use kafkaroo_wire::messages::fetch_response::PartitionData;
use kafkaroo_wire::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafkaroo_wire::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafkaroo_wire::messages::{
    BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, OffsetForLeaderEpochRequest,
};
use kafkaroo_wire::{ErrorCode, Uuid};

use super::util::{code, expect_code, parse_batch_headers, tn};
use super::{Ctx, RECORDS};

const T: Duration = Duration::from_secs(30);

/// What ListOffsets answered for one partition.
struct Listed {
    error: i16,
    offset: i64,
    timestamp: i64,
    leader_epoch: i32,
}

async fn list_offset(
    ctx: &Ctx,
    v: i16,
    partition: i32,
    timestamp: i64,
    isolation: i8,
) -> anyhow::Result<Listed> {
    let mut p = ListOffsetsPartition::default()
        .with_partition_index(partition)
        .with_timestamp(timestamp);
    if v >= 4 {
        p.current_leader_epoch = ctx.leader_epoch;
    }
    let mut req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(tn(&ctx.topic))
                .with_partitions(vec![p]),
        ]);
    if v >= 2 {
        req.isolation_level = isolation;
    }
    if v >= 10 {
        req.timeout_ms = 10_000;
    }
    let resp = ctx.leader_conn().await?.send_version(&req, v, T).await?;
    ensure!(
        resp.topics.len() == 1 && resp.topics[0].partitions.len() == 1,
        "expected one topic with one partition in the answer"
    );
    ensure!(
        &*resp.topics[0].name.0 == ctx.topic.as_str(),
        "answer for topic {:?}",
        resp.topics[0].name
    );
    let p = &resp.topics[0].partitions[0];
    ensure!(
        p.partition_index == partition,
        "answer for partition {}",
        p.partition_index
    );
    Ok(Listed {
        error: p.error_code,
        offset: p.offset,
        timestamp: p.timestamp,
        leader_epoch: p.leader_epoch,
    })
}

/// Fails unless `got` has no error, offset `offset` and (when given) timestamp `ts`.
fn expect_listed(what: &str, got: &Listed, offset: i64, ts: Option<i64>) -> anyhow::Result<()> {
    expect_code(what, got.error, ErrorCode::NONE)?;
    ensure!(
        got.offset == offset,
        "{what}: offset {}, expected {offset}",
        got.offset
    );
    if let Some(ts) = ts {
        ensure!(
            got.timestamp == ts,
            "{what}: timestamp {}, expected {ts}",
            got.timestamp
        );
    }
    Ok(())
}

pub(crate) async fn list_offsets(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    ctx.need_records()?;
    let n = RECORDS;
    let mut done = Vec::new();
    let earliest = list_offset(ctx, v, 0, -2, 0).await?;
    expect_listed("earliest (-2)", &earliest, 0, None)?;
    done.push("earliest=0".to_owned());

    let latest = list_offset(ctx, v, 0, -1, 0).await?;
    expect_listed("latest (-1)", &latest, n, None)?;
    if v >= 4 {
        ensure!(
            latest.leader_epoch == ctx.leader_epoch,
            "latest: leader_epoch {}, Metadata says {}",
            latest.leader_epoch,
            ctx.leader_epoch
        );
        done.push(format!("latest={n} epoch {}", latest.leader_epoch));
    } else {
        done.push(format!("latest={n}"));
    }
    if v >= 2 {
        let committed = list_offset(ctx, v, 0, -1, 1).await?;
        expect_listed("latest read_committed", &committed, n, None)?;
        done.push(format!("read_committed latest={n}"));
    }

    // The first record with a timestamp at or after T: record 3 for T = base + 2.5 s.
    let t = ctx.base_ts + 2500;
    let by_time = list_offset(ctx, v, 0, t, 0).await?;
    expect_listed("timestamp base+2500", &by_time, 3, Some(ctx.base_ts + 3000))?;
    let exact = list_offset(ctx, v, 0, ctx.base_ts, 0).await?;
    expect_listed("timestamp base", &exact, 0, Some(ctx.base_ts))?;
    let after = list_offset(ctx, v, 0, ctx.base_ts + 1000 * n + 1, 0).await?;
    expect_listed("timestamp after the last record", &after, -1, Some(-1))?;
    done.push("by time: 3, 0, none".to_owned());

    if v >= 7 {
        let max = list_offset(ctx, v, 0, -3, 0).await?;
        expect_listed(
            "max timestamp (-3)",
            &max,
            n - 1,
            Some(ctx.base_ts + 1000 * (n - 1)),
        )?;
        done.push(format!("max-ts={}", n - 1));
    }
    if v >= 8 {
        let local = list_offset(ctx, v, 0, -4, 0).await?;
        expect_listed("earliest local (-4)", &local, 0, None)?;
        done.push("earliest-local=0".to_owned());
    }
    let unknown = list_offset(ctx, v, 99, -1, 0).await?;
    expect_code(
        "unknown partition 99",
        unknown.error,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    )?;
    done.push("p99: UNKNOWN_TOPIC_OR_PARTITION".to_owned());
    Ok(done.join(", "))
}

fn fetch_request(ctx: &Ctx, v: i16, offset: i64) -> FetchRequest {
    let mut p = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1 << 20);
    if v >= 9 {
        p.current_leader_epoch = ctx.leader_epoch;
    }
    let mut topic = FetchTopic::default().with_partitions(vec![p]);
    if v >= 13 {
        topic.topic_id = ctx.topic_id;
    } else {
        topic.topic = tn(&ctx.topic);
    }
    FetchRequest::default()
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![topic])
}

/// Partition 0 of the suite's topic in a Fetch answer (by name before v13, by topic id from v13).
fn partition0<'a>(ctx: &Ctx, v: i16, resp: &'a FetchResponse) -> anyhow::Result<&'a PartitionData> {
    if v >= 7 {
        expect_code("top-level error_code", resp.error_code, ErrorCode::NONE)?;
    }
    ensure!(
        resp.responses.len() == 1,
        "{} topics in the answer",
        resp.responses.len()
    );
    let t = &resp.responses[0];
    if v >= 13 {
        ensure!(
            t.topic_id == ctx.topic_id,
            "answer for topic id {}, asked {}",
            t.topic_id,
            ctx.topic_id
        );
        ensure!(t.topic.0.is_empty(), "topic name {:?} alongside the id", t.topic);
    } else {
        ensure!(
            &*t.topic.0 == ctx.topic.as_str(),
            "answer for topic {:?}",
            t.topic
        );
    }
    ensure!(
        t.partitions.len() == 1 && t.partitions[0].partition_index == 0,
        "expected partition 0 alone in the answer"
    );
    Ok(&t.partitions[0])
}

pub(crate) async fn fetch(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    ctx.need_records()?;
    let n = RECORDS;
    let conn = ctx.leader_conn().await?;
    let resp = conn.send_version(&fetch_request(ctx, v, 0), v, T).await?;
    let p = partition0(ctx, v, &resp)?;
    expect_code("partition 0", p.error_code, ErrorCode::NONE)?;
    ensure!(
        p.high_watermark == n,
        "high_watermark {}, expected {n}",
        p.high_watermark
    );
    ensure!(
        p.last_stable_offset == n,
        "last_stable_offset {}, expected {n}",
        p.last_stable_offset
    );
    if v >= 5 {
        ensure!(p.log_start_offset == 0, "log_start_offset {}", p.log_start_offset);
    }
    let records = p
        .records
        .as_ref()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| anyhow!("no records"))?;
    let batches = parse_batch_headers(records).map_err(|e| anyhow!("records: {e}"))?;
    ensure!(
        !batches.is_empty(),
        "no complete batch in {} bytes",
        records.len()
    );
    ensure!(
        batches[0].base_offset == 0,
        "first batch at offset {}",
        batches[0].base_offset
    );
    ensure!(
        batches[0].base_timestamp == ctx.base_ts,
        "first batch's base timestamp {}, produced with {}",
        batches[0].base_timestamp,
        ctx.base_ts
    );
    let count: i64 = batches.iter().map(|b| i64::from(b.record_count)).sum();
    ensure!(
        count == n,
        "{count} records in {} batches, expected {n}",
        batches.len()
    );
    let mut detail = format!(
        "hw={n} lso={n}{} {} batch(es) {count} records",
        if v >= 5 { " log_start=0" } else { "" },
        batches.len()
    );

    let resp = conn.send_version(&fetch_request(ctx, v, n + 100), v, T).await?;
    let p = partition0(ctx, v, &resp)?;
    expect_code(
        &format!("fetch at {}", n + 100),
        p.error_code,
        ErrorCode::OFFSET_OUT_OF_RANGE,
    )?;
    detail.push_str("; beyond end: OFFSET_OUT_OF_RANGE");

    if v >= 7 {
        let open = fetch_request(ctx, v, 0).with_session_id(0).with_session_epoch(0);
        let resp = conn.send_version(&open, v, T).await?;
        let p = partition0(ctx, v, &resp)?;
        expect_code("session-opening fetch", p.error_code, ErrorCode::NONE)?;
        let session = resp.session_id;
        ensure!(session != 0, "no fetch session created (session_id 0)");
        let incremental = fetch_request(ctx, v, 0)
            .with_topics(vec![])
            .with_session_id(session)
            .with_session_epoch(1);
        let resp = conn.send_version(&incremental, v, T).await?;
        expect_code("incremental fetch", resp.error_code, ErrorCode::NONE)?;
        ensure!(
            resp.session_id == session,
            "incremental fetch: session_id {}, expected {session}",
            resp.session_id
        );
        let wrong = fetch_request(ctx, v, 0)
            .with_topics(vec![])
            .with_session_id(session)
            .with_session_epoch(7);
        let resp = conn.send_version(&wrong, v, T).await?;
        expect_code(
            "wrong session epoch",
            resp.error_code,
            ErrorCode::INVALID_FETCH_SESSION_EPOCH,
        )?;
        detail.push_str(&format!(
            "; session {session}: incremental ok, wrong epoch INVALID_FETCH_SESSION_EPOCH"
        ));
    }
    if v >= 13 {
        let mut req = fetch_request(ctx, v, 0);
        req.topics[0].topic_id = Uuid::from_u128(fastrand::u128(1..));
        let resp = conn.send_version(&req, v, T).await?;
        let err = resp
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(resp.error_code, |p| p.error_code);
        ensure!(
            err == ErrorCode::UNKNOWN_TOPIC_ID.0,
            "unknown topic id: expected UNKNOWN_TOPIC_ID(100), got {} (top-level {})",
            code(err),
            code(resp.error_code)
        );
        detail.push_str("; unknown topic id: UNKNOWN_TOPIC_ID");
    }
    Ok(detail)
}

pub(crate) async fn offset_for_leader_epoch(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    ctx.need_records()?;
    let e = ctx.leader_epoch;
    ensure!(e >= 0, "the leader epoch of partition 0 is unknown");
    let conn = ctx.leader_conn().await?;
    let conn = &conn;
    let ask = |partition: i32, current: i32, epoch: i32| async move {
        let req = OffsetForLeaderEpochRequest::default().with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(tn(&ctx.topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(current)
                        .with_leader_epoch(epoch),
                ]),
        ]);
        // replica_id (v3+) keeps its default, -2: a consumer.
        let resp = conn.send_version(&req, v, T).await?;
        let p = resp
            .topics
            .first()
            .filter(|t| &*t.topic.0 == ctx.topic.as_str())
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| anyhow!("no answer for the partition"))?
            .clone();
        ensure!(p.partition == partition, "answer for partition {}", p.partition);
        anyhow::Ok(p)
    };
    let p = ask(0, e, e).await?;
    expect_code("current epoch", p.error_code, ErrorCode::NONE)?;
    ensure!(
        (p.leader_epoch, p.end_offset) == (e, RECORDS),
        "epoch {e}: answered epoch {} end offset {}, expected {e} and {RECORDS}",
        p.leader_epoch,
        p.end_offset
    );
    let above = ask(0, e, e + 1).await?;
    expect_code(
        "requested epoch above the current",
        above.error_code,
        ErrorCode::NONE,
    )?;
    ensure!(
        (above.leader_epoch, above.end_offset) == (-1, -1),
        "epoch {}: answered epoch {} end offset {}, expected -1 and -1 (undefined)",
        e + 1,
        above.leader_epoch,
        above.end_offset
    );
    let future = ask(0, e + 1, e).await?;
    expect_code(
        "current_leader_epoch above the leader's",
        future.error_code,
        ErrorCode::UNKNOWN_LEADER_EPOCH,
    )?;
    let mut detail = format!(
        "epoch {e} -> end {RECORDS}; epoch {} -> (-1,-1); current {} -> UNKNOWN_LEADER_EPOCH",
        e + 1,
        e + 1
    );
    if e >= 1 {
        let stale = ask(0, e - 1, e).await?;
        expect_code(
            "current_leader_epoch below the leader's",
            stale.error_code,
            ErrorCode::FENCED_LEADER_EPOCH,
        )?;
        detail.push_str(&format!("; current {} -> FENCED_LEADER_EPOCH", e - 1));
    }
    let unknown = ask(99, e, e).await?;
    expect_code(
        "unknown partition 99",
        unknown.error_code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    )?;
    detail.push_str("; p99: UNKNOWN_TOPIC_OR_PARTITION");
    Ok(detail)
}
