//! Zstandard. Pure-Rust ruzstd by default (the copy in `vendor/ruzstd`, patched for decode speed:
//! see vendor/README.md); the C library with the `zstd-c` feature, for decoding and encoding.
//!
//! Encoding: ruzstd at its fastest level (its only fast one), libzstd at level 3, the level Java's
//! producer (`compression.zstd.level`) and librdkafka use by default.
//!
//! Both stream-decode with the output cap, accept concatenated and skippable frames, and do not
//! verify the optional content checksum (the batch CRC-32C covers the compressed bytes).
//! The accepted window is `max(cap, 8 MiB)`: a frame may declare a window larger than its
//! content, and Java's level-3 streaming frames declare 2 MiB or more.

use super::CodecError;

/// Largest zstd window we accept, see the module docs.
fn window_limit(cap: usize) -> u64 {
    (cap as u64).max(8 << 20)
}

#[cfg(not(feature = "zstd-c"))]
pub(crate) use self::pure::{compress, decompress};

#[cfg(feature = "zstd-c")]
pub(crate) use self::c::{compress, decompress};

// Also compiled for the tests with `zstd-c`, which compare it with libzstd.
#[cfg(any(not(feature = "zstd-c"), test))]
mod pure {
    use std::cell::RefCell;

    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

    use super::{CodecError, window_limit};

    thread_local! {
        // Decoder state (window buffer, tables) is reused across batches: per-batch setup
        // dominates small batches otherwise.
        static DECODER: RefCell<Option<FrameDecoder>> = const { RefCell::new(None) };
    }

    /// Appends one frame holding `data` to `out`.
    #[cfg_attr(feature = "zstd-c", allow(dead_code))]
    pub(crate) fn compress(data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        ruzstd::encoding::compress(data, out, ruzstd::encoding::CompressionLevel::Fastest);
        Ok(())
    }

    pub(crate) fn decompress(input: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
        DECODER.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => run(slot.get_or_insert_with(FrameDecoder::new), input, cap),
            Err(_) => run(&mut FrameDecoder::new(), input, cap),
        })
    }

    fn run(dec: &mut FrameDecoder, mut input: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
        dec.set_max_window_size(window_limit(cap));
        if input.is_empty() {
            return Err(CodecError::corrupt("no zstd frame"));
        }
        let mut out = Vec::new();
        while !input.is_empty() {
            let declares_size = declares_content_size(input);
            let frame_start = out.len();
            match dec.reset(&mut input) {
                Ok(()) => {}
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    input = input
                        .get(length as usize..)
                        .ok_or_else(|| CodecError::corrupt("skippable frame runs past the end"))?;
                    continue;
                }
                Err(e) => return Err(CodecError::corrupt(e)),
            }
            let declared = dec.content_size();
            if declared > (cap - out.len()) as u64 {
                return Err(CodecError::TooLarge);
            }
            // Reserve what the frame declares (or a typical 4x ratio if it doesn't), bounded by
            // what its input can plausibly produce and by the cap.
            let guess = if declared > 0 {
                declared as usize
            } else {
                input.len().saturating_mul(4)
            };
            out.reserve(
                guess
                    .min(input.len().saturating_mul(16) + (128 << 10))
                    .min(cap - out.len()),
            );
            loop {
                dec.decode_blocks(&mut input, BlockDecodingStrategy::UptoBytes(256 << 10))
                    .map_err(CodecError::corrupt)?;
                if dec.can_collect() > cap - out.len() {
                    return Err(CodecError::TooLarge);
                }
                dec.collect_to_writer(&mut out).map_err(CodecError::corrupt)?;
                if dec.is_finished() {
                    break;
                }
            }
            // libzstd refuses a frame whose content differs from the size its header declares; so do
            // we (the differential fuzz target found ruzstd accepting it).
            let produced = (out.len() - frame_start) as u64;
            if declares_size && produced != declared {
                return Err(CodecError::corrupt(format!(
                    "zstd frame decoded to {produced} bytes but its header declares {declared}"
                )));
            }
        }
        Ok(out)
    }

    /// Whether the zstd frame at the start of `frame` has a Frame_Content_Size field (RFC 8878 §3.1.1.1.1:
    /// the descriptor byte after the 4-byte magic number; FCS flag, or the single-segment flag).
    fn declares_content_size(frame: &[u8]) -> bool {
        const MAGIC: [u8; 4] = 0xFD2F_B528_u32.to_le_bytes();
        match frame {
            [m0, m1, m2, m3, descriptor, ..] if [*m0, *m1, *m2, *m3] == MAGIC => {
                descriptor >> 6 != 0 || descriptor & 0x20 != 0
            }
            _ => false,
        }
    }
}

