//! The pickers on hand-made versions, and the job runner's dropping rule.

use std::sync::Arc;

use super::*;
use crate::key::make_internal_key;
use crate::options::{FifoOptions, FluidOptions, LeveledOptions, TieredOptions};
use crate::sstable::format::TableSummary;
use crate::version::{TableContext, Version};

fn ctx() -> Arc<TableContext> {
    TableContext::on_os(&std::env::temp_dir())
}

/// A table description on `level` covering user keys `lo..=hi` with seqnos `seqs`.
fn file(number: u64, level: u32, lo: &str, hi: &str, size: u64, seqs: (u64, u64)) -> NewFile {
    NewFile {
        level,
        number,
        size,
        summary: TableSummary {
            smallest: make_internal_key(lo.as_bytes(), seqs.1, ValueKind::Put),
            largest: make_internal_key(hi.as_bytes(), seqs.0, ValueKind::Put),
            min_seq: seqs.0,
            max_seq: seqs.1,
            num_entries: 1,
            num_deletions: 0,
            num_range_deletions: 0,
        },
        written_at: 0,
    }
}

fn version(files: Vec<NewFile>, levels: usize) -> Version {
    Version::new(levels).apply(&VersionEdit { new_files: files, ..VersionEdit::default() }, &ctx())
}

fn numbers(job: &CompactionJob) -> Vec<u64> {
    let mut n: Vec<u64> = job.inputs.iter().map(|f| f.number()).collect();
    n.sort();
    n
}

const MB: u64 = 1 << 20;

#[test]
fn leveled_waits_for_the_l0_trigger_then_takes_all_of_l0_and_overlapping_l1() {
    let mut p = LeveledPicker::new(LeveledOptions::default(), MB);
    let l1 =
        vec![file(10, 1, "a", "c", MB, (1, 1)), file(11, 1, "d", "f", MB, (2, 2)), file(12, 1, "x", "z", MB, (3, 3))];
    let mut files = l1.clone();
    for n in 0..3 {
        files.push(file(20 + n, 0, "b", "e", MB, (10 + n, 10 + n)));
    }
    assert!(p.pick(&version(files.clone(), 7)).is_none(), "3 L0 files are under the trigger of 4");
    files.push(file(23, 0, "b", "e", MB, (13, 13)));
    let job = p.pick(&version(files, 7)).unwrap();
    assert_eq!(numbers(&job), vec![10, 11, 20, 21, 22, 23]);
    assert_eq!(job.output_level, 1);
    assert!(job.bottommost, "nothing below L1");
    assert!(!job.trivial_move);
}

#[test]
fn leveled_scores_levels_by_size_and_round_robins_by_key() {
    let mut p = LeveledPicker::new(LeveledOptions::default(), MB);
    // L1 target is 4 MiB: five 1 MiB files overflow it.
    let files: Vec<_> = ["a", "c", "e", "g", "i"]
        .iter()
        .enumerate()
        .map(|(i, k)| file(i as u64 + 1, 1, k, &format!("{k}z"), MB, (i as u64 + 1, i as u64 + 1)))
        .collect();
    let mut with_l2 = files.clone();
    with_l2.push(file(50, 2, "c", "dz", MB, (0, 0)));
    let v = version(with_l2, 7);
    let first = p.pick(&v).unwrap();
    assert_eq!(numbers(&first), vec![1], "no overlap in L2 for the first file");
    assert!(first.trivial_move, "a file with nothing below it moves without a rewrite");
    let second = p.pick(&v).unwrap();
    assert_eq!(numbers(&second), vec![2, 50], "round robin continues after key 'az'");
    assert!(!second.trivial_move);
    assert_eq!(second.output_level, 2);
}

#[test]
fn leveled_stalls_grow_with_l0() {
    let p = LeveledPicker::new(LeveledOptions::default(), MB);
    let l0 = |n: u64| version((0..n).map(|i| file(i + 1, 0, "a", "b", MB, (i + 1, i + 1))).collect(), 7);
    assert_eq!(p.stall(&l0(4)), Stall::None);
    assert_eq!(p.stall(&l0(8)), Stall::Slowdown);
    assert_eq!(p.stall(&l0(12)), Stall::Stop);
}

