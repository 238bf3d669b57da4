//! The KIP-848 consumer group coordinator (ConsumerGroupHeartbeat v0–1), after the behaviour
//! docs/kip-848.md describes: a group epoch bumped by membership and subscription changes, a target
//! assignment per group epoch from a server-side assignor, member epochs, and revoke-before-assign: a
//! partition reaches its new owner only once the old owner's heartbeat no longer lists it. Members that
//! stop heartbeating are removed after the session timeout; members that do not revoke within their
//! rebalance timeout are fenced. Consumer groups live beside the classic groups, in their own namespace.
//! The coordinator reads no cluster state of its own: the group handler passes it the topic table.

mod assign;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafkaroo_wire::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafkaroo_wire::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafkaroo_wire::{ErrorCode, StrBytes};
use tokio::time::Instant;

pub(crate) use self::assign::Topics;
use self::assign::{ASSIGNORS, Spec, Tp};

/// The coordinator's settings and groups.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerGroups {
    /// `false`: the API is listed but answers UNSUPPORTED_VERSION, as Kafka 3.9 does by default.
    pub(crate) enabled: bool,
    /// `group.consumer.heartbeat.interval.ms`.
    pub(crate) heartbeat_interval: Duration,
    /// `group.consumer.session.timeout.ms`.
    pub(crate) session_timeout: Duration,
    groups: BTreeMap<String, Group>,
    /// Member ids the coordinator hands out to v0 members that join without one.
    next_member: u64,
}

impl Default for ConsumerGroups {
    fn default() -> Self {
        Self {
            enabled: true,
            heartbeat_interval: Duration::from_millis(100),
            session_timeout: Duration::from_secs(10),
            groups: BTreeMap::new(),
            next_member: 0,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Group {
    /// Bumped by every change of members or subscriptions.
    epoch: i32,
    /// The group epoch `target` was computed for.
    target_epoch: i32,
    /// The topics `target` was computed with.
    target_topics: Topics,
    target: BTreeMap<String, BTreeSet<Tp>>,
    members: BTreeMap<String, Member>,
}

#[derive(Debug, Clone)]
struct Member {
    instance_id: Option<String>,
    epoch: i32,
    previous_epoch: i32,
    rebalance_timeout: Duration,
    /// What the member is subscribed to: `names`, plus the topics `regex` matches (refreshed with
    /// every target computation, not on an interval as the real coordinator does).
    topics: BTreeSet<String>,
    names: BTreeSet<String>,
    regex: Option<regex_lite::Regex>,
    assignor: Option<String>,
    /// What the member may own now (what its answers list).
    assigned: BTreeSet<Tp>,
    /// Partitions it must give up; still its own until a heartbeat no longer lists them.
    revoking: BTreeSet<Tp>,
    revoking_since: Option<Instant>,
    /// What its heartbeats last reported owning.
    owned: BTreeSet<Tp>,
    /// The assignment last sent to it.
    sent: Option<BTreeSet<Tp>>,
    expires: Instant,
    /// A static member's temporary leave (epoch -2): its assignment waits for its instance id.
    left_static: bool,
}

/// A consumer group as [`Cluster::consumer_group`](crate::Cluster::consumer_group) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupInfo {
    /// The group epoch.
    pub epoch: i32,
    /// The members, by member id.
    pub members: BTreeMap<String, ConsumerMemberInfo>,
}

/// One member of a consumer group, partitions as `(topic, partition)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberInfo {
    /// The member epoch.
    pub epoch: i32,
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// What the member may own now.
    pub assigned: BTreeSet<(String, i32)>,
    /// What it must give up and has not yet released.
    pub revoking: BTreeSet<(String, i32)>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn error(code: ErrorCode, message: &str) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(code.0)
        .with_error_message(Some(sb(message)))
}

fn owned_of(r: &ConsumerGroupHeartbeatRequest) -> Option<BTreeSet<Tp>> {
    r.topic_partitions.as_ref().map(|list| {
        list.iter()
            .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p)))
            .collect()
    })
}

