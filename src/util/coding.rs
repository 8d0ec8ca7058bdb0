//! Little-endian fixed-width integers and LEB128 varints, the building bricks of every
//! on-disk format. Decoders never panic: they return `None` on truncated input so the
//! caller can report corruption with the file name it knows.

/// Appends `v` as a LEB128 varint (1–10 bytes).
pub(crate) fn put_varint64(dst: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 10];
    let n = encode_varint64(&mut buf, v);
    dst.extend_from_slice(&buf[..n]);
}

/// Writes `v` as a LEB128 varint at the front of `dst` and returns its length (1–10
/// bytes). For callers that gather several fields before one append.
///
/// # Panics
/// If `dst` is shorter than the varint; ten bytes always suffice.
#[inline]
pub(crate) fn encode_varint64(dst: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        dst[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    dst[n] = v as u8;
    n + 1
}

/// Appends `v` as a LEB128 varint (1–5 bytes).
pub(crate) fn put_varint32(dst: &mut Vec<u8>, v: u32) {
    put_varint64(dst, u64::from(v));
}

/// Decodes a varint from the front of `src`; returns the value and the bytes consumed.
#[inline]
pub(crate) fn get_varint64(src: &[u8]) -> Option<(u64, usize)> {
    // Lengths in blocks are nearly always under 128: decode those without the loop.
    match src.first() {
        Some(&b) if b < 0x80 => Some((u64::from(b), 1)),
        Some(_) => get_varint64_slow(src),
        None => None,
    }
}

fn get_varint64_slow(src: &[u8]) -> Option<(u64, usize)> {
    // With eight bytes at hand, find the last byte (the first without its high bit) and
    // gather the 7-bit groups with shifts instead of a loop: internal-key trailers
    // (seqno and kind) take 3 to 5 bytes and are decoded once per entry read.
    if let Some(word) = src.first_chunk::<8>() {
        let x = u64::from_le_bytes(*word);
        let ends = !x & 0x8080_8080_8080_8080;
        if ends != 0 {
            let n = ends.trailing_zeros() as usize / 8 + 1;
            let x = if n == 8 { x } else { x & ((1u64 << (8 * n)) - 1) };
            // Close the gaps between the 7-bit groups: pairs into 14 bits, then 28, then 56.
            let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
            let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
            let x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
            return Some((x, n));
        }
    }
    let mut result = 0u64;
    for (i, &b) in src.iter().enumerate().take(10) {
        let shift = 7 * i as u32;
        if i == 9 && b > 1 {
            return None; // would overflow 64 bits
        }
        result |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some((result, i + 1));
        }
    }
    None
}

/// Length of the varint at the start of `src`, found without decoding it; `None` if it
/// is truncated or longer than a `u64` varint can be.
#[inline]
pub(crate) fn varint_len(src: &[u8]) -> Option<usize> {
    if let Some(word) = src.first_chunk::<8>() {
        let ends = !u64::from_le_bytes(*word) & 0x8080_8080_8080_8080;
        if ends != 0 {
            return Some(ends.trailing_zeros() as usize / 8 + 1);
        }
    }
    src.iter().take(10).position(|&b| b < 0x80).map(|i| i + 1)
}

/// Decodes a varint that must fit in 32 bits.
#[inline]
pub(crate) fn get_varint32(src: &[u8]) -> Option<(u32, usize)> {
    let (v, n) = get_varint64(src)?;
    u32::try_from(v).ok().map(|v| (v, n))
}

/// Appends a varint length followed by the bytes themselves.
pub(crate) fn put_length_prefixed(dst: &mut Vec<u8>, bytes: &[u8]) {
    put_varint64(dst, bytes.len() as u64);
    dst.extend_from_slice(bytes);
}

/// Length of the common prefix of `a` and `b`, compared eight bytes at a time: block
/// builders pay for it on every entry, and the LZ4 encoder on every match it extends.
pub(crate) fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let word = |s: &[u8]| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
        let diff = word(a) ^ word(b);
        if diff != 0 {
            // Little-endian: the first differing byte is the lowest non-zero one.
            return i + diff.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i + a[i..n].iter().zip(&b[i..n]).take_while(|(x, y)| x == y).count()
}

