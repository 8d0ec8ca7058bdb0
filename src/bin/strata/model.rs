//! What Dostoevsky's cost model (Dayan & Idreos, SIGMOD 2018, §3-4) predicts for a
//! strategy, to print beside what the lab measures.
//!
//! A tree of N bytes over a buffer of M bytes with size ratio T has
//! L = ⌈log_T(N/M · (T-1)/T)⌉ levels. With at most K runs per level above the last and Z
//! at the last, an entry is merged about (T-1)/(K+1) times on each of levels 1..L-1 and
//! (T-1)/(Z+1) times on level L, and written once by its flush:
//!
//! ```text
//! write amplification ≈ 1 + (L-1)·(T-1)/(K+1) + (T-1)/(Z+1)
//! runs a lookup may probe = K·(L-1) + Z
//! false positives per absent key ≈ (K·(L-1) + Z) · e^(-b·ln²2)   (b bits per key, uniform)
//! the same with Monkey's allocation ≈ e^H · e^(-b·ln²2)
//! space amplification ≤ Z + 1/(T-1)                             (every write an update)
//! ```
//!
//! Monkey (Dayan et al., SIGMOD 2017) gives each run a false-positive rate in proportion
//! to its entries, which at the same memory makes the sum over runs e^H times the
//! uniform rate, where H is the entropy of the runs' shares of the entries (ln R for R
//! equal runs, where Monkey gains nothing; less the more the largest run dominates).
//! The runs' shares follow the levels' capacities, each T times the one above, split
//! evenly among a level's K (Z) runs; rates above 1 are not capped, so with few bits
//! per key it is optimistic. For space, the upper levels hold 1/(T-1) of what the last
//! level does and the last level's Z-1 newer runs may all be newer copies of its oldest:
//! an estimate of a tree at rest, which leaves out L0's tables and the merges in flight
//! (a leveled tree measures a little over it).
//!
//! The model counts merges of a growing tree of distinct inserts: overwrites and deletes
//! that compaction drops make the engine write less than it predicts, and a tree not yet
//! grown to its last level's capacity has merged less. Leveled compaction is taken as
//! K = Z = 1 with T its multiplier (it merges a file at a time, which costs the same per
//! byte), tiered as K = Z = T-1 with T its merge threshold, FIFO as no merging at all.

use strata::Compaction;

/// A strategy's (T, K, Z), if it merges.
fn shape(c: &Compaction) -> Option<(f64, f64, f64)> {
    match c {
        Compaction::Leveled(l) => Some((l.level_size_multiplier as f64, 1.0, 1.0)),
        Compaction::Tiered(t) => {
            let t = t.min_threshold as f64;
            Some((t, t - 1.0, t - 1.0))
        }
        Compaction::Fluid(f) => Some((f.size_ratio as f64, f.runs_per_level as f64, f.last_level_runs as f64)),
        _ => None,
    }
}

/// The model's predictions for one configuration.
pub struct Prediction {
    pub levels: u32,
    pub write_amplification: f64,
    pub runs: f64,
    pub false_positives: f64,
    pub monkey_false_positives: f64,
    pub space_amplification: f64,
}

