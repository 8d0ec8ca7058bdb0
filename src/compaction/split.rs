//! Splitting one compaction job into key ranges that run in parallel (RocksDB's
//! *subcompactions*).
//!
//! A job's merge is one sequential pass, so a big job (an L0→L1 merge, a full
//! compaction) would keep one core busy while the others idle and writers wait on it.
//! Cut at user keys, the job's key space falls into ranges that merge independently:
//! every version of a user key lands in the same range, so the dropping rule and the
//! "a user key never spans two outputs" rule hold per range exactly as for the whole.
//!
//! Cut points come from the inputs' block indexes, weighted by block size, so that the
//! ranges carry about equal bytes however the data is spread over the inputs.

use std::sync::Arc;

use crate::error::Result;
use crate::key::user_key;
use crate::version::FileMeta;

/// Fewest data blocks worth a range of their own: below this a thread costs more
/// than it saves.
pub(crate) const MIN_BLOCKS_PER_RANGE: usize = 8;

/// Most (key, bytes) samples taken from the inputs' indexes (one more per table, for
/// its tail). A big L0→L1 job has hundreds of thousands of blocks; listing each (it was
/// 8 MB of keys and sizes, freed at once, which on glibc leaves the heap holding that
/// much for good, see [`crate::util::large_vec`]) places a cut no better than a sample per
/// few hundred blocks does, within a tenth of a percent of its share.
const MAX_SAMPLES: usize = 1024;

/// Up to `parts - 1` increasing user keys that cut the inputs into ranges of about
/// equal bytes; empty when the job is too small to split.
pub(crate) fn split_points(inputs: &[Arc<FileMeta>], parts: usize) -> Result<Vec<Vec<u8>>> {
    sampled_split_points(inputs, parts, MAX_SAMPLES)
}

