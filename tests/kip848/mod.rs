//! A small driver for kafkaroo-group's pure KIP-848 member (`ConsumerGroupMember`), without the facade:
//! each member has its own connection, its requests are encoded with kafkaroo-wire and the answers fed
//! back; the "application" acknowledges a revocation at its next step. The tests drive several members
//! against the fake coordinator (tests/kip848_testkit.rs) and a real broker (tests/kip848_real.rs) and
//! check that no partition is owned twice at any step (docs/kip-848.md, "Reconciliation").

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::{Bytes, BytesMut};
use kafkaroo_group::consumer_protocol::{
    ConsumerGroupMember, ConsumerMemberConfig, Request, Response, TopicNames, wire,
};
use kafkaroo_group::{GroupError, GroupEvent, MemberState, TopicPartition};
use kafkaroo_wire::messages::metadata_request::MetadataRequestTopic;
use kafkaroo_wire::messages::{
    ApiKey, ApiVersionsRequest, ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, MetadataRequest,
    TopicName,
};
use kafkaroo_wire::{StrBytes, Uuid, decode_response, encode_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request and its answer on `conn` (one at a time: the member sends one request per call).
pub async fn call<R: kafkaroo_wire::protocol::Request>(
    conn: &mut TcpStream,
    correlation: &mut i32,
    version: i16,
    body: &R,
) -> Result<R::Response> {
    *correlation += 1;
    let mut out = BytesMut::new();
    encode_request(&mut out, *correlation, Some("kip848-driver"), version, body)?;
    conn.write_all(&out).await?;
    let mut size = [0u8; 4];
    conn.read_exact(&mut size).await?;
    let mut frame = vec![0; usize::try_from(i32::from_be_bytes(size)).context("frame size")?];
    conn.read_exact(&mut frame).await?;
    let (id, response) = decode_response::<R>(version, Bytes::from(frame))?;
    ensure!(id == *correlation, "correlation id {id}, expected {correlation}");
    Ok(response)
}

/// The version range the broker at `addr` lists for `api` (ApiVersions v3, with a KIP-511 client name
/// the broker accepts).
pub async fn listed_versions(addr: SocketAddr, api: ApiKey) -> Result<Option<(i16, i16)>> {
    let mut conn = TcpStream::connect(addr).await?;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kafkaroo-test"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let response = call(&mut conn, &mut 0, 3, &request).await?;
    ensure!(
        response.error_code == 0,
        "ApiVersions answered error {}",
        response.error_code
    );
    Ok(response
        .api_keys
        .iter()
        .find(|k| k.api_key == api as i16)
        .map(|k| (k.min_version, k.max_version)))
}

/// Topic ids to names, from Metadata v12 (the first version with topic ids by name).
pub async fn topic_ids(addr: SocketAddr, topics: &[&str]) -> Result<BTreeMap<Uuid, String>> {
    let mut conn = TcpStream::connect(addr).await?;
    let request = MetadataRequest::default().with_topics(Some(
        topics
            .iter()
            .map(|t| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string((*t).to_owned()))))
            })
            .collect(),
    ));
    let response = call(&mut conn, &mut 0, 12, &request).await?;
    Ok(response
        .topics
        .iter()
        .filter_map(|t| Some((t.topic_id, t.name.as_ref()?.0.to_string())))
        .collect())
}

/// One member with its connection and what its application was told.
pub struct Driver {
    /// For messages.
    pub name: String,
    /// The member under test.
    pub member: ConsumerGroupMember,
    conn: TcpStream,
    correlation: i32,
    heartbeat_version: i16,
    /// What the application owns (from the events).
    pub owned: BTreeSet<TopicPartition>,
    /// A revocation the application acknowledges at its next step (the partitions stay owned meanwhile).
    pub revoking: Option<Vec<TopicPartition>>,
    /// How many revocations the application saw.
    pub revocations: usize,
    /// How many times the partitions were lost; a loss fails the step unless `lost_allowed`.
    pub lost: usize,
    /// The test expects the member to lose its partitions (fencing).
    pub lost_allowed: bool,
    /// `Closed` was reported.
    pub closed: bool,
    /// The fatal error, if one stopped the member.
    pub fatal: Option<GroupError>,
}

impl Driver {
    /// A member of `group` connected to `addr` (the coordinator: single-node clusters only), sending
    /// ConsumerGroupHeartbeat at `heartbeat_version`.
    pub async fn new(
        addr: SocketAddr,
        group: &str,
        name: &str,
        instance: Option<&str>,
        heartbeat_version: i16,
    ) -> Result<Self> {
        let mut config = ConsumerMemberConfig::new(group);
        config.group_instance_id = instance.map(str::to_owned);
        config.retry_backoff = Duration::from_millis(10);
        Ok(Self {
            name: name.to_owned(),
            member: ConsumerGroupMember::new(config, Instant::now())?,
            conn: TcpStream::connect(addr).await?,
            correlation: 0,
            heartbeat_version,
            owned: BTreeSet::new(),
            revoking: None,
            revocations: 0,
            lost: 0,
            lost_allowed: false,
            closed: false,
            fatal: None,
        })
    }

