//! Internal keys: how one user key carries many versions.
//!
//! Every entry in a memtable or SSTable is stored under an *internal key*:
//!
//! ```text
//! +----------------+------------------------------------------+
//! | user key bytes | trailer: u64 LE = (seqno << 8) | kind      |
//! +----------------+------------------------------------------+
//! ```
//!
//! Sequence numbers are 56 bits and grow with every write; a snapshot is just the seqno
//! it was taken at. Internal keys order by user key ascending (bytewise) and then by
//! trailer *descending*, so the newest version of a key comes first and a seek to
//! `(key, snapshot_seqno)` lands on the newest version the snapshot may see.
//!
//! Also here, because every layer shares them: the key and value size limits, a point
//! lookup's target ([`LookupKey`]: user key, snapshot seqno and the key's filter hash,
//! computed once per lookup) and what a source answers about it ([`Lookup`]).

use std::cmp::Ordering;
use std::ops::{Bound, RangeBounds};

use crate::util::hash::hash64;

/// The longest key accepted (64 KiB).
pub const MAX_KEY_LEN: usize = 64 * 1024;

/// The longest value accepted (1 GiB); the contract promises at least 64 MiB.
pub const MAX_VALUE_LEN: usize = 1 << 30;

/// The largest 56-bit sequence number, reserved: no write carries it (recovery refuses a
/// WAL record that does), so seeks use it as "newer than every version of the key".
pub(crate) const MAX_SEQUENCE: u64 = (1 << 56) - 1;

/// Bytes in the trailer that follows the user key.
pub(crate) const TRAILER_LEN: usize = 8;

/// What an entry records about its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueKind {
    /// The key was deleted (a tombstone); the value is empty.
    Delete = 0,
    /// The key was set to the entry's value.
    Put = 1,
    /// A range deletion: the key is the range's start and the value its end. Only in
    /// write batches and range-deletion blocks, never among a table's or memtable's
    /// point entries (see `range_del.rs`).
    RangeDelete = 2,
}

impl ValueKind {
    /// Decodes a kind byte; `None` for bytes no writer produces.
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            2 => Some(ValueKind::RangeDelete),
            _ => None,
        }
    }
}

/// The kind used in seek targets: the highest kind value of a point entry, so it sorts
/// first among point entries of equal seqno.
pub(crate) const KIND_FOR_SEEK: ValueKind = ValueKind::Put;

/// The trailer of a table's largest key when a range tombstone ends the table: the
/// bound `(end, MAX_SEQUENCE, RangeDelete)` sorts before every real version of `end`,
/// so the table ends *before* `end` (RocksDB's range-deletion sentinel). Also the
/// trailer of a smallest key that a tombstone starts, which sorts before every version
/// of its key.
pub(crate) const RANGE_BOUND_TRAILER: u64 = (MAX_SEQUENCE << 8) | ValueKind::RangeDelete as u64;

/// The internal key that bounds a table at `user_key` on behalf of a range tombstone
/// (see [`RANGE_BOUND_TRAILER`]).
pub(crate) fn range_bound_key(user_key: &[u8]) -> Vec<u8> {
    make_internal_key(user_key, MAX_SEQUENCE, ValueKind::RangeDelete)
}

/// Packs seqno and kind into the trailer value.
pub(crate) fn pack_trailer(seq: u64, kind: ValueKind) -> u64 {
    debug_assert!(seq <= MAX_SEQUENCE);
    (seq << 8) | kind as u64
}

/// Appends the internal key `(user_key, seq, kind)` to `dst`.
pub(crate) fn append_internal_key(dst: &mut Vec<u8>, user_key: &[u8], seq: u64, kind: ValueKind) {
    dst.extend_from_slice(user_key);
    dst.extend_from_slice(&pack_trailer(seq, kind).to_le_bytes());
}

/// Builds an internal key in a fresh vector.
pub fn make_internal_key(user_key: &[u8], seq: u64, kind: ValueKind) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    append_internal_key(&mut v, user_key, seq, kind);
    v
}

/// The seek target for "newest version of `user_key` visible at `seq`".
pub fn seek_key(user_key: &[u8], seq: u64) -> Vec<u8> {
    make_internal_key(user_key, seq, KIND_FOR_SEEK)
}

/// A point entry's internal key split into its parts. Only built from keys that passed
/// [`ParsedKey::parse`], so the parts are always consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The user's key.
    pub user_key: &'a [u8],
    /// The write's sequence number.
    pub seq: u64,
    /// Put or delete.
    pub kind: ValueKind,
}

