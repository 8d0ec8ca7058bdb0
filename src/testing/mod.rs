//! Test support: [`FaultyFs`], an in-memory file system that injects faults and loses
//! power on command, and [`Rng`], the reproducible random source that the tests and the
//! command-line tool's workloads share.
//!
//! It models what a real disk promises and nothing more:
//! - bytes written to a file are durable only once the file is synced;
//! - a create, rename or remove is durable only once its directory is synced;
//! - after [`FaultyFs::crash`] the "machine" is off: every operation fails until a
//!   restart, which rolls every file back to its durable bytes and every directory back
//!   to its synced entries. What becomes of the unsynced bytes is the restart's choice:
//!   none survive ([`FaultyFs::restart`]), a torn prefix does
//!   ([`FaultyFs::restart_with`]), or each unsynced 4 KiB page independently reaches the
//!   disk, is lost (a hole) or comes back as garbage ([`FaultyFs::restart_scrambled`]),
//!   as out-of-order write-back leaves them;
//! - a failed fsync drops the dirty pages it could not write, as Linux does: they are
//!   marked clean, so a later fsync "succeeds" without them and a power loss leaves a
//!   hole where they were.
//!
//! Write-ahead logs ([`FileSystem::create_log`]) run the engine's production log file,
//! `fs::prealloc_log::PreallocatedLog`, over in-memory storage: space reserved
//! a chunk at a time (where a full disk fails), records written in place.
//!
//! Faults: fail the Nth mutating operation (or, with [`FaultyFs::crash_after`], lose
//! power there), fail every operation of one kind, or report the disk full (appends,
//! creates, reservations and syncs fail with `StorageFull`). Syncs can also be made slow
//! ([`FaultyFs::set_sync_delay`]), so that concurrent writers form groups on cue.
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

use parking_lot::Mutex;

use crate::fs::prealloc_log::{LogStorage, PreallocatedLog};
use crate::fs::{FileLock, FileSystem, RandomAccessFile, WritableFile};

pub use crate::util::rng::Rng;

/// The kinds of operation faults can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Creating a file.
    Create,
    /// Appending to a file (or writing a log record in place).
    Append,
    /// Reserving space for a log file.
    Allocate,
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

/// The page size of the modelled disk: write-back reaches it a page at a time.
const PAGE: usize = 4096;

/// One file: what reads see (the page cache) and what a power loss would leave.
#[derive(Default)]
struct Node {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// The byte range written since the last sync: the pages the kernel holds dirty.
    dirty: Option<(usize, usize)>,
}

/// What becomes of one unsynced page at a power loss.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PageFate {
    Written,
    Lost,
    Garbage,
}

impl Node {
    fn write_at(&mut self, at: usize, bytes: &[u8]) {
        let end = at + bytes.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[at..end].copy_from_slice(bytes);
        self.dirty = Some(self.dirty.map_or((at, end), |(a, b)| (a.min(at), b.max(end))));
    }

    /// The dirty range, clipped to the file's current length.
    fn dirty_range(&self) -> Option<(usize, usize)> {
        self.dirty.map(|(a, b)| (a, b.min(self.data.len()))).filter(|(a, b)| a < b)
    }

    /// fsync: the dirty bytes and the file's size become durable.
    fn sync(&mut self) {
        self.durable.resize(self.data.len(), 0);
        if let Some((a, b)) = self.dirty_range() {
            self.durable[a..b].copy_from_slice(&self.data[a..b]);
        }
        self.dirty = None;
    }

    /// What the disk holds after a power loss: the durable bytes, with the first
    /// `torn(n)` of the `n` dirty bytes written over them.
    fn torn(&self, torn: &mut dyn FnMut(usize) -> usize) -> Vec<u8> {
        let mut out = self.durable.clone();
        if let Some((a, b)) = self.dirty_range() {
            let keep = torn(b - a).min(b - a);
            if keep > 0 {
                if out.len() < a + keep {
                    out.resize(a + keep, 0);
                }
                out[a..a + keep].copy_from_slice(&self.data[a..a + keep]);
            }
        }
        out
    }

    /// What the disk holds after a power loss when each dirty page met its own fate.
    fn scrambled(&self, rng: &mut Rng) -> Vec<u8> {
        let mut out = self.durable.clone();
        let Some((a, b)) = self.dirty_range() else { return out };
        let mut page = a / PAGE * PAGE;
        while page < b {
            let (from, to) = (page.max(a), (page + PAGE).min(b));
            let fate = match rng.below(4) {
                0 | 1 => PageFate::Written,
                2 => PageFate::Lost,
                _ => PageFate::Garbage,
            };
            if fate != PageFate::Lost {
                if out.len() < to {
                    out.resize(to, 0);
                }
                match fate {
                    PageFate::Garbage => out[from..to].copy_from_slice(&rng.bytes(to - from)),
                    _ => out[from..to].copy_from_slice(&self.data[from..to]),
                }
            }
            page += PAGE;
        }
        out
    }

