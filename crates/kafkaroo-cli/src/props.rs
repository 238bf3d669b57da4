//! `-X key=value` properties: passed to `ConsumerConfigBuilder::set` (which refuses librdkafka-only
//! properties with the reason), with kcat's conveniences (a `topic.` prefix is dropped).

use kafkaroo::{ConsumerConfig, ConsumerConfigBuilder};

/// Splits `key=value`.
pub(crate) fn split(prop: &str) -> Result<(&str, &str), String> {
    match prop.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ if matches!(prop, "list" | "help" | "dump") => Err(format!(
            "-X {prop} is kcat's (librdkafka's property list); kafkaroo's properties are listed in `kafkaroo consume --help`"
        )),
        _ => Err(format!("Expected -X property=value, not {prop}")),
    }
}

/// Applies one `-X` property.
pub(crate) fn apply(builder: ConsumerConfigBuilder, prop: &str) -> Result<ConsumerConfigBuilder, String> {
    let (key, value) = split(prop)?;
    // kcat applies "topic."-prefixed properties to the topic configuration: here there is only one.
    // librdkafka's own topic.metadata.refresh.interval.ms keeps its prefix.
    let key = match key.strip_prefix("topic.") {
        Some(rest) if key != "topic.metadata.refresh.interval.ms" => rest,
        _ => key,
    };
    builder.set(key, value).map_err(|e| {
        if is_secret(key) {
            format!("-X {key}: {e}")
        } else {
            format!("-X {key}={value}: {e}")
        }
    })
}

/// Properties whose values must never be echoed: passwords, keys, JAAS (which carries a password).
fn is_secret(key: &str) -> bool {
    [
        "password",
        "secret",
        "jaas",
        "key.pem",
        "keystore.key",
        "oauthbearer.config",
    ]
    .iter()
    .any(|s| key.contains(s))
}

/// Builds the configuration from `-b` and the `-X` properties on top of `builder`'s settings: the
/// properties override it, `-b` overrides `bootstrap.servers`. Errors are usage errors.
pub(crate) fn build_config(
    mut builder: ConsumerConfigBuilder,
    brokers: Option<&str>,
    props: &[String],
) -> Result<ConsumerConfig, String> {
    for prop in props {
        builder = apply(builder, prop)?;
    }
    match brokers {
        Some(b) => builder = builder.bootstrap_servers(b),
        None if sets(props, "bootstrap.servers") || sets(props, "metadata.broker.list") => {}
        None => return Err("-b <brokers> missing".to_owned()),
    }
    builder.build().map_err(|e| e.to_string())
}

/// Whether `key` was given (e.g. `max.poll.records`, whose CLI default is higher than the library's).
pub(crate) fn sets(props: &[String], key: &str) -> bool {
    props.iter().any(|p| {
        p.split_once('=')
            .is_some_and(|(k, _)| k.strip_prefix("topic.").unwrap_or(k) == key)
    })
}

#[cfg(test)]
mod tests {
    use kafkaroo::AutoOffsetReset;

    use super::*;

    fn base() -> ConsumerConfigBuilder {
        ConsumerConfig::builder().bootstrap_servers("h:1")
    }

    #[test]
    fn known_keys_pass_through() {
        let b = apply(base(), "fetch.wait.max.ms=50").unwrap();
        let b = apply(b, "topic.auto.offset.reset=smallest").unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.fetch_max_wait.as_millis(), 50);
        assert_eq!(c.auto_offset_reset, AutoOffsetReset::Earliest);
    }

    #[test]
    fn refusals_name_the_key() {
        let e = apply(base(), "fetch.max.byte=1").unwrap_err();
        assert!(
            e.contains("fetch.max.byte") && e.contains("unknown configuration property"),
            "{e}"
        );
        let e = apply(base(), "queued.min.messages=10").unwrap_err();
        assert!(e.contains("memory.budget.bytes"), "{e}");
        let e = apply(base(), "fetch.max.bytes=lots").unwrap_err();
        assert!(e.contains("not a valid number"), "{e}");
        assert!(
            apply(base(), "novalue")
                .unwrap_err()
                .contains("Expected -X property=value")
        );
        assert!(apply(base(), "list").unwrap_err().contains("kcat's"));
    }

    #[test]
    fn detects_keys() {
        let props = vec!["a=1".to_owned(), "topic.max.poll.records=5".to_owned()];
        assert!(sets(&props, "max.poll.records"));
        assert!(!sets(&props, "b"));
    }
}
