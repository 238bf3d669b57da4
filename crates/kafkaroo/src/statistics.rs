//! A snapshot of what the consumer does, taken on demand ([`Consumer::statistics`]) and printable as
//! JSON shaped after librdkafka's statistics (the fields a consumer dashboard reads: per-partition
//! offsets and lag, the group's state and rebalance count, totals), so tools that read librdkafka's
//! `stats_cb` output find the same names. `kafkaroo consume -X statistics.interval.ms=N` prints it.
//!
//! [`Consumer::statistics`]: crate::Consumer::statistics

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::Shared;
use crate::group::GroupState;
use crate::record::TopicPartition;

/// The consumer as of one moment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Statistics {
    /// `client.id`.
    pub client_id: String,
    /// When the snapshot was taken.
    pub time: SystemTime,
    /// How long the consumer has existed.
    pub age: Duration,
    /// Records handed to the application by `poll`/`recv` so far.
    pub records_consumed: u64,
    /// Fetch responses received so far.
    pub fetches: u64,
    /// Bytes of the fetch responses received so far.
    pub bytes_fetched: u64,
    /// Commits that failed so far (each counted once, whatever its partitions).
    pub commit_failures: u64,
    /// Bytes held against `memory.budget.bytes` now.
    pub memory_used: usize,
    /// `memory.budget.bytes`.
    pub memory_limit: usize,
    /// The assigned partitions, in order.
    pub partitions: Vec<PartitionStatistics>,
    /// The group membership, when subscribed.
    pub group: Option<GroupStatistics>,
}

/// One assigned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionStatistics {
    /// The partition.
    pub partition: TopicPartition,
    /// The next offset `poll` hands out (`None` while it is being resolved).
    pub position: Option<i64>,
    /// Log start offset as of the last fetch (-1 before one).
    pub log_start_offset: i64,
    /// High watermark as of the last fetch (-1 before one).
    pub high_watermark: i64,
    /// Last stable offset as of the last fetch (-1 before one).
    pub last_stable_offset: i64,
    /// Records behind, as [`Consumer::lag`](crate::Consumer::lag) counts them.
    pub lag: Option<i64>,
    /// Paused by the application.
    pub paused: bool,
}

/// The group membership.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupStatistics {
    /// `group.id`.
    pub group_id: String,
    /// State, generation, member id, coordinator.
    pub state: GroupState,
    /// Rebalances this member completed (each time it became stable in a new generation or epoch).
    pub rebalances: u64,
}

pub(crate) fn snapshot(shared: &Shared, group: Option<(GroupState, u64)>) -> Statistics {
    let totals = &shared.telemetry.totals;
    let isolation = shared.config.isolation_level;
    let partitions = {
        let st = shared.lock();
        let mut partitions: Vec<PartitionStatistics> = st
            .partitions
            .iter()
            .map(|(tp, p)| {
                let (low, high, last_stable) = p.watermarks();
                PartitionStatistics {
                    partition: tp.clone(),
                    position: p.position(),
                    log_start_offset: low,
                    high_watermark: high,
                    last_stable_offset: last_stable,
                    lag: p.lag(isolation),
                    paused: p.is_paused(),
                }
            })
            .collect();
        partitions.sort_by(|a, b| a.partition.cmp(&b.partition));
        partitions
    };
    Statistics {
        client_id: shared.config.client_id.clone(),
        time: SystemTime::now(),
        age: shared.telemetry.created.elapsed(),
        records_consumed: totals.consumed.load(Ordering::Relaxed),
        fetches: totals.fetches.load(Ordering::Relaxed),
        bytes_fetched: totals.fetch_bytes.load(Ordering::Relaxed),
        commit_failures: totals.commit_failures.load(Ordering::Relaxed),
        memory_used: shared.budget.used(),
        memory_limit: shared.budget.limit(),
        partitions,
        group: group.map(|(state, rebalances)| GroupStatistics {
            group_id: shared.config.group_id.clone().unwrap_or_default(),
            state,
            rebalances,
        }),
    }
}

