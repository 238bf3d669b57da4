//! Scenario 28 (docs/faults-and-invariants.md): a broker that sends malformed frames — a size prefix claiming
//! 2 GiB, a negative size, HTTP, an unknown correlation id, a body that does not decode. Each must close the
//! connection as a transport error, after which the consumer reconnects and delivers exactly; nothing may
//! panic, and the claimed size must never be allocated (checked with a counting global allocator, which is
//! why this is its own test binary).

// A global allocator needs `unsafe impl GlobalAlloc`; it only records the largest request and forwards
// to the system allocator.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use common::{Delivered, config, consumer, produce, tp};
use kafkaroo::Error;
use kafkaroo_testkit::{Action, Cluster};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What the broker sends instead of the Fetch response.
#[derive(Debug, Clone, Copy)]
enum Bad {
    /// Size prefix 0x7fffffff, then a few bytes.
    Claims2GiB,
    /// Size prefix -1.
    NegativeSize,
    /// An HTTP error page.
    Http,
    /// A correct response under another correlation id.
    UnknownCorrelationId,
    /// A well-framed response whose body is garbage (an inner length running past the end).
    GarbageBody,
    /// A TLS alert record.
    Tls,
}

fn bytes_for(bad: Bad, correlation_id: i32) -> Option<Bytes> {
    let mut b = BytesMut::new();
    match bad {
        Bad::Claims2GiB => {
            b.put_i32(i32::MAX);
            b.put_slice(&[0; 16]);
        }
        Bad::NegativeSize => {
            b.put_i32(-1);
            b.put_slice(&[0; 16]);
        }
        Bad::Http => b.put_slice(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
        Bad::Tls => b.put_slice(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]),
        Bad::GarbageBody => {
            b.put_i32(4 + 1 + 12);
            b.put_i32(correlation_id);
            b.put_u8(0); // response header v1: no tagged fields
            b.put_i32(0); // throttle
            b.put_i16(0); // error code
            b.put_i32(0); // session id
            b.put_u16(0xffff); // a compact array length varint that never ends
        }
        Bad::UnknownCorrelationId => return None,
    }
    Some(b.freeze())
}

#[tokio::test]
async fn s28_malformed_frames_close_the_connection_and_the_consumer_recovers() {
    common::tracing();
    for bad in [
        Bad::Claims2GiB,
        Bad::NegativeSize,
        Bad::UnknownCorrelationId,
        Bad::GarbageBody,
        Bad::Http,
        Bad::Tls,
    ] {
        let cluster = Cluster::builder().topic("t", 1).build().await.unwrap();
        let t0 = tp("t", 0);
        produce(&cluster, "t", 0, 10);
        let scope = cluster.clone();
        let fault = cluster.control_once(move |req| {
            if !scope.fetch_includes(req, "t", 0) {
                return Action::pass();
            }
            match bytes_for(bad, req.correlation_id) {
                Some(bytes) => Action::raw(bytes),
                None => Action::correlation_id(req.correlation_id.wrapping_add(1000)),
            }
        });
        let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
        let mut d = Delivered::default();
        d.poll_count(&mut c, &t0, 10).await;
        d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
        assert_eq!(cluster.fired(fault), 1, "{bad:?}");
        d.assert_exact(&t0, 0..10);
        match bad {
            // A peer speaking HTTP or TLS is a configuration problem the application is told about
            // (the fetch is still retried).
            Bad::Http | Bad::Tls => match &d.errors[..] {
                [Error::Net(e)] => {
                    let text = e.to_string();
                    let expect = if matches!(bad, Bad::Http) { "HTTP" } else { "TLS" };
                    assert!(text.contains(expect), "{bad:?}: {text}");
                }
                other => panic!("{bad:?}: expected one transport error naming the peer, got {other:?}"),
            },
            _ => d.assert_no_errors(),
        }
        // Bootstrap, ListOffsets, the poisoned fetch connection and its replacement.
        assert!(cluster.connections(1) >= 4, "{bad:?}: reconnected");
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 16 * 1024 * 1024,
        "largest single allocation {largest} bytes: a claimed frame size was allocated"
    );
}