/// The answer to a ConsumerGroupHeartbeat; `topics` is the cluster's topics by name (`State::topic_table`).
pub(crate) fn heartbeat(
    groups: &mut ConsumerGroups,
    topics: &Topics,
    r: &ConsumerGroupHeartbeatRequest,
    version: i16,
    now: Instant,
) -> ConsumerGroupHeartbeatResponse {
    if !groups.enabled {
        return error(
            ErrorCode::UNSUPPORTED_VERSION,
            "The new consumer group protocol is not enabled (group.coordinator.rebalance.protocols)",
        );
    }
    if let Err(message) = validate(r, version) {
        return error(ErrorCode::INVALID_REQUEST, &message);
    }
    if let Some(Err(message)) = r
        .subscribed_topic_regex
        .as_deref()
        .filter(|rx| !rx.is_empty())
        .map(whole_name_regex)
    {
        return error(ErrorCode::INVALID_REGULAR_EXPRESSION, &message);
    }
    if let Some(a) = r.server_assignor.as_deref().filter(|a| !ASSIGNORS.contains(a)) {
        return error(
            ErrorCode::UNSUPPORTED_ASSIGNOR,
            &format!("assignor {a} is not supported"),
        );
    }
    let (interval, session) = (groups.heartbeat_interval, groups.session_timeout);
    // v0 lets the coordinator choose the member id of a member joining without one (v1, KIP-1082,
    // requires the client's own; `validate` refuses an empty one there).
    let member_id = if r.member_id.is_empty() {
        groups.next_member += 1;
        format!("kafkaroo-testkit-member-{:016x}", groups.next_member)
    } else {
        r.member_id.to_string()
    };
    let group = groups.groups.entry(r.group_id.0.to_string()).or_default();
    let result = match r.member_epoch {
        -1 | -2 => group.leave(&member_id, r.member_epoch, now + session),
        0 => group.join(&member_id, r, now),
        _ => group.check_epoch(&member_id, r),
    };
    if let Err((code, message)) = result {
        return error(code, &message);
    }
    let response = ConsumerGroupHeartbeatResponse::default()
        .with_member_id(Some(sb(&member_id)))
        .with_heartbeat_interval_ms(i32::try_from(interval.as_millis()).unwrap_or(i32::MAX));
    if r.member_epoch < 0 {
        return response.with_member_epoch(r.member_epoch);
    }
    group.update(&member_id, r, now + session);
    group.refresh_target(topics);
    let member = group.reconcile(&member_id, now);
    let full = r.topic_partitions.is_some();
    let assignment = (full || member.sent.as_ref() != Some(&member.assigned)).then(|| {
        member.sent = Some(member.assigned.clone());
        let mut by_topic: BTreeMap<_, Vec<i32>> = BTreeMap::new();
        for &(id, p) in &member.assigned {
            by_topic.entry(id).or_default().push(p);
        }
        Assignment::default().with_topic_partitions(
            by_topic
                .into_iter()
                .map(|(id, partitions)| {
                    TopicPartitions::default()
                        .with_topic_id(id)
                        .with_partitions(partitions)
                })
                .collect(),
        )
    });
    response
        .with_member_epoch(member.epoch)
        .with_assignment(assignment)
}

/// `source` compiled to match whole topic names (the real coordinator uses RE2/J; regex-lite's
/// syntax is close to it).
fn whole_name_regex(source: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(&format!("^(?:{source})$"))
        .map_err(|e| format!("SubscribedTopicRegex {source:?} is invalid: {e}"))
}

/// The broker's request checks (INVALID_REQUEST otherwise).
fn validate(r: &ConsumerGroupHeartbeatRequest, version: i16) -> Result<(), String> {
    if r.group_id.0.is_empty() {
        return Err("GroupId can't be empty.".into());
    }
    if r.member_id.is_empty() && (version >= 1 || r.member_epoch != 0) {
        return Err("MemberId can't be empty.".into());
    }
    match r.member_epoch {
        0 => {
            if r.rebalance_timeout_ms == -1 {
                return Err("RebalanceTimeoutMs must be provided in first request.".into());
            }
            if r.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
                return Err("TopicPartitions must be empty when (re-)joining.".into());
            }
            if r.subscribed_topic_names.is_none() && r.subscribed_topic_regex.is_none() {
                return Err(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.".into(),
                );
            }
        }
        -2 if r.instance_id.is_none() => return Err("InstanceId can't be null.".into()),
        e if e < -2 => return Err(format!("MemberEpoch {e} is invalid.")),
        _ => {}
    }
    Ok(())
}

type Refusal = (ErrorCode, String);

impl Group {
    fn bump(&mut self) {
        self.epoch += 1;
    }

    fn leave(&mut self, member_id: &str, epoch: i32, expires: Instant) -> Result<(), Refusal> {
        let Some(m) = self.members.get_mut(member_id) else {
            return Err((
                ErrorCode::UNKNOWN_MEMBER_ID,
                format!("member {member_id} is not in the group"),
            ));
        };
        if epoch == -2 {
            m.left_static = true;
            m.expires = expires;
        } else {
            self.members.remove(member_id);
            self.bump();
        }
        Ok(())
    }

