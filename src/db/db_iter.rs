//! [`Iter`]: the user-facing iterator over a key range, in both directions.
//!
//! An `Iter` pins a [`SuperVersion`] (so its memtables and tables stay alive) and a
//! seqno (so later writes stay invisible). It merges all sources with a
//! [`MergingIterator`] and reconciles versions (Database Internals §"Reconciliation"):
//! for each user key only the newest version at or below the seqno counts, and a
//! tombstone hides the key, as does a range tombstone of the view newer than that
//! version (see [`RangeDelView`]; a view without range tombstones checks nothing).
//!
//! Forward and backward iteration use two independent cursors, created lazily; each
//! remembers the last key it returned, and they stop where they meet, which is what
//! `DoubleEndedIterator` requires.

use std::ops::Bound;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::tree::Tree;
use super::{DbInner, ReadSeq, SuperVersion};
use crate::cache::CacheFill;
use crate::error::{Error, Result};
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;
use crate::key::{make_internal_key, seek_key, user_key, ParsedKey, ValueKind, MAX_SEQUENCE};
use crate::range_del::RangeDelView;
use crate::version::LevelIter;

pub(crate) type Bounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// What the iterator yields.
type Entry = Result<(Bytes, Bytes)>;

/// A version of a key met while walking backwards: its kind, value and seqno.
type Version = (ValueKind, Bytes, u64);

/// Copies a range's bounds.
pub(crate) fn owned_bounds<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(range: &R) -> Bounds {
    let own = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

/// The bounds of all keys starting with `prefix`: [prefix, next prefix).
pub(crate) fn prefix_bounds(prefix: &[u8]) -> Bounds {
    let mut upper = prefix.to_vec();
    // The smallest key greater than every key with this prefix: drop trailing 0xff bytes
    // and increment the last byte; none exists if the prefix is all 0xff.
    while upper.last() == Some(&0xff) {
        upper.pop();
    }
    let hi = match upper.last_mut() {
        Some(b) => {
            *b += 1;
            Bound::Excluded(upper)
        }
        None => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), hi)
}

/// Owns the keys a forward scan returns. After the first (which gets an allocation of
/// its own, so that "seek and read one" allocates no more than it needs), each is
/// copied into a shared 4 KiB chunk: a scan allocates once per chunk rather than once
/// per key. A key the caller keeps keeps its chunk alive (at most 4 KiB each), as a
/// value keeps its block.
#[derive(Default)]
struct KeyArena {
    chunk: BytesMut,
    copied: bool,
}

impl KeyArena {
    const CHUNK: usize = 4096;

    fn copy(&mut self, key: &[u8]) -> Bytes {
        if !std::mem::replace(&mut self.copied, true) {
            return Bytes::copy_from_slice(key);
        }
        if self.chunk.capacity() - self.chunk.len() < key.len() {
            self.chunk = BytesMut::with_capacity(Self::CHUNK.max(key.len()));
        }
        self.chunk.extend_from_slice(key);
        self.chunk.split().freeze()
    }
}

/// One merge over every source of `sv`: its memtables, each L0 table (they overlap), and
/// each deeper level as one sorted run however many tables it has.
pub(super) fn merge_sources(sv: &SuperVersion, fill: &CacheFill) -> Result<MergingIterator> {
    let levels = &sv.version.levels;
    let sources = 1 + sv.imms.len() + levels.first().map_or(0, Vec::len) + levels.len();
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::with_capacity(sources);
    children.push(Box::new(sv.mem.iter()));
    for m in &sv.imms {
        children.push(Box::new(m.iter()));
    }
    if let Some(l0) = levels.first() {
        for f in l0 {
            children.push(Box::new(f.table()?.iter_filling(fill.clone())));
        }
    }
    for files in levels.iter().skip(1).filter(|files| !files.is_empty()) {
        children.push(Box::new(LevelIter::filling(files.clone(), fill.clone())));
    }
    Ok(MergingIterator::new(children))
}

