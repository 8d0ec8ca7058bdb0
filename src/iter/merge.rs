//! [`MergingIterator`]: one ordered cursor over many sorted sources (Database Internals
//! §"Merge-Iteration").
//!
//! The sources are memtables and SSTables, passed newest first. At every step the
//! cursor points at the child with the smallest key (largest when moving backwards);
//! ties, which well-formed inputs never produce because a user key never has two
//! versions with one seqno (seqno 0, which bottommost compactions give, included), go
//! to the earlier (newer) child. Changing direction re-positions every other child around the
//! current key, as LevelDB does. The positioned children form a binary heap (as in
//! Pebble's `mergingIter`), so a step costs O(log n) key comparisons: a few sources
//! cost the same as a linear scan, and an L0 pile-up or a size-tiered tree with dozens
//! of runs does not make every step of a scan compare every run.
//!
//! A forward seek leaves *deferred* every child whose filter says it holds no entry for
//! the target's user key ([`InternalIterator::may_contain`]). Such a child can only
//! hold keys past that user key, so it cannot matter while the cursor stays on the
//! target's user key; it is positioned (with the very same seek) the moment the cursor
//! would move past it. A seek to a key that exists, the common "seek and read one"
//! pattern, thus reads blocks only from the sources that hold the key rather than from
//! every sorted run.
//!
//! The heap compares keys it read once per move of a child (`Live`), not through
//! a `dyn` call per comparison: in a full scan of three interleaved tables those calls
//! were a tenth of the time per entry.

use std::cmp::Ordering;

use super::InternalIterator;
use crate::error::Result;
use crate::key::{compare_internal, user_key};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// A positioned child in the heap, with its current key as read when it last moved.
///
/// The key points into the child's own memory (a block cursor's key buffer, a
/// memtable's arena), which lives behind the child's `Box` and stays put until the
/// child is moved or dropped. Every move of a child is followed by `collect_live` or
/// `after_step`, which re-read its key before it is compared again, and the entries
/// are dropped together with the children.
#[derive(Clone, Copy)]
struct Live {
    child: usize,
    key: *const u8,
    key_len: usize,
}

impl Live {
    fn of(child: usize, it: &dyn InternalIterator) -> Live {
        let key = it.key();
        Live { child, key: key.as_ptr(), key_len: key.len() }
    }

    /// The child's key as of its last move.
    #[inline]
    fn key(&self) -> &[u8] {
        // SAFETY: see the type's comment: the pointer was read from the child after its
        // last move, and the merge that owns both does not move the child while the
        // slice, borrowed from the merge, lives.
        unsafe { std::slice::from_raw_parts(self.key, self.key_len) }
    }
}

/// Merges sorted children into one sorted cursor.
pub(crate) struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    /// The children that are positioned on an entry (not exhausted, failed or deferred),
    /// as a binary heap in the current direction's order, so the first is the current
    /// child. Exhausted sources (an empty memtable, a table scanned to its end) cost
    /// nothing per step.
    live: Vec<Live>,
    direction: Direction,
    /// Set once any child reports an error; from then on the merge is invalid (a child
    /// dropping out silently would make the merge skip its keys).
    failed: bool,
    /// Children not yet positioned for the last forward seek (see the module comment),
    /// in child order; empty (and unallocated) until a seek defers one.
    deferred: Vec<usize>,
    /// The last forward seek's target, which deferred children still have to seek to.
    deferred_target: Vec<u8>,
}

// SAFETY: the raw pointers in `live` point into memory owned by `children`, which are
// `Send`; they are only read through `&self` while the children are not being moved,
// so sending the merge with its children to another thread is as safe as sending them.
unsafe impl Send for MergingIterator {}

