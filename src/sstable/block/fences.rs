//! [`RestartFences`]: a dense copy of eight bytes of every restart key of a block, to
//! narrow the binary search over its restart points before it touches the block.
//!
//! A table's index block has one restart point per data block (tens of thousands in a
//! 64 MiB table), and every step of the search over them reads a restart offset and
//! then the entry it points to, two cache misses apart from the last step's. Here each
//! restart key is cut to the 8 bytes that follow the prefix all of them share and kept
//! as a big-endian `u64`, so a search over those integers finds the restart points
//! whose keys may equal the target in those bytes; the block's own search then runs
//! over those alone, usually one or two of them.
//!
//! The integers are laid out as a static B+-tree of cache lines (an "S-tree"): the
//! bottom level is all of them in order, eight to a 64-byte line, and each level above
//! holds the largest integer of every line below it, until one line is left. A search
//! counts, in one line per level, the integers below the target (eight comparisons the
//! compiler vectorizes) and so finds the line to read next: one cache miss per level,
//! five levels for 30 000 restarts, where a binary search over them took fifteen
//! dependent steps, the upper ones cached and the lower ones each a miss or two.
//!
//! Promises: cutting keys this way keeps their order (a shorter key is padded with
//! zeros, so it may tie with a longer one, never pass it), so the narrowed range always
//! holds the restart point the block's full search would find. Fences are an
//! accelerator only: a block whose restart keys cannot be read gets none, and its
//! search reports the damage as before.

use std::cmp::Ordering;

/// The restart keys' distinguishing bytes; see the module comment.
pub(crate) struct RestartFences {
    /// The prefix shared by every restart key's user key.
    prefix: Box<[u8]>,
    /// How many restart points there are.
    len: usize,
    /// The tree's levels, bottom first: the bottom holds, per restart point, the 8
    /// user-key bytes after `prefix` (zero-padded, big-endian); each level above, the
    /// last integer of every line of the level below. Lines are padded with `u64::MAX`.
    levels: Vec<Box<[Line]>>,
}

const LINE: usize = 8;

/// Eight integers on one cache line.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Line([u64; LINE]);

impl Line {
    /// How many of the line's integers are below `target`.
    #[inline(always)]
    fn count_below(&self, target: u64) -> usize {
        self.0.iter().map(|&k| usize::from(k < target)).sum()
    }
}

/// `words` in lines, the last one padded.
fn lines(words: impl Iterator<Item = u64>) -> Box<[Line]> {
    let words: Vec<u64> = words.collect();
    words
        .chunks(LINE)
        .map(|chunk| {
            let mut line = Line([u64::MAX; LINE]);
            line.0[..chunk.len()].copy_from_slice(chunk);
            line
        })
        .collect()
}

impl RestartFences {
    /// Fences over `restart_keys`, the user keys of a block's restart points in order
    /// (`None` if there are none).
    pub(crate) fn new(restart_keys: &[&[u8]]) -> Option<RestartFences> {
        let (first, last) = (restart_keys.first()?, restart_keys.last()?);
        // Keys are sorted, so what the first and last share, all share.
        let shared = first.iter().zip(last.iter()).take_while(|(a, b)| a == b).count();
        let mut levels = vec![lines(restart_keys.iter().map(|k| word_after(k, shared)))];
        while let Some(below) = levels.last().filter(|level| level.len() > 1) {
            let above = lines(below.iter().map(|line| line.0[LINE - 1]));
            levels.push(above);
        }
        Some(RestartFences { prefix: first[..shared].into(), len: restart_keys.len(), levels })
    }

    /// How many restart points' integers are below `target` (a lower bound).
    fn count_below(&self, target: u64) -> usize {
        // Each level's count is the index of the line to read in the level below: that
        // line's last integer is the first of its level at or above the target.
        let mut at = 0;
        for level in self.levels.iter().rev() {
            let Some(line) = level.get(at) else { return self.len };
            at = at * LINE + line.count_below(target);
        }
        at.min(self.len)
    }

    /// The bottom level's integer for restart point `i`.
    fn word(&self, i: usize) -> Option<u64> {
        self.levels.first()?.get(i / LINE).map(|line| line.0[i % LINE])
    }

    /// Restart points `(lo, hi)` such that, of all restart keys, the last one below
    /// `user_key` (or restart 0 if none is) lies within `lo..=hi`: every restart before
    /// `lo` and after `hi` is decided by the fences alone.
    pub(crate) fn narrow(&self, user_key: &[u8]) -> (usize, usize) {
        let n = self.len;
        let head = &user_key[..user_key.len().min(self.prefix.len())];
        // Below the shared prefix (or a prefix of it): every key is above the target.
        // Above it: every key is below.
        let (below, not_above) = match head.cmp(&self.prefix) {
            Ordering::Less => (0, 0),
            Ordering::Greater => (n, n),
            Ordering::Equal => {
                let target = word_after(user_key, self.prefix.len());
                let below = self.count_below(target);
                // Ties in the 8 bytes are rare (keys that share more than the common
                // prefix plus 8 bytes): one more search finds where they end.
                let not_above = match (self.word(below), target.checked_add(1)) {
                    (Some(w), Some(next)) if below < n && w == target => self.count_below(next),
                    (Some(w), None) if below < n && w == target => n,
                    _ => below,
                };
                (below, not_above)
            }
        };
        // Restart `below - 1` is below the target for sure; restart `not_above` (if any)
        // is above it, so the answer is before it.
        let lo = below.saturating_sub(1);
        (lo, not_above.saturating_sub(1).max(lo))
    }
}

