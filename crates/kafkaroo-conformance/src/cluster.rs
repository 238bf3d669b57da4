//! ApiVersions, Metadata, CreateTopics, DeleteTopics, FindCoordinator.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::create_topics_request::CreatableTopic;
use kafkaroo_wire::messages::delete_topics_request::DeleteTopicState;
use kafkaroo_wire::messages::metadata_request::MetadataRequestTopic;
use kafkaroo_wire::messages::{
    ApiVersionsRequest, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    FindCoordinatorRequest, MetadataRequest, MetadataResponse,
};

use super::util::{code, expect_code, sb, tn};
use super::{Ctx, PARTITIONS};

const T: Duration = Duration::from_secs(30);

pub(crate) async fn api_versions(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let mut req = ApiVersionsRequest::default();
    if v >= 3 {
        req.client_software_name = sb(kafkaroo_wire::CLIENT_SOFTWARE_NAME);
        req.client_software_version = sb(kafkaroo_wire::CLIENT_SOFTWARE_VERSION);
    }
    let resp = ctx.bootstrap_conn.send_version(&req, v, T).await?;
    expect_code("error_code", resp.error_code, ErrorCode::NONE)?;
    let mut seen = Vec::new();
    for key in [1i16, 3, 18] {
        let listed = resp
            .api_keys
            .iter()
            .find(|k| k.api_key == key)
            .ok_or_else(|| anyhow!("API key {key} missing from the list"))?;
        let handshake = ctx
            .versions()
            .range(key)
            .ok_or_else(|| anyhow!("API key {key} missing from the handshake"))?;
        ensure!(
            (listed.min_version, listed.max_version) == (handshake.min, handshake.max),
            "{}: {}..={} here, {}..={} in the handshake",
            kafkaroo_wire::api_name(key),
            listed.min_version,
            listed.max_version,
            handshake.min,
            handshake.max
        );
        seen.push(format!(
            "{} {}..={}",
            kafkaroo_wire::api_name(key),
            listed.min_version,
            listed.max_version
        ));
    }
    ensure!(
        resp.api_keys.len() == ctx.versions().iter().count(),
        "{} APIs listed, {} in the handshake",
        resp.api_keys.len(),
        ctx.versions().iter().count()
    );
    Ok(format!("{} APIs; {}", resp.api_keys.len(), seen.join(", ")))
}

fn metadata_request(v: i16, topics: &[&str]) -> MetadataRequest {
    let mut req = MetadataRequest::default().with_topics(Some(
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(tn(t))))
            .collect(),
    ));
    if v >= 4 {
        req.allow_auto_topic_creation = false;
    }
    req
}

/// Whether `host:port` names the same endpoint as `addr` (equal text, or a common resolved address).
async fn same_endpoint(host: &str, port: i32, addr: &str) -> bool {
    let advertised = format!("{host}:{port}");
    if advertised == addr {
        return true;
    }
    let (Ok(a), Ok(b)) = (
        tokio::net::lookup_host(advertised.as_str()).await,
        tokio::net::lookup_host(addr).await,
    ) else {
        return false;
    };
    let a: BTreeSet<_> = a.collect();
    b.into_iter().any(|x| a.contains(&x))
}

