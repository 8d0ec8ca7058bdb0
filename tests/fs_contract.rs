//! What the engine asks of the file system, observed through a recording wrapper
//! around the real one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use strata::fs::{FileLock, FileSystem, OsFileSystem, RandomAccessFile, WritableFile};
use strata::{Db, Options};

/// The OS file system, recording every directory sync.
#[derive(Default)]
struct Recording {
    synced_dirs: Mutex<Vec<PathBuf>>,
}

impl FileSystem for Recording {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        OsFileSystem.create(path)
    }
    fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        OsFileSystem.create_log(path)
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

/// A directory `Db::open` creates survives a power loss only once the directory
/// holding it is synced: otherwise the database, synced files and all, can vanish.
#[test]
fn open_syncs_the_parent_of_every_directory_it_creates() {
    let root = tempfile::tempdir().unwrap();
    let db_dir = root.path().join("a").join("b").join("db");
    let fs = Arc::new(Recording::default());
    let db = Db::open(&db_dir, Options::default().file_system(fs.clone())).unwrap();
    db.put("k", "v").unwrap();
    db.close().unwrap();
    let synced = fs.synced_dirs.lock().clone();
    for parent in [root.path().to_path_buf(), root.path().join("a"), root.path().join("a").join("b")] {
        assert!(synced.contains(&parent), "{} never synced; synced: {synced:?}", parent.display());
    }
}
