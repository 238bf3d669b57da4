//! Decoder tests against the test encoder: exact round trips, corruption, truncation.

use bytes::Bytes;
use proptest::prelude::*;

use crate::test_encoder::{Lz4Options, TestBatch, TestRecord};
use crate::*;

/// Every codec compiled in.
fn codecs() -> Vec<Compression> {
    let mut v = vec![Compression::None];
    if cfg!(feature = "compression-gzip") {
        v.push(Compression::Gzip);
    }
    if cfg!(feature = "compression-snappy") {
        v.push(Compression::Snappy);
    }
    if cfg!(feature = "compression-lz4") {
        v.push(Compression::Lz4);
    }
    if cfg!(feature = "compression-zstd") {
        v.push(Compression::Zstd);
    }
    v
}

fn reader(data: Vec<u8>) -> BatchReader {
    BatchReader::new(Bytes::from(data), DecodeOptions::default())
}

/// Decoded view of a record, for exact comparisons.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn decoded(r: &Record) -> Decoded {
    Decoded {
        offset: r.offset(),
        timestamp: r.timestamp(),
        key: r.key().map(<[u8]>::to_vec),
        value: r.value().map(<[u8]>::to_vec),
        headers: r
            .headers()
            .map(|h| (h.key().to_vec(), h.value().map(<[u8]>::to_vec)))
            .collect(),
    }
}

fn expected(b: &TestBatch) -> Vec<Decoded> {
    if b.control {
        return vec![];
    }
    let max_ts = b
        .max_timestamp
        .unwrap_or_else(|| b.base_timestamp + b.records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0));
    b.records
        .iter()
        .map(|r| Decoded {
            offset: b.base_offset + i64::from(r.offset_delta),
            timestamp: if b.log_append_time {
                max_ts
            } else {
                b.base_timestamp + r.timestamp_delta
            },
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        })
        .collect()
}

fn decode_all(data: Vec<u8>) -> Result<Vec<(BatchHeader, Vec<Decoded>)>, DecodeError> {
    let mut out = Vec::new();
    for batch in reader(data) {
        let batch = batch?;
        let recs = batch
            .records()?
            .map(|r| r.map(|r| decoded(&r)))
            .collect::<Result<Vec<_>, _>>()?;
        out.push((*batch.header(), recs));
    }
    Ok(out)
}

fn sample_records(n: i32) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let mut r = TestRecord::new(
                i,
                Some(format!("key-{i}").as_bytes()),
                Some(format!("{{\"id\":{i},\"payload\":\"value number {i}\"}}").as_bytes()),
            );
            r.timestamp_delta = i64::from(i) * 3;
            if i % 3 == 0 {
                r.headers = vec![
                    (b"trace".to_vec(), Some(b"a".to_vec())),
                    (b"trace".to_vec(), Some(b"b".to_vec())),
                    (b"nullv".to_vec(), None),
                ];
            }
            r
        })
        .collect()
}

#[test]
fn uncompressed_round_trip_exact() {
    let mut b = TestBatch::new(100, sample_records(5));
    b.partition_leader_epoch = 7;
    b.producer_id = 42;
    b.producer_epoch = 3;
    b.base_sequence = 11;
    b.records[1].key = None;
    b.records[2].value = None;
    let data = b.encode();
    let got = decode_all(data.clone()).unwrap();
    assert_eq!(got.len(), 1);
    let (h, recs) = &got[0];
    assert_eq!(h.base_offset, 100);
    assert_eq!(h.batch_length as usize, data.len() - 12);
    assert_eq!(h.partition_leader_epoch, 7);
    assert_eq!(h.magic, 2);
    assert_eq!(h.crc, crc32c::crc32c(&data[21..]));
    assert_eq!(h.last_offset_delta, 4);
    assert_eq!(h.max_timestamp, b.base_timestamp + 12);
    assert_eq!(h.producer_id, 42);
    assert_eq!(h.producer_epoch, 3);
    assert_eq!(h.base_sequence, 11);
    assert_eq!(h.record_count, 5);
    assert_eq!(h.next_offset(), 105);
    assert_eq!(recs, &expected(&b));
    assert_eq!(recs[1].key, None);
    assert_eq!(recs[2].value, None);
    assert_eq!(
        recs[0].headers,
        vec![
            (b"trace".to_vec(), Some(b"a".to_vec())),
            (b"trace".to_vec(), Some(b"b".to_vec())),
            (b"nullv".to_vec(), None)
        ]
    );
}

