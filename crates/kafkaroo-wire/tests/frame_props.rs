//! Property: whatever chunking the socket delivers, the frame decoder yields exactly the frames sent.

use bytes::{BufMut, BytesMut};
use kafkaroo_wire::{FrameDecoder, FrameError};
use proptest::prelude::*;

proptest! {
    #[test]
    fn frames_survive_any_chunking(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
        cuts in proptest::collection::vec(1usize..64, 1..50),
    ) {
        let mut wire = Vec::new();
        for f in &frames {
            wire.extend_from_slice(&(f.len() as i32).to_be_bytes());
            wire.extend_from_slice(f);
        }
        let decoder = FrameDecoder::new(300);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut cut = cuts.iter().cycle();
        while pos < wire.len() {
            let n = (*cut.next().unwrap()).min(wire.len() - pos);
            buf.put_slice(&wire[pos..pos + n]);
            pos += n;
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                out.push(frame.to_vec());
            }
        }
        prop_assert_eq!(out, frames);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_oversize_is_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let decoder = FrameDecoder::new(32);
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => prop_assert!(frame.len() <= 32),
                Ok(None) => break,
                Err(FrameError::TooLarge { size, .. }) => { prop_assert!(size > 32); break }
                Err(FrameError::NegativeSize { size, .. }) => { prop_assert!(size < 0); break }
                Err(other) => prop_assert!(false, "unexpected frame error {other}"),
            }
        }
    }
}
