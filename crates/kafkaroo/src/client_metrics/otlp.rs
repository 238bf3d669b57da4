//! The KIP-714 payload: an OpenTelemetry `MetricsData` message (opentelemetry-proto
//! `opentelemetry/proto/metrics/v1/metrics.proto`), written by hand. Only what the pushed metrics use
//! is encoded: one resource with string attributes, one scope, gauges and sums of double data points
//! with string attributes. Values are doubles, as Java's client sends them.

use std::time::{SystemTime, UNIX_EPOCH};

/// How a metric's value is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A value as of now (OTLP `Gauge`).
    Gauge,
    /// A monotonic counter (OTLP `Sum`, `is_monotonic`): cumulative since `start`, or, with delta
    /// temporality, the change since the previous push.
    Counter,
}

/// One data point of one metric.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    /// The full name, e.g. `org.apache.kafka.consumer.fetch.manager.records.lag.max`.
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) value: f64,
    /// Data point attributes (e.g. `topic`, `partition`).
    pub(crate) attributes: Vec<(&'static str, String)>,
}

/// What one payload covers.
pub(crate) struct Payload<'a> {
    pub(crate) resource: &'a [(&'static str, String)],
    pub(crate) points: &'a [Point],
    /// Start of the counters' interval: the consumer's creation (cumulative) or the previous push (delta).
    pub(crate) start: SystemTime,
    pub(crate) time: SystemTime,
    pub(crate) delta: bool,
}

/// OTLP `AggregationTemporality`.
const DELTA: u64 = 1;
const CUMULATIVE: u64 = 2;

/// The encoded `MetricsData`. Points of the same name form one metric, in their order.
pub(crate) fn encode(payload: &Payload<'_>) -> Vec<u8> {
    let start = unix_nanos(payload.start);
    let time = unix_nanos(payload.time);
    let mut scope_metrics = Writer::default();
    scope_metrics.message(1, |scope| {
        scope.string(1, "kafkaroo");
        scope.string(2, env!("CARGO_PKG_VERSION"));
    });
    for same in payload
        .points
        .chunk_by(|a, b| a.name == b.name && a.kind == b.kind)
    {
        scope_metrics.message(2, |metric| {
            metric.string(1, &same[0].name);
            let (field, counter) = match same[0].kind {
                Kind::Gauge => (5, false),
                Kind::Counter => (7, true),
            };
            metric.message(field, |data| {
                for p in same {
                    data.message(1, |point| {
                        point.fixed64(2, if counter { start } else { 0 });
                        point.fixed64(3, time);
                        point.double(4, p.value);
                        for (key, value) in &p.attributes {
                            point.message(7, |kv| key_value(kv, key, value));
                        }
                    });
                }
                if counter {
                    data.varint(2, if payload.delta { DELTA } else { CUMULATIVE });
                    data.varint(3, 1);
                }
            });
        });
    }
    let mut resource_metrics = Writer::default();
    resource_metrics.message(1, |resource| {
        for (key, value) in payload.resource {
            resource.message(1, |kv| key_value(kv, key, value));
        }
    });
    resource_metrics.bytes(2, &scope_metrics.buf);
    let mut out = Writer::default();
    out.bytes(1, &resource_metrics.buf);
    out.buf
}