#[test]
fn uncompressed_values_are_slices_of_the_input() {
    let data = Bytes::from(TestBatch::new(0, sample_records(3)).encode());
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let batch = BatchReader::new(data.clone(), DecodeOptions::default())
        .next()
        .unwrap()
        .unwrap();
    for r in batch.records().unwrap() {
        let r = r.unwrap();
        let v = r.value_bytes().unwrap();
        assert!(range.contains(&(v.as_ptr() as usize)), "value was copied");
        let k = r.key_bytes().unwrap();
        assert!(range.contains(&(k.as_ptr() as usize)), "key was copied");
        let d = r.detach();
        assert!(!range.contains(&(d.value().unwrap().as_ptr() as usize)));
        assert_eq!(d, r);
    }
}

#[test]
fn next_ref_matches_owned_iteration() {
    for codec in codecs() {
        let b = TestBatch::new(11, sample_records(30)).compressed(codec);
        let batch = reader(b.encode()).next().unwrap().unwrap();
        let owned: Vec<Record> = batch.records().unwrap().map(Result::unwrap).collect();
        let mut records = batch.records().unwrap();
        let mut i = 0;
        while let Some(r) = records.next_ref() {
            let r = r.unwrap();
            let o = &owned[i];
            assert_eq!(r.offset(), o.offset());
            assert_eq!(r.timestamp(), o.timestamp());
            assert_eq!(r.key(), o.key());
            assert_eq!(r.value(), o.value());
            assert_eq!(r.value_bytes(), o.value_bytes());
            assert_eq!(r.key_bytes(), o.key_bytes());
            assert!(
                r.headers()
                    .map(|h| (h.key(), h.value()))
                    .eq(o.headers().map(|h| (h.key(), h.value())))
            );
            assert_eq!(&r.to_record(), o);
            assert_eq!(r.encoded_len(), o.encoded_len());
            i += 1;
        }
        assert_eq!(i, 30);
        assert!(records.next_ref().is_none());
        assert_eq!(
            owned[0].last_header(b"trace").and_then(|h| h.value_bytes()),
            Some(Bytes::from_static(b"b"))
        );
    }
}

#[test]
fn every_codec_round_trips() {
    for codec in codecs() {
        let b = TestBatch::new(7, sample_records(50)).compressed(codec);
        let got = decode_all(b.encode()).unwrap();
        assert_eq!(got[0].0.attributes.compression_id(), codec.id());
        assert_eq!(got[0].1, expected(&b), "{codec}");
    }
}

#[cfg(feature = "compression-lz4")]
#[test]
fn lz4_frame_variants_round_trip() {
    // > 64 KiB so the frame has several blocks (linked blocks reference earlier ones).
    let records = sample_records(2000);
    for bits in 0..16u8 {
        let mut b = TestBatch::new(0, records.clone()).compressed(Compression::Lz4);
        b.lz4 = Lz4Options {
            independent: bits & 1 != 0,
            block_checksums: bits & 2 != 0,
            content_checksum: bits & 4 != 0,
            content_size: bits & 8 != 0,
        };
        let got = decode_all(b.encode()).unwrap();
        assert_eq!(got[0].1, expected(&b), "lz4 {:?}", b.lz4);
    }
}

#[cfg(feature = "compression-snappy")]
#[test]
fn snappy_raw_and_multi_chunk_xerial() {
    let records = sample_records(1500); // > 32 KiB: several xerial chunks
    for xerial in [true, false] {
        let mut b = TestBatch::new(0, records.clone()).compressed(Compression::Snappy);
        b.snappy_xerial = xerial;
        assert_eq!(decode_all(b.encode()).unwrap()[0].1, expected(&b));
    }
}

