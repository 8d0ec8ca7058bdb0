//! Test support: [`FaultyFs`], an in-memory file system that injects faults and loses
//! power on command, and [`Rng`], the reproducible random source that the tests and the
//! command-line tool's workloads share.
//!
//! It models what a real disk promises and nothing more:
//! - bytes appended to a file are durable only once the file is synced;
//! - a create, rename or remove is durable only once its directory is synced;
//! - after [`FaultyFs::crash`] the "machine" is off: every operation fails until
//!   [`FaultyFs::restart`], which rolls every file back to its synced bytes (optionally
//!   keeping a torn prefix of the unsynced tail) and every directory back to its synced
//!   entries.
//!
//! Faults: fail the Nth mutating operation (or, with [`FaultyFs::crash_after`], lose
//! power there), fail every operation of one kind, or report the disk full.
//!
//! ```
//! use std::sync::Arc;
//! use strata::testing::FaultyFs;
//! use strata::{Db, Options};
//!
//! let fs = Arc::new(FaultyFs::new());
//! let db = Db::open("/db", Options::default().file_system(fs.clone()).sync_writes(true)).unwrap();
//! db.put("k", "v").unwrap();
//! fs.crash();
//! drop(db);
//! fs.restart();
//! let db = Db::open("/db", Options::default().file_system(fs.clone())).unwrap();
//! assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
//! ```

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::fs::{FileLock, FileSystem, RandomAccessFile, WritableFile};

mod rng;
pub use rng::Rng;

/// The kinds of operation faults can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Creating a file.
    Create,
    /// Appending to a file.
    Append,
    /// Syncing a file.
    Sync,
    /// Renaming.
    Rename,
    /// Removing.
    Remove,
    /// Syncing a directory.
    SyncDir,
    /// Reading (open, read_at, read_all).
    Read,
}

#[derive(Default)]
struct Node {
    data: Vec<u8>,
    synced: usize,
}

type NodeRef = Arc<Mutex<Node>>;

#[derive(Default)]
struct State {
    /// Live directory entries (full path → file).
    entries: HashMap<PathBuf, NodeRef>,
    /// Entries as of each directory's last sync, per directory.
    durable: HashMap<PathBuf, HashMap<PathBuf, NodeRef>>,
    dirs: HashSet<PathBuf>,
    locks: HashSet<PathBuf>,
    /// Mutating operations so far.
    ops: u64,
    /// Fail (or crash at) this mutating operation.
    fail_at: Option<(u64, bool)>,
    fail_kinds: HashSet<Op>,
    disk_full: bool,
    dead: bool,
    faults_injected: u64,
}

/// An in-memory file system with power loss and fault injection; see the module comment.
#[derive(Clone, Default)]
pub struct FaultyFs {
    state: Arc<Mutex<State>>,
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl State {
    /// Counts a mutating operation and decides whether it fails.
    fn check(&mut self, op: Op) -> io::Result<()> {
        if self.dead {
            return Err(injected("power is off"));
        }
        if op != Op::Read {
            self.ops += 1;
            if let Some((n, crash)) = self.fail_at {
                if self.ops >= n {
                    self.fail_at = None;
                    self.faults_injected += 1;
                    if crash {
                        self.dead = true;
                        return Err(injected("power lost"));
                    }
                    return Err(injected(&format!("operation {n} ({op:?}) failed")));
                }
            }
            if self.disk_full && matches!(op, Op::Append | Op::Create) {
                self.faults_injected += 1;
                return Err(io::Error::new(io::ErrorKind::StorageFull, "injected fault: disk full"));
            }
        }
        if self.fail_kinds.contains(&op) {
            self.faults_injected += 1;
            return Err(injected(&format!("every {op:?} fails")));
        }
        Ok(())
    }
}

impl FaultyFs {
    /// An empty file system with no faults armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails the `n`th mutating operation from now (counting from 1).
    pub fn fail_after(&self, n: u64) {
        let mut s = self.state.lock();
        s.fail_at = Some((s.ops + n.max(1), false));
    }

    /// Loses power at the `n`th mutating operation from now: it and everything after it
    /// fail until [`FaultyFs::restart`].
    pub fn crash_after(&self, n: u64) {
        let mut s = self.state.lock();
        s.fail_at = Some((s.ops + n.max(1), true));
    }

