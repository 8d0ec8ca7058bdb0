//! Helpers shared by the integration tests.
// Each test crate uses a different subset of these.
#![allow(dead_code)]

/// xorshift64: a small, reproducible random source for workloads.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

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
