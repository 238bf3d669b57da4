//! Connection behaviour against a scripted peer on loopback: pipelining, failure of every in-flight
//! request when the connection breaks, bad frames, timeouts, throttling, ApiVersions fallback.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafkaroo_net::{Connection, ConnectionConfig, Error};
use kafkaroo_wire::messages::api_versions_response::ApiVersion;
use kafkaroo_wire::messages::{ApiVersionsResponse, HeartbeatRequest, HeartbeatResponse};
use kafkaroo_wire::protocol::StrBytes;
use kafkaroo_wire::{ErrorCode, FrameDecoder, encode_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the scripted broker sees it.
struct Received {
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    body: Bytes,
}

struct Peer {
    stream: TcpStream,
    buf: BytesMut,
}

impl Peer {
    async fn recv(&mut self) -> Option<Received> {
        let decoder = FrameDecoder::default();
        loop {
            if let Some(frame) = decoder.decode(&mut self.buf).unwrap() {
                let mut frame = frame.freeze();
                let api_key = frame.get_i16();
                let api_version = frame.get_i16();
                let correlation_id = frame.get_i32();
                return Some(Received {
                    api_key,
                    api_version,
                    correlation_id,
                    body: frame,
                });
            }
            if self.stream.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    async fn heartbeat_reply(&mut self, correlation_id: i32, version: i16, error: i16, throttle: i32) {
        let mut out = BytesMut::new();
        let resp = HeartbeatResponse::default()
            .with_error_code(error)
            .with_throttle_time_ms(throttle);
        encode_response(&mut out, correlation_id, version, &resp).unwrap();
        self.send_raw(&out).await;
    }

    /// Answers the handshake with the given ApiVersions answer (Heartbeat 0..=4 supported).
    async fn handshake(&mut self) {
        let req = self.recv().await.unwrap();
        assert_eq!(req.api_key, 18);
        let mut out = BytesMut::new();
        encode_response(
            &mut out,
            req.correlation_id,
            req.api_version,
            &versions_response(0, 4),
        )
        .unwrap();
        self.send_raw(&out).await;
    }
}

fn versions_response(error: i16, api_versions_max: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(18)
                .with_min_version(0)
                .with_max_version(api_versions_max),
            ApiVersion::default()
                .with_api_key(12)
                .with_min_version(0)
                .with_max_version(4),
        ])
}

async fn pair(config: ConnectionConfig) -> (tokio::task::JoinHandle<Connection>, Peer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let connect = tokio::spawn(async move { Connection::connect(&addr, Some(1), config).await.unwrap() });
    let (stream, _) = listener.accept().await.unwrap();
    (
        connect,
        Peer {
            stream,
            buf: BytesMut::new(),
        },
    )
}

async fn connected(config: ConnectionConfig) -> (Connection, Peer) {
    let (connect, mut peer) = pair(config).await;
    peer.handshake().await;
    (connect.await.unwrap(), peer)
}

fn heartbeat() -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(StrBytes::from_static_str("g").into())
        .with_generation_id(3)
}

#[tokio::test]
async fn handshake_sends_kip511_name_and_negotiates() {
    let (connect, mut peer) = pair(ConnectionConfig::default()).await;
    let req = peer.recv().await.unwrap();
    assert_eq!((req.api_key, req.api_version), (18, 4));
    // v3+ body (after the request header's client id and tagged fields) carries the software name.
    let body = String::from_utf8_lossy(&req.body);
    assert!(body.contains("kafkaroo"), "{body:?}");
    let mut out = BytesMut::new();
    encode_response(&mut out, req.correlation_id, 4, &versions_response(0, 4)).unwrap();
    peer.send_raw(&out).await;
    let conn = connect.await.unwrap();
    assert_eq!(conn.negotiated_version::<HeartbeatRequest>().unwrap(), 4);
}