    /// Makes every operation of kind `op` fail (or stop failing).
    pub fn fail_every(&self, op: Op, fail: bool) {
        let mut s = self.state.lock();
        if fail {
            s.fail_kinds.insert(op);
        } else {
            s.fail_kinds.remove(&op);
        }
    }

    /// Makes creates and appends report a full disk (or stop doing so).
    pub fn set_disk_full(&self, full: bool) {
        self.state.lock().disk_full = full;
    }

    /// Clears every armed fault.
    pub fn heal(&self) {
        let mut s = self.state.lock();
        s.fail_at = None;
        s.fail_kinds.clear();
        s.disk_full = false;
    }

    /// Mutating operations performed so far.
    pub fn operations(&self) -> u64 {
        self.state.lock().ops
    }

    /// Faults injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.state.lock().faults_injected
    }

    /// True while the power is off.
    pub fn is_crashed(&self) -> bool {
        self.state.lock().dead
    }

    /// Loses power now: every operation fails until [`FaultyFs::restart`].
    pub fn crash(&self) {
        self.state.lock().dead = true;
    }

    /// Powers back on with only what was durable: each file cut back to its synced
    /// length, then extended by `torn(unsynced_len)` bytes of its unsynced tail (a torn
    /// write; return 0 to drop it all), and each directory back to its synced entries.
    /// Locks are released and faults cleared.
    pub fn restart_with(&self, mut torn: impl FnMut(usize) -> usize) {
        let mut s = self.state.lock();
        let mut entries = HashMap::new();
        for dir_entries in s.durable.values() {
            for (path, node) in dir_entries {
                entries.insert(path.clone(), node.clone());
            }
        }
        let all: Vec<NodeRef> = s.entries.values().chain(entries.values()).cloned().collect();
        let mut seen = HashSet::new();
        for node in all {
            if !seen.insert(Arc::as_ptr(&node) as usize) {
                continue;
            }
            let mut n = node.lock();
            let keep = n.synced + torn(n.data.len() - n.synced).min(n.data.len() - n.synced);
            n.data.truncate(keep);
            n.synced = n.data.len();
        }
        s.entries = entries;
        s.locks.clear();
        s.dead = false;
        s.fail_at = None;
        s.fail_kinds.clear();
        s.disk_full = false;
    }

    /// [`FaultyFs::restart_with`] dropping every unsynced byte.
    pub fn restart(&self) {
        self.restart_with(|_| 0);
    }

    /// Changes bytes of a file in place (for corruption tests): `f` gets the contents.
    /// The change counts as durable.
    pub fn corrupt(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let s = self.state.lock();
        let node = s.entries.get(path).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        let mut n = node.lock();
        f(&mut n.data);
        n.synced = n.data.len();
        Ok(())
    }
}

struct FaultyWritable {
    fs: FaultyFs,
    node: NodeRef,
}

impl WritableFile for FaultyWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.fs.state.lock().check(Op::Append)?;
        self.node.lock().data.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.fs.state.lock().dead {
            return Err(injected("power is off"));
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.fs.state.lock().check(Op::Sync)?;
        let mut n = self.node.lock();
        n.synced = n.data.len();
        Ok(())
    }
}

struct FaultyReadable {
    fs: FaultyFs,
    node: NodeRef,
    size: u64,
}

impl RandomAccessFile for FaultyReadable {
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        self.fs.state.lock().check(Op::Read)?;
        let n = self.node.lock();
        let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let end = start.checked_add(len).filter(|&e| e <= n.data.len());
        match end {
            Some(end) => Ok(Bytes::copy_from_slice(&n.data[start..end])),
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the file")),
        }
    }

    fn size(&self) -> u64 {
        self.size
    }
}

struct FaultyLock {
    fs: FaultyFs,
    path: PathBuf,
}

impl FileLock for FaultyLock {}

impl Drop for FaultyLock {
    fn drop(&mut self) {
        self.fs.state.lock().locks.remove(&self.path);
    }
}

