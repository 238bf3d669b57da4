//! The classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups)
//! and the KIP-848 ConsumerGroupHeartbeat.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure};
use bytes::Bytes;
use kafkaroo_net::Connection;
use kafkaroo_wire::messages::consumer_group_heartbeat_request;
use kafkaroo_wire::messages::join_group_request::JoinGroupRequestProtocol;
use kafkaroo_wire::messages::leave_group_request::MemberIdentity;
use kafkaroo_wire::messages::sync_group_request::SyncGroupRequestAssignment;
use kafkaroo_wire::messages::{
    ConsumerGroupHeartbeatRequest, DescribeGroupsRequest, DescribeGroupsResponse, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    ListGroupsRequest, ListGroupsResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafkaroo_wire::{ErrorCode, Uuid};

use super::util::{assignment, code, expect_code, gid, sb, subscription, tn};
use super::{CLIENT_ID, Ctx, PARTITIONS};

/// Above the 10 s rebalance timeout: a JoinGroup may legitimately wait that long.
const JOIN_TIMEOUT: Duration = Duration::from_secs(25);
const T: Duration = Duration::from_secs(30);
const SESSION_TIMEOUT_MS: i32 = 10_000;
const REBALANCE_TIMEOUT_MS: i32 = 10_000;

/// A member that joined and synced: the group is Stable.
pub(crate) struct Member {
    pub(crate) conn: Connection,
    pub(crate) group: String,
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    pub(crate) metadata: Bytes,
    pub(crate) assignment: Bytes,
}

fn join_request(
    v: i16,
    group: &str,
    member_id: &str,
    instance_id: Option<&str>,
    metadata: &Bytes,
) -> JoinGroupRequest {
    let mut req = JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(SESSION_TIMEOUT_MS)
        .with_member_id(sb(member_id))
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(sb("range"))
                .with_metadata(metadata.clone()),
        ]);
    if v >= 1 {
        req.rebalance_timeout_ms = REBALANCE_TIMEOUT_MS;
    }
    if v >= 5 {
        req.group_instance_id = instance_id.map(sb);
    }
    if v >= 8 {
        req.reason = Some(sb("kafkaroo conformance suite"));
    }
    req
}

async fn join(
    conn: &Connection,
    v: i16,
    group: &str,
    member_id: &str,
    instance_id: Option<&str>,
    metadata: &Bytes,
) -> anyhow::Result<JoinGroupResponse> {
    let req = join_request(v, group, member_id, instance_id, metadata);
    Ok(conn.send_version(&req, v, JOIN_TIMEOUT).await?)
}

/// Joins a new group as a dynamic member: v4+ first gets MEMBER_ID_REQUIRED and a member id (KIP-394),
/// then rejoins with it. Returns the final answer, checked for error 0.
async fn join_dynamic(
    conn: &Connection,
    v: i16,
    group: &str,
    metadata: &Bytes,
) -> anyhow::Result<JoinGroupResponse> {
    let first = join(conn, v, group, "", None, metadata).await?;
    let resp = if v >= 4 {
        expect_code(
            "first join with an empty member id",
            first.error_code,
            ErrorCode::MEMBER_ID_REQUIRED,
        )?;
        ensure!(
            !first.member_id.is_empty(),
            "MEMBER_ID_REQUIRED came without a member id"
        );
        let again = join(conn, v, group, &first.member_id, None, metadata).await?;
        expect_code(
            "rejoin with the given member id",
            again.error_code,
            ErrorCode::NONE,
        )?;
        ensure!(
            again.member_id == first.member_id,
            "rejoined as {:?}, was given {:?}",
            again.member_id,
            first.member_id
        );
        again
    } else {
        expect_code("join", first.error_code, ErrorCode::NONE)?;
        first
    };
    ensure!(!resp.member_id.is_empty(), "no member id");
    Ok(resp)
}

fn sync_request(
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupRequest {
    let mut req = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(sb(member_id))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(sb(&m))
                        .with_assignment(a)
                })
                .collect(),
        );
    if v >= 5 {
        req.protocol_type = Some(sb("consumer"));
        req.protocol_name = Some(sb("range"));
    }
    req
}

async fn sync(
    conn: &Connection,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    assignments: Vec<(String, Bytes)>,
) -> anyhow::Result<SyncGroupResponse> {
    let req = sync_request(v, group, generation, member_id, assignments);
    Ok(conn.send_version(&req, v, JOIN_TIMEOUT).await?)
}

