//! ApiVersions negotiation: per API, the highest version both the broker and this client speak.

use std::collections::BTreeMap;

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::protocol::Request;
pub use kafka_protocol::protocol::VersionRange;

use crate::header::api_name;

/// No version of an API can be used with this broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The broker did not list the API at all (e.g. ConsumerGroupHeartbeat on a 3.x broker).
    #[error("the broker does not support {api} (API key {api_key})")]
    NotSupportedByBroker {
        /// The API name.
        api: &'static str,
        /// The API key.
        api_key: i16,
    },
    /// Both sides know the API but their version ranges do not overlap (e.g. an API version the broker
    /// removed in Kafka 4.0, KIP-896).
    #[error(
        "no common version of {api}: this client speaks {client_min}..={client_max}, the broker {broker_min}..={broker_max}"
    )]
    NoCommonVersion {
        /// The API name.
        api: &'static str,
        /// Lowest version this client speaks.
        client_min: i16,
        /// Highest version this client speaks.
        client_max: i16,
        /// Lowest version the broker speaks.
        broker_min: i16,
        /// Highest version the broker speaks.
        broker_max: i16,
    },
    /// A configured cap on the API's version is below every version both sides speak.
    #[error(
        "{api} is capped at version {cap}, below the versions both this client and the broker speak \
         ({common_min}..={common_max}): raise or remove the cap (kafkaroo.api.version.max)"
    )]
    BelowCap {
        /// The API name.
        api: &'static str,
        /// The configured cap.
        cap: i16,
        /// Lowest version both sides speak.
        common_min: i16,
        /// Highest version both sides speak.
        common_max: i16,
    },
}

/// What one broker said it supports, from its ApiVersions response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerVersions {
    ranges: BTreeMap<i16, (i16, i16)>,
}

impl BrokerVersions {
    /// Reads the supported ranges out of an ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let ranges = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Self { ranges }
    }

    /// Builds a table from explicit `(api_key, min, max)` triples (tests, fake brokers).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        Self {
            ranges: ranges.into_iter().map(|(k, min, max)| (k, (min, max))).collect(),
        }
    }

    /// The broker's range for an API key, if it listed it.
    pub fn range(&self, api_key: i16) -> Option<VersionRange> {
        self.ranges
            .get(&api_key)
            .map(|&(min, max)| VersionRange { min, max })
    }

    /// Every API key the broker listed with its range.
    pub fn iter(&self) -> impl Iterator<Item = (i16, VersionRange)> + '_ {
        self.ranges
            .iter()
            .map(|(&k, &(min, max))| (k, VersionRange { min, max }))
    }

    /// The versions of `api_key` both sides speak, given the client's range.
    pub fn common_range(&self, api_key: i16, client: VersionRange) -> Result<VersionRange, VersionError> {
        let api = api_name(api_key);
        let broker = self
            .range(api_key)
            .ok_or(VersionError::NotSupportedByBroker { api, api_key })?;
        let common = broker.intersect(&client);
        if common.is_empty() {
            return Err(VersionError::NoCommonVersion {
                api,
                client_min: client.min,
                client_max: client.max,
                broker_min: broker.min,
                broker_max: broker.max,
            });
        }
        Ok(common)
    }

    /// The highest version of `R` that this client (per its message schema) and the broker share.
    pub fn negotiate<R: Request>(&self) -> Result<i16, VersionError> {
        self.negotiate_capped(R::KEY, R::VERSIONS, None)
    }

    /// The highest common version of `api_key`, at most `cap` when one is configured (to talk to a
    /// broker whose newest version of an API misbehaves, and for tests that walk every version).
    pub fn negotiate_capped(
        &self,
        api_key: i16,
        client: VersionRange,
        cap: Option<i16>,
    ) -> Result<i16, VersionError> {
        let common = self.common_range(api_key, client)?;
        match cap {
            Some(cap) if cap < common.min => Err(VersionError::BelowCap {
                api: api_name(api_key),
                cap,
                common_min: common.min,
                common_max: common.max,
            }),
            Some(cap) => Ok(cap.min(common.max)),
            None => Ok(common.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{
        ConsumerGroupHeartbeatRequest, FetchRequest, OffsetForLeaderEpochRequest,
    };
    use kafka_protocol::protocol::Message;

    #[test]
    fn picks_the_highest_common_version() {
        let broker = BrokerVersions::from_ranges([(1, 0, 17), (23, 0, 4)]);
        assert_eq!(broker.negotiate::<FetchRequest>().unwrap(), 17);
        assert_eq!(
            broker.common_range(1, FetchRequest::VERSIONS).unwrap(),
            VersionRange { min: 4, max: 17 }
        );
        assert_eq!(broker.negotiate::<OffsetForLeaderEpochRequest>().unwrap(), 4);
    }

    #[test]
    fn a_cap_lowers_the_version_and_one_below_the_common_range_is_named() {
        let broker = BrokerVersions::from_ranges([(1, 0, 17)]);
        let fetch = FetchRequest::VERSIONS;
        assert_eq!(broker.negotiate_capped(1, fetch, Some(9)).unwrap(), 9);
        assert_eq!(broker.negotiate_capped(1, fetch, Some(4)).unwrap(), 4);
        assert_eq!(
            broker.negotiate_capped(1, fetch, Some(30)).unwrap(),
            17,
            "above: no effect"
        );
        let err = broker.negotiate_capped(1, fetch, Some(3)).unwrap_err();
        assert_eq!(
            err,
            VersionError::BelowCap {
                api: "Fetch",
                cap: 3,
                common_min: 4,
                common_max: 17
            }
        );
        assert!(err.to_string().contains("kafkaroo.api.version.max"), "{err}");
    }

    #[test]
    fn missing_api_and_disjoint_ranges_are_named() {
        let broker = BrokerVersions::from_ranges([(1, 0, 3)]);
        let err = broker.negotiate::<FetchRequest>().unwrap_err();
        assert_eq!(
            err,
            VersionError::NoCommonVersion {
                api: "Fetch",
                client_min: 4,
                client_max: 18,
                broker_min: 0,
                broker_max: 3
            }
        );
        assert!(err.to_string().contains("Fetch"), "{err}");
        let err = broker.negotiate::<ConsumerGroupHeartbeatRequest>().unwrap_err();
        assert!(
            matches!(err, VersionError::NotSupportedByBroker { api_key: 68, .. }),
            "{err}"
        );
    }
}
