//! OffsetCommit and OffsetFetch.

use std::time::Duration;

use anyhow::{anyhow, ensure};
use kafkaroo_net::Connection;
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafkaroo_wire::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafkaroo_wire::messages::{OffsetCommitRequest, OffsetFetchRequest};

use super::Ctx;
use super::groups::Member;
use super::util::{expect_code, gid, sb, tn};

const T: Duration = Duration::from_secs(30);

/// One partition of a commit.
struct Commit<'a> {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: &'a str,
}

async fn commit(
    ctx: &Ctx,
    conn: &Connection,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    c: &Commit<'_>,
) -> anyhow::Result<i16> {
    let mut p = OffsetCommitRequestPartition::default()
        .with_partition_index(c.partition)
        .with_committed_offset(c.offset)
        .with_committed_metadata(Some(sb(c.metadata)));
    if v >= 6 {
        p.committed_leader_epoch = c.leader_epoch;
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member_id))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(tn(&ctx.topic))
                .with_partitions(vec![p]),
        ]);
    let resp = conn.send_version(&req, v, T).await?;
    let t = resp
        .topics
        .first()
        .ok_or_else(|| anyhow!("OffsetCommit: no topic in the answer"))?;
    ensure!(
        &*t.name.0 == ctx.topic.as_str(),
        "OffsetCommit: answer for {:?}",
        t.name
    );
    let p = t
        .partitions
        .first()
        .filter(|p| p.partition_index == c.partition)
        .ok_or_else(|| anyhow!("OffsetCommit: no answer for partition {}", c.partition))?;
    Ok(p.error_code)
}

/// A commit by a member of `group` at the highest version, checked for error 0.
pub(crate) async fn commit_as(
    ctx: &Ctx,
    group: &str,
    generation: i32,
    member_id: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<()> {
    let conn = ctx.coordinator(group).await?;
    let v = ctx.max::<OffsetCommitRequest>()?;
    let c = Commit {
        partition,
        offset,
        leader_epoch: ctx.leader_epoch,
        metadata: "",
    };
    let err = commit(ctx, &conn, v, group, generation, member_id, &c).await?;
    expect_code("OffsetCommit by the member", err, ErrorCode::NONE)
}

/// A standalone commit (generation -1, no member) at the highest version, checked for error 0.
async fn commit_simple(
    ctx: &Ctx,
    group: &str,
    partition: i32,
    offset: i64,
    metadata: &str,
) -> anyhow::Result<()> {
    let conn = ctx.coordinator(group).await?;
    let v = ctx.max::<OffsetCommitRequest>()?;
    let c = Commit {
        partition,
        offset,
        leader_epoch: ctx.leader_epoch,
        metadata,
    };
    let err = commit(ctx, &conn, v, group, -1, "", &c).await?;
    expect_code("standalone OffsetCommit", err, ErrorCode::NONE)
}

/// A committed offset as OffsetFetch returns it.
#[derive(Debug)]
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<String>,
    error: i16,
}

/// Fetches `partitions` of the suite's topic (`None`: every committed partition of every topic, v2+).
async fn fetch_offsets(
    ctx: &Ctx,
    conn: &Connection,
    v: i16,
    group: &str,
    partitions: Option<&[i32]>,
) -> anyhow::Result<Vec<Fetched>> {
    let mut req = OffsetFetchRequest::default();
    if v >= 8 {
        let topics = partitions.map(|ps| {
            vec![
                OffsetFetchRequestTopics::default()
                    .with_name(tn(&ctx.topic))
                    .with_partition_indexes(ps.to_vec()),
            ]
        });
        req.groups = vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(gid(group))
                .with_topics(topics),
        ];
    } else {
        req.group_id = gid(group);
        req.topics = partitions.map(|ps| {
            vec![
                OffsetFetchRequestTopic::default()
                    .with_name(tn(&ctx.topic))
                    .with_partition_indexes(ps.to_vec()),
            ]
        });
    }
    if v >= 7 {
        req.require_stable = true;
    }
    let resp = conn.send_version(&req, v, T).await?;
    let mut out = Vec::new();
    if v >= 8 {
        ensure!(
            resp.groups.len() == 1,
            "{} groups in the answer",
            resp.groups.len()
        );
        let g = &resp.groups[0];
        ensure!(
            g.group_id.0.as_str() == group,
            "answer for group {:?}",
            g.group_id
        );
        expect_code("group error_code", g.error_code, ErrorCode::NONE)?;
        for t in g.topics.iter().filter(|t| &*t.name.0 == ctx.topic.as_str()) {
            out.extend(t.partitions.iter().map(|p| Fetched {
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.metadata.as_deref().map(|m| m.to_string()),
                error: p.error_code,
            }));
        }
    } else {
        if v >= 2 {
            expect_code("top-level error_code", resp.error_code, ErrorCode::NONE)?;
        }
        for t in resp.topics.iter().filter(|t| &*t.name.0 == ctx.topic.as_str()) {
            out.extend(t.partitions.iter().map(|p| Fetched {
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.metadata.as_deref().map(|m| m.to_string()),
                error: p.error_code,
            }));
        }
    }
    Ok(out)
}