fn sampled_split_points(inputs: &[Arc<FileMeta>], parts: usize, max_samples: usize) -> Result<Vec<Vec<u8>>> {
    if parts < 2 {
        return Ok(Vec::new());
    }
    let tables = inputs.iter().map(|f| f.table()).collect::<Result<Vec<_>>>()?;
    // Counts and sizes come from the files: summed saturating, so that a damaged one
    // skews the cuts at worst, never overflows.
    let blocks = tables.iter().fold(0u64, |n, t| n.saturating_add(t.properties().num_data_blocks));
    let parts = parts.min(usize::try_from(blocks).unwrap_or(usize::MAX) / MIN_BLOCKS_PER_RANGE);
    if parts < 2 {
        return Ok(Vec::new());
    }
    // Each sample is a run of `stride` consecutive blocks of one table: (the user key
    // of its last index entry, its bytes). The run holds keys up to about that key.
    let stride = blocks.div_ceil(max_samples.max(1) as u64).max(1);
    let mut samples: Vec<(Vec<u8>, u64)> = Vec::with_capacity(max_samples + tables.len());
    for t in &tables {
        let (mut run, mut bytes, mut last) = (0, 0, Vec::new());
        t.for_each_index_entry(|separator, handle| {
            run += 1;
            bytes = handle.size.saturating_add(bytes);
            last.clear();
            last.extend_from_slice(user_key(separator));
            if run == stride {
                samples.push((last.clone(), bytes));
                (run, bytes) = (0, 0);
            }
        })?;
        if run > 0 {
            samples.push((last, bytes));
        }
    }
    samples.sort_unstable();
    let total = samples.iter().fold(0u64, |n, (_, size)| n.saturating_add(*size));
    let mut cuts: Vec<Vec<u8>> = Vec::with_capacity(parts - 1);
    let mut seen = 0u64;
    for (key, size) in samples {
        seen = seen.saturating_add(size);
        // The next cut falls after this run once the bytes so far pass its share.
        let next_share = total / parts as u64 * (cuts.len() as u64 + 1);
        if cuts.len() + 1 < parts && seen >= next_share && cuts.last().is_none_or(|last| key > *last) {
            cuts.push(key);
        }
    }
    Ok(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compaction::tests::contents;
    use crate::compression::Compression;
    use crate::filename;
    use crate::key::{make_internal_key, ValueKind};
    use crate::sstable::{TableBuilder, TableOptions};
    use crate::version::{NewFile, TableContext};

    /// A table on L0 of `keys`, with 64-byte blocks so that it has many.
    fn table(ctx: &Arc<TableContext>, number: u64, keys: &[String]) -> Arc<FileMeta> {
        let path = filename::path(&ctx.dir, &filename::table_name(number));
        let opts = TableOptions { block_size: 64, bloom_bits_per_key: 0, compression: Compression::None };
        let mut b = TableBuilder::new(ctx.fs.create(&path).unwrap(), opts);
        for k in keys {
            b.add(&make_internal_key(k.as_bytes(), number, ValueKind::Put), b"value").unwrap();
        }
        let (size, props) = b.finish().unwrap();
        FileMeta::new(NewFile::from_properties(0, number, size, props), ctx.clone())
    }

    #[test]
    fn cuts_are_increasing_and_balance_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = TableContext::on_os(dir.path());
        // Two overlapping tables and one holding only high keys.
        let evens: Vec<String> = (0..400).step_by(2).map(|i| format!("k{i:04}")).collect();
        let odds: Vec<String> = (1..400).step_by(2).map(|i| format!("k{i:04}")).collect();
        let high: Vec<String> = (400..600).map(|i| format!("k{i:04}")).collect();
        let inputs = vec![table(&ctx, 1, &evens), table(&ctx, 2, &odds), table(&ctx, 3, &high)];

        // Every block a sample, and runs of several blocks (~160 blocks in all).
        for max_samples in [MAX_SAMPLES, 40] {
            let cuts = sampled_split_points(&inputs, 4, max_samples).unwrap();
            assert_eq!(cuts.len(), 3);
            assert!(cuts.windows(2).all(|w| w[0] < w[1]), "cuts must increase: {cuts:?}");
            // 600 keys of equal size: each range should hold about 150 of them.
            let all: Vec<String> = (0..600).map(|i| format!("k{i:04}")).collect();
            let mut bounds = vec![String::new()];
            bounds.extend(cuts.iter().map(|c| String::from_utf8(c.clone()).unwrap()));
            bounds.push("z".into());
            for w in bounds.windows(2) {
                let n = all.iter().filter(|k| **k >= w[0] && **k < w[1]).count();
                assert!((110..=190).contains(&n), "{max_samples} samples: {n} keys in {w:?}");
            }
        }
    }

    #[test]
    fn a_split_job_writes_what_one_thread_writes() {
        use crate::compaction::{run_job, CompactionJob, JobEnv};
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

        let dir = tempfile::tempdir().unwrap();
        let ctx = TableContext::on_os(dir.path());
        // Overlapping inputs: table 2 rewrites every key of table 1, so the merge has
        // shadowed versions to drop in every range.
        let evens: Vec<String> = (0..400).step_by(2).map(|i| format!("k{i:04}")).collect();
        let all: Vec<String> = (0..400).map(|i| format!("k{i:04}")).collect();
        let high: Vec<String> = (400..700).map(|i| format!("k{i:04}")).collect();
        let inputs = vec![table(&ctx, 1, &evens), table(&ctx, 2, &all), table(&ctx, 3, &high)];
        let job = CompactionJob::merge(inputs, 1, true, 2048, "test");
        let opts = TableOptions { block_size: 256, bloom_bits_per_key: 10, compression: Compression::None };
        let cancel = AtomicBool::new(false);
        let run = |parts: usize, first_number: u64| {
            let env = JobEnv {
                ctx: &ctx,
                table_options: &opts,
                oldest_snapshot: 10,
                cancel: &cancel,
                max_subcompactions: parts,
            };
            let next = AtomicU64::new(first_number);
            run_job(&env, &job, &|| next.fetch_add(1, Ordering::SeqCst)).unwrap()
        };
        let alone = run(1, 100);
        let split = run(4, 200);
        let want = contents(&ctx, &alone.files);
        assert_eq!(want.len(), 700, "one version per user key survives");
        assert_eq!(contents(&ctx, &split.files), want);
        assert!(split.files.len() > alone.files.len(), "each range ends its own last table");
        assert!(
            split
                .files
                .windows(2)
                .all(|w| crate::key::user_key(&w[0].summary.largest) < crate::key::user_key(&w[1].summary.smallest)),
            "outputs come back in key order without overlap"
        );
        assert_eq!(split.bytes_read, alone.bytes_read);
    }

    #[test]
    fn small_jobs_and_one_part_are_not_split() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = TableContext::on_os(dir.path());
        let few: Vec<String> = (0..10).map(|i| format!("k{i:04}")).collect();
        let inputs = vec![table(&ctx, 1, &few)];
        assert!(split_points(&inputs, 4).unwrap().is_empty(), "a few blocks stay one range");
        let many: Vec<String> = (0..1000).map(|i| format!("k{i:04}")).collect();
        let inputs = vec![table(&ctx, 2, &many)];
        assert!(split_points(&inputs, 1).unwrap().is_empty());
        assert_eq!(split_points(&inputs, 2).unwrap().len(), 1);
    }
}