async fn heartbeat(
    conn: &Connection,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    instance_id: Option<&str>,
) -> anyhow::Result<HeartbeatResponse> {
    let mut req = HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(sb(member_id));
    if v >= 3 {
        req.group_instance_id = instance_id.map(sb);
    }
    Ok(conn.send_version(&req, v, T).await?)
}

async fn leave(
    conn: &Connection,
    v: i16,
    group: &str,
    member_id: &str,
    instance_id: Option<&str>,
) -> anyhow::Result<LeaveGroupResponse> {
    let mut req = LeaveGroupRequest::default().with_group_id(gid(group));
    if v >= 3 {
        let mut m = MemberIdentity::default()
            .with_member_id(sb(member_id))
            .with_group_instance_id(instance_id.map(sb));
        if v >= 5 {
            m.reason = Some(sb("kafkaroo conformance suite"));
        }
        req.members = vec![m];
    } else {
        req.member_id = sb(member_id);
    }
    Ok(conn.send_version(&req, v, T).await?)
}

async fn describe(conn: &Connection, v: i16, groups: &[&str]) -> anyhow::Result<DescribeGroupsResponse> {
    let mut req = DescribeGroupsRequest::default().with_groups(groups.iter().map(|g| gid(g)).collect());
    if v >= 3 {
        req.include_authorized_operations = true;
    }
    Ok(conn.send_version(&req, v, T).await?)
}

impl Member {
    /// Joins `group` as its only member and syncs an assignment of every partition of the suite's topic,
    /// at the highest versions.
    pub(crate) async fn stable(ctx: &Ctx, group: String) -> anyhow::Result<Self> {
        let conn = ctx.coordinator(&group).await?;
        let metadata = subscription(&[&ctx.topic]);
        let jv = ctx.max::<JoinGroupRequest>()?;
        let joined = join_dynamic(&conn, jv, &group, &metadata).await?;
        let member_id = joined.member_id.to_string();
        ensure!(
            joined.leader == joined.member_id,
            "the only member is not the leader"
        );
        let assignment = assignment(&ctx.topic, &(0..PARTITIONS).collect::<Vec<_>>());
        let sv = ctx.max::<SyncGroupRequest>()?;
        let synced = sync(
            &conn,
            sv,
            &group,
            joined.generation_id,
            &member_id,
            vec![(member_id.clone(), assignment.clone())],
        )
        .await?;
        expect_code("SyncGroup", synced.error_code, ErrorCode::NONE)?;
        Ok(Self {
            conn,
            group,
            member_id,
            generation: joined.generation_id,
            metadata,
            assignment,
        })
    }

    /// Leaves at the highest LeaveGroup version (best effort: cleanup).
    pub(crate) async fn leave(&self, ctx: &Ctx) {
        if let Ok(v) = ctx.max::<LeaveGroupRequest>() {
            let _ = leave(&self.conn, v, &self.group, &self.member_id, None).await;
        }
    }
}

pub(crate) async fn join_group(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let group = ctx.name("join", v);
    let conn = ctx.coordinator(&group).await?;
    let metadata = subscription(&[&ctx.topic]);
    let resp = join_dynamic(&conn, v, &group, &metadata).await?;
    let result = (|| {
        ensure!(resp.generation_id >= 1, "generation {}", resp.generation_id);
        ensure!(
            resp.leader == resp.member_id,
            "leader {:?}, own member id {:?}",
            resp.leader,
            resp.member_id
        );
        ensure!(
            resp.protocol_name.as_deref() == Some("range"),
            "protocol_name {:?}",
            resp.protocol_name
        );
        if v >= 7 {
            ensure!(
                resp.protocol_type.as_deref() == Some("consumer"),
                "protocol_type {:?}",
                resp.protocol_type
            );
        }
        if v >= 9 {
            ensure!(!resp.skip_assignment, "skip_assignment set for the leader");
        }
        ensure!(
            resp.members.len() == 1,
            "{} members listed to the leader",
            resp.members.len()
        );
        let m = &resp.members[0];
        ensure!(m.member_id == resp.member_id, "listed member {:?}", m.member_id);
        ensure!(
            m.metadata == metadata,
            "listed member's metadata differs from what was sent"
        );
        ensure!(
            m.group_instance_id.is_none(),
            "dynamic member listed with an instance id"
        );
        Ok(format!(
            "{}generation {}, leader = self, protocol range{}, metadata echoed",
            if v >= 4 { "MEMBER_ID_REQUIRED then " } else { "" },
            resp.generation_id,
            if v >= 7 { "/consumer" } else { "" }
        ))
    })();
    if let Ok(lv) = ctx.max::<LeaveGroupRequest>() {
        let _ = leave(&conn, lv, &group, &resp.member_id, None).await;
    }
    result
}

