//! The lab's workloads (`strata compare --workload`): YCSB's core mixes (Cooper et al.,
//! "Benchmarking Cloud Serving Systems with YCSB", SoCC 2010), db_bench-like fills and
//! overwrites, and a delete-heavy mix, over uniform, zipfian (θ = 0.99) or latest key
//! distributions.
//!
//! A workload is a load phase (inserting the key space, in a scrambled order) and a run
//! phase of `num` operations drawn from its mix. Everything is seeded: the same
//! arguments give the same operations under every strategy.

use clap::ValueEnum;
use strata::internals::Rng;

/// A preset operation mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Load only: `num` inserts in random order.
    Fill,
    /// Load, then `num` updates with one read in ten (the lab's default).
    Overwrite,
    /// YCSB A: 50% reads, 50% updates.
    YcsbA,
    /// YCSB B: 95% reads, 5% updates.
    YcsbB,
    /// YCSB C: reads only.
    YcsbC,
    /// YCSB D: 95% reads of recently inserted keys, 5% inserts.
    YcsbD,
    /// YCSB E: 95% short scans (1-100 entries), 5% inserts.
    YcsbE,
    /// YCSB F: 50% reads, 50% read-modify-writes.
    YcsbF,
    /// Load, then 50% updates, 40% deletes and 10% range deletions of 1 to 10 keys.
    Deletes,
}

/// How the keys an operation touches are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Distribution {
    Uniform,
    /// YCSB's scrambled zipfian, θ = 0.99: a few keys take most operations.
    Zipfian,
    /// Zipfian over recency: the most recently inserted keys are the hottest.
    Latest,
}

/// One operation on key numbers (the caller turns a number into a key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read(u64),
    Update(u64),
    Insert(u64),
    /// A scan of this many entries from a key.
    Scan(u64, usize),
    ReadModifyWrite(u64),
    Delete(u64),
    /// Deletion of the stored key numbers [stored(key), stored(key) + width): about 1 to
    /// 10 of the keys inserted so far.
    DeleteRange(u64, u64),
}

impl Op {
    /// True for operations that write.
    pub fn writes(self) -> bool {
        !matches!(self, Op::Read(_) | Op::Scan(..))
    }
}

/// YCSB's zipfian generator over 0..n (Gray et al., "Quickly Generating Billion-Record
/// Synthetic Databases", SIGMOD 1994), θ = 0.99.
struct Zipfian {
    n: u64,
    theta: f64,
    alpha: f64,
    zeta_n: f64,
    eta: f64,
}

impl Zipfian {
    fn new(n: u64) -> Zipfian {
        let theta = 0.99;
        let zeta = |n: u64| (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let (zeta_n, zeta_2) = (zeta(n.max(1)), zeta(2));
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / n.max(2) as f64).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n);
        Zipfian { n: n.max(1), theta, alpha, zeta_n, eta }
    }

    /// A rank: 0 is the most popular.
    fn next(&self, rng: &mut Rng) -> u64 {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        ((self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64).min(self.n - 1)
    }
}

/// Spreads ranks over the key space, so that the popular keys are not neighbours
/// (YCSB's scrambled zipfian); a bijection of 0..n for every n.
fn scramble(rank: u64, n: u64) -> u64 {
    // An odd multiplier coprime with n when n is a power of two; otherwise a
    // multiplicative hash reduced mod n, which spreads without being a bijection
    // (collisions only merge popularity, as YCSB's FNV-based scramble does).
    rank.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) % n
}

/// The operations of one workload, in order.
pub struct Generator {
    workload: Workload,
    distribution: Distribution,
    /// Keys inserted so far (inserts take the next number).
    inserted: u64,
    /// Operations of the run phase.
    run_ops: u64,
    /// Where the load phase is.
    loaded: u64,
    num: u64,
    done: u64,
    rng: Rng,
    zipf: Zipfian,
}

impl Generator {
    /// A generator of `workload` over `num` keys (and `num` run operations).
    pub fn new(workload: Workload, distribution: Distribution, num: u64, seed: u64) -> Generator {
        let run_ops = if workload == Workload::Fill { 0 } else { num };
        // Popularity is drawn over the loaded keys; inserts extend the space beyond.
        Generator {
            workload,
            distribution,
            inserted: 0,
            run_ops,
            loaded: 0,
            num,
            done: 0,
            rng: Rng(seed | 1),
            zipf: Zipfian::new(num),
        }
    }

