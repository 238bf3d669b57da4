//! Decompressors. Each decodes a whole records region into one fresh buffer (which the batch's
//! records then slice from), refusing to produce more than the caller's cap.

use bytes::Bytes;

use crate::error::DecodeError;
use crate::header::Compression;

#[cfg(feature = "compression-gzip")]
pub(crate) mod gzip;
#[cfg(feature = "compression-lz4")]
pub(crate) mod lz4;
#[cfg(feature = "compression-snappy")]
pub(crate) mod snappy;
#[cfg(feature = "compression-zstd")]
pub(crate) mod zstd;

/// Failure of one decompressor, before it is tied to a batch offset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    not(any(
        feature = "compression-gzip",
        feature = "compression-snappy",
        feature = "compression-lz4",
        feature = "compression-zstd"
    )),
    allow(dead_code)
)]
pub(crate) enum CodecError {
    /// Output would exceed the cap.
    TooLarge,
    /// Malformed input.
    Corrupt(String),
}

impl CodecError {
    #[cfg_attr(
        not(any(
            feature = "compression-gzip",
            feature = "compression-snappy",
            feature = "compression-lz4",
            feature = "compression-zstd"
        )),
        allow(dead_code)
    )]
    pub(crate) fn corrupt(e: impl std::fmt::Display) -> Self {
        Self::Corrupt(e.to_string())
    }
}

/// Decompresses a batch's records region with `codec` into one new buffer, refusing to produce
/// more than `max_decompressed` bytes; errors name `batch_offset`. [`RecordBatch::records`]
/// calls this; it is public for tools and benchmarks that drive other decoders with our codecs.
///
/// [`RecordBatch::records`]: crate::RecordBatch::records
pub fn decompress(
    codec: Compression,
    input: &[u8],
    max_decompressed: usize,
    batch_offset: i64,
) -> Result<Bytes, DecodeError> {
    let (cap, offset) = (max_decompressed, batch_offset);
    if codec == Compression::None {
        return Ok(Bytes::copy_from_slice(input));
    }
    match run(codec, input, cap) {
        None => Err(DecodeError::CompressionDisabled { codec, offset }),
        Some(Ok(mut v)) => {
            // Exactly the bytes produced: the consumer's memory budget counts `len`, and records handed
            // out keep this allocation alive, so spare capacity would be memory it does not see.
            v.shrink_to_fit();
            Ok(Bytes::from(v))
        }
        Some(Err(CodecError::TooLarge)) => Err(DecodeError::DecompressedTooLarge { codec, offset, cap }),
        Some(Err(CodecError::Corrupt(reason))) => Err(DecodeError::Decompression {
            codec,
            offset,
            reason,
        }),
    }
}

/// Runs the codec's decompressor; `None` if it is not compiled in.
fn run(codec: Compression, input: &[u8], cap: usize) -> Option<Result<Vec<u8>, CodecError>> {
    let _ = (input, cap);
    match codec {
        #[cfg(feature = "compression-gzip")]
        Compression::Gzip => Some(gzip::decompress(input, cap)),
        #[cfg(feature = "compression-snappy")]
        Compression::Snappy => Some(snappy::decompress(input, cap)),
        #[cfg(feature = "compression-lz4")]
        Compression::Lz4 => Some(lz4::decompress(input, cap)),
        #[cfg(feature = "compression-zstd")]
        Compression::Zstd => Some(zstd::decompress(input, cap)),
        _ => None,
    }
}
