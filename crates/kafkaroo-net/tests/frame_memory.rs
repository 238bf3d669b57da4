//! A response frame shares its allocation with no other frame, so keeping one frame (as a held record
//! keeps its fetch response) keeps exactly that frame's bytes alive: the consumer's memory budget counts
//! frame lengths and must be able to trust them (ARCHITECTURE.md, "Memory budget").
//!
//! Measured with a counting global allocator (live bytes), which is why this is its own test binary.
//! A reader that splits frames off a shared read buffer fails here: each kept 1 KiB frame pins the
//! whole buffer it arrived in.

// A global allocator needs `unsafe impl GlobalAlloc`; it only counts live bytes and forwards to the
// system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafkaroo_net::{Connection, ConnectionConfig};
use kafkaroo_wire::FrameDecoder;
use kafkaroo_wire::messages::HeartbeatRequest;
use kafkaroo_wire::protocol::StrBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Responses per round, all written by the peer at once so they arrive back to back.
const FRAMES: usize = 256;
/// Each response frame's body length (correlation id included).
const FRAME_LEN: usize = 1024;
/// One response in `KEEP_EVERY` is kept; the rest are dropped.
const KEEP_EVERY: usize = 64;

/// Reads `FRAMES` requests, then answers all of them in one write, each answer `FRAME_LEN` bytes filled
/// with the low byte of its correlation id.
async fn answer_round(stream: &mut TcpStream, buf: &mut BytesMut) {
    let decoder = FrameDecoder::default();
    let mut ids = Vec::with_capacity(FRAMES);
    while ids.len() < FRAMES {
        if let Some(mut frame) = decoder.decode(buf).unwrap() {
            let _api_key = frame.get_i16();
            let _version = frame.get_i16();
            ids.push(frame.get_i32());
            continue;
        }
        assert_ne!(stream.read_buf(buf).await.unwrap(), 0, "client hung up");
    }
    let mut out = BytesMut::with_capacity(FRAMES * (FRAME_LEN + 4));
    for id in ids {
        out.put_i32(FRAME_LEN as i32);
        out.put_i32(id);
        out.put_bytes(id as u8, FRAME_LEN - 4);
    }
    stream.write_all(&out).await.unwrap();
}

/// Sends `FRAMES` requests at once and returns every response frame, in request order.
async fn round(conn: &Connection) -> Vec<Bytes> {
    let request = HeartbeatRequest::default()
        .with_group_id(StrBytes::from_static_str("g").into())
        .with_generation_id(1);
    let tasks: Vec<_> = (0..FRAMES)
        .map(|_| {
            let (conn, request) = (conn.clone(), request.clone());
            tokio::spawn(async move {
                conn.request_frame(&request, 0, Duration::from_secs(30))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut frames = Vec::with_capacity(FRAMES);
    for task in tasks {
        frames.push(task.await.unwrap());
    }
    frames
}

#[tokio::test]
async fn a_kept_frame_keeps_only_its_own_bytes_alive() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let client = TcpStream::connect(&addr).await.unwrap();
    let (mut peer, _) = listener.accept().await.unwrap();
    let peer = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        for _ in 0..2 {
            answer_round(&mut peer, &mut buf).await;
        }
        peer
    });
    let conn = Connection::from_stream(client, &addr, None, ConnectionConfig::default());

    // A first round warms up what the connection keeps between requests (its in-flight table).
    drop(round(&conn).await);
    let before = LIVE.load(Ordering::Relaxed);
    let kept: Vec<Bytes> = round(&conn).await.into_iter().step_by(KEEP_EVERY).collect();
    let grown = LIVE.load(Ordering::Relaxed) - before;

    assert_eq!(kept.len(), FRAMES / KEEP_EVERY);
    for frame in &kept {
        assert_eq!(frame.len(), FRAME_LEN);
        let id = (&frame[..4]).get_i32();
        assert!(
            frame[4..].iter().all(|&b| b == id as u8),
            "frame {id} holds another frame's bytes"
        );
    }
    let kept_bytes = (kept.len() * FRAME_LEN) as isize;
    // Slack for the kept `Bytes` handles and the runtime's own bookkeeping; a shared 64 KiB read buffer
    // pinned by even one kept frame exceeds it.
    let slack = 16 * 1024;
    assert!(
        grown <= kept_bytes + slack,
        "keeping {} frames of {FRAME_LEN} bytes ({kept_bytes} bytes) grew live memory by {grown} bytes",
        kept.len()
    );
    drop(peer.await.unwrap());
}