pub(crate) async fn metadata(ctx: &Ctx, v: i16, bootstrap: &str) -> anyhow::Result<String> {
    let resp: MetadataResponse = ctx
        .bootstrap_conn
        .send_version(&metadata_request(v, &[&ctx.topic]), v, T)
        .await?;
    if v >= 13 {
        expect_code("top-level error_code", resp.error_code, ErrorCode::NONE)?;
    }
    ensure!(!resp.brokers.is_empty(), "no brokers listed");
    let mut bootstrap_listed = false;
    for b in &resp.brokers {
        if same_endpoint(&b.host, b.port, bootstrap).await {
            bootstrap_listed = true;
        }
    }
    ensure!(
        bootstrap_listed,
        "no listed broker has the bootstrap address {bootstrap}: {:?}",
        resp.brokers
            .iter()
            .map(|b| format!("{}={}:{}", b.node_id.0, b.host, b.port))
            .collect::<Vec<_>>()
    );
    if v >= 2 {
        ensure!(
            resp.cluster_id.as_deref().is_some_and(|c| !c.is_empty()),
            "no cluster id"
        );
    }
    ensure!(
        resp.topics.len() == 1,
        "{} topics in the answer, asked for 1",
        resp.topics.len()
    );
    let t = &resp.topics[0];
    ensure!(
        t.name.as_deref().map(|n| &**n) == Some(ctx.topic.as_str()),
        "topic name {:?}",
        t.name
    );
    expect_code("topic error_code", t.error_code, ErrorCode::NONE)?;
    ensure!(!t.is_internal, "the suite's topic is marked internal");
    ensure!(
        t.partitions.len() == PARTITIONS as usize,
        "{} partitions, expected {PARTITIONS}",
        t.partitions.len()
    );
    let indexes: BTreeSet<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    ensure!(
        indexes == (0..PARTITIONS).collect(),
        "partition indexes {indexes:?}"
    );
    for p in &t.partitions {
        expect_code(
            &format!("partition {} error_code", p.partition_index),
            p.error_code,
            ErrorCode::NONE,
        )?;
        ensure!(
            resp.brokers.iter().any(|b| b.node_id == p.leader_id),
            "partition {}: leader {} is not a listed broker",
            p.partition_index,
            p.leader_id.0
        );
        ensure!(
            p.replica_nodes.contains(&p.leader_id) && p.isr_nodes.contains(&p.leader_id),
            "partition {}: leader {} not in replicas {:?} / isr {:?}",
            p.partition_index,
            p.leader_id.0,
            p.replica_nodes,
            p.isr_nodes
        );
        if v >= 7 {
            ensure!(
                p.leader_epoch >= 0,
                "partition {}: leader_epoch {}",
                p.partition_index,
                p.leader_epoch
            );
        } else {
            ensure!(p.leader_epoch == -1, "leader_epoch {} before v7", p.leader_epoch);
        }
    }
    let mut detail = format!(
        "{} broker(s), {PARTITIONS} partitions, leader of p0 {}",
        resp.brokers.len(),
        t.partitions
            .iter()
            .find(|p| p.partition_index == 0)
            .map_or(-1, |p| p.leader_id.0)
    );
    if v >= 7 {
        let p0 = t.partitions.iter().find(|p| p.partition_index == 0).unwrap();
        detail.push_str(&format!(" epoch {}", p0.leader_epoch));
    }
    if v >= 10 {
        ensure!(!t.topic_id.is_nil(), "nil topic id");
        ensure!(
            t.topic_id == ctx.topic_id,
            "topic id {} differs from {} ({})",
            t.topic_id,
            ctx.topic_id,
            if ctx.topic_id_from_create {
                "returned by CreateTopics"
            } else {
                "seen at setup"
            }
        );
        detail.push_str(&format!(
            ", topic id {}{}",
            t.topic_id,
            if ctx.topic_id_from_create {
                " = CreateTopics'"
            } else {
                ""
            }
        ));
    } else {
        ensure!(t.topic_id.is_nil(), "topic id {} before v10", t.topic_id);
    }
    Ok(detail)
}

fn create_request(v: i16, name: &str, validate_only: bool) -> CreateTopicsRequest {
    let _ = v; // every field used here exists in v2..=7
    CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(tn(name))
                .with_num_partitions(2)
                .with_replication_factor(1),
        ])
}

/// The single result of a one-topic CreateTopics answer, checked for name and (v5+) echoed settings.
fn created<'a>(
    resp: &'a CreateTopicsResponse,
    v: i16,
    name: &str,
    what: &str,
) -> anyhow::Result<&'a kafkaroo_wire::messages::create_topics_response::CreatableTopicResult> {
    ensure!(resp.topics.len() == 1, "{what}: {} results", resp.topics.len());
    let t = &resp.topics[0];
    ensure!(&*t.name.0 == name, "{what}: result for {:?}", t.name);
    let _ = v;
    Ok(t)
}

pub(crate) async fn create_topics(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let name = ctx.name("create", v);
    let resp = ctx
        .bootstrap_conn
        .send_version(&create_request(v, &name, false), v, T)
        .await?;
    ctx.created.lock().unwrap().push(name.clone());
    let t = created(&resp, v, &name, "create")?;
    expect_code("create", t.error_code, ErrorCode::NONE)?;
    let mut detail = "created".to_owned();
    if v >= 5 {
        ensure!(
            (t.num_partitions, t.replication_factor) == (2, 1),
            "create: num_partitions {} replication_factor {}, expected 2 and 1",
            t.num_partitions,
            t.replication_factor
        );
        detail.push_str(" (2 partitions, RF 1 echoed)");
    }
    if v >= 7 {
        ensure!(!t.topic_id.is_nil(), "create: nil topic id");
        detail.push_str(&format!(", id {}", t.topic_id));
    }
    let twice = ctx
        .bootstrap_conn
        .send_version(&create_request(v, &name, false), v, T)
        .await?;
    let t2 = created(&twice, v, &name, "create twice")?;
    expect_code("create twice", t2.error_code, ErrorCode::TOPIC_ALREADY_EXISTS)?;
    detail.push_str("; twice: TOPIC_ALREADY_EXISTS");

    let dry = ctx.name("validate", v);
    let resp = ctx
        .bootstrap_conn
        .send_version(&create_request(v, &dry, true), v, T)
        .await?;
    let t = created(&resp, v, &dry, "validate_only")?;
    expect_code("validate_only", t.error_code, ErrorCode::NONE)?;
    if v >= 5 {
        ensure!(
            t.num_partitions == 2,
            "validate_only: num_partitions {}",
            t.num_partitions
        );
    }
    let md = ctx.metadata(&[&dry]).await?;
    let err = md.topics.first().map_or(-999, |t| t.error_code);
    expect_code(
        "Metadata after validate_only",
        err,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    )?;
    detail.push_str("; validate_only: ok, not created");
    Ok(detail)
}