#[cfg(feature = "compression-gzip")]
#[test]
fn gzip_multi_member() {
    use crate::test_encoder::compress;
    let region = TestBatch::new(0, sample_records(10)).records_region();
    let (a, b) = region.split_at(region.len() / 2);
    let mut gz = compress(Compression::Gzip, a, Lz4Options::default(), true);
    gz.extend(compress(Compression::Gzip, b, Lz4Options::default(), true));
    let out = codec::gzip::decompress(&gz, 1 << 20).unwrap();
    assert_eq!(out, region);
}

/// Concatenated and skippable frames / streams decode as one buffer.
#[test]
fn concatenated_and_skippable_frames() {
    use crate::test_encoder::compress;
    let region = TestBatch::new(0, sample_records(6)).records_region();
    let (a, b) = region.split_at(region.len() / 3);
    let lz = Lz4Options::default();
    let skippable = |magic: u32| {
        let mut v = magic.to_le_bytes().to_vec();
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(b"xyz");
        v
    };
    let mut cases = Vec::new();
    if cfg!(feature = "compression-lz4") {
        let mut v = skippable(0x184D_2A55);
        v.extend(compress(Compression::Lz4, a, lz, true));
        v.extend(compress(Compression::Lz4, b, lz, true));
        cases.push((Compression::Lz4, v));
    }
    if cfg!(feature = "compression-zstd") {
        let mut v = compress(Compression::Zstd, a, lz, true);
        v.extend(skippable(0x184D_2A50));
        v.extend(compress(Compression::Zstd, b, lz, true));
        cases.push((Compression::Zstd, v));
    }
    if cfg!(feature = "compression-snappy") {
        let mut v = compress(Compression::Snappy, a, lz, true);
        v.extend(compress(Compression::Snappy, b, lz, true));
        cases.push((Compression::Snappy, v));
    }
    for (codec, data) in cases {
        let out = decompress(codec, &data, 1 << 20, 0).unwrap();
        assert_eq!(&out[..], &region[..], "{codec}");
        // Trailing garbage is corruption, not silently ignored.
        let mut bad = data.clone();
        bad.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x01]);
        assert!(
            matches!(
                decompress(codec, &bad, 1 << 20, 9),
                Err(DecodeError::Decompression { offset: 9, .. })
            ),
            "{codec}"
        );
    }
}

#[cfg(feature = "compression-lz4")]
#[test]
fn lz4_declared_content_size_over_cap_fails_before_decoding() {
    let region = TestBatch::new(0, sample_records(20)).records_region();
    let lz = Lz4Options {
        content_size: true,
        ..Lz4Options::default()
    };
    let data = test_encoder::compress(Compression::Lz4, &region, lz, true);
    assert_eq!(
        decompress(Compression::Lz4, &data, region.len() - 1, 3),
        Err(DecodeError::DecompressedTooLarge {
            codec: Compression::Lz4,
            offset: 3,
            cap: region.len() - 1
        })
    );
    assert_eq!(
        &decompress(Compression::Lz4, &data, region.len(), 3).unwrap()[..],
        &region[..]
    );
}

#[test]
fn log_append_time_uses_max_timestamp() {
    for codec in codecs() {
        let mut b = TestBatch::new(0, sample_records(4)).compressed(codec);
        b.log_append_time = true;
        b.max_timestamp = Some(1_800_000_000_000);
        let got = decode_all(b.encode()).unwrap();
        assert!(got[0].1.iter().all(|r| r.timestamp == 1_800_000_000_000));
        let batch = reader(b.encode()).next().unwrap().unwrap();
        assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
        let r = batch.records().unwrap().next().unwrap().unwrap();
        assert_eq!(r.timestamp_type(), TimestampType::LogAppendTime);
    }
}

