//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the corpus replay test. Not a stable API.

use bytes::{Bytes, BytesMut};

use crate::frame::FrameDecoder;
use crate::messages::{
    ApiVersionsRequest, FetchRequest, JoinGroupRequest, MetadataRequest, OffsetFetchRequest,
};

/// Feeds `data` to the frame decoder in chunks (the first byte picks the chunk size) and decodes every
/// complete frame as a response of a few APIs at a version picked by the second byte. Must never panic,
/// hang, or allocate beyond the 1 MiB frame cap.
pub fn frame(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let Some((&version, rest)) = rest.split_first() else {
        return;
    };
    let chunk = usize::from(chunk.max(1));
    let decoder = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => responses(frame.freeze(), i16::from(version % 20)),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

fn responses(frame: Bytes, version: i16) {
    let _ = crate::peek_correlation_id(&frame);
    let _ = crate::decode_response::<FetchRequest>(version.clamp(4, 18), frame.clone());
    let _ = crate::decode_response::<MetadataRequest>(version.min(13), frame.clone());
    let _ = crate::decode_response::<ApiVersionsRequest>(version.min(4), frame.clone());
    let _ = crate::decode_response::<JoinGroupRequest>(version.min(9), frame.clone());
    let _ = crate::decode_response::<OffsetFetchRequest>(version.clamp(1, 9), frame);
}