/// KIP-345: a static member that rejoins with an empty member id replaces its previous incarnation; the
/// old member id is fenced; a join with the instance id and a wrong member id is fenced.
pub(crate) async fn static_membership(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let group = ctx.name("static", v);
    let instance = format!("{group}-instance");
    let conn = ctx.coordinator(&group).await?;
    let metadata = subscription(&[&ctx.topic]);
    let first = join(&conn, v, &group, "", Some(&instance), &metadata).await?;
    expect_code(
        "first static join (no MEMBER_ID_REQUIRED for static members)",
        first.error_code,
        ErrorCode::NONE,
    )?;
    let m1 = first.member_id.to_string();
    ensure!(
        !m1.is_empty() && first.leader == first.member_id,
        "first join: not the leader"
    );
    ensure!(
        first.members.len() == 1 && first.members[0].group_instance_id.as_deref() == Some(instance.as_str()),
        "leader's member list lacks the instance id: {:?}",
        first.members
    );
    let sv = ctx.max::<SyncGroupRequest>()?;
    let synced = sync(
        &conn,
        sv,
        &group,
        first.generation_id,
        &m1,
        vec![(m1.clone(), assignment(&ctx.topic, &[0, 1, 2]))],
    )
    .await?;
    expect_code("SyncGroup", synced.error_code, ErrorCode::NONE)?;

    // The same instance restarts: empty member id.
    let second = join(&conn, v, &group, "", Some(&instance), &metadata).await?;
    expect_code("rejoin of the same instance", second.error_code, ErrorCode::NONE)?;
    let m2 = second.member_id.to_string();
    ensure!(
        !m2.is_empty() && m2 != m1,
        "rejoin kept member id {m1:?}: expected a new one"
    );
    ensure!(
        second.generation_id == first.generation_id,
        "rejoin of a static member without metadata change moved generation {} -> {}",
        first.generation_id,
        second.generation_id
    );
    // KIP-814 (v9+): the rejoined leader learns it leads but must skip the assignment; before v9 the
    // broker answers with the old leader id so that the member does not assign at all.
    let leader_note = if v >= 9 {
        ensure!(
            second.leader.as_str() == m2.as_str() && second.skip_assignment,
            "v9+ rejoin of the static leader: leader {:?} skip_assignment {}, expected itself and true",
            second.leader,
            second.skip_assignment
        );
        ensure!(
            second.members.len() == 1 && second.members[0].member_id.as_str() == m2.as_str(),
            "v9+ rejoin: member list {:?}",
            second.members
        );
        "leader = self with skip_assignment"
    } else {
        ensure!(
            second.leader.as_str() != m2.as_str(),
            "rejoin before v9: the replacement was told it leads (leader {:?})",
            second.leader
        );
        if second.leader.as_str() == m1.as_str() {
            "leader = old member id"
        } else {
            "leader = another id"
        }
    };
    let hv = ctx.max::<HeartbeatRequest>()?;
    let old = heartbeat(&conn, hv, &group, first.generation_id, &m1, Some(&instance)).await?;
    expect_code(
        "heartbeat of the replaced member id",
        old.error_code,
        ErrorCode::FENCED_INSTANCE_ID,
    )?;
    let new = heartbeat(&conn, hv, &group, second.generation_id, &m2, Some(&instance)).await?;
    expect_code("heartbeat of the replacement", new.error_code, ErrorCode::NONE)?;
    let bogus = join(
        &conn,
        v,
        &group,
        "kr-conf-bogus-member",
        Some(&instance),
        &metadata,
    )
    .await?;
    expect_code(
        "join with the instance id and a wrong member id",
        bogus.error_code,
        ErrorCode::FENCED_INSTANCE_ID,
    )?;
    if let Ok(lv) = ctx.max::<LeaveGroupRequest>()
        && lv >= 3
    {
        let left = leave(&conn, lv, &group, &m2, Some(&instance)).await?;
        expect_code("static leave", left.error_code, ErrorCode::NONE)?;
    }
    Ok(format!(
        "rejoin: new member id, same generation {}, {leader_note}; old id heartbeat FENCED_INSTANCE_ID; \
         wrong member id join FENCED_INSTANCE_ID",
        second.generation_id
    ))
}

