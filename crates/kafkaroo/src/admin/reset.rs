//! Resetting a group's committed offsets, as `kafka-consumer-groups.sh --reset-offsets` does.
//!
//! [`plan_reset`] decides the new offsets from what was looked up ([`ResetFacts`]: the group's committed
//! offsets, the logs' start and end offsets, the offsets for a time) with Java's rules:
//! `--to-earliest`/`--to-latest` take the log start/end; `--to-offset`, `--shift-by` and `--from-file`
//! are clamped into `[log start, log end]`; a time with no record at or after it falls back to the log
//! end; `--to-current` keeps the committed offset, or the log end where nothing is committed.
//! [`GroupAdmin::reset_offsets`] looks the facts up, refuses a group with members, and commits the plan
//! with generation -1 and no member id (as Java's `Admin.alterConsumerGroupOffsets`).

use std::collections::BTreeMap;

use kafkaroo_group::member::{CommitParams, OffsetToCommit};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::OffsetCommitRequest;

use super::{AdminError, GroupAdmin, partition_resource};
use crate::coordinator::codec;
use crate::record::TopicPartition;

/// A topic, and optionally some of its partitions (`--topic t` / `--topic t:0,2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSelection {
    /// The topic.
    pub topic: String,
    /// The partitions; `None`: all of them.
    pub partitions: Option<Vec<i32>>,
}

/// Where to move the committed offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetSpec {
    /// The log start (`--to-earliest`).
    Earliest,
    /// The log end (`--to-latest`).
    Latest,
    /// One offset for every partition, clamped to the log (`--to-offset`).
    Offset(i64),
    /// The first offset with a timestamp at or after this time in ms (`--to-datetime`, `--by-duration`).
    Timestamp(i64),
    /// The committed offset moved by this much, clamped to the log (`--shift-by`).
    ShiftBy(i64),
    /// The committed offset, or the log end where there is none (`--to-current`).
    Current,
    /// Given offsets per partition, clamped to the log (`--from-file`); they also choose the partitions.
    Offsets(BTreeMap<TopicPartition, i64>),
}

/// What the plan is computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResetFacts {
    /// The group's committed offsets.
    pub committed: BTreeMap<TopicPartition, i64>,
    /// Log start offsets (missing: could not be looked up).
    pub log_start: BTreeMap<TopicPartition, i64>,
    /// Log end offsets (missing: could not be looked up).
    pub log_end: BTreeMap<TopicPartition, i64>,
    /// For [`ResetSpec::Timestamp`]: the offsets for the time, `-1` where no record is that recent.
    pub for_timestamp: BTreeMap<TopicPartition, i64>,
}

/// Why a planned offset is not the one asked for (Java's tool warns about each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Adjustment {
    /// The requested offset was past the log end; the end is used.
    ClampedToEnd {
        /// What was asked for.
        requested: i64,
    },
    /// The requested offset was before the log start; the start is used.
    ClampedToStart {
        /// What was asked for.
        requested: i64,
    },
    /// No record has a timestamp at or after the time; the log end is used.
    NoRecordAtTimestamp,
}

/// One partition's new offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOffset {
    /// The partition.
    pub partition: TopicPartition,
    /// Its new committed offset.
    pub offset: i64,
    /// Set when the offset differs from what was asked for.
    pub adjustment: Option<Adjustment>,
}

fn missing(which: &str, tp: &TopicPartition) -> AdminError {
    AdminError::Plan(format!("Error getting {which} offset of topic partition: {tp}"))
}

/// Java's `checkOffsetsRange`: above a known log end → the end; else below a known start → the start.
fn clamp(tp: &TopicPartition, requested: i64, facts: &ResetFacts) -> PlannedOffset {
    let (offset, adjustment) = match (facts.log_end.get(tp), facts.log_start.get(tp)) {
        (Some(&end), _) if requested > end => (end, Some(Adjustment::ClampedToEnd { requested })),
        (_, Some(&start)) if requested < start => (start, Some(Adjustment::ClampedToStart { requested })),
        _ => (requested, None),
    };
    PlannedOffset {
        partition: tp.clone(),
        offset,
        adjustment,
    }
}

