#![no_main]
//! Fuzz target `zstd_differential`: kafkaroo's zstd decoding (`kafkaroo_records::decompress`, the
//! pure-Rust ruzstd fork in vendor/ruzstd) against the reference C library (libzstd through the `zstd`
//! crate; C is fine here, this crate is not part of the C-free build).
//!
//! 1. The input as a frame. Both decoders get the same limits: at most `FUZZ_CAP` bytes of output,
//!    windows of at most 8 MiB (kafkaroo's `max(cap, 8 MiB)`, libzstd's `WindowLogMax(23)`), and no
//!    content checksum verification (kafkaroo skips it, the batch CRC-32C covers the compressed bytes;
//!    libzstd's `ForceIgnoreChecksum`, hence the `zstd` crate's `experimental` feature). Checked, every
//!    difference fatal: what kafkaroo accepts decodes to exactly libzstd's bytes, and what libzstd
//!    rejects kafkaroo accepts only with the bytes libzstd produced before its error. The converse is
//!    not required of arbitrary input: libzstd decodes some corrupt frames that kafkaroo refuses (its
//!    fast 4-stream Huffman loop does not check that each stream ends exactly; seed
//!    `json-9-flip-mid`). ruzstd 0.9.1 differed on corrupt frames; the fork refuses them as libzstd does
//!    (vendor/README.md lists the checks) and regressions/zstd_differential/ keeps the inputs:
//!    `content-size-mismatch-accepted` (declared content size not compared with the decoded length;
//!    checked in kafkaroo-records), `huffman-literals-libzstd-rejects` (a Huffman stream that does not
//!    end exactly), `no-checksum-decodes-differently` and `corrupt-with-checksum-decodes-differently`
//!    (4 streams that do not split the literals as the format says, which libzstd decodes one way and
//!    ruzstd decoded another; the second was exempt while it had a wrong checksum),
//!    `reserved-descriptor-bit-accepted`, `literals-beyond-block-maximum-accepted` (a block's output
//!    above the smaller of the window and 128 KiB). Empty input is refused by kafkaroo ("no zstd
//!    frame") and not compared. Always fatal: a panic, output beyond the cap.
//! 2. The input as content: libzstd compresses it (level, window, checksum and content-size flags taken
//!    from its first bytes), and kafkaroo must decode that valid frame back to the input.

use kafkaroo_records::fuzzing::FUZZ_CAP;
use kafkaroo_records::{Compression, decompress};
use zstd::bulk::Compressor;
use zstd::stream::raw::{CParameter, DParameter, Decoder, InBuffer, Operation, OutBuffer};

#[derive(Debug)]
enum Reference {
    Ok(Vec<u8>),
    TooLarge,
    /// The error and the output produced before it.
    Err(String, Vec<u8>),
}

/// libzstd's streaming decoder over the whole input (concatenated and skippable frames included).
fn reference(input: &[u8]) -> Reference {
    let mut dec = Decoder::new().expect("ZSTD_createDCtx");
    dec.set_parameter(DParameter::WindowLogMax(23))
        .expect("windowLogMax");
    dec.set_parameter(DParameter::ForceIgnoreChecksum(true))
        .expect("forceIgnoreChecksum");
    let mut out: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut inb = InBuffer::around(input);
    loop {
        if out.len() == out.capacity() {
            if out.len() > FUZZ_CAP {
                return Reference::TooLarge;
            }
            out.reserve_exact(out.len().min(FUZZ_CAP + 1 - out.len()));
        }
        let (before_in, before_out) = (inb.pos(), out.len());
        let pos = out.len();
        let hint = {
            let mut outb = OutBuffer::around_pos(&mut out, pos);
            match dec.run(&mut inb, &mut outb) {
                Ok(hint) => hint,
                Err(e) => return Reference::Err(e.to_string(), out),
            }
        };
        if out.len() > FUZZ_CAP {
            return Reference::TooLarge;
        }
        let consumed = inb.pos() == input.len();
        if hint == 0 && consumed {
            return Reference::Ok(out);
        }
        // All input given, no progress although there is room: the frame is truncated.
        if consumed && inb.pos() == before_in && out.len() == before_out && out.len() < out.capacity() {
            return Reference::Err("truncated".into(), out);
        }
    }
}

/// A valid frame of `content`, written by libzstd with settings taken from its first two bytes.
fn c_frame(content: &[u8]) -> Vec<u8> {
    let (a, b) = (
        content.first().copied().unwrap_or(0),
        content.get(1).copied().unwrap_or(0),
    );
    let level = i32::from(a % 16) - 3; // -3 (fast) ..= 12
    let mut c = Compressor::new(level).expect("ZSTD_createCCtx");
    c.set_parameter(CParameter::ChecksumFlag(a & 0x40 != 0))
        .expect("checksum flag");
    c.set_parameter(CParameter::ContentSizeFlag(a & 0x80 != 0))
        .expect("content size flag");
    c.set_parameter(CParameter::WindowLog(10 + u32::from(b % 14)))
        .expect("window log"); // 1 KiB ..= 8 MiB
    c.compress(content).expect("ZSTD_compress2")
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let frame = c_frame(data);
    match decompress(Compression::Zstd, &frame, FUZZ_CAP, 0) {
        Ok(out) => assert!(
            out[..] == data[..],
            "libzstd's frame of the input decodes to something else"
        ),
        Err(e) => panic!(
            "kafkaroo refused ({e}) libzstd's frame of the input ({} bytes)",
            frame.len()
        ),
    }

    let ours = decompress(Compression::Zstd, data, FUZZ_CAP, 0);
    if data.is_empty() {
        assert!(ours.is_err(), "empty input accepted");
        return;
    }
    match (ours, reference(data)) {
        (Ok(ours), Reference::Ok(c)) if ours[..] != c[..] => panic!(
            "kafkaroo decoded {} bytes, libzstd {} other bytes (first difference at {})",
            ours.len(),
            c.len(),
            ours.iter().zip(c.iter()).take_while(|(a, b)| a == b).count()
        ),
        (Ok(_), Reference::Ok(_)) => {}
        // What libzstd rejects may only be accepted with the output libzstd produced before the error.
        (Ok(ours), Reference::Err(e, c)) if ours[..] != c[..] => panic!(
            "kafkaroo accepted ({} bytes) what libzstd rejects ({e}) after {} bytes",
            ours.len(),
            c.len()
        ),
        (Ok(_), Reference::Err(..)) => {}
        (Ok(ours), Reference::TooLarge) => {
            panic!(
                "kafkaroo returned {} bytes where libzstd exceeds the cap",
                ours.len()
            )
        }
        // See 1. above: refusing what libzstd accepts is only checked for libzstd's own frames (2.).
        (Err(_), _) => {}
    }
});
