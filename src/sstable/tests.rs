//! Table round trips, lookups through the filter and index, and damaged files.

use std::sync::Arc;

use super::*;
use crate::cache::CacheFill;
use crate::compression::Compression;
use crate::error::Error;
use crate::fs::{FileSystem, OsFileSystem};
use crate::iter::InternalIterator;
use crate::key::{compare_internal, make_internal_key, seek_key, user_key, Lookup, LookupKey, ValueKind};

fn key(i: u32) -> Vec<u8> {
    format!("user{i:06}").into_bytes()
}

/// Writes keys 0, 2, 4, ... (n of them); every 10th is a tombstone; key 4 has two versions.
fn write_table(dir: &std::path::Path, n: u32, block_size: usize, bloom: u32) -> std::path::PathBuf {
    write_table_with(dir, n, block_size, bloom, Compression::Lz4)
}

fn write_table_with(
    dir: &std::path::Path,
    n: u32,
    block_size: usize,
    bloom: u32,
    compression: Compression,
) -> std::path::PathBuf {
    let path = dir.join("000001.sst");
    // Tests rewrite the table with other layouts; `create` never overwrites.
    let _ = std::fs::remove_file(&path);
    let file = OsFileSystem.create(&path).unwrap();
    let mut b = TableBuilder::new(file, TableOptions { block_size, bloom_bits_per_key: bloom, compression });
    for i in 0..n {
        let k = key(i * 2);
        if i == 2 {
            b.add(&make_internal_key(&k, 1000, ValueKind::Put), b"newer").unwrap();
        }
        let kind = if i % 10 == 9 { ValueKind::Delete } else { ValueKind::Put };
        let v = if kind == ValueKind::Put { format!("value{i}") } else { String::new() };
        b.add(&make_internal_key(&k, u64::from(i) + 1, kind), v.as_bytes()).unwrap();
    }
    let (size, props) = b.finish().unwrap();
    assert_eq!(size, std::fs::metadata(&path).unwrap().len());
    assert_eq!(props.summary.num_entries, u64::from(n) + u64::from(n > 2));
    path
}

/// Entries of a full forward pass of `it`, which must end without error.
fn count(mut it: TableIter) -> usize {
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status().unwrap();
    n
}

fn open(path: &std::path::Path, cache: bool) -> crate::Result<Arc<TableReader>> {
    let file = OsFileSystem.open(path)?;
    let cache = cache.then(|| Arc::new(BlockCache::new(1 << 20)));
    Ok(Arc::new(TableReader::open(file, "000001.sst", cache)?))
}

#[test]
fn point_lookups() {
    let dir = tempfile::tempdir().unwrap();
    for (block_size, bloom, cache, compression) in [
        (256, 10, true, Compression::Lz4),
        (256, 10, false, Compression::None),
        (4096, 0, false, Compression::Lz4),
        (64 * 1024, 10, true, Compression::None),
    ] {
        let path = write_table_with(dir.path(), 1000, block_size, bloom, compression);
        let t = open(&path, cache).unwrap();
        assert_eq!(t.properties().summary.min_seq, 1);
        assert_eq!(t.properties().summary.max_seq, 1000);
        assert_eq!(t.properties().summary.num_deletions, 100);
        for i in 0..1000u32 {
            let k = key(i * 2);
            // A prefetch of the key's filter line changes nothing about the answer.
            t.prefetch_filter(LookupKey::new(&k, 0).hash());
            let (got, _) = t.get(&LookupKey::new(&k, u64::MAX >> 8)).unwrap();
            let want = if i == 2 {
                Lookup::Found(bytes::Bytes::from_static(b"newer"), 1000)
            } else if i % 10 == 9 {
                Lookup::Deleted
            } else {
                Lookup::Found(bytes::Bytes::from(format!("value{i}")), u64::from(i) + 1)
            };
            assert_eq!(got, want, "key {i}");
            // Absent keys between the present ones.
            assert_eq!(t.get(&LookupKey::new(&key(i * 2 + 1), u64::MAX >> 8)).unwrap().0, Lookup::Missing);
        }
        // Older snapshot sees the older version of key 4, and nothing before seq 1.
        assert_eq!(
            t.get(&LookupKey::new(&key(4), 999)).unwrap().0,
            Lookup::Found(bytes::Bytes::from_static(b"value2"), 3)
        );
        assert_eq!(t.get(&LookupKey::new(&key(0), 0)).unwrap().0, Lookup::Missing);
        assert_eq!(t.get(&LookupKey::new(b"zzz", u64::MAX >> 8)).unwrap().0, Lookup::Missing);
    }
}

