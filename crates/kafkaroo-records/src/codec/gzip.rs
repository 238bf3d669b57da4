//! gzip: one or more concatenated members (flate2, pure-Rust miniz_oxide backend).

use std::io::Read;

use flate2::read::MultiGzDecoder;

use super::CodecError;

pub(crate) fn decompress(input: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
    // Deflate inflates at most ~1032:1, so this initial guess never over-allocates much.
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(cap));
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(input)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(CodecError::corrupt)?;
    if out.len() > cap {
        return Err(CodecError::TooLarge);
    }
    Ok(out)
}