    /// Operations in all: the load phase's and the run phase's.
    pub fn len(&self) -> u64 {
        self.num + self.run_ops
    }

    /// A key number for a read or update.
    fn existing(&mut self) -> u64 {
        let n = self.inserted.max(1);
        match self.distribution {
            Distribution::Uniform => self.rng.next_u64() % n,
            Distribution::Zipfian => scramble(self.zipf.next(&mut self.rng), n),
            Distribution::Latest => n - 1 - self.zipf.next(&mut self.rng).min(n - 1),
        }
    }

    fn insert(&mut self) -> Op {
        // Keys are numbered in insertion order and stored scrambled, so inserts land all
        // over the key space (as YCSB's hashed keys do) while "latest" stays meaningful.
        let n = self.inserted;
        self.inserted += 1;
        Op::Insert(n)
    }
}

impl Iterator for Generator {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        if self.loaded < self.num {
            self.loaded += 1;
            return Some(self.insert());
        }
        if self.done >= self.run_ops {
            return None;
        }
        self.done += 1;
        let roll = self.rng.next_u64() % 100;
        let op = match self.workload {
            Workload::Fill => return None,
            Workload::Overwrite if roll < 10 => Op::Read(self.existing()),
            Workload::Overwrite => Op::Update(self.existing()),
            Workload::YcsbA if roll < 50 => Op::Read(self.existing()),
            Workload::YcsbA => Op::Update(self.existing()),
            Workload::YcsbB if roll < 95 => Op::Read(self.existing()),
            Workload::YcsbB => Op::Update(self.existing()),
            Workload::YcsbC => Op::Read(self.existing()),
            Workload::YcsbD if roll < 95 => Op::Read(self.existing()),
            Workload::YcsbD => self.insert(),
            Workload::YcsbE if roll < 95 => {
                let len = 1 + (self.rng.next_u64() % 100) as usize;
                Op::Scan(self.existing(), len)
            }
            Workload::YcsbE => self.insert(),
            Workload::YcsbF if roll < 50 => Op::Read(self.existing()),
            Workload::YcsbF => Op::ReadModifyWrite(self.existing()),
            Workload::Deletes if roll < 50 => Op::Update(self.existing()),
            Workload::Deletes if roll < 90 => Op::Delete(self.existing()),
            Workload::Deletes => {
                let from = self.existing();
                let keys = 1 + self.rng.next_u64() % 10;
                Op::DeleteRange(from, keys * (STORED_RANGE / self.inserted.max(1)))
            }
        };
        Some(op)
    }
}

/// Stored key numbers lie in 0..STORED_RANGE (15 decimal digits: they fit a 16-byte
/// key).
pub const STORED_RANGE: u64 = 1 << 48;

/// The stored key number of key `n` (of insertion order): scrambled so that inserts, and
/// neighbours in insertion order, land all over the key space (as YCSB's hashed keys
/// do). A bijection of 0..2^64 cut to 48 bits: distinct for any practical `n`.
pub fn stored(n: u64) -> u64 {
    n.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_have_their_proportions_and_fill_only_loads() {
        let count = |w, d| {
            let ops: Vec<Op> = Generator::new(w, d, 10_000, 7).collect();
            let writes = ops[10_000..].iter().filter(|o| o.writes()).count();
            (ops.len(), writes)
        };
        assert_eq!(count(Workload::Fill, Distribution::Uniform), (10_000, 0));
        let (len, writes) = count(Workload::YcsbA, Distribution::Zipfian);
        assert_eq!(len, 20_000);
        assert!((4_500..5_500).contains(&writes), "{writes}");
        assert_eq!(count(Workload::YcsbC, Distribution::Latest).1, 0);
    }

    #[test]
    fn zipfian_keys_are_skewed_and_in_range() {
        let mut g = Generator::new(Workload::YcsbC, Distribution::Zipfian, 100_000, 3);
        let reads: Vec<u64> = g
            .by_ref()
            .skip(100_000)
            .map(|o| match o {
                Op::Read(k) => k,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(reads.iter().all(|&k| k < 100_000));
        let mut counts = std::collections::HashMap::new();
        for k in &reads {
            *counts.entry(k).or_insert(0u32) += 1;
        }
        let mut top: Vec<u32> = counts.values().copied().collect();
        top.sort_unstable_by(|a, b| b.cmp(a));
        // The hottest 1% of the keys read take a large share of the reads.
        let hot: u32 = top.iter().take(1000).sum();
        assert!(hot as usize > reads.len() / 3, "{hot} of {}", reads.len());
    }
}
