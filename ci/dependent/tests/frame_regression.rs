//! The `frame` fuzz target's out-of-memory input (`fuzz/regressions/frame/`), decoded the way the fuzz
//! target and the client's read path do: a 26-byte response claims an array of 0x7ffffffc elements, and
//! crates.io's kafka-protocol 0.18.0 reserved them all up front (~25 GB, then an abort). The fork must
//! answer with an error while this process's heap stays small.
//!
//! A counting global allocator measures the peak heap and refuses any allocation that would take it past
//! `LIMIT`, so the unfixed code aborts here whatever the machine's overcommit policy. This file holds a
//! single test, so no other test allocates in the same process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::{Bytes, BytesMut};
use kafkaroo_wire::messages::{
    ApiVersionsRequest, FetchRequest, JoinGroupRequest, MetadataRequest, OffsetFetchRequest,
};
use kafkaroo_wire::{DecodeError, FrameDecoder, decode_response};

/// More than decoding a 48-byte input may ever need (frames are capped at 1 MiB).
const LIMIT: usize = 64 << 20;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn reserve(size: usize) -> bool {
        let now = CURRENT.fetch_add(size, Relaxed) + size;
        if now > LIMIT {
            CURRENT.fetch_sub(size, Relaxed);
            return false;
        }
        PEAK.fetch_max(now, Relaxed);
        true
    }
}

// SAFETY: forwards to the system allocator; only counts (and refuses past LIMIT by returning null).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Relaxed);
        // SAFETY: the caller's contract for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            if !Self::reserve(new_size - layout.size()) {
                return std::ptr::null_mut();
            }
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Relaxed);
        }
        // SAFETY: the caller's contract for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/frame")
}

/// The response decoders the `frame` fuzz target runs on every complete frame
/// (`kafkaroo_wire::fuzzing::frame`), at the versions it derives from the input's second byte.
fn decode_all(frame: &Bytes, version: i16) -> Vec<(&'static str, Result<(), DecodeError>)> {
    vec![
        (
            "Fetch",
            decode_response::<FetchRequest>(version.clamp(4, 18), frame.clone()).map(drop),
        ),
        (
            "Metadata",
            decode_response::<MetadataRequest>(version.min(13), frame.clone()).map(drop),
        ),
        (
            "ApiVersions",
            decode_response::<ApiVersionsRequest>(version.min(4), frame.clone()).map(drop),
        ),
        (
            "JoinGroup",
            decode_response::<JoinGroupRequest>(version.min(9), frame.clone()).map(drop),
        ),
        (
            "OffsetFetch",
            decode_response::<OffsetFetchRequest>(version.clamp(1, 9), frame.clone()).map(drop),
        ),
    ]
}

#[test]
fn frame_oom_regression_is_an_error_with_a_small_heap() {
    let path = regressions().join("oom-0cdd0808e2d1fbbaec8f4688220f3e81fb173f86");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let before = CURRENT.load(Relaxed);
    PEAK.store(before, Relaxed);

    // As the fuzz target does: byte 0 is the chunk size, byte 1 the API version, the rest arrives in chunks.
    let (chunk, version) = (usize::from(data[0].max(1)), i16::from(data[1] % 20));
    let decoder = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in data[2..].chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(frame) = decoder.decode(&mut buf).expect("a valid size prefix") {
            frames.push(frame.freeze());
        }
    }
    assert_eq!(frames.len(), 1, "the input holds one complete frame");
    for (api, result) in decode_all(&frames[0], version) {
        match result {
            Err(DecodeError::Body { .. }) => {}
            other => panic!("{api} response at v{version}: expected a body decode error, got {other:?}"),
        }
    }
    let peak = PEAK.load(Relaxed) - before;
    assert!(
        peak < 4 << 20,
        "decoding a 48-byte input took {peak} bytes of heap"
    );

    // Every committed regression input, through the fuzz target's own entry point.
    let mut n = 0;
    for entry in std::fs::read_dir(regressions()).expect("fuzz/regressions/frame") {
        let path = entry.expect("directory entry").path();
        PEAK.store(CURRENT.load(Relaxed), Relaxed);
        let before = CURRENT.load(Relaxed);
        kafkaroo_wire::fuzzing::frame(&std::fs::read(&path).expect("regression input"));
        let peak = PEAK.load(Relaxed) - before;
        assert!(peak < 8 << 20, "{}: {peak} bytes of heap", path.display());
        n += 1;
    }
    assert!(n >= 1, "no regression input found");
}