/// The new offsets of `partitions` (for [`ResetSpec::Offsets`], of the partitions it lists), sorted by
/// partition.
pub fn plan_reset(
    partitions: &[TopicPartition],
    spec: &ResetSpec,
    facts: &ResetFacts,
) -> Result<Vec<PlannedOffset>, AdminError> {
    let exact = |tp: &TopicPartition, offset: i64| PlannedOffset {
        partition: tp.clone(),
        offset,
        adjustment: None,
    };
    let mut sorted: Vec<&TopicPartition> = match spec {
        ResetSpec::Offsets(given) => given.keys().collect(),
        _ => partitions.iter().collect(),
    };
    sorted.sort();
    sorted.dedup();
    sorted
        .into_iter()
        .map(|tp| {
            Ok(match spec {
                ResetSpec::Earliest => {
                    exact(tp, *facts.log_start.get(tp).ok_or_else(|| missing("starting", tp))?)
                }
                ResetSpec::Latest => exact(tp, *facts.log_end.get(tp).ok_or_else(|| missing("ending", tp))?),
                ResetSpec::Offset(o) => clamp(tp, *o, facts),
                ResetSpec::Offsets(given) => clamp(tp, given[tp], facts),
                ResetSpec::ShiftBy(n) => {
                    let Some(current) = facts.committed.get(tp) else {
                        return Err(AdminError::Plan(format!(
                            "Cannot shift offset for partition {tp} since there is no current committed offset"
                        )));
                    };
                    clamp(tp, current.saturating_add(*n), facts)
                }
                ResetSpec::Timestamp(_) => match facts.for_timestamp.get(tp) {
                    Some(&o) if o >= 0 => exact(tp, o),
                    Some(_) => PlannedOffset {
                        partition: tp.clone(),
                        offset: *facts
                            .log_end
                            .get(tp)
                            .ok_or_else(|| missing("ending", tp))?,
                        adjustment: Some(Adjustment::NoRecordAtTimestamp),
                    },
                    None => {
                        return Err(AdminError::Plan(format!(
                            "Error getting offset by timestamp of topic partition: {tp}"
                        )));
                    }
                },
                ResetSpec::Current => match facts.committed.get(tp) {
                    Some(&c) => exact(tp, c),
                    None => exact(tp, *facts.log_end.get(tp).ok_or_else(|| missing("ending", tp))?),
                },
            })
        })
        .collect()
}