fn expect_fetched(
    what: &str,
    got: &[Fetched],
    partition: i32,
    offset: i64,
    metadata: Option<&str>,
    leader_epoch: Option<i32>,
) -> anyhow::Result<()> {
    let f = got
        .iter()
        .find(|f| f.partition == partition)
        .ok_or_else(|| anyhow!("{what}: partition {partition} missing from {got:?}"))?;
    expect_code(
        &format!("{what}: partition {partition}"),
        f.error,
        ErrorCode::NONE,
    )?;
    ensure!(
        f.offset == offset,
        "{what}: partition {partition} at offset {}, expected {offset}",
        f.offset
    );
    if let Some(m) = metadata {
        ensure!(
            f.metadata.as_deref() == Some(m),
            "{what}: metadata {:?}, expected {m:?}",
            f.metadata
        );
    }
    if let Some(e) = leader_epoch {
        ensure!(
            f.leader_epoch == e,
            "{what}: leader epoch {}, expected {e}",
            f.leader_epoch
        );
    }
    Ok(())
}

pub(crate) async fn offset_commit(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let group = ctx.name("commit", v);
    let conn = ctx.coordinator(&group).await?;
    let offset = 100 + i64::from(v);
    let metadata = format!("kafkaroo-v{v}");
    let c = Commit {
        partition: 0,
        offset,
        leader_epoch: ctx.leader_epoch,
        metadata: &metadata,
    };
    let err = commit(ctx, &conn, v, &group, -1, "", &c).await?;
    expect_code("standalone commit", err, ErrorCode::NONE)?;
    let fv = ctx.max::<OffsetFetchRequest>()?;
    let fetched = fetch_offsets(ctx, &conn, fv, &group, Some(&[0])).await?;
    let epoch = (fv >= 5).then_some(if v >= 6 { ctx.leader_epoch } else { -1 });
    expect_fetched(
        "OffsetFetch after commit",
        &fetched,
        0,
        offset,
        Some(&metadata),
        epoch,
    )?;
    let mut detail = format!(
        "committed {offset} \"{metadata}\"{}; read back",
        if v >= 6 {
            format!(" epoch {}", ctx.leader_epoch)
        } else {
            String::new()
        }
    );

    let m = Member::stable(ctx, ctx.name("commit-gen", v)).await?;
    let result = async {
        let c = Commit {
            partition: 1,
            offset: 5,
            leader_epoch: ctx.leader_epoch,
            metadata: "",
        };
        let bad_gen = commit(ctx, &m.conn, v, &m.group, m.generation + 5, &m.member_id, &c).await?;
        expect_code(
            "commit with a bogus generation",
            bad_gen,
            ErrorCode::ILLEGAL_GENERATION,
        )?;
        let bad_member = commit(ctx, &m.conn, v, &m.group, m.generation, "kr-conf-nobody", &c).await?;
        expect_code(
            "commit by an unknown member",
            bad_member,
            ErrorCode::UNKNOWN_MEMBER_ID,
        )?;
        let good = commit(ctx, &m.conn, v, &m.group, m.generation, &m.member_id, &c).await?;
        expect_code("commit by the member", good, ErrorCode::NONE)?;
        anyhow::Ok(format!(
            "; member group: bogus generation ILLEGAL_GENERATION, unknown member UNKNOWN_MEMBER_ID, \
             generation {} NONE",
            m.generation
        ))
    }
    .await;
    m.leave(ctx).await;
    detail.push_str(&result?);
    Ok(detail)
}

/// A group with partition 0 committed at offset 42 (with metadata and leader epoch) and partition 1
/// never committed, shared by the OffsetFetch versions (read-only checks).
pub(crate) struct OffsetFetchFixture {
    group: Result<String, String>,
}

const FIXTURE_OFFSET: i64 = 42;
const FIXTURE_METADATA: &str = "kafkaroo-fixture";

impl OffsetFetchFixture {
    pub(crate) async fn new(ctx: &Ctx) -> Self {
        let group = ctx.name("fetch-offsets", 0);
        let r = commit_simple(ctx, &group, 0, FIXTURE_OFFSET, FIXTURE_METADATA).await;
        Self {
            group: r
                .map(|()| group)
                .map_err(|e| format!("OffsetFetch fixture: {e:#}")),
        }
    }
}

pub(crate) async fn offset_fetch(ctx: &Ctx, v: i16, fx: &OffsetFetchFixture) -> anyhow::Result<String> {
    let group = fx.group.as_ref().map_err(|e| anyhow!("{e}"))?;
    let conn = ctx.coordinator(group).await?;
    let fetched = fetch_offsets(ctx, &conn, v, group, Some(&[0, 1])).await?;
    let committed_epoch = ctx.max::<OffsetCommitRequest>()? >= 6;
    let epoch = (v >= 5).then_some(if committed_epoch { ctx.leader_epoch } else { -1 });
    expect_fetched(
        "committed partition",
        &fetched,
        0,
        FIXTURE_OFFSET,
        Some(FIXTURE_METADATA),
        epoch,
    )?;
    expect_fetched(
        "never committed partition",
        &fetched,
        1,
        -1,
        None,
        (v >= 5).then_some(-1),
    )?;
    let mut detail = format!(
        "p0 {FIXTURE_OFFSET} \"{FIXTURE_METADATA}\"{}, p1 -1",
        if v >= 5 {
            format!(" epoch {}", ctx.leader_epoch)
        } else {
            String::new()
        }
    );
    if v >= 7 {
        detail.push_str(", require_stable");
    }
    if v >= 8 {
        detail.push_str(", groups array");
    }
    if v >= 2 {
        let all = fetch_offsets(ctx, &conn, v, group, None).await?;
        expect_fetched(
            "all topics (null)",
            &all,
            0,
            FIXTURE_OFFSET,
            Some(FIXTURE_METADATA),
            None,
        )?;
        ensure!(
            all.len() == 1,
            "all topics (null): {} partitions of the suite's topic, only p0 was committed",
            all.len()
        );
        detail.push_str("; all-topics fetch: p0 only");
    }
    Ok(detail)
}
