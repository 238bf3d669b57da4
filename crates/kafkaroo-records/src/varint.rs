//! Zigzag varints as used inside v2 records (not the unsigned varints of flexible protocol versions).
//!
//! Like the Java client, a varint may take at most 5 bytes and a varlong 10; bits beyond 32/64
//! in the last byte are dropped rather than rejected.

use crate::error::RecordErrorKind;

#[inline(always)]
fn unzigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[inline(always)]
fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads a zigzag varint (i32) at `*pos`, advancing it. One- and two-byte values (the common
/// case for record fields up to 8 KiB) take the inlined fast path.
#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, RecordErrorKind> {
    let p = *pos;
    let Some(&b0) = buf.get(p) else {
        return Err(RecordErrorKind::BadVarint);
    };
    if b0 < 0x80 {
        *pos = p + 1;
        return Ok(unzigzag32(u32::from(b0)));
    }
    if let Some(&b1) = buf.get(p + 1)
        && b1 < 0x80
    {
        *pos = p + 2;
        return Ok(unzigzag32(u32::from(b0 & 0x7f) | (u32::from(b1) << 7)));
    }
    read_long_slow(buf, pos, 5).map(|v| unzigzag32(v as u32))
}

/// Reads a zigzag varlong (i64) at `*pos`, advancing it.
#[inline(always)]
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, RecordErrorKind> {
    let p = *pos;
    let Some(&b0) = buf.get(p) else {
        return Err(RecordErrorKind::BadVarint);
    };
    if b0 < 0x80 {
        *pos = p + 1;
        return Ok(unzigzag64(u64::from(b0)));
    }
    if let Some(&b1) = buf.get(p + 1)
        && b1 < 0x80
    {
        *pos = p + 2;
        return Ok(unzigzag64(u64::from(b0 & 0x7f) | (u64::from(b1) << 7)));
    }
    read_long_slow(buf, pos, 10).map(unzigzag64)
}

/// Raw (not unzigzagged) varint of at most `max_bytes` bytes.
#[cold]
#[inline(never)]
fn read_long_slow(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, RecordErrorKind> {
    let mut v: u64 = 0;
    let start = *pos;
    for i in 0..max_bytes {
        let Some(&b) = buf.get(start + i) else {
            return Err(RecordErrorKind::BadVarint);
        };
        v |= u64::from(b & 0x7f).wrapping_shl(7 * i as u32);
        if b < 0x80 {
            *pos = start + i + 1;
            return Ok(v);
        }
    }
    Err(RecordErrorKind::BadVarint)
}

/// Appends a zigzag varint.
#[inline]
pub(crate) fn write_varint(out: &mut Vec<u8>, v: i32) {
    write_varlong(out, i64::from(v));
}

/// Appends a zigzag varlong.
#[inline]
pub(crate) fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Bytes [`write_varint`] would write for `v` (a varint and a varlong of the same value have the same
/// encoding).
#[inline]
pub(crate) fn varint_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes [`write_varlong`] would write for `v`.
#[inline]
pub(crate) fn varlong_len(v: i64) -> usize {
    varint_len(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let cases: &[(&[u8], i32)] = &[
            (&[0x00], 0),
            (&[0x01], -1),
            (&[0x02], 1),
            (&[0x7f], -64),
            (&[0x80, 0x01], 64),
            (&[0xfe, 0xff, 0xff, 0xff, 0x0f], i32::MAX),
            (&[0xff, 0xff, 0xff, 0xff, 0x0f], i32::MIN),
        ];
        for (bytes, want) in cases {
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos), Ok(*want), "{bytes:?}");
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        let mut pos = 0;
        assert_eq!(read_varint(&[], &mut pos), Err(RecordErrorKind::BadVarint));
        assert_eq!(read_varint(&[0x80], &mut pos), Err(RecordErrorKind::BadVarint));
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos),
            Err(RecordErrorKind::BadVarint)
        );
        assert_eq!(
            read_varlong(&[0x80; 10], &mut pos),
            Err(RecordErrorKind::BadVarint)
        );
        assert_eq!(pos, 0, "position must not move on error");
    }

    proptest! {
        #[test]
        fn varint_roundtrip(v: i32) {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            prop_assert_eq!(varint_len(i64::from(v)), out.len());
            let mut pos = 0;
            prop_assert_eq!(read_varint(&out, &mut pos), Ok(v));
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn varlong_roundtrip(v: i64) {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            prop_assert_eq!(varlong_len(v), out.len());
            let mut pos = 0;
            prop_assert_eq!(read_varlong(&out, &mut pos), Ok(v));
            prop_assert_eq!(pos, out.len());
        }
    }
}
