//! KIP-848 members (kafkaroo-group's pure `ConsumerGroupMember`, no facade) against the fake
//! coordinator over the real wire codec: a small driver per member encodes its requests with
//! kafkaroo-wire on its own connection and feeds the answers back. At every step no partition is owned
//! by two members; after convergence every partition is owned and the shares are balanced; partitions
//! move only through a revocation the application acknowledged (docs/kip-848.md, "Reconciliation").

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafkaroo_group::consumer_protocol::{
    ConsumerGroupMember, ConsumerMemberConfig, Request, Response, TopicNames, wire,
};
use kafkaroo_group::{GroupError, GroupEvent, MemberState, TopicPartition};
use kafkaroo_testkit::Cluster;
use kafkaroo_wire::messages::{
    ApiKey, ApiVersionsRequest, ConsumerGroupHeartbeatRequest, FindCoordinatorRequest,
};
use kafkaroo_wire::{Uuid, decode_response, encode_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// One member with its connection and what its application was told.
struct Driver {
    name: &'static str,
    member: ConsumerGroupMember,
    conn: TcpStream,
    correlation: i32,
    heartbeat_version: i16,
    owned: BTreeSet<TopicPartition>,
    /// A revocation the application acknowledges at its next step (the partitions stay owned meanwhile).
    revoking: Option<Vec<TopicPartition>>,
    revocations: usize,
    closed: bool,
    fatal: Option<GroupError>,
}

async fn call<R: kafkaroo_wire::protocol::Request>(
    conn: &mut TcpStream,
    correlation: &mut i32,
    version: i16,
    body: &R,
) -> R::Response {
    *correlation += 1;
    let mut out = BytesMut::new();
    encode_request(&mut out, *correlation, Some("kip848-test"), version, body).expect("encodes");
    conn.write_all(&out).await.expect("writes");
    let mut size = [0u8; 4];
    conn.read_exact(&mut size).await.expect("reads the size");
    let mut frame = vec![0; usize::try_from(i32::from_be_bytes(size)).expect("a size")];
    conn.read_exact(&mut frame).await.expect("reads the frame");
    let (id, response) = decode_response::<R>(version, Bytes::from(frame)).expect("decodes");
    assert_eq!(id, *correlation);
    response
}

impl Driver {
    async fn new(
        cluster: &Cluster,
        name: &'static str,
        instance: Option<&str>,
        heartbeat_version: i16,
    ) -> Self {
        let mut config = ConsumerMemberConfig::new("kip848");
        config.group_instance_id = instance.map(str::to_owned);
        config.retry_backoff = Duration::from_millis(10);
        let conn = TcpStream::connect(cluster.addr(1).unwrap()).await.unwrap();
        Self {
            name,
            member: ConsumerGroupMember::new(config, Instant::now()).unwrap(),
            conn,
            correlation: 0,
            heartbeat_version,
            owned: BTreeSet::new(),
            revoking: None,
            revocations: 0,
            closed: false,
            fatal: None,
        }
    }

    /// One turn of the application and the driver: acknowledge the last revocation, send what the
    /// member asks for, apply its events.
    async fn step(&mut self, topics: &dyn TopicNames) {
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
                            .await;
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
                    .await;
                    Response::Heartbeat(wire::heartbeat_response(&r))
                }
            };
            self.member
                .handle_response(Instant::now(), t.id, response, topics);
            self.apply_events();
        }
        self.apply_events();
        assert_eq!(
            self.member.assignment(),
            self.owned.iter().cloned().collect::<Vec<_>>(),
            "{}: the member owns what its events said",
            self.name
        );
    }

    fn apply_events(&mut self) {
        while let Some(e) = self.member.poll_event() {
            match e {
                GroupEvent::Revoked { partitions } => {
                    assert!(self.revoking.is_none());
                    self.revocations += 1;
                    self.revoking = Some(partitions);
                }
                GroupEvent::Assigned { partitions, .. } => {
                    assert!(
                        self.revoking.is_none(),
                        "{}: assigned during a revocation",
                        self.name
                    );
                    self.owned.extend(partitions);
                }
                GroupEvent::Lost { partitions, reason } => {
                    panic!("{}: lost {partitions:?}: {reason}", self.name)
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
    }
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

/// Steps every driver until `done`, checking after each step that no partition has two owners, in the
/// members' view and in the coordinator's.
async fn run_until(
    cluster: &Cluster,
    drivers: &mut [&mut Driver],
    topics: &BTreeMap<Uuid, String>,
    what: &str,
    done: impl Fn(&[&mut Driver]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        for i in 0..drivers.len() {
            drivers[i].step(topics).await;
            let mut seen = BTreeSet::new();
            for d in drivers.iter() {
                for p in &d.owned {
                    assert!(
                        seen.insert(p.clone()),
                        "{p} owned by two members (one is {})",
                        d.name
                    );
                }
            }
            if let Some(g) = cluster.consumer_group("kip848") {
                let mut held = BTreeSet::new();
                for m in g.members.values() {
                    for p in m.assigned.iter().chain(&m.revoking) {
                        assert!(
                            held.insert(p.clone()),
                            "the coordinator gave {p:?} to two members"
                        );
                    }
                }
            }
        }
        if done(drivers) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every partition of `t` owned, shares differing by at most one, every member stable.
fn balanced(partitions: i32) -> impl Fn(&[&mut Driver]) -> bool {
    move |drivers| {
        let live: Vec<&&mut Driver> = drivers.iter().filter(|d| !d.closed).collect();
        let owned: BTreeSet<TopicPartition> = live.iter().flat_map(|d| d.owned.iter().cloned()).collect();
        let sizes: Vec<usize> = live.iter().map(|d| d.owned.len()).collect();
        owned == (0..partitions).map(tp).collect()
            && sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1
            && live
                .iter()
                .all(|d| d.member.state() == MemberState::Stable && d.revoking.is_none())
    }
}

async fn cluster(partitions: i32, session: Duration) -> (Cluster, BTreeMap<Uuid, String>) {
    let cluster = Cluster::builder()
        .topic("t", partitions)
        .consumer_group_timing(Duration::from_millis(50), session)
        .build()
        .await
        .unwrap();
    let topics = [(cluster.topic("t").unwrap().id, "t".to_owned())].into();
    (cluster, topics)
}

#[tokio::test]
async fn members_share_the_partitions_and_hand_them_over_only_after_revoking() {
    let (cluster, topics) = cluster(6, Duration::from_secs(10)).await;
    let mut a = Driver::new(&cluster, "a", None, 1).await;
    let mut b = Driver::new(&cluster, "b", None, 0).await;
    let mut c = Driver::new(&cluster, "c", None, 1).await;
    a.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(&cluster, &mut [&mut a], &topics, "a alone", balanced(6)).await;
    assert_eq!(a.owned.len(), 6);

    b.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(&cluster, &mut [&mut a, &mut b], &topics, "a and b", balanced(6)).await;
    assert_eq!((a.owned.len(), b.owned.len()), (3, 3));
    assert!(a.revocations >= 1, "a gave partitions up through a revocation");

    c.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(
        &cluster,
        &mut [&mut a, &mut b, &mut c],
        &topics,
        "three",
        balanced(6),
    )
    .await;
    assert_eq!([a.owned.len(), b.owned.len(), c.owned.len()], [2, 2, 2]);
    let epoch = a.member.member_epoch();
    assert!(epoch >= 3, "epochs grow with each assignment ({epoch})");

    // b leaves: it revokes, sends epoch -1, and its partitions go to a and c.
    b.member.leave(Instant::now());
    run_until(
        &cluster,
        &mut [&mut a, &mut b, &mut c],
        &topics,
        "b's leave",
        |d| d[1].closed && balanced(6)(d),
    )
    .await;
    assert_eq!((a.owned.len(), c.owned.len()), (3, 3));
    assert!(b.owned.is_empty() && b.member.state() == MemberState::Unjoined);
    let group = cluster.consumer_group("kip848").unwrap();
    assert_eq!(group.members.len(), 2);
    assert!(
        group
            .members
            .values()
            .all(|m| m.epoch == group.epoch && m.revoking.is_empty())
    );
}

#[tokio::test]
async fn a_member_that_stops_heartbeating_is_removed_after_the_session_timeout() {
    let (cluster, topics) = cluster(4, Duration::from_millis(500)).await;
    let mut a = Driver::new(&cluster, "a", None, 1).await;
    let mut b = Driver::new(&cluster, "b", None, 1).await;
    a.member.subscribe(["t"], Instant::now()).unwrap();
    b.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(&cluster, &mut [&mut a, &mut b], &topics, "a and b", balanced(4)).await;
    // b's process stops: only a runs on, and gets b's partitions once the session expired.
    let started = Instant::now();
    run_until(&cluster, &mut [&mut a], &topics, "a alone", balanced(4)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before the session timeout"
    );
    assert_eq!(cluster.consumer_group("kip848").unwrap().members.len(), 1);
}

#[tokio::test]
async fn a_static_member_comes_back_to_its_partitions_and_a_duplicate_is_refused() {
    let (cluster, topics) = cluster(4, Duration::from_secs(10)).await;
    let mut a = Driver::new(&cluster, "a", Some("instance-a"), 1).await;
    let mut b = Driver::new(&cluster, "b", None, 1).await;
    a.member.subscribe(["t"], Instant::now()).unwrap();
    b.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(&cluster, &mut [&mut a, &mut b], &topics, "a and b", balanced(4)).await;
    let had = a.owned.clone();

    // Another process with the same group.instance.id while a is still there.
    let mut twin = Driver::new(&cluster, "twin", Some("instance-a"), 1).await;
    twin.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(&cluster, &mut [&mut twin], &topics, "the twin's refusal", |d| {
        d[0].fatal.is_some()
    })
    .await;
    assert!(
        matches!(twin.fatal, Some(GroupError::UnreleasedInstanceId { .. })),
        "{:?}",
        twin.fatal
    );

    // a restarts: a temporary leave (epoch -2), then a new process with the same instance id.
    a.member
        .close(kafkaroo_group::member::CloseMode::Default, Instant::now());
    run_until(&cluster, &mut [&mut a, &mut b], &topics, "a's leave", |d| {
        d[0].closed
    })
    .await;
    let mut again = Driver::new(&cluster, "a again", Some("instance-a"), 1).await;
    again.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(
        &cluster,
        &mut [&mut again, &mut b],
        &topics,
        "a's return",
        balanced(4),
    )
    .await;
    assert_eq!(again.owned, had, "the static member got its partitions back");
}

#[tokio::test]
async fn a_broker_with_the_protocol_disabled_is_a_clear_configuration_error() {
    let cluster = Cluster::builder()
        .topic("t", 1)
        .consumer_protocol(false)
        .build()
        .await
        .unwrap();
    let topics: BTreeMap<Uuid, String> = BTreeMap::new();
    let mut a = Driver::new(&cluster, "a", None, 1).await;
    // The API is listed all the same.
    let versions =
        call::<ApiVersionsRequest>(&mut a.conn, &mut a.correlation, 3, &ApiVersionsRequest::default()).await;
    let listed = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ConsumerGroupHeartbeat as i16)
        .map(|k| (k.min_version, k.max_version));
    assert_eq!(listed, Some((0, 1)));
    a.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(&cluster, &mut [&mut a], &topics, "the refusal", |d| {
        d[0].fatal.is_some()
    })
    .await;
    let error = a.fatal.clone().unwrap();
    assert!(
        matches!(error, GroupError::ConsumerProtocolUnsupported { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("group.protocol=classic"), "{error}");
    assert!(error.is_fatal());
    assert_eq!(a.member.state(), MemberState::Fatal);
}
