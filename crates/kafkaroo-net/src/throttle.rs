//! Responses that carry `throttle_time_ms` (KIP-219), so the connection can hold back the next request.

use kafkaroo_wire::messages::*;

/// A response that may ask the client to slow down.
pub trait Throttled {
    /// Milliseconds the broker asks the client to wait before its next request (0 if none).
    fn throttle_time_ms(&self) -> i32;
}

macro_rules! throttled {
    ($($t:ty),* $(,)?) => {$(
        impl Throttled for $t {
            fn throttle_time_ms(&self) -> i32 {
                self.throttle_time_ms
            }
        }
    )*};
}

throttled!(
    ApiVersionsResponse,
    MetadataResponse,
    FindCoordinatorResponse,
    ListOffsetsResponse,
    FetchResponse,
    OffsetForLeaderEpochResponse,
    JoinGroupResponse,
    SyncGroupResponse,
    HeartbeatResponse,
    LeaveGroupResponse,
    OffsetCommitResponse,
    OffsetFetchResponse,
    DescribeGroupsResponse,
    ListGroupsResponse,
    ConsumerGroupHeartbeatResponse,
    ConsumerGroupDescribeResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    DescribeConfigsResponse,
    DeleteRecordsResponse,
    InitProducerIdResponse,
    ProduceResponse,
    DescribeClusterResponse,
    DeleteGroupsResponse,
    OffsetDeleteResponse,
    GetTelemetrySubscriptionsResponse,
    PushTelemetryResponse,
    IncrementalAlterConfigsResponse,
);

/// SASL responses carry no throttle time.
macro_rules! never_throttled {
    ($($t:ty),* $(,)?) => {$(
        impl Throttled for $t {
            fn throttle_time_ms(&self) -> i32 {
                0
            }
        }
    )*};
}

never_throttled!(SaslHandshakeResponse, SaslAuthenticateResponse);
