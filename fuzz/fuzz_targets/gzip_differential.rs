#![no_main]
//! Fuzz target `gzip_differential`: kafkaroo's gzip decoding (`kafkaroo_records::decompress`: flate2's
//! `MultiGzDecoder` on the pure-Rust miniz_oxide backend) against the reference C zlib, called directly
//! through `libz-sys` (not through flate2: cargo unifies features, so a C backend enabled for flate2 here
//! would replace the Rust one under test).
//!
//! 1. The input as a gzip stream: both stop at `FUZZ_CAP` bytes of output and decode concatenated
//!    members (zlib: `inflateReset` after each member's end while input remains). kafkaroo accepts <=>
//!    zlib accepts within the cap (gzip's CRC-32 makes what zlib accepts genuine), and then the bytes are
//!    identical. Input both refuse (as corrupt or too large) is not compared further.
//! 2. The input as content: zlib compresses it (level, window, memory level and strategy taken from its
//!    first bytes) into one gzip member, and kafkaroo must decode that back to the input.

use std::ffi::{c_int, c_uint, c_void};
use std::ptr;

use kafkaroo_records::fuzzing::FUZZ_CAP;
use kafkaroo_records::{Compression, decompress};
use libz_sys as z;

enum Reference {
    Ok(Vec<u8>),
    TooLarge,
    Err(String),
}

unsafe extern "C" {
    fn calloc(n: usize, size: usize) -> *mut c_void;
    fn free(p: *mut c_void);
}

unsafe extern "C" fn zalloc(_: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void {
    unsafe { calloc(items as usize, size as usize) }
}

unsafe extern "C" fn zfree(_: *mut c_void, p: *mut c_void) {
    unsafe { free(p) }
}

/// A stream reading `input` and writing into `out` (both must outlive its use).
fn new_stream(input: &[u8], out: &mut [u8]) -> z::z_stream {
    z::z_stream {
        next_in: input.as_ptr() as *mut u8,
        avail_in: input.len() as c_uint,
        total_in: 0,
        next_out: out.as_mut_ptr(),
        avail_out: out.len() as c_uint,
        total_out: 0,
        msg: ptr::null_mut(),
        state: ptr::null_mut(),
        zalloc,
        zfree,
        opaque: ptr::null_mut(),
        data_type: 0,
        adler: 0,
        reserved: 0,
    }
}

/// zlib's inflate in gzip mode (window bits 15 + 16) over every member of the input.
fn reference(input: &[u8]) -> Reference {
    let mut out = vec![0u8; FUZZ_CAP + 1];
    let mut s = new_stream(input, &mut out);
    // Safety: `s` points into `input` and `out`, which outlive it; inflateEnd runs on every path.
    unsafe {
        let size = std::mem::size_of::<z::z_stream>() as c_int;
        assert_eq!(z::inflateInit2_(&mut s, 15 + 16, z::zlibVersion(), size), z::Z_OK);
        let result = loop {
            let ret = z::inflate(&mut s, z::Z_NO_FLUSH);
            let produced = out.len() - s.avail_out as usize;
            match ret {
                z::Z_STREAM_END if s.avail_in == 0 => break Reference::Ok(out[..produced].to_vec()),
                z::Z_STREAM_END => {
                    assert_eq!(z::inflateReset(&mut s), z::Z_OK);
                }
                z::Z_OK | z::Z_BUF_ERROR if s.avail_out == 0 => break Reference::TooLarge,
                z::Z_OK => {}
                z::Z_BUF_ERROR => break Reference::Err("truncated".into()),
                _ => {
                    let msg = if s.msg.is_null() {
                        format!("zlib error {ret}")
                    } else {
                        std::ffi::CStr::from_ptr(s.msg).to_string_lossy().into_owned()
                    };
                    break Reference::Err(msg);
                }
            }
        };
        z::inflateEnd(&mut s);
        result
    }
}

/// One gzip member of `content` written by zlib's deflate, with settings from its first two bytes.
fn c_member(content: &[u8]) -> Vec<u8> {
    let (a, b) = (
        content.first().copied().unwrap_or(0),
        content.get(1).copied().unwrap_or(0),
    );
    let level = c_int::from(a % 10);
    let window_bits = 9 + c_int::from(b % 7); // 9 ..= 15
    let mem_level = 1 + c_int::from((b / 7) % 9); // 1 ..= 9
    let strategy = [
        z::Z_DEFAULT_STRATEGY,
        z::Z_FILTERED,
        z::Z_HUFFMAN_ONLY,
        z::Z_RLE,
        z::Z_FIXED,
    ][usize::from(a / 10 % 5)];
    // Twice the input is more than deflateBound for any setting (Z_FIXED on random data: ~1.14x).
    let mut out = vec![0u8; 2 * content.len() + 1024];
    let mut s = new_stream(content, &mut out);
    // Safety: as in `reference`; deflateEnd runs before `out` is read.
    unsafe {
        let size = std::mem::size_of::<z::z_stream>() as c_int;
        let init = z::deflateInit2_(
            &mut s,
            level,
            z::Z_DEFLATED,
            16 + window_bits,
            mem_level,
            strategy,
            z::zlibVersion(),
            size,
        );
        assert_eq!(init, z::Z_OK);
        assert_eq!(
            z::deflate(&mut s, z::Z_FINISH),
            z::Z_STREAM_END,
            "output buffer too small"
        );
        let n = s.total_out as usize;
        z::deflateEnd(&mut s);
        out.truncate(n);
    }
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let member = c_member(data);
    match decompress(Compression::Gzip, &member, FUZZ_CAP, 0) {
        Ok(out) => assert!(
            out[..] == data[..],
            "zlib's gzip member of the input decodes to something else"
        ),
        Err(e) => panic!(
            "kafkaroo refused ({e}) zlib's gzip member of the input ({} bytes)",
            member.len()
        ),
    }

    let ours = decompress(Compression::Gzip, data, FUZZ_CAP, 0);
    match (ours, reference(data)) {
        (Ok(ours), Reference::Ok(c)) => assert!(ours[..] == c[..], "output differs from zlib's"),
        (Ok(ours), Reference::Err(e)) => {
            panic!("kafkaroo accepted ({} bytes) what zlib rejects: {e}", ours.len())
        }
        (Ok(ours), Reference::TooLarge) => {
            panic!(
                "kafkaroo returned {} bytes where zlib exceeds the cap",
                ours.len()
            )
        }
        (Err(e), Reference::Ok(c)) => {
            panic!(
                "kafkaroo refused ({e}) a stream zlib decodes to {} bytes",
                c.len()
            )
        }
        // Both refuse, or kafkaroo refuses (as too large or corrupt) what exceeds zlib's cap.
        (Err(_), Reference::Err(_) | Reference::TooLarge) => {}
    }
});