pub(crate) async fn sync_group(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let group = ctx.name("sync", v);
    let conn = ctx.coordinator(&group).await?;
    let metadata = subscription(&[&ctx.topic]);
    let jv = ctx.max::<JoinGroupRequest>()?;
    let joined = join_dynamic(&conn, jv, &group, &metadata).await?;
    let me = joined.member_id.to_string();
    let assigned = assignment(&ctx.topic, &[0, 1, 2]);
    let result = async {
        let resp = sync(
            &conn,
            v,
            &group,
            joined.generation_id,
            &me,
            vec![(me.clone(), assigned.clone())],
        )
        .await?;
        expect_code("SyncGroup", resp.error_code, ErrorCode::NONE)?;
        ensure!(
            resp.assignment == assigned,
            "assignment {:?} differs from the one sent {:?}",
            resp.assignment,
            assigned
        );
        if v >= 5 {
            ensure!(
                resp.protocol_type.as_deref() == Some("consumer")
                    && resp.protocol_name.as_deref() == Some("range"),
                "protocol_type {:?} protocol_name {:?}",
                resp.protocol_type,
                resp.protocol_name
            );
        }
        let wrong = sync(&conn, v, &group, joined.generation_id + 1, &me, vec![]).await?;
        expect_code(
            "SyncGroup with the next generation",
            wrong.error_code,
            ErrorCode::ILLEGAL_GENERATION,
        )?;
        anyhow::Ok(format!(
            "generation {}: {}-byte assignment echoed{}; wrong generation ILLEGAL_GENERATION",
            joined.generation_id,
            assigned.len(),
            if v >= 5 { ", protocol consumer/range" } else { "" }
        ))
    }
    .await;
    if let Ok(lv) = ctx.max::<LeaveGroupRequest>() {
        let _ = leave(&conn, lv, &group, &me, None).await;
    }
    result
}

pub(crate) async fn heartbeat_check(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let m = Member::stable(ctx, ctx.name("hb", v)).await?;
    let result = async {
        let ok = heartbeat(&m.conn, v, &m.group, m.generation, &m.member_id, None).await?;
        expect_code("heartbeat", ok.error_code, ErrorCode::NONE)?;
        let wrong_gen = heartbeat(&m.conn, v, &m.group, m.generation + 1, &m.member_id, None).await?;
        expect_code(
            "wrong generation",
            wrong_gen.error_code,
            ErrorCode::ILLEGAL_GENERATION,
        )?;
        let unknown = heartbeat(&m.conn, v, &m.group, m.generation, "kr-conf-nobody", None).await?;
        expect_code("unknown member", unknown.error_code, ErrorCode::UNKNOWN_MEMBER_ID)?;
        anyhow::Ok(format!(
            "generation {}: NONE; generation {}: ILLEGAL_GENERATION; unknown member: UNKNOWN_MEMBER_ID",
            m.generation,
            m.generation + 1
        ))
    }
    .await;
    m.leave(ctx).await;
    result
}

pub(crate) async fn leave_group(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let m = Member::stable(ctx, ctx.name("leave", v)).await?;
    let resp = leave(&m.conn, v, &m.group, &m.member_id, None).await?;
    expect_code("LeaveGroup", resp.error_code, ErrorCode::NONE)?;
    if v >= 3 {
        ensure!(resp.members.len() == 1, "{} member results", resp.members.len());
        let r = &resp.members[0];
        ensure!(
            r.member_id.as_str() == m.member_id,
            "result for member {:?}",
            r.member_id
        );
        expect_code("member error_code", r.error_code, ErrorCode::NONE)?;
    }
    let dv = ctx.max::<DescribeGroupsRequest>()?;
    let described = describe(&m.conn, dv, &[&m.group]).await?;
    let g = described
        .groups
        .first()
        .ok_or_else(|| anyhow!("DescribeGroups: no group"))?;
    expect_code("DescribeGroups after leaving", g.error_code, ErrorCode::NONE)?;
    ensure!(
        g.group_state.as_str() == "Empty" && g.members.is_empty(),
        "after leaving: state {:?} with {} members, expected Empty",
        g.group_state,
        g.members.len()
    );
    let again = leave(&m.conn, v, &m.group, &m.member_id, None).await?;
    let err = if v >= 3 {
        expect_code("second leave (top level)", again.error_code, ErrorCode::NONE)?;
        again.members.first().map_or(-999, |r| r.error_code)
    } else {
        again.error_code
    };
    expect_code("second leave", err, ErrorCode::UNKNOWN_MEMBER_ID)?;
    Ok(format!(
        "left{}; group Empty; leaving again: UNKNOWN_MEMBER_ID",
        if v >= 3 { " (member error NONE)" } else { "" }
    ))
}