/// Moves `it` to the newest version visible at `seq` of the next user key other than
/// `skip`, stepping over versions newer than `seq` and the older versions of `skip`, and
/// returns that version's kind (its user key is `user_key(it.key())`): a put that a
/// range tombstone of `range_dels` hides comes back as [`ValueKind::Delete`].
/// `Ok(None)` at the end. The forward reconciliation rule [`Iter`] and
/// [`super::Cursor`] share: a caller that lands on a tombstone skips that key and calls
/// again. More than [`MAX_SEQUENTIAL_SKIPS`] invisible versions of one key in a row are
/// left behind with one seek instead of a step each.
pub(super) fn next_visible(
    it: &mut MergingIterator,
    seq: u64,
    skip: Option<&[u8]>,
    range_dels: &mut RangeDelView,
) -> Result<Option<ValueKind>> {
    // The run of invisible versions being stepped over: how long, and whose (`None`:
    // `skip`'s; a key newer than `seq` is copied, which only snapshot reads meet).
    let mut skipped = 0;
    let mut run_key: Option<Vec<u8>> = None;
    while it.valid() {
        let k = ParsedKey::parse(it.key())
            .ok_or_else(|| Error::Corruption("malformed internal key met by an iterator".into()))?;
        let decided = skip == Some(k.user_key);
        if k.seq <= seq && !decided {
            if k.kind == ValueKind::Put && range_dels.covers(k.user_key, k.seq, seq) {
                return Ok(Some(ValueKind::Delete));
            }
            return Ok(Some(k.kind));
        }
        let same_run = match (&mut run_key, decided) {
            (None, true) => true,
            (Some(run), false) if run.as_slice() == k.user_key => true,
            (run, _) => {
                *run = (!decided).then(|| k.user_key.to_vec());
                false
            }
        };
        skipped = if same_run { skipped + 1 } else { 1 };
        if skipped > MAX_SEQUENTIAL_SKIPS {
            // Versions of one key in a row (a hot key rewritten in the memtable): one
            // seek past all of them (a decided key's) or to the first the view sees,
            // instead of a step per version (RocksDB's `max_sequential_skip_in_iterations`).
            let target = seek_key(k.user_key, if decided { 0 } else { seq });
            skipped = 0;
            it.skip_forward_to(&target);
            // The seek lands at most on (key, seqno 0) of a decided key, which the next
            // turn steps over.
            continue;
        }
        it.next();
    }
    it.status().map(|()| None)
}

/// How many invisible versions [`next_visible`] steps over one by one before it seeks
/// past the rest: a step costs one entry, a seek a search of the sources behind.
const MAX_SEQUENTIAL_SKIPS: usize = 16;

/// Iterator over `(key, value)` pairs; see the module comment.
pub struct Iter {
    sv: Arc<SuperVersion>,
    seq: u64,
    /// The view's range tombstones; each direction keeps its own search hints.
    front_range_dels: RangeDelView,
    back_range_dels: RangeDelView,
    bounds: Bounds,
    front: Option<MergingIterator>,
    back: Option<MergingIterator>,
    /// Last key returned from the back.
    back_last: Option<Bytes>,
    /// Forward: the last key whose fate is decided (returned, deleted, or excluded by the
    /// lower bound); its older versions are skipped, and the back cursor stops there.
    /// A reused buffer: a forward step allocates only the key it returns.
    front_skip: Option<Vec<u8>>,
    /// The front cursor still sits on the entry last returned. It moves on only when
    /// the next entry is asked for, so that "seek and read one" never positions the
    /// sources a merge left deferred (see [`MergingIterator`]).
    front_advance: bool,
    front_keys: KeyArena,
    /// Backward: the key being gathered and its newest visible version so far.
    back_group: Option<(Vec<u8>, Option<Version>)>,
    /// How many versions of `back_group`'s key were stepped over so far.
    back_versions: usize,
    done: bool,
    /// An error met while creating the iterator, reported by the first `next`.
    pending_error: Option<Error>,
    /// Whether an error was returned; a merge that met one is not handed on.
    failed: bool,
    /// The database, whose merge cache a direction's merge comes from and goes back to
    /// (see [`super::merge_cache`]).
    db: Arc<DbInner>,
    /// The keyspace's tree it reads.
    tree: Arc<Tree>,
    /// The block-cache fill budget each direction's table cursors share.
    front_fill: CacheFill,
    back_fill: CacheFill,
}

impl Iter {
    pub(crate) fn new(db: Arc<DbInner>, tree: Arc<Tree>, at: ReadSeq, bounds: Bounds) -> Iter {
        let (sv, seq) = db.read_view(&tree, at);
        let range_dels = db.check_open().and_then(|()| sv.range_dels());
        let (range_dels, pending_error) = match range_dels {
            Ok(r) => (r, None),
            Err(e) => (RangeDelView::default(), Some(e)),
        };
        Iter {
            sv,
            seq,
            front_range_dels: range_dels.clone(),
            back_range_dels: range_dels,
            bounds,
            front: None,
            back: None,
            back_last: None,
            front_skip: None,
            front_advance: false,
            front_keys: KeyArena::default(),
            back_group: None,
            back_versions: 0,
            done: false,
            pending_error,
            failed: false,
            db,
            tree,
            front_fill: CacheFill::Never,
            back_fill: CacheFill::Never,
        }
    }

