//! [`MemTable`]: the in-memory, sorted home of recent writes.
//!
//! A memtable is a [`SkipList`] of internal keys (see [`crate::key`]) with their values.
//! One writer at a time inserts (the write-group leader); any number of readers and
//! iterators run concurrently with it and never block. A memtable only grows: once it
//! passes the configured size the database freezes it, and it is read-only until a
//! flush has turned it into an SSTable and the last reader lets go of it.
//!
//! Range deletions are kept apart from the skiplist, as written (RocksDB keeps them in
//! a memtable of their own): a point lookup or scan must not step over them, and
//! there are few. Readers get them fragmented ([`MemTable::range_tombstones`]), built
//! once per change and shared until the next one.

pub(crate) mod arena;
mod bulk_iter;
mod point_index;
pub(crate) mod skiplist;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::{
    append_internal_key, pack_trailer, Lookup, LookupKey, ParsedKey, ValueKind, KIND_FOR_SEEK, TRAILER_LEN,
};
use crate::range_del::{FragmentedTombstones, RangeTombstone};
use crate::util::cache_line::OwnLines;
use crate::util::coding::read_u64;
use arena::ChunkPool;
pub(crate) use bulk_iter::BulkIter;
use point_index::{PointIndex, Probe};
pub(crate) use skiplist::{SkipList, Splice};

struct WriterState {
    splice: Splice,
    scratch: Vec<u8>,
    /// Slots of `index` claimed so far (the writer's alone, so that inserts leave the
    /// cache lines readers load untouched).
    claimed: usize,
}

/// The range tombstones of a memtable, as written, and their fragmented form once a
/// reader asked for it.
#[derive(Default)]
struct RangeDels {
    written: Vec<RangeTombstone>,
    fragmented: Option<Arc<FragmentedTombstones>>,
}

/// A skiplist memtable; see the module comment.
pub struct MemTable {
    list: SkipList,
    /// Point lookups' shortcut past the skiplist search (`None`: switched off).
    index: Option<PointIndex>,
    /// On lines of their own, as both change on every insert and `index`'s geometry
    /// and `list`'s head are read by every lookup.
    writer: OwnLines<Mutex<WriterState>>,
    entries: OwnLines<AtomicU64>,
    range_dels: Mutex<RangeDels>,
    /// Bytes the range tombstones take (0: there are none). Readers check it before
    /// taking `range_dels`' lock, so a memtable without any costs them one load.
    range_del_bytes: AtomicUsize,
}

/// Arena bytes per entry assumed until a tree has filled a memtable: a 16-byte key, a
/// 100-byte value and the node around them. Smaller entries fill the point index early
/// (it turns partial; see `point_index`) and the tree's next memtables are sized from
/// what this one held.
pub(crate) const DEFAULT_ENTRY_BYTES: usize = 150;

impl MemTable {
    /// An empty memtable that expects to hold about `capacity` bytes, with huge pages
    /// where the size allows (see [`MemTable::with_huge_pages`]).
    pub fn new(capacity: usize) -> Self {
        Self::with_huge_pages(capacity, true)
    }

    /// An empty memtable that expects to hold about `capacity` bytes; `huge_pages`
    /// lets its arena use transparent huge pages (from 16 MiB memtables up). It has a
    /// point index sized for entries of 150 bytes (a 16-byte key, a 100-byte value).
    pub fn with_huge_pages(capacity: usize, huge_pages: bool) -> Self {
        Self::with_pool(capacity, huge_pages, None, Some(DEFAULT_ENTRY_BYTES))
    }