pub(crate) async fn describe_groups(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let m = Member::stable(ctx, ctx.name("describe", v)).await?;
    let missing = ctx.name("describe-missing", v);
    let result = async {
        let resp = describe(&m.conn, v, &[&m.group]).await?;
        ensure!(resp.groups.len() == 1, "{} groups described", resp.groups.len());
        let g = resp
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == m.group)
            .ok_or_else(|| anyhow!("the stable group is not described"))?;
        expect_code("stable group", g.error_code, ErrorCode::NONE)?;
        ensure!(g.group_state.as_str() == "Stable", "state {:?}", g.group_state);
        ensure!(
            g.protocol_type.as_str() == "consumer",
            "protocol_type {:?}",
            g.protocol_type
        );
        ensure!(
            g.protocol_data.as_str() == "range",
            "protocol {:?}",
            g.protocol_data
        );
        ensure!(g.members.len() == 1, "{} members", g.members.len());
        let d = &g.members[0];
        ensure!(d.member_id.as_str() == m.member_id, "member {:?}", d.member_id);
        ensure!(d.client_id.as_str() == CLIENT_ID, "client id {:?}", d.client_id);
        ensure!(!d.client_host.is_empty(), "no client host");
        ensure!(
            d.member_metadata == m.metadata,
            "member metadata differs from the join"
        );
        ensure!(
            d.member_assignment == m.assignment,
            "member assignment differs from the sync"
        );
        if v >= 4 {
            ensure!(
                d.group_instance_id.is_none(),
                "instance id {:?}",
                d.group_instance_id
            );
        }
        let mut detail = format!(
            "Stable consumer/range, member {} client {CLIENT_ID} host {}",
            d.member_id, d.client_host
        );
        if v >= 3 {
            ensure!(
                g.authorized_operations != i32::MIN,
                "authorized operations requested but not returned"
            );
            detail.push_str(&format!(", authorized_operations {:#x}", g.authorized_operations));
        }
        // The missing group may hash to another coordinator: ask that one.
        let missing_conn = ctx.coordinator(&missing).await?;
        let resp = describe(&missing_conn, v, &[&missing]).await?;
        let x = resp
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == missing)
            .ok_or_else(|| anyhow!("the missing group is not described"))?;
        if v >= 6 {
            expect_code("missing group (v6+)", x.error_code, ErrorCode::GROUP_ID_NOT_FOUND)?;
            detail.push_str("; missing group: GROUP_ID_NOT_FOUND");
        } else {
            expect_code("missing group", x.error_code, ErrorCode::NONE)?;
            ensure!(
                x.group_state.as_str() == "Dead",
                "missing group: state {:?}",
                x.group_state
            );
            detail.push_str("; missing group: Dead");
        }
        anyhow::Ok(detail)
    }
    .await;
    m.leave(ctx).await;
    result
}

/// A Stable group and an Empty one (joined, synced, committed an offset, left), shared by the
/// ListGroups versions (read-only checks).
pub(crate) struct ListGroupsFixture {
    groups: Result<(Member, String), String>,
}

impl ListGroupsFixture {
    pub(crate) async fn new(ctx: &Ctx) -> Self {
        let groups = async {
            let stable = Member::stable(ctx, ctx.name("list-stable", 0)).await?;
            let empty = Member::stable(ctx, ctx.name("list-empty", 0)).await?;
            super::offsets::commit_as(ctx, &empty.group, empty.generation, &empty.member_id, 0, 7).await?;
            let lv = ctx.max::<LeaveGroupRequest>()?;
            let left = leave(&empty.conn, lv, &empty.group, &empty.member_id, None).await?;
            expect_code("leaving the Empty group", left.error_code, ErrorCode::NONE)?;
            anyhow::Ok((stable, empty.group))
        }
        .await
        .map_err(|e| format!("ListGroups fixture: {e:#}"));
        Self { groups }
    }

