//! Monkey's bloom-filter allocation (Dayan, Athanassoulis & Idreos, "Monkey: Optimal
//! Navigable Key-Value Store", SIGMOD 2017): at the same total filter memory, bits per
//! key chosen per sorted run so that the sum of the runs' false-positive rates — the
//! expected number of runs a lookup of an absent key reads — is smallest.
//!
//! With n_i entries and b_i bits per key in run i, a bloom filter's false-positive rate
//! is about p_i = e^(-b_i ln²2). Minimising Σ p_i subject to Σ n_i b_i = M (the memory a
//! uniform b bits per key would take) gives, by a Lagrange multiplier, p_i = λ n_i: each
//! run's false-positive rate proportional to its size, so small runs get more bits per
//! key and the largest fewer. Runs for which λ n_i ≥ 1 get no filter at all (a filter
//! that passes everything is worth nothing), and the others share their memory:
//!
//! ```text
//! ln(1/λ) = (M ln²2 + Σ_active n_i ln n_i) / Σ_active n_i,   b_i = (ln(1/λ) - ln n_i) / ln²2
//! ```
//!
//! computed over the active set, which shrinks until every run in it gets a positive
//! number of bits. Equal runs get the uniform allocation back.

use std::sync::Arc;

use crate::version::{FileMeta, Version};

/// The entries of the run a flush or compaction writes, and of the tree's other sorted
/// runs (each L0 table one, each deeper level one) once it is in: `inputs` leave the
/// tree, and the `new_entries` written join level `output_level` — a run of their own
/// in L0, that level's run deeper down.
pub(crate) fn runs_after(
    version: &Version,
    inputs: &[Arc<FileMeta>],
    output_level: usize,
    new_entries: u64,
) -> (Vec<u64>, u64) {
    let stays = |f: &&Arc<FileMeta>| !inputs.iter().any(|i| i.number() == f.number());
    // Saturating: the counts come from the MANIFEST, and a damaged one must not
    // overflow them into a panic.
    let entries = |files: &[Arc<FileMeta>]| {
        files.iter().filter(stays).fold(0u64, |sum, f| sum.saturating_add(f.info.summary.num_entries))
    };
    let mut others: Vec<u64> =
        version.levels.first().into_iter().flatten().filter(stays).map(|f| f.info.summary.num_entries).collect();
    let mut run = new_entries;
    for (level, files) in version.levels.iter().enumerate().skip(1) {
        if level == output_level {
            run = run.saturating_add(entries(files));
        } else {
            others.push(entries(files));
        }
    }
    others.retain(|&n| n > 0);
    (others, run)
}

/// Bits per key for each of `runs` (entries per run) under Monkey's allocation, at the
/// memory `average_bits` per key for every entry would take.
pub(crate) fn allocation(runs: &[u64], average_bits: f64) -> Vec<f64> {
    let ln2_sq = std::f64::consts::LN_2 * std::f64::consts::LN_2;
    let memory: f64 = runs.iter().map(|&n| n as f64).sum::<f64>() * average_bits;
    let mut active: Vec<bool> = runs.iter().map(|&n| n > 0).collect();
    loop {
        let (sum_n, sum_n_ln_n) = runs
            .iter()
            .zip(&active)
            .filter(|(_, &a)| a)
            .fold((0.0, 0.0), |(s, l), (&n, _)| (s + n as f64, l + n as f64 * (n as f64).ln()));
        if sum_n == 0.0 {
            return vec![0.0; runs.len()];
        }
        let ln_inv_lambda = (memory * ln2_sq + sum_n_ln_n) / sum_n;
        let bits: Vec<f64> = runs
            .iter()
            .zip(&active)
            .map(|(&n, &a)| if a { (ln_inv_lambda - (n as f64).ln()) / ln2_sq } else { 0.0 })
            .collect();
        // A run that would get no bits (or fewer than none) goes without a filter, and
        // the memory is shared among the others again.
        let mut changed = false;
        for (a, b) in active.iter_mut().zip(&bits) {
            if *a && *b <= 0.0 {
                *a = false;
                changed = true;
            }
        }
        if !changed {
            return bits;
        }
    }
}

/// Bits per key for a run of `entries` about to be written into a tree whose other runs
/// hold `others` entries each, rounded to what a filter takes (at most 64).
pub(crate) fn bits_for_new_run(others: &[u64], entries: u64, average_bits: u32) -> u32 {
    let mut runs = others.to_vec();
    runs.push(entries);
    let bits = allocation(&runs, f64::from(average_bits));
    bits.last().map_or(average_bits, |&b| b.round().clamp(0.0, 64.0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_runs_get_the_uniform_allocation() {
        for b in allocation(&[1000, 1000, 1000], 10.0) {
            assert!((b - 10.0).abs() < 1e-9, "{b}");
        }
        assert_eq!(bits_for_new_run(&[500, 500], 500, 8), 8);
    }

    #[test]
    fn smaller_runs_get_more_bits_at_the_same_memory_and_fewer_false_positives() {
        let runs = [1_000u64, 10_000, 100_000, 1_000_000];
        let bits = allocation(&runs, 10.0);
        assert!(bits.windows(2).all(|w| w[0] > w[1]), "{bits:?}");
        let memory: f64 = runs.iter().zip(&bits).map(|(&n, &b)| n as f64 * b).sum();
        let uniform_memory = runs.iter().sum::<u64>() as f64 * 10.0;
        assert!((memory - uniform_memory).abs() / uniform_memory < 1e-9, "same memory");
        let fpr = |b: f64| (-b * std::f64::consts::LN_2 * std::f64::consts::LN_2).exp();
        let monkey: f64 = bits.iter().map(|&b| fpr(b)).sum();
        let uniform = runs.len() as f64 * fpr(10.0);
        assert!(monkey < uniform * 0.8, "Monkey {monkey} vs uniform {uniform}");
    }

    #[test]
    fn a_run_not_worth_a_filter_gets_none_and_the_rest_keep_the_memory() {
        // At a fifth of a bit per key, the largest run is better off without a filter.
        let mut runs = vec![100_000u64; 10];
        runs.push(1_000_000);
        let bits = allocation(&runs, 0.2);
        assert_eq!(bits[10], 0.0);
        let memory: f64 = runs.iter().zip(&bits).map(|(&n, &b)| n as f64 * b).sum();
        assert!((memory - 400_000.0).abs() < 1e-3, "{memory}");
        assert!(bits[..10].iter().all(|&b| (b - 0.4).abs() < 1e-9), "{bits:?}");
        assert_eq!(allocation(&[], 10.0), Vec::<f64>::new());
        assert_eq!(allocation(&[0, 0], 10.0), vec![0.0, 0.0]);
    }
}
