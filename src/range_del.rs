//! Range tombstones: one write that deletes every key of `[start, end)` older than it.
//!
//! A range deletion is stored as one tombstone, whatever number of keys it covers: in
//! a memtable beside the skiplist, in a table as its range-deletion block (see
//! `sstable::format`). A tombstone with seqno `c` hides every version of a key in its
//! range with a seqno below `c`, from the readers at `c` or later; readers of older
//! snapshots do not see it, so they still see the keys.
//!
//! Tombstones overlap freely as they are written. Reads want them *fragmented* (Pebble's
//! `keyspan`, RocksDB's `FragmentedRangeTombstoneList`): cut at every start and end into
//! pieces that do not overlap. [`FragmentedTombstones`] keeps, per piece, only the
//! newest seqno over it: "the newest tombstone over key `k`" is then one binary search,
//! however many tombstones overlap there. Keeping every seqno per piece instead would
//! make `n` nested tombstones (a log truncated again and again from the front) cost
//! `n²/2` entries; this keeps memory and build time at O(n) and O(n log n) whatever the
//! input, which also bounds what a crafted table can make a reader allocate. A reader
//! older than a piece's newest tombstone, rare (only snapshots reading through newer
//! tombstones), falls back to the tombstones sorted by seqno.
//!
//! Promises: [`FragmentedTombstones::covering_seq`] answers exactly as the tombstones it
//! was built from would, one by one (tested against that brute force), for any input
//! order and overlap.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

/// One range deletion: user keys in `[start, end)`, at seqno `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RangeTombstone {
    /// First key deleted.
    pub start: Vec<u8>,
    /// First key after the range (not deleted).
    pub end: Vec<u8>,
    /// The write's seqno: versions older than this are hidden.
    pub seq: u64,
}

/// A piece of the key space and the newest tombstone over it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Piece {
    start: Vec<u8>,
    end: Vec<u8>,
    newest: u64,
}

/// Tombstones fragmented for reads; see the module comment.
#[derive(Clone, Debug, Default)]
pub(crate) struct FragmentedTombstones {
    /// Sorted, disjoint pieces, each with the newest seqno over it.
    pieces: Vec<Piece>,
    /// Every tombstone (start < end), newest first.
    by_seq: Vec<RangeTombstone>,
}

impl FragmentedTombstones {
    /// Fragments `tombstones`, in any order and overlapping in any way; empty ranges
    /// (`start >= end`) are ignored.
    pub(crate) fn new(mut tombstones: Vec<RangeTombstone>) -> Self {
        tombstones.retain(|t| t.start < t.end);
        let pieces = newest_pieces(&tombstones);
        tombstones.sort_unstable_by(|a, b| b.seq.cmp(&a.seq).then_with(|| a.start.cmp(&b.start)));
        FragmentedTombstones { pieces, by_seq: tombstones }
    }

    /// Fragments the tombstones of every list in `lists` together.
    pub(crate) fn merge<'a>(lists: impl IntoIterator<Item = &'a FragmentedTombstones>) -> Self {
        FragmentedTombstones::new(lists.into_iter().flat_map(|l| l.by_seq.iter().cloned()).collect())
    }

    /// True if there is no tombstone.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    /// Number of tombstones.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Every tombstone, newest first.
    pub(crate) fn tombstones(&self) -> &[RangeTombstone] {
        &self.by_seq
    }

    /// The pieces, as tombstones each at the newest seqno over it: what every reader
    /// that sees all of these tombstones needs of them.
    pub(crate) fn newest(&self) -> impl Iterator<Item = RangeTombstone> + '_ {
        self.pieces.iter().map(|p| RangeTombstone { start: p.start.clone(), end: p.end.clone(), seq: p.newest })
    }

    /// The seqno of the newest tombstone covering `key` that a reader at `snapshot`
    /// sees; 0 if none does. A version of `key` with a lower seqno is deleted.
    pub(crate) fn covering_seq(&self, key: &[u8], snapshot: u64) -> u64 {
        self.covering_seq_in(self.piece_for(key), key, snapshot)
    }

    /// The index of the first piece that ends after `key`.
    fn piece_for(&self, key: &[u8]) -> usize {
        self.pieces.partition_point(|p| p.end.as_slice() <= key)
    }

    /// [`covering_seq`](Self::covering_seq) with `at` = [`piece_for`](Self::piece_for).
    fn covering_seq_in(&self, at: usize, key: &[u8], snapshot: u64) -> u64 {
        match self.pieces.get(at) {
            Some(p) if p.start.as_slice() <= key => {
                if p.newest <= snapshot {
                    return p.newest;
                }
                // An older reader: the newest tombstone it sees that covers the key.
                let visible = self.by_seq.partition_point(|t| t.seq > snapshot);
                let covering =
                    self.by_seq[visible..].iter().find(|t| t.start.as_slice() <= key && key < t.end.as_slice());
                covering.map_or(0, |t| t.seq)
            }
            _ => 0,
        }
    }
}

