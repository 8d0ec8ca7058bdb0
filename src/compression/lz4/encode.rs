//! [`Lz4Encoder`]: writes the LZ4 block format that [`super`] lays out and
//! decodes, the greedy way the reference LZ4 does at its default speed.
//!
//! How it finds matches: a table maps the hash of the four bytes at a position to the
//! last position that hashed there. At each position the table gives one candidate; if
//! its four bytes are equal (and it is at most 65 535 bytes back) the match is extended
//! backwards over pending literals and forwards as far as it goes, and a sequence is
//! written. Runs without matches are crossed in growing strides (one more byte per 64
//! misses), which keeps incompressible data cheap.
//!
//! Why our own: every table a flush or a compaction writes passes through here, and
//! lz4_flex's encoder clears a fresh 16 KiB hash table for every 4 KiB block. This one
//! keeps its table from block to block: a stored position counts only if it is at
//! least the current block's `base`, and `base` moves past every position of the
//! blocks before. A stale entry becomes candidate position 0, checked like any other,
//! which is what a cleared table would give: no table is ever cleared, and a block's
//! encoding does not depend on the blocks before it.
//!
//! What the format's reference decoders require, and this encoder keeps to: the last
//! five bytes are literals, and no match starts within the last twelve bytes.

use crate::util::coding::common_prefix_len;

/// log2 of the hash table's entries (the reference's default: 4096).
const HASH_LOG: u32 = 12;
const HASH_SIZE: usize = 1 << HASH_LOG;
const MIN_MATCH: usize = 4;
/// The last bytes of a block that are always literals.
const LAST_LITERALS: usize = 5;
/// No match starts within this many bytes of the end.
const MF_LIMIT: usize = 12;
/// Farthest back a match may reach: offsets are two bytes.
const MAX_DISTANCE: usize = u16::MAX as usize;
/// Misses before the search stride grows by one byte.
const SKIP_TRIGGER: u32 = 6;

/// An LZ4 block encoder whose hash table is reused across calls.
pub struct Lz4Encoder {
    /// `base + position` of the last position whose four bytes hashed to each slot.
    table: Box<[u32; HASH_SIZE]>,
    /// Added to this block's positions; every entry below it is from an earlier block.
    base: u32,
}

impl Default for Lz4Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Lz4Encoder {
    /// An encoder with an empty table.
    pub fn new() -> Self {
        Lz4Encoder { table: Box::new([0; HASH_SIZE]), base: 1 }
    }

    /// Appends the LZ4 block encoding of `src` to `out`.
    pub fn compress(&mut self, src: &[u8], out: &mut Vec<u8>) {
        let n = src.len();
        // Positions of this block must fit above `base` in a u32; otherwise start over
        // with a cleared table (every 4 GiB of input), or, for a block that large, write
        // literals only.
        if u32::try_from(n).map_or(true, |n| n >= u32::MAX - self.base) {
            self.table.fill(0);
            self.base = 1;
            if u32::try_from(n).map_or(true, |n| n >= u32::MAX - 1) {
                emit_last_literals(out, src);
                return;
            }
        }
        let base = self.base;
        // `n < u32::MAX - base` was checked above.
        self.base += n as u32;
        if n <= MF_LIMIT {
            emit_last_literals(out, src);
            return;
        }
        let match_limit = n - LAST_LITERALS;
        let last_start = n - MF_LIMIT;
        let table = &mut self.table;
        let mut anchor = 0;
        let mut ip = 0;
        'sequences: loop {
            // Find a match at or after `ip`.
            let mut attempts = 1u32 << SKIP_TRIGGER;
            let (mut at, mut from) = loop {
                if ip > last_start {
                    break 'sequences;
                }
                let seq = read_u32(src, ip);
                let slot = hash(seq);
                let candidate = table[slot];
                table[slot] = base + ip as u32;
                // A stale entry (from an earlier block) becomes position 0, a real
                // candidate of this block that is checked like any other. Branching on
                // "stale or not", which is random, mispredicted so often that blocks
                // not seen before took twice as long (criterion
                // `lz4_encode_4k_block/strata_distinct_blocks`: 5.65 -> 2.81 us).
                let c = candidate.saturating_sub(base) as usize;
                if c < ip && ip - c <= MAX_DISTANCE && read_u32(src, c) == seq {
                    break (ip, c);
                }
                ip += (attempts >> SKIP_TRIGGER) as usize;
                attempts += 1;
            };
            // Take in equal bytes before the match that would otherwise be literals.
            while at > anchor && from > 0 && src[at - 1] == src[from - 1] {
                at -= 1;
                from -= 1;
            }
            let len = MIN_MATCH + common_prefix_len(&src[at + MIN_MATCH..match_limit], &src[from + MIN_MATCH..]);
            emit_sequence(out, &src[anchor..at], at - from, len);
            ip = at + len;
            anchor = ip;
            // Index a position inside the match, as the reference does: the next
            // sequence often repeats the end of this one.
            if ip - 2 <= last_start {
                table[hash(read_u32(src, ip - 2))] = base + (ip - 2) as u32;
            }
        }
        emit_last_literals(out, &src[anchor..]);
    }
}

