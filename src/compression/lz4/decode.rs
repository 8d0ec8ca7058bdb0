//! An LZ4 *block* decoder (the format lz4_flex and the reference library write), in safe
//! Rust.
//!
//! Why our own: lz4_flex copies a match byte by byte whenever the match starts less than
//! `length + 15` bytes back, because its 16-byte wild copies could otherwise overrun.
//! Values that repeat within a few dozen bytes (db_bench's, and much real data) hit that
//! path on every entry, and it made up half the cost of a get that misses the block
//! cache. Here a short literal run or match (up to 64 bytes) far enough from the ends of
//! input and output is copied in fixed-size chunks, which compile to a few vector
//! moves, and may write up to a chunk past its end: the bytes there are rewritten by the
//! sequences that follow, as the output is produced in order and must be complete. A
//! match's chunks never read bytes not yet final, as it runs only for offsets of at
//! least a chunk. Other copies are exact: one `copy_from_slice` or `copy_within`, and a
//! match that overlaps its own output (period shorter than its length) in doublings of
//! its period. A `memcpy` call per copy was most of the decoder's time on db_bench's
//! values, a 50-byte literal run and a 50-byte match each. The output is a slice, so a
//! block can be decoded straight into a block-cache slot.
//!
//! The format, one *sequence* after another until the input ends:
//!
//! ```text
//! token:          u8    high nibble = literal length L, low nibble = match length M - 4
//! [L extension]:  u8*   if L == 15: add bytes while each is 255, then the last one
//! literals:       L bytes
//! -- the last sequence ends here, with no match part --
//! offset:         u16 (little endian), 1..=bytes decoded so far
//! [M extension]:  u8*   if M - 4 == 15: as for L
//! ```
//!
//! Every length and offset is checked against the input and the promised output size,
//! so damaged input is an `Err`, never a panic, an out-of-bounds read, or more output
//! than the caller asked for.

/// Decodes the LZ4 block `src`, which must decode to exactly `len` bytes, into a new
/// vector. `len` is allocated up front, so a caller reading it from disk bounds it first
/// (as `compression::decompress` does).
pub fn decompress(src: &[u8], len: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0; len];
    decompress_to(src, &mut out)?;
    Ok(out)
}

/// Decodes the LZ4 block `src`, which must decode to exactly `dst.len()` bytes, into
/// `dst` (what it held before is overwritten; on error, partly).
pub fn decompress_to(src: &[u8], dst: &mut [u8]) -> Result<(), String> {
    let len = dst.len();
    let (mut ip, mut op) = (0, 0);
    loop {
        let token = *src.get(ip).ok_or("compressed block ends before its last sequence")?;
        ip += 1;
        let literals = read_length(src, &mut ip, usize::from(token >> 4))?;
        let lit_end = ip.checked_add(literals).filter(|&e| e <= src.len()).ok_or("literal run past the input")?;
        if op + literals > len {
            return Err("literal run past the promised length".into());
        }
        if literals <= SHORT && ip + SHORT <= src.len() && op + SHORT <= len {
            copy_chunks::<LITERAL_CHUNK>(&src[ip..ip + SHORT], &mut dst[op..op + SHORT], literals);
        } else {
            dst[op..op + literals].copy_from_slice(&src[ip..lit_end]);
        }
        op += literals;
        ip = lit_end;
        if ip == src.len() {
            break;
        }
        let offset = match src.get(ip..ip + 2) {
            Some(&[lo, hi]) => usize::from(u16::from_le_bytes([lo, hi])),
            _ => return Err("match offset past the input".into()),
        };
        ip += 2;
        let match_len = read_length(src, &mut ip, usize::from(token & 0x0f))? + 4;
        if offset == 0 || offset > op {
            return Err(format!("match offset {offset} outside the {op} bytes decoded"));
        }
        if op + match_len > len {
            return Err("match past the promised length".into());
        }
        let short = match_len <= SHORT && op + SHORT <= len;
        if short && offset <= literals && match_len <= offset && lit_end - offset + SHORT <= src.len() {
            // The match repeats part of the literal run just copied: read it from the
            // input, not from output stores still in flight, which a load straddling
            // two of them has to wait for (a quarter of the decode's time before).
            let from = lit_end - offset;
            copy_chunks::<LITERAL_CHUNK>(&src[from..from + SHORT], &mut dst[op..op + SHORT], match_len);
        } else if short && offset >= MATCH_CHUNK {
            copy_match_chunks(dst, op, offset, match_len);
        } else {
            copy_match(dst, op, offset, match_len);
        }
        op += match_len;
    }
    if op != len {
        return Err(format!("compressed block decodes to {op} bytes, header says {len}"));
    }
    Ok(())
}

