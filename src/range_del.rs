//! Range tombstones: one write that deletes every key of `[start, end)` older than it.
//!
//! A range deletion is stored as one tombstone, whatever number of keys it covers: in
//! a memtable beside the skiplist, in a table as its range-deletion block (see
//! `sstable::format`). A tombstone with seqno `c` hides every version of a key in its
//! range with a seqno below `c`, from the readers at `c` or later; readers of older
//! snapshots do not see it, so they still see the keys.
//!
//! Tombstones overlap freely as they are written. Reads want them *fragmented*
//! (Pebble's `keyspan`, RocksDB's `FragmentedRangeTombstoneList`): cut at every start
//! and end into pieces that do not overlap, each with the seqnos of every tombstone
//! that covers it. Then "what is the newest tombstone over key `k` that a reader at
//! `s` sees" is a binary search for the piece holding `k` and another among its
//! seqnos, however many tombstones overlap there.
//!
//! Promises: [`FragmentedTombstones`] answers exactly as the tombstones it was built
//! from would, one by one (tested against that brute force); it never trusts its input
//! to be sorted or disjoint, so a table's block is fragmented again when read.

use std::sync::Arc;

/// One range deletion as written: user keys in `[start, end)`, at seqno `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RangeTombstone {
    /// First key deleted.
    pub start: Vec<u8>,
    /// First key after the range (not deleted).
    pub end: Vec<u8>,
    /// The write's seqno: versions older than this are hidden.
    pub seq: u64,
}

/// A piece of the key space over which the same tombstones lie.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fragment {
    start: Vec<u8>,
    end: Vec<u8>,
    /// Seqnos of the tombstones covering the piece, newest first, no repeats.
    seqs: Vec<u64>,
}

/// Tombstones cut into sorted, non-overlapping fragments; see the module comment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FragmentedTombstones {
    fragments: Vec<Fragment>,
}

impl FragmentedTombstones {
    /// Fragments `tombstones`, in any order and overlapping in any way; empty ranges
    /// (`start >= end`) are ignored.
    pub(crate) fn new(mut tombstones: Vec<RangeTombstone>) -> Self {
        tombstones.retain(|t| t.start < t.end);
        tombstones.sort_unstable_by(|a, b| a.start.cmp(&b.start));
        let mut bounds: Vec<&[u8]> = tombstones.iter().flat_map(|t| [&t.start[..], &t.end[..]]).collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut fragments: Vec<Fragment> = Vec::new();
        // Sweep the boundaries in order; `active` holds the tombstones covering the
        // piece that starts at the current boundary.
        let mut active: Vec<(&[u8], u64)> = Vec::new();
        let mut next = 0;
        for piece in bounds.windows(2) {
            let (lo, hi) = (piece[0], piece[1]);
            while let Some(t) = tombstones.get(next).filter(|t| t.start.as_slice() <= lo) {
                active.push((&t.end, t.seq));
                next += 1;
            }
            active.retain(|&(end, _)| end > lo);
            if active.is_empty() {
                continue;
            }
            let mut seqs: Vec<u64> = active.iter().map(|&(_, seq)| seq).collect();
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            seqs.dedup();
            // A piece that continues the last one with the same tombstones extends it.
            match fragments.last_mut() {
                Some(last) if last.end == lo && last.seqs == seqs => last.end = hi.to_vec(),
                _ => fragments.push(Fragment { start: lo.to_vec(), end: hi.to_vec(), seqs }),
            }
        }
        FragmentedTombstones { fragments }
    }

