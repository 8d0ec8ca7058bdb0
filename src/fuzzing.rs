//! Entry points for the cargo-fuzz targets under `fuzz/`, kept in the library so that
//! `cargo test` replays every committed corpus file through exactly the same code
//! (`tests/fuzz_corpus.rs`), and a crash found once stays fixed.
//!
//! The decoders ([`block`], [`table`], [`wal`], [`manifest`], [`lz4`]) must accept any bytes
//! without panicking, looping forever or allocating without bound. [`ops`] reads the
//! bytes as a sequence of operations on a small database and panics if it ever disagrees
//! with a `BTreeMap`, or if any call fails: its file system is a healthy in-memory one,
//! so an error there is a bug the fuzzer must report (hence its `expect`s).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::fs::RandomAccessFile;
use crate::iter::InternalIterator;
use crate::key::{compare_internal, seek_key, trailer, user_key, MAX_SEQUENCE, TRAILER_LEN};
use crate::log::{LogReader, TailMode};
use crate::sstable::block::Block;
use crate::sstable::block_builder::KeyFormat;
use crate::sstable::TableReader;
use crate::testing::FaultyFs;
use crate::version::VersionEdit;
use crate::{Db, Options};

/// Walks an iterator forwards and backwards and seeks, with a bound on steps.
fn exercise(it: &mut dyn InternalIterator, probes: &[&[u8]]) {
    it.seek_to_first();
    let mut steps = 0;
    while it.valid() && steps < 10_000 {
        let _ = (it.key(), it.value());
        it.next();
        steps += 1;
    }
    it.seek_to_last();
    while it.valid() && steps < 20_000 {
        it.prev();
        steps += 1;
    }
    for p in probes {
        it.seek(p);
        it.seek_for_prev(p);
    }
    let _ = it.status();
}

/// Decodes `data` as a block, with whole keys and with internal keys, and iterates it.
pub fn block(data: &[u8]) {
    for format in [KeyFormat::Plain, KeyFormat::Internal] {
        if let Ok(block) = Block::with_key_format(Bytes::copy_from_slice(data), format, "fuzz".into(), 0) {
            let block = Arc::new(block);
            let probe = seek_key(b"m", MAX_SEQUENCE);
            let probes: [&[u8]; 3] = [&probe, b"", data.get(..8).unwrap_or(b"")];
            exercise(&mut block.iter(compare_internal), &probes);
            // A point lookup's search must agree with a cursor's seek (on targets that
            // are whole internal keys).
            for p in probes.into_iter().filter(|p| p.len() >= TRAILER_LEN) {
                let mut it = block.iter(compare_internal);
                it.seek(p);
                if let (Ok(found), Ok(())) = (block.seek_entry(user_key(p), trailer(p)), it.status()) {
                    assert_eq!(found.map(|f| f.value), it.valid().then(|| it.value_bytes()), "seek_entry vs seek");
                }
            }
        }
    }
}

/// Our LZ4 block decoder (`compression::lz4`) on any bytes. The first two bytes
/// promise an output length and the rest is decoded: the result is an error or exactly
/// that many bytes. Then the whole input, compressed by our encoder, must decode back
/// to itself (a round trip through every copy path of the decoder).
pub fn lz4(data: &[u8]) {
    use crate::compression::lz4::decompress;
    if let Some((len, src)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len));
        if let Ok(out) = decompress(src, len) {
            assert_eq!(out.len(), len, "decoded length differs from the promised one");
        }
    }
    let mut compressed = Vec::new();
    crate::compression::lz4::Lz4Encoder::new().compress(data, &mut compressed);
    assert_eq!(decompress(&compressed, data.len()).as_deref(), Ok(data), "lz4 round trip");
}

struct MemFile(Vec<u8>);