/// Reads `u32` little-endian at `pos`, if the slice is long enough.
pub(crate) fn read_u32(src: &[u8], pos: usize) -> Option<u32> {
    let b = src.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads `u64` little-endian at `pos`, if the slice is long enough.
pub(crate) fn read_u64(src: &[u8], pos: usize) -> Option<u64> {
    let b = src.get(pos..pos.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// A cursor that decodes fields one after another from a byte slice.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// Starts decoding at the front of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Decoder { buf }
    }

    /// True when every byte has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes a varint.
    pub(crate) fn varint64(&mut self) -> Option<u64> {
        let (v, n) = get_varint64(self.buf)?;
        self.buf = &self.buf[n..];
        Some(v)
    }

    /// Takes a varint that must fit in 32 bits.
    pub(crate) fn varint32(&mut self) -> Option<u32> {
        u32::try_from(self.varint64()?).ok()
    }

    /// Takes `n` raw bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    /// Takes a varint length and that many bytes.
    pub(crate) fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint64()?).ok()?;
        self.bytes(n)
    }

    /// Takes one byte.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }

    /// Takes a little-endian `u32`.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let v = read_u32(self.buf, 0)?;
        self.buf = &self.buf[4..];
        Some(v)
    }

    /// Takes a little-endian `u64`.
    pub(crate) fn u64(&mut self) -> Option<u64> {
        let v = read_u64(self.buf, 0)?;
        self.buf = &self.buf[8..];
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_len_matches_a_byte_by_byte_count() {
        let base: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for len_a in [0, 1, 7, 8, 9, 16, 17, 40] {
            for len_b in [0, 5, 8, 15, 16, 24, 40] {
                for differ_at in [0, 3, 7, 8, 12, 16, 39, 99] {
                    let a = &base[..len_a];
                    let mut b = base[..len_b].to_vec();
                    if let Some(x) = b.get_mut(differ_at) {
                        *x ^= 0x40;
                    }
                    let want = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
                    assert_eq!(common_prefix_len(a, &b), want, "{len_a} {len_b} {differ_at}");
                }
            }
        }
    }

    #[test]
    fn varint_round_trip() {
        let values = [0u64, 1, 127, 128, 255, 300, 16383, 16384, u32::MAX as u64, u64::MAX];
        let mut buf = Vec::new();
        for &v in &values {
            put_varint64(&mut buf, v);
        }
        let mut d = Decoder::new(&buf);
        for &v in &values {
            assert_eq!(d.varint64(), Some(v));
        }
        assert!(d.is_empty());
    }

    #[test]
    fn every_length_decodes_alike_whatever_follows() {
        // Values of 1..=10 bytes, followed by no bytes, zeros, or bytes with high bits
        // set, which the eight-byte path must mask off.
        for bits in 0..64 {
            for v in [1u64 << bits, (1u64 << bits) - 1, (1u64 << bits) | 0x55] {
                let mut enc = Vec::new();
                put_varint64(&mut enc, v);
                for tail in [&[][..], &[0u8; 9][..], &[0xffu8; 9][..]] {
                    let mut buf = enc.clone();
                    buf.extend_from_slice(tail);
                    assert_eq!(get_varint64(&buf), Some((v, enc.len())), "{v:#x} with tail {tail:?}");
                    assert_eq!(varint_len(&buf), Some(enc.len()), "{v:#x} with tail {tail:?}");
                }
            }
        }
    }

    #[test]
    fn truncated_and_overlong_varints_fail() {
        assert_eq!(get_varint64(&[0x80]), None);
        assert_eq!(get_varint64(&[]), None);
        assert_eq!(get_varint64(&[0xff; 11]), None);
        assert_eq!(get_varint64(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]), None);
        assert_eq!(get_varint32(&[0xff, 0xff, 0xff, 0xff, 0x1f]), None);
        assert_eq!(varint_len(&[0x80]), None);
        assert_eq!(varint_len(&[]), None);
        assert_eq!(varint_len(&[0xff; 11]), None);
        assert_eq!(varint_len(&[0xff; 9]), None);
    }

    #[test]
    fn decoder_refuses_short_input() {
        let mut buf = Vec::new();
        put_length_prefixed(&mut buf, b"hello");
        let mut d = Decoder::new(&buf[..4]);
        assert_eq!(d.length_prefixed(), None);
        assert_eq!(Decoder::new(&[1, 2, 3]).u32(), None);
        assert_eq!(read_u64(&[0; 7], 0), None);
        assert_eq!(read_u32(&[0; 8], usize::MAX), None);
    }
}