    fn fail(&mut self, e: Error) -> Option<Result<(Bytes, Bytes)>> {
        self.done = true;
        self.failed = true;
        Some(Err(e))
    }

    fn below_upper(&self, key: &[u8]) -> bool {
        match &self.bounds.1 {
            Bound::Included(u) => key <= u.as_slice(),
            Bound::Excluded(u) => key < u.as_slice(),
            Bound::Unbounded => true,
        }
    }

    fn above_lower(&self, key: &[u8]) -> bool {
        match &self.bounds.0 {
            Bound::Included(l) => key >= l.as_slice(),
            Bound::Excluded(l) => key > l.as_slice(),
            Bound::Unbounded => true,
        }
    }

    fn next_forward(&mut self) -> Option<Result<(Bytes, Bytes)>> {
        if self.front.is_none() {
            let mut it = match self.tree.merge_cache.take_or_build(&self.tree, &self.sv) {
                Ok((it, fill)) => {
                    self.front_fill = fill;
                    it
                }
                Err(e) => return self.fail(e),
            };
            match &self.bounds.0 {
                Bound::Included(k) => it.seek(&seek_key(k, MAX_SEQUENCE)),
                Bound::Excluded(k) => {
                    it.seek(&seek_key(k, MAX_SEQUENCE));
                    self.front_skip = Some(k.clone());
                }
                Bound::Unbounded => it.seek_to_first(),
            }
            self.front = Some(it);
        }
        if std::mem::take(&mut self.front_advance) {
            if let Some(it) = self.front.as_mut() {
                it.next();
            }
        }
        loop {
            let front = self.front.as_mut()?;
            let kind = match next_visible(front, self.seq, self.front_skip.as_deref(), &mut self.front_range_dels) {
                Ok(Some(kind)) => kind,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => return self.fail(e),
            };
            let it = self.front.as_mut()?;
            // One copy of the key; the value is a slice of its cached block where it
            // comes from a table.
            let key = self.front_keys.copy(user_key(it.key()));
            let value = if kind == ValueKind::Put { it.value_bytes() } else { Bytes::new() };
            let crossed = self.back_last.as_ref().is_some_and(|b| key >= b);
            if !self.below_upper(&key) || crossed {
                self.done = true;
                return None;
            }
            match &mut self.front_skip {
                Some(skip) => {
                    skip.clear();
                    skip.extend_from_slice(&key);
                }
                None => self.front_skip = Some(key.to_vec()),
            }
            if kind == ValueKind::Put {
                self.front_advance = true;
                return Some(Ok((key, value)));
            }
            if let Some(it) = self.front.as_mut() {
                it.next();
            }
        }
    }