    /// As [`MemTable::with_huge_pages`], taking its huge-page chunks from `pool` first and
    /// leaving them there when it drops, for the tree's next memtable. `index_entry_bytes`
    /// sizes the point index for entries of that many arena bytes (`None`: no index).
    pub fn with_pool(
        capacity: usize,
        huge_pages: bool,
        pool: Option<Arc<ChunkPool>>,
        index_entry_bytes: Option<usize>,
    ) -> Self {
        // Chunks of about a sixteenth of the memtable: few enough to be cheap, and from
        // 16 MiB memtables up large enough for the arena to back them with huge pages
        // (it rounds them to whole huge pages). Heap chunks stay at most 1 MiB.
        let max_chunk = if huge_pages { 4 << 20 } else { 1 << 20 };
        let list = SkipList::new((capacity / 16).clamp(4096, max_chunk), huge_pages, pool);
        let splice = Splice::new(&list, 0x9e37_79b9_7f4a_7c15);
        // The index's bytes count against the capacity too (`memory_usage`), about 12
        // per entry.
        let index = index_entry_bytes
            .map(|bytes| PointIndex::with_capacity(capacity / bytes.max(1).saturating_add(12), huge_pages));
        MemTable {
            list,
            index,
            writer: OwnLines(Mutex::new(WriterState { splice, scratch: Vec::new(), claimed: 0 })),
            entries: OwnLines(AtomicU64::new(0)),
            range_dels: Mutex::default(),
            range_del_bytes: AtomicUsize::new(0),
        }
    }

    /// Arena bytes per entry so far (`None` while empty): what the tree's next memtable
    /// sizes its point index by.
    pub(crate) fn entry_bytes(&self) -> Option<usize> {
        let n = usize::try_from(self.len()).ok().filter(|&n| n > 0)?;
        Some(self.list.memory_usage() / n)
    }

    /// Adds one version of `user_key`; for [`ValueKind::RangeDelete`], a tombstone
    /// over `[user_key, value)`, as a write batch encodes it.
    pub fn add(&self, seq: u64, kind: ValueKind, user_key: &[u8], value: &[u8]) {
        if kind == ValueKind::RangeDelete {
            let mut r = self.range_dels.lock();
            r.written.push(RangeTombstone { start: user_key.to_vec(), end: value.to_vec(), seq });
            r.fragmented = None;
            // Release, with the Acquire in `range_tombstones`: a reader that sees the
            // bytes finds the tombstone.
            let bytes = user_key.len() + value.len() + std::mem::size_of::<RangeTombstone>();
            self.range_del_bytes.fetch_add(bytes, Ordering::Release);
            return;
        }
        let index = self.index.as_ref().map(|index| {
            let hash = crate::util::hash::hash64(user_key);
            index.prefetch(hash);
            (index, hash)
        });
        let mut w = self.writer.lock();
        let WriterState { splice, scratch, claimed } = &mut *w;
        scratch.clear();
        append_internal_key(scratch, user_key, seq, kind);
        // SAFETY: inserts are serialized by the writer lock held here, and `splice` was
        // made for `self.list` in `with_pool` and is used with no other list.
        let node = unsafe { self.list.insert(scratch, value, splice) };
        if let Some((index, hash)) = index {
            // SAFETY: as above, under the writer lock, with the writer's own count.
            unsafe { index.insert(hash, node, claimed) };
        }
        // Release, with `len`'s Acquire: an entry counted is an entry a reader finds.
        self.entries.fetch_add(1, Ordering::Release);
    }

    /// Range tombstones added so far, fragmented; `None` if there are none. Built
    /// once per change and shared by every reader until the next.
    #[inline]
    pub(crate) fn range_tombstones(&self) -> Option<Arc<FragmentedTombstones>> {
        if self.range_del_bytes.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.fragmented_range_tombstones()
    }

    #[cold]
    fn fragmented_range_tombstones(&self) -> Option<Arc<FragmentedTombstones>> {
        let mut r = self.range_dels.lock();
        let r = &mut *r;
        let fragmented = r.fragmented.get_or_insert_with(|| Arc::new(FragmentedTombstones::new(r.written.clone())));
        Some(fragmented.clone())
    }

