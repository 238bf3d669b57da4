//! Record batch decode throughput: kafkaroo-records vs kafka-protocol's `RecordBatchDecoder`,
//! per codec, 100 B and 1 KiB values, CRC checked by both. Every record is visited and its
//! offset, key and value lengths folded into a checksum.
//!
//! `cargo bench -p kafkaroo-benches --bench decode`
//!
//! Throughput counters: records/s (items) and decompressed bytes/s (bytes).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use kafkaroo_records::{BatchReader, Compression, DecodeOptions};

#[path = "decode_data.rs"]
mod decode_data;

use decode_data::{CASES, Case};

fn main() {
    divan::main();
}

fn case(name: &str) -> Arc<Case> {
    static CACHE: LazyLock<Mutex<HashMap<String, Arc<Case>>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().expect("cache lock");
    cache
        .entry(name.to_owned())
        .or_insert_with(|| {
            let (codec, size) = decode_data::parse(name);
            let c = decode_data::build(codec, size);
            eprintln!(
                "[{name}] {} batches, {} records, {:.2} MiB wire, {:.2} MiB decompressed (ratio {:.2})",
                c.batches,
                c.records,
                c.fetch.len() as f64 / (1 << 20) as f64,
                c.decompressed_bytes as f64 / (1 << 20) as f64,
                c.decompressed_bytes as f64 / c.fetch.len() as f64,
            );
            Arc::new(c)
        })
        .clone()
}

#[inline]
fn fold(sum: u64, offset: i64, key: Option<usize>, value: Option<usize>) -> u64 {
    sum.rotate_left(5)
        ^ (offset as u64)
        ^ key.map_or(u64::MAX, |k| k as u64)
        ^ (value.map_or(u64::MAX, |v| v as u64) << 20)
}

/// The decode loop a consumer runs: batches, then records, touching key/value.
fn decode_ours(fetch: &Bytes, opts: DecodeOptions) -> (u64, usize) {
    let mut sum = 0u64;
    let mut n = 0;
    for batch in BatchReader::new(fetch.clone(), opts) {
        let batch = batch.expect("valid batch");
        for r in batch.records().expect("valid records") {
            let r = r.expect("valid record");
            sum = fold(
                sum,
                r.offset(),
                r.key().map(<[u8]>::len),
                r.value().map(<[u8]>::len),
            );
            n += 1;
        }
    }
    (sum, n)
}

/// Same loop through the lending `next_ref` (no per-record refcount traffic).
fn decode_ours_ref(fetch: &Bytes, opts: DecodeOptions) -> (u64, usize) {
    let mut sum = 0u64;
    let mut n = 0;
    for batch in BatchReader::new(fetch.clone(), opts) {
        let mut records = batch.expect("valid batch").records().expect("valid records");
        while let Some(r) = records.next_ref() {
            let r = r.expect("valid record");
            sum = fold(
                sum,
                r.offset(),
                r.key().map(<[u8]>::len),
                r.value().map(<[u8]>::len),
            );
            n += 1;
        }
    }
    (sum, n)
}

fn decode_kafka_protocol(fetch: &Bytes) -> (u64, usize) {
    use kafka_protocol::records::{Compression as KpCompression, RecordBatchDecoder};
    let mut buf = fetch.clone();
    let mut sum = 0u64;
    let mut n = 0;
    // kafka-protocol is built without its (C) codecs here: inject ours for compressed batches.
    let inject = |data: &mut Bytes, c: KpCompression| -> anyhow::Result<Bytes> {
        let codec = match c {
            KpCompression::None => Compression::None,
            KpCompression::Gzip => Compression::Gzip,
            KpCompression::Snappy => Compression::Snappy,
            KpCompression::Lz4 => Compression::Lz4,
            KpCompression::Zstd => Compression::Zstd,
        };
        if codec == Compression::None {
            return Ok(data.clone());
        }
        Ok(kafkaroo_records::decompress(codec, data, 64 << 20, -1)?)
    };
    while !buf.is_empty() {
        let set = RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(inject))
            .expect("kafka-protocol decode");
        for r in &set.records {
            sum = fold(
                sum,
                r.offset,
                r.key.as_ref().map(Bytes::len),
                r.value.as_ref().map(Bytes::len),
            );
            n += 1;
        }
    }
    (sum, n)
}

#[divan::bench(args = CASES)]
fn kafkaroo(bencher: Bencher<'_, '_>, name: &str) {
    let c = case(name);
    bencher
        .counter(ItemsCount::new(c.records))
        .counter(BytesCount::new(c.decompressed_bytes))
        .bench(|| decode_ours(divan::black_box(&c.fetch), DecodeOptions::default()));
}

/// Owned-free iteration via `Records::next_ref`.
#[divan::bench(args = CASES)]
fn kafkaroo_ref(bencher: Bencher<'_, '_>, name: &str) {
    let c = case(name);
    assert_eq!(
        decode_ours_ref(&c.fetch, DecodeOptions::default()),
        decode_ours(&c.fetch, DecodeOptions::default())
    );
    bencher
        .counter(ItemsCount::new(c.records))
        .counter(BytesCount::new(c.decompressed_bytes))
        .bench(|| decode_ours_ref(divan::black_box(&c.fetch), DecodeOptions::default()));
}

/// `next_ref`, CRC verification off: shows what the check costs.
#[divan::bench(args = ["none/100", "none/1024"])]
fn kafkaroo_ref_no_crc(bencher: Bencher<'_, '_>, name: &str) {
    let c = case(name);
    bencher
        .counter(ItemsCount::new(c.records))
        .counter(BytesCount::new(c.decompressed_bytes))
        .bench(|| {
            decode_ours_ref(
                divan::black_box(&c.fetch),
                DecodeOptions::default().with_verify_crc(false),
            )
        });
}

#[divan::bench(args = CASES)]
fn kafka_protocol(bencher: Bencher<'_, '_>, name: &str) {
    let c = case(name);
    assert_eq!(
        decode_kafka_protocol(&c.fetch),
        decode_ours(&c.fetch, DecodeOptions::default())
    );
    bencher
        .counter(ItemsCount::new(c.records))
        .counter(BytesCount::new(c.decompressed_bytes))
        .bench(|| decode_kafka_protocol(divan::black_box(&c.fetch)));
}
