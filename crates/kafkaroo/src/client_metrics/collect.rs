//! The pushed metrics: what [`Statistics`] knows, under the names Java's consumer pushes (its metric
//! group and name with `-` turned into `.`, after `org.apache.kafka.`; tags become attributes with
//! `-` turned into `_`), so a broker-side exporter shows kafkaroo consumers next to Java ones. Only
//! metrics whose meaning matches Java's are sent.

use std::collections::HashMap;

use super::otlp::{Kind, Point};
use super::schedule::Selector;
use crate::statistics::Statistics;

/// `consumer-fetch-manager-metrics` `records-consumed-total`: records returned by poll.
pub(crate) const RECORDS_CONSUMED_TOTAL: &str =
    "org.apache.kafka.consumer.fetch.manager.records.consumed.total";
/// `consumer-fetch-manager-metrics` `fetch-total`: fetch requests completed.
pub(crate) const FETCH_TOTAL: &str = "org.apache.kafka.consumer.fetch.manager.fetch.total";
/// `consumer-fetch-manager-metrics` `records-lag` (tags `topic`, `partition`): a partition's lag.
pub(crate) const RECORDS_LAG: &str = "org.apache.kafka.consumer.fetch.manager.records.lag";
/// `consumer-fetch-manager-metrics` `records-lag-max`: the largest partition lag.
pub(crate) const RECORDS_LAG_MAX: &str = "org.apache.kafka.consumer.fetch.manager.records.lag.max";
/// `consumer-coordinator-metrics` `assigned-partitions`.
pub(crate) const ASSIGNED_PARTITIONS: &str = "org.apache.kafka.consumer.coordinator.assigned.partitions";
/// `consumer-coordinator-metrics` `rebalance-total`: rebalances completed.
pub(crate) const REBALANCE_TOTAL: &str = "org.apache.kafka.consumer.coordinator.rebalance.total";

/// Counter totals as of a push the broker accepted: the base of the next deltas.
pub(crate) type Totals = HashMap<&'static str, f64>;

/// The points of `stats` the selector asks for, and the counters' totals. Counters are cumulative,
/// or with `delta` the change since `previous` (the totals of the last accepted push; the caller
/// keeps the returned totals only once the broker accepted the push, so a lost push loses no counts).
pub(crate) fn points(
    stats: &Statistics,
    selector: &Selector,
    delta: bool,
    previous: &Totals,
) -> (Vec<Point>, Totals) {
    let mut out = Vec::new();
    let mut totals = Totals::new();
    let mut counter = |name: &'static str, total: u64| {
        if !selector.matches(name) {
            return;
        }
        let total = total as f64;
        totals.insert(name, total);
        let last = previous.get(name).copied();
        let value = if delta { total - last.unwrap_or(0.0) } else { total };
        out.push(Point {
            name: name.to_owned(),
            kind: Kind::Counter,
            value,
            attributes: Vec::new(),
        });
    };
    counter(RECORDS_CONSUMED_TOTAL, stats.records_consumed);
    counter(FETCH_TOTAL, stats.fetches);
    if let Some(g) = &stats.group {
        counter(REBALANCE_TOTAL, g.rebalances);
    }
    let gauge = |name: &'static str, value: f64, attributes| Point {
        name: name.to_owned(),
        kind: Kind::Gauge,
        value,
        attributes,
    };
    if stats.group.is_some() && selector.matches(ASSIGNED_PARTITIONS) {
        out.push(gauge(
            ASSIGNED_PARTITIONS,
            stats.partitions.len() as f64,
            Vec::new(),
        ));
    }
    let lags = stats.partitions.iter().filter_map(|p| p.lag.map(|lag| (p, lag)));
    if selector.matches(RECORDS_LAG_MAX)
        && let Some(max) = lags.clone().map(|(_, lag)| lag).max()
    {
        out.push(gauge(RECORDS_LAG_MAX, max as f64, Vec::new()));
    }
    if selector.matches(RECORDS_LAG) {
        for (p, lag) in lags {
            out.push(gauge(
                RECORDS_LAG,
                lag as f64,
                vec![
                    ("topic", p.partition.topic.to_string()),
                    ("partition", p.partition.partition.to_string()),
                ],
            ));
        }
    }
    (out, totals)
}