    pub(crate) async fn cleanup(&self, ctx: &Ctx) {
        if let Ok((stable, _)) = &self.groups {
            stable.leave(ctx).await;
        }
    }
}

async fn list(
    conn: &Connection,
    v: i16,
    states: &[&str],
    types: &[&str],
) -> anyhow::Result<ListGroupsResponse> {
    let mut req = ListGroupsRequest::default();
    if v >= 4 {
        req.states_filter = states.iter().map(|s| sb(s)).collect();
    }
    if v >= 5 {
        req.types_filter = types.iter().map(|s| sb(s)).collect();
    }
    let resp = conn.send_version(&req, v, T).await?;
    expect_code("ListGroups", resp.error_code, ErrorCode::NONE)?;
    Ok(resp)
}

pub(crate) async fn list_groups(ctx: &Ctx, v: i16, fx: &ListGroupsFixture) -> anyhow::Result<String> {
    let (stable, empty) = fx.groups.as_ref().map_err(|e| anyhow!("{e}"))?;
    let empty_conn = ctx.coordinator(empty).await?;
    let find =
        |resp: &ListGroupsResponse, g: &str| resp.groups.iter().find(|l| l.group_id.0.as_str() == g).cloned();
    let all_s = list(&stable.conn, v, &[], &[]).await?;
    let all_e = list(&empty_conn, v, &[], &[]).await?;
    let s = find(&all_s, &stable.group).ok_or_else(|| anyhow!("the Stable group is not listed"))?;
    let e = find(&all_e, empty).ok_or_else(|| anyhow!("the Empty group is not listed"))?;
    for (l, state) in [(&s, "Stable"), (&e, "Empty")] {
        ensure!(
            l.protocol_type.as_str() == "consumer",
            "{state} group: protocol_type {:?}",
            l.protocol_type
        );
        if v >= 4 {
            ensure!(
                l.group_state.as_str() == state,
                "state {:?}, expected {state}",
                l.group_state
            );
        }
        if v >= 5 {
            ensure!(
                l.group_type.as_str() == "classic",
                "{state} group: type {:?}",
                l.group_type
            );
        }
    }
    let mut detail = format!("{} groups listed incl. both suite groups", all_s.groups.len());
    if v >= 4 {
        let stable_only_s = list(&stable.conn, v, &["Stable"], &[]).await?;
        let stable_only_e = list(&empty_conn, v, &["Stable"], &[]).await?;
        ensure!(
            find(&stable_only_s, &stable.group).is_some(),
            "states [Stable] omits the Stable group"
        );
        ensure!(
            find(&stable_only_e, empty).is_none(),
            "states [Stable] lists the Empty group"
        );
        ensure!(
            stable_only_s
                .groups
                .iter()
                .all(|g| g.group_state.as_str() == "Stable"),
            "states [Stable] lists groups in other states"
        );
        detail.push_str("; states [Stable]: stable in, empty out");
    }
    if v >= 5 {
        let classic = list(&stable.conn, v, &[], &["classic"]).await?;
        ensure!(
            find(&classic, &stable.group).is_some(),
            "types [classic] omits the classic group"
        );
        let consumer = list(&stable.conn, v, &[], &["consumer"]).await?;
        ensure!(
            find(&consumer, &stable.group).is_none(),
            "types [consumer] lists a classic group"
        );
        detail.push_str("; types [classic]: in, [consumer]: out");
    }
    Ok(detail)
}

fn cgh_request(group: &str, member_id: &str, epoch: i32) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_member_id(sb(member_id))
        .with_member_epoch(epoch)
}