impl<'a> ParsedKey<'a> {
    /// Splits a point entry's internal key; `None` if it is too short or its kind is
    /// not a put's or a delete's (a range deletion's kind belongs in range-deletion
    /// blocks only: met among point entries, it is damage, not a deletion).
    pub fn parse(ikey: &'a [u8]) -> Option<ParsedKey<'a>> {
        let split = ikey.len().checked_sub(TRAILER_LEN)?;
        let trailer = crate::util::coding::read_u64(ikey, split)?;
        let kind = ValueKind::from_u8((trailer & 0xff) as u8).filter(|k| *k != ValueKind::RangeDelete)?;
        Some(ParsedKey { user_key: &ikey[..split], seq: trailer >> 8, kind })
    }
}

/// The user-key part of an internal key (the whole slice if it is too short to have a
/// trailer, which only corrupt input can produce and which parse checks reject).
pub fn user_key(ikey: &[u8]) -> &[u8] {
    &ikey[..ikey.len().saturating_sub(TRAILER_LEN)]
}

/// The trailer (`seq << 8 | kind`) of an internal key; 0 if `ikey` is too short to have one.
pub(crate) fn trailer(ikey: &[u8]) -> u64 {
    crate::util::coding::read_u64(ikey, ikey.len().saturating_sub(TRAILER_LEN)).unwrap_or(0)
}

/// Bytewise order of two user keys, the same as `a.cmp(b)`.
///
/// Every merge step and every probe of a block or memtable seek compares keys, and
/// typical keys are a few dozen bytes: comparing them eight bytes at a time as
/// big-endian words settles them without a call into libc's `memcmp`, which costs more
/// than the comparison itself at these lengths. Longer keys go to `memcmp`.
#[inline]
pub(crate) fn compare_user_keys(a: &[u8], b: &[u8]) -> Ordering {
    const INLINE_MAX: usize = 32;
    let n = a.len().min(b.len());
    if n > INLINE_MAX {
        return a.cmp(b);
    }
    let word = |s: &[u8], i: usize| u64::from_be_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut i = 0;
    while i + 8 <= n {
        let (x, y) = (word(a, i), word(b, i));
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

/// Orders internal keys: user key ascending, then trailer (seqno, kind) descending.
pub fn compare_internal(a: &[u8], b: &[u8]) -> Ordering {
    match compare_user_keys(user_key(a), user_key(b)) {
        Ordering::Equal => trailer(b).cmp(&trailer(a)),
        ord => ord,
    }
}

/// A short internal key `s` with `last <= s < next` (`next` = `None`: no upper bound),
/// for index entries: a block is found by any key between its last key and the next
/// block's first, so the index need not store whole keys (LevelDB's
/// `FindShortestSeparator` / `FindShortSuccessor`). Falls back to `last` itself.
pub(crate) fn index_separator(last: &[u8], next: Option<&[u8]>) -> Vec<u8> {
    let last_user = user_key(last);
    let mut short = match next {
        Some(next) => {
            let next_user = user_key(next);
            let common = last_user.iter().zip(next_user).take_while(|(a, b)| a == b).count();
            // Bump the first differing byte of `last` if that keeps it below `next`.
            match (last_user.get(common), next_user.get(common)) {
                (Some(&a), Some(&b)) if a < 0xff && a + 1 < b => {
                    let mut s = last_user[..=common].to_vec();
                    s[common] = a + 1;
                    s
                }
                _ => return last.to_vec(),
            }
        }
        None => match last_user.iter().position(|&b| b != 0xff) {
            Some(i) => {
                let mut s = last_user[..=i].to_vec();
                s[i] += 1;
                s
            }
            None => return last.to_vec(),
        },
    };
    if short.len() >= last_user.len() {
        return last.to_vec();
    }
    // The newest possible version of `short` sorts before every other version of it, and
    // `short` > `last`'s user key, so the result is > `last`.
    let trailer = pack_trailer(MAX_SEQUENCE, KIND_FOR_SEEK);
    short.extend_from_slice(&trailer.to_le_bytes());
    short
}

/// A point lookup's target: a user key as of a snapshot seqno, with the key's filter
/// hash computed once for every memtable and table the lookup asks (LevelDB's
/// `LookupKey` plays the same part).
#[derive(Clone, Copy, Debug)]
pub struct LookupKey<'a> {
    user_key: &'a [u8],
    seq: u64,
    hash: u64,
}

impl<'a> LookupKey<'a> {
    /// The newest version of `user_key` with seqno <= `seq` is wanted.
    pub fn new(user_key: &'a [u8], seq: u64) -> Self {
        LookupKey { user_key, seq, hash: hash64(user_key) }
    }

    /// The user key looked up.
    pub fn user_key(&self) -> &'a [u8] {
        self.user_key
    }

    /// The snapshot: versions with a higher seqno are invisible.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The user key's bloom filter hash (`util::hash::hash64`).
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// A range of user keys with owned bounds: what ranged operations (approximate sizes,
/// ranged compaction) ask tables and levels about.
#[derive(Clone, Debug)]
pub(crate) struct UserKeyRange {
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
}

impl UserKeyRange {
    /// The range `range` describes.
    pub(crate) fn new<K: AsRef<[u8]>, R: RangeBounds<K>>(range: &R) -> Self {
        let own = |b: Bound<&K>| b.map(|k| k.as_ref().to_vec());
        UserKeyRange { lo: own(range.start_bound()), hi: own(range.end_bound()) }
    }

    /// True if no key lies in the range.
    pub(crate) fn is_empty(&self) -> bool {
        match (&self.lo, &self.hi) {
            (_, Bound::Unbounded) => false,
            (Bound::Unbounded, Bound::Included(_)) => false,
            // Nothing sorts before the empty key.
            (Bound::Unbounded, Bound::Excluded(hi)) => hi.is_empty(),
            (Bound::Included(lo), Bound::Included(hi)) => lo > hi,
            (Bound::Included(lo), Bound::Excluded(hi)) | (Bound::Excluded(lo), Bound::Included(hi)) => lo >= hi,
            // The smallest key after `lo` is `lo` followed by a zero byte.
            (Bound::Excluded(lo), Bound::Excluded(hi)) => {
                lo >= hi || (hi.len() == lo.len() + 1 && hi.starts_with(lo) && hi.last() == Some(&0))
            }
        }
    }

    /// True if `k` sorts before every key of the range.
    pub(crate) fn is_below(&self, k: &[u8]) -> bool {
        match &self.lo {
            Bound::Included(lo) => k < lo.as_slice(),
            Bound::Excluded(lo) => k <= lo.as_slice(),
            Bound::Unbounded => false,
        }
    }

    /// True if `k` sorts after every key of the range.
    pub(crate) fn is_above(&self, k: &[u8]) -> bool {
        match &self.hi {
            Bound::Included(hi) => k > hi.as_slice(),
            Bound::Excluded(hi) => k >= hi.as_slice(),
            Bound::Unbounded => false,
        }
    }

    /// True if some key of the range lies in `[first, last]`.
    pub(crate) fn overlaps(&self, first: &[u8], last: &[u8]) -> bool {
        !self.is_above(first) && !self.is_below(last)
    }

    /// True if every key of `[first, last]` lies in the range.
    pub(crate) fn contains_all(&self, first: &[u8], last: &[u8]) -> bool {
        !self.is_below(first) && !self.is_above(last)
    }
}

/// What one source (a memtable, a table) knows about a key at a snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    /// The newest visible version is a put with this value and seqno (which a range
    /// tombstone elsewhere may be newer than).
    Found(T, u64),
    /// The newest visible version is a tombstone: stop looking, the key is absent.
    Deleted,
    /// No visible version here: look in older sources.
    Missing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_key_ranges_know_when_they_are_empty_and_what_they_overlap() {
        use std::ops::Bound::{Excluded as X, Included as I, Unbounded as U};
        let r = |lo: Bound<&[u8]>, hi: Bound<&[u8]>| UserKeyRange::new::<&[u8], _>(&(lo, hi));
        for (lo, hi) in [
            (I(&b"b"[..]), I(&b"a"[..])),
            (I(b"a"), X(b"a")),
            (X(b"a"), I(b"a")),
            (X(b"a"), X(b"a\0")),
            (U, X(b"")),
            (X(b"b"), X(b"a")),
        ] {
            assert!(r(lo, hi).is_empty(), "{lo:?}..{hi:?}");
        }
        for (lo, hi) in
            [(I(&b"a"[..]), I(&b"a"[..])), (X(b"a"), X(b"a\0\0")), (X(b"a"), X(b"b")), (U, X(b"\0")), (U, U)]
        {
            assert!(!r(lo, hi).is_empty(), "{lo:?}..{hi:?}");
        }
        let mid = r(X(b"c"), I(b"f"));
        assert!(mid.overlaps(b"a", b"d") && mid.overlaps(b"f", b"z") && mid.overlaps(b"d", b"e"));
        assert!(!mid.overlaps(b"a", b"c") && !mid.overlaps(b"fa", b"z"));
        assert!(mid.contains_all(b"ca", b"f") && !mid.contains_all(b"c", b"d") && !mid.contains_all(b"d", b"g"));
    }

    #[test]
    fn user_key_order_is_bytewise_order() {
        // Pairs that share prefixes of every length around the 8-byte words and the
        // inline limit, differ in one byte (below, above, at 0x00/0xff) or in length.
        let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
        for len in [1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 64] {
            let base: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            for at in [0, len / 2, len - 1] {
                for byte in [0x00, 0x7f, 0x80, 0xff] {
                    let mut k = base.clone();
                    k[at] = byte;
                    keys.push(k);
                }
            }
            keys.push(base[..len - 1].to_vec());
            keys.push(base);
        }
        for a in &keys {
            for b in &keys {
                assert_eq!(compare_user_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn index_separators_are_short_and_in_range() {
        let ik = |k: &[u8], seq| make_internal_key(k, seq, ValueKind::Put);
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, &'a [u8]); // last, next, separator
        let cases: &[Case] = &[
            (b"0000000000123456", Some(b"0000000000129999"), b"0000000000124"),
            (b"abc", Some(b"abd"), b"abc"),             // adjacent: nothing shorter
            (b"ab", Some(b"abc"), b"ab"),               // prefix of next
            (b"a\xff\xffz", Some(b"b"), b"a\xff\xffz"), // cannot bump 0xff
            (b"apple", Some(b"banana"), b"apple"),      // 'a' + 1 == 'b': not below next
            (b"apple", Some(b"cherry"), b"b"),
            (b"apple", None, b"b"),
            (b"\xff\xff", None, b"\xff\xff"),
        ];
        for &(last, next, want) in cases {
            let (l, n) = (ik(last, 7), next.map(|n| ik(n, 3)));
            let s = index_separator(&l, n.as_deref());
            assert_eq!(user_key(&s), want, "{last:?} .. {next:?}");
            assert!(compare_internal(&l, &s).is_le());
            if let Some(n) = &n {
                assert!(compare_internal(&s, n).is_lt());
            }
        }
    }

    #[test]
    fn newer_versions_sort_first() {
        let a = make_internal_key(b"k", 10, ValueKind::Put);
        let b = make_internal_key(b"k", 5, ValueKind::Put);
        let c = make_internal_key(b"k", 5, ValueKind::Delete);
        let d = make_internal_key(b"ka", 99, ValueKind::Put);
        assert_eq!(compare_internal(&a, &b), Ordering::Less);
        assert_eq!(compare_internal(&b, &c), Ordering::Less);
        assert_eq!(compare_internal(&c, &d), Ordering::Less);
        assert_eq!(compare_internal(&a, &a), Ordering::Equal);
        // A shorter user key that is a prefix of another sorts first regardless of seqno.
        let short = make_internal_key(b"k", 0, ValueKind::Delete);
        assert_eq!(compare_internal(&short, &d), Ordering::Less);
    }

    #[test]
    fn parse_round_trips_and_rejects_garbage() {
        let k = make_internal_key(b"user", 123456, ValueKind::Delete);
        let p = ParsedKey::parse(&k).unwrap();
        assert_eq!(p, ParsedKey { user_key: b"user", seq: 123456, kind: ValueKind::Delete });
        assert!(ParsedKey::parse(&[1, 2, 3]).is_none());
        let mut bad = k.clone();
        let n = bad.len();
        bad[n - 8] = 7; // unknown kind
        assert!(ParsedKey::parse(&bad).is_none());
        bad[n - 8] = ValueKind::RangeDelete as u8; // not a point entry's kind
        assert!(ParsedKey::parse(&bad).is_none());
    }

    #[test]
    fn seek_key_lands_on_visible_version() {
        let target = seek_key(b"k", 7);
        let v8 = make_internal_key(b"k", 8, ValueKind::Put);
        let v7 = make_internal_key(b"k", 7, ValueKind::Put);
        let v6 = make_internal_key(b"k", 6, ValueKind::Delete);
        assert_eq!(compare_internal(&v8, &target), Ordering::Less);
        assert_eq!(compare_internal(&v7, &target), Ordering::Equal);
        assert_eq!(compare_internal(&v6, &target), Ordering::Greater);
    }
}