    /// One turn: acknowledge the last revocation, send what the member asks for, apply its events.
    pub async fn step(&mut self, topics: &dyn TopicNames) -> Result<()> {
        let now = Instant::now();
        self.member.handle_timeout(now);
        self.member.poll_called(now);
        if let Some(revoked) = self.revoking.take() {
            for p in &revoked {
                self.owned.remove(p);
            }
            self.member.revocation_done(now, topics);
        }
        while let Some(t) = self.member.poll_transmit() {
            let response = match &t.request {
                Request::FindCoordinator { group_id } => {
                    let request = wire::find_coordinator_request(group_id, 4);
                    let r =
                        call::<FindCoordinatorRequest>(&mut self.conn, &mut self.correlation, 4, &request)
                            .await?;
                    wire::find_coordinator_response(&r, 4)
                }
                Request::Heartbeat(hb) => {
                    let v = self.heartbeat_version;
                    let request = wire::heartbeat_request(hb);
                    let r = call::<ConsumerGroupHeartbeatRequest>(
                        &mut self.conn,
                        &mut self.correlation,
                        v,
                        &request,
                    )
                    .await?;
                    Response::Heartbeat(wire::heartbeat_response(&r))
                }
            };
            self.member
                .handle_response(Instant::now(), t.id, response, topics);
            self.apply_events()?;
        }
        self.apply_events()?;
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        ensure!(
            self.member.assignment() == owned,
            "{}: the member owns what its events said",
            self.name
        );
        Ok(())
    }

    /// Subscribes to `subscription` and steps alone until a fatal error stops the member: returns it.
    pub async fn refused(
        &mut self,
        subscription: &[&str],
        topics: &dyn TopicNames,
        within: Duration,
    ) -> Result<GroupError> {
        self.member
            .subscribe(subscription.iter().copied(), Instant::now())?;
        let deadline = Instant::now() + within;
        loop {
            self.step(topics).await?;
            if let Some(e) = &self.fatal {
                return Ok(e.clone());
            }
            ensure!(
                Instant::now() < deadline,
                "{}: no refusal within {within:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn apply_events(&mut self) -> Result<()> {
        while let Some(e) = self.member.poll_event() {
            match e {
                GroupEvent::Revoked { partitions } => {
                    ensure!(self.revoking.is_none(), "{}: two revocations at once", self.name);
                    self.revocations += 1;
                    self.revoking = Some(partitions);
                }
                GroupEvent::Assigned { partitions, .. } => {
                    ensure!(
                        self.revoking.is_none(),
                        "{}: assigned during a revocation",
                        self.name
                    );
                    self.owned.extend(partitions);
                }
                GroupEvent::Lost { partitions, reason } => {
                    ensure!(self.lost_allowed, "{}: lost {partitions:?}: {reason}", self.name);
                    ensure!(partitions == self.owned.iter().cloned().collect::<Vec<_>>());
                    self.lost += 1;
                    self.owned.clear();
                    self.revoking = None;
                }
                GroupEvent::Closed => {
                    self.closed = true;
                    self.owned.clear();
                }
                GroupEvent::Fatal(e) => {
                    self.owned.clear();
                    self.fatal = Some(e);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Steps every driver until `done`, checking after each step that no partition has two owners, and
/// `check` (the coordinator's view, where a test can see it).
pub async fn run_until(
    drivers: &mut [&mut Driver],
    topics: &dyn TopicNames,
    what: &str,
    within: Duration,
    check: impl Fn() -> Result<()>,
    done: impl Fn(&[&mut Driver]) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        for i in 0..drivers.len() {
            drivers[i].step(topics).await?;
            let mut seen = BTreeSet::new();
            for d in drivers.iter() {
                for p in &d.owned {
                    ensure!(
                        seen.insert(p.clone()),
                        "{p} owned by two members (one is {})",
                        d.name
                    );
                }
            }
            check()?;
        }
        if done(drivers) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every partition of `topic` owned by the members that did not close, shares differing by at most
/// one, every such member stable with no revocation pending.
pub fn balanced(topic: &str, partitions: i32) -> impl Fn(&[&mut Driver]) -> bool {
    let all: Vec<TopicPartition> = (0..partitions).map(|p| TopicPartition::new(topic, p)).collect();
    balanced_over(all)
}

/// [`balanced`] over any set of partitions.
pub fn balanced_over(all: impl IntoIterator<Item = TopicPartition>) -> impl Fn(&[&mut Driver]) -> bool {
    let all: BTreeSet<TopicPartition> = all.into_iter().collect();
    move |drivers| {
        let live: Vec<&&mut Driver> = drivers.iter().filter(|d| !d.closed).collect();
        let owned: BTreeSet<TopicPartition> = live.iter().flat_map(|d| d.owned.iter().cloned()).collect();
        let sizes: Vec<usize> = live.iter().map(|d| d.owned.len()).collect();
        owned == all
            && sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1
            && live
                .iter()
                .all(|d| d.member.state() == MemberState::Stable && d.revoking.is_none())
    }
}
