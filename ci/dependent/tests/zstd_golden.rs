//! zstd-compressed record batches written by real producers (Kafka's Java producer, the console producer,
//! kcat/librdkafka; the golden vectors in `crates/kafkaroo-records/tests/golden/`), decoded by the zstd code
//! a dependent of kafkaroo compiles (pure Rust: this crate builds with CC=false) and compared with what
//! Kafka's own Java consumer returned for them.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafkaroo_records::{BatchReader, Compression, DecodeOptions};
use serde_json::Value;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/kafkaroo-records/tests/golden")
        .join(name)
}

/// `null`, `{"utf8": "..."}` or a bare string (the zstd vectors have no base64 values).
fn bytes_value(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(o) => Some(o["utf8"].as_str().expect("a utf8 value").as_bytes().to_vec()),
        _ => panic!("unexpected bytes value {v}"),
    }
}

/// Decodes `NAME.log` and checks every batch and record against `NAME.json`; returns the number of records
/// that came out of zstd batches.
fn check(name: &str) -> usize {
    let log = Bytes::from(std::fs::read(golden(&format!("{name}.log"))).expect("golden .log"));
    let json = std::fs::read_to_string(golden(&format!("{name}.json"))).expect("golden .json");
    let expect: Value = serde_json::from_str(&json).expect("golden JSON");
    let want_batches = expect["batches"].as_array().expect("batches");
    let mut reader = BatchReader::new(log, DecodeOptions::default());
    let mut batches = 0;
    let mut zstd_records = 0;
    for (batch, want) in reader.by_ref().zip(want_batches) {
        let batch = batch.unwrap_or_else(|e| panic!("{name}: batch #{batches}: {e}"));
        let ctx = format!("{name}: batch at offset {}", batch.base_offset());
        assert_eq!(Some(batch.base_offset()), want["base_offset"].as_i64(), "{ctx}");
        assert_eq!(
            Some(batch.compression().to_string().as_str()),
            want["compression"].as_str(),
            "{ctx}"
        );
        let records: Vec<_> = batch
            .records()
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let none = Vec::new();
        let want_records = if batch.is_control() {
            &none
        } else {
            want["records"].as_array().unwrap_or(&none)
        };
        if !batch.is_control() {
            assert_eq!(records.len(), want_records.len(), "{ctx}: record count");
        }
        for (r, w) in records.iter().zip(want_records) {
            let rctx = format!("{ctx}: record at offset {}", r.offset());
            assert_eq!(Some(r.offset()), w["offset"].as_i64(), "{rctx}");
            assert_eq!(Some(r.timestamp()), w["timestamp"].as_i64(), "{rctx}");
            assert_eq!(r.key().map(<[u8]>::to_vec), bytes_value(&w["key"]), "{rctx}: key");
            assert_eq!(
                r.value().map(<[u8]>::to_vec),
                bytes_value(&w["value"]),
                "{rctx}: value"
            );
            let headers: Vec<_> = r
                .headers()
                .map(|h| (h.key().to_vec(), h.value().map(<[u8]>::to_vec)))
                .collect();
            let want_headers: Vec<_> = w["headers"]
                .as_array()
                .unwrap_or(&none)
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().expect("header key").as_bytes().to_vec(),
                        bytes_value(&h[1]),
                    )
                })
                .collect();
            assert_eq!(headers, want_headers, "{rctx}: headers");
        }
        if batch.compression() == Compression::Zstd {
            zstd_records += records.len();
        }
        batches += 1;
    }
    assert_eq!(batches, want_batches.len(), "{name}: batch count");
    assert!(reader.truncated_tail().is_none(), "{name}: ends mid-batch");
    zstd_records
}

#[test]
fn zstd_batches_from_real_producers_decode_exactly() {
    let mut total = 0;
    for name in ["java-zstd", "java-transactions-zstd", "console-zstd", "kcat-zstd"] {
        let n = check(name);
        assert!(n > 0, "{name}: no record came out of a zstd batch");
        total += n;
    }
    println!("{total} records decoded from zstd batches");
}