    fn join(
        &mut self,
        member_id: &str,
        r: &ConsumerGroupHeartbeatRequest,
        now: Instant,
    ) -> Result<(), Refusal> {
        let instance = r.instance_id.as_ref().map(ToString::to_string);
        let holder = instance.as_ref().and_then(|i| {
            self.members
                .iter()
                .find(|(id, m)| id.as_str() != member_id && m.instance_id.as_ref() == Some(i))
                .map(|(id, m)| (id.clone(), m.left_static))
        });
        if let Some((old, left)) = holder {
            if !left {
                return Err((
                    ErrorCode::UNRELEASED_INSTANCE_ID,
                    format!(
                        "instance id {} is still used by member {old}",
                        instance.unwrap_or_default()
                    ),
                ));
            }
            // The static member comes back: it takes its predecessor's assignment and epoch.
            let mut m = self.members.remove(&old).expect("found above");
            m.left_static = false;
            m.sent = None;
            m.owned.clear();
            if let Some(t) = self.target.remove(&old) {
                self.target.insert(member_id.to_owned(), t);
            }
            self.members.insert(member_id.to_owned(), m);
            return Ok(());
        }
        if self
            .members
            .get(member_id)
            .is_some_and(|m| m.epoch == 0 && !m.left_static)
        {
            return Ok(()); // the join again (its answer was lost)
        }
        // A new member, or one that rejoins after being fenced: it owns nothing.
        self.members.insert(
            member_id.to_owned(),
            Member {
                instance_id: instance,
                epoch: 0,
                previous_epoch: -1,
                rebalance_timeout: Duration::ZERO,
                topics: BTreeSet::new(),
                names: BTreeSet::new(),
                regex: None,
                assignor: None,
                assigned: BTreeSet::new(),
                revoking: BTreeSet::new(),
                revoking_since: None,
                owned: BTreeSet::new(),
                sent: None,
                expires: now,
                left_static: false,
            },
        );
        self.bump();
        Ok(())
    }

    fn check_epoch(&self, member_id: &str, r: &ConsumerGroupHeartbeatRequest) -> Result<(), Refusal> {
        let Some(m) = self.members.get(member_id).filter(|m| !m.left_static) else {
            return Err((
                ErrorCode::UNKNOWN_MEMBER_ID,
                format!("member {member_id} is not in the group"),
            ));
        };
        if r.member_epoch == m.epoch {
            return Ok(());
        }
        // The answer that carried the current epoch may have been lost: the previous epoch is accepted
        // while the member claims nothing beyond its assignment.
        let claims_ok = owned_of(r).is_none_or(|owned| owned.is_subset(&m.assigned));
        if r.member_epoch == m.previous_epoch && claims_ok {
            return Ok(());
        }
        Err((
            ErrorCode::FENCED_MEMBER_EPOCH,
            format!(
                "epoch {} is fenced; the member's epoch is {}",
                r.member_epoch, m.epoch
            ),
        ))
    }

