//! Golden vectors: record batches written by real producers (Java client, librdkafka, ...) via a
//! real broker, compared against expectations written independently of this decoder.
//!
//! # Layout
//!
//! `tests/golden/` holds pairs, in any sub-directory:
//! - `NAME.log`: a Kafka log segment (e.g. `00000000000000000000.log` copied from the broker's
//!   data dir and renamed): a plain concatenation of record batches as the producers wrote them.
//! - `NAME.json`: what decoding it must give.
//!
//! A `.log` without its `.json` fails the test. With no `.log` at all the test passes and says so.
//!
//! # JSON format
//!
//! ```json
//! {
//!   "description": "java 4.0 producer, lz4, linger 5ms",         // free text, optional
//!   "batches": [                                                  // every batch, in order
//!     {
//!       "base_offset": 0,
//!       "last_offset_delta": 2,                                   // optional
//!       "compression": "none|gzip|snappy|lz4|zstd",               // optional
//!       "timestamp_type": "create|log_append",                    // optional
//!       "transactional": false,                                   // optional
//!       "producer_id": 1000,                                      // optional
//!       "producer_epoch": 0,                                      // optional
//!       "control": {"type": "abort|commit|<number>",              // control batches only
//!                   "coordinator_epoch": 0},                      // optional inside control
//!       "records": [                                              // omit or [] for control
//!         {
//!           "offset": 0,
//!           "timestamp": 1700000000000,
//!           "key": null,                                          // bytes value, see below
//!           "value": {"utf8": "hello"},
//!           "headers": [["trace", {"utf8": "a"}], ["trace", null]]  // ordered, keys may repeat
//!         }
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! A bytes value is `null`, `{"utf8": "text"}`, `{"base64": "AAEC"}` (standard alphabet, padded)
//! or a bare string as shorthand for utf8. Header keys are JSON strings.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafkaroo_records::{BatchReader, ControlType, DecodeOptions, TimestampType};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn find_logs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            find_logs(&p, out);
        } else if p.extension().is_some_and(|x| x == "log") {
            out.push(p);
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("invalid base64 character {:?}", c as char),
        }
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn bytes_value(v: &Value, what: &str) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(o) => {
            if let Some(Value::String(s)) = o.get("utf8") {
                Some(s.as_bytes().to_vec())
            } else if let Some(Value::String(s)) = o.get("base64") {
                Some(base64_decode(s))
            } else {
                panic!("{what}: expected {{\"utf8\"}} or {{\"base64\"}}, got {v}")
            }
        }
        _ => panic!("{what}: expected null, string or object, got {v}"),
    }
}

