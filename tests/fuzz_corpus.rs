//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the same
//! entry points the cargo-fuzz targets call, so a crash found once stays fixed.
//!
//! `STRATA_WRITE_SEEDS=1 cargo test --test fuzz_corpus write_seeds` regenerates the seed
//! files from a freshly built database.

use std::path::{Path, PathBuf};

use strata::fuzzing;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus").join(target)
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut n = 0;
    let mut dirs = vec![corpus(target)];
    // Crashes found by a local fuzzing run, if any, are replayed too.
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("artifacts").join(target));
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn corpora_replay_without_failures() {
    for (target, run) in [
        ("block", fuzzing::block as fn(&[u8])),
        ("table", fuzzing::table),
        ("wal", fuzzing::wal),
        ("manifest", fuzzing::manifest),
        ("ops", fuzzing::ops),
        ("lz4", fuzzing::lz4),
    ] {
        let n = replay(target, run);
        assert!(n > 0, "no corpus files for {target}");
    }
}

#[test]
fn write_seeds() {
    if std::env::var("STRATA_WRITE_SEEDS").is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let db = strata::Db::open(dir.path(), strata::Options::default().block_size(256)).unwrap();
        for i in 0..300u32 {
            db.put(format!("key{i:04}"), format!("value{i}")).unwrap();
            if i % 7 == 0 {
                db.delete(format!("key{:04}", i / 2)).unwrap();
            }
        }
        db.flush().unwrap();
        for i in 0..20u32 {
            db.put(format!("wal{i}"), "x").unwrap();
        }
        db.close().unwrap();
    }
    for target in ["block", "table", "wal", "manifest", "ops"] {
        std::fs::create_dir_all(corpus(target)).unwrap();
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let data = std::fs::read(&path).unwrap();
        if name.ends_with(".sst") {
            std::fs::write(corpus("table").join("seed-table"), &data).unwrap();
            // The first data block: entries up to the first trailer. Blocks are about
            // 256 bytes here; any prefix is a fine seed, the fuzzer finds the rest.
            std::fs::write(corpus("block").join("seed-block-prefix"), &data[..data.len().min(300)]).unwrap();
        } else if name.ends_with(".log") {
            std::fs::write(corpus("wal").join("seed-wal"), &data).unwrap();
        } else if name.starts_with("MANIFEST") {
            std::fs::write(corpus("manifest").join("seed-manifest"), &data).unwrap();
        }
    }
    // A table holding range tombstones (a range-deletion block) beside point entries.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = strata::Db::open(dir.path(), strata::Options::default().block_size(256)).unwrap();
        for i in 0..100u32 {
            db.put(format!("key{i:04}"), format!("value{i}")).unwrap();
        }
        db.delete_range("key0010", "key0040").unwrap();
        db.delete_range("key0030", "key0060").unwrap();
        db.delete_range("a", "b").unwrap();
        db.flush().unwrap();
        let table = db.tables().pop().unwrap();
        let data = std::fs::read(dir.path().join(format!("{:06}.sst", table.number))).unwrap();
        std::fs::write(corpus("table").join("seed-table-range-dels"), data).unwrap();
    }
    // Operations with range deletions (0x83) between puts, scans and compactions.
    let ops: Vec<u8> = vec![0, 0, 1, 3, 1, 2, 5, 0, 5, 2, 0x83, 1, 6, 5, 4, 3, 0x46, 5, 0x83, 0, 31, 5, 7, 5];
    std::fs::write(corpus("ops").join("seed-ops-range-dels"), ops).unwrap();
    // A well-formed block: two entries, one restart.
    let block = [
        0u8, 4, 1, b'k', b'e', b'y', b'1', b'a', // shared 0, non-shared 4, value 1
        3, 1, 1, b'2', b'b', // shared 3, non-shared 1, value 1
        0, 0, 0, 0, 1, 0, 0, 0,
    ];
    std::fs::write(corpus("block").join("seed-block"), block).unwrap();
    // Operations: puts, gets, scans, flush, compact, reopen.
    let ops: Vec<u8> = vec![0, 0, 1, 3, 1, 2, 5, 4, 1, 4, 2, 5, 6, 0x86, 7, 0, 9, 9, 3, 9, 5, 7, 5];
    std::fs::write(corpus("ops").join("seed-ops"), ops).unwrap();
    let long: Vec<u8> = (0..400u32).map(|i| (i * 37 % 251) as u8).collect();
    std::fs::write(corpus("ops").join("seed-ops-long"), long).unwrap();
}
