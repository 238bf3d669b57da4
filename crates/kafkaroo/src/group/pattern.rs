//! Pattern subscriptions (`Consumer::subscribe_pattern`), matched by the client as Java's classic
//! consumer does with `subscribe(Pattern)`: on every metadata refresh of all topics (at least every
//! `metadata.max.age.ms`, at most every 30 s), the topics whose whole name matches become the
//! subscription; a new matching topic joins it, a deleted one leaves it. Internal topics
//! (`__consumer_offsets`, `__transaction_state`...) never match.

use std::collections::BTreeSet;

use kafkaroo_net::Metadata;

use crate::error::Error;

/// What a member subscribes to.
pub(crate) enum Subscription {
    Topics(Vec<String>),
    Pattern(TopicPattern),
    /// A regular expression the KIP-848 coordinator resolves (`subscribed_topic_regex`).
    BrokerRegex(String),
}

impl Subscription {
    pub(crate) fn topics<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Topics(topics.into_iter().map(Into::into).collect())
    }
}

/// A compiled topic pattern.
#[derive(Debug, Clone)]
pub(crate) struct TopicPattern {
    source: String,
    regex: regex_lite::Regex,
}

impl TopicPattern {
    /// Compiles `pattern`, which must match a topic's whole name (as Java's `Pattern.matches`).
    pub(crate) fn new(pattern: &str) -> Result<Self, Error> {
        let regex = regex_lite::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            Error::Config(format!(
                "subscribe_pattern: {pattern:?} is not a valid regular expression: {e}"
            ))
        })?;
        Ok(Self {
            source: pattern.to_owned(),
            regex,
        })
    }

    /// The pattern as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `topic` matches as a whole.
    pub(crate) fn matches(&self, topic: &str) -> bool {
        self.regex.is_match(topic)
    }

    /// The topics of `metadata` that match, internal ones and ones the broker reported an error for
    /// (deleted, unauthorized) left out.
    pub(crate) fn matching(&self, metadata: &Metadata) -> BTreeSet<String> {
        metadata
            .topics
            .values()
            .filter(|t| {
                !t.is_internal && t.error.is_ok() && !t.partitions.is_empty() && self.matches(&t.name)
            })
            .map(|t| t.name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_name_must_match() {
        let p = TopicPattern::new("orders-.*").unwrap();
        assert!(p.matches("orders-eu"));
        assert!(p.matches("orders-"));
        assert!(!p.matches("old-orders-eu"), "not a search: the whole name");
        assert!(!p.matches("orders"));
        let p = TopicPattern::new("a|b").unwrap();
        assert!(
            p.matches("a") && p.matches("b") && !p.matches("ab"),
            "alternation stays inside the anchors"
        );
    }

    #[test]
    fn a_bad_pattern_is_a_configuration_error_naming_it() {
        let err = TopicPattern::new("orders-(").unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(err.to_string().contains("\"orders-(\""), "{err}");
    }
}
