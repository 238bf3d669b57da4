//! Snappy as Kafka writes it: Java uses snappy-java's xerial framing
//! (`\x82SNAPPY\0`, version, compatible version, then `[i32 BE length][raw block]`...), other
//! clients write one raw snappy block. Like Java's `SnappyInputStream`, anything without the
//! xerial magic is decoded as raw snappy.

use snap::raw::{Decoder, decompress_len};

use super::CodecError;

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

pub(crate) fn decompress(input: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let mut decoder = Decoder::new();
    if input.len() >= XERIAL_HEADER_LEN && input.starts_with(XERIAL_MAGIC) {
        let mut p = XERIAL_HEADER_LEN;
        while p < input.len() {
            // snappy-java also accepts streams concatenated header and all.
            if input[p..].starts_with(XERIAL_MAGIC) {
                p = p.saturating_add(XERIAL_HEADER_LEN);
                continue;
            }
            let len_bytes = input
                .get(p..p + 4)
                .ok_or_else(|| CodecError::corrupt("truncated xerial chunk length"))?;
            let len = i32::from_be_bytes(len_bytes.try_into().expect("4 bytes"));
            let len =
                usize::try_from(len).map_err(|_| CodecError::corrupt("negative xerial chunk length"))?;
            let chunk = input
                .get(p + 4..(p + 4).saturating_add(len))
                .ok_or_else(|| CodecError::corrupt("xerial chunk runs past the end"))?;
            block(&mut decoder, chunk, &mut out, cap)?;
            p += 4 + len;
        }
    } else {
        block(&mut decoder, input, &mut out, cap)?;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`.
fn block(decoder: &mut Decoder, input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), CodecError> {
    let n = decompress_len(input).map_err(CodecError::corrupt)?;
    if n > cap - out.len() {
        return Err(CodecError::TooLarge);
    }
    // A snappy element expands at most 64 bytes from 3, so a claimed length beyond ~22x the
    // input is a lie; refuse it before allocating.
    if n > input.len().saturating_mul(22).saturating_add(32) {
        return Err(CodecError::corrupt(
            "declared snappy length exceeds the maximum ratio",
        ));
    }
    let start = out.len();
    out.resize(start + n, 0);
    let written = decoder
        .decompress(input, &mut out[start..])
        .map_err(CodecError::corrupt)?;
    out.truncate(start + written);
    Ok(())
}