#[test]
fn next_offset_uses_last_offset_delta_even_when_empty() {
    let mut b = TestBatch::new(50, vec![]);
    b.last_offset_delta = Some(9);
    let mut data = b.encode();
    TestBatch::new(60, sample_records(1)).encode_into(&mut data);
    let mut r = reader(data);
    let empty = r.next().unwrap().unwrap();
    assert_eq!(empty.next_offset(), 60);
    assert_eq!(empty.records().unwrap().count(), 0);
    let second = r.next().unwrap().unwrap();
    assert_eq!(second.base_offset(), 60);
    assert!(r.next().is_none());
    assert_eq!(r.next_offset(), Some(61));
    assert_eq!(r.truncated_tail(), None);
}

#[test]
fn control_batches_yield_no_records_but_expose_the_marker() {
    for codec in codecs() {
        for abort in [true, false] {
            let b = TestBatch::marker(30, 77, abort).compressed(codec);
            let batch = reader(b.encode()).next().unwrap().unwrap();
            assert!(batch.is_control());
            assert_eq!(batch.records().unwrap().count(), 0);
            let c = batch.control_record().unwrap().unwrap();
            assert_eq!(c.offset, 30);
            assert_eq!(
                c.kind,
                if abort {
                    ControlType::Abort
                } else {
                    ControlType::Commit
                }
            );
            assert_eq!(
                c.marker,
                Some(EndTxnMarker {
                    version: 0,
                    coordinator_epoch: 5
                })
            );
            assert_eq!(batch.next_offset(), 31);
        }
    }
    // Data batches have no control record.
    let batch = reader(TestBatch::new(0, sample_records(1)).encode())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.control_record(), Ok(None));
}

#[test]
fn bad_control_record_is_an_error() {
    let mut b = TestBatch::marker(3, 1, true);
    b.records[0].key = Some(vec![0, 0, 0]);
    let batch = reader(b.encode()).next().unwrap().unwrap();
    assert_eq!(
        batch.control_record(),
        Err(DecodeError::InvalidControlRecord {
            offset: 3,
            reason: "key shorter than 4 bytes"
        })
    );
}

#[test]
fn read_committed_filter_on_real_batches() {
    // pid 1: aborted txn at 0..=1, marker 2. pid 2: committed txn 3, marker 4. pid 1 again: 5 committed.
    let mut data = Vec::new();
    let txn = |base: i64, pid: i64| {
        let mut b = TestBatch::new(base, sample_records(1));
        b.transactional = true;
        b.producer_id = pid;
        b.producer_epoch = 0;
        b
    };
    let mut two = txn(0, 1);
    two.records = sample_records(2);
    two.encode_into(&mut data);
    TestBatch::marker(2, 1, true).encode_into(&mut data);
    txn(3, 2).encode_into(&mut data);
    TestBatch::marker(4, 2, false).encode_into(&mut data);
    txn(5, 1).encode_into(&mut data);
    let mut f = AbortedTransactionFilter::new([(1, 0)]);
    let verdicts: Vec<_> = reader(data).map(|b| f.check(&b.unwrap()).unwrap()).collect();
    use BatchVerdict::*;
    assert_eq!(
        verdicts,
        vec![SkipAborted, SkipControl, Deliver, SkipControl, Deliver]
    );
}

#[test]
fn crc_mismatch_names_offset_and_does_not_advance() {
    let mut data = TestBatch::new(0, sample_records(2)).encode();
    let first_len = data.len();
    TestBatch::new(2, sample_records(2)).encode_into(&mut data);
    // Flip one byte inside the second batch's records.
    let last = data.len() - 3;
    data[last] ^= 0x40;
    let mut r = reader(data.clone());
    assert!(r.next().unwrap().is_ok());
    let err = r.next().unwrap().unwrap_err();
    assert!(matches!(err, DecodeError::CrcMismatch { offset: 2, .. }), "{err}");
    assert!(err.is_corrupt());
    assert_eq!(err.offset(), 2);
    assert!(err.to_string().contains("offset 2"), "{err}");
    assert!(r.next().is_none(), "iteration ends with the error");
    assert!(r.failed());
    assert_eq!(r.position(), first_len, "reader stays at the bad batch");
    assert_eq!(r.next_offset(), Some(2));
    // The same bytes decode with CRC checking off.
    let r = BatchReader::new(Bytes::from(data), DecodeOptions::default().with_verify_crc(false));
    assert_eq!(r.count(), 2);
}

