//! The file-system seam: every byte the engine reads or writes passes through
//! [`FileSystem`].
//!
//! The engine never calls `std::fs` itself. That keeps the list of operations it depends
//! on short and explicit (create, append, sync, positioned read, rename, remove, list,
//! lock, directory sync) and lets tests substitute a file system that injects faults or
//! "loses power". [`OsFileSystem`] is the real implementation and the default.
//!
//! Promises an implementation must keep, because recovery relies on them:
//! - `WritableFile::sync` makes every byte appended before it durable;
//! - `sync_dir` makes every create, rename and remove in that directory durable;
//! - `rename` replaces the target atomically.

mod mmap_log;
mod os;
pub(crate) mod prealloc_log;
mod writeback;

use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

pub use os::OsFileSystem;

/// A file opened for appending.
pub trait WritableFile: Send {
    /// Appends `data`. It may sit in a user-space buffer until [`WritableFile::flush`].
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Hands buffered bytes to the operating system, so they survive a process crash.
    fn flush(&mut self) -> io::Result<()>;
    /// Flushes and then makes every appended byte durable (survives a power loss).
    fn sync(&mut self) -> io::Result<()>;
    /// Whether to start writing finished pieces of the file to disk before a sync asks
    /// for them (on by default where an implementation does it: the OS log file). A
    /// file that is rarely synced and soon deleted, a WAL retired without a sync, is
    /// better left to the page cache: it may be deleted before it is ever written. The
    /// default does nothing.
    fn set_early_write_back(&mut self, _on: bool) {}
    /// No more appends will come, but the file stays open for a later `sync` (a WAL
    /// retired without one): an implementation releases what appending needed, as a
    /// drop would (the OS log unmaps its chunk and trims the reserved zeros). The
    /// default does nothing.
    fn retire(&mut self) {}
}

/// A file opened for positioned reads; shared by concurrent readers.
pub trait RandomAccessFile: Send + Sync {
    /// Fills `buf` with the bytes at `offset`. Reading past the end (a file truncated
    /// under us included) is an `UnexpectedEof` error.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The file's size in bytes when it was opened.
    fn size(&self) -> u64;
    /// The whole file as memory, for implementations that map it
    /// ([`FileSystem::open_mapped`]); readers then decode straight from it.
    fn mapped(&self) -> Option<&[u8]> {
        None
    }
    /// Reads exactly `len` bytes at `offset` into a new buffer.
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let mut buf = vec![0; len];
        self.read_exact_at(offset, &mut buf)?;
        Ok(Bytes::from(buf))
    }
}

/// The writer a read-only database holds where a WAL or MANIFEST writer would be:
/// every append and sync fails, so nothing can reach the directory even if a write path
/// forgot to check first. Flushing has nothing to write and succeeds.
pub(crate) struct RefusingFile;

impl WritableFile for RefusingFile {
    fn append(&mut self, _: &[u8]) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "the database is open read-only"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.append(&[])
    }
}

/// An exclusive lock on a file, released when dropped.
pub trait FileLock: Send + Sync {}