impl Statistics {
    /// The snapshot as one line of JSON, with librdkafka's statistics names where a field has one
    /// (`rxmsgs`, `topics.<t>.partitions.<p>.app_offset`, `hi_offset`, `ls_offset`, `lo_offset`,
    /// `consumer_lag`, `fetch_state`, `cgrp.state`, `cgrp.rebalance_cnt`, `cgrp.assignment_size`) and
    /// kafkaroo's own otherwise (`memory_used`, `memory_limit`, `commit_failures`). Offsets not known
    /// yet are -1, as in librdkafka.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256 + 160 * self.partitions.len());
        let time = self.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let _ = write!(
            out,
            "{{\"name\":{},\"client_id\":{},\"type\":\"consumer\",\"ts\":{},\"time\":{},\"age\":{},\
             \"rx\":{},\"rx_bytes\":{},\"rxmsgs\":{},\"commit_failures\":{},\"memory_used\":{},\
             \"memory_limit\":{},\"topics\":{{",
            json_string(&format!("kafkaroo#consumer-{}", self.client_id)),
            json_string(&self.client_id),
            self.age.as_micros(),
            time.as_secs(),
            self.age.as_micros(),
            self.fetches,
            self.bytes_fetched,
            self.records_consumed,
            self.commit_failures,
            self.memory_used,
            self.memory_limit,
        );
        let mut topics = self
            .partitions
            .chunk_by(|a, b| a.partition.topic == b.partition.topic);
        let mut first_topic = true;
        for topic in topics.by_ref() {
            let name = &topic[0].partition.topic;
            if !std::mem::take(&mut first_topic) {
                out.push(',');
            }
            let _ = write!(
                out,
                "{}:{{\"topic\":{},\"partitions\":{{",
                json_string(name),
                json_string(name)
            );
            for (i, p) in topic.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(
                    out,
                    "\"{}\":{{\"partition\":{},\"fetch_state\":\"{}\",\"app_offset\":{},\"lo_offset\":{},\
                     \"hi_offset\":{},\"ls_offset\":{},\"consumer_lag\":{}}}",
                    p.partition.partition,
                    p.partition.partition,
                    if p.paused { "paused" } else { "active" },
                    p.position.unwrap_or(-1),
                    p.log_start_offset,
                    p.high_watermark,
                    p.last_stable_offset,
                    p.lag.unwrap_or(-1),
                );
            }
            out.push_str("}}");
        }
        out.push('}');
        if let Some(g) = &self.group {
            let _ = write!(
                out,
                ",\"cgrp\":{{\"group_id\":{},\"state\":{},\"generation\":{},\"member_id\":{},\
                 \"rebalance_cnt\":{},\"assignment_size\":{}}}",
                json_string(&g.group_id),
                json_string(&format!("{:?}", g.state.state)),
                g.state.generation,
                json_string(&g.state.member_id),
                g.rebalances,
                self.partitions.len(),
            );
        }
        out.push('}');
        out
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafkaroo_group::MemberState;

    fn sample() -> Statistics {
        let partition = |topic: &str, p: i32, position: Option<i64>| PartitionStatistics {
            partition: TopicPartition::new(topic, p),
            position,
            log_start_offset: 0,
            high_watermark: 10,
            last_stable_offset: 10,
            lag: position.map(|pos| 10 - pos),
            paused: p == 1,
        };
        Statistics {
            client_id: "c\"1".into(),
            time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            age: Duration::from_millis(1500),
            records_consumed: 7,
            fetches: 3,
            bytes_fetched: 4096,
            commit_failures: 1,
            memory_used: 100,
            memory_limit: 1000,
            partitions: vec![
                partition("a", 0, Some(4)),
                partition("a", 1, None),
                partition("b", 0, Some(10)),
            ],
            group: Some(GroupStatistics {
                group_id: "g".into(),
                state: GroupState {
                    state: MemberState::Stable,
                    generation: 5,
                    member_id: "m-1".into(),
                    leader_id: "m-1".into(),
                    protocol: Some("range".into()),
                    coordinator: Some(1),
                },
                rebalances: 2,
            }),
        }
    }

    #[test]
    fn json_has_librdkafka_names_and_escapes_strings() {
        let json = sample().to_json();
        assert_eq!(
            json,
            "{\"name\":\"kafkaroo#consumer-c\\\"1\",\"client_id\":\"c\\\"1\",\"type\":\"consumer\",\
             \"ts\":1500000,\"time\":1700000000,\"age\":1500000,\"rx\":3,\"rx_bytes\":4096,\"rxmsgs\":7,\
             \"commit_failures\":1,\"memory_used\":100,\"memory_limit\":1000,\"topics\":{\
             \"a\":{\"topic\":\"a\",\"partitions\":{\
             \"0\":{\"partition\":0,\"fetch_state\":\"active\",\"app_offset\":4,\"lo_offset\":0,\"hi_offset\":10,\"ls_offset\":10,\"consumer_lag\":6},\
             \"1\":{\"partition\":1,\"fetch_state\":\"paused\",\"app_offset\":-1,\"lo_offset\":0,\"hi_offset\":10,\"ls_offset\":10,\"consumer_lag\":-1}}},\
             \"b\":{\"topic\":\"b\",\"partitions\":{\
             \"0\":{\"partition\":0,\"fetch_state\":\"active\",\"app_offset\":10,\"lo_offset\":0,\"hi_offset\":10,\"ls_offset\":10,\"consumer_lag\":0}}}},\
             \"cgrp\":{\"group_id\":\"g\",\"state\":\"Stable\",\"generation\":5,\"member_id\":\"m-1\",\"rebalance_cnt\":2,\"assignment_size\":3}}"
        );
        assert_eq!(json_string("a\u{1}\n"), "\"a\\u0001\\n\"");
    }
}