#[cfg(feature = "zstd-c")]
mod c {
    use std::cell::RefCell;

    use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

    use super::{CodecError, window_limit};

    thread_local! {
        static DECODER: RefCell<Option<Decoder<'static>>> = const { RefCell::new(None) };
        // Like the decoder: context setup would dominate small batches.
        static ENCODER: RefCell<Option<zstd::zstd_safe::CCtx<'static>>> = const { RefCell::new(None) };
    }

    /// libzstd's default level, which Java's producer and librdkafka use too.
    const LEVEL: i32 = 3;

    /// Appends one frame holding `data` (its size declared) to `out`.
    pub(crate) fn compress(data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        use zstd::zstd_safe::{CCtx, compress_bound, get_error_name};

        ENCODER.with(|cell| {
            let mut fresh = None;
            let mut slot = cell.try_borrow_mut();
            let cctx = match slot.as_deref_mut() {
                Ok(slot) => slot.get_or_insert_with(CCtx::create),
                Err(_) => fresh.insert(CCtx::create()),
            };
            let start = out.len();
            out.resize(start + compress_bound(data.len()), 0);
            match cctx.compress(&mut out[start..], data, LEVEL) {
                Ok(written) => {
                    out.truncate(start + written);
                    Ok(())
                }
                Err(code) => {
                    out.truncate(start);
                    Err(get_error_name(code).to_owned())
                }
            }
        })
    }

    pub(crate) fn decompress(input: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
        DECODER.with(|cell| {
            let mut slot = cell
                .try_borrow_mut()
                .map_err(|_| CodecError::corrupt("re-entrant zstd decode"))?;
            if slot.is_none() {
                *slot = Some(Decoder::new().map_err(CodecError::corrupt)?);
            }
            let dec = slot.as_mut().expect("just set");
            dec.reinit().map_err(CodecError::corrupt)?;
            let log = 64 - (window_limit(cap).max(1) - 1).leading_zeros();
            dec.set_parameter(DParameter::WindowLogMax(log.min(31)))
                .map_err(CodecError::corrupt)?;
            run(dec, input, cap)
        })
    }

