//! A real full disk: a database on an 8 MiB tmpfs is written until the file system
//! refuses, through the production file system (the mapped WAL included).
//!
//! The mount needs privileges: the test re-runs itself inside a new user and mount
//! namespace (`unshare -rm`, which works unprivileged where the kernel allows user
//! namespaces, and as root), mounts the tmpfs there and runs the scenario in that
//! child. Where that is impossible it prints why and passes without checking: CI
//! machines that allow it run it for real.
//!
//! What must hold: the process is not killed (a page fault on a mapped WAL or table
//! over a full disk would be SIGBUS), every write that returned `Ok` is readable after
//! space is given back and the database reopened, and it takes writes again.

use std::path::Path;
use std::process::Command;

use strata::{Db, Error, Options};

const INNER_DIR: &str = "STRATA_FULL_DISK_DIR";

fn key(i: u64) -> String {
    format!("key{i:08}")
}

/// A kilobyte that does not compress (so the disk fills at the rate we write).
fn value(i: u64) -> Vec<u8> {
    let mut rng = strata::testing::Rng::new(i + 1);
    rng.bytes(1024)
}

fn options() -> Options {
    Options::default().memtable_size(512 << 10).sync_writes(false)
}

/// Runs in the child, on the small tmpfs at `dir`.
fn fill_until_full(dir: &Path) {
    // Room to give back once the disk is full.
    let ballast = dir.join("ballast");
    std::fs::write(&ballast, vec![1u8; 3 << 20]).unwrap();
    let db_dir = dir.join("db");
    let db = Db::open(&db_dir, options()).unwrap();
    let mut acked = 0u64;
    let failure = loop {
        match db.put(key(acked), value(acked)) {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked < 100_000, "an 8 MiB disk never filled");
    };
    println!("full after {acked} puts: {failure}");
    assert!(
        matches!(&failure, Error::Io(_) | Error::Background(_)),
        "a full disk must be an I/O error, got {failure:?}"
    );
    // Reads go on.
    assert_eq!(db.get(key(0)).unwrap().as_deref(), Some(&value(0)[..]));
    drop(db);
    std::fs::remove_file(&ballast).unwrap();
    let db = Db::open(&db_dir, options()).unwrap();
    for i in 0..acked {
        assert_eq!(db.get(key(i)).unwrap().as_deref(), Some(&value(i)[..]), "acknowledged write {i} lost");
    }
    db.put("after", "space came back").unwrap();
    db.flush().unwrap();
    db.close().unwrap();
}

#[test]
fn a_full_disk_is_an_error_and_loses_nothing_acknowledged() {
    if let Some(dir) = std::env::var_os(INNER_DIR) {
        fill_until_full(Path::new(&dir));
        return;
    }
    if !cfg!(target_os = "linux") {
        println!("skipped: the full-disk test mounts a Linux tmpfs");
        return;
    }
    let mount_point = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = r#"mount -t tmpfs -o size=8m strata-full "$1" || exit 97; shift; exec "$@""#;
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script, "sh"])
        .arg(mount_point.path())
        .arg(&exe)
        .args(["--exact", "a_full_disk_is_an_error_and_loses_nothing_acknowledged", "--nocapture", "--test-threads=1"])
        .env(INNER_DIR, mount_point.path())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            println!("skipped: cannot run unshare ({e})");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(97) || stderr.contains("unshare failed") || stderr.contains("unshare:") {
        println!("skipped: no tmpfs could be mounted here ({})", stderr.trim());
        return;
    }
    println!("{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), None, "the database was killed by a signal on a full disk:\n{stderr}");
    }
    assert!(out.status.success(), "the full-disk child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("full after"), "the child did not run the scenario:\n{stdout}");
}