fn l0_runs(sizes: &[u64]) -> Version {
    // Newest first: the first size gets the highest seqnos.
    let n = sizes.len() as u64;
    version(
        sizes
            .iter()
            .enumerate()
            .map(|(i, &s)| file(i as u64 + 1, 0, "a", "z", s, ((n - i as u64) * 10, (n - i as u64) * 10 + 5)))
            .collect(),
        1,
    )
}

#[test]
fn tiered_merges_the_newest_window_of_similar_runs() {
    let mut p = TieredPicker::new(TieredOptions::default(), MB);
    // A big oldest run keeps space amplification under 200%.
    assert!(p.pick(&l0_runs(&[MB, MB, MB, 100 * MB])).is_none(), "three similar runs are under min_threshold");
    let job = p.pick(&l0_runs(&[MB, MB, MB, MB, 4 * MB, 100 * MB])).unwrap();
    assert_eq!(numbers(&job), vec![1, 2, 3, 4]);
    assert_eq!(job.output_level, 0);
    assert_eq!(job.target_file_size, u64::MAX, "an L0 run is one table");
    assert!(!job.bottommost, "older runs remain");
    assert_eq!(job.reason, "similar run sizes");
    let job = p.pick(&l0_runs(&[MB, 4 * MB, 4 * MB, 4 * MB, 5 * MB, 100 * MB])).unwrap();
    assert_eq!(numbers(&job), vec![2, 3, 4, 5], "the window skips the smaller newest run");
}

#[test]
fn tiered_space_amplification_merges_everything() {
    let mut p = TieredPicker::new(TieredOptions::default(), MB);
    let job = p.pick(&l0_runs(&[MB, 2 * MB, 10 * MB, 6 * MB])).unwrap();
    assert_eq!(job.reason, "space amplification");
    assert_eq!(numbers(&job), vec![1, 2, 3, 4]);
    assert!(job.bottommost);
}

#[test]
fn tiered_merges_newest_runs_when_too_many_and_dissimilar() {
    let mut p = TieredPicker::new(TieredOptions::default(), MB);
    // Sizes double each step, so no window is similar; twenty runs pass the slowdown.
    let sizes: Vec<u64> = (0..20).map(|i| 1u64 << i).collect();
    let v = l0_runs(&sizes);
    assert_eq!(p.stall(&v), Stall::Slowdown);
    let job = p.pick(&v).unwrap();
    assert_eq!(job.reason, "run count");
    assert_eq!(numbers(&job), vec![1, 2, 3, 4]);
}

#[test]
fn tiered_check_catches_runs_out_of_age_order() {
    let p = TieredPicker::new(TieredOptions::default(), MB);
    p.check(&l0_runs(&[MB, MB, MB])).unwrap();
    // Two L0 runs whose seqno ranges interleave.
    let bad = version(vec![file(1, 0, "a", "z", MB, (5, 20)), file(2, 0, "a", "z", MB, (10, 15))], 1);
    assert!(p.check(&bad).is_err());
}

#[test]
fn leveled_check_catches_overlap() {
    let p = LeveledPicker::new(LeveledOptions::default(), MB);
    let bad = version(vec![file(1, 1, "a", "m", MB, (1, 1)), file(2, 1, "k", "z", MB, (2, 2))], 7);
    assert!(p.check(&bad).is_err());
}

fn table_options() -> TableOptions {
    TableOptions { block_size: 4096, bloom_bits_per_key: 10, compression: crate::compression::Compression::Lz4 }
}

/// A table on `level` holding `entries` (user key, seqno, kind), in internal-key order.
fn table_of(ctx: &Arc<TableContext>, number: u64, level: u32, entries: &[(&str, u64, ValueKind)]) -> Arc<FileMeta> {
    let path = filename::path(&ctx.dir, &filename::table_name(number));
    let mut b = TableBuilder::new(ctx.fs.create(&path).unwrap(), table_options());
    for &(k, seq, kind) in entries {
        b.add(&make_internal_key(k.as_bytes(), seq, kind), k.as_bytes()).unwrap();
    }
    let (size, props) = b.finish().unwrap();
    FileMeta::new(NewFile::from_properties(level, number, size, props), ctx.clone())
}

