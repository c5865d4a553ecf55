//! Zig-zag variable-length integers, as v2 records encode their fields; Kafka's `ByteUtils`
//! (`writeVarlong`/`readVarlong`). The one copy in Gregor.
//!
//! Format: the value zig-zag mapped to unsigned (`(v << 1) ^ (v >> 63)`, so small negatives stay
//! short), then 7 bits a byte, least significant first, the high bit set on every byte but the
//! last. At most 10 bytes for an i64.

/// Appends `v` as a zig-zag varint.
pub fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Reads a zig-zag varint at `*pos`, advancing it past the varint. `None` when `buf` ends
/// first or the varint runs past 10 bytes; `*pos` is then unspecified.
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        for (v, bytes) in [
            (0i64, &[0x00][..]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            assert_eq!(out, bytes, "{v}");
        }
    }

    #[test]
    fn overlong_and_cut_varints_are_refused() {
        assert_eq!(read_varlong(&[0x80; 11], &mut 0), None);
        assert_eq!(read_varlong(&[0x80, 0x80], &mut 0), None);
        assert_eq!(read_varlong(&[], &mut 0), None);
    }

    proptest! {
        #[test]
        fn round_trips(v in any::<i64>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            let len = out.len();
            prop_assert!(len <= 10);
            out.extend_from_slice(&tail);
            let mut pos = 0;
            prop_assert_eq!(read_varlong(&out, &mut pos), Some(v));
            prop_assert_eq!(pos, len);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut pos = 0;
            let _ = read_varlong(&bytes, &mut pos);
            prop_assert!(pos <= bytes.len());
        }
    }
}