    /// Replaces the file with what a power loss left of it.
    fn restore(&mut self, bytes: Vec<u8>) {
        self.data = bytes.clone();
        self.durable = bytes;
        self.dirty = None;
    }
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
    /// How long each file sync takes (a slow disk).
    sync_delay: std::time::Duration,
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
            if self.disk_full && matches!(op, Op::Append | Op::Create | Op::Allocate | Op::Sync) {
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

    /// Makes every file sync take `delay` first, as on a slow disk, so that concurrent
    /// writers queue up behind one in its sync and commit as a group.
    pub fn set_sync_delay(&self, delay: std::time::Duration) {
        self.state.lock().sync_delay = delay;
    }

    /// Makes creates, appends, log reservations and syncs report a full disk (or stop
    /// doing so).
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

    /// Powers back on with only what was durable: each file rolled back to its durable
    /// bytes, then `torn(unsynced_len)` bytes of what was written since its last sync
    /// laid over them (a torn write; return 0 to drop it all), and each directory back
    /// to its synced entries. Locks are released and faults cleared.
    pub fn restart_with(&self, mut torn: impl FnMut(usize) -> usize) {
        self.power_on(|node| node.torn(&mut torn));
    }

    /// [`FaultyFs::restart_with`] dropping every unsynced byte.
    pub fn restart(&self) {
        self.restart_with(|_| 0);
    }

    /// Powers back on the way out-of-order write-back leaves a disk: every unsynced
    /// 4 KiB page of every file independently reached the disk, was lost (a hole of
    /// zeros, or the file ends before it) or came back as garbage. `seed` makes the
    /// choices reproducible.
    pub fn restart_scrambled(&self, seed: u64) {
        let mut rng = Rng::new(seed);
        self.power_on(|node| node.scrambled(&mut rng));
    }

    fn power_on(&self, mut survivor: impl FnMut(&Node) -> Vec<u8>) {
        let mut s = self.state.lock();
        let mut entries = HashMap::new();
        for dir_entries in s.durable.values() {
            for (path, node) in dir_entries {
                entries.insert(path.clone(), node.clone());
            }
        }
        // Sorted by path so that a seed replays the same fates.
        let mut all: Vec<(PathBuf, NodeRef)> =
            s.entries.iter().chain(entries.iter()).map(|(p, n)| (p.clone(), n.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut seen = HashSet::new();
        for (_, node) in all {
            if !seen.insert(Arc::as_ptr(&node) as usize) {
                continue;
            }
            let mut n = node.lock();
            let bytes = survivor(&n);
            n.restore(bytes);
        }
        s.entries = entries;
        s.locks.clear();
        s.dead = false;
        s.fail_at = None;
        s.fail_kinds.clear();
        s.disk_full = false;
    }

    /// Changes bytes of a file in place (for corruption tests): `f` gets the contents.
    /// The change counts as durable.
    pub fn corrupt(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let s = self.state.lock();
        let node = s.entries.get(path).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        let mut n = node.lock();
        let mut bytes = n.data.clone();
        f(&mut bytes);
        n.restore(bytes);
        Ok(())
    }
}

impl FaultyFs {
    /// Creates the empty file `path`, which must not exist.
    fn create_node(&self, path: &Path) -> io::Result<FaultyWritable> {
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
        Ok(FaultyWritable { fs: self.clone(), node })
    }
}

struct FaultyWritable {
    fs: FaultyFs,
    node: NodeRef,
}

impl FaultyWritable {
    /// fsync with Linux's failure semantics: a failed sync drops the dirty pages.
    fn sync_node(&self) -> io::Result<()> {
        let delay = self.fs.state.lock().sync_delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let checked = self.fs.state.lock().check(Op::Sync);
        let mut n = self.node.lock();
        match checked {
            Ok(()) => {
                n.sync();
                Ok(())
            }
            Err(e) => {
                if !self.fs.is_crashed() {
                    n.dirty = None;
                }
                Err(e)
            }
        }
    }
}

impl WritableFile for FaultyWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.fs.state.lock().check(Op::Append)?;
        let mut n = self.node.lock();
        let end = n.data.len();
        n.write_at(end, data);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.fs.state.lock().dead {
            return Err(injected("power is off"));
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_node()
    }
}

/// The in-memory storage under a write-ahead log: the production
/// [`PreallocatedLog`] runs over it.
struct FaultyLogStorage(FaultyWritable);

impl LogStorage for FaultyLogStorage {
    fn reserve(&mut self, start: u64, len: u64) -> io::Result<()> {
        self.0.fs.state.lock().check(Op::Allocate)?;
        let end = usize::try_from(start + len).map_err(|_| io::Error::other("log too long"))?;
        let mut n = self.0.node.lock();
        if n.data.len() < end {
            // The size grows now; like the bytes, it is durable after the next sync.
            n.data.resize(end, 0);
        }
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.fs.state.lock().check(Op::Append)?;
        let at = usize::try_from(offset).map_err(|_| io::Error::other("log too long"))?;
        self.0.node.lock().write_at(at, data);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_node()
    }

    fn truncate(&mut self, len: u64) {
        if self.0.fs.is_crashed() {
            return;
        }
        if let Ok(len) = usize::try_from(len) {
            // Like the size growth, durable only once synced (never, for a closed log):
            // a power loss may bring the zero tail back.
            self.0.node.lock().data.truncate(len);
        }
    }
}

struct FaultyReadable {
    fs: FaultyFs,
    node: NodeRef,
    size: u64,
}

impl RandomAccessFile for FaultyReadable {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.fs.state.lock().check(Op::Read)?;
        let n = self.node.lock();
        let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let end = start.checked_add(buf.len()).filter(|&e| e <= n.data.len());
        match end {
            Some(end) => {
                buf.copy_from_slice(&n.data[start..end]);
                Ok(())
            }
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
        Ok(Box::new(self.create_node(path)?))
    }

    unsafe fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(PreallocatedLog::new(FaultyLogStorage(self.create_node(path)?))))
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

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let node = {
            let s = self.state.lock();
            s.entries.get(path).cloned().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?
        };
        FaultyWritable { fs: self.clone(), node }.sync_node()
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
        // The failed sync dropped "13" from the page cache's dirty list, as Linux does;
        // the retried sync made only the file's size durable: a hole.
        assert_eq!(fs.read_all(&dir.join("a")).unwrap(), b"\0\0");
    }