/// The four bytes at `at` (which the callers keep at least four bytes from the end).
fn read_u32(src: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(src[at..at + 4].try_into().unwrap_or([0; 4]))
}

/// Knuth's multiplicative hash of four bytes, to a table slot.
fn hash(seq: u32) -> usize {
    (seq.wrapping_mul(2_654_435_761) >> (32 - HASH_LOG)) as usize
}

/// A length beyond a token nibble's 15: bytes of 255, then the rest.
fn put_length(out: &mut Vec<u8>, mut n: usize) {
    while n >= 255 {
        out.push(255);
        n -= 255;
    }
    out.push(n as u8);
}

fn emit_sequence(out: &mut Vec<u8>, literals: &[u8], offset: usize, match_len: usize) {
    let extra = match_len - MIN_MATCH;
    out.push(((literals.len().min(15) as u8) << 4) | extra.min(15) as u8);
    if literals.len() >= 15 {
        put_length(out, literals.len() - 15);
    }
    out.extend_from_slice(literals);
    out.extend_from_slice(&(offset as u16).to_le_bytes());
    if extra >= 15 {
        put_length(out, extra - 15);
    }
}

fn emit_last_literals(out: &mut Vec<u8>, literals: &[u8]) {
    out.push((literals.len().min(15) as u8) << 4);
    if literals.len() >= 15 {
        put_length(out, literals.len() - 15);
    }
    out.extend_from_slice(literals);
}

#[cfg(test)]
mod tests {
    use super::super::decode::tests::xorshift;
    use super::super::decompress;
    use super::*;

    /// db_bench-like entries: short keys, values of 50 random printable bytes twice.
    fn entries(rng: &mut impl FnMut() -> u64, n: usize) -> Vec<u8> {
        let mut raw = Vec::new();
        for i in 0..n {
            raw.extend_from_slice(format!("{:016}", i * 2).as_bytes());
            let half: Vec<u8> = (0..50).map(|_| b' ' + (rng() % 95) as u8).collect();
            raw.extend_from_slice(&half);
            raw.extend_from_slice(&half);
        }
        raw
    }

    fn check(enc: &mut Lz4Encoder, raw: &[u8]) -> usize {
        let mut out = vec![0xee]; // appends after what is there
        enc.compress(raw, &mut out);
        assert_eq!(out[0], 0xee);
        assert_eq!(decompress(&out[1..], raw.len()).unwrap(), raw, "{} bytes", raw.len());
        assert_eq!(lz4_flex::block::decompress(&out[1..], raw.len()).unwrap(), raw, "lz4_flex reads it");
        out.len() - 1
    }

    #[test]
    fn round_trips_through_both_decoders() {
        let mut rng = xorshift(3);
        let mut enc = Lz4Encoder::new();
        for len in 0..40 {
            let raw: Vec<u8> = (0..len).map(|i| b"abcab"[i % 5]).collect();
            check(&mut enc, &raw);
        }
        check(&mut enc, &[0u8; 10_000]);
        check(&mut enc, &b"abc".repeat(30_000)); // longer than a match may reach back
        let random: Vec<u8> = (0..100_000).map(|_| rng() as u8).collect();
        check(&mut enc, &random);
        for period in 1..70usize {
            let mut raw: Vec<u8> = (0..period).map(|_| rng() as u8).collect();
            for len in [3usize, 4, 14, 15, 18, 19, 20, 270, 600] {
                for i in 0..len {
                    raw.push(raw[raw.len() - period + i % period]);
                }
                raw.extend((0..(rng() % 30) as usize).map(|_| rng() as u8));
            }
            check(&mut enc, &raw);
        }
    }

    #[test]
    fn a_reused_table_never_matches_an_earlier_block() {
        // Each block repeats the previous one: a stale table entry that leaked through
        // would point at bytes of this block that differ, or past its start.
        let mut rng = xorshift(9);
        let mut enc = Lz4Encoder::new();
        let mut fresh_sizes = Vec::new();
        let blocks: Vec<Vec<u8>> = (0..20).map(|_| entries(&mut rng, 30)).collect();
        for b in &blocks {
            check(&mut enc, b);
            fresh_sizes.push(check(&mut Lz4Encoder::new(), b));
        }
        // A reused table must compress each block exactly as a fresh one does.
        for (b, fresh) in blocks.iter().zip(fresh_sizes) {
            assert_eq!(check(&mut enc, b), fresh);
        }
    }

    #[test]
    fn the_table_starts_over_before_positions_overflow() {
        let mut enc = Lz4Encoder::new();
        enc.base = u32::MAX - 100;
        let raw = b"hello hello hello hello hello hello".repeat(10);
        let size = check(&mut enc, &raw);
        assert!(enc.base < 1000, "the table was reset");
        assert!(size < raw.len() / 4);
    }

    #[test]
    fn compresses_block_data_as_well_as_lz4_flex() {
        let mut rng = xorshift(11);
        let mut enc = Lz4Encoder::new();
        let (mut ours, mut theirs) = (0, 0);
        for _ in 0..50 {
            let raw = entries(&mut rng, 32);
            ours += check(&mut enc, &raw);
            theirs += lz4_flex::block::compress(&raw).len();
        }
        assert!(ours <= theirs + theirs / 100, "ours {ours} bytes, lz4_flex {theirs}");
    }
}