#[test]
fn filter_excludes_most_absent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_table(dir.path(), 5000, 4096, 10);
    let t = open(&path, true).unwrap();
    let excluded = (0..5000u32)
        .filter(|i| t.get(&LookupKey::new(&key(i * 2 + 1), u64::MAX >> 8)).unwrap().1 == FilterResult::Excluded)
        .count();
    assert!(excluded > 4850, "only {excluded} of 5000 absent keys excluded");
    assert_eq!(t.get(&LookupKey::new(&key(0), u64::MAX >> 8)).unwrap().1, FilterResult::Passed);
}

#[test]
fn iteration_both_ways_and_seeks() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_table(dir.path(), 500, 256, 10);
    let t = open(&path, true).unwrap();
    let mut it = t.iter();
    it.seek_to_first();
    let mut fwd = Vec::new();
    while it.valid() {
        fwd.push(it.key().to_vec());
        it.next();
    }
    it.status().unwrap();
    assert_eq!(fwd.len(), 501);
    assert!(fwd.windows(2).all(|w| crate::key::compare_internal(&w[0], &w[1]).is_lt()));
    it.seek_to_last();
    let mut back = Vec::new();
    while it.valid() {
        back.push(it.key().to_vec());
        it.prev();
    }
    back.reverse();
    assert_eq!(back, fwd);
    it.seek(&seek_key(&key(101), u64::MAX >> 8));
    assert_eq!(user_key(it.key()), key(102));
    it.prev();
    assert_eq!(user_key(it.key()), key(100));
    it.seek_for_prev(&seek_key(&key(101), u64::MAX >> 8));
    assert_eq!(user_key(it.key()), key(100));
    it.seek(&seek_key(b"zzz", 0));
    assert!(!it.valid());
}

#[test]
fn compression_shrinks_tables_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::metadata(write_table_with(dir.path(), 2000, 4096, 10, Compression::None)).unwrap().len();
    let path = write_table_with(dir.path(), 2000, 4096, 10, Compression::Lz4);
    let packed = std::fs::metadata(&path).unwrap().len();
    assert!(packed * 10 < plain * 8, "lz4 table {packed} bytes, plain {plain}");
    let t = open(&path, false).unwrap();
    assert_eq!(count(t.iter()), 2001);
}

#[test]
fn every_damaged_byte_is_detected_or_harmless() {
    for compression in [Compression::None, Compression::Lz4] {
        every_damaged_byte(compression);
    }
}