impl GroupAdmin {
    /// Plans a reset of `group`'s committed offsets for `partitions` (ignored for
    /// [`ResetSpec::Offsets`]), and commits it when `execute`. Refused with [`AdminError::GroupActive`]
    /// when the group has members (any state but `Empty`, or a group that does not exist).
    pub async fn reset_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        spec: &ResetSpec,
        execute: bool,
    ) -> Result<Vec<PlannedOffset>, AdminError> {
        match self.describe_group(group).await {
            Ok(d) if d.state != "Empty" => {
                return Err(AdminError::GroupActive {
                    group: group.to_owned(),
                    state: d.state,
                });
            }
            Ok(_) | Err(AdminError::GroupNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let targets: Vec<TopicPartition> = match spec {
            ResetSpec::Offsets(given) => given.keys().cloned().collect(),
            _ => partitions.to_vec(),
        };
        let mut facts = ResetFacts {
            committed: self
                .committed_offsets(group)
                .await?
                .into_iter()
                .map(|(tp, o)| (tp, o.offset))
                .collect(),
            log_start: self.log_start_offsets(&targets).await?,
            log_end: self.log_end_offsets(&targets).await?,
            for_timestamp: BTreeMap::new(),
        };
        if let ResetSpec::Timestamp(ts) = spec {
            facts.for_timestamp = self.offsets_for_timestamp(&targets, *ts).await?;
        }
        let plan = plan_reset(&targets, spec, &facts)?;
        if execute && !plan.is_empty() {
            self.retrying(
                || format!("committing the offsets of group {group:?}"),
                || self.commit_once(group, &plan),
            )
            .await?;
        }
        Ok(plan)
    }

    /// OffsetCommit of `plan` with generation -1 and no member id (a commit from outside the group).
    async fn commit_once(&self, group: &str, plan: &[PlannedOffset]) -> Result<(), AdminError> {
        let (_, conn) = self.coordinator(group).await?;
        let v = conn.negotiated_version::<OffsetCommitRequest>()?;
        let commit = CommitParams {
            group_id: group.to_owned(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: plan
                .iter()
                .map(|p| OffsetToCommit::new(p.partition.clone(), p.offset))
                .collect(),
        };
        let req = codec::offset_commit(&commit, v);
        let resp = conn.send_version(&req, v, self.request_timeout).await?;
        for t in resp.topics {
            for p in t.partitions {
                let code = ErrorCode(p.error_code);
                if code != ErrorCode::NONE {
                    return Err(AdminError::from_code(
                        "OffsetCommit",
                        partition_resource(group, &t.name.0, p.partition_index),
                        code,
                        None,
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    /// Partitions 0..3: log [2, 10) on each; committed 5 on 0, 9 on 1, nothing on 2.
    fn facts() -> ResetFacts {
        ResetFacts {
            committed: BTreeMap::from([(tp(0), 5), (tp(1), 9)]),
            log_start: (0..3).map(|p| (tp(p), 2)).collect(),
            log_end: (0..3).map(|p| (tp(p), 10)).collect(),
            for_timestamp: BTreeMap::from([(tp(0), 4), (tp(1), -1)]),
        }
    }

    fn offsets(plan: &[PlannedOffset]) -> Vec<(i32, i64)> {
        plan.iter().map(|p| (p.partition.partition, p.offset)).collect()
    }

    #[test]
    fn earliest_latest_and_current_take_the_log_or_the_committed_offset() {
        let all = [tp(2), tp(0), tp(1)];
        let f = facts();
        let plan = plan_reset(&all, &ResetSpec::Earliest, &f).unwrap();
        assert_eq!(offsets(&plan), [(0, 2), (1, 2), (2, 2)], "sorted by partition");
        assert!(plan.iter().all(|p| p.adjustment.is_none()));
        assert_eq!(
            offsets(&plan_reset(&all, &ResetSpec::Latest, &f).unwrap()),
            [(0, 10), (1, 10), (2, 10)]
        );
        assert_eq!(
            offsets(&plan_reset(&all, &ResetSpec::Current, &f).unwrap()),
            [(0, 5), (1, 9), (2, 10)],
            "no committed offset: the log end, as Java"
        );
    }

    #[test]
    fn to_offset_shift_by_and_files_are_clamped_to_the_log() {
        let f = facts();
        let plan = plan_reset(&[tp(0)], &ResetSpec::Offset(12), &f).unwrap();
        assert_eq!(plan[0].offset, 10);
        assert_eq!(
            plan[0].adjustment,
            Some(Adjustment::ClampedToEnd { requested: 12 })
        );
        let plan = plan_reset(&[tp(0)], &ResetSpec::Offset(1), &f).unwrap();
        assert_eq!(plan[0].offset, 2);
        assert_eq!(
            plan[0].adjustment,
            Some(Adjustment::ClampedToStart { requested: 1 })
        );
        assert_eq!(
            offsets(&plan_reset(&[tp(0), tp(1)], &ResetSpec::ShiftBy(-2), &f).unwrap()),
            [(0, 3), (1, 7)]
        );
        assert_eq!(
            offsets(&plan_reset(&[tp(0), tp(1)], &ResetSpec::ShiftBy(3), &f).unwrap()),
            [(0, 8), (1, 10)]
        );
        assert_eq!(
            offsets(&plan_reset(&[tp(0)], &ResetSpec::ShiftBy(i64::MIN), &f).unwrap()),
            [(0, 2)],
            "no overflow"
        );
        let e = plan_reset(&[tp(2)], &ResetSpec::ShiftBy(1), &f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot shift offset for partition t-2 since there is no current committed offset"
        );
        let file = BTreeMap::from([(tp(1), 0), (tp(0), 7)]);
        assert_eq!(
            offsets(&plan_reset(&[tp(2)], &ResetSpec::Offsets(file), &f).unwrap()),
            [(0, 7), (1, 2)],
            "the file chooses the partitions"
        );
    }

    #[test]
    fn a_time_after_the_last_record_falls_back_to_the_log_end() {
        let f = facts();
        let plan = plan_reset(&[tp(0), tp(1)], &ResetSpec::Timestamp(1_000), &f).unwrap();
        assert_eq!(offsets(&plan), [(0, 4), (1, 10)]);
        assert_eq!(plan[1].adjustment, Some(Adjustment::NoRecordAtTimestamp));
        let e = plan_reset(&[tp(2)], &ResetSpec::Timestamp(1_000), &f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error getting offset by timestamp of topic partition: t-2"
        );
    }

    #[test]
    fn a_partition_without_log_offsets_is_an_error_where_java_needs_them() {
        let mut f = facts();
        f.log_start.remove(&tp(1));
        f.log_end.remove(&tp(1));
        assert_eq!(
            plan_reset(&[tp(1)], &ResetSpec::Earliest, &f)
                .unwrap_err()
                .to_string(),
            "Error getting starting offset of topic partition: t-1"
        );
        assert_eq!(
            plan_reset(&[tp(1)], &ResetSpec::Latest, &f)
                .unwrap_err()
                .to_string(),
            "Error getting ending offset of topic partition: t-1"
        );
        // Without log offsets there is nothing to clamp to (Java keeps the requested offset).
        assert_eq!(
            offsets(&plan_reset(&[tp(1)], &ResetSpec::Offset(99), &f).unwrap()),
            [(1, 99)]
        );
    }
}