fn check_file(log: &Path) {
    let json_path = log.with_extension("json");
    let expect: Value = serde_json::from_str(
        &fs::read_to_string(&json_path)
            .unwrap_or_else(|e| panic!("{}: missing expectation file: {e}", json_path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: bad JSON: {e}", json_path.display()));
    let name = log.display().to_string();
    let data = Bytes::from(fs::read(log).expect("read .log"));
    let mut reader = BatchReader::new(data, DecodeOptions::default());
    let want_batches = expect["batches"].as_array().expect("`batches` array");
    let mut n = 0;
    for (i, batch) in reader.by_ref().enumerate() {
        let batch = batch.unwrap_or_else(|e| panic!("{name}: batch #{i}: {e}"));
        let w = want_batches
            .get(i)
            .unwrap_or_else(|| panic!("{name}: more batches than expected ({})", i + 1));
        let ctx = format!("{name}: batch #{i} (offset {})", batch.base_offset());
        assert_eq!(
            Some(batch.base_offset()),
            w["base_offset"].as_i64(),
            "{ctx}: base_offset"
        );
        if let Some(d) = w["last_offset_delta"].as_i64() {
            assert_eq!(
                i64::from(batch.header().last_offset_delta),
                d,
                "{ctx}: last_offset_delta"
            );
        }
        if let Some(c) = w["compression"].as_str() {
            assert_eq!(batch.compression().to_string(), c, "{ctx}: compression");
        }
        if let Some(t) = w["timestamp_type"].as_str() {
            let got = match batch.timestamp_type() {
                TimestampType::CreateTime => "create",
                TimestampType::LogAppendTime => "log_append",
            };
            assert_eq!(got, t, "{ctx}: timestamp_type");
        }
        if let Some(t) = w["transactional"].as_bool() {
            assert_eq!(batch.is_transactional(), t, "{ctx}: transactional");
        }
        if let Some(p) = w["producer_id"].as_i64() {
            assert_eq!(batch.header().producer_id, p, "{ctx}: producer_id");
        }
        if let Some(p) = w["producer_epoch"].as_i64() {
            assert_eq!(
                i64::from(batch.header().producer_epoch),
                p,
                "{ctx}: producer_epoch"
            );
        }
        let control = batch.control_record().unwrap_or_else(|e| panic!("{ctx}: {e}"));
        match (&w["control"], control) {
            (Value::Null, None) => {}
            (Value::Null, Some(c)) => panic!("{ctx}: unexpected control record {c:?}"),
            (wc, None) => panic!("{ctx}: expected control record {wc}"),
            (wc, Some(c)) => {
                let kind = match c.kind {
                    ControlType::Abort => Value::from("abort"),
                    ControlType::Commit => Value::from("commit"),
                    ControlType::Other(t) => Value::from(t),
                };
                assert_eq!(kind, wc["type"], "{ctx}: control type");
                if let Some(e) = wc["coordinator_epoch"].as_i64() {
                    let got = c.marker.map(|m| i64::from(m.coordinator_epoch));
                    assert_eq!(got, Some(e), "{ctx}: coordinator_epoch");
                }
            }
        }
        let empty = Vec::new();
        let want_records = w["records"].as_array().unwrap_or(&empty);
        let records: Vec<_> = batch
            .records()
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(records.len(), want_records.len(), "{ctx}: record count");
        for (r, wr) in records.iter().zip(want_records) {
            let rctx = format!("{ctx}: record at offset {}", r.offset());
            assert_eq!(Some(r.offset()), wr["offset"].as_i64(), "{rctx}: offset");
            if let Some(ts) = wr["timestamp"].as_i64() {
                assert_eq!(r.timestamp(), ts, "{rctx}: timestamp");
            }
            assert_eq!(
                r.key().map(<[u8]>::to_vec),
                bytes_value(&wr["key"], &rctx),
                "{rctx}: key"
            );
            assert_eq!(
                r.value().map(<[u8]>::to_vec),
                bytes_value(&wr["value"], &rctx),
                "{rctx}: value"
            );
            let got_headers: Vec<_> = r
                .headers()
                .map(|h| (h.key().to_vec(), h.value().map(<[u8]>::to_vec)))
                .collect();
            let want_headers: Vec<_> = wr["headers"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|h| {
                    let key = h[0].as_str().expect("header key string").as_bytes().to_vec();
                    (key, bytes_value(&h[1], &rctx))
                })
                .collect();
            assert_eq!(got_headers, want_headers, "{rctx}: headers");
        }
        n += 1;
    }
    assert_eq!(n, want_batches.len(), "{name}: batch count");
    assert!(
        reader.truncated_tail().is_none(),
        "{name}: log segment ends mid-batch"
    );
}

#[test]
fn golden_vectors_decode_exactly() {
    let mut logs = Vec::new();
    find_logs(&golden_dir(), &mut logs);
    logs.sort();
    // 18 committed: every producer (console, librdkafka, Java) and codec. Fewer means files went missing
    // and the test would check less than it claims.
    assert!(
        logs.len() >= 18,
        "only {} golden vector files under {}: the committed vectors are missing",
        logs.len(),
        golden_dir().display()
    );
    for log in &logs {
        check_file(log);
        println!("ok: {}", log.display());
    }
    println!("{} golden vector file(s) checked", logs.len());
}

#[test]
fn base64_helper() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("AAEC/w=="), [0, 1, 2, 255]);
    assert_eq!(base64_decode(""), b"");
}