/// The longest literal run or match copied in chunks; the chunk path also needs this
/// many bytes of input and output left, for the bytes its last chunk copies past the end.
const SHORT: usize = 64;
/// Chunk sizes: a literal run's source is the input, so its chunks may be any size; a
/// match's chunks must not exceed its offset, and most offsets in real data are short.
const LITERAL_CHUNK: usize = 32;
const MATCH_CHUNK: usize = 16;

/// Copies the first `n` bytes of `from` to `to` (both at least `n` rounded up to `N`
/// long) in `N`-byte chunks, writing whole chunks past `n`.
#[inline(always)]
fn copy_chunks<const N: usize>(from: &[u8], to: &mut [u8], n: usize) {
    let mut at = 0;
    while at < n {
        to[at..at + N].copy_from_slice(&from[at..at + N]);
        at += N;
    }
}

/// [`copy_match`] in `MATCH_CHUNK`-byte chunks, for `offset >= MATCH_CHUNK` and
/// `op + SHORT <= dst.len()`, `len <= SHORT`: each chunk is loaded whole before it is
/// stored, and lies at least a chunk behind where it goes, so it only holds bytes
/// already final (from before `op`, or from this match's earlier chunks).
#[inline(always)]
fn copy_match_chunks(dst: &mut [u8], op: usize, offset: usize, len: usize) {
    let mut at = 0;
    while at < len {
        let mut chunk = [0u8; MATCH_CHUNK];
        chunk.copy_from_slice(&dst[op - offset + at..op - offset + at + MATCH_CHUNK]);
        dst[op + at..op + at + MATCH_CHUNK].copy_from_slice(&chunk);
        at += MATCH_CHUNK;
    }
}

/// Reads a length whose token nibble is `nibble`, with its extension bytes if any.
fn read_length(src: &[u8], ip: &mut usize, nibble: usize) -> Result<usize, String> {
    let mut n = nibble;
    if nibble == 15 {
        loop {
            let b = *src.get(*ip).ok_or("length extension past the input")?;
            *ip += 1;
            n += usize::from(b);
            if b != 255 {
                break;
            }
        }
    }
    Ok(n)
}