fn every_damaged_byte(compression: Compression) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_table_with(dir.path(), 60, 256, 10, compression);
    let good = std::fs::read(&path).unwrap();
    let reference: Vec<(Vec<u8>, Vec<u8>)> = {
        let t = open(&path, false).unwrap();
        let mut it = t.iter();
        it.seek_to_first();
        let mut v = Vec::new();
        while it.valid() {
            v.push((it.key().to_vec(), it.value().to_vec()));
            it.next();
        }
        v
    };
    let (mut errors, mut opened_ok) = (0, 0);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        std::fs::write(&path, &bad).unwrap();
        let t = match open(&path, false) {
            Ok(t) => t,
            Err(Error::Corruption(msg)) => {
                assert!(msg.contains("000001.sst"), "{msg}");
                errors += 1;
                continue;
            }
            Err(e) => panic!("unexpected error {e}"),
        };
        opened_ok += 1;
        let mut it = t.iter();
        it.seek_to_first();
        let mut got = Vec::new();
        while it.valid() {
            got.push((it.key().to_vec(), it.value().to_vec()));
            it.next();
        }
        match it.status() {
            // Whatever was returned before the error must be a prefix of the truth.
            Err(Error::Corruption(msg)) => {
                assert!(msg.contains("000001.sst"), "{msg}");
                assert_eq!(&reference[..got.len()], &got[..]);
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(()) => assert_eq!(got, reference, "byte {i} flipped yet iteration returned other data"),
        }
    }
    assert!(errors > 0 && opened_ok > 0);
    // Truncations are always detected.
    for len in [0, 10, 63, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..len]).unwrap();
        assert!(matches!(open(&path, false).map(|_| ()), Err(Error::Corruption(_))), "len {len}");
    }
}

#[test]
fn a_scan_cursor_reads_everything_without_filling_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_table(dir.path(), 500, 256, 10);
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = Arc::new(TableReader::open(OsFileSystem.open(&path).unwrap(), "000001.sst", Some(cache.clone())).unwrap());
    assert_eq!(count(t.scan_iter()), 501);
    assert_eq!(cache.usage(), 0, "a compaction's pass must not evict readers' blocks");
    assert_eq!(count(t.iter()), 501);
    assert!(cache.usage() > 0, "a reader's cursor fills the cache");
}

#[test]
fn a_budgeted_cursor_caches_the_blocks_it_seeks_to_and_steps_into_only_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    // Uncompressed, so that a block's stored size (what the budget counts) is its
    // cached size (what the cache charges).
    let path = write_table_with(dir.path(), 500, 256, 10, Compression::None);
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = Arc::new(TableReader::open(OsFileSystem.open(&path).unwrap(), "000001.sst", Some(cache.clone())).unwrap());
    let index = t.index_entries().unwrap();
    assert!(index.len() > 20, "the table must span many blocks ({})", index.len());
    let size = |block: usize| index[block].1.size as usize;
    // The block a seek to `target` lands in: the first whose separator is not below it.
    let block_of = |target: &[u8]| index.iter().position(|(k, _)| compare_internal(k, target).is_ge()).unwrap();

    assert_eq!(
        count(t.iter_filling(CacheFill::budget(0))),
        501,
        "the policy decides only what is cached, never what is read"
    );
    assert_eq!(cache.usage(), size(0), "a spent budget caches only the block the scan started in");

    // A budget of exactly the two blocks after the one a seek lands in.
    let target = seek_key(&key(100), u64::MAX >> 8);
    let at = block_of(&target);
    let two = CacheFill::budget(size(at + 1) + size(at + 2));
    let mut it = t.iter_filling(two.clone());
    it.seek(&target);
    let end = make_internal_key(&key(300), 0, ValueKind::Delete);
    while it.valid() && compare_internal(it.key(), &end).is_lt() {
        it.next();
    }
    let walked = block_of(&end) - at;
    assert!(walked > 4, "the walk must step past the budget ({walked} blocks)");
    assert_eq!(cache.usage(), size(0) + size(at) + size(at + 1) + size(at + 2), "the seek's block and two stepped");

    two.restart();
    let before = cache.usage();
    it.next();
    while it.valid() && it.key() < index[block_of(&end) + 1].0.as_slice() {
        it.next();
    }
    assert!(cache.usage() > before, "a restarted budget lets stepped blocks in again");
}

