//! Decoding allocates nothing per record (the `decode_alloc` bench measures; this test asserts): an
//! uncompressed fetch buffer decodes with no allocation at all, and a compressed one with a number of
//! allocations that depends on the batches, not on how many records they hold.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use kafkaroo_records::test_encoder::{TestBatch, TestRecord};
use kafkaroo_records::{BatchReader, Compression, DecodeOptions};

/// Counts allocations (and reallocations) made on a thread while it has counting on: the test
/// harness runs tests on several threads at once, and only the decoding thread's allocations count.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

#[allow(unsafe_code)]
// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `batches` batches of `per_batch` records (keys, values, a header-free shape like real events).
fn fetch_buffer(batches: usize, per_batch: usize, codec: Compression) -> Bytes {
    let mut out = Vec::new();
    for b in 0..batches {
        let records = (0..per_batch as i32)
            .map(|i| {
                let value = format!("{{\"event\":\"page_view\",\"user\":{i},\"batch\":{b}}}");
                TestRecord::new(i, Some(format!("user-{i}").as_bytes()), Some(value.as_bytes()))
            })
            .collect();
        TestBatch::new((b * per_batch) as i64, records)
            .compressed(codec)
            .encode_into(&mut out);
    }
    Bytes::from(out)
}

/// Decodes every record of `fetch`; returns (records seen, allocations made while decoding).
fn decode_counting(fetch: &Bytes) -> (usize, usize) {
    COUNTING.with(|c| c.set(true));
    let before = ALLOCATIONS.with(Cell::get);
    let mut records = 0;
    let mut checksum = 0usize;
    for batch in BatchReader::new(fetch.clone(), DecodeOptions::default()) {
        for record in batch.expect("batch").records().expect("records") {
            let record = record.expect("record");
            checksum = checksum
                .wrapping_add(record.offset() as usize)
                .wrapping_add(record.value().map_or(0, <[u8]>::len))
                .wrapping_add(record.headers().count());
            records += 1;
        }
    }
    std::hint::black_box(checksum);
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    COUNTING.with(|c| c.set(false));
    (records, allocations)
}

#[test]
fn uncompressed_decoding_allocates_nothing() {
    let fetch = fetch_buffer(50, 200, Compression::None);
    let (records, allocations) = decode_counting(&fetch);
    assert_eq!(records, 10_000);
    assert_eq!(
        allocations, 0,
        "{allocations} allocations for {records} uncompressed records"
    );
}

#[test]
fn compressed_decoding_allocates_per_batch_not_per_record() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let (small_records, small) = decode_counting(&fetch_buffer(20, 50, codec));
        let (large_records, large) = decode_counting(&fetch_buffer(20, 500, codec));
        assert_eq!((small_records, large_records), (1_000, 10_000));
        // Decompression buffers are allocated: a counter that saw none would not be counting.
        assert!(small > 0, "{codec:?}: no allocation counted");
        // Ten times the records in the same 20 batches: the decompression buffers grow, the count
        // of allocations must not grow with the records (a few reallocations of a bigger buffer).
        assert!(
            large <= small + 20 * 4,
            "{codec:?}: {small} allocations for 1,000 records but {large} for 10,000 in as many batches"
        );
        assert!(
            large < large_records / 10,
            "{codec:?}: {large} allocations for {large_records} records"
        );
    }
}
