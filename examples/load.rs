//! Loads a few hundred thousand keys, reads them back, reopens and reads again, and
//! prints what it measured. Run with:
//!
//! ```text
//! cargo run --release --example load -- [NUM_KEYS]
//! ```

use std::time::Instant;

use strata::{Db, Options};

fn key(i: u64) -> [u8; 16] {
    // Scatter the keys so the load is a random-order insert.
    let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&h.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn main() -> strata::Result<()> {
    let n: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(300_000);
    let dir = std::env::temp_dir().join(format!("strata-load-{}", std::process::id()));
    let value = [b'v'; 100];
    let opts = || Options::default().memtable_size(4 << 20);

    let db = Db::open(&dir, opts())?;
    let t = Instant::now();
    for i in 0..n {
        db.put(key(i), value)?;
    }
    let put = t.elapsed();
    db.flush()?;

    let t = Instant::now();
    for i in 0..n {
        if db.get(key(i))?.is_none() {
            return Err(strata::Error::Corruption(format!("key {i} missing after load")));
        }
    }
    let get = t.elapsed();
    let t = Instant::now();
    let scanned = db.range::<&[u8], _>(..).count();
    let scan = t.elapsed();
    let stats = db.stats();
    db.close()?;

    let t = Instant::now();
    let db = Db::open(&dir, opts())?;
    let reopen = t.elapsed();
    let mut found = 0;
    for i in (0..n).step_by(97) {
        found += usize::from(db.get(key(i))?.is_some());
    }
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);

    let per = |d: std::time::Duration, ops: u64| d.as_secs_f64() * 1e6 / ops as f64;
    println!("keys:            {n} (16-byte keys, 100-byte values, random order)");
    println!("put:             {:.2} µs/op  ({:.0} ops/s)", per(put, n), n as f64 / put.as_secs_f64());
    println!("get (hits):      {:.2} µs/op  ({:.0} ops/s)", per(get, n), n as f64 / get.as_secs_f64());
    println!("full scan:       {scanned} entries in {:.1} ms", scan.as_secs_f64() * 1e3);
    println!("reopen:          {:.1} ms, {found} of {} sampled keys found", reopen.as_secs_f64() * 1e3, n.div_ceil(97));
    println!(
        "sstables:        {} files, {:.1} MiB",
        stats.levels.iter().map(|l| l.files).sum::<usize>(),
        stats.live_sst_bytes() as f64 / (1 << 20) as f64
    );
    println!("write amp:       {:.2}", stats.write_amplification());
    println!("tables per get:  {:.2}", stats.tables_read_per_get());
    Ok(())
}