/// The 8 bytes of `key` from `at`, zero-padded, as a big-endian integer.
fn word_after(key: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    let rest = key.get(at..).unwrap_or_default();
    let n = rest.len().min(8);
    word[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer a plain search gives: the last key below `target`, or 0.
    fn last_below(keys: &[Vec<u8>], target: &[u8]) -> usize {
        keys.iter().rposition(|k| k.as_slice() < target).unwrap_or(0)
    }

    fn check(keys: &[Vec<u8>], targets: &[Vec<u8>]) {
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let fences = RestartFences::new(&refs).unwrap();
        for t in targets {
            let (lo, hi) = fences.narrow(t);
            let want = last_below(keys, t);
            assert!(lo <= want && want <= hi, "target {t:?}: {want} outside {lo}..={hi} of {keys:?}");
            // Everything outside the range is decided: below the target before `lo`,
            // at or above it after `hi`.
            assert!(keys[..lo].iter().all(|k| k.as_slice() < t.as_slice()));
            assert!(keys[hi + 1..].iter().all(|k| k.as_slice() >= t.as_slice()));
        }
    }

    #[test]
    fn narrowed_range_holds_the_answer() {
        let mut rng = crate::util::rng::Rng::new(17);
        // Shared prefixes of 0 to 12 bytes, keys of 0 to 20 bytes over a small alphabet
        // (ties in the 8 fenced bytes, keys that are prefixes of others, zero bytes that
        // padding could confuse with a shorter key).
        for round in 0..300 {
            let shared: Vec<u8> = (0..round % 13).map(|_| b'a' + (rng.next_u64() % 3) as u8).collect();
            let mut keys: Vec<Vec<u8>> = (0..1 + rng.next_u64() % 40)
                .map(|_| {
                    let mut k = shared.clone();
                    k.extend(
                        (0..rng.next_u64() % 20).map(|_| [0u8, 1, b'a', b'b', 0xff][(rng.next_u64() % 5) as usize]),
                    );
                    k
                })
                .collect();
            keys.sort();
            keys.dedup();
            let mut targets: Vec<Vec<u8>> = keys.clone();
            for k in &keys {
                let mut longer = k.clone();
                longer.push(0);
                targets.push(longer);
                targets.push(k[..k.len() / 2].to_vec());
                let mut bumped = k.clone();
                if let Some(b) = bumped.last_mut() {
                    *b = b.wrapping_add(1);
                }
                targets.push(bumped);
            }
            targets.extend([vec![], vec![0], vec![0xff; 30], shared.clone()]);
            check(&keys, &targets);
        }
    }

    #[test]
    fn tree_search_counts_as_a_sorted_search_does() {
        // Sizes across line and level boundaries (1, 8, 9, 64, 65, 512, 513 lines ...),
        // words with many ties and at both ends of the range.
        let mut rng = crate::util::rng::Rng::new(3);
        for n in [1usize, 2, 7, 8, 9, 63, 64, 65, 100, 511, 512, 513, 4096, 4097, 5000] {
            let mut keys: Vec<[u8; 8]> = (0..n)
                .map(|_| match rng.next_u64() % 4 {
                    0 => [0; 8],
                    1 => [0xff; 8],
                    2 => (rng.next_u64() % 50).to_be_bytes(),
                    _ => rng.next_u64().to_be_bytes(),
                })
                .collect();
            keys.sort();
            let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
            let fences = RestartFences::new(&refs).unwrap();
            let words: Vec<u64> = keys.iter().map(|k| word_after(k, fences.prefix.len())).collect();
            let mut targets: Vec<u64> = vec![0, 1, u64::MAX, u64::MAX - 1];
            for w in &words {
                targets.extend([*w, w.wrapping_add(1), w.wrapping_sub(1)]);
            }
            targets.extend((0..200).map(|_| rng.next_u64()));
            for t in targets {
                assert_eq!(fences.count_below(t), words.partition_point(|&w| w < t), "n {n} target {t:#x}");
            }
        }
    }

    #[test]
    fn distinct_words_narrow_to_one_or_two_restarts() {
        let keys: Vec<Vec<u8>> = (0..1000u64).map(|i| format!("user{:012}", i * 10).into_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let fences = RestartFences::new(&refs).unwrap();
        let (lo, hi) = fences.narrow(b"user000000004995");
        assert_eq!((lo, hi), (499, 499));
        assert!(RestartFences::new(&[]).is_none());
    }
}
