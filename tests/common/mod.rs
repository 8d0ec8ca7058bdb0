//! Helpers shared by the integration tests.
// Each test crate uses a different subset of these.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use strata::testing::Rng;

/// Small memtables and blocks on `fs`, so that a short trial flushes and compacts.
pub fn faulty_options(fs: &std::sync::Arc<strata::testing::FaultyFs>, sync: bool, tiered: bool) -> strata::Options {
    let strategy = if tiered { strata::Compaction::tiered() } else { strata::Compaction::leveled() };
    strata::Options::default()
        .memtable_size(4096)
        .block_size(512)
        .sync_writes(sync)
        .compaction(strategy)
        .file_system(fs.clone())
}