#[test]
fn flipping_any_crc_covered_byte_is_detected() {
    let data = TestBatch::new(9, sample_records(3)).encode();
    for i in 17..data.len() {
        let mut d = data.clone();
        d[i] ^= 0x01;
        let err = reader(d).next().unwrap().unwrap_err();
        assert!(
            matches!(err, DecodeError::CrcMismatch { offset: 9, .. }),
            "byte {i}: {err}"
        );
    }
}

#[test]
fn truncated_tail_at_every_position_stops_cleanly() {
    let mut data = TestBatch::new(0, sample_records(3)).encode();
    let first = data.len();
    TestBatch::new(3, sample_records(4)).encode_into(&mut data);
    for cut in 0..data.len() {
        let mut r = reader(data[..cut].to_vec());
        let batches: Vec<_> = r.by_ref().collect::<Result<_, _>>().unwrap();
        let want = usize::from(cut >= first);
        assert_eq!(batches.len(), want, "cut at {cut}");
        if want == 1 {
            assert_eq!(batches[0].records().unwrap().count(), 3);
        }
        if cut == 0 || cut == first {
            assert_eq!(r.truncated_tail(), None, "cut at {cut}");
        } else {
            let t = r.truncated_tail().expect("truncated tail");
            let start = if cut > first { first } else { 0 };
            assert_eq!(t.position, start);
            assert_eq!(t.available, cut - start);
            if t.available >= 12 {
                assert_eq!(
                    t.needed,
                    Some(if start == 0 { first } else { data.len() - first })
                );
            }
        }
    }
}

#[test]
fn legacy_magic_is_rejected() {
    let mut data = TestBatch::new(5, sample_records(1)).encode();
    for magic in [0u8, 1, 3, 0xff] {
        data[16] = magic;
        let err = reader(data.clone()).next().unwrap().unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnsupportedMagic {
                magic: magic as i8,
                offset: 5
            }
        );
        assert!(!err.is_corrupt());
    }
}

#[test]
fn bad_batch_lengths() {
    let mut data = TestBatch::new(5, sample_records(1)).encode();
    for len in [-1i32, 0, 48, i32::MIN] {
        data[8..12].copy_from_slice(&len.to_be_bytes());
        let err = reader(data.clone()).next().unwrap().unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidBatchLength {
                length: len,
                offset: 5
            }
        );
    }
    // A huge length is a truncated tail, not an allocation.
    data[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut r = reader(data);
    assert!(r.next().is_none());
    assert_eq!(r.truncated_tail().unwrap().needed, Some(12 + i32::MAX as usize));
}

#[test]
fn unknown_codec_is_typed() {
    let mut b = TestBatch::new(4, sample_records(1));
    b.compression = Compression::None;
    let mut data = b.encode();
    data[22] |= 0x07; // codec id 7
    let crc = crc32c::crc32c(&data[21..]);
    data[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        reader(data).next().unwrap().unwrap_err(),
        DecodeError::UnknownCompression {
            codec_id: 7,
            offset: 4
        }
    );
}

/// Rebuilds a batch around a hand-made records region (correct CRC and length).
fn with_region(count: i32, region: &[u8]) -> Vec<u8> {
    let mut b = TestBatch::new(1000, vec![]);
    b.record_count = Some(count);
    let mut data = b.encode();
    data.extend_from_slice(region);
    let len = (data.len() - 12) as i32;
    data[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&data[21..]);
    data[17..21].copy_from_slice(&crc.to_be_bytes());
    data
}

fn first_record_error(count: i32, region: &[u8]) -> DecodeError {
    let batch = reader(with_region(count, region)).next().unwrap().unwrap();
    batch
        .records()
        .and_then(|rs| rs.collect::<Result<Vec<_>, _>>())
        .unwrap_err()
}