#[tokio::test]
async fn version_caps_bound_the_handshake_and_every_request_of_the_api() {
    let config = ConnectionConfig {
        max_versions: [(18, 3), (12, 2)].into(),
        ..ConnectionConfig::default()
    };
    let (connect, mut peer) = pair(config).await;
    let req = peer.recv().await.unwrap();
    assert_eq!((req.api_key, req.api_version), (18, 3), "ApiVersions capped");
    let mut out = BytesMut::new();
    encode_response(&mut out, req.correlation_id, 3, &versions_response(0, 4)).unwrap();
    peer.send_raw(&out).await;
    let conn = connect.await.unwrap();
    assert_eq!(conn.negotiated_version::<HeartbeatRequest>().unwrap(), 2);
    let send = tokio::spawn({
        let c = conn.clone();
        async move { c.send(&heartbeat()).await }
    });
    let hb = peer.recv().await.unwrap();
    assert_eq!(
        (hb.api_key, hb.api_version),
        (12, 2),
        "Heartbeat went out at the cap"
    );
    let mut out = BytesMut::new();
    encode_response(&mut out, hb.correlation_id, 2, &HeartbeatResponse::default()).unwrap();
    peer.send_raw(&out).await;
    send.await.unwrap().unwrap();

    // A cap below every common version is a version error naming the API and the setting.
    let config = ConnectionConfig {
        max_versions: [(12, -1)].into(),
        ..ConnectionConfig::default()
    };
    let (conn, _peer) = connected(config).await;
    let err = conn.send(&heartbeat()).await.unwrap_err();
    assert!(matches!(err, Error::Version { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Heartbeat is capped at version -1") && text.contains("kafkaroo.api.version.max"),
        "{text}"
    );
}

#[tokio::test]
async fn handshake_falls_back_when_broker_answers_unsupported_version() {
    let (connect, mut peer) = pair(ConnectionConfig::default()).await;
    let first = peer.recv().await.unwrap();
    assert_eq!(first.api_version, 4);
    // An old broker answers in v0 with its range: ApiVersions up to v2.
    let mut out = BytesMut::new();
    encode_response(
        &mut out,
        first.correlation_id,
        0,
        &versions_response(ErrorCode::UNSUPPORTED_VERSION.0, 2),
    )
    .unwrap();
    peer.send_raw(&out).await;
    let second = peer.recv().await.unwrap();
    assert_eq!(
        second.api_version, 2,
        "retried at the broker's highest ApiVersions version"
    );
    let mut out = BytesMut::new();
    encode_response(&mut out, second.correlation_id, 2, &versions_response(0, 2)).unwrap();
    peer.send_raw(&out).await;
    let conn = connect.await.unwrap();
    assert_eq!(conn.versions().range(18).unwrap().max, 2);
}

#[tokio::test]
async fn pipelined_requests_get_their_own_responses() {
    let (conn, mut peer) = connected(ConnectionConfig::default()).await;
    let sends: Vec<_> = (0..3)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.send(&heartbeat()).await })
        })
        .collect();
    let mut reqs = Vec::new();
    for _ in 0..3 {
        reqs.push(peer.recv().await.unwrap());
    }
    assert_eq!(conn.in_flight(), 3, "all three are in flight before any answer");
    // Answer each with a distinct error code derived from its correlation id.
    for r in &reqs {
        assert_eq!((r.api_key, r.api_version), (12, 4));
        peer.heartbeat_reply(r.correlation_id, 4, 100 + r.correlation_id as i16, 0)
            .await;
    }
    let mut codes = Vec::new();
    for s in sends {
        codes.push(s.await.unwrap().unwrap().error_code);
    }
    codes.sort();
    let mut expected: Vec<i16> = reqs.iter().map(|r| 100 + r.correlation_id as i16).collect();
    expected.sort();
    assert_eq!(codes, expected);
}