#[test]
fn values_outlive_their_evicted_block_while_its_buffers_are_recycled() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_table(dir.path(), 20_000, 4096, 10);
    // Two blocks per shard: nearly every lookup below evicts a block.
    let cache = Arc::new(BlockCache::new(16 * 9 * 1024));
    let t = Arc::new(TableReader::open(OsFileSystem.open(&path).unwrap(), "000001.sst", Some(cache.clone())).unwrap());
    let value = |i: u32| match t.get(&LookupKey::new(&key(i * 2), u64::MAX >> 8)).unwrap().0 {
        Lookup::Found(v, _) => v,
        _ => panic!("key {i} not found"),
    };
    let first = value(0);
    let first_addr = first.as_ptr();
    for round in 0..2 {
        for i in (0..20_000).filter(|i| i % 10 != 9 && *i != 2) {
            assert_eq!(&value(i)[..], format!("value{i}").as_bytes(), "round {round}, key {i}");
        }
    }
    assert!(cache.buffers().idle_bytes() > 0, "evicted blocks hand their buffers back");
    // The block `first` points into was evicted long ago, and other blocks were decoded
    // into recycled buffers since: none of them may have been its buffer.
    assert_eq!(first.as_ptr(), first_addr);
    assert_eq!(&first[..], b"value0");
}

#[test]
fn a_compress_worker_writes_the_same_bytes_as_the_builders_own_thread() {
    let dir = tempfile::tempdir().unwrap();
    // Values that compress in some blocks and not in others, over entry counts that end
    // on and off block boundaries (and an empty table).
    let value = |i: u32| -> Vec<u8> {
        if (i / 40).is_multiple_of(3) {
            (0..100u32).map(|j| (i.wrapping_mul(2_654_435_761) ^ j.wrapping_mul(40_503)) as u8).collect()
        } else {
            format!("value {i} ").repeat(8).into_bytes()
        }
    };
    for (n, block_size, compression) in [
        (0, 4096, Compression::Lz4),
        (1, 4096, Compression::Lz4),
        (3000, 256, Compression::Lz4),
        (5000, 4096, Compression::Lz4),
        (700, 1024, Compression::None),
    ] {
        let mut tables = Vec::new();
        for worker in [false, true] {
            let path = dir.path().join(format!("{n}-{block_size}-{worker}.sst"));
            let file = OsFileSystem.create(&path).unwrap();
            let opts = TableOptions { block_size, bloom_bits_per_key: 10, compression };
            let mut b =
                if worker { TableBuilder::with_compress_worker(file, opts) } else { TableBuilder::new(file, opts) };
            for i in 0..n {
                b.add(&make_internal_key(&key(i), u64::from(i) + 1, ValueKind::Put), &value(i)).unwrap();
            }
            let (size, props) = b.finish().unwrap();
            assert_eq!(props.summary.num_entries, u64::from(n));
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(size, bytes.len() as u64);
            tables.push((path, bytes));
        }
        assert!(tables[0].1 == tables[1].1, "{n} entries, {block_size}-byte blocks: the files differ");
        // And the table reads back whole.
        let reader = Arc::new(TableReader::open(OsFileSystem.open(&tables[1].0).unwrap(), "t.sst", None).unwrap());
        let mut it = reader.iter();
        it.seek_to_first();
        for i in 0..n {
            assert!(it.valid(), "entry {i}");
            assert_eq!(user_key(it.key()), key(i));
            assert_eq!(it.value(), &value(i)[..]);
            it.next();
        }
        assert!(!it.valid());
        it.status().unwrap();
    }
}

/// Writes a table of the point keys `points` (seqno 5) and range tombstones `range_dels`.
fn write_with_range_dels(
    path: &std::path::Path,
    points: &[&str],
    range_dels: &[(&str, &str, u64)],
) -> (u64, format::TableProperties) {
    use crate::range_del::RangeTombstone;
    let _ = std::fs::remove_file(path);
    let file = OsFileSystem.create(path).unwrap();
    let opts = TableOptions { block_size: 256, bloom_bits_per_key: 10, compression: Compression::None };
    let mut b = TableBuilder::new(file, opts);
    for k in points {
        b.add(&make_internal_key(k.as_bytes(), 5, ValueKind::Put), b"v").unwrap();
    }
    for &(start, end, seq) in range_dels {
        b.add_range_tombstones([RangeTombstone { start: start.into(), end: end.into(), seq }]);
    }
    b.finish().unwrap()
}

