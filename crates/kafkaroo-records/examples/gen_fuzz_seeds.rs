//! Writes the fuzz seed corpus into `fuzz/corpus/<target>/` using the test encoder.
//!
//! `cargo run -p kafkaroo-records --example gen_fuzz_seeds --features __test-encoder`
//!
//! Seeds are deterministic and small (a few KiB each) so they can be committed.

use std::fs;
use std::path::{Path, PathBuf};

use kafkaroo_records::Compression;
use kafkaroo_records::test_encoder::{Lz4Options, TestBatch, TestRecord, compress};

fn records(n: i32, seed: u32) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let mut r = TestRecord::new(
                i,
                (i % 4 != 1)
                    .then(|| format!("user-{}", (seed + i as u32) % 17).into_bytes())
                    .as_deref(),
                (i % 5 != 3)
                    .then(|| {
                        format!(
                            r#"{{"id":{i},"event":"click","page":"/items/{}","ok":true}}"#,
                            seed.wrapping_mul(31).wrapping_add(i as u32) % 1000
                        )
                        .into_bytes()
                    })
                    .as_deref(),
            );
            r.timestamp_delta = i64::from(i) * 7;
            if i % 3 == 0 {
                r.headers = vec![
                    (b"trace-id".to_vec(), Some(b"abc".to_vec())),
                    (b"trace-id".to_vec(), Some(b"def".to_vec())),
                    (b"empty".to_vec(), None),
                ];
            }
            r
        })
        .collect()
}

fn codecs() -> [Compression; 5] {
    [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    fs::create_dir_all(dir).expect("create corpus dir");
    fs::write(dir.join(name), data).expect("write seed");
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");

    // batch_decoder: whole `records` regions.
    let dir = root.join("batch_decoder");
    for (i, codec) in codecs().into_iter().enumerate() {
        let mut data = Vec::new();
        TestBatch::new(100, records(6, i as u32))
            .compressed(codec)
            .encode_into(&mut data);
        let mut txn = TestBatch::new(106, records(3, 9)).compressed(codec);
        txn.transactional = true;
        txn.producer_id = 0;
        txn.producer_epoch = 1;
        txn.encode_into(&mut data);
        TestBatch::marker(109, 0, i % 2 == 0)
            .compressed(codec)
            .encode_into(&mut data);
        let mut lat = TestBatch::new(110, records(2, 3)).compressed(codec);
        lat.log_append_time = true;
        lat.encode_into(&mut data);
        write(&dir, &format!("{codec}-mixed"), &data);
        // Same, with a truncated tail.
        let cut = data.len() - 10;
        write(&dir, &format!("{codec}-truncated"), &data[..cut]);
    }
    let mut empty = TestBatch::new(5, vec![]);
    empty.last_offset_delta = Some(4);
    write(&dir, "empty-batch", &empty.encode());
    write(&dir, "one-record", &TestBatch::new(0, records(1, 0)).encode());

    // Per-codec targets: compressed records regions.
    let region = TestBatch::new(0, records(40, 1)).records_region();
    let small = TestBatch::new(0, records(3, 2)).records_region();
    let lz = Lz4Options::default();
    write(
        &root.join("gzip"),
        "records",
        &compress(Compression::Gzip, &region, lz, true),
    );
    let mut two = compress(Compression::Gzip, &small, lz, true);
    two.extend(compress(Compression::Gzip, &small, lz, true));
    write(&root.join("gzip"), "two-members", &two);
    write(
        &root.join("snappy"),
        "xerial",
        &compress(Compression::Snappy, &region, lz, true),
    );
    write(
        &root.join("snappy"),
        "raw",
        &compress(Compression::Snappy, &region, lz, false),
    );
    write(
        &root.join("snappy"),
        "xerial-small",
        &compress(Compression::Snappy, &small, lz, true),
    );
    for bits in 0..16u8 {
        let o = Lz4Options {
            independent: bits & 1 != 0,
            block_checksums: bits & 2 != 0,
            content_checksum: bits & 4 != 0,
            content_size: bits & 8 != 0,
        };
        let data = if bits % 4 == 0 { &region } else { &small };
        write(
            &root.join("lz4"),
            &format!("frame-{bits:02}"),
            &compress(Compression::Lz4, data, o, true),
        );
    }
    write(
        &root.join("zstd"),
        "records",
        &compress(Compression::Zstd, &region, lz, true),
    );
    write(
        &root.join("zstd"),
        "small",
        &compress(Compression::Zstd, &small, lz, true),
    );
    println!("seeds written under {}", root.display());
}