#[test]
fn malformed_records_are_errors() {
    let rec = |body: &[u8]| {
        let mut v = Vec::new();
        crate::varint::write_varint(&mut v, body.len() as i32);
        v.extend_from_slice(body);
        v
    };
    let malformed = |kind| DecodeError::MalformedRecord {
        offset: 1000,
        index: 0,
        kind,
    };
    use RecordErrorKind::*;
    // attrs, ts, offset delta, key len, value len, header count
    let good = [0u8, 0, 0, 2, b'k', 2, b'v', 0];
    assert_eq!(
        reader(with_region(1, &rec(&good)))
            .next()
            .unwrap()
            .unwrap()
            .records()
            .unwrap()
            .count(),
        1
    );
    let cases: Vec<(i32, Vec<u8>, DecodeError)> = vec![
        (1, vec![0x80], malformed(BadVarint)),
        (1, vec![0xff, 0xff, 0xff, 0xff, 0xff, 0x01], malformed(BadVarint)),
        (1, vec![0x01], malformed(NegativeLength)),
        (1, vec![0x10, 0, 0], malformed(LengthPastEnd)),
        (1, rec(&[]), malformed(FieldPastEnd)),
        (1, rec(&[0, 0, 0, 0x20, b'k']), malformed(FieldPastEnd)),
        (1, rec(&[0, 0, 0, 0x03]), malformed(InvalidFieldLength)),
        (1, rec(&[0, 0, 0, 1, 1, 0x01]), malformed(NegativeHeaderCount)),
        // header with null key
        (1, rec(&[0, 0, 0, 1, 1, 2, 1, 1]), malformed(InvalidFieldLength)),
        // header count lies (claims 100)
        (1, rec(&[0, 0, 0, 1, 1, 200, 1]), malformed(BadVarint)),
        (1, rec(&[0, 0, 0, 1, 1, 0x7e]), malformed(BadVarint)),
        (1, rec(&[0, 0, 0, 1, 1, 2, 0x20, b'k']), malformed(FieldPastEnd)),
        // length says more than the fields use
        (1, rec(&[0, 0, 0, 1, 1, 0, 0]), malformed(LengthMismatch)),
        (
            1,
            rec(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0]),
            malformed(BadVarint),
        ),
        (
            2,
            rec(&good),
            DecodeError::RecordCountMismatch {
                declared: 2,
                trailing_bytes: false,
                offset: 1000,
            },
        ),
        (
            1,
            [rec(&good), rec(&good)].concat(),
            DecodeError::RecordCountMismatch {
                declared: 1,
                trailing_bytes: true,
                offset: 1000,
            },
        ),
        (
            i32::MAX,
            rec(&good),
            DecodeError::RecordCountMismatch {
                declared: i32::MAX,
                trailing_bytes: false,
                offset: 1000,
            },
        ),
        (
            -1,
            vec![],
            DecodeError::InvalidRecordCount {
                count: -1,
                offset: 1000,
            },
        ),
    ];
    for (count, region, want) in cases {
        assert_eq!(first_record_error(count, &region), want, "region {region:x?}");
    }
}

#[test]
fn decompressed_size_cap_is_enforced() {
    for codec in codecs().into_iter().filter(|c| *c != Compression::None) {
        let b = TestBatch::new(77, sample_records(200)).compressed(codec);
        let region_len = b.records_region().len();
        let data = Bytes::from(b.encode());
        let at = |cap| {
            BatchReader::new(
                data.clone(),
                DecodeOptions::default().with_max_decompressed_batch_bytes(cap),
            )
            .next()
            .unwrap()
            .unwrap()
            .records()
            .map(|r| r.count())
        };
        assert_eq!(at(region_len), Ok(200), "{codec} at exact cap");
        let err = at(region_len - 1).unwrap_err();
        assert_eq!(
            err,
            DecodeError::DecompressedTooLarge {
                codec,
                offset: 77,
                cap: region_len - 1
            }
        );
        assert!(err.to_string().contains("offset 77"));
    }
}

