//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`), so CI replays exactly what the fuzzer ran. Each must not panic,
//! hang or allocate beyond [`FUZZ_CAP`]-ish bounds on any input.

use bytes::Bytes;

use crate::{AbortedTransactionFilter, BatchReader, DecodeOptions};

/// Decompression cap used by the fuzz entry points (kept small so bombs are cheap to detect).
pub const FUZZ_CAP: usize = 1 << 20;

/// Whole `records` region through the reader, with CRC verification on and off.
pub fn batch_decoder(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    for verify_crc in [true, false] {
        let opts = DecodeOptions::default()
            .with_verify_crc(verify_crc)
            .with_max_decompressed_batch_bytes(FUZZ_CAP);
        let mut reader = BatchReader::new(input.clone(), opts);
        let mut filter = AbortedTransactionFilter::new([(0, 0), (1, 5), (-1, 0)]);
        let mut last_next = None;
        for batch in reader.by_ref() {
            let Ok(batch) = batch else { break };
            assert!(batch.raw().len() >= crate::BATCH_HEADER_LEN);
            let _ = batch.control_record();
            let _ = filter.check(&batch);
            last_next = Some(batch.next_offset());
            let Ok(records) = batch.records() else { continue };
            // The lending path must agree with the owned one, record for record.
            let mut lent = batch.records().expect("second decode of the same batch");
            let mut n = 0usize;
            for record in records {
                let other = lent.next_ref().expect("same length");
                let Ok(record) = record else {
                    assert!(other.is_err());
                    break;
                };
                assert_eq!(other.expect("same result").to_record(), record);
                n += 1;
                let mut sum = record.offset() ^ record.timestamp();
                sum ^= record.key().map_or(-1, |k| k.len() as i64);
                sum ^= record.value().map_or(-1, |v| v.len() as i64);
                for h in record.headers() {
                    let _ = h.key_str();
                    sum ^= h.value().map_or(-1, |v| v.len() as i64);
                }
                assert_eq!(record.headers().count(), record.header_count());
                assert_eq!(record.detach(), record);
                std::hint::black_box(sum);
            }
            assert!(n <= batch.record_count().max(0) as usize);
        }
        assert_eq!(reader.next_offset(), last_next);
        assert!(reader.position() <= data.len());
    }
}

#[cfg_attr(
    not(any(
        feature = "compression-gzip",
        feature = "compression-snappy",
        feature = "compression-lz4",
        feature = "compression-zstd"
    )),
    allow(dead_code)
)]
fn check_cap<E>(r: Result<Vec<u8>, E>) {
    if let Ok(out) = r {
        assert!(out.len() <= FUZZ_CAP);
    }
}

/// gzip decompressor alone.
#[cfg(feature = "compression-gzip")]
pub fn gzip(data: &[u8]) {
    check_cap(crate::codec::gzip::decompress(data, FUZZ_CAP));
}

/// Snappy (xerial or raw) decompressor alone; raw results are checked against `snap`.
#[cfg(feature = "compression-snappy")]
pub fn snappy(data: &[u8]) {
    let ours = crate::codec::snappy::decompress(data, FUZZ_CAP);
    // The reference allocates whatever length the input claims, so only ask it about small ones.
    let small = snap::raw::decompress_len(data).is_ok_and(|n| n <= FUZZ_CAP);
    if !data.starts_with(b"\x82SNAPPY\x00")
        && small
        && let (Ok(ours), Ok(theirs)) = (&ours, snap::raw::Decoder::new().decompress_vec(data))
    {
        assert_eq!(ours, &theirs);
    }
    check_cap(ours);
}

/// LZ4 frame decompressor alone; results are checked against lz4_flex's own frame decoder
/// (which stops after the first frame, so its output must be a prefix of ours).
#[cfg(feature = "compression-lz4")]
pub fn lz4(data: &[u8]) {
    use std::io::Read;
    let ours = crate::codec::lz4::decompress(data, FUZZ_CAP);
    if let Ok(ours) = &ours {
        let mut theirs = Vec::new();
        let r = lz4_flex::frame::FrameDecoder::new(data)
            .take(FUZZ_CAP as u64 + 1)
            .read_to_end(&mut theirs);
        if r.is_ok() {
            assert!(
                ours.starts_with(&theirs),
                "lz4 output differs from lz4_flex::frame"
            );
        }
    }
    check_cap(ours);
}

/// zstd decompressor alone.
#[cfg(feature = "compression-zstd")]
pub fn zstd(data: &[u8]) {
    check_cap(crate::codec::zstd::decompress(data, FUZZ_CAP));
}
