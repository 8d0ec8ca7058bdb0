//! [`OsFileSystem`]: the file-system seam implemented with `std::fs`.
//!
//! Writes are buffered in user space (a `BufWriter`) until `flush`, so the WAL writer
//! decides when bytes reach the kernel: once per write group. Finished files are read
//! with positioned reads (`pread`), so concurrent readers never contend on a shared
//! cursor, and a file damaged or truncated under a reader gives an error, never a
//! fault. Removing a file unlinks its name at once and leaves freeing its cached pages
//! to a helper thread.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::{writeback, FileLock, FileSystem, RandomAccessFile, WritableFile};

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsFileSystem;

struct OsWritableFile {
    out: BufWriter<File>,
    /// Bytes appended.
    len: u64,
    /// Bytes already handed to [`writeback::start`].
    written_back: u64,
}

impl WritableFile for OsWritableFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.len += data.len() as u64;
        if self.len - self.written_back >= writeback::WRITEBACK_BYTES {
            self.out.flush()?;
            writeback::start(self.out.get_ref(), self.written_back, self.len - self.written_back);
            self.written_back = self.len;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

/// A file opened for positioned reads (`pread`). Not a memory map: a mapped table
/// truncated by another process, or a disk error under a mapped page, kills the
/// process with SIGBUS on the next read, where `pread` returns an error. What this
/// costs and how it is won back (bigger reads for scans, recycled buffers) is in
/// `docs/architecture.md`.
struct OsRandomAccessFile {
    file: File,
    size: u64,
}

impl OsRandomAccessFile {
    fn open(path: &Path) -> io::Result<Self> {
        let file = open_for_reads(path)?;
        let size = file.metadata()?.len();
        Ok(OsRandomAccessFile { file, size })
    }
}

/// Opens `path` read-only, on Linux without access-time updates where the kernel allows
/// it (`O_NOATIME` needs the file's owner): every `pread` otherwise checks whether the
/// access time is due an update, about 1% of a point read that misses the cache.
fn open_for_reads(path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if let Ok(file) = OpenOptions::new().read(true).custom_flags(libc::O_NOATIME).open(path) {
            return Ok(file);
        }
    }
    File::open(path)
}

#[cfg(unix)]
fn pread_exact(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn pread_exact(file: &File, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl RandomAccessFile for OsRandomAccessFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset.checked_add(buf.len() as u64).is_none_or(|e| e > self.size) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read of {} bytes at offset {offset} is past the end of a {}-byte file", buf.len(), self.size),
            ));
        }
        pread_exact(&self.file, offset, buf)
    }

    fn size(&self) -> u64 {
        self.size
    }
}

/// A file read through a memory map (`Options::mmap_reads`): see
/// [`FileSystem::open_mapped`] for the risk this takes.
struct OsMappedFile {
    map: Option<Mmap>,
}

impl OsMappedFile {
    /// # Safety
    ///
    /// As for [`FileSystem::open_mapped`]: nobody changes the file while it is mapped.
    unsafe fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            // mmap refuses empty files; there is nothing to read anyway.
            return Ok(OsMappedFile { map: None });
        }
        // SAFETY: the map is only ever read, and the caller promises its contents do
        // not change. What a map cannot rule out is a page that cannot be read (the
        // file truncated by another process, a disk error): reading it raises SIGBUS.
        // That is the risk `Options::mmap_reads` documents and the caller opted into.
        let map = unsafe { Mmap::map(&file)? };
        Ok(OsMappedFile { map: Some(map) })
    }
}

impl RandomAccessFile for OsMappedFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let bytes = self.mapped().unwrap_or_default();
        let src = usize::try_from(offset).ok().and_then(|at| bytes.get(at..at.checked_add(buf.len())?));
        match src {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the file")),
        }
    }

    fn size(&self) -> u64 {
        self.mapped().map_or(0, |m| m.len() as u64)
    }

    fn mapped(&self) -> Option<&[u8]> {
        self.map.as_deref()
    }
}

/// Closes `file` on a short-lived, detached thread. If no thread can be started,
/// `spawn` drops the closure, and the file is closed here.
fn close_elsewhere(file: File) {
    let _ = std::thread::Builder::new().name("strata-close".into()).spawn(move || drop(file));
}

struct OsFileLock {
    _file: File,
}

impl FileLock for OsFileLock {}