impl FileSystem for FaultyFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        if s.dead {
            return Err(injected("power is off"));
        }
        // Directories themselves are treated as durable at once.
        s.dirs.insert(dir.to_path_buf());
        s.durable.entry(dir.to_path_buf()).or_default();
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut s = self.state.lock();
        s.check(Op::Create)?;
        if !s.dirs.contains(&dir_of(path)) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        if s.entries.contains_key(path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
        }
        let node: NodeRef = Arc::default();
        s.entries.insert(path.to_path_buf(), node.clone());
        Ok(Box::new(FaultyWritable { fs: self.clone(), node }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let mut s = self.state.lock();
        s.check(Op::Read)?;
        let node =
            s.entries.get(path).cloned().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        let size = node.lock().data.len() as u64;
        Ok(Arc::new(FaultyReadable { fs: self.clone(), node, size }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut s = self.state.lock();
        s.check(Op::Read)?;
        let node = s.entries.get(path).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        let data = node.lock().data.clone();
        Ok(data)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.check(Op::Rename)?;
        let node = s.entries.remove(from).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        s.entries.insert(to.to_path_buf(), node);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.check(Op::Remove)?;
        s.entries.remove(path).map(|_| ()).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut s = self.state.lock();
        s.check(Op::Read)?;
        if !s.dirs.contains(dir) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok(s.entries
            .keys()
            .filter(|p| dir_of(p) == dir)
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let s = self.state.lock();
        s.entries.contains_key(path) || s.dirs.contains(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.check(Op::SyncDir)?;
        let now: HashMap<PathBuf, NodeRef> =
            s.entries.iter().filter(|(p, _)| dir_of(p) == dir).map(|(p, n)| (p.clone(), n.clone())).collect();
        s.durable.insert(dir.to_path_buf(), now);
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let mut s = self.state.lock();
        if s.dead {
            return Err(injected("power is off"));
        }
        if !s.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "lock is held"));
        }
        Ok(Box::new(FaultyLock { fs: self.clone(), path: path.to_path_buf() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_bytes_and_entries_vanish_at_power_loss() {
        let fs = FaultyFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let mut a = fs.create(&dir.join("a")).unwrap();
        a.append(b"durable").unwrap();
        a.sync().unwrap();
        fs.sync_dir(dir).unwrap();
        a.append(b" lost").unwrap();
        let mut b = fs.create(&dir.join("b")).unwrap(); // entry never synced
        b.append(b"x").unwrap();
        b.sync().unwrap();
        fs.rename(&dir.join("a"), &dir.join("c")).unwrap(); // rename never synced
        fs.crash();
        assert!(fs.read_all(&dir.join("c")).is_err(), "dead until restart");
        fs.restart();
        assert_eq!(fs.read_all(&dir.join("a")).unwrap(), b"durable");
        assert!(!fs.exists(&dir.join("b")));
        assert!(!fs.exists(&dir.join("c")));
    }

    #[test]
    fn torn_tails_and_removes() {
        let fs = FaultyFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let mut a = fs.create(&dir.join("a")).unwrap();
        a.append(b"0123").unwrap();
        a.sync().unwrap();
        fs.sync_dir(dir).unwrap();
        a.append(b"456789").unwrap();
        fs.remove(&dir.join("a")).unwrap(); // remove never synced: the file comes back
        fs.crash();
        fs.restart_with(|unsynced| unsynced / 2);
        assert_eq!(fs.read_all(&dir.join("a")).unwrap(), b"0123456");
    }

    #[test]
    fn faults_fire_where_armed() {
        let fs = FaultyFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let mut a = fs.create(&dir.join("a")).unwrap();
        fs.sync_dir(dir).unwrap();
        fs.fail_after(2);
        a.append(b"1").unwrap();
        assert!(a.append(b"2").is_err());
        a.append(b"3").unwrap();
        fs.set_disk_full(true);
        assert_eq!(a.append(b"4").unwrap_err().kind(), io::ErrorKind::StorageFull);
        fs.heal();
        fs.fail_every(Op::Sync, true);
        assert!(a.sync().is_err());
        fs.heal();
        a.sync().unwrap();
        assert_eq!(fs.faults_injected(), 3);
        fs.crash_after(1);
        assert!(a.append(b"5").is_err());
        assert!(fs.is_crashed());
        let _lock = fs.lock(&dir.join("LOCK"));
        fs.restart();
        assert_eq!(fs.read_all(&dir.join("a")).unwrap(), b"13");
    }

    #[test]
    fn locks_exclude() {
        let fs = FaultyFs::new();
        let l = fs.lock(Path::new("/L")).unwrap();
        assert_eq!(fs.lock(Path::new("/L")).err().unwrap().kind(), io::ErrorKind::WouldBlock);
        drop(l);
        fs.lock(Path::new("/L")).unwrap();
    }
}