/// Writes `len` bytes at `op` copied from `offset` bytes back (`1 <= offset <= op`,
/// `op + len <= dst.len()`).
fn copy_match(dst: &mut [u8], op: usize, offset: usize, len: usize) {
    let start = op - offset;
    if offset >= len {
        dst.copy_within(start..start + len, op);
        return;
    }
    // The match overlaps its own output: it repeats the `offset` bytes before it. Each
    // copy from `start` doubles how much of that repetition is available, and never
    // overlaps what it writes.
    let mut done = 0;
    while done < len {
        let n = (len - done).min(op + done - start);
        dst.copy_within(start..start + n, op + done);
        done += n;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn roundtrip(raw: &[u8]) {
        let compressed = lz4_flex::block::compress(raw);
        assert_eq!(decompress(&compressed, raw.len()).unwrap(), raw, "{} bytes", raw.len());
    }

    /// A reproducible byte source for the LZ4 tests of this module and the encoder's.
    pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut rng = crate::util::rng::Rng::new(seed);
        move || rng.next_u64()
    }

    #[test]
    fn decodes_what_lz4_flex_encodes() {
        let mut rng = xorshift(7);
        roundtrip(b"");
        roundtrip(b"a");
        roundtrip(&[0u8; 10_000]); // offset-1 runs: the overlapping copy
        roundtrip(&b"abc".repeat(3000)); // short periods
        let random: Vec<u8> = (0..5000).map(|_| rng() as u8).collect();
        roundtrip(&random); // all literals, long length extensions
                            // db_bench-like values: 50 random bytes repeated twice, behind short keys.
        let mut block = Vec::new();
        for i in 0..40u32 {
            block.extend_from_slice(&i.to_be_bytes());
            let half: Vec<u8> = (0..50).map(|_| b' ' + (rng() % 95) as u8).collect();
            block.extend_from_slice(&half);
            block.extend_from_slice(&half);
        }
        roundtrip(&block);
        // Mixtures with every period from 1 to 40 and lengths across the 15/19 edges.
        for period in 1..40usize {
            let mut raw: Vec<u8> = (0..period).map(|_| rng() as u8).collect();
            for len in [3usize, 4, 14, 15, 16, 18, 19, 20, 255, 270, 600] {
                for i in 0..len {
                    raw.push(raw[raw.len() - period + i % period]);
                }
                raw.extend((0..(rng() % 30) as usize).map(|_| rng() as u8));
            }
            roundtrip(&raw);
        }
    }

    /// A sequence: its literals and its match (offset, length), if any.
    type Sequence = (Vec<u8>, Option<(usize, usize)>);

    /// Encodes sequences by hand, the last one without a match, and decodes them byte
    /// by byte as the format defines.
    fn encode(seqs: &[Sequence]) -> (Vec<u8>, Vec<u8>) {
        fn put_len(out: &mut Vec<u8>, mut n: usize) {
            while n >= 255 {
                out.push(255);
                n -= 255;
            }
            out.push(n as u8);
        }
        let (mut enc, mut raw) = (Vec::new(), Vec::new());
        for (lits, m) in seqs {
            let ml = m.map_or(0, |(_, l)| l - 4);
            enc.push(((lits.len().min(15) as u8) << 4) | ml.min(15) as u8);
            if lits.len() >= 15 {
                put_len(&mut enc, lits.len() - 15);
            }
            enc.extend_from_slice(lits);
            raw.extend_from_slice(lits);
            if let Some((offset, len)) = *m {
                enc.extend_from_slice(&(offset as u16).to_le_bytes());
                if ml >= 15 {
                    put_len(&mut enc, ml - 15);
                }
                for _ in 0..len {
                    raw.push(raw[raw.len() - offset]);
                }
            }
        }
        (enc, raw)
    }

    #[test]
    fn every_literal_and_match_shape() {
        // Literal runs and matches of every length and offset up to 40, across the 15
        // and 19 length-extension edges, overlapping and not, each block ending on a
        // short literal run.
        let mut rng = xorshift(5);
        // Also across the chunked copies' edges: offsets around their 16-byte chunk,
        // literal runs and matches around their 32/64-byte limits.
        for offset in (1..=40usize).chain([47, 48, 63, 64, 65, 100]) {
            for len in [4usize, 5, 15, 16, 17, 19, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100] {
                for lits in [0usize, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65] {
                    let first: Vec<u8> = (0..offset.max(lits)).map(|_| rng() as u8).collect();
                    let mid: Vec<u8> = (0..lits).map(|_| rng() as u8).collect();
                    let tail: Vec<u8> = (0..lits % 7).map(|_| rng() as u8).collect();
                    let (enc, raw) = encode(&[(first, Some((offset, len))), (mid, Some((offset, len))), (tail, None)]);
                    assert_eq!(decompress(&enc, raw.len()).unwrap(), raw, "offset {offset} len {len} lits {lits}");
                }
            }
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let raw = b"hello hello hello hello hello".repeat(20);
        let c = lz4_flex::block::compress(&raw);
        assert!(decompress(&c, raw.len() - 1).is_err());
        assert!(decompress(&c, raw.len() + 1).is_err());
        for cut in 0..c.len() {
            assert!(decompress(&c[..cut], raw.len()).is_err(), "cut at {cut}");
        }
        // A zero offset, and an offset reaching before the output.
        assert!(decompress(&[0x10, b'a', 0, 0], 5).is_err());
        assert!(decompress(&[0x10, b'a', 2, 0], 5).is_err());
    }

    /// The format decoded byte by byte, the way it is defined: what `decompress` must
    /// match on any input.
    fn reference(src: &[u8], len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut ip = 0;
        let length = |ip: &mut usize, nibble: usize| -> Option<usize> {
            let mut n = nibble;
            if nibble == 15 {
                loop {
                    let b = *src.get(*ip)?;
                    *ip += 1;
                    n += usize::from(b);
                    if b != 255 {
                        break;
                    }
                }
            }
            Some(n)
        };
        loop {
            let token = *src.get(ip)?;
            ip += 1;
            let lits = length(&mut ip, usize::from(token >> 4))?;
            out.extend_from_slice(src.get(ip..ip.checked_add(lits)?)?);
            ip += lits;
            if out.len() > len {
                return None;
            }
            if ip == src.len() {
                return (out.len() == len).then_some(out);
            }
            let offset = usize::from(u16::from_le_bytes([*src.get(ip)?, *src.get(ip + 1)?]));
            ip += 2;
            let m = length(&mut ip, usize::from(token & 0x0f))? + 4;
            if offset == 0 || offset > out.len() || out.len() + m > len {
                return None;
            }
            for _ in 0..m {
                out.push(out[out.len() - offset]);
            }
        }
    }

    #[test]
    fn damaged_streams_decode_as_the_reference_does() {
        // Valid streams of db_bench-like blocks (literal runs and matches of 40-70
        // bytes, the chunked copies' range), each damaged many ways: wherever both
        // decoders accept, they must agree byte for byte, and ours accepts exactly what
        // the reference does.
        let mut rng = xorshift(31);
        let mut encoder = super::super::Lz4Encoder::new();
        for round in 0..40 {
            let mut raw = Vec::new();
            while raw.len() < 4096 {
                raw.extend_from_slice(format!("{:016}", rng() % 1_000_000).as_bytes());
                let half: Vec<u8> =
                    (0..20 + round + (rng() % 40) as usize).map(|_| b' ' + (rng() % 95) as u8).collect();
                raw.extend_from_slice(&half);
                raw.extend_from_slice(&half);
            }
            let mut good = Vec::new();
            encoder.compress(&raw, &mut good);
            assert_eq!(reference(&good, raw.len()).as_deref(), Some(raw.as_slice()));
            for _ in 0..300 {
                let mut bad = good.clone();
                for _ in 0..1 + rng() % 3 {
                    let at = (rng() as usize) % bad.len();
                    bad[at] = rng() as u8;
                }
                let len = match rng() % 4 {
                    0 => raw.len() - (rng() % 70) as usize,
                    1 => raw.len() + (rng() % 70) as usize,
                    _ => raw.len(),
                };
                assert_eq!(decompress(&bad, len).ok(), reference(&bad, len), "round {round}");
            }
        }
    }

    #[test]
    fn garbage_never_panics_and_never_overruns() {
        let mut rng = xorshift(99);
        let raw = b"the quick brown fox jumps over the lazy dog ".repeat(50);
        let good = lz4_flex::block::compress(&raw);
        for i in 0..good.len() {
            for flip in [0x01u8, 0x5a, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                if let Ok(out) = decompress(&bad, raw.len()) {
                    assert_eq!(out.len(), raw.len());
                }
            }
        }
        for _ in 0..2000 {
            let n = (rng() % 64) as usize;
            let junk: Vec<u8> = (0..n).map(|_| rng() as u8).collect();
            let want = (rng() % 300) as usize;
            if let Ok(out) = decompress(&junk, want) {
                assert_eq!(out.len(), want);
            }
        }
    }
}