#[test]
fn corrupt_compressed_region_is_an_error_not_a_panic() {
    for codec in codecs().into_iter().filter(|c| *c != Compression::None) {
        let b = TestBatch::new(3, sample_records(20)).compressed(codec);
        let data = b.encode();
        for i in (61..data.len()).step_by(3) {
            let mut d = data.clone();
            d[i] = d[i].wrapping_add(0x5b);
            let r = BatchReader::new(Bytes::from(d), DecodeOptions::default().with_verify_crc(false));
            for batch in r {
                if let Ok(recs) = batch.unwrap().records() {
                    for rec in recs {
                        let _ = rec.map(|r| r.value().map(<[u8]>::len));
                    }
                }
            }
        }
    }
}

// ---- property tests ----

fn arb_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        4 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Some),
    ]
}

fn arb_record() -> impl Strategy<Value = TestRecord> {
    (
        any::<i8>(),
        any::<i32>().prop_map(i64::from),
        arb_bytes(),
        arb_bytes(),
        prop::collection::vec(
            (
                prop::sample::select(vec![b"a".to_vec(), b"b".to_vec(), "ü".as_bytes().to_vec()]),
                arb_bytes(),
            ),
            0..4,
        ),
    )
        .prop_map(|(attributes, timestamp_delta, key, value, headers)| TestRecord {
            attributes,
            timestamp_delta,
            offset_delta: 0,
            key,
            value,
            headers,
        })
}

prop_compose! {
    fn arb_batch()(
        base_offset in 0i64..1 << 40,
        records in prop::collection::vec(arb_record(), 0..30),
        codec in prop::sample::select(codecs()),
        log_append_time: bool,
        transactional: bool,
        producer_id in -1i64..1000,
        base_timestamp in 0i64..1 << 42,
        gaps in prop::collection::vec(1i32..5, 30),
        lz4_bits in 0u8..16,
        snappy_xerial: bool,
    ) -> TestBatch {
        let mut b = TestBatch::new(base_offset, records).compressed(codec);
        let mut delta = 0;
        for (r, gap) in b.records.iter_mut().zip(gaps) {
            r.offset_delta = delta;
            delta += gap; // compaction-like gaps
        }
        b.log_append_time = log_append_time;
        b.transactional = transactional;
        b.producer_id = producer_id;
        b.base_timestamp = base_timestamp;
        b.snappy_xerial = snappy_xerial;
        b.lz4 = Lz4Options {
            independent: lz4_bits & 1 != 0,
            block_checksums: lz4_bits & 2 != 0,
            content_checksum: lz4_bits & 4 != 0,
            content_size: lz4_bits & 8 != 0,
        };
        b
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batches_round_trip(batches in prop::collection::vec(arb_batch(), 1..4), marker_abort: bool) {
        let mut batches = batches;
        // Sometimes append a control batch.
        let next = batches.last().map_or(0, |b| b.base_offset + 100);
        batches.push(TestBatch::marker(next, 1, marker_abort));
        let mut data = Vec::new();
        let mut boundaries = vec![0];
        for b in &batches {
            b.encode_into(&mut data);
            boundaries.push(data.len());
        }
        let got = decode_all(data.clone()).unwrap();
        prop_assert_eq!(got.len(), batches.len());
        for ((h, recs), b) in got.iter().zip(&batches) {
            prop_assert_eq!(h.base_offset, b.base_offset);
            prop_assert_eq!(h.producer_id, b.producer_id);
            prop_assert_eq!(h.attributes.is_transactional(), b.transactional);
            prop_assert_eq!(h.attributes.is_control(), b.control);
            prop_assert_eq!(recs, &expected(b));
        }
        // And a random truncation never errors, yielding a prefix of the batches.
        let cut = data.len() * 2 / 3;
        let mut r = reader(data[..cut].to_vec());
        let n = r.by_ref().collect::<Result<Vec<_>, _>>().unwrap().len();
        prop_assert_eq!(n, boundaries.iter().filter(|&&b| b > 0 && b <= cut).count());
        prop_assert_eq!(r.truncated_tail().is_some(), !boundaries.contains(&cut));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        crate::fuzzing::batch_decoder(&data);
    }

    #[test]
    fn arbitrary_records_region_never_panics(
        region in prop::collection::vec(any::<u8>(), 0..300),
        count in -2i32..20,
    ) {
        crate::fuzzing::batch_decoder(&with_region(count, &region));
    }
}