/// KIP-848: join with epoch 0, heartbeat until the assignment arrives, leave with epoch -1.
pub(crate) async fn consumer_group_heartbeat(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let group = ctx.name("cgh", v);
    let conn = ctx.coordinator(&group).await?;
    // v1+: the client generates its member id (KIP-1082); v0: the broker does.
    let own_id = if v >= 1 {
        Uuid::from_u128(fastrand::u128(..)).to_string()
    } else {
        String::new()
    };
    let join = cgh_request(&group, &own_id, 0)
        .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
        .with_subscribed_topic_names(Some(vec![tn(&ctx.topic)]))
        .with_topic_partitions(Some(vec![]));
    let resp = conn.send_version(&join, v, T).await?;
    if resp.error_code == ErrorCode::UNSUPPORTED_VERSION.0 && !ctx.is_kafka4() {
        // Kafka 3.x lists the API but answers UNSUPPORTED_VERSION unless the new group coordinator and
        // the consumer rebalance protocol are enabled (`group.coordinator.rebalance.protocols`).
        return Err(super::NotOffered(format!(
            "listed in ApiVersions but disabled: the join answered {} {:?}",
            code(resp.error_code),
            resp.error_message
        ))
        .into());
    }
    ensure!(
        resp.error_code == 0,
        "join: {} {:?}",
        code(resp.error_code),
        resp.error_message
    );
    let member_id = resp
        .member_id
        .as_deref()
        .map(|m| m.to_string())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| anyhow!("join: no member id"))?;
    if v >= 1 {
        ensure!(member_id == own_id, "member id {member_id:?}, sent {own_id:?}");
    }
    ensure!(resp.member_epoch >= 1, "join: member epoch {}", resp.member_epoch);
    ensure!(
        resp.heartbeat_interval_ms > 0,
        "heartbeat interval {}",
        resp.heartbeat_interval_ms
    );
    let interval = resp.heartbeat_interval_ms;
    let mut epoch = resp.member_epoch;
    let mut assignment = resp.assignment;
    let started = Instant::now();
    let mut beats = 0;
    let want: BTreeSet<i32> = (0..PARTITIONS).collect();
    let result = loop {
        if let Some(a) = &assignment {
            let got: BTreeSet<i32> = a
                .topic_partitions
                .iter()
                .filter(|tp| tp.topic_id == ctx.topic_id)
                .flat_map(|tp| tp.partitions.iter().copied())
                .collect();
            let others = a.topic_partitions.iter().any(|tp| tp.topic_id != ctx.topic_id);
            if got == want && !others {
                break Ok(());
            }
            if !got.is_empty() || others {
                break Err(anyhow!(
                    "assignment {a:?}, expected all partitions of {}",
                    ctx.topic_id
                ));
            }
        }
        if started.elapsed() > Duration::from_secs(10) {
            break Err(anyhow!("no assignment after {beats} heartbeats in 10 s"));
        }
        tokio::time::sleep(Duration::from_millis(u64::from(interval.clamp(50, 500) as u32))).await;
        let resp = conn
            .send_version(&cgh_request(&group, &member_id, epoch), v, T)
            .await?;
        beats += 1;
        if resp.error_code != 0 {
            break Err(anyhow!(
                "heartbeat {beats}: {} {:?}",
                code(resp.error_code),
                resp.error_message
            ));
        }
        ensure!(
            resp.member_epoch >= epoch,
            "member epoch went back {epoch} -> {}",
            resp.member_epoch
        );
        epoch = resp.member_epoch;
        if resp.assignment.is_some() {
            assignment = resp.assignment;
        }
    };
    result?;
    // Acknowledge the assignment, as a consumer does once it owns the partitions: steady state.
    let owned = assignment
        .map(|a| a.topic_partitions)
        .unwrap_or_default()
        .into_iter()
        .map(|tp| {
            consumer_group_heartbeat_request::TopicPartitions::default()
                .with_topic_id(tp.topic_id)
                .with_partitions(tp.partitions)
        })
        .collect();
    let ack = cgh_request(&group, &member_id, epoch).with_topic_partitions(Some(owned));
    let acked = conn.send_version(&ack, v, T).await?;
    ensure!(
        acked.error_code == 0,
        "acknowledging heartbeat: {} {:?}",
        code(acked.error_code),
        acked.error_message
    );
    ensure!(
        acked.member_epoch == epoch,
        "acknowledging heartbeat moved the member epoch {epoch} -> {}",
        acked.member_epoch
    );
    let leave = conn
        .send_version(&cgh_request(&group, &member_id, -1), v, T)
        .await?;
    expect_code("leave (epoch -1)", leave.error_code, ErrorCode::NONE)?;
    ensure!(
        leave.member_epoch == -1,
        "leave: member epoch {}",
        leave.member_epoch
    );
    Ok(format!(
        "member {} epoch {epoch}, interval {interval} ms, all {PARTITIONS} partitions after {beats} heartbeat(s), acknowledged; left",
        if v >= 1 { "(client id)" } else { "(broker id)" }
    ))
}