    fn run(dec: &mut Decoder<'static>, input: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
        if input.is_empty() {
            return Err(CodecError::corrupt("no zstd frame"));
        }
        let mut out: Vec<u8> = Vec::with_capacity(input.len().saturating_mul(4).min(cap) + 1);
        let mut inb = InBuffer::around(input);
        loop {
            if out.len() == out.capacity() {
                if out.len() > cap {
                    return Err(CodecError::TooLarge);
                }
                // Grow, but never past cap + 1 (one byte to detect overflow).
                let extra = out.len().max(64 << 10).min(cap + 1 - out.len());
                out.reserve_exact(extra);
            }
            let before_in = inb.pos();
            let before_out = out.len();
            let hint = {
                // Continue after what earlier calls wrote (`around` would start at 0 and overwrite it).
                let mut outb = OutBuffer::around_pos(&mut out, before_out);
                dec.run(&mut inb, &mut outb).map_err(CodecError::corrupt)?
            };
            if out.len() > cap {
                return Err(CodecError::TooLarge);
            }
            let done = inb.pos() == input.len();
            if hint == 0 && done {
                return Ok(out);
            }
            if done && inb.pos() == before_in && out.len() == before_out && out.len() < out.capacity() {
                return Err(CodecError::corrupt("truncated zstd frame"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decompress;

    /// A single-segment frame (RFC 8878) with a one-byte Frame_Content_Size of `declared` and one raw
    /// block holding `content`.
    fn raw_frame(declared: u8, content: &[u8]) -> Vec<u8> {
        let mut f = vec![0x28, 0xB5, 0x2F, 0xFD, 0x20, declared];
        let header = 1 | ((content.len() as u32) << 3); // last block, raw, size
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.extend_from_slice(content);
        f
    }

    #[test]
    fn a_frame_decodes_to_the_size_it_declares() {
        assert_eq!(decompress(&raw_frame(5, b"hello"), 1 << 20).unwrap(), b"hello");
    }

    /// Refused by both decoders (libzstd says "Data corruption detected").
    #[test]
    fn a_frame_whose_content_differs_from_its_declared_size_is_corrupt() {
        let err = decompress(&raw_frame(6, b"hello"), 1 << 20).unwrap_err();
        assert!(matches!(err, super::CodecError::Corrupt(_)), "{err:?}");
        // ruzstd itself accepts it: the refusal is ours.
        #[cfg(not(feature = "zstd-c"))]
        assert!(format!("{err:?}").contains("declares 6"), "{err:?}");
    }

    /// The pure-Rust decoder against libzstd (both present with `zstd-c`) on the inputs of the
    /// `zstd_differential` fuzz target (fuzz/README.md), which only cargo-fuzz runs: what it accepts,
    /// libzstd decodes to the same bytes. Frames whose checksum libzstd finds wrong are exempt: here
    /// libzstd verifies checksums and kafkaroo does not (the batch CRC covers the compressed bytes);
    /// the fuzz target tells libzstd to ignore them instead.
    #[cfg(feature = "zstd-c")]
    #[test]
    fn pure_rust_decoder_agrees_with_libzstd_on_the_differential_fuzz_inputs() {
        use std::path::Path;

        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut compared = 0;
        for dir in ["corpus/zstd_differential", "regressions/zstd_differential"] {
            let dir = fuzz.join(dir);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("dir entry").path();
                let input = std::fs::read(&path).expect("read input");
                // The fuzz targets' output cap (`fuzzing::FUZZ_CAP`; not imported, so that codec does
                // not depend on the module that depends on it).
                let cap = 1 << 20;
                match (
                    super::pure::decompress(&input, cap),
                    super::c::decompress(&input, cap),
                ) {
                    (Ok(ours), Ok(c)) => assert!(ours == c, "{}: other bytes than libzstd's", path.display()),
                    (Ok(_), Err(e)) if format!("{e:?}").contains("checksum") => {}
                    (Ok(ours), Err(e)) => panic!(
                        "{}: accepted ({} bytes) what libzstd refuses: {e:?}",
                        path.display(),
                        ours.len()
                    ),
                    (Err(_), _) => {}
                }
                compared += 1;
            }
        }
        assert!(compared > 4, "the fuzz inputs are missing ({compared} compared)");
    }

    /// Each encoder's frames decode with the other decoder, appended after bytes already in the buffer.
    #[cfg(feature = "zstd-c")]
    #[test]
    fn libzstd_and_ruzstd_frames_decode_with_either_decoder() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("order {} qty {}\n", i % 977, i % 13).into_bytes())
            .collect();
        type Compress = fn(&[u8], &mut Vec<u8>) -> Result<(), String>;
        let encoders: [(&str, Compress); 2] =
            [("libzstd", super::c::compress), ("ruzstd", super::pure::compress)];
        for (name, compress) in encoders {
            let mut out = b"prefix".to_vec();
            compress(&data, &mut out).unwrap();
            assert_eq!(&out[..6], b"prefix", "{name} overwrote what was in the buffer");
            let frame = &out[6..];
            assert!(
                frame.len() < data.len() / 2,
                "{name}: {} bytes from {}",
                frame.len(),
                data.len()
            );
            assert_eq!(
                super::pure::decompress(frame, 8 << 20).unwrap(),
                data,
                "{name} -> ruzstd"
            );
            assert_eq!(
                super::c::decompress(frame, 8 << 20).unwrap(),
                data,
                "{name} -> libzstd"
            );
        }
    }
}
