//! Zigzag varints as used inside v2 records (not the unsigned varints of flexible protocol versions).
//!
//! Like the Java client, a varint may take at most 5 bytes and a varlong 10; bits beyond 32/64
//! in the last byte are dropped rather than rejected.

use crate::error::RecordErrorKind;

/// Reads a zigzag varint (i32) at `*pos`, advancing it.
#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, RecordErrorKind> {
    let Some(&b) = buf.get(*pos) else {
        return Err(RecordErrorKind::BadVarint);
    };
    if b < 0x80 {
        *pos += 1;
        let v = u32::from(b);
        return Ok(((v >> 1) as i32) ^ -((v & 1) as i32));
    }
    read_varint_slow(buf, pos)
}

#[inline(never)]
fn read_varint_slow(buf: &[u8], pos: &mut usize) -> Result<i32, RecordErrorKind> {
    let mut v: u32 = 0;
    let mut p = *pos;
    for shift in (0..35).step_by(7) {
        let Some(&b) = buf.get(p) else {
            return Err(RecordErrorKind::BadVarint);
        };
        p += 1;
        v |= u32::from(b & 0x7f).wrapping_shl(shift);
        if b < 0x80 {
            *pos = p;
            return Ok(((v >> 1) as i32) ^ -((v & 1) as i32));
        }
    }
    Err(RecordErrorKind::BadVarint)
}

/// Reads a zigzag varlong (i64) at `*pos`, advancing it.
#[inline(always)]
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, RecordErrorKind> {
    let Some(&b) = buf.get(*pos) else {
        return Err(RecordErrorKind::BadVarint);
    };
    if b < 0x80 {
        *pos += 1;
        let v = u64::from(b);
        return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
    }
    read_varlong_slow(buf, pos)
}

#[inline(never)]
fn read_varlong_slow(buf: &[u8], pos: &mut usize) -> Result<i64, RecordErrorKind> {
    let mut v: u64 = 0;
    let mut p = *pos;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(p) else {
            return Err(RecordErrorKind::BadVarint);
        };
        p += 1;
        v |= u64::from(b & 0x7f).wrapping_shl(shift);
        if b < 0x80 {
            *pos = p;
            return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    Err(RecordErrorKind::BadVarint)
}

#[cfg(any(test, feature = "__test-encoder"))]
pub(crate) fn write_varint(out: &mut Vec<u8>, v: i32) {
    write_varlong(out, i64::from(v));
}

#[cfg(any(test, feature = "__test-encoder"))]
pub(crate) fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
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
            let mut pos = 0;
            prop_assert_eq!(read_varint(&out, &mut pos), Ok(v));
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn varlong_roundtrip(v: i64) {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            let mut pos = 0;
            prop_assert_eq!(read_varlong(&out, &mut pos), Ok(v));
            prop_assert_eq!(pos, out.len());
        }
    }
}