    /// The newest version of the key with seqno <= the key's seqno.
    pub fn get(&self, key: &LookupKey) -> Lookup<&[u8]> {
        let (user_key, seq) = (key.user_key(), key.seq());
        // An empty memtable (after a switch, or in a read-only phase) is answered from
        // the list's head, a line readers share, not from a random slot of the index.
        if self.list.first().is_none() {
            return Lookup::Missing;
        }
        match self.index.as_ref().map(|index| index.find(key.hash(), user_key)) {
            Some(Probe::Absent) => return Lookup::Missing,
            Some(Probe::Found(node)) => {
                if let Some(found) = Self::visible_from(node, user_key, seq) {
                    return found;
                }
            }
            Some(Probe::Unknown) | None => {}
        }
        // Search for the seek key (user_key, seq, KIND_FOR_SEEK) by its parts, so that a
        // lookup allocates nothing.
        let target_trailer = pack_trailer(seq, KIND_FOR_SEEK);
        let before = |ikey: &[u8]| {
            let split = ikey.len().saturating_sub(TRAILER_LEN);
            match crate::key::compare_user_keys(&ikey[..split], user_key) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Greater => false,
                // Same user key: higher trailers (newer versions) come first.
                std::cmp::Ordering::Equal => read_u64(ikey, split).unwrap_or(0) > target_trailer,
            }
        };
        let Some(node) = self.list.find_first_not_before(before) else {
            return Lookup::Missing;
        };
        match ParsedKey::parse(SkipList::key(node)) {
            Some(p) if p.user_key == user_key => Self::lookup(p.kind, node, p.seq),
            _ => Lookup::Missing,
        }
    }

    /// The newest version of `user_key` at or below `seq`, looked for from `node`, the
    /// newest version the point index knows: the versions of a key are neighbours in
    /// the list, newest first, so a read below the newest (a snapshot, or a write not
    /// yet published) steps down them. `None` after a few steps: search instead.
    fn visible_from<'a>(node: skiplist::Node, user_key: &[u8], seq: u64) -> Option<Lookup<&'a [u8]>> {
        const STEPS: usize = 8;
        let mut at = Some(node);
        for _ in 0..STEPS {
            let Some(p) = at.and_then(|n| ParsedKey::parse(SkipList::key(n))) else {
                return Some(Lookup::Missing);
            };
            if p.user_key != user_key {
                // Past the key's last version: none is old enough.
                return Some(Lookup::Missing);
            }
            if p.seq <= seq {
                return at.map(|n| Self::lookup(p.kind, n, p.seq));
            }
            at = at.and_then(SkipList::successor);
        }
        None
    }

    fn lookup<'a>(kind: ValueKind, node: skiplist::Node, seq: u64) -> Lookup<&'a [u8]> {
        match kind {
            ValueKind::Put => Lookup::Found(SkipList::value(node), seq),
            ValueKind::Delete | ValueKind::RangeDelete => Lookup::Deleted,
        }
    }

    /// Bytes of memory used; compared with the memtable size option.
    pub fn memory_usage(&self) -> usize {
        self.list.memory_usage()
            + self.index.as_ref().map_or(0, PointIndex::memory_usage)
            + self.range_del_bytes.load(Ordering::Relaxed)
    }

    /// Number of point entries (versions) held; range tombstones not included.
    pub fn len(&self) -> u64 {
        self.entries.load(Ordering::Acquire)
    }

    /// True if nothing was ever added, point entry or range tombstone.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.range_del_bytes.load(Ordering::Acquire) == 0
    }

    /// A cursor over every entry, holding the memtable alive.
    pub fn iter(self: &Arc<Self>) -> MemTableIter {
        MemTableIter { mem: self.clone(), node: None }
    }

    /// A cursor for reading every entry in order, faster than [`iter`](Self::iter) on
    /// a large memtable for 8 bytes per entry listed up front; it sees the entries
    /// present when it is made (see `BulkIter` for entries added meanwhile).
    /// Flushes use it.
    pub fn bulk_iter(self: &Arc<Self>) -> BulkIter {
        BulkIter::new(self.clone())
    }
}

/// An [`InternalIterator`] over a memtable.
pub struct MemTableIter {
    mem: Arc<MemTable>,
    node: Option<std::ptr::NonNull<u8>>,
}

impl MemTableIter {
    /// Forward scans then find the next node in the cache.
    fn prefetch_successor(&self) {
        if let Some(n) = self.node.and_then(SkipList::successor) {
            SkipList::prefetch(n);
        }
    }
}

// SAFETY: `node` points into the arena of `mem`, which this iterator keeps alive through
// the `Arc`; nodes are immutable once published, so reading them from another thread is
// as safe as reading them from this one.
unsafe impl Send for MemTableIter {}