/// Polls Metadata until `name` is unknown (deletion completes asynchronously).
async fn wait_until_unknown(ctx: &Ctx, name: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let md = ctx.metadata(&[name]).await?;
        let err = md.topics.first().map_or(-999, |t| t.error_code);
        if err == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(15) {
            bail!(
                "Metadata still answers {} for {name} 15 s after its deletion",
                code(err)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn delete_topics(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let name = ctx.name("delete", v);
    ctx.create_topic(&name, 2).await?;
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(30_000);
    if v >= 6 {
        req.topics = vec![DeleteTopicState::default().with_name(Some(tn(&name)))];
    } else {
        req.topic_names = vec![tn(&name)];
    }
    let resp = ctx.bootstrap_conn.send_version(&req, v, T).await?;
    ensure!(resp.responses.len() == 1, "{} results", resp.responses.len());
    let r = &resp.responses[0];
    ensure!(
        r.name.as_deref().map(|n| &**n) == Some(name.as_str()),
        "result for {:?}",
        r.name
    );
    expect_code("delete by name", r.error_code, ErrorCode::NONE)?;
    let took = wait_until_unknown(ctx, &name).await?;
    let mut detail = format!(
        "deleted by name; Metadata: UNKNOWN_TOPIC_OR_PARTITION after {} ms",
        took.as_millis()
    );
    if v >= 6 {
        let by_id = ctx.name("delete-id", v);
        let id = ctx.create_topic(&by_id, 2).await?;
        ensure!(!id.is_nil(), "CreateTopics gave no topic id to delete by");
        let req = DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
        let resp = ctx.bootstrap_conn.send_version(&req, v, T).await?;
        ensure!(
            resp.responses.len() == 1,
            "by id: {} results",
            resp.responses.len()
        );
        let r = &resp.responses[0];
        ensure!(r.topic_id == id, "by id: result for id {}", r.topic_id);
        expect_code("delete by id", r.error_code, ErrorCode::NONE)?;
        wait_until_unknown(ctx, &by_id).await?;
        detail.push_str(&format!(
            "; deleted by id (name echoed: {:?}), then unknown",
            r.name.as_deref().map(|n| n.to_string())
        ));
        // Deleting it again by id: the id is gone.
        let again = ctx.bootstrap_conn.send_version(&req, v, T).await?;
        let e = again.responses.first().map_or(-999, |r| r.error_code);
        expect_code("delete a deleted id", e, ErrorCode::UNKNOWN_TOPIC_ID)?;
        detail.push_str("; again: UNKNOWN_TOPIC_ID");
    }
    Ok(detail)
}

pub(crate) async fn find_coordinator(ctx: &Ctx, v: i16) -> anyhow::Result<String> {
    let groups = [ctx.name("fc", v), ctx.name("fc", v)];
    let mut req = FindCoordinatorRequest::default();
    if v >= 4 {
        req.coordinator_keys = groups.iter().map(|g| sb(g)).collect();
    } else {
        req.key = sb(&groups[0]);
    }
    // key_type (v1+) stays 0: GROUP.
    let resp = ctx.bootstrap_conn.send_version(&req, v, T).await?;
    let md = ctx.metadata(&[]).await?;
    let check = |key: &str, err: i16, node: i32, host: &str, port: i32| -> anyhow::Result<()> {
        expect_code(&format!("{key}: error_code"), err, ErrorCode::NONE)?;
        let b = md
            .brokers
            .iter()
            .find(|b| b.node_id.0 == node)
            .ok_or_else(|| anyhow!("{key}: coordinator {node} is not a listed broker"))?;
        ensure!(
            (&*b.host, b.port) == (host, port),
            "{key}: coordinator {node} at {host}:{port}, Metadata says {}:{}",
            b.host,
            b.port
        );
        Ok(())
    };
    if v >= 4 {
        ensure!(
            resp.coordinators.len() == 2,
            "{} coordinators for 2 keys",
            resp.coordinators.len()
        );
        for g in &groups {
            let c = resp
                .coordinators
                .iter()
                .find(|c| &*c.key == g.as_str())
                .ok_or_else(|| anyhow!("no answer for key {g}"))?;
            check(g, c.error_code, c.node_id.0, &c.host, c.port)?;
        }
        let nodes: Vec<String> = resp
            .coordinators
            .iter()
            .map(|c| format!("{}:{}", c.node_id.0, c.port))
            .collect();
        Ok(format!("batch of 2 keys: coordinators {}", nodes.join(", ")))
    } else {
        check(&groups[0], resp.error_code, resp.node_id.0, &resp.host, resp.port)?;
        Ok(format!(
            "coordinator {} at {}:{}",
            resp.node_id.0, resp.host, resp.port
        ))
    }
}