/// Every entry (internal key, value) of `files`, read back in order.
pub(super) fn contents(ctx: &Arc<TableContext>, files: &[NewFile]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for f in files {
        let mut it = FileMeta::new(f.clone(), ctx.clone()).table().unwrap().iter();
        it.seek_to_first();
        while it.valid() {
            out.push((it.key().to_vec(), it.value().to_vec()));
            it.next();
        }
        it.status().unwrap();
    }
    out
}

/// Every (user key, seqno, kind) the tables of `out` hold, in order.
fn entries_of(ctx: &Arc<TableContext>, out: &CompactionOutput) -> Vec<(String, u64, ValueKind)> {
    let parse = |key: &[u8]| {
        let p = ParsedKey::parse(key).unwrap();
        (String::from_utf8(p.user_key.to_vec()).unwrap(), p.seq, p.kind)
    };
    contents(ctx, &out.files).iter().map(|(key, _)| parse(key)).collect()
}

#[test]
fn the_job_runner_drops_what_no_reader_sees_and_zeroes_seqnos_at_the_bottom() {
    use std::sync::atomic::AtomicU64;
    use ValueKind::{Delete, Put};

    let dir = tempfile::tempdir().unwrap();
    let ctx = TableContext::on_os(dir.path());
    let older = table_of(&ctx, 1, 1, &[("a", 5, Put), ("b", 3, Put), ("c", 8, Put)]);
    let newer = table_of(&ctx, 2, 0, &[("a", 20, Put), ("b", 12, Delete), ("d", 15, Put)]);
    let cancel = AtomicBool::new(false);
    let opts = table_options();
    let next = AtomicU64::new(10);
    let run = |bottommost: bool| {
        let job = CompactionJob::merge(vec![older.clone(), newer.clone()], 1, bottommost, MB, "test");
        // A snapshot at 12: it must still read a@5 (a@20 is too new for it).
        let env =
            JobEnv { ctx: &ctx, table_options: &opts, oldest_snapshot: 12, cancel: &cancel, max_subcompactions: 1 };
        let out = run_job(&env, &job, &|| next.fetch_add(1, Ordering::SeqCst)).unwrap();
        (entries_of(&ctx, &out), out.files)
    };
    let e = |k: &str, seq, kind| (k.to_string(), seq, kind);

    let (entries, _) = run(false);
    assert_eq!(
        entries,
        vec![e("a", 20, Put), e("a", 5, Put), e("b", 12, Delete), e("c", 8, Put), e("d", 15, Put)],
        "not bottommost: b@3 is shadowed for every reader, the rest keep their seqnos"
    );
    let (entries, files) = run(true);
    assert_eq!(
        entries,
        vec![e("a", 20, Put), e("a", 0, Put), e("c", 0, Put), e("d", 15, Put)],
        "bottommost: the tombstone goes, versions every reader sees take seqno 0, newer ones keep theirs"
    );
    assert_eq!((files[0].summary.min_seq, files[0].summary.max_seq), (0, 20));
}

