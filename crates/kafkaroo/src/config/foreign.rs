//! Properties of librdkafka and the Java consumer that kafkaroo has no setting of its own for. Each is
//! either accepted because the value asks for what kafkaroo does anyway, or refused with the reason and
//! what to use instead, never with "unknown property". This table is the one place that knows them;
//! `docs/configuration.md` lists them for users (a test keeps the two in step).

/// How a foreign property is treated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Treatment {
    /// Accepted when the value is one of these (what kafkaroo does anyway); other values are refused
    /// with the reason.
    AcceptOnly(&'static [&'static str], &'static str),
    /// Refused whatever the value, with the reason.
    Refuse(&'static str),
}

use Treatment::{AcceptOnly, Refuse};

const JAVA_CLASS: &str = "it names a Java class; kafkaroo has no plugin classes";
const NO_STATS: &str = "kafkaroo reports metrics through the `metrics` crate facade (see the README), and \
                        Consumer::statistics() for a snapshot";
const LOGGING: &str = "kafkaroo logs through `tracing`: set RUST_LOG (e.g. RUST_LOG=kafkaroo=debug)";
const QUEUES: &str = "kafkaroo bounds everything it fetched with one setting: memory.budget.bytes";

/// The table, sorted by key.
pub(crate) const FOREIGN: &[(&str, Treatment)] = &[
    (
        "allow.auto.create.topics",
        AcceptOnly(&["false"], "a consumer never creates the topics it reads"),
    ),
    (
        "api.version.request",
        AcceptOnly(&["true"], "kafkaroo always asks the broker for its API versions"),
    ),
    (
        "broker.version.fallback",
        Refuse(
            "kafkaroo always asks the broker for its API versions (ApiVersions); to keep an API below a version, set kafkaroo.api.version.max",
        ),
    ),
    (
        "client.dns.lookup",
        AcceptOnly(
            &["use_all_dns_ips"],
            "kafkaroo tries every address a name resolves to",
        ),
    ),
    (
        "connections.max.idle.ms",
        Refuse("kafkaroo keeps its connections open while the consumer lives"),
    ),
    ("debug", Refuse(LOGGING)),
    (
        "default.api.timeout.ms",
        Refuse("each call of kafkaroo takes its own timeout, or uses request.timeout.ms"),
    ),
    (
        "enable.auto.offset.store",
        Refuse(
            "to commit only what you stored, set enable.auto.commit=false and call store_offset then commit_stored",
        ),
    ),
    (
        "enable.partition.eof",
        Refuse(
            "kafkaroo has no end-of-partition events: Consumer::lag(tp) == Some(0) tells that a partition is caught up",
        ),
    ),
    (
        "exclude.internal.topics",
        AcceptOnly(&["true"], "internal topics never match a pattern subscription"),
    ),
    (
        "fetch.error.backoff.ms",
        Refuse("use retry.backoff.ms, which paces every retry"),
    ),
    ("interceptor.classes", Refuse(JAVA_CLASS)),
    (
        "internal.leave.group.on.close",
        Refuse("use Consumer::close_with(CloseMode::Leave | CloseMode::Remain)"),
    ),
    (
        "key.deserializer",
        AcceptOnly(
            &["org.apache.kafka.common.serialization.ByteArrayDeserializer"],
            "kafkaroo hands out keys and values as bytes: deserialize them in your code",
        ),
    ),
    ("log.connection.close", Refuse(LOGGING)),
    ("log_level", Refuse(LOGGING)),
    ("metric.reporters", Refuse(JAVA_CLASS)),
    ("metrics.num.samples", Refuse(NO_STATS)),
    ("metrics.recording.level", Refuse(NO_STATS)),
    ("metrics.sample.window.ms", Refuse(NO_STATS)),
    (
        "offset.store.method",
        Refuse("offsets are stored in the group coordinator (Kafka's __consumer_offsets)"),
    ),
    (
        "offset.store.path",
        Refuse("offsets are stored in the group coordinator (Kafka's __consumer_offsets)"),
    ),
    (
        "offset.store.sync.interval.ms",
        Refuse("offsets are stored in the group coordinator (Kafka's __consumer_offsets)"),
    ),
    ("queued.max.messages.kbytes", Refuse(QUEUES)),
    ("queued.min.messages", Refuse(QUEUES)),
    (
        "receive.buffer.bytes",
        Refuse("kafkaroo leaves socket buffer sizes to the operating system"),
    ),
    (
        "send.buffer.bytes",
        Refuse("kafkaroo leaves socket buffer sizes to the operating system"),
    ),
    (
        "socket.keepalive.enable",
        Refuse("kafkaroo does not set TCP keepalive; request timeouts detect dead peers"),
    ),
    (
        "socket.receive.buffer.bytes",
        Refuse("kafkaroo leaves socket buffer sizes to the operating system"),
    ),
    (
        "socket.send.buffer.bytes",
        Refuse("kafkaroo leaves socket buffer sizes to the operating system"),
    ),
    (
        "value.deserializer",
        AcceptOnly(
            &["org.apache.kafka.common.serialization.ByteArrayDeserializer"],
            "kafkaroo hands out keys and values as bytes: deserialize them in your code",
        ),
    ),
];

/// `Some(Ok)` when `key` is a foreign property whose value kafkaroo honours by what it does anyway,
/// `Some(Err(reason))` when it is refused, `None` when it is not in the table.
pub(crate) fn check(key: &str, value: &str) -> Option<Result<(), String>> {
    let (_, treatment) = FOREIGN.iter().find(|(k, _)| *k == key)?;
    Some(match treatment {
        AcceptOnly(values, _) if values.contains(&value.trim()) => Ok(()),
        AcceptOnly(values, why) => Err(format!(
            "{key}={value} is not supported ({why}); accepted: {}",
            values.join(", ")
        )),
        Refuse(why) => Err(format!("{key} is not supported: {why}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_documented() {
        let keys: Vec<&str> = FOREIGN.iter().map(|(k, _)| *k).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(keys, sorted, "sorted, no duplicates");
        let doc = include_str!("../../../../docs/configuration.md");
        for key in keys {
            assert!(
                doc.contains(&format!("`{key}`")),
                "docs/configuration.md does not list {key}"
            );
        }
    }

    #[test]
    fn accepted_values_pass_and_others_say_why() {
        assert_eq!(check("allow.auto.create.topics", "false"), Some(Ok(())));
        let err = check("allow.auto.create.topics", "true").unwrap().unwrap_err();
        assert!(err.contains("never creates"), "{err}");
        let err = check("enable.partition.eof", "true").unwrap().unwrap_err();
        assert!(err.contains("lag"), "{err}");
        assert_eq!(check("fetch.max.bytes", "1"), None);
    }
}