#[tokio::test]
async fn eof_mid_frame_fails_every_request_in_flight_with_the_same_error() {
    let (conn, mut peer) = connected(ConnectionConfig::default()).await;
    let a = tokio::spawn({
        let c = conn.clone();
        async move { c.send(&heartbeat()).await }
    });
    let b = tokio::spawn({
        let c = conn.clone();
        async move { c.send(&heartbeat()).await }
    });
    peer.recv().await.unwrap();
    peer.recv().await.unwrap();
    peer.send_raw(&[0, 0, 0, 50, 1, 2, 3]).await; // 50-byte frame, 3 bytes of it
    drop(peer);
    let ea = a.await.unwrap().unwrap_err();
    let eb = b.await.unwrap().unwrap_err();
    assert!(matches!(ea, Error::Closed { mid_frame: true, .. }), "{ea}");
    assert_eq!(ea.to_string(), eb.to_string());
    assert!(ea.is_retriable());
    assert!(conn.is_closed());
    let later = conn.send(&heartbeat()).await.unwrap_err();
    assert_eq!(
        later.to_string(),
        ea.to_string(),
        "a poisoned connection refuses new requests"
    );
}

#[tokio::test]
async fn unknown_correlation_id_is_a_transport_error() {
    let (conn, mut peer) = connected(ConnectionConfig::default()).await;
    let send = tokio::spawn({
        let c = conn.clone();
        async move { c.send(&heartbeat()).await }
    });
    let req = peer.recv().await.unwrap();
    peer.heartbeat_reply(req.correlation_id + 1000, 4, 0, 0).await;
    let err = send.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::UnknownCorrelationId { correlation_id, .. } if correlation_id == req.correlation_id + 1000),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_and_http_frames_close_the_connection_with_a_named_cause() {
    let config = ConnectionConfig {
        max_frame_size: 1024,
        ..ConnectionConfig::default()
    };
    let (conn, mut peer) = connected(config).await;
    let send = tokio::spawn({
        let c = conn.clone();
        async move { c.send(&heartbeat()).await }
    });
    peer.recv().await.unwrap();
    peer.send_raw(&[0, 0, 0x10, 0]).await; // 4096 > 1024
    let err = send.await.unwrap().unwrap_err();
    assert!(
        err.to_string()
            .contains("frame size 4096 exceeds the maximum of 1024"),
        "{err}"
    );

    let (conn, mut peer) = connected(ConnectionConfig::default()).await;
    let send = tokio::spawn({
        let c = conn.clone();
        async move { c.send(&heartbeat()).await }
    });
    peer.recv().await.unwrap();
    peer.send_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let err = send.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("HTTP"), "{err}");
    assert!(err.is_fatal());
}

#[tokio::test]
async fn request_timeout_closes_the_connection() {
    let config = ConnectionConfig {
        request_timeout: Duration::from_millis(200),
        ..ConnectionConfig::default()
    };
    let (conn, mut peer) = connected(config).await;
    let err = conn.send(&heartbeat()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { api: "Heartbeat", .. }), "{err}");
    assert!(conn.is_closed());
    // The peer sees the connection go away.
    peer.recv().await.unwrap();
    assert!(peer.recv().await.is_none());
}

#[tokio::test]
async fn throttle_time_delays_the_next_request() {
    let (conn, mut peer) = connected(ConnectionConfig::default()).await;
    let first = tokio::spawn({
        let c = conn.clone();
        async move { c.send(&heartbeat()).await }
    });
    let req = peer.recv().await.unwrap();
    peer.heartbeat_reply(req.correlation_id, 4, 0, 300).await;
    assert_eq!(first.await.unwrap().unwrap().throttle_time_ms, 300);
    assert!(conn.throttled_until().is_some());
    let sent_at = std::time::Instant::now();
    let second = tokio::spawn({
        let c = conn.clone();
        async move { c.send(&heartbeat()).await }
    });
    let req = peer.recv().await.unwrap();
    let waited = sent_at.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "second request went out after {waited:?}"
    );
    peer.heartbeat_reply(req.correlation_id, 4, 0, 0).await;
    second.await.unwrap().unwrap();
}

#[tokio::test]
async fn connect_refused_names_the_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Connection::connect(&addr, None, ConnectionConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&addr), "{err}");
    assert!(err.is_retriable());
}