#[test]
fn range_tombstones_are_cut_to_each_output_and_go_at_the_bottom() {
    use crate::range_del::{FragmentedTombstones, RangeTombstone};
    use std::sync::atomic::AtomicU64;
    let dir = tempfile::tempdir().unwrap();
    let ctx = TableContext::on_os(dir.path());
    let keys: Vec<String> = (0..400).map(|i| format!("k{i:04}")).collect();
    let points = table_of(&ctx, 1, 1, &keys.iter().map(|k| (k.as_str(), 1, ValueKind::Put)).collect::<Vec<_>>());
    // Tombstones only, reaching past the last point key ("k0500" > "k0399").
    let path = filename::path(&ctx.dir, &filename::table_name(2));
    let mut b = TableBuilder::new(ctx.fs.create(&path).unwrap(), table_options());
    let written = [("k0100", "k0300", 1000), ("k0250", "k0320", 1001), ("k0350", "k0500", 1002)];
    for (start, end, seq) in written {
        b.add_range_tombstones([RangeTombstone { start: start.into(), end: end.into(), seq }]);
    }
    let (size, props) = b.finish().unwrap();
    let tombstones = FileMeta::new(NewFile::from_properties(0, 2, size, props), ctx.clone());
    let job = CompactionJob::merge(vec![points, tombstones], 1, true, 1024, "test");
    let next = AtomicU64::new(100);
    let cancel = AtomicBool::new(false);
    let run = |oldest_snapshot: u64, parts: usize| {
        let opts = TableOptions { block_size: 256, ..table_options() };
        let env =
            JobEnv { ctx: &ctx, table_options: &opts, oldest_snapshot, cancel: &cancel, max_subcompactions: parts };
        run_job(&env, &job, &|| next.fetch_add(1, Ordering::SeqCst)).unwrap()
    };

    // A snapshot older than the tombstones: every key stays, and so do the tombstones,
    // cut at the outputs' boundaries, which still do not overlap.
    for parts in [1, 4] {
        let out = run(10, parts);
        assert!(out.files.len() > 3, "{parts} parts: small outputs");
        assert_eq!(entries_of(&ctx, &out).len(), 400);
        let level =
            Version::new(2).apply(&VersionEdit { new_files: out.files.clone(), ..VersionEdit::default() }, &ctx);
        level.check_levels().unwrap();
        let last = out.files.last().unwrap();
        assert_eq!(last.summary.largest, crate::key::range_bound_key(b"k0500"), "the last output ends before k0500");
        let lists: Vec<_> = out
            .files
            .iter()
            .filter_map(|f| FileMeta::new(f.clone(), ctx.clone()).table().unwrap().range_tombstones().cloned())
            .collect();
        let rejoined: Vec<_> = FragmentedTombstones::merge(lists.iter().map(|l| &**l)).newest().collect();
        let want: Vec<_> = FragmentedTombstones::new(
            written.iter().map(|&(s, e, seq)| RangeTombstone { start: s.into(), end: e.into(), seq }).collect(),
        )
        .newest()
        .collect();
        assert_eq!(rejoined, want, "{parts} parts: the outputs hold the tombstones, cut but whole");
    }

    // Every reader sees the tombstones and the job is bottommost: the keys they cover
    // and the tombstones themselves are gone.
    let out = run(5000, 4);
    let left: Vec<String> = entries_of(&ctx, &out).into_iter().map(|(k, _, _)| k).collect();
    let want: Vec<String> = (0..100).chain(320..350).map(|i| format!("k{i:04}")).collect();
    assert_eq!(left, want);
    assert!(out.files.iter().all(|f| f.summary.num_range_deletions == 0));
}

fn fluid(t: u64, k: usize, z: usize) -> FluidPicker {
    FluidPicker::new(FluidOptions { size_ratio: t, runs_per_level: k, last_level_runs: z }, MB)
}

/// An L0 run of `size` bytes with seqnos around `seq` (higher is newer).
fn run(number: u64, seq: u64, size: u64) -> NewFile {
    file(number, 0, "a", "z", size, (seq, seq))
}

#[test]
fn fluid_levels_grow_by_the_size_ratio() {
    let p = fluid(4, 3, 1);
    assert_eq!(p.level_of(MB), 1);
    assert_eq!(p.level_of(3 * MB), 2);
    assert_eq!(p.level_of(6 * MB), 2);
    assert_eq!(p.level_of(7 * MB), 3);
    assert_eq!(p.level_of(24 * MB), 3);
    assert!(p.level_of(u64::MAX) < 40, "saturates instead of overflowing");
}

#[test]
fn lazy_leveling_tiers_above_and_levels_the_last_level() {
    let mut p = fluid(4, 3, 1);
    // Three flushes over a large last-level run: level 1 holds K = 3, in shape.
    let mut files = vec![run(1, 100, MB), run(2, 90, MB), run(3, 80, MB), run(4, 50, 64 * MB)];
    assert!(p.pick(&version(files.clone(), 1)).is_none());
    // A fourth flush: the four level-1 runs merge, not with the last level.
    files.push(run(5, 110, MB));
    let job = p.pick(&version(files, 1)).unwrap();
    assert_eq!(numbers(&job), vec![1, 2, 3, 5]);
    assert!(!job.bottommost);
    // Two runs on the last level: over Z = 1, so they merge, bottommost.
    let two_last = vec![run(6, 120, 40 * MB), run(4, 50, 64 * MB)];
    let job = p.pick(&version(two_last.clone(), 1)).unwrap();
    assert_eq!(numbers(&job), vec![4, 6]);
    assert!(job.bottommost);
    // Tiering (Z = K) lets them be; leveling (K = Z = 1) merges two flushes at once.
    assert!(fluid(4, 3, 3).pick(&version(two_last, 1)).is_none());
    let two_flushes = vec![run(7, 10, MB), run(8, 11, MB), run(4, 5, 64 * MB)];
    assert_eq!(numbers(&fluid(4, 1, 1).pick(&version(two_flushes, 1)).unwrap()), vec![7, 8]);
}

