//! A failing disk during flush or compaction: the database refuses writes with a clear
//! error, keeps serving reads, loses nothing acknowledged, and a reopen recovers.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strata::fs::{FileLock, FileSystem, OsFileSystem, RandomAccessFile, WritableFile};
use strata::{Compaction, Db, Error, Options};

/// The real file system, except that creating an SSTable fails while `fail_tables` is
/// set; it records every directory sync.
#[derive(Default)]
struct FailingTables {
    fail_tables: AtomicBool,
    synced_dirs: parking_lot::Mutex<Vec<std::path::PathBuf>>,
}

impl FileSystem for FailingTables {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        if self.fail_tables.load(Ordering::SeqCst) && path.extension().is_some_and(|e| e == "sst") {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "injected: disk full"));
        }
        OsFileSystem.create(path)
    }
    unsafe fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        // SAFETY: our caller's promise is the one OsFileSystem asks for.
        unsafe { OsFileSystem.create_log(path) }
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        OsFileSystem.open(path)
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        OsFileSystem.read_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFileSystem.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        OsFileSystem.remove(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        OsFileSystem.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        OsFileSystem.exists(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.synced_dirs.lock().push(dir.to_path_buf());
        OsFileSystem.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        OsFileSystem.lock(path)
    }
}

#[test]
fn failed_flush_makes_the_db_read_only_and_reopen_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(FailingTables::default());
    let db = Db::open(dir.path(), Options::default().file_system(fs.clone())).unwrap();
    for i in 0..100u32 {
        db.put(format!("k{i:03}"), format!("v{i}")).unwrap();
    }
    fs.fail_tables.store(true, Ordering::SeqCst);
    let err = db.flush().unwrap_err();
    assert!(matches!(err, Error::Background(_)), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(matches!(db.put("later", "x"), Err(Error::Background(_))));
    // Reads go on.
    assert_eq!(db.get("k007").unwrap().as_deref(), Some(&b"v7"[..]));
    assert_eq!(db.range::<&str, _>(..).count(), 100);
    drop(db);

    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.range::<&str, _>(..).count(), 100);
    assert_eq!(db.get("later").unwrap(), None);
    db.put("later", "x").unwrap();
}

#[test]
fn failed_compaction_makes_the_db_read_only_and_reopen_recovers() {
    for strategy in [Compaction::leveled(), Compaction::tiered()] {
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(FailingTables::default());
        let opts = || Options::default().memtable_size(4096).compaction(strategy.clone());
        let db = Db::open(dir.path(), opts().file_system(fs.clone())).unwrap();
        for i in 0..500u32 {
            db.put(format!("k{i:03}"), format!("v{i}")).unwrap();
        }
        db.flush().unwrap();
        fs.fail_tables.store(true, Ordering::SeqCst);
        // The full compaction cannot create its output.
        assert!(db.compact().is_err());
        assert_eq!(db.range::<&str, _>(..).count(), 500);
        drop(db);
        let db = Db::open(dir.path(), opts()).unwrap();
        assert_eq!(db.range::<&str, _>(..).count(), 500, "{strategy:?}");
        db.compact().unwrap();
        assert_eq!(db.get("k250").unwrap().as_deref(), Some(&b"v250"[..]));
    }
}

/// A directory `Db::open` creates survives a power loss only once the directory
/// holding it is synced: otherwise the database, synced files and all, can vanish.
#[test]
fn open_syncs_the_parent_of_every_directory_it_creates() {
    let root = tempfile::tempdir().unwrap();
    let db_dir = root.path().join("a").join("b").join("db");
    let fs = Arc::new(FailingTables::default());
    let db = Db::open(&db_dir, Options::default().file_system(fs.clone())).unwrap();
    db.put("k", "v").unwrap();
    db.close().unwrap();
    let synced = fs.synced_dirs.lock().clone();
    for parent in [root.path().to_path_buf(), root.path().join("a"), root.path().join("a").join("b")] {
        assert!(synced.contains(&parent), "{} never synced; synced: {synced:?}", parent.display());
    }
}