/// The pieces `tombstones` cut the key space into, each with the newest seqno over it,
/// adjacent pieces with the same one joined: a sweep over the starts and ends with the
/// covering seqnos in an ordered map and the ends in a heap, O(n log n).
fn newest_pieces(tombstones: &[RangeTombstone]) -> Vec<Piece> {
    let mut by_start: Vec<&RangeTombstone> = tombstones.iter().collect();
    by_start.sort_unstable_by(|a, b| a.start.cmp(&b.start));
    let mut bounds: Vec<&[u8]> = tombstones.iter().flat_map(|t| [&t.start[..], &t.end[..]]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut covering: BTreeMap<u64, usize> = BTreeMap::new();
    let mut ends: BinaryHeap<Reverse<(&[u8], u64)>> = BinaryHeap::new();
    let mut next = 0;
    for piece in bounds.windows(2) {
        let (lo, hi) = (piece[0], piece[1]);
        while let Some(t) = by_start.get(next).filter(|t| t.start.as_slice() <= lo) {
            *covering.entry(t.seq).or_insert(0) += 1;
            ends.push(Reverse((&t.end, t.seq)));
            next += 1;
        }
        while let Some(Reverse((_, seq))) = ends.peek().filter(|Reverse((end, _))| *end <= lo).copied() {
            ends.pop();
            if let Some(n) = covering.get_mut(&seq) {
                *n -= 1;
                if *n == 0 {
                    covering.remove(&seq);
                }
            }
        }
        let Some((&newest, _)) = covering.last_key_value() else { continue };
        match pieces.last_mut() {
            Some(last) if last.end.as_slice() == lo && last.newest == newest => last.end = hi.to_vec(),
            _ => pieces.push(Piece { start: lo.to_vec(), end: hi.to_vec(), newest }),
        }
    }
    pieces
}

/// A compaction's use of its inputs' tombstones, given the oldest seqno any reader reads
/// at (`oldest_snapshot`).
pub(crate) struct CompactionTombstones {
    /// The tombstones every reader sees (seqno at or below `oldest_snapshot`): a version
    /// one of them covers is seen by no reader and can go.
    pub settled: Arc<FragmentedTombstones>,
    /// What the outputs keep: every tombstone above `oldest_snapshot` (some reader may
    /// not see it yet) and, unless the job is bottommost, the newest-seqno pieces of the
    /// settled ones (the newest over a key hides whatever older ones do; at the bottom
    /// nothing older is left for them to hide).
    pub kept: Vec<RangeTombstone>,
}

impl CompactionTombstones {
    /// Sorts `all`, the inputs' tombstones, into the two; only the settled ones are
    /// fragmented.
    pub(crate) fn new(all: Vec<RangeTombstone>, oldest_snapshot: u64, bottommost: bool) -> Self {
        let (mut kept, settled): (Vec<_>, Vec<_>) = all.into_iter().partition(|t| t.seq > oldest_snapshot);
        let settled = FragmentedTombstones::new(settled);
        if !bottommost {
            kept.extend(settled.newest());
        }
        CompactionTombstones { settled: Arc::new(settled), kept }
    }
}

/// `tombstones` cut to the keys of `[lo, hi)` (unbounded where `None`).
pub(crate) fn clipped(tombstones: &[RangeTombstone], lo: Option<&[u8]>, hi: Option<&[u8]>) -> Vec<RangeTombstone> {
    let mut out = Vec::new();
    for t in tombstones {
        let start = lo.filter(|lo| t.start.as_slice() < *lo).unwrap_or(&t.start);
        let end = hi.filter(|hi| t.end.as_slice() > *hi).unwrap_or(&t.end);
        if start < end {
            out.push(RangeTombstone { start: start.to_vec(), end: end.to_vec(), seq: t.seq });
        }
    }
    out
}

/// The range tombstones a read sees, from every source of its view, with a search hint
/// per list that remembers where the last question landed: a scan asks about keys in
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
            // `hint` is right if it is the first piece ending after `key`: the one
            // holding it, or else the next one. A scan's next key usually has the same
            // one, or a neighbour; otherwise search.
            let pieces = &list.pieces;
            let fits = |at: usize| {
                (at == 0 || pieces[at - 1].end.as_slice() <= key)
                    && pieces.get(at).is_none_or(|p| key < p.end.as_slice())
            };
            if !fits(*hint) {
                // Forward scans move to the next piece, backward ones to the previous.
                *hint = match *hint {
                    h if h < pieces.len() && fits(h + 1) => h + 1,
                    h if h > 0 && fits(h - 1) => h - 1,
                    _ => list.piece_for(key),
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
            for w in f.pieces.windows(2) {
                assert!(w[0].end <= w[1].start, "pieces are sorted and disjoint");
                assert!(w[0].end < w[1].start || w[0].newest != w[1].newest, "equal neighbours are joined");
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
            // What a compaction keeps answers the same for every reader it must serve:
            // those at the oldest snapshot or later.
            for (oldest, bottommost) in [(0, false), (8, false), (8, true), (30, true)] {
                let job = CompactionTombstones::new(ts.clone(), oldest, bottommost);
                let kept = FragmentedTombstones::new(job.kept);
                for k in keys {
                    let settled = brute(&ts, k.as_bytes(), oldest);
                    assert_eq!(job.settled.covering_seq(k.as_bytes(), u64::MAX), settled, "{k} settled");
                }
                for k in keys {
                    for snap in [oldest, 10, 20, 30].into_iter().filter(|&s| s >= oldest) {
                        let want = brute(&ts, k.as_bytes(), snap);
                        // At the bottom, a tombstone every reader sees has nothing left to
                        // hide: it may go.
                        if !(bottommost && want <= oldest) {
                            assert_eq!(kept.covering_seq(k.as_bytes(), snap), want, "{ts:?} {k} @{snap}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn overlapping_tombstones_are_cut_at_every_edge() {
        let f = FragmentedTombstones::new(vec![t("a", "e", 3), t("c", "g", 5), t("x", "x", 9), t("c", "d", 5)]);
        let shape: Vec<_> = f.newest().map(|t| (t.start, t.end, t.seq)).collect();
        let want = [("a", "c", 3), ("c", "g", 5)];
        assert_eq!(shape, want.map(|(s, e, q)| (s.as_bytes().to_vec(), e.as_bytes().to_vec(), q)));
        assert_eq!(f.len(), 3, "the empty range is dropped");
        assert!(FragmentedTombstones::new(vec![t("b", "a", 1)]).is_empty());
    }

    #[test]
    fn nested_tombstones_cost_linear_space() {
        // A log purged from the front again and again: each purge covers the last.
        let n = 20_000u64;
        let key = |i: u64| format!("{i:08}");
        let ts: Vec<_> = (1..=n).map(|i| t(&key(0), &key(i * 10), i)).collect();
        let f = FragmentedTombstones::new(ts);
        assert_eq!(f.pieces.len(), 1, "the newest purge hides every other");
        assert_eq!(f.covering_seq(key(5).as_bytes(), n), n);
        // A snapshot taken after the 100th purge sees that one.
        assert_eq!(f.covering_seq(key(5).as_bytes(), 100), 100);
        assert_eq!(f.covering_seq(key(1000).as_bytes(), 100), 0);
        assert_eq!(CompactionTombstones::new(f.tombstones().to_vec(), n, false).kept.len(), 1);
    }

    #[test]
    fn clipping_cuts_to_the_bounds() {
        let ts = [t("b", "f", 3)];
        assert_eq!(clipped(&ts, Some(b"c"), Some(b"e")), [t("c", "e", 3)]);
        assert_eq!(clipped(&ts, None, Some(b"c")), [t("b", "c", 3)]);
        assert_eq!(clipped(&ts, Some(b"a"), None), [t("b", "f", 3)]);
        assert!(clipped(&ts, Some(b"f"), None).is_empty());
        assert!(clipped(&ts, None, Some(b"b")).is_empty());
    }
}
