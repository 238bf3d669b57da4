//! The decoder's history/output buffer: one contiguous, fully initialised `Vec<u8>`.
//!
//! Replaces upstream's `RingBuffer` (kafkaroo patch, see vendor/README.md). Keeping the data
//! contiguous lets match copies read and write with plain slice operations, and keeping the whole
//! allocation initialised (zero-filled when it grows) lets them copy in fixed 16-byte chunks that
//! may run up to [`SLACK`] bytes past the end of the data, all in safe code. Draining advances
//! `head`; the live bytes are moved back to the front lazily, only once at least as many bytes
//! have been drained as are live, so the moves cost at most as much as the draining did.

use alloc::vec::Vec;
use core::convert::TryInto;

use crate::io::Read;

/// Bytes past `tail` that chunked copies may scribble on; always kept allocated.
const SLACK: usize = 32;

/// Width of the chunked literal and match copies.
const CHUNK: usize = 16;

pub struct FlatBuffer {
    /// Initialised storage; `buf.len()` is the usable size, always `>= tail + SLACK` once
    /// anything was reserved.
    buf: Vec<u8>,
    /// First live (not yet drained) byte.
    head: usize,
    /// One past the last live byte.
    tail: usize,
}

impl FlatBuffer {
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            head: 0,
            tail: 0,
        }
    }

    /// Number of live bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
    }

    /// Makes room for `amount` more bytes (plus the copy slack) after the live data.
    #[inline(always)]
    pub fn reserve(&mut self, amount: usize) {
        if self.buf.len() - self.tail < amount.saturating_add(SLACK) {
            self.make_room(amount);
        }
    }

    #[cold]
    #[inline(never)]
    fn make_room(&mut self, amount: usize) {
        let live = self.len();
        if self.head > 0 && self.head >= live {
            self.buf.copy_within(self.head..self.tail, 0);
            self.head = 0;
            self.tail = live;
        }
        let need = self
            .tail
            .checked_add(amount)
            .and_then(|n| n.checked_add(SLACK))
            .expect("FlatBuffer size overflows usize");
        if self.buf.len() < need {
            let grown = need.max(self.buf.len().saturating_mul(2));
            self.buf.resize(grown, 0);
        }
    }

    /// The live bytes, as one slice and an always empty second one (the ring buffer's shape).
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        (&self.buf[self.head..self.tail], &[])
    }

    /// Drops the first `amount` live bytes (fewer if there are fewer).
    pub fn drop_first_n(&mut self, amount: usize) {
        self.head += amount.min(self.len());
        if self.head == self.tail {
            self.clear();
        }
    }

    pub fn extend(&mut self, data: &[u8]) {
        self.reserve(data.len());
        self.buf[self.tail..self.tail + data.len()].copy_from_slice(data);
        self.tail += data.len();
    }

    /// Appends `source[start..start + len]`; the caller checked that range is in bounds.
    /// Short runs that are not at the very end of `source` are copied as one 16-byte chunk.
    #[cfg(test)]
    pub fn extend_from_slice_at(&mut self, source: &[u8], start: usize, len: usize) {
        self.reserve(len);
        self.extend_from_slice_at_reserved(source, start, len);
    }

    /// `extend_from_slice_at` after the caller reserved room for `len` bytes. (Were it not,
    /// the bounds-checked slicing would panic, not corrupt memory.)
    #[inline(always)]
    pub fn extend_from_slice_at_reserved(&mut self, source: &[u8], start: usize, len: usize) {
        let tail = self.tail;
        if len <= CHUNK && source.len() - start >= CHUNK {
            let chunk: &[u8; CHUNK] = source[start..start + CHUNK]
                .try_into()
                .expect("16-byte slice");
            self.buf[tail..tail + CHUNK].copy_from_slice(chunk);
        } else {
            self.buf[tail..tail + len].copy_from_slice(&source[start..start + len]);
        }
        self.tail = tail + len;
    }

    pub fn extend_and_fill(&mut self, fill_with: u8, fill_length: usize) {
        self.reserve(fill_length);
        self.buf[self.tail..self.tail + fill_length].fill(fill_with);
        self.tail += fill_length;
    }

    pub fn extend_from_reader<R: Read>(
        &mut self,
        mut read: R,
        fill_length: usize,
    ) -> Result<(), crate::io::Error> {
        self.reserve(fill_length);
        read.read_exact(&mut self.buf[self.tail..self.tail + fill_length])?;
        self.tail += fill_length;
        Ok(())
    }

    /// Appends `len` bytes copied from `offset` bytes before the end, the copy running forward
    /// so that `offset < len` repeats the last `offset` bytes. Needs `1 <= offset <= self.len()`.
    #[cfg(test)]
    pub fn repeat(&mut self, offset: usize, len: usize) {
        self.reserve(len);
        self.repeat_reserved(offset, len);
    }

    /// `repeat` after the caller reserved room for `len` bytes (see
    /// `extend_from_slice_at_reserved`).
    #[inline(always)]
    pub fn repeat_reserved(&mut self, offset: usize, len: usize) {
        debug_assert!(offset >= 1 && offset <= self.len());
        let dst = self.tail;
        let src = dst - offset;
        if offset >= CHUNK {
            // Each chunk reads bytes that lie before the chunk it writes (src + 16 <= dst), so
            // they are final. The last chunk may write up to 15 bytes past `dst + len`, which
            // `reserve` keeps inside the slack.
            let mut done = 0;
            while done < len {
                let chunk: [u8; CHUNK] = self.buf[src + done..src + done + CHUNK]
                    .try_into()
                    .expect("16-byte slice");
                self.buf[dst + done..dst + done + CHUNK].copy_from_slice(&chunk);
                done += CHUNK;
            }
        } else {
            self.repeat_short_offset(dst, offset, len);
        }
        self.tail = dst + len;
    }

    /// Overlapping copy for `offset < 16`: the output is periodic with period `offset`, so after
    /// each step the distance it may copy from doubles.
    #[inline(never)]
    fn repeat_short_offset(&mut self, dst: usize, offset: usize, len: usize) {
        if offset == 1 {
            let byte = self.buf[dst - 1];
            self.buf[dst..dst + len].fill(byte);
            return;
        }
        let mut distance = offset;
        let mut done = 0;
        while done < len {
            let n = distance.min(len - done);
            let from = dst + done - distance;
            self.buf.copy_within(from..from + n, dst + done);
            done += n;
            distance *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FlatBuffer;
    use alloc::vec::Vec;

    /// The reference semantics of `repeat`: a byte-by-byte forward copy.
    fn repeat_naive(data: &mut Vec<u8>, offset: usize, len: usize) {
        for _ in 0..len {
            data.push(data[data.len() - offset]);
        }
    }

    fn live(b: &FlatBuffer) -> Vec<u8> {
        let (a, rest) = b.as_slices();
        assert!(rest.is_empty());
        a.to_vec()
    }

    #[test]
    fn repeat_matches_bytewise_copy_for_all_short_and_chunked_offsets() {
        for offset in 1..=40 {
            for len in 0..=70 {
                let mut b = FlatBuffer::new();
                let mut expect: Vec<u8> = (0..50u8).map(|i| i.wrapping_mul(37)).collect();
                b.extend(&expect);
                b.repeat(offset, len);
                repeat_naive(&mut expect, offset, len);
                assert_eq!(live(&b), expect, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn drain_then_grow_keeps_live_bytes_in_order() {
        let mut b = FlatBuffer::new();
        let mut expect = Vec::new();
        let mut next = 0u8;
        for round in 0..200usize {
            let chunk: Vec<u8> = (0..(round % 37 + 1))
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            b.extend(&chunk);
            expect.extend_from_slice(&chunk);
            b.repeat(1 + round % 5, round % 23);
            repeat_naive(&mut expect, 1 + round % 5, round % 23);
            let drop = (round * 7) % (b.len() + 1);
            b.drop_first_n(drop);
            expect.drain(..drop);
            assert_eq!(live(&b), expect, "round {round}");
        }
    }

    #[test]
    fn extend_from_slice_at_copies_exactly_len_bytes() {
        let source: Vec<u8> = (0..40u8).collect();
        for start in 0..40 {
            for len in 0..=(40 - start) {
                let mut b = FlatBuffer::new();
                b.extend(b"xy");
                b.extend_from_slice_at(&source, start, len);
                b.extend(b"z");
                let mut expect = b"xy".to_vec();
                expect.extend_from_slice(&source[start..start + len]);
                expect.push(b'z');
                assert_eq!(live(&b), expect, "start {start} len {len}");
            }
        }
    }

    #[test]
    fn fill_and_reader_append_in_order() {
        let mut b = FlatBuffer::new();
        b.extend_and_fill(7, 3);
        b.extend_from_reader(&[1u8, 2, 3, 4][..], 4).unwrap();
        assert!(b.extend_from_reader(&[9u8][..], 2).is_err());
        assert_eq!(live(&b), [7, 7, 7, 1, 2, 3, 4]);
        b.drop_first_n(100);
        assert_eq!(b.len(), 0);
    }
}