#[test]
fn an_old_run_smaller_than_a_newer_one_still_merges_into_the_last_level() {
    // The oldest run shrank below a newer one: it shares the newer one's level (the
    // last), and with Z = 1 they merge, bottommost, instead of the small run staying.
    let mut p = fluid(4, 3, 1);
    let job = p.pick(&version(vec![run(1, 100, 40 * MB), run(2, 10, MB)], 1)).unwrap();
    assert_eq!(numbers(&job), vec![1, 2]);
    assert!(job.bottommost);
}

#[test]
fn fluid_stalls_only_past_the_shape_it_allows() {
    let p = fluid(10, 9, 1);
    let flushes = |n: u64| (0..n).map(|i| run(i + 1, 100 + i, MB)).chain([run(99, 1, 500 * MB)]).collect();
    // The shape allows 9 runs on each of levels 1-3 and one on level 4 (500 MiB).
    assert_eq!(p.stall(&version(flushes(20), 1)), Stall::None);
    assert_eq!(p.stall(&version(flushes(27 + 40), 1)), Stall::Slowdown);
    assert_eq!(p.stall(&version(flushes(27 + 80), 1)), Stall::Stop);
}

#[test]
fn fifo_drops_the_oldest_tables_past_its_limit_and_nothing_else() {
    let mut p = FifoPicker::new(FifoOptions { max_table_bytes: 3 * MB, max_age: None });
    let files = vec![run(1, 10, MB), run(2, 20, MB), run(3, 30, MB)];
    assert!(p.pick(&version(files.clone(), 1)).is_none(), "at the limit");
    let mut over = files;
    over.push(run(4, 40, MB));
    over.push(run(5, 50, MB));
    let job = p.pick(&version(over, 1)).unwrap();
    assert_eq!(numbers(&job), vec![1, 2], "the two oldest go");
    assert!(job.drop_inputs);
    // Tables another strategy left on deeper levels are older than every L0 table: they
    // go first (a table of the oldest run shadows nothing).
    let mixed = vec![run(6, 90, MB), file(7, 2, "a", "m", 2 * MB, (1, 45)), file(8, 1, "a", "z", MB, (50, 60))];
    let job = p.pick(&version(mixed, 3)).unwrap();
    assert_eq!(numbers(&job), vec![7]);
    assert_eq!(job.edit(Vec::new()).new_files, vec![]);
    assert_eq!(p.stall(&version(vec![run(1, 1, 100 * MB)], 1)), Stall::None, "FIFO never stalls writers");
}

#[test]
fn fifo_with_a_maximum_age_drops_expired_tables_oldest_first() {
    let opts = FifoOptions { max_table_bytes: 100 * MB, max_age: Some(std::time::Duration::from_secs(60)) };
    let p = FifoPicker::new(opts.clone());
    let at = |number: u64, seq: u64, written_at: u64| NewFile { written_at, ..run(number, seq, MB) };
    // Newest first in L0: written at 1,000, 1,030 and 1,050.
    let files = vec![at(3, 30, 1_050), at(2, 20, 1_030), at(1, 10, 1_000)];
    assert!(p.drop_oldest_at(&version(files.clone(), 1), 1_060).is_none(), "none older than a minute");
    let job = p.drop_oldest_at(&version(files.clone(), 1), 1_095).unwrap();
    assert_eq!(numbers(&job), vec![1, 2], "tables 1 and 2 are 95 and 65 seconds old");
    assert_eq!(job.reason, "past the FIFO maximum age");
    // A younger table under an older one waits for it: drops go oldest first.
    let odd = vec![at(2, 20, 1_000), at(1, 10, 1_080)];
    assert!(p.drop_oldest_at(&version(odd, 1), 1_100).is_none());
    // Without a recorded time a table counts as written when the picker was made.
    let unknown = vec![at(2, 20, 0)];
    assert!(p.drop_oldest_at(&version(unknown.clone(), 1), fifo::unix_now()).is_none());
    assert!(p.drop_oldest_at(&version(unknown, 1), fifo::unix_now() + 61).is_some());
    assert_eq!(FifoPicker::recheck_period(&opts), Some(std::time::Duration::from_secs(6)));
    assert_eq!(FifoPicker::recheck_period(&FifoOptions { max_age: None, ..opts }), None);
}