    /// Fragments the tombstones of every list in `lists` together.
    pub(crate) fn merge<'a>(lists: impl IntoIterator<Item = &'a FragmentedTombstones>) -> Self {
        FragmentedTombstones::new(lists.into_iter().flat_map(|l| l.tombstones()).collect())
    }

    /// True if there is no tombstone.
    pub(crate) fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }

    /// Number of (fragment, seqno) pairs: the tombstones a table stores for these.
    pub(crate) fn len(&self) -> usize {
        self.fragments.iter().map(|f| f.seqs.len()).sum()
    }

    /// Every fragment with each of its seqnos, as tombstones: in start order, and
    /// newest first within a fragment (internal-key order of their starts).
    pub(crate) fn tombstones(&self) -> impl Iterator<Item = RangeTombstone> + '_ {
        self.fragments
            .iter()
            .flat_map(|f| f.seqs.iter().map(|&seq| RangeTombstone { start: f.start.clone(), end: f.end.clone(), seq }))
    }

    /// The first key any tombstone covers and the end of the last one.
    pub(crate) fn bounds(&self) -> Option<(&[u8], &[u8])> {
        Some((&self.fragments.first()?.start, &self.fragments.last()?.end))
    }

    /// The smallest and largest seqno of any tombstone.
    pub(crate) fn seq_range(&self) -> Option<(u64, u64)> {
        let seqs = self.fragments.iter().flat_map(|f| f.seqs.iter().copied());
        seqs.fold(None, |acc, s| Some(acc.map_or((s, s), |(lo, hi): (u64, u64)| (lo.min(s), hi.max(s)))))
    }

    /// The seqno of the newest tombstone covering `key` that a reader at `snapshot`
    /// sees; 0 if none does. A version of `key` with a lower seqno is deleted.
    pub(crate) fn covering_seq(&self, key: &[u8], snapshot: u64) -> u64 {
        let at = self.fragments.partition_point(|f| f.end.as_slice() <= key);
        self.covering_seq_in(at, key, snapshot)
    }

    fn covering_seq_in(&self, at: usize, key: &[u8], snapshot: u64) -> u64 {
        match self.fragments.get(at) {
            Some(f) if f.start.as_slice() <= key && key < f.end.as_slice() => {
                let i = f.seqs.partition_point(|&s| s > snapshot);
                f.seqs.get(i).copied().unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// What a compaction writes out: per fragment, every seqno above `oldest_snapshot`
    /// (some reader may not see it yet) and the newest one at or below it (every reader
    /// sees that one, and it hides whatever the older ones do), which goes too when
    /// `bottommost` (nothing older is left below for it to hide).
    pub(crate) fn pruned(&self, oldest_snapshot: u64, bottommost: bool) -> FragmentedTombstones {
        let mut fragments = Vec::new();
        for f in &self.fragments {
            let newer = f.seqs.partition_point(|&s| s > oldest_snapshot);
            let keep = if bottommost { newer } else { (newer + 1).min(f.seqs.len()) };
            if keep > 0 {
                fragments.push(Fragment { start: f.start.clone(), end: f.end.clone(), seqs: f.seqs[..keep].to_vec() });
            }
        }
        FragmentedTombstones { fragments }
    }

    /// The tombstones cut to the keys of `[lo, hi)` (unbounded where `None`).
    pub(crate) fn clipped(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Vec<RangeTombstone> {
        let mut out = Vec::new();
        for mut t in self.tombstones() {
            if let Some(lo) = lo.filter(|lo| t.start.as_slice() < *lo) {
                t.start = lo.to_vec();
            }
            if let Some(hi) = hi.filter(|hi| t.end.as_slice() > *hi) {
                t.end = hi.to_vec();
            }
            if t.start < t.end {
                out.push(t);
            }
        }
        out
    }
}

/// The range tombstones a read sees, from every source of its view, with a cursor per
/// list that remembers where the last question landed: a scan asks about keys in
/// order, so most answers take no search.
#[derive(Clone, Default)]
pub(crate) struct RangeDelView {
    lists: Vec<(Arc<FragmentedTombstones>, usize)>,
}

impl RangeDelView {
    /// A view over `lists` (empty ones are left out).
    pub(crate) fn new(lists: impl IntoIterator<Item = Arc<FragmentedTombstones>>) -> Self {
        RangeDelView { lists: lists.into_iter().filter(|l| !l.is_empty()).map(|l| (l, 0)).collect() }
    }

    /// True if the view holds no tombstone: reads skip every check.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// [`FragmentedTombstones::covering_seq`] over every list.
    pub(crate) fn covering_seq(&mut self, key: &[u8], snapshot: u64) -> u64 {
        let mut newest = 0;
        for (list, hint) in &mut self.lists {
            // `hint` is right if it is the first fragment ending after `key`: the one
            // holding it, or else the next one. A scan's next key usually has the same
            // one, or the one after; otherwise search.
            let frags = &list.fragments;
            let fits = |at: usize| {
                (at == 0 || frags[at - 1].end.as_slice() <= key) && frags.get(at).is_none_or(|f| key < f.end.as_slice())
            };
            if !fits(*hint) {
                *hint = if *hint < frags.len() && fits(*hint + 1) {
                    *hint + 1
                } else {
                    frags.partition_point(|f| f.end.as_slice() <= key)
                };
            }
            newest = newest.max(list.covering_seq_in(*hint, key, snapshot));
        }
        newest
    }

    /// True if a version of `key` with seqno `seq` is deleted for a reader at
    /// `snapshot` by a tombstone of the view.
    #[inline]
    pub(crate) fn covers(&mut self, key: &[u8], seq: u64, snapshot: u64) -> bool {
        !self.is_empty() && self.covering_seq(key, snapshot) > seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;

    fn t(start: &str, end: &str, seq: u64) -> RangeTombstone {
        RangeTombstone { start: start.into(), end: end.into(), seq }
    }

    /// The answer read off the tombstones one by one.
    fn brute(ts: &[RangeTombstone], key: &[u8], snapshot: u64) -> u64 {
        ts.iter()
            .filter(|t| t.start.as_slice() <= key && key < t.end.as_slice() && t.seq <= snapshot)
            .map(|t| t.seq)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn fragments_answer_as_the_tombstones_do() {
        let mut rng = Rng::new(7);
        for round in 0..300 {
            let n = 1 + rng.below(12) as usize;
            let key = |rng: &mut Rng| vec![b'a' + rng.below(8) as u8; 1 + rng.below(2) as usize];
            let ts: Vec<RangeTombstone> = (0..n)
                .map(|i| RangeTombstone {
                    start: key(&mut rng),
                    end: key(&mut rng),
                    seq: 1 + (i as u64 * 7 + round) % 20,
                })
                .collect();
            let f = FragmentedTombstones::new(ts.clone());
            let again = FragmentedTombstones::new(f.tombstones().collect());
            assert_eq!(again, f, "fragmenting fragments changes nothing");
            for w in f.fragments.windows(2) {
                assert!(w[0].end <= w[1].start, "fragments are sorted and disjoint");
            }
            let mut view = RangeDelView::new([Arc::new(f.clone())]);
            let keys = ["", "a", "aa", "b", "bb", "c", "d", "dd", "e", "g", "hh", "z"];
            // In order, as a scan asks (the view's hint), then backwards and skipping.
            let order = keys.iter().chain(keys.iter().rev()).chain(keys.iter().step_by(3));
            for k in order {
                for snap in [0, 5, 10, 20] {
                    let want = brute(&ts, k.as_bytes(), snap);
                    assert_eq!(f.covering_seq(k.as_bytes(), snap), want, "{ts:?} {k} @{snap}");
                    assert_eq!(view.covering_seq(k.as_bytes(), snap), want);
                }
            }
        }
    }

    #[test]
    fn overlapping_tombstones_are_cut_at_every_edge() {
        let f = FragmentedTombstones::new(vec![t("a", "e", 3), t("c", "g", 5), t("x", "x", 9), t("c", "d", 5)]);
        let shape: Vec<_> = f.tombstones().map(|t| (t.start, t.end, t.seq)).collect();
        let want = [("a", "c", 3), ("c", "e", 5), ("c", "e", 3), ("e", "g", 5)];
        assert_eq!(shape, want.map(|(s, e, q)| (s.as_bytes().to_vec(), e.as_bytes().to_vec(), q)));
        assert_eq!(f.len(), 4);
        assert_eq!(f.bounds(), Some((&b"a"[..], &b"g"[..])));
        assert_eq!(f.seq_range(), Some((3, 5)));
        assert!(FragmentedTombstones::new(vec![t("b", "a", 1)]).is_empty());
    }

    #[test]
    fn pruning_keeps_what_some_reader_can_tell_apart() {
        let f = FragmentedTombstones::new(vec![t("a", "z", 2), t("a", "z", 4), t("a", "z", 8), t("m", "n", 1)]);
        let seqs = |f: &FragmentedTombstones| f.tombstones().map(|t| t.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&f.pruned(5, false)), [8, 4, 8, 4, 8, 4]);
        assert_eq!(seqs(&f.pruned(5, true)), [8, 8, 8]);
        assert_eq!(seqs(&f.pruned(1, false)), [8, 4, 2, 8, 4, 2, 1, 8, 4, 2]);
        assert!(f.pruned(9, true).is_empty());
    }

    #[test]
    fn clipping_cuts_to_the_bounds() {
        let f = FragmentedTombstones::new(vec![t("b", "f", 3)]);
        assert_eq!(f.clipped(Some(b"c"), Some(b"e")), [t("c", "e", 3)]);
        assert_eq!(f.clipped(None, Some(b"c")), [t("b", "c", 3)]);
        assert_eq!(f.clipped(Some(b"a"), None), [t("b", "f", 3)]);
        assert!(f.clipped(Some(b"f"), None).is_empty());
        assert!(f.clipped(None, Some(b"b")).is_empty());
    }
}