#[test]
fn range_tombstones_round_trip_and_widen_the_table_bounds() {
    use crate::key::range_bound_key;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000001.sst");
    let (size, props) = write_with_range_dels(&path, &["m", "n"], &[("f", "x", 3), ("c", "k", 7)]);
    assert_eq!(props.summary.num_range_deletions, 2, "stored as written; readers fragment them");
    assert_eq!(props.summary.num_entries, 2);
    assert_eq!((props.summary.min_seq, props.summary.max_seq), (3, 7));
    assert_eq!(props.summary.smallest, range_bound_key(b"c"));
    assert_eq!(props.summary.largest, range_bound_key(b"x"), "the table ends before x");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, size);
    let version = u32::from_le_bytes(bytes[bytes.len() - 16..bytes.len() - 12].try_into().unwrap());
    assert_eq!(version, 3, "a table with range tombstones is format version 3");
    let t = open(&path, false).unwrap();
    assert_eq!(t.properties(), &props);
    let mut view = crate::range_del::RangeDelView::new(t.range_tombstones().cloned());
    for (k, want) in [("b", 0), ("c", 7), ("g", 7), ("k", 3), ("w", 3), ("x", 0)] {
        assert_eq!(view.covering_seq(k.as_bytes(), 100), want, "{k}");
    }
    assert_eq!(view.covering_seq(b"g", 5), 3, "a reader at 5 does not see the tombstone at 7");
    assert_eq!(t.get(&LookupKey::new(b"m", 10)).unwrap().0, Lookup::Found(bytes::Bytes::from_static(b"v"), 5));

    // A table of tombstones only: no point entry, bounds and seqnos from the tombstones.
    let (_, props) = write_with_range_dels(&path, &[], &[("a", "b", 9)]);
    assert_eq!((props.summary.num_entries, props.summary.min_seq, props.summary.max_seq), (0, 9, 9));
    assert_eq!((props.summary.smallest, props.summary.largest), (range_bound_key(b"a"), range_bound_key(b"b")));
    let t = open(&path, false).unwrap();
    assert_eq!(count(t.iter()), 0);
    assert_eq!(t.get(&LookupKey::new(b"a", 10)).unwrap().0, Lookup::Missing);
    assert_eq!(t.range_tombstones().map(|r| r.len()), Some(1));

    // Without tombstones a table stays version 2 with no block for them.
    let (_, props) = write_with_range_dels(&path, &["a"], &[]);
    assert_eq!(props.summary.num_range_deletions, 0);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[bytes.len() - 16..bytes.len() - 12].try_into().unwrap()), 2);
    assert!(open(&path, false).unwrap().range_tombstones().is_none());
}

#[test]
fn a_damaged_range_deletion_block_is_corruption_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000001.sst");
    let (_, props) = write_with_range_dels(&path, &["m"], &[("a", "z", 4)]);
    let good = std::fs::read(&path).unwrap();
    let block = props.range_del_block;
    for i in block.offset..block.offset + block.size + 5 {
        let mut bad = good.clone();
        bad[i as usize] ^= 0x21;
        std::fs::write(&path, &bad).unwrap();
        match open(&path, false).map(|_| ()) {
            Err(Error::Corruption(msg)) => assert!(msg.contains("000001.sst"), "{msg}"),
            other => panic!("byte {i} of the range-deletion block flipped: {other:?}"),
        }
    }
    // Contents that pass the checksum but are not tombstones (a start not below its
    // end) are refused too.
    let (_, props) = write_with_range_dels(&path, &["m"], &[("a", "z", 4)]);
    let mut bad = std::fs::read(&path).unwrap();
    let at = props.range_del_block.offset as usize;
    let contents = &mut bad[at..at + props.range_del_block.size as usize];
    let z = contents.iter().position(|&b| b == b'z').unwrap();
    contents[z] = b'0'; // end "0" < start "a"
    let trailer = format::block_trailer(contents, 0);
    let end = at + props.range_del_block.size as usize;
    bad[end..end + 5].copy_from_slice(&trailer);
    std::fs::write(&path, &bad).unwrap();
    assert!(matches!(open(&path, false).map(|_| ()), Err(Error::Corruption(m)) if m.contains("range tombstone")));
}