#[test]
fn dynamic_level_sizing_derives_the_targets_from_the_last_level() {
    let opts = LeveledOptions { dynamic_level_bytes: true, ..LeveledOptions::default() };
    let mut p = LeveledPicker::new(opts, MB); // L0 triggers at 4 MiB
                                              // 1000 MiB on L6: L5 aims at 100, L4 at 10; L3 would aim at 1 < 4: L4 is the base.
    let mut files = vec![file(1, 6, "a", "z", 1000 * MB, (1, 1))];
    let (targets, base) = p.targets(&version(files.clone(), 7));
    assert_eq!(base, 4);
    assert_eq!(&targets[1..], &[0, 0, 0, 10 * MB, 100 * MB, 1000 * MB]);
    // L0 flushes go straight to the base level.
    for n in 0..4 {
        files.push(file(10 + n, 0, "b", "c", MB, (10 + n, 10 + n)));
    }
    let job = p.pick(&version(files.clone(), 7)).unwrap();
    assert_eq!(job.output_level, 4);
    // A level above the base that holds data (left by a static configuration) goes
    // down first, whatever its size.
    files.push(file(20, 2, "x", "y", 1024, (2, 2)));
    let job = p.pick(&version(files, 7)).unwrap();
    assert_eq!((numbers(&job), job.output_level), (vec![20], 3));
    // A small database: everything below L0 lives on the last level.
    let (_, base) = p.targets(&version(vec![file(1, 6, "a", "z", 8 * MB, (1, 1))], 7));
    assert_eq!(base, 6);
}

/// A table on `level` holding (user key, seqno, kind, value length) entries, each value
/// made of its key and seqno repeated (compressible, and different per version).
fn table_with_values(
    ctx: &Arc<TableContext>,
    number: u64,
    level: u32,
    entries: &[(&str, u64, usize)],
) -> Arc<FileMeta> {
    let path = filename::path(&ctx.dir, &filename::table_name(number));
    let mut b = TableBuilder::new(ctx.fs.create(&path).unwrap(), table_options());
    for &(k, seq, len) in entries {
        b.add(&make_internal_key(k.as_bytes(), seq, ValueKind::Put), &value_of(k, seq, len)).unwrap();
    }
    let (size, props) = b.finish().unwrap();
    FileMeta::new(NewFile::from_properties(level, number, size, props), ctx.clone())
}

fn value_of(key: &str, seq: u64, len: usize) -> Vec<u8> {
    format!("{key}@{seq};").bytes().cycle().take(len).collect()
}

/// The stored bytes (contents and trailer) of every data block of table `number`.
fn stored_blocks(ctx: &Arc<TableContext>, number: u64, level: u32) -> Vec<Vec<u8>> {
    let path = filename::path(&ctx.dir, &filename::table_name(number));
    let bytes = std::fs::read(&path).unwrap();
    let meta =
        FileMeta::new(NewFile::from_properties(level, number, bytes.len() as u64, Default::default()), ctx.clone());
    crate::sstable::tests::stored_data_blocks(&bytes, meta.table().unwrap())
}