/// The resource attributes KIP-714 asks the client to add: `client_rack`, `group_id`,
/// `group_instance_id`, `group_member_id` (the broker adds the client id, software name and version,
/// address and principal itself).
pub(crate) fn resource(
    stats: &Statistics,
    client_rack: Option<&str>,
    group_instance_id: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(rack) = client_rack {
        out.push(("client_rack", rack.to_owned()));
    }
    if let Some(g) = &stats.group {
        out.push(("group_id", g.group_id.clone()));
        if let Some(id) = group_instance_id {
            out.push(("group_instance_id", id.to_owned()));
        }
        if !g.state.member_id.is_empty() {
            out.push(("group_member_id", g.state.member_id.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TopicPartition;
    use crate::statistics::{GroupStatistics, PartitionStatistics};
    use kafkaroo_group::MemberState;
    use std::time::{Duration, SystemTime};

    fn stats() -> Statistics {
        let partition = |p: i32, lag: Option<i64>| PartitionStatistics {
            partition: TopicPartition::new("t", p),
            position: lag.map(|l| 10 - l),
            log_start_offset: 0,
            high_watermark: 10,
            last_stable_offset: 10,
            lag,
            paused: false,
        };
        Statistics {
            client_id: "c".into(),
            time: SystemTime::now(),
            age: Duration::from_secs(1),
            records_consumed: 12,
            fetches: 3,
            bytes_fetched: 100,
            commit_failures: 0,
            memory_used: 0,
            memory_limit: 1,
            partitions: vec![partition(0, Some(4)), partition(1, None), partition(2, Some(7))],
            group: Some(GroupStatistics {
                group_id: "g".into(),
                state: crate::GroupState {
                    state: MemberState::Stable,
                    generation: 1,
                    member_id: "m-1".into(),
                    leader_id: "m-1".into(),
                    protocol: None,
                    coordinator: Some(1),
                },
                rebalances: 2,
            }),
        }
    }

    fn named<'a>(points: &'a [Point], name: &str) -> Vec<&'a Point> {
        points.iter().filter(|p| p.name == name).collect()
    }

    #[test]
    fn all_metrics_carry_java_names_and_values() {
        let (points, _) = points(&stats(), &Selector::All, false, &Totals::new());
        assert_eq!(named(&points, RECORDS_CONSUMED_TOTAL)[0].value, 12.0);
        assert_eq!(named(&points, FETCH_TOTAL)[0].value, 3.0);
        assert_eq!(named(&points, REBALANCE_TOTAL)[0].value, 2.0);
        assert_eq!(named(&points, ASSIGNED_PARTITIONS)[0].value, 3.0);
        assert_eq!(named(&points, RECORDS_LAG_MAX)[0].value, 7.0);
        let lag = named(&points, RECORDS_LAG);
        assert_eq!(lag.len(), 2, "a partition whose lag is unknown has no point");
        assert_eq!(lag[1].value, 7.0);
        assert_eq!(
            lag[1].attributes,
            vec![("topic", "t".to_owned()), ("partition", "2".to_owned())]
        );
        assert_eq!(
            resource(&stats(), Some("r1"), None),
            vec![
                ("client_rack", "r1".to_owned()),
                ("group_id", "g".to_owned()),
                ("group_member_id", "m-1".to_owned())
            ]
        );
    }

    #[test]
    fn prefixes_select_and_delta_subtracts_the_last_push() {
        let selector = Selector::Prefixes(vec!["org.apache.kafka.consumer.fetch.manager.records.c".into()]);
        let (first, accepted) = points(&stats(), &selector, true, &Totals::new());
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].value, 12.0);
        let mut later = stats();
        later.records_consumed = 20;
        let (second, _lost) = points(&later, &selector, true, &accepted);
        assert_eq!(second[0].value, 8.0);
        later.records_consumed = 25;
        let (third, _) = points(&later, &selector, true, &accepted);
        assert_eq!(
            third[0].value, 13.0,
            "a push the broker did not accept counts again"
        );
        assert!(points(&stats(), &Selector::None, false, &accepted).0.is_empty());
    }
}
