//! `strata inspect`, `strata sst` and the ad-hoc `get`/`put`/`delete`/`scan` commands.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

use strata::fs::{FileSystem, OsFileSystem};
use strata::internals::key::{user_key, ParsedKey};
use strata::internals::{InternalIterator, TableReader};
use strata::{Db, Result};

/// Printable form of a key or value: text if it is, hex otherwise.
pub fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => bytes.iter().fold(String::from("0x"), |mut acc, b| {
            let _ = write!(acc, "{b:02x}");
            acc
        }),
    }
}

/// Describes the levels, tables and pending work of every keyspace of `db`.
pub fn inspect(db: &Db) -> Result<String> {
    let mut out = String::new();
    for name in db.keyspace_names() {
        let keyspace = db.keyspace(&name)?;
        let stats = keyspace.stats();
        let _ = writeln!(
            out,
            "keyspace {name}: strategy: {}   sorted runs: {}   live SSTable bytes: {}",
            stats.strategy,
            stats.sorted_runs,
            stats.live_sst_bytes()
        );
        let tables = keyspace.tables();
        for (level, l) in stats.levels.iter().enumerate() {
            if l.files == 0 {
                continue;
            }
            let _ = writeln!(out, "L{level}: {} files, {} bytes", l.files, l.bytes);
            for t in tables.iter().filter(|t| t.level == level) {
                let _ = writeln!(
                    out,
                    "  {:06}.sst {:>10} B  [{} .. {}]  seq {}..{}  {} entries ({} deletions){}",
                    t.number,
                    t.size,
                    show(&t.smallest_key),
                    show(&t.largest_key),
                    t.min_seq,
                    t.max_seq,
                    t.entries,
                    t.deletions,
                    match t.range_deletions {
                        0 => String::new(),
                        n => format!(", {n} range tombstones"),
                    }
                );
            }
        }
        let pending = keyspace.pending_compaction().unwrap_or_else(|| "none".into());
        let _ = writeln!(out, "pending compaction: {pending}");
    }
    Ok(out)
}

/// Describes one SSTable file: properties, blocks, filter; with `scan`, every entry.
pub fn sst(path: &Path, scan: bool) -> Result<String> {
    let file = OsFileSystem.open(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("table").to_string();
    let table = Arc::new(TableReader::open(file.clone(), &name, None)?);
    let p = table.properties();
    let mut out = format!("{name}: {} bytes\n", file.size());
    let _ = writeln!(
        out,
        "entries: {} ({} deletions), range tombstones: {}, data blocks: {}",
        p.summary.num_entries, p.summary.num_deletions, p.summary.num_range_deletions, p.num_data_blocks
    );
    let _ = writeln!(out, "keys: {} .. {}", show(user_key(&p.summary.smallest)), show(user_key(&p.summary.largest)));
    let _ = writeln!(out, "seqnos: {} .. {}", p.summary.min_seq, p.summary.max_seq);
    let _ = writeln!(out, "raw key bytes: {}, raw value bytes: {}", p.raw_key_bytes, p.raw_value_bytes);
    match table.filter_size() {
        Some(n) => {
            let _ = writeln!(
                out,
                "bloom filter: {n} bytes ({:.1} bits per entry)",
                n as f64 * 8.0 / p.summary.num_entries.max(1) as f64
            );
        }
        None => out.push_str("bloom filter: none\n"),
    }
    out.push_str("index (last key of each block -> offset, size):\n");
    for (key, handle) in table.index_entries()? {
        let k = ParsedKey::parse(&key).map_or_else(|| show(&key), |k| format!("{} @{}", show(k.user_key), k.seq));
        let _ = writeln!(out, "  {k} -> {}, {}", handle.offset, handle.size);
    }
    if scan {
        out.push_str("entries:\n");
        let mut it = table.iter();
        it.seek_to_first();
        while it.valid() {
            match ParsedKey::parse(it.key()) {
                Some(k) => {
                    let _ = writeln!(out, "  {} @{} {:?} => {}", show(k.user_key), k.seq, k.kind, show(it.value()));
                }
                None => {
                    let _ = writeln!(out, "  <malformed key {}>", show(it.key()));
                }
            }
            it.next();
        }
        it.status()?;
    }
    Ok(out)
}