impl InternalIterator for MemTableIter {
    fn valid(&self) -> bool {
        self.node.is_some()
    }
    fn seek_to_first(&mut self) {
        self.node = self.mem.list.first();
        self.prefetch_successor();
    }
    fn seek_to_last(&mut self) {
        self.node = self.mem.list.find_last();
    }
    fn seek(&mut self, target: &[u8]) {
        self.node = self.mem.list.find_greater_or_equal(target);
        self.prefetch_successor();
    }
    fn next(&mut self) {
        self.node = self.node.and_then(SkipList::successor);
        self.prefetch_successor();
    }
    fn prev(&mut self) {
        // No back pointers: search for the last node before this one (O(log n)).
        self.node = self.node.and_then(|n| self.mem.list.find_less_than(SkipList::key(n)));
    }
    fn key(&self) -> &[u8] {
        self.node.map_or(&[], SkipList::key)
    }
    fn value(&self) -> &[u8] {
        self.node.map_or(&[], SkipList::value)
    }
    fn status(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{seek_key, user_key};

    #[test]
    fn get_respects_snapshots_and_tombstones() {
        let m = MemTable::new(1 << 20);
        m.add(1, ValueKind::Put, b"a", b"a1");
        m.add(2, ValueKind::Put, b"b", b"b2");
        m.add(3, ValueKind::Delete, b"a", b"");
        m.add(4, ValueKind::Put, b"a", b"a4");
        assert_eq!(m.get(&LookupKey::new(b"a", 0)), Lookup::Missing);
        assert_eq!(m.get(&LookupKey::new(b"a", 1)), Lookup::Found(&b"a1"[..], 1));
        assert_eq!(m.get(&LookupKey::new(b"a", 2)), Lookup::Found(&b"a1"[..], 1));
        assert_eq!(m.get(&LookupKey::new(b"a", 3)), Lookup::Deleted);
        assert_eq!(m.get(&LookupKey::new(b"a", 10)), Lookup::Found(&b"a4"[..], 4));
        assert_eq!(m.get(&LookupKey::new(b"b", 10)), Lookup::Found(&b"b2"[..], 2));
        assert_eq!(m.get(&LookupKey::new(b"c", 10)), Lookup::Missing);
        assert_eq!(m.get(&LookupKey::new(b"", 10)), Lookup::Missing);
        assert_eq!(m.len(), 4);
    }

    /// Versions of keys in a random order of seqnos (puts and deletes), looked up at
    /// every seqno: memtables with a point index (roomy, and one that fills after a
    /// few keys) answer as the skiplist search alone does.
    #[test]
    fn point_index_answers_as_the_skiplist_does() {
        let mut rng = crate::util::rng::Rng::new(17);
        let plain = MemTable::with_pool(1 << 20, false, None, None);
        let roomy = MemTable::with_pool(1 << 20, false, None, Some(100));
        let cramped = MemTable::with_pool(1 << 12, false, None, Some(400));
        let mut seqs: Vec<u64> = (1..=600).collect();
        for i in (1..seqs.len()).rev() {
            seqs.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for &seq in &seqs {
            // Four keys with ~75 versions each, the rest with one or two.
            let key = if rng.below(2) == 0 { format!("k{}", rng.below(4)) } else { format!("k{}", 4 + rng.below(200)) };
            let kind = if rng.below(5) == 0 { ValueKind::Delete } else { ValueKind::Put };
            let value = format!("v{seq}");
            for m in [&plain, &roomy, &cramped] {
                m.add(seq, kind, key.as_bytes(), value.as_bytes());
            }
        }
        for k in 0..210 {
            let key = format!("k{k}");
            for seq in 0..=601 {
                let lookup = LookupKey::new(key.as_bytes(), seq);
                let want = plain.get(&lookup);
                assert_eq!(roomy.get(&lookup), want, "{key} at {seq}");
                assert_eq!(cramped.get(&lookup), want, "{key} at {seq}");
            }
        }
    }

    #[test]
    fn the_point_index_counts_in_memory_usage() {
        let with = MemTable::with_pool(1 << 20, false, None, Some(100));
        let without = MemTable::with_pool(1 << 20, false, None, None);
        let index = with.index.as_ref().map_or(0, PointIndex::memory_usage);
        // Slots for every entry of 112 bytes (100 in the arena, 12 in the index), and a third more.
        assert!(index >= (1 << 20) / 112 * 8 * 4 / 3, "{index}");
        assert_eq!(with.memory_usage(), without.memory_usage() + index);
    }

    /// A writer adds versions `1, 2, ...` of keys `seq % 7` and publishes each seqno after
    /// its insert; readers look up at the published seqno and must get exactly the
    /// newest version at or below it, while the index fills and turns partial.
    #[test]
    fn point_index_lookups_race_inserts() {
        const KEYS: u64 = 7;
        const WRITES: u64 = 20_000;
        let m = MemTable::with_pool(1 << 22, false, None, Some(1 << 20));
        let published = AtomicU64::new(0);
        std::thread::scope(|s| {
            for r in 0..2 {
                let (m, published) = (&m, &published);
                s.spawn(move || {
                    let mut i = r;
                    loop {
                        let seq = published.load(Ordering::Acquire);
                        let k = i % KEYS;
                        let key = format!("key{k}");
                        let got = m.get(&LookupKey::new(key.as_bytes(), seq));
                        // The newest s <= seq with s % KEYS == k, if any (seqnos start at 1).
                        let want = (seq >= k && seq >= 1).then(|| seq - (seq - k) % KEYS).filter(|&s| s >= 1);
                        match (got, want) {
                            (Lookup::Found(_, at), Some(s)) => assert_eq!(at, s, "{key} at {seq}"),
                            (Lookup::Missing, None) => {}
                            (got, want) => panic!("{key} at {seq}: {got:?}, expected {want:?}"),
                        }
                        if seq == WRITES {
                            break;
                        }
                        i += 1;
                    }
                });
            }
            for seq in 1..=WRITES {
                let key = format!("key{}", seq % KEYS);
                m.add(seq, ValueKind::Put, key.as_bytes(), b"v");
                published.store(seq, Ordering::Release);
            }
        });
    }

    #[test]
    fn range_tombstones_stay_out_of_the_skiplist_and_are_shared_until_the_next() {
        let m = MemTable::new(1 << 20);
        assert!(m.range_tombstones().is_none() && m.is_empty());
        let before = m.memory_usage();
        m.add(1, ValueKind::RangeDelete, b"a", b"m");
        assert!(!m.is_empty(), "a memtable holding only a tombstone must still be flushed");
        assert_eq!(m.len(), 0);
        assert!(m.memory_usage() > before);
        let first = m.range_tombstones().unwrap();
        assert!(Arc::ptr_eq(&first, &m.range_tombstones().unwrap()));
        m.add(2, ValueKind::RangeDelete, b"c", b"z");
        let second = m.range_tombstones().unwrap();
        assert_eq!(
            (second.covering_seq(b"d", 10), second.covering_seq(b"b", 10), second.covering_seq(b"z", 10)),
            (2, 1, 0)
        );
        assert_eq!(m.get(&LookupKey::new(b"b", 10)), Lookup::Missing);
    }

    #[test]
    fn iterator_walks_both_ways() {
        let m = Arc::new(MemTable::new(4096));
        for (i, k) in ["d", "b", "a", "c"].iter().enumerate() {
            m.add(i as u64 + 1, ValueKind::Put, k.as_bytes(), b"v");
        }
        let mut it = m.iter();
        it.seek_to_first();
        let mut fwd = Vec::new();
        while it.valid() {
            fwd.push(user_key(it.key()).to_vec());
            it.next();
        }
        assert_eq!(fwd, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        it.seek_to_last();
        let mut back = Vec::new();
        while it.valid() {
            back.push(user_key(it.key()).to_vec());
            it.prev();
        }
        fwd.reverse();
        assert_eq!(back, fwd);
        it.seek_for_prev(&seek_key(b"bb", 100));
        assert_eq!(user_key(it.key()), b"b");
        it.next();
        assert_eq!(user_key(it.key()), b"c");
        assert_eq!(it.value(), b"v");
    }
}
