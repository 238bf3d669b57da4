//! The hard memory budget for fetched data.
//!
//! Before a fetch is sent, the engine reserves bytes from the budget and tells the broker, through the
//! request's `max_bytes`, not to send more than that; when the budget is spent, no fetch goes out. The
//! response frame is then wrapped so that the reservation lives exactly as long as the frame's memory:
//! records handed to the application are slices of that frame, so **a record the application still holds
//! keeps its whole response counted** until the last slice is dropped (or detached). The broker may exceed
//! `max_bytes` by one batch (KIP-74: the first batch always comes whole); that excess is counted too.
//! The count is the memory itself: kafkaroo-net reads every frame into an allocation of exactly its
//! length, shared with no other frame, and decompressed buffers carry no spare capacity.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::telemetry::MemoryGauge;

/// A byte budget shared by the fetch engine and the records it hands out.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    freed: Notify,
    /// Follows `used` change by change (the `memory.used` metric).
    gauge: MemoryGauge,
}

impl MemoryBudget {
    #[cfg(test)]
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Self::with_gauge(limit, MemoryGauge::default())
    }

    pub(crate) fn with_gauge(limit: usize, gauge: MemoryGauge) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            freed: Notify::new(),
            gauge,
        })
    }

    fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
        self.gauge.add(bytes);
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub(crate) fn available(&self) -> usize {
        self.limit.saturating_sub(self.used())
    }

    /// Reserves up to `want` bytes if at least `min` are available.
    pub(crate) fn try_reserve(self: &Arc<Self>, want: usize, min: usize) -> Option<Reservation> {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let available = self.limit.saturating_sub(used);
            if available < min.max(1) {
                return None;
            }
            let take = want.min(available);
            match self
                .used
                .compare_exchange_weak(used, used + take, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.gauge.add(take);
                    return Some(Reservation {
                        budget: self.clone(),
                        bytes: take,
                    });
                }
                Err(now) => used = now,
            }
        }
    }

    /// Counts `bytes` that already exist (a decompressed batch being handed out), even past the limit:
    /// fetching then waits until enough is released.
    pub(crate) fn reserve_exact(self: &Arc<Self>, bytes: usize) -> Reservation {
        self.add(bytes);
        Reservation {
            budget: self.clone(),
            bytes,
        }
    }

    /// Resolves when some reservation is released.
    pub(crate) fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.freed.notified()
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        self.gauge.sub(bytes);
        self.freed.notify_waiters();
    }
}

/// Bytes counted against the budget until dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Reservation {
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adjusts the reservation to what was actually received (may exceed the limit by one batch).
    pub(crate) fn resize(&mut self, actual: usize) {
        if actual > self.bytes {
            self.budget.add(actual - self.bytes);
        } else if actual < self.bytes {
            self.budget.release(self.bytes - actual);
        }
        self.bytes = actual;
    }

    /// Wraps `frame` so the reservation is released when the last slice of it is dropped.
    pub(crate) fn attach(mut self, frame: Bytes) -> Bytes {
        self.resize(frame.len());
        Bytes::from_owner(Accounted {
            frame,
            _reservation: self,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.release(self.bytes);
        }
    }
}

struct Accounted {
    frame: Bytes,
    _reservation: Reservation,
}

impl AsRef<[u8]> for Accounted {
    fn as_ref(&self) -> &[u8] {
        &self.frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_follow_the_frame_and_its_slices() {
        let budget = MemoryBudget::new(1000);
        let r = budget.try_reserve(600, 100).unwrap();
        assert_eq!(r.bytes(), 600);
        assert_eq!(budget.available(), 400);
        assert!(budget.try_reserve(600, 500).is_none(), "only 400 left");
        let frame = r.attach(Bytes::from(vec![7u8; 300]));
        assert_eq!(budget.used(), 300, "resized to the received size");
        let slice = frame.slice(10..20);
        drop(frame);
        assert_eq!(budget.used(), 300, "a held slice keeps the frame counted");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn partial_reservation_and_overshoot() {
        let budget = MemoryBudget::new(1000);
        let a = budget.try_reserve(800, 1).unwrap();
        let b = budget.try_reserve(800, 100).unwrap();
        assert_eq!(b.bytes(), 200, "takes what is left");
        let big = b.attach(Bytes::from(vec![0u8; 500])); // KIP-74 overshoot
        assert_eq!(budget.used(), 1300);
        drop(a);
        drop(big);
        assert_eq!(budget.used(), 0);
    }
}