impl RandomAccessFile for MemFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        match start.checked_add(buf.len()).and_then(|end| self.0.get(start..end)) {
            Some(b) => {
                buf.copy_from_slice(b);
                Ok(())
            }
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

/// Opens `data` as an SSTable, iterates it and looks keys up; then does the same after
/// rewriting every checksum the footer and index lead to, so that the decoders behind
/// the checksums (index, filter, properties, data blocks) see mutated bytes too.
pub fn table(data: &[u8]) {
    open_and_read_table(data);
    let mut repaired = data.to_vec();
    if repair_checksums(&mut repaired) {
        open_and_read_table(&repaired);
    }
}

/// Rewrites the footer CRC and the trailer of every block the footer or the index names;
/// false if there is no footer to start from.
fn repair_checksums(data: &mut [u8]) -> bool {
    use crate::sstable::format::{block_trailer, BlockHandle, FOOTER_LEN, TRAILER_LEN};
    let Some(footer_at) = data.len().checked_sub(FOOTER_LEN) else { return false };
    let footer = &mut data[footer_at..];
    let crc = crc32fast::hash(&footer[..52]).to_le_bytes();
    footer[52..56].copy_from_slice(&crc);
    let Ok(f) = crate::sstable::format::Footer::decode(footer) else { return false };
    let fix = |data: &mut [u8], h: BlockHandle| -> Option<Vec<u8>> {
        let start = usize::try_from(h.offset).ok()?;
        let end = start.checked_add(usize::try_from(h.size).ok()?)?;
        if end.checked_add(TRAILER_LEN)? > footer_at {
            return None;
        }
        let trailer = block_trailer(&data[start..end], 0);
        data[end..end + TRAILER_LEN].copy_from_slice(&trailer);
        Some(data[start..end].to_vec())
    };
    fix(data, f.filter);
    let props = fix(data, f.properties).and_then(|p| crate::sstable::format::TableProperties::decode(&p));
    if let Some(props) = props.filter(|p| p.summary.num_range_deletions > 0) {
        fix(data, props.range_del_block);
    }
    let Some(index) = fix(data, f.index) else { return true };
    let Ok(index) = Block::with_key_format(Bytes::from(index), f.key_format, "fuzz".into(), 0) else { return true };
    let index = Arc::new(index);
    let mut it = index.iter(compare_internal);
    it.seek_to_first();
    let mut n = 0;
    while it.valid() && n < 10_000 {
        if let Some(h) = BlockHandle::decode(it.value()) {
            fix(data, h);
        }
        it.next();
        n += 1;
    }
    true
}

fn open_and_read_table(data: &[u8]) {
    let Ok(table) = TableReader::open(Arc::new(MemFile(data.to_vec())), "fuzz.sst", None) else { return };
    let table = Arc::new(table);
    let probe = seek_key(b"key", MAX_SEQUENCE);
    exercise(&mut table.iter(), &[&probe]);
    for k in [&b"a"[..], b"key", b"zzzz", table.properties().summary.smallest.as_slice()] {
        let _ = table.get(&crate::key::LookupKey::new(crate::key::user_key(k), MAX_SEQUENCE));
        if let Some(range_dels) = table.range_tombstones() {
            let mut view = crate::range_del::RangeDelView::new([range_dels.clone()]);
            let _ = view.covering_seq(crate::key::user_key(k), MAX_SEQUENCE);
        }
    }
}

/// Replays `data` as a WAL: every record decoded as a batch, in every tail mode.
pub fn wal(data: &[u8]) {
    for mode in [TailMode::PointInTime, TailMode::Tolerate, TailMode::Strict] {
        let mut reader = LogReader::new(data.to_vec(), "fuzz.log", mode);
        while let Ok(Some(record)) = reader.next_record() {
            if let Some(batch) = WriteBatch::decode(record) {
                for entry in batch.iter().flatten() {
                    let _ = (entry.kind, entry.key, entry.value);
                }
            }
        }
    }
}

/// Decodes `data` as a MANIFEST (log records of version edits) and as one bare edit.
pub fn manifest(data: &[u8]) {
    let _ = VersionEdit::decode(data);
    let mut reader = LogReader::new(data.to_vec(), "MANIFEST-000001", TailMode::Tolerate);
    while let Ok(Some(record)) = reader.next_record() {
        let _ = VersionEdit::decode(&record);
    }
}

/// Runs `data` as operations on a database with a tiny memtable (so flushes and
/// compactions happen) on an in-memory file system, checking every read, and read-only
/// views opened beside it, against a `BTreeMap`; range deletions, transactions, ranged
/// compactions, reopens (switching among every strategy), and a second keyspace (created, dropped,
/// written alone and together with the default one) in between. Panics on any
/// disagreement.
pub fn ops(data: &[u8]) {
    fn everything(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
        db.range::<&[u8], _>(..).map(|r| r.expect("scan")).map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
    }
    let fs = Arc::new(FaultyFs::new());
    let dir = Path::new("/fuzz");
    // The strategy reopens switch among: leveled, tiered, lazy leveling (with Monkey's
    // filters), a small fluid point, and FIFO with a limit the run never reaches.
    let options = |strategy: u8| {
        let (compaction, monkey) = match strategy % 5 {
            0 => (crate::Compaction::leveled(), false),
            1 => (crate::Compaction::tiered(), false),
            2 => (crate::Compaction::fluid(3, 2, 1), true),
            3 => (crate::Compaction::fluid(4, 1, 2), false),
            _ => (crate::Compaction::fifo(1 << 40), false),
        };
        let bloom = if monkey { crate::BloomAllocation::Monkey } else { crate::BloomAllocation::Uniform };
        Options::default()
            .memtable_size(1024)
            .block_size(256)
            .compaction(compaction)
            .bloom_allocation(bloom)
            .file_system(fs.clone())
    };
    let mut strategy = data.first().map_or(0, |b| b % 5);
    let Ok(mut db) = Db::open(dir, options(strategy)) else { panic!("open failed") };
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let side_options = || Options::default().memtable_size(512).compaction(crate::Compaction::tiered());
    let mut side: Option<crate::Keyspace> = None;
    let mut side_model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut bytes = data.iter().copied().skip(1);
    let mut next = move || bytes.next();
    let key = |b: u8| vec![b'k', b % 32];
    while let Some(op) = next() {
        match op % 8 {
            0..=2 => {
                let (Some(k), Some(len)) = (next(), next()) else { break };
                let v = vec![op; len as usize * 4];
                db.put(key(k), &v).expect("put");
                model.insert(key(k), v);
            }
            3 if op & 0x80 != 0 => {
                let (Some(a), Some(b)) = (next(), next()) else { break };
                let (start, end) = (key(a).min(key(b)), key(a).max(key(b)));
                match db.delete_range(&start, &end) {
                    Ok(()) => model.retain(|k, _| *k < start || *k >= end),
                    Err(crate::Error::InvalidArgument(_)) => assert_eq!(start, end, "refused a valid range"),
                    Err(e) => panic!("delete_range: {e}"),
                }
            }
            3 => {
                let Some(k) = next() else { break };
                db.delete(key(k)).expect("delete");
                model.remove(&key(k));
            }
            4 if op & 0x80 != 0 => {
                // A transaction: read one key, write another; with bit 6 a plain write
                // to the read key comes first, and only then must the commit fail.
                let (Some(a), Some(b)) = (next(), next()) else { break };
                let mut txn = db.transaction();
                let seen = txn.get(key(a)).expect("transaction get").map(|v| v.to_vec());
                assert_eq!(seen, model.get(&key(a)).cloned(), "transaction get {:?}", key(a));
                txn.put(key(b), [op; 3]);
                let interfere = op & 0x40 != 0;
                if interfere {
                    db.put(key(a), [b; 2]).expect("put");
                    model.insert(key(a), vec![b; 2]);
                }
                match txn.commit() {
                    Ok(()) if !interfere => {
                        model.insert(key(b), vec![op; 3]);
                    }
                    Err(crate::Error::Conflict) if interfere => {}
                    other => panic!("transaction commit (interfered: {interfere}): {other:?}"),
                }
            }
            4 => {
                let Some(k) = next() else { break };
                let got = db.get(key(k)).expect("get").map(|v| v.to_vec());
                assert_eq!(got, model.get(&key(k)).cloned(), "get {:?}", key(k));
            }
            5 => {
                let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(everything(&db), want, "scan");
                let back = db.range::<&[u8], _>(..).rev().count();
                assert_eq!(back, want.len(), "reverse scan");
            }
            6 => match op >> 6 {
                0 => db.flush().expect("flush"),
                1 => db.compact().expect("compact"),
                2 => {
                    let (Some(a), Some(b)) = (next(), next()) else { break };
                    db.compact_range(key(a.min(b))..key(a.max(b))).expect("compact_range");
                }
                _ => {
                    // A read-only view beside the live database sees exactly the model.
                    let view = Db::open_read_only(dir, options(strategy)).expect("read-only open");
                    let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    assert_eq!(everything(&view), want, "read-only view");
                }
            },
            7 if op & 0x80 != 0 => {
                // A second keyspace with its own strategy: created and dropped, written
                // alone and in batches with the default one, checked whole.
                let Some(sub) = next() else { break };
                match (sub % 4, &side) {
                    (0, Some(_)) => {
                        db.drop_keyspace("side").expect("drop_keyspace");
                        side = None;
                        side_model.clear();
                    }
                    (0, None) => side = Some(db.keyspace_with("side", side_options()).expect("keyspace")),
                    (1, Some(ks)) => {
                        let Some(k) = next() else { break };
                        ks.put(key(k), [sub; 5]).expect("keyspace put");
                        side_model.insert(key(k), vec![sub; 5]);
                    }
                    (2, Some(ks)) => {
                        let (Some(a), Some(b)) = (next(), next()) else { break };
                        let mut batch = crate::WriteBatch::new();
                        batch.put_in(ks, key(a), [a; 2]);
                        batch.delete(key(b));
                        batch.delete_in(ks, key(b));
                        db.write(batch).expect("batch across keyspaces");
                        side_model.insert(key(a), vec![a; 2]);
                        side_model.remove(&key(b));
                        model.remove(&key(b));
                    }
                    (_, Some(ks)) => {
                        let got: Vec<(Vec<u8>, Vec<u8>)> = ks
                            .range::<&[u8], _>(..)
                            .map(|r| r.expect("keyspace scan"))
                            .map(|(k, v)| (k.to_vec(), v.to_vec()))
                            .collect();
                        let want: Vec<(Vec<u8>, Vec<u8>)> =
                            side_model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                        assert_eq!(got, want, "keyspace scan");
                    }
                    (_, None) => {}
                }
            }
            _ => {
                let had_side = side.take().is_some();
                db.close().expect("close");
                strategy = (strategy + (op >> 5)) % 5;
                db = Db::open(dir, options(strategy)).expect("reopen");
                if had_side {
                    side = Some(db.keyspace("side").expect("keyspace after reopen"));
                }
            }
        }
    }
    let got = db.range::<&[u8], _>(..).count();
    assert_eq!(got, model.len(), "final scan");
    if let Some(ks) = side {
        assert_eq!(ks.range::<&[u8], _>(..).count(), side_model.len(), "final keyspace scan");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn entry_points_accept_garbage() {
        let mut rng = crate::util::rng::Rng::new(7);
        for len in [0usize, 1, 7, 8, 64, 65, 300, 5000] {
            let data = rng.bytes(len);
            super::block(&data);
            super::table(&data);
            super::wal(&data);
            super::manifest(&data);
            super::ops(&data);
        }
    }
}