impl MergingIterator {
    /// Merges `children`, newest first.
    pub(crate) fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator {
            live: Vec::with_capacity(children.len()),
            children,
            direction: Direction::Forward,
            failed: false,
            deferred: Vec::new(),
            deferred_target: Vec::new(),
        }
    }

    /// Recomputes `live` after children were re-positioned (and `direction` set).
    fn collect_live(&mut self) {
        self.live.clear();
        // `deferred` is in child order, so one walk skips its members.
        let mut deferred = self.deferred.iter().peekable();
        for (i, child) in self.children.iter().enumerate() {
            if deferred.next_if_eq(&&i).is_some() {
                continue;
            }
            if child.valid() {
                self.live.push(Live::of(i, child.as_ref()));
            } else {
                // Exhausted, or failed: only the latter stops the merge.
                self.failed = self.failed || child.status().is_err();
            }
        }
        for pos in (0..self.live.len() / 2).rev() {
            self.sift_down(pos);
        }
    }

    /// Restores the heap after child `i` stepped in the current direction, which only
    /// moves it later in the heap's order; drops it if the step left it without an entry.
    fn after_step(&mut self, i: usize) {
        // The stepped child is the current one, the heap's top.
        let Some(pos) = self.live.iter().position(|l| l.child == i) else { return };
        let child = &self.children[i];
        if child.valid() {
            self.live[pos] = Live::of(i, child.as_ref());
            self.sift_down(pos);
            return;
        }
        self.failed = self.failed || child.status().is_err();
        self.live.swap_remove(pos);
        if pos < self.live.len() {
            self.sift_down(pos);
            self.sift_up(pos);
        }
    }

    /// True if heap entry `a` comes before heap entry `b` in the current direction.
    /// Ties, which unique seqnos rule out, go to the earlier (newer) child.
    fn before(&self, a: usize, b: usize) -> bool {
        let (a, b) = (&self.live[a], &self.live[b]);
        let order = compare_internal(a.key(), b.key());
        let order = if self.direction == Direction::Forward { order } else { order.reverse() };
        order.then(a.child.cmp(&b.child)) == Ordering::Less
    }

    /// The current child's key; empty if there is none.
    fn current_key(&self) -> &[u8] {
        self.live.first().map_or(&[], Live::key)
    }

    fn sift_down(&mut self, mut pos: usize) {
        let n = self.live.len();
        loop {
            let left = 2 * pos + 1;
            if left >= n {
                return;
            }
            let right = left + 1;
            let first = if right < n && self.before(right, left) { right } else { left };
            if !self.before(first, pos) {
                return;
            }
            self.live.swap(pos, first);
            pos = first;
        }
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if !self.before(pos, parent) {
                return;
            }
            self.live.swap(pos, parent);
            pos = parent;
        }
    }

    /// The current child: the heap's top, the live child whose entry comes first.
    fn current(&self) -> Option<usize> {
        self.live.first().map(|l| l.child)
    }

    /// Positions the deferred children once the cursor has left their seek's user key.
    fn find_smallest(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        // Deferred children hold only user keys past the target's, so they matter as
        // soon as the cursor leaves the target's user key.
        let on_target = !self.live.is_empty() && user_key(self.current_key()) == user_key(&self.deferred_target);
        if !on_target {
            self.position_deferred();
            self.collect_live();
        }
    }

    /// Positions every deferred child for the seek that deferred it.
    fn position_deferred(&mut self) {
        for &i in &self.deferred {
            self.children[i].seek(&self.deferred_target);
        }
        self.deferred.clear();
    }

    /// Forgets deferred children before an operation that re-positions every child.
    fn clear_deferred(&mut self) {
        self.deferred.clear();
    }

    /// Moves a forward cursor to the first entry at or after `target`: only the
    /// children positioned before `target` seek, the others stay where they are (a
    /// seek would reposition every child). A target at or before the current entry
    /// moves nothing. The way past many versions of one key, which usually sit in one
    /// source.
    pub(crate) fn skip_forward_to(&mut self, target: &[u8]) {
        if self.direction != Direction::Forward {
            self.seek(target);
            return;
        }
        // Each child seeks at most once: a damaged table whose seek lands before the
        // target would otherwise stay on top and be asked again forever.
        for _ in 0..self.children.len() {
            let Some(top) = self.live.first() else { break };
            if compare_internal(top.key(), target) != Ordering::Less {
                break;
            }
            let child = top.child;
            self.children[child].seek(target);
            self.after_step(child);
            if self.current() == Some(child) && compare_internal(self.current_key(), target) == Ordering::Less {
                break;
            }
        }
        self.find_smallest();
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        !self.live.is_empty() && !self.failed
    }

    fn seek_to_first(&mut self) {
        self.clear_deferred();
        self.children.iter_mut().for_each(|c| c.seek_to_first());
        self.direction = Direction::Forward;
        self.collect_live();
        self.find_smallest();
    }

    fn seek_to_last(&mut self) {
        self.clear_deferred();
        self.children.iter_mut().for_each(|c| c.seek_to_last());
        self.direction = Direction::Reverse;
        self.collect_live();
    }

    fn seek(&mut self, target: &[u8]) {
        let key = user_key(target);
        self.deferred.clear();
        // Every filter is asked below; fetching their lines first overlaps the misses.
        self.children.iter().for_each(|c| c.prefetch_filter(key));
        for (i, child) in self.children.iter_mut().enumerate() {
            if child.may_contain(key) {
                child.seek(target);
            } else {
                self.deferred.push(i);
            }
        }
        if !self.deferred.is_empty() {
            self.deferred_target.clear();
            self.deferred_target.extend_from_slice(target);
        }
        self.direction = Direction::Forward;
        self.collect_live();
        self.find_smallest();
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.clear_deferred();
        self.children.iter_mut().for_each(|c| c.seek_for_prev(target));
        self.direction = Direction::Reverse;
        self.collect_live();
    }

    fn next(&mut self) {
        let Some(cur) = self.current() else { return };
        if self.direction != Direction::Forward {
            // Every other child sits before the current key; move each to the first
            // entry after it.
            let key = self.current_key().to_vec();
            for (i, child) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                child.seek(&key);
                if child.valid() && compare_internal(child.key(), &key) == Ordering::Equal {
                    child.next();
                }
            }
            self.direction = Direction::Forward;
            self.collect_live();
        }
        self.children[cur].next();
        self.after_step(cur);
        self.find_smallest();
    }

    fn prev(&mut self) {
        let Some(cur) = self.current() else { return };
        if self.direction != Direction::Reverse {
            // Every other child sits after the current key (or is deferred, which the
            // seek below settles too); move each to the last entry before it.
            self.clear_deferred();
            let key = self.current_key().to_vec();
            for (i, child) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                child.seek(&key);
                if child.valid() {
                    child.prev();
                } else if child.status().is_ok() {
                    child.seek_to_last();
                }
            }
            self.direction = Direction::Reverse;
            self.collect_live();
        }
        self.children[cur].prev();
        self.after_step(cur);
    }

    fn key(&self) -> &[u8] {
        if self.failed {
            return &[];
        }
        self.current_key()
    }

    fn value(&self) -> &[u8] {
        self.current().map_or(&[], |c| self.children[c].value())
    }

    fn status(&self) -> Result<()> {
        self.children.iter().try_for_each(|c| c.status())
    }

    fn value_bytes(&self) -> bytes::Bytes {
        self.current().map_or_else(bytes::Bytes::new, |c| self.children[c].value_bytes())
    }

    fn sole_entry_block(&self) -> Option<&[u8]> {
        if self.failed {
            return None;
        }
        self.current().and_then(|c| self.children[c].sole_entry_block())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{make_internal_key, user_key, ValueKind};
    use crate::memtable::MemTable;
    use std::sync::Arc;

    fn mem(keys: &[(&str, u64)]) -> Box<dyn InternalIterator> {
        let m = Arc::new(MemTable::new(4096));
        for (k, seq) in keys {
            m.add(*seq, ValueKind::Put, k.as_bytes(), format!("{k}{seq}").as_bytes());
        }
        Box::new(m.iter())
    }

    fn collect_fwd(it: &mut MergingIterator) -> Vec<String> {
        let mut out = Vec::new();
        while it.valid() {
            out.push(String::from_utf8(it.value().to_vec()).unwrap());
            it.next();
        }
        out
    }

    #[test]
    fn merges_in_order_and_switches_direction() {
        let mut it = MergingIterator::new(vec![
            mem(&[("b", 5), ("d", 6)]),
            mem(&[("a", 1), ("b", 2), ("e", 3)]),
            mem(&[]),
            mem(&[("c", 4)]),
        ]);
        it.seek_to_first();
        assert_eq!(collect_fwd(&mut it), ["a1", "b5", "b2", "c4", "d6", "e3"]);

        it.seek_to_last();
        let mut back = Vec::new();
        while it.valid() {
            back.push(String::from_utf8(it.value().to_vec()).unwrap());
            it.prev();
        }
        assert_eq!(back, ["e3", "d6", "c4", "b2", "b5", "a1"]);

        // Forward to c, back twice, forward again.
        it.seek(&make_internal_key(b"c", 100, ValueKind::Put));
        assert_eq!(it.value(), b"c4");
        it.prev();
        assert_eq!(it.value(), b"b2");
        it.prev();
        assert_eq!(it.value(), b"b5");
        it.next();
        assert_eq!(it.value(), b"b2");
        it.next();
        assert_eq!(user_key(it.key()), b"c");

        it.seek_for_prev(&make_internal_key(b"bz", 0, ValueKind::Put));
        assert_eq!(it.value(), b"b2");
        it.next();
        assert_eq!(it.value(), b"c4");
    }

    /// Many children, so the heap has depth: random walks in both directions must match
    /// the sorted union.
    #[test]
    fn many_children_match_the_sorted_union_in_both_directions() {
        let mut rng = crate::util::rng::Rng::new(0x2545_f491_4f6c_dd1d);
        let mut rand = |n: u64| rng.below(n);
        let mut all: Vec<(String, u64)> = Vec::new();
        let mut children = Vec::new();
        let mut seq = 1;
        for _ in 0..40 {
            let m = Arc::new(MemTable::new(4096));
            for _ in 0..rand(12) {
                let key = format!("k{:03}", rand(300));
                m.add(seq, ValueKind::Put, key.as_bytes(), format!("{key}/{seq}").as_bytes());
                all.push((key, seq));
                seq += 1;
            }
            children.push(Box::new(m.iter()) as Box<dyn InternalIterator>);
        }
        // Internal order: user key ascending, seqno descending.
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let expect: Vec<String> = all.iter().map(|(k, s)| format!("{k}/{s}")).collect();
        let mut it = MergingIterator::new(children);
        it.seek_to_first();
        assert_eq!(collect_fwd(&mut it), expect);

        let value = |it: &MergingIterator| String::from_utf8(it.value().to_vec()).unwrap();
        for _ in 0..50 {
            let target = format!("k{:03}", rand(310));
            it.seek(&make_internal_key(target.as_bytes(), crate::key::MAX_SEQUENCE, ValueKind::Put));
            let mut at = expect.partition_point(|v| v.as_str() < target.as_str());
            for _ in 0..rand(30) {
                if at == expect.len() {
                    assert!(!it.valid());
                    break;
                }
                assert_eq!(value(&it), expect[at]);
                if rand(2) == 0 {
                    it.next();
                    at += 1;
                } else if at == 0 {
                    it.prev();
                    assert!(!it.valid());
                    break;
                } else {
                    it.prev();
                    at -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod deferral_tests {
    use super::*;
    use crate::key::{make_internal_key, user_key, ValueKind, MAX_SEQUENCE};
    use crate::memtable::{MemTable, MemTableIter};
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::sync::Arc;

    /// A memtable cursor with an exact "filter" (the set of its user keys) that counts
    /// how often it is positioned by a seek.
    struct Filtered {
        inner: MemTableIter,
        keys: Vec<&'static str>,
        seeks: Arc<AtomicUsize>,
        /// Seeks land on the first entry, wherever the target: a damaged table's index
        /// can send a seek to the wrong block.
        lands_early: bool,
    }

    impl InternalIterator for Filtered {
        fn valid(&self) -> bool {
            self.inner.valid()
        }
        fn seek_to_first(&mut self) {
            self.inner.seek_to_first()
        }
        fn seek_to_last(&mut self) {
            self.inner.seek_to_last()
        }
        fn seek(&mut self, target: &[u8]) {
            self.seeks.fetch_add(1, AtomicOrdering::Relaxed);
            if self.lands_early {
                self.inner.seek_to_first()
            } else {
                self.inner.seek(target)
            }
        }
        fn next(&mut self) {
            self.inner.next()
        }
        fn prev(&mut self) {
            self.inner.prev()
        }
        fn key(&self) -> &[u8] {
            self.inner.key()
        }
        fn value(&self) -> &[u8] {
            self.inner.value()
        }
        fn status(&self) -> Result<()> {
            self.inner.status()
        }
        fn may_contain(&self, user_key: &[u8]) -> bool {
            self.keys.iter().any(|k| k.as_bytes() == user_key)
        }
    }

    fn source(keys: &[(&'static str, u64)]) -> (Box<dyn InternalIterator>, Arc<AtomicUsize>) {
        let m = Arc::new(MemTable::new(4096));
        for (k, seq) in keys {
            m.add(*seq, ValueKind::Put, k.as_bytes(), format!("{k}{seq}").as_bytes());
        }
        let seeks = Arc::new(AtomicUsize::new(0));
        let keys = keys.iter().map(|(k, _)| *k).collect();
        (Box::new(Filtered { inner: m.iter(), keys, seeks: seeks.clone(), lands_early: false }), seeks)
    }

    fn merge() -> (MergingIterator, [Arc<AtomicUsize>; 3]) {
        let (a, sa) = source(&[("b", 5), ("d", 6)]);
        let (b, sb) = source(&[("a", 1), ("b", 2), ("e", 3)]);
        let (c, sc) = source(&[("c", 4)]);
        (MergingIterator::new(vec![a, b, c]), [sa, sb, sc])
    }

    fn value(it: &MergingIterator) -> String {
        String::from_utf8(it.value().to_vec()).unwrap()
    }

    fn seeks(counters: &[Arc<AtomicUsize>; 3]) -> [usize; 3] {
        counters.each_ref().map(|c| c.load(AtomicOrdering::Relaxed))
    }

    #[test]
    fn a_seek_positions_only_sources_holding_the_key_until_the_cursor_leaves_it() {
        let (mut it, counters) = merge();
        it.seek(&make_internal_key(b"b", MAX_SEQUENCE, ValueKind::Put));
        assert_eq!(value(&it), "b5");
        assert_eq!(seeks(&counters), [1, 1, 0], "the source without b must wait");
        it.next();
        assert_eq!(value(&it), "b2");
        assert_eq!(seeks(&counters), [1, 1, 0]);
        // Leaving b: the deferred source is positioned and merged in.
        it.next();
        assert_eq!(value(&it), "c4");
        assert_eq!(seeks(&counters), [1, 1, 1]);
        let mut rest = Vec::new();
        while it.valid() {
            rest.push(value(&it));
            it.next();
        }
        assert_eq!(rest, ["c4", "d6", "e3"]);
    }

    #[test]
    fn a_seek_to_an_absent_key_positions_everything_at_once() {
        let (mut it, counters) = merge();
        it.seek(&make_internal_key(b"bb", MAX_SEQUENCE, ValueKind::Put));
        assert_eq!(value(&it), "c4");
        assert_eq!(seeks(&counters), [1, 1, 1]);
    }

    #[test]
    fn turning_back_after_a_deferring_seek_sees_every_source() {
        let (mut it, counters) = merge();
        // c is only in the third source; the other two are deferred, and prev must
        // position them.
        it.seek(&make_internal_key(b"c", MAX_SEQUENCE, ValueKind::Put));
        assert_eq!(value(&it), "c4");
        assert_eq!(seeks(&counters), [0, 0, 1]);
        it.prev();
        assert_eq!(value(&it), "b2");
        it.prev();
        assert_eq!(value(&it), "b5");
        it.next();
        it.next();
        assert_eq!(value(&it), "c4");
        it.next();
        assert_eq!(value(&it), "d6");
    }

    #[test]
    fn a_later_seek_forgets_earlier_deferrals() {
        let (mut it, _) = merge();
        it.seek(&make_internal_key(b"c", MAX_SEQUENCE, ValueKind::Put));
        it.seek_to_first();
        let mut all = Vec::new();
        while it.valid() {
            all.push(value(&it));
            it.next();
        }
        assert_eq!(all, ["a1", "b5", "b2", "c4", "d6", "e3"]);
    }

    #[test]
    fn skipping_forward_seeks_only_the_sources_behind_the_target() {
        // Versions 1..=40 of "k" in the first source, two in the second, "m" in the third.
        let versions: Vec<(&'static str, u64)> = (1..=40).rev().map(|s| ("k", s + 100)).collect();
        let (a, sa) = source(&versions);
        let (b, sb) = source(&[("k", 50), ("k", 7), ("l", 3)]);
        let (c, sc) = source(&[("m", 9)]);
        let counters = [sa, sb, sc];
        let mut it = MergingIterator::new(vec![a, b, c]);
        it.seek_to_first();
        assert_eq!(value(&it), "k140");
        // Past every version of k above seqno 60: the first source's all go, the second
        // source is already there and is not asked to seek.
        it.skip_forward_to(&make_internal_key(b"k", 60, ValueKind::Put));
        assert_eq!(value(&it), "k50");
        assert_eq!(seeks(&counters), [1, 0, 0]);
        // Past all of k: the second source seeks; the third never had to.
        it.skip_forward_to(&make_internal_key(b"k", 0, ValueKind::Put));
        assert_eq!(value(&it), "l3");
        assert_eq!(seeks(&counters), [1, 1, 0]);
        it.next();
        assert_eq!(value(&it), "m9");
        // A target behind the cursor moves nothing.
        it.skip_forward_to(&make_internal_key(b"a", 0, ValueKind::Put));
        assert_eq!(value(&it), "m9");
        // Backwards first, then a skip: a plain seek.
        it.prev();
        it.skip_forward_to(&make_internal_key(b"l", 5, ValueKind::Put));
        assert_eq!(value(&it), "l3");
    }

    #[test]
    fn skipping_forward_positions_deferred_sources_once_it_leaves_their_key() {
        // A seek to b defers the third source (no b); skipping past b's versions moves
        // the cursor to c, which only the deferred source holds.
        let (mut it, counters) = merge();
        it.seek(&make_internal_key(b"b", MAX_SEQUENCE, ValueKind::Put));
        assert_eq!(value(&it), "b5");
        assert_eq!(seeks(&counters), [1, 1, 0]);
        it.skip_forward_to(&make_internal_key(b"b", 0, ValueKind::Put));
        assert_eq!(value(&it), "c4");
        assert_eq!(seeks(&counters), [2, 2, 1]);
        it.next();
        assert_eq!(value(&it), "d6");
    }

    #[test]
    fn skipping_forward_over_a_source_that_lands_early_returns() {
        let m = Arc::new(MemTable::new(4096));
        for seq in 1..=5 {
            m.add(seq, ValueKind::Put, b"k", b"v");
        }
        let early = Filtered { inner: m.iter(), keys: vec!["k"], seeks: Arc::default(), lands_early: true };
        let mut it = MergingIterator::new(vec![Box::new(early)]);
        it.seek_to_first();
        it.skip_forward_to(&make_internal_key(b"k", 0, ValueKind::Put));
        // Still where the damaged source put it; a step moves on.
        assert_eq!(user_key(it.key()), b"k");
        it.next();
        assert!(it.valid());
    }
}