/// OTLP `KeyValue` with a string `AnyValue`.
fn key_value(kv: &mut Writer, key: &str, value: &str) {
    kv.string(1, key);
    kv.message(2, |any| any.string(1, value));
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A protobuf writer: tags, varints, fixed64 and length-delimited fields. Nested messages are
/// written into their own buffer and copied behind their length (payloads are a few KiB).
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire_type: u8) {
        self.raw_varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    fn varint(&mut self, field: u32, v: u64) {
        self.tag(field, 0);
        self.raw_varint(v);
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        self.tag(field, 1);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn double(&mut self, field: u32, v: f64) {
        self.fixed64(field, v.to_bits());
    }

    fn bytes(&mut self, field: u32, v: &[u8]) {
        self.tag(field, 2);
        self.raw_varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    fn string(&mut self, field: u32, v: &str) {
        self.bytes(field, v.as_bytes());
    }

    fn message(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        let mut inner = Self::default();
        body(&mut inner);
        self.bytes(field, &inner.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A protobuf field as read back: (field number, value).
    #[derive(Debug, PartialEq)]
    enum Field {
        Varint(u64),
        Fixed64(u64),
        Bytes(Vec<u8>),
    }

    /// Reads one message's fields (the test's independent decoder).
    fn fields(mut b: &[u8]) -> Vec<(u32, Field)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            for shift in (0..64).step_by(7) {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    break;
                }
            }
            v
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let tag = varint(&mut b);
            let field = (tag >> 3) as u32;
            let value = match tag & 7 {
                0 => Field::Varint(varint(&mut b)),
                1 => {
                    let v = u64::from_le_bytes(b[..8].try_into().unwrap());
                    b = &b[8..];
                    Field::Fixed64(v)
                }
                2 => {
                    let len = varint(&mut b) as usize;
                    let v = b[..len].to_vec();
                    b = &b[len..];
                    Field::Bytes(v)
                }
                t => panic!("wire type {t}"),
            };
            out.push((field, value));
        }
        out
    }

    fn bytes_of(f: &(u32, Field)) -> &[u8] {
        match &f.1 {
            Field::Bytes(b) => b,
            other => panic!("not bytes: {other:?}"),
        }
    }

    #[test]
    fn varints_are_little_endian_base_128() {
        let mut w = Writer::default();
        w.raw_varint(0);
        w.raw_varint(127);
        w.raw_varint(128);
        w.raw_varint(300);
        w.raw_varint(u64::MAX);
        assert_eq!(
            w.buf,
            [
                0, 0x7f, 0x80, 0x01, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ]
        );
    }

    #[test]
    fn metrics_data_nests_resource_scope_metrics_and_points() {
        let start = UNIX_EPOCH + Duration::from_secs(100);
        let time = UNIX_EPOCH + Duration::from_secs(160);
        let points = [
            Point {
                name: "org.apache.kafka.consumer.fetch.manager.records.lag".into(),
                kind: Kind::Gauge,
                value: 4.0,
                attributes: vec![("topic", "t".into()), ("partition", "0".into())],
            },
            Point {
                name: "org.apache.kafka.consumer.fetch.manager.records.lag".into(),
                kind: Kind::Gauge,
                value: 2.0,
                attributes: vec![("topic", "t".into()), ("partition", "1".into())],
            },
            Point {
                name: "org.apache.kafka.consumer.fetch.manager.records.consumed.total".into(),
                kind: Kind::Counter,
                value: 9.0,
                attributes: vec![],
            },
        ];
        let resource = [("group_id", "g".to_owned())];
        let bytes = encode(&Payload {
            resource: &resource,
            points: &points,
            start,
            time,
            delta: false,
        });
        let top = fields(&bytes);
        assert_eq!(top.len(), 1);
        let resource_metrics = fields(bytes_of(&top[0]));
        assert_eq!(resource_metrics.len(), 2);
        let resource = fields(bytes_of(&resource_metrics[0]));
        let kv = fields(bytes_of(&resource[0]));
        assert_eq!(kv[0], (1, Field::Bytes(b"group_id".to_vec())));
        assert_eq!(fields(bytes_of(&kv[1])), [(1, Field::Bytes(b"g".to_vec()))]);
        let scope_metrics = fields(bytes_of(&resource_metrics[1]));
        assert_eq!(scope_metrics.len(), 3, "scope and two metrics");
        let lag = fields(bytes_of(&scope_metrics[1]));
        assert_eq!(lag[0].1, Field::Bytes(points[0].name.as_bytes().to_vec()));
        assert_eq!(lag[1].0, 5, "a gauge");
        let lag_points = fields(bytes_of(&lag[1]));
        assert_eq!(lag_points.len(), 2);
        let second = fields(bytes_of(&lag_points[1]));
        assert_eq!(second[0], (2, Field::Fixed64(0)));
        assert_eq!(second[1], (3, Field::Fixed64(160_000_000_000)));
        assert_eq!(second[2], (4, Field::Fixed64(2.0f64.to_bits())));
        assert_eq!(
            fields(bytes_of(&second[4]))[0],
            (1, Field::Bytes(b"partition".to_vec()))
        );
        let consumed = fields(bytes_of(&scope_metrics[2]));
        assert_eq!(consumed[1].0, 7, "a sum");
        let sum = fields(bytes_of(&consumed[1]));
        let point = fields(bytes_of(&sum[0]));
        assert_eq!(point[0], (2, Field::Fixed64(100_000_000_000)));
        assert_eq!(point[2], (4, Field::Fixed64(9.0f64.to_bits())));
        assert_eq!(sum[1], (2, Field::Varint(CUMULATIVE)));
        assert_eq!(sum[2], (3, Field::Varint(1)), "monotonic");
    }
}