    fn next_backward(&mut self) -> Option<Result<(Bytes, Bytes)>> {
        if self.back.is_none() {
            let mut it = match self.tree.merge_cache.take_or_build(&self.tree, &self.sv) {
                Ok((it, fill)) => {
                    self.back_fill = fill;
                    it
                }
                Err(e) => return self.fail(e),
            };
            match &self.bounds.1 {
                // The last internal key of `k` is (k, seqno 0, Delete).
                Bound::Included(k) => it.seek_for_prev(&make_internal_key(k, 0, ValueKind::Delete)),
                // Everything before the first internal key of `k`.
                Bound::Excluded(k) => it.seek_for_prev(&seek_key(k, MAX_SEQUENCE)),
                Bound::Unbounded => it.seek_to_last(),
            }
            self.back = Some(it);
        }
        loop {
            let it = self.back.as_mut()?;
            let entry = if it.valid() {
                match ParsedKey::parse(it.key()) {
                    Some(k) => Some((k.user_key.to_vec(), k.seq, k.kind)),
                    None => return self.fail(Error::Corruption("malformed internal key met by an iterator".into())),
                }
            } else if let Err(e) = it.status() {
                return self.fail(e);
            } else {
                None
            };
            // A change of user key (or the end) completes the group gathered so far.
            let group_done = match (&self.back_group, &entry) {
                (Some((g, _)), Some((k, _, _))) => g != k,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if group_done {
                if let Some((key, newest)) = self.back_group.take() {
                    // Keys up to `front_skip` were returned or skipped from the front.
                    let crossed = self.front_skip.as_ref().is_some_and(|f| key.as_slice() <= f.as_slice());
                    if crossed {
                        self.done = true;
                        return None;
                    }
                    let live = newest.filter(|(kind, _, at)| {
                        *kind == ValueKind::Put && !self.back_range_dels.covers(&key, *at, self.seq)
                    });
                    if let Some((_, value, _)) = live {
                        let key = Bytes::from(key);
                        self.back_last = Some(key.clone());
                        return Some(Ok((key, value)));
                    }
                }
            }
            let Some((user_key, seq, kind)) = entry else {
                self.done = true;
                return None;
            };
            if !self.above_lower(&user_key) {
                self.done = true;
                return None;
            }
            let it = self.back.as_mut()?;
            let value = it.value_bytes();
            it.prev();
            self.back_versions = if self.back_group.is_some() { self.back_versions + 1 } else { 1 };
            let group = self.back_group.get_or_insert((user_key, None));
            // Going backwards, versions of a key arrive oldest first: the last visible
            // one seen is the newest visible.
            if seq <= self.seq {
                group.1 = Some((kind, value, seq));
            }
            let on_key = |it: &MergingIterator| {
                it.valid() && ParsedKey::parse(it.key()).is_some_and(|k| k.user_key == group.0.as_slice())
            };
            if self.back_versions > MAX_SEQUENTIAL_SKIPS && on_key(it) {
                // Many versions of one key, more to come: read the newest the view sees
                // with one seek and go before the key with another (RocksDB's
                // `FindValueForCurrentKeyUsingSeek`), instead of a step per version.
                it.seek(&seek_key(&group.0, self.seq));
                // The seek lands on the newest version at or below the view's seqno, or
                // past the key if it has none (where the backward walk has been).
                group.1 = ParsedKey::parse(it.key())
                    .filter(|k| it.valid() && k.user_key == group.0.as_slice())
                    .map(|k| (k.kind, it.value_bytes(), k.seq));
                it.seek_for_prev(&seek_key(&group.0, MAX_SEQUENCE));
                // No version carries MAX_SEQUENCE, so only tables out of order leave the
                // cursor on the key: stepping on would gather its versions, and seek,
                // again and again.
                if on_key(it) {
                    return self.fail(Error::Corruption("entries out of order met by an iterator".into()));
                }
            }
        }
    }
}

impl Iter {
    /// An iterator that reports `e` once and ends (reading a dropped keyspace).
    pub(crate) fn with_error(mut self, e: Error) -> Iter {
        self.pending_error = Some(e);
        self
    }

    /// Reports a creation error once, then ends; otherwise takes a step with `step`.
    fn step(&mut self, step: fn(&mut Iter) -> Option<Entry>) -> Option<Entry> {
        if let Some(e) = self.pending_error.take() {
            return self.fail(e);
        }
        if self.done {
            return None;
        }
        step(self)
    }
}

impl Drop for Iter {
    fn drop(&mut self) {
        // An iterator never advanced built no merge: no scan to count.
        if self.front.is_some() || self.back.is_some() {
            self.tree.count_scan(&[&self.front_fill, &self.back_fill]);
        }
        if self.failed || self.pending_error.is_some() {
            return;
        }
        // The cache holds one merge: the forward merge if there is one.
        let (it, fill) = match (self.front.take(), self.back.take()) {
            (Some(it), _) => (it, std::mem::replace(&mut self.front_fill, CacheFill::Never)),
            (None, Some(it)) => (it, std::mem::replace(&mut self.back_fill, CacheFill::Never)),
            (None, None) => return,
        };
        self.tree.merge_cache.park(&self.db, &self.tree, &self.sv, it, fill);
    }
}

impl Iterator for Iter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(Iter::next_forward)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(Iter::next_backward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_keys_stay_intact_across_chunks_and_outlive_the_arena() {
        let mut arena = KeyArena::default();
        // Lengths from empty to past a whole chunk, so that keys fill chunks exactly,
        // straddle their ends and need chunks of their own.
        let keys: Vec<Vec<u8>> =
            (0..3000u32).map(|i| (0..(i * 37 % 5000) as usize).map(|j| (i as usize + j) as u8).collect()).collect();
        let copies: Vec<Bytes> = keys.iter().map(|k| arena.copy(k)).collect();
        drop(arena);
        for (k, c) in keys.iter().zip(&copies) {
            assert_eq!(k.as_slice(), c.as_ref());
        }
    }

    #[test]
    fn prefix_bounds_cover_exactly_the_prefix() {
        assert_eq!(prefix_bounds(b"ab"), (Bound::Included(b"ab".to_vec()), Bound::Excluded(b"ac".to_vec())));
        assert_eq!(prefix_bounds(b"a\xff"), (Bound::Included(b"a\xff".to_vec()), Bound::Excluded(b"b".to_vec())));
        assert_eq!(prefix_bounds(b"\xff\xff"), (Bound::Included(b"\xff\xff".to_vec()), Bound::Unbounded));
        assert_eq!(prefix_bounds(b""), (Bound::Included(vec![]), Bound::Unbounded));
    }
}