/// The operations the engine needs from a file system.
pub trait FileSystem: Send + Sync + 'static {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates `path`, which must not exist, for appending. An existing file is an
    /// `AlreadyExists` error, never truncated: a number handed out twice must fail
    /// loudly rather than wipe a file recovery still needs.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Creates `path`, which must not exist, for a write-ahead log: many small appends, each
    /// followed by `flush`, which must make it survive a process crash. The file may end
    /// in zeros after a crash (preallocated space), which log readers skip. Defaults to
    /// [`FileSystem::create`].
    ///
    /// # Safety
    ///
    /// While the returned writer lives, nobody else may write or truncate the file. An
    /// implementation may write the log through a shared memory map (the OS one does),
    /// and another writer of its pages would race with ours. The engine creates a log
    /// only under its directory lock, with a number no file in the directory has.
    unsafe fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.create(path)
    }
    /// Opens `path` for positioned reads. The engine opens only finished files, which
    /// it never modifies while they are open; but another process, a bad restore or a
    /// failing disk may, and a read must then fail with an error, never fault (which
    /// rules out reading through a memory map: a truncated file or an I/O error under a
    /// mapped page is SIGBUS).
    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Opens `path` for reads through a memory map, where the implementation offers
    /// one (the default opens it like [`FileSystem::open`]). Faster point reads (no
    /// system call per block), at a risk [`FileSystem::open`] does not run: if the file
    /// is truncated by someone else, or the disk fails to read a mapped page, the next
    /// read of it kills the process with SIGBUS. Used only with `Options::mmap_reads`.
    ///
    /// # Safety
    ///
    /// While the returned file (or a slice [`RandomAccessFile::mapped`] gave) is alive,
    /// nobody may change the file's contents: the map hands out `&[u8]` over its pages,
    /// and bytes changing under a shared reference are undefined behaviour. The engine
    /// maps only its table files, which are never written once complete, in a
    /// directory its lock keeps other writers out of.
    unsafe fn open_mapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.open(path)
    }
    /// Reads the whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Makes `to` (which must not exist) a second name for the finished file `from`
    /// (`Db::checkpoint` uses it on tables). The default copies the bytes and syncs the
    /// copy; the OS implementation hard-links, and copies where links are refused (say,
    /// across file systems). Either way `to`'s directory entry is durable only once the
    /// directory is synced.
    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let bytes = self.read_all(from)?;
        let mut copy = self.create(to)?;
        copy.append(&bytes)?;
        copy.sync()
    }
    /// Makes the bytes of the finished file `path` durable (recovery, before it records
    /// tables built from WALs an earlier run left unsynced). The default writes a synced
    /// copy under a temporary name (`path` + `.tmp`, which the next open removes if a
    /// crash leaves it) and renames it over `path`: durable once the directory is
    /// synced, which the caller does next.
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let bytes = self.read_all(path)?;
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        let copy_path = std::path::PathBuf::from(name);
        let _ = self.remove(&copy_path);
        let mut copy = self.create(&copy_path)?;
        copy.append(&bytes)?;
        copy.sync()?;
        drop(copy);
        self.rename(&copy_path, path)
    }
    /// Renames `from` to `to`, atomically replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Lists the names of the entries of `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// True if `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Makes the creates, renames and removes in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path`, creating it if needed. Fails with
    /// `io::ErrorKind::WouldBlock` if another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::testing::FaultyFs;

    /// FaultyFs with the trait's default `sync_file`.
    struct Defaults(FaultyFs);

    impl FileSystem for Defaults {
        fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
            self.0.create_dir_all(dir)
        }
        fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
            self.0.create(path)
        }
        fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
            self.0.open(path)
        }
        fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
            self.0.read_all(path)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.0.rename(from, to)
        }
        fn remove(&self, path: &Path) -> io::Result<()> {
            self.0.remove(path)
        }
        fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
            self.0.list(dir)
        }
        fn exists(&self, path: &Path) -> bool {
            self.0.exists(path)
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            self.0.sync_dir(dir)
        }
        fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
            self.0.lock(path)
        }
    }

    #[test]
    fn the_default_sync_file_makes_unsynced_bytes_durable_over_a_leftover_copy() {
        let fs = Defaults(FaultyFs::new());
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let path = dir.join("000007.log");
        let mut f = fs.create(&path).unwrap();
        f.append(b"synced ").unwrap();
        f.sync().unwrap();
        f.append(b"and not").unwrap();
        drop(f);
        // What a crash in the middle of an earlier attempt leaves.
        let mut leftover = fs.create(&dir.join("000007.log.tmp")).unwrap();
        leftover.append(b"stale").unwrap();
        drop(leftover);
        fs.sync_dir(dir).unwrap();
        fs.sync_file(&path).unwrap();
        fs.sync_dir(dir).unwrap();
        fs.0.crash();
        fs.0.restart();
        assert_eq!(fs.read_all(&path).unwrap(), b"synced and not");
        assert_eq!(fs.list(dir).unwrap(), vec!["000007.log".to_string()]);
    }
}