/// What the model predicts for `compaction` over `data` bytes with `buffer`-byte
/// memtables and `bits` filter bits per key.
pub fn predict(compaction: &Compaction, data: f64, buffer: f64, bits: u32) -> Prediction {
    let fpr = (-f64::from(bits) * std::f64::consts::LN_2 * std::f64::consts::LN_2).exp();
    let Some((t, k, z)) = shape(compaction) else {
        // FIFO: flushes only, and every flushed table is a run, all of a size (so
        // Monkey gains nothing); nothing bounds the copies of a key it keeps.
        let runs = (data / buffer.max(1.0)).ceil().max(1.0);
        return Prediction {
            levels: 1,
            write_amplification: 1.0,
            runs,
            false_positives: runs * fpr,
            monkey_false_positives: runs * fpr,
            space_amplification: f64::INFINITY,
        };
    };
    let ratio = data / buffer.max(1.0) * (t - 1.0) / t;
    let levels = if ratio <= 1.0 { 1 } else { ratio.log(t).ceil().max(1.0) as u32 };
    let l = f64::from(levels);
    let write_amplification = 1.0 + (l - 1.0) * (t - 1.0) / (k + 1.0) + (t - 1.0) / (z + 1.0);
    let runs = k * (l - 1.0) + z;
    // Each level's share of the entries, T times the one above's, and the entropy of
    // the runs' shares.
    let total: f64 = (1..=levels).map(|i| t.powi(i as i32)).sum();
    let entropy: f64 = (1..=levels)
        .map(|i| {
            let (share, count) = (t.powi(i as i32) / total, if i == levels { z } else { k });
            let run = share / count;
            -count * run * run.ln()
        })
        .sum();
    Prediction {
        levels,
        write_amplification,
        runs,
        false_positives: runs * fpr,
        monkey_false_positives: entropy.exp() * fpr,
        space_amplification: z + 1.0 / (t - 1.0).max(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corners_of_the_space() {
        let mib = (1 << 20) as f64;
        // 1 GiB over 4 MiB buffers, T = 10: three levels.
        let leveling = predict(&Compaction::fluid(10, 1, 1), 1024.0 * mib, 4.0 * mib, 10);
        assert_eq!(leveling.levels, 3);
        assert!((leveling.write_amplification - (1.0 + 3.0 * 4.5)).abs() < 1e-9);
        assert_eq!(leveling.runs, 3.0);
        let tiering = predict(&Compaction::fluid(10, 9, 9), 1024.0 * mib, 4.0 * mib, 10);
        assert!((tiering.write_amplification - (1.0 + 3.0 * 0.9)).abs() < 1e-9);
        assert_eq!(tiering.runs, 27.0);
        let lazy = predict(&Compaction::lazy_leveling(), 1024.0 * mib, 4.0 * mib, 10);
        assert!((lazy.write_amplification - (1.0 + 2.0 * 0.9 + 4.5)).abs() < 1e-9);
        assert_eq!(lazy.runs, 19.0);
        assert!(lazy.write_amplification < leveling.write_amplification);
        // Fewer levels than one buffer's worth of data needs: one.
        assert_eq!(predict(&Compaction::leveled(), mib, 4.0 * mib, 10).levels, 1);
        assert_eq!(predict(&Compaction::fifo(1 << 30), 40.0 * mib, 4.0 * mib, 10).runs, 10.0);
        // Space: a tenth more than the data for leveling at T = 10, Z copies for tiering.
        assert!((leveling.space_amplification - (1.0 + 1.0 / 9.0)).abs() < 1e-9);
        assert!((tiering.space_amplification - (9.0 + 1.0 / 9.0)).abs() < 1e-9);
    }

    #[test]
    fn monkey_gains_most_where_one_run_dominates() {
        let mib = (1 << 20) as f64;
        let fpr = (-10.0 * std::f64::consts::LN_2 * std::f64::consts::LN_2).exp();
        // Runs of equal size: e^H = R, no gain.
        let one_level = predict(&Compaction::fluid(10, 9, 9), 2.0 * mib, 4.0 * mib, 10);
        assert_eq!(one_level.levels, 1);
        assert!((one_level.monkey_false_positives - 9.0 * fpr).abs() < 1e-12);
        // Leveling over three levels: shares 1/111, 10/111, 100/111.
        let leveling = predict(&Compaction::fluid(10, 1, 1), 1024.0 * mib, 4.0 * mib, 10);
        let shares = [1.0 / 111.0, 10.0 / 111.0, 100.0 / 111.0];
        let h: f64 = shares.iter().map(|w: &f64| -w * w.ln()).sum();
        assert!((leveling.monkey_false_positives - h.exp() * fpr).abs() < 1e-12);
        assert!(leveling.monkey_false_positives < 0.5 * leveling.false_positives);
        let lazy = predict(&Compaction::lazy_leveling(), 1024.0 * mib, 4.0 * mib, 10);
        assert!(lazy.monkey_false_positives < 0.2 * lazy.false_positives, "{}", lazy.monkey_false_positives / fpr);
    }
}
