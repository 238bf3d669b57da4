//! LZ4 frame format (magic 0x184D2204), as Kafka writes it, parsed here and decoded block by
//! block with lz4_flex straight into one contiguous output buffer. lz4_flex's `Read`-based
//! `FrameDecoder` copies through an internal buffer and is ~25% slower.
//!
//! - Linked blocks use the preceding output of the frame as the dictionary; independent blocks
//!   use none.
//! - Block, content and header checksums (xxHash32) are **not** verified: the batch CRC-32C
//!   already covers these bytes end to end, and hashing would cost ~20% of decode time.
//! - Concatenated and skippable frames are accepted; dictionary-id frames (never written by
//!   Kafka) are rejected.

use lz4_flex::block::DecompressError;

use super::CodecError;

const MAGIC: u32 = 0x184D_2204;
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
const SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
/// Linked blocks may reference up to 64 KiB of preceding output.
const WINDOW: usize = 64 * 1024;

fn u32_le(input: &[u8], p: usize) -> Result<u32, CodecError> {
    input
        .get(p..p.saturating_add(4))
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .ok_or_else(|| CodecError::corrupt("truncated LZ4 frame"))
}

/// Largest possible output of an LZ4 block of `len` bytes: a match length grows by 255 per
/// extra length byte. Used to avoid allocating more than the input can justify.
fn max_block_output(len: usize) -> usize {
    len.saturating_mul(255).saturating_add(64)
}

pub(crate) fn decompress(input: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let mut p = 0;
    let mut frames = 0;
    while p < input.len() {
        let magic = u32_le(input, p)?;
        if magic & SKIPPABLE_MASK == SKIPPABLE_MAGIC {
            let size = u32_le(input, p + 4)? as usize;
            p = (p + 8).saturating_add(size);
            if p > input.len() {
                return Err(CodecError::corrupt("skippable frame runs past the end"));
            }
            continue;
        }
        if magic != MAGIC {
            return Err(CodecError::corrupt("bad LZ4 frame magic"));
        }
        p = frame(input, p + 4, &mut out, cap)?;
        frames += 1;
    }
    if frames == 0 {
        return Err(CodecError::corrupt("no LZ4 frame"));
    }
    if out.capacity() - out.len() > out.len() / 8 {
        // Usually shrinks in place; keeps retained batches from pinning a whole max block.
        out.shrink_to_fit();
    }
    Ok(out)
}

/// Decodes one frame whose descriptor starts at `p`; returns the position after it.
fn frame(input: &[u8], mut p: usize, out: &mut Vec<u8>, cap: usize) -> Result<usize, CodecError> {
    let Some(&[flg, bd]) = input.get(p..p + 2) else {
        return Err(CodecError::corrupt("truncated LZ4 frame descriptor"));
    };
    p += 2;
    if flg >> 6 != 1 {
        return Err(CodecError::corrupt("unsupported LZ4 frame version"));
    }
    if flg & 0x02 != 0 || bd & 0x8F != 0 {
        return Err(CodecError::corrupt("reserved LZ4 descriptor bits set"));
    }
    let linked = flg & 0x20 == 0;
    let block_checksum = flg & 0x10 != 0;
    let content_checksum = flg & 0x04 != 0;
    if flg & 0x01 != 0 {
        return Err(CodecError::corrupt("LZ4 dictionary frames are not supported"));
    }
    let block_max = match (bd >> 4) & 0x07 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(CodecError::corrupt("invalid LZ4 block max size")),
    };
    let content_size = if flg & 0x08 != 0 {
        let b = input
            .get(p..p + 8)
            .ok_or_else(|| CodecError::corrupt("truncated LZ4 frame descriptor"))?;
        p += 8;
        let size = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        if size > (cap - out.len()) as u64 {
            return Err(CodecError::TooLarge);
        }
        Some(size as usize)
    } else {
        None
    };
    // Header checksum byte: not verified (see module docs).
    p += 1;
    let frame_start = out.len();
    loop {
        let word = u32_le(input, p)?;
        p += 4;
        if word == 0 {
            break;
        }
        let stored = word & 0x8000_0000 != 0;
        let len = (word & 0x7FFF_FFFF) as usize;
        if len > block_max {
            return Err(CodecError::corrupt(
                "LZ4 block larger than the frame's block max size",
            ));
        }
        let block = input
            .get(p..p + len)
            .ok_or_else(|| CodecError::corrupt("LZ4 block runs past the end"))?;
        p += len;
        if block_checksum {
            p += 4;
        }
        if stored {
            if len > cap - out.len() {
                return Err(CodecError::TooLarge);
            }
            out.extend_from_slice(block);
        } else {
            let limit = match content_size {
                // Exact output size known: no over-allocation, no excess zeroing.
                Some(size) => block_max.min(size.saturating_sub(out.len() - frame_start)),
                None => block_max,
            };
            decode_block(block, out, frame_start, linked, limit, cap)?;
        }
    }
    if content_checksum {
        p += 4;
    }
    if p > input.len() {
        return Err(CodecError::corrupt("truncated LZ4 frame checksum"));
    }
    if content_size.is_some_and(|size| out.len() - frame_start != size) {
        return Err(CodecError::corrupt("LZ4 content size mismatch"));
    }
    Ok(p)
}

fn decode_block(
    block: &[u8],
    out: &mut Vec<u8>,
    frame_start: usize,
    linked: bool,
    limit: usize,
    cap: usize,
) -> Result<(), CodecError> {
    let room = cap - out.len();
    let limit = limit.min(max_block_output(block.len()));
    let capped = room < limit;
    let limit = limit.min(room);
    let map_err = |e: DecompressError| match e {
        DecompressError::OutputTooSmall { .. } if capped => CodecError::TooLarge,
        e => CodecError::corrupt(e),
    };
    if out.is_empty() {
        // First block: let lz4_flex fill a fresh vector, no zeroing pass.
        *out = lz4_flex::block::decompress(block, limit).map_err(map_err)?;
        return Ok(());
    }
    let start = out.len();
    out.resize(start + limit, 0);
    let (prev, rest) = out.split_at_mut(start);
    let n = if linked {
        let dict = &prev[frame_start.max(start.saturating_sub(WINDOW))..];
        lz4_flex::block::decompress_into_with_dict(block, rest, dict)
    } else {
        lz4_flex::block::decompress_into(block, rest)
    };
    match n {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(map_err(e))
        }
    }
}
