//! Allocation counts of decoding (divan's `AllocProfiler`): uncompressed decode must allocate
//! nothing per record (and nothing per batch); compressed decode allocates per batch only.
//!
//! `cargo bench -p kafkaroo-benches --bench decode_alloc`
//!
//! Read the `alloc:` rows: counts are per iteration, and one iteration decodes a whole ~4 MiB
//! fetch buffer (thousands of records), so "0" means zero per record.

use bytes::Bytes;
use divan::counter::ItemsCount;
use divan::{AllocProfiler, Bencher};
use kafkaroo_records::{BatchReader, DecodeOptions};

#[path = "decode_data.rs"]
#[allow(dead_code)] // shared with the `decode` bench, which uses all of it
mod decode_data;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn main() {
    divan::main();
}

fn decode(fetch: &Bytes) -> u64 {
    let mut sum = 0u64;
    for batch in BatchReader::new(fetch.clone(), DecodeOptions::default()) {
        for r in batch.expect("batch").records().expect("records") {
            let r = r.expect("record");
            sum = sum
                .wrapping_add(r.offset() as u64)
                .wrapping_add(r.value().map_or(0, <[u8]>::len) as u64)
                .wrapping_add(r.headers().count() as u64);
        }
    }
    sum
}

#[divan::bench(args = ["none/100", "none/1024", "lz4/100", "zstd/100"], sample_count = 20)]
fn kafkaroo(bencher: Bencher<'_, '_>, name: &str) {
    let (codec, size) = decode_data::parse(name);
    let c = decode_data::build(codec, size);
    // Make the buffer shared up front: the first slice of a Vec-backed `Bytes` allocates its
    // refcount block once, which would otherwise be charged to the first iteration.
    let fetch = c.fetch.slice(..);
    eprintln!(
        "[{name}] {} records in {} batches per iteration",
        c.records, c.batches
    );
    bencher
        .counter(ItemsCount::new(c.records))
        .bench(|| decode(divan::black_box(&fetch)));
}