#[test]
fn blocks_of_one_kept_entry_are_copied_as_stored_and_the_rest_rebuilt() {
    use std::sync::atomic::AtomicU64;
    let dir = tempfile::tempdir().unwrap();
    let ctx = TableContext::on_os(dir.path());
    // Values of 6000 bytes have a 4 KiB block each; 100-byte ones share blocks.
    let big = 6000;
    let older: Vec<(String, u64, usize)> = (0..40).map(|i| (format!("k{i:03}"), 10 + i, big)).collect();
    // The newer table overwrites every fifth key, adds big entries between the last
    // twenty and small ones after them all (a big value after small ones would share
    // their block).
    let mut newer: Vec<(String, u64, usize)> = Vec::new();
    for i in 0..40u64 {
        if i % 5 == 0 {
            newer.push((format!("k{i:03}"), 100 + i, big));
        }
        if i >= 20 {
            newer.push((format!("k{i:03}x"), 200 + i, big));
        }
    }
    newer.extend((0..30u64).map(|i| (format!("z{i:03}"), 300 + i, 100)));
    fn as_refs(v: &[(String, u64, usize)]) -> Vec<(&str, u64, usize)> {
        v.iter().map(|(k, s, l)| (k.as_str(), *s, *l)).collect()
    }
    let older_t = table_with_values(&ctx, 1, 1, &as_refs(&older));
    let newer_t = table_with_values(&ctx, 2, 0, &as_refs(&newer));
    let mut inputs_stored = stored_blocks(&ctx, 1, 1);
    inputs_stored.extend(stored_blocks(&ctx, 2, 0));
    let opts = table_options();
    let cancel = AtomicBool::new(false);
    let next = AtomicU64::new(10);
    for bottommost in [false, true] {
        // Snapshot 1000: every older version is shadowed for every reader.
        let job = CompactionJob::merge(vec![older_t.clone(), newer_t.clone()], 1, bottommost, 64 * MB, "test");
        let env =
            JobEnv { ctx: &ctx, table_options: &opts, oldest_snapshot: 1000, cancel: &cancel, max_subcompactions: 1 };
        let out = run_job(&env, &job, &|| next.fetch_add(1, Ordering::SeqCst)).unwrap();
        // The newest version of each key, in order: what the output must hold.
        let mut model = std::collections::BTreeMap::new();
        for (k, seq, len) in older.iter().chain(&newer) {
            let e = model.entry(k.clone()).or_insert((*seq, *len));
            if *seq > e.0 {
                *e = (*seq, *len);
            }
        }
        let got = contents(&ctx, &out.files);
        assert_eq!(got.len(), model.len());
        let (mut big_blocks, mut rebuilt_at_bottom) = (0, 0);
        for ((ikey, value), (k, &(seq, len))) in got.iter().zip(&model) {
            let p = ParsedKey::parse(ikey).unwrap();
            assert_eq!(p.user_key, k.as_bytes());
            assert_eq!(value, &value_of(k, seq, len), "{k}");
            if len == big {
                big_blocks += 1;
                if bottommost && p.seq == 0 {
                    rebuilt_at_bottom += 1;
                } else {
                    // Copied whole: the seqno as stored, even at the bottom.
                    assert_eq!(p.seq, seq, "{k}");
                }
            } else {
                assert_eq!(p.seq, if bottommost { 0 } else { seq }, "{k}");
            }
        }
        // All but the newer table's first block (k000), which the merge's first seek
        // read outside the read-ahead window.
        assert_eq!(out.blocks_copied, big_blocks - 1, "bottommost {bottommost}");
        if bottommost {
            assert_eq!(rebuilt_at_bottom, 1, "k000 was rebuilt, with seqno 0");
        }
        // (Rebuilding an unchanged block may give the same bytes too.)
        let written: Vec<Vec<u8>> = out.files.iter().flat_map(|f| stored_blocks(&ctx, f.number, 1)).collect();
        let same = written.iter().filter(|b| inputs_stored.contains(b)).count() as u64;
        assert!(same >= out.blocks_copied, "a copied block is byte for byte an input's");
        // Lookups go through the index separators and the filter of the mixed table.
        for f in &out.files {
            let meta = FileMeta::new(f.clone(), ctx.clone());
            let table = meta.table().unwrap();
            for (k, &(seq, len)) in &model {
                let mut it = table.iter();
                it.seek(&make_internal_key(k.as_bytes(), u64::MAX >> 8, ValueKind::Put));
                assert!(it.valid() && ParsedKey::parse(it.key()).unwrap().user_key == k.as_bytes(), "{k}");
                assert_eq!(it.value(), value_of(k, seq, len));
                assert!(table.may_contain(k.as_bytes()));
            }
        }
    }
}