    /// Takes the request's fields into the member and refreshes its session.
    fn update(&mut self, member_id: &str, r: &ConsumerGroupHeartbeatRequest, expires: Instant) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        m.expires = expires;
        if r.rebalance_timeout_ms >= 0 {
            m.rebalance_timeout = Duration::from_millis(r.rebalance_timeout_ms.unsigned_abs().into());
        }
        if let Some(a) = &r.server_assignor {
            m.assignor = Some(a.to_string());
        }
        if let Some(owned) = owned_of(r) {
            m.owned = owned;
        }
        let mut changed = false;
        if let Some(names) = &r.subscribed_topic_names {
            let names: BTreeSet<String> = names.iter().map(|n| n.0.to_string()).collect();
            changed = names != m.names;
            m.names = names;
        }
        if let Some(source) = r.subscribed_topic_regex.as_deref() {
            let regex = (!source.is_empty())
                .then(|| whole_name_regex(source))
                .and_then(Result::ok);
            changed |= regex.as_ref().map(|r| r.as_str()) != m.regex.as_ref().map(|r| r.as_str());
            m.regex = regex;
        }
        if changed {
            self.bump();
        }
    }

    /// A new target assignment when the group changed or the subscribed topics did.
    fn refresh_target(&mut self, topics: &Topics) {
        for m in self.members.values_mut() {
            let matched = topics
                .keys()
                .filter(|t| !t.starts_with("__") && m.regex.as_ref().is_some_and(|r| r.is_match(t)));
            m.topics = m.names.iter().chain(matched).cloned().collect();
        }
        let subscribed: BTreeSet<&String> = self.members.values().flat_map(|m| &m.topics).collect();
        let relevant: Topics = topics
            .iter()
            .filter(|(t, _)| subscribed.contains(t))
            .map(|(t, v)| (t.clone(), *v))
            .collect();
        if self.target_epoch == self.epoch && relevant == self.target_topics {
            return;
        }
        if self.target_epoch == self.epoch {
            self.bump(); // the metadata changed: a new group epoch
        }
        let assignor = self
            .members
            .values()
            .find_map(|m| m.assignor.clone())
            .unwrap_or_else(|| "uniform".into());
        let empty = BTreeSet::new();
        let specs: BTreeMap<String, Spec<'_>> = self
            .members
            .iter()
            .map(|(id, m)| {
                let previous = self.target.get(id).unwrap_or(&empty);
                (
                    id.clone(),
                    Spec {
                        topics: &m.topics,
                        previous,
                    },
                )
            })
            .collect();
        self.target = assign::assign(&assignor, &specs, &relevant);
        self.target_topics = relevant;
        self.target_epoch = self.epoch;
    }

    /// Moves the member towards its target: revocations first, new partitions once no one else holds
    /// them (as the broker's current-assignment builder does).
    fn reconcile(&mut self, member_id: &str, now: Instant) -> &mut Member {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let held_by_others: BTreeSet<Tp> = self
            .members
            .iter()
            .filter(|(id, _)| id.as_str() != member_id)
            .flat_map(|(_, m)| m.assigned.iter().chain(&m.revoking).copied())
            .collect();
        let target_epoch = self.target_epoch;
        let m = self
            .members
            .get_mut(member_id)
            .expect("the member was added or checked");
        if !m.revoking.is_empty() && m.owned.is_disjoint(&m.revoking) {
            m.revoking.clear();
            m.revoking_since = None;
        }
        if m.revoking.is_empty() && m.epoch < target_epoch {
            let revoke: BTreeSet<Tp> = m.assigned.difference(&target).copied().collect();
            if revoke.is_empty() {
                m.previous_epoch = m.epoch;
                m.epoch = target_epoch;
            } else {
                m.assigned.retain(|tp| target.contains(tp));
                m.revoking = revoke;
                m.revoking_since = Some(now);
            }
        }
        if m.revoking.is_empty() && m.epoch == target_epoch {
            m.assigned
                .extend(target.iter().filter(|tp| !held_by_others.contains(tp)).copied());
        }
        m
    }
}

impl ConsumerGroups {
    /// Session expiry and revocation timeouts.
    pub(crate) fn tick(&mut self, now: Instant) {
        for group in self.groups.values_mut() {
            let before = group.members.len();
            group.members.retain(|_, m| {
                m.expires > now
                    && m.revoking_since
                        .is_none_or(|since| now < since + m.rebalance_timeout)
            });
            if group.members.len() != before {
                group.bump();
            }
        }
    }

    /// OffsetCommit (and OffsetFetch v9+) of a member of consumer group `group`, after Kafka's
    /// consumer-group validation: an unknown member is UNKNOWN_MEMBER_ID, a version below 9 (no member epoch)
    /// UNSUPPORTED_VERSION, an epoch other than the member's STALE_MEMBER_EPOCH. `None` when `group`
    /// is no consumer group or the commit is a simple (admin) one: the classic rules apply.
    pub(crate) fn validate_commit(
        &self,
        group: &str,
        member_id: &str,
        epoch: i32,
        version: i16,
    ) -> Option<ErrorCode> {
        let g = self.groups.get(group)?;
        if member_id.is_empty() && epoch < 0 {
            return None;
        }
        let Some(m) = g.members.get(member_id) else {
            return Some(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        Some(if version < 9 {
            ErrorCode::UNSUPPORTED_VERSION
        } else if epoch != m.epoch {
            ErrorCode::STALE_MEMBER_EPOCH
        } else {
            ErrorCode::NONE
        })
    }

    /// The group's state, partitions by topic name.
    pub(crate) fn info(&self, st_topics: &Topics, group: &str) -> Option<ConsumerGroupInfo> {
        let g = self.groups.get(group)?;
        let name = |&(id, p): &Tp| {
            let topic = st_topics
                .iter()
                .find(|(_, (i, _))| *i == id)
                .map_or_else(|| id.to_string(), |(n, _)| n.clone());
            (topic, p)
        };
        Some(ConsumerGroupInfo {
            epoch: g.epoch,
            members: g
                .members
                .iter()
                .map(|(id, m)| {
                    let info = ConsumerMemberInfo {
                        epoch: m.epoch,
                        instance_id: m.instance_id.clone(),
                        assigned: m.assigned.iter().map(name).collect(),
                        revoking: m.revoking.iter().map(name).collect(),
                    };
                    (id.clone(), info)
                })
                .collect(),
        })
    }
}
