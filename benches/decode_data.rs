//! Synthetic fetch buffers for the decode benches: batches of JSON-ish events built with the
//! kafkaroo-records test encoder, so compression ratios resemble real traffic.

use bytes::Bytes;
use kafkaroo_records::Compression;
use kafkaroo_records::test_encoder::{TestBatch, TestRecord};

/// Uncompressed size of one fetch buffer per case.
pub(crate) const FETCH_BYTES: usize = 4 << 20;
/// Uncompressed records per batch target (Kafka producers default to 16 KiB batches).
pub(crate) const BATCH_BYTES: usize = 32 << 10;

/// One benchmark input.
pub(crate) struct Case {
    /// The partition's `records` bytes, as a fetch response would carry them.
    pub(crate) fetch: Bytes,
    pub(crate) records: usize,
    pub(crate) batches: usize,
    /// Sum of uncompressed records regions (what the decoder hands out).
    pub(crate) decompressed_bytes: usize,
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const EVENTS: &[&str] = &["page_view", "add_to_cart", "checkout", "search", "login", "click"];
const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
];

fn value(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut v = format!(
        r#"{{"id":{},"user":"user-{}","event":"{}","page":"/catalog/{}/item-{}","ts":{},"price":{}.{:02},"note":""#,
        rng.below(10_000_000),
        rng.below(100_000),
        EVENTS[rng.below(EVENTS.len() as u64) as usize],
        WORDS[rng.below(WORDS.len() as u64) as usize],
        rng.below(100_000),
        1_700_000_000_000u64 + rng.below(1_000_000_000),
        rng.below(500),
        rng.below(100),
    )
    .into_bytes();
    while v.len() < size {
        v.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
        v.push(b' ');
    }
    v.truncate(size.saturating_sub(2));
    v.extend_from_slice(b"\"}");
    v
}

/// Builds a fetch buffer of ~[`FETCH_BYTES`] uncompressed, `value_size`-byte values, 16-byte keys.
pub(crate) fn build(codec: Compression, value_size: usize) -> Case {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ value_size as u64);
    let per_batch = (BATCH_BYTES / (value_size + 16 + 8)).max(1);
    let mut fetch = Vec::new();
    let (mut records, mut batches, mut decompressed) = (0, 0, 0);
    let mut offset = 0i64;
    while decompressed < FETCH_BYTES {
        let recs: Vec<TestRecord> = (0..per_batch as i32)
            .map(|i| {
                let key = format!("user-{:011}", rng.below(100_000));
                let mut r = TestRecord::new(i, Some(key.as_bytes()), Some(&value(&mut rng, value_size)));
                r.timestamp_delta = i64::from(i) * 2;
                r
            })
            .collect();
        let mut b = TestBatch::new(offset, recs).compressed(codec);
        b.producer_id = 4242;
        b.producer_epoch = 0;
        b.base_sequence = offset as i32;
        decompressed += b.records_region().len();
        b.encode_into(&mut fetch);
        records += per_batch;
        batches += 1;
        offset += per_batch as i64;
    }
    Case {
        fetch: Bytes::from(fetch),
        records,
        batches,
        decompressed_bytes: decompressed,
    }
}

/// Every bench case, as `codec/value-size` names.
pub(crate) const CASES: &[&str] = &[
    "none/100",
    "none/1024",
    "gzip/100",
    "gzip/1024",
    "snappy/100",
    "snappy/1024",
    "lz4/100",
    "lz4/1024",
    "zstd/100",
    "zstd/1024",
];

/// Parses a [`CASES`] name.
pub(crate) fn parse(name: &str) -> (Compression, usize) {
    let (codec, size) = name.split_once('/').expect("codec/size");
    let codec = match codec {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => panic!("unknown codec {other}"),
    };
    (codec, size.parse().expect("size"))
}