impl FileSystem for OsFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(OsWritableFile { out: BufWriter::with_capacity(64 * 1024, file), len: 0, written_back: 0 }))
    }

    unsafe fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        Ok(Box::new(super::prealloc_log::PreallocatedLog::new(super::mmap_log::MmapStorage::new(file))))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        Ok(Arc::new(OsRandomAccessFile::open(path)?))
    }

    unsafe fn open_mapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        // SAFETY: our caller made open_mapped's promise, which is OsMappedFile::open's.
        Ok(Arc::new(unsafe { OsMappedFile::open(path)? }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        match fs::hard_link(from, to) {
            // Another file system, or one without links: copy instead. Other errors (the
            // source gone, no permission, no space) are the answer.
            Err(e) if matches!(e.kind(), io::ErrorKind::CrossesDevices | io::ErrorKind::Unsupported) => {
                let mut src = File::open(from)?;
                let mut dst = OpenOptions::new().write(true).create_new(true).open(to)?;
                let copied = io::copy(&mut src, &mut dst).and_then(|_| dst.sync_all());
                if copied.is_err() {
                    // Ours, and incomplete.
                    let _ = fs::remove_file(to);
                }
                copied
            }
            linked => linked,
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        // The name goes at once; the costly part, the kernel freeing the file's cached
        // pages (22 ms for a full memtable's 64 MiB WAL, which `Db::flush` used to wait
        // for), happens when the last descriptor closes. So a descriptor is held across
        // the unlink and closed on a helper thread.
        let held = File::open(path).ok();
        fs::remove_file(path)?;
        if let Some(file) = held {
            close_elsewhere(file);
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        // Linux and the BSDs write back a file's dirty pages on fsync of any descriptor.
        File::open(path)?.sync_data()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsFileLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(io::ErrorKind::WouldBlock, "lock is held")),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_rename_list() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let a = dir.path().join("a");
        let mut w = fs.create(&a).unwrap();
        w.append(b"hello ").unwrap();
        w.append(b"world").unwrap();
        w.sync().unwrap();
        let r = fs.open(&a).unwrap();
        assert_eq!(r.size(), 11);
        assert_eq!(&r.read_at(6, 5).unwrap()[..], b"world");
        assert!(r.read_at(8, 5).is_err());
        assert!(r.read_at(u64::MAX, 5).is_err());
        let b = dir.path().join("b");
        fs.rename(&a, &b).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        assert_eq!(fs.list(dir.path()).unwrap(), vec!["b".to_string()]);
        assert_eq!(fs.read_all(&b).unwrap(), b"hello world");
        fs.remove(&b).unwrap();
        assert!(!fs.exists(&b));
    }

    #[test]
    fn links_are_hard_links_or_copies_across_file_systems_and_never_clobber() {
        let fs = OsFileSystem;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::write(&src, b"table bytes").unwrap();
        let same = dir.path().join("same");
        fs.link(&src, &same).unwrap();
        assert_eq!(std::fs::read(&same).unwrap(), b"table bytes");
        assert_eq!(fs.link(&src, &same).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&same).unwrap(), b"table bytes");
        let missing = dir.path().join("missing");
        assert!(fs.link(&missing, &dir.path().join("to")).is_err());
        assert!(!dir.path().join("to").exists(), "a failed link left a file");
        // Across file systems (the crate's directory on disk, a tempdir on tmpfs, or the
        // other way round) a link is refused and the bytes are copied.
        let other = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let across = other.path().join("across");
        fs.link(&src, &across).unwrap();
        assert_eq!(std::fs::read(&across).unwrap(), b"table bytes");
    }

    #[test]
    fn mapped_files_read_as_the_file_and_refuse_reads_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let (full, empty) = (dir.path().join("full"), dir.path().join("empty"));
        let mut w = fs.create(&full).unwrap();
        w.append(b"hello world").unwrap();
        w.sync().unwrap();
        drop(w);
        drop(fs.create(&empty).unwrap());
        // SAFETY: nothing writes either file while it is mapped.
        let (r, e) = unsafe { (fs.open_mapped(&full).unwrap(), fs.open_mapped(&empty).unwrap()) };
        assert_eq!(r.mapped(), Some(&b"hello world"[..]));
        assert_eq!(r.size(), 11);
        assert_eq!(&r.read_at(6, 5).unwrap()[..], b"world");
        assert!(r.read_at(8, 5).is_err());
        assert!(r.read_at(u64::MAX, 5).is_err());
        // An empty file has no map (mmap refuses length 0) and nothing to read.
        assert_eq!((e.mapped(), e.size()), (None, 0));
        assert!(e.read_at(0, 1).is_err());
        assert_eq!(e.read_at(0, 0).unwrap().len(), 0);
    }

    #[test]
    fn files_longer_than_a_write_back_step_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let mut w = OsFileSystem.create(&path).unwrap();
        let mut expected = Vec::new();
        // Appends of awkward sizes, so that write-back requests fall mid-append.
        for i in 0..700u32 {
            let chunk: Vec<u8> = (0..(i * 37) % 9001 + 1).map(|j| (i ^ j) as u8).collect();
            w.append(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
        }
        assert!(expected.len() as u64 > 2 * writeback::WRITEBACK_BYTES);
        w.sync().unwrap();
        assert_eq!(fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn a_removed_file_leaves_the_listing_at_once_and_open_readers_keep_reading() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let path = dir.path().join("000007.log");
        let mut f = fs.create(&path).unwrap();
        f.append(&[7u8; 3 << 20]).unwrap();
        f.sync().unwrap();
        drop(f);
        let reader = fs.open(&path).unwrap();
        fs.remove(&path).unwrap();
        assert!(!fs.exists(&path));
        assert!(fs.list(dir.path()).unwrap().is_empty(), "the name must go before remove returns");
        assert_eq!(&reader.read_at((3 << 20) - 4, 4).unwrap()[..], &[7u8; 4]);
        let missing = fs.remove(&path).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_closed_elsewhere_is_closed() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held");
        std::fs::write(&path, b"x").unwrap();
        let path = std::fs::canonicalize(&path).unwrap();
        let file = File::open(&path).unwrap();
        let link = format!("/proc/self/fd/{}", file.as_raw_fd());
        assert_eq!(std::fs::read_link(&link).unwrap(), path);
        close_elsewhere(file);
        // The descriptor number may be reused at once by another test's file, but never
        // for this path again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_link(&link).is_ok_and(|p| p == path) {
            assert!(std::time::Instant::now() < deadline, "the helper thread never closed the file");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn second_lock_is_refused_until_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let path = dir.path().join("LOCK");
        let first = fs.lock(&path).unwrap();
        let err = fs.lock(&path).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(first);
        fs.lock(&path).unwrap();
    }
}
