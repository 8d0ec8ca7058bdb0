//! Helpers shared by the integration tests.
// Each test crate uses a different subset of these.
#![allow(dead_code)]

#[cfg(feature = "fault-injection")]
#[allow(unused_imports)]
pub use strata::testing::Rng;

/// Numbers below `n` from a xorshift64 generator seeded with `seed` (not 0), for tests
/// that run without the `fault-injection` feature and so without `Rng`.
pub fn below(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

/// Every file in `dir` with its bytes: two calls compare equal only if no byte or name
/// changed in between.
pub fn dir_contents(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// The compaction strategies that merge: leveled, tiered, lazy leveling and another
/// point of the Dostoevsky space.
pub fn merging_strategies() -> Vec<strata::Compaction> {
    use strata::Compaction;
    vec![Compaction::leveled(), Compaction::tiered(), Compaction::lazy_leveling(), Compaction::fluid(4, 2, 2)]
}

/// Every strategy (leveled also with dynamic level sizing), FIFO last with a limit no
/// test reaches (so that it keeps all data:
/// the suites check that the strategies, and switches between them, lose nothing).
pub fn all_strategies() -> Vec<strata::Compaction> {
    let mut all = merging_strategies();
    let mut dynamic = strata::LeveledOptions::default();
    dynamic.dynamic_level_bytes = true;
    all.push(strata::Compaction::Leveled(dynamic));
    all.push(strata::Compaction::fifo(1 << 40));
    all
}

/// Small memtables and blocks on `fs`, so that a short trial flushes and compacts.
#[cfg(feature = "fault-injection")]
pub fn faulty_options(fs: &std::sync::Arc<strata::testing::FaultyFs>, sync: bool, tiered: bool) -> strata::Options {
    let strategy = if tiered { strata::Compaction::tiered() } else { strata::Compaction::leveled() };
    strata::Options::default()
        .memtable_size(4096)
        .block_size(512)
        .sync_writes(sync)
        .compaction(strategy)
        .file_system(fs.clone())
}