    #[test]
    fn a_scrambled_restart_keeps_loses_or_garbles_each_unsynced_page() {
        let page: Vec<u8> = (0..PAGE).map(|i| (i % 200 + 1) as u8).collect();
        let mut fates = [0usize; 3];
        for seed in 1..40 {
            let fs = FaultyFs::new();
            let dir = Path::new("/d");
            fs.create_dir_all(dir).unwrap();
            let mut a = fs.create(&dir.join("a")).unwrap();
            a.append(&page).unwrap();
            a.sync().unwrap();
            fs.sync_dir(dir).unwrap();
            for _ in 0..8 {
                a.append(&page).unwrap();
            }
            fs.crash();
            fs.restart_scrambled(seed);
            let back = fs.read_all(&dir.join("a")).unwrap();
            assert_eq!(&back[..PAGE], &page[..], "synced bytes survive");
            for chunk in back[PAGE..].chunks(PAGE) {
                if chunk == &page[..chunk.len()] {
                    fates[0] += 1;
                } else if chunk.iter().all(|&b| b == 0) {
                    fates[1] += 1;
                } else {
                    fates[2] += 1;
                }
            }
        }
        assert!(fates.iter().all(|&n| n > 10), "written/lost/garbage pages: {fates:?}");
    }

    #[test]
    fn logs_reserve_space_where_a_full_disk_fails_and_keep_a_zero_tail_after_a_crash() {
        let fs = FaultyFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        // SAFETY: nothing else touches this file system.
        let mut log = unsafe { fs.create_log(&dir.join("000001.log")).unwrap() };
        fs.sync_dir(dir).unwrap();
        log.append(b"record").unwrap();
        log.sync().unwrap();
        let reserved = fs.read_all(&dir.join("000001.log")).unwrap();
        assert_eq!(reserved.len() as u64, crate::fs::prealloc_log::FIRST_CHUNK);
        assert!(reserved[6..].iter().all(|&b| b == 0));
        fs.set_disk_full(true);
        let fill = vec![7u8; reserved.len()];
        assert_eq!(log.append(&fill).unwrap_err().kind(), io::ErrorKind::StorageFull);
        fs.heal();
        drop(log);
        fs.crash();
        fs.restart();
        // The synced reservation survives a power loss; the unsynced trim does not.
        assert_eq!(fs.read_all(&dir.join("000001.log")).unwrap(), reserved);
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