/// The stored bytes (contents, then trailer) of every data block of `table`, whose file
/// holds `bytes`.
pub(crate) fn stored_data_blocks(bytes: &[u8], table: &TableReader) -> Vec<Vec<u8>> {
    let blocks = table.index_entries().unwrap();
    blocks
        .into_iter()
        .map(|(_, h)| bytes[h.offset as usize..(h.offset + h.size) as usize + format::TRAILER_LEN].to_vec())
        .collect()
}

/// `add_stored_block` copies a block only if its checksum holds and its compression is
/// the builder's own; otherwise it adds nothing and the entry goes in the usual way.
#[test]
fn a_stored_block_is_copied_only_if_intact_and_compressed_as_the_table_is() {
    let dir = tempfile::tempdir().unwrap();
    let big = |i: u32| format!("value of {i};").repeat(500).into_bytes();
    // A table of single-entry blocks (values of ~6.5 KB, blocks of 4 KiB).
    let source = dir.path().join("000001.sst");
    let opts = |compression| TableOptions { block_size: 4096, bloom_bits_per_key: 10, compression };
    let mut b = TableBuilder::new(OsFileSystem.create(&source).unwrap(), opts(Compression::Lz4));
    for i in 0..3 {
        b.add(&make_internal_key(&key(i), 1, ValueKind::Put), &big(i)).unwrap();
    }
    b.finish().unwrap();
    let bytes = std::fs::read(&source).unwrap();
    let table = open(&source, false).unwrap();
    let stored = stored_data_blocks(&bytes, &table);
    assert_eq!(stored.len(), 3);

    let target = dir.path().join("000002.sst");
    let mut b = TableBuilder::new(OsFileSystem.create(&target).unwrap(), opts(Compression::Lz4));
    let ikey = |i| make_internal_key(&key(i), 1, ValueKind::Put);
    let mut damaged = stored[0].clone();
    damaged[10] ^= 1;
    assert!(!b.add_stored_block(&ikey(0), &big(0), &damaged).unwrap(), "a bad checksum is not copied");
    assert!(!b.add_stored_block(&ikey(0), &big(0), &stored[0][..3]).unwrap(), "nor a piece of a block");
    b.add(&ikey(0), &big(0)).unwrap();
    assert!(b.add_stored_block(&ikey(1), &big(1), &stored[1]).unwrap());
    b.add(&make_internal_key(&key(1), 0, ValueKind::Put), b"small, after a copied block").unwrap();
    assert!(b.add_stored_block(&ikey(2), &big(2), &stored[2]).unwrap());
    let (_, props) = b.finish().unwrap();
    assert_eq!((props.summary.num_entries, props.num_data_blocks), (4, 4));
    let table = open(&target, false).unwrap();
    let mut it = table.iter();
    it.seek_to_first();
    let mut got = Vec::new();
    while it.valid() {
        got.push((user_key(it.key()).to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    let want =
        vec![(key(0), big(0)), (key(1), big(1)), (key(1), b"small, after a copied block".to_vec()), (key(2), big(2))];
    assert_eq!(got, want);
    for i in 0..3 {
        let (lookup, _) = table.get(&LookupKey::new(&key(i), 5)).unwrap();
        assert!(matches!(lookup, Lookup::Found(ref v, 1) if v[..] == big(i)[..]), "key {i}");
    }

    // A table of another compression takes none of them.
    let other = dir.path().join("000003.sst");
    let mut b = TableBuilder::new(OsFileSystem.create(&other).unwrap(), opts(Compression::None));
    assert!(!b.add_stored_block(&ikey(0), &big(0), &stored[0]).unwrap());
}
