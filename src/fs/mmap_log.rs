//! [`MmapStorage`]: the operating system's storage under a write-ahead log
//! ([`super::prealloc_log::PreallocatedLog`]), written through a shared memory map
//! instead of one `write(2)` per record.
//!
//! A write is acknowledged once it survives a process crash, which for a `write(2)`-based
//! log costs a system call per write group (a quarter of a single-threaded put, measured).
//! Bytes copied into a `MAP_SHARED` mapping are in the page cache the moment the copy
//! ends, exactly where `write(2)` would have put them, so they survive `kill -9` just
//! the same; `sync` makes them survive a power loss: an `MS_SYNC` msync of the bytes
//! written since the last sync, which on Linux is an fdatasync of that range
//! (`vfs_fsync_range`), or, after a new chunk was reserved (the file grew, and the
//! previous chunk's last bytes were left to write-back), an fdatasync of the file.
//! Doing both cost two disk cache flushes per sync, where one is all a sync needs.
//!
//! A mapped write must never fault: a page fault the kernel cannot satisfy is SIGBUS,
//! which kills the process. So each chunk's space is allocated with `fallocate` before
//! it is mapped (a full disk is then `ENOSPC` from `reserve`, an `Err`, instead of
//! SIGBUS on a later write into a sparse hole), and the mapped chunk is locked in memory
//! where `RLIMIT_MEMLOCK` allows, so that no written-back page of it is evicted and read
//! back (a read that an I/O error could fail) when the next record lands in it. Where
//! the lock is refused the residual risk is that eviction, under memory pressure, of the
//! one page being filled followed by a failed re-read; `docs/architecture.md` weighs it.
//!
//! Records of [`PWRITE_MIN`] bytes and more go to the file with `pwrite` (Linux), and a
//! chunk after one filled mostly by them is not mapped at all: every record of it is
//! pwritten, so it needs neither the map's population nor its lock, and an I/O error is
//! an `Err` from the write. Small records bring the map back at the next chunk.

use std::fs::File;
use std::io;

use memmap2::{MmapMut, MmapOptions};

use super::prealloc_log::LogStorage;

/// Writes of at least this many bytes go to the file with `pwrite` rather than through
/// the map. A copy into a shared file map write-faults on every clean page it first
/// dirties (the file system is told of each one: `page_mkwrite`), which for kilobyte
/// records costs more than the system call the map saves; measured with 16 KiB values,
/// the faults took about a fifth of the writer's time. Both reach the same page cache
/// pages, so the map, `sync` and recovery see one file either way.
const PWRITE_MIN: usize = 4096;

/// A log file's bytes in the operating system, reached through a map of the reserved
/// chunk; see the module comment.
pub(super) struct MmapStorage {
    file: File,
    /// The current chunk's map; None for a chunk written with `pwrite` alone (Linux,
    /// after a chunk of mostly big records) and before the first reservation.
    map: Option<MmapMut>,
    /// File offset of the start of the current chunk.
    map_start: u64,
    /// Length of the current chunk.
    chunk_len: usize,
    /// Bytes of the current chunk written so far.
    written: usize,
    /// Of those, bytes of records of at least [`PWRITE_MIN`] bytes.
    big: usize,
    /// Bytes of the current chunk written before the last `sync`.
    synced: usize,
    /// Whether a finished chunk's unsynced bytes are handed to early write-back.
    early_write_back: bool,
    /// A chunk was reserved since the last `sync`: the file's size changed and an
    /// earlier chunk may hold unsynced bytes, so the next sync covers the whole file.
    grown: bool,
}

impl MmapStorage {
    /// Storage in `file`, which must be empty.
    pub(super) fn new(file: File) -> Self {
        MmapStorage {
            file,
            map: None,
            map_start: 0,
            chunk_len: 0,
            written: 0,
            big: 0,
            synced: 0,
            grown: false,
            early_write_back: true,
        }
    }

    /// Unmaps the current chunk (if mapped). Its unsynced bytes are only scheduled for
    /// write-back, not waited for: an `MS_SYNC` msync here made the writer wait for the
    /// disk every chunk, on a log that was not asked to be durable. On Linux, unmapping a
    /// shared mapping leaves its dirty pages in the page cache (`MS_ASYNC` is a no-op there),
    /// and early write-back starts writing them; the next `sync`'s fdatasync waits for
    /// whatever is left, with the rest of the file. Systems that only promise durability
    /// for mapped writes through a flush of the view (Windows' `FlushViewOfFile`, which
    /// is what `MS_ASYNC` maps to there) get that flush.
    fn retire_chunk(&mut self) -> io::Result<()> {
        let unsynced = self.written - self.synced;
        if let Some(map) = self.map.as_ref().filter(|_| unsynced > 0) {
            // On error the map stays, and the next reservation retries.
            map.flush_async_range(self.synced, unsynced)?;
        }
        self.map = None;
        if unsynced > 0 && self.early_write_back {
            // Have Linux start writing the full chunk now, so that the `sync` at a
            // memtable switch does not wait for every chunk of the log. After the unmap:
            // pages no longer mapped need no write-protecting first.
            super::writeback::start(&self.file, self.map_start + self.synced as u64, unsynced as u64);
        }
        Ok(())
    }
}

/// Allocates `[start, start + len)` of `file`, extending it: afterwards writes there
/// need no new space.
#[cfg(target_os = "linux")]
fn allocate(file: &File, start: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(start), libc::off_t::try_from(len)) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "log offset out of range"));
    };
    loop {
        // SAFETY: fallocate reads and writes none of our memory; `file` keeps the
        // descriptor open for the call, and the kernel checks the range.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            // A file system without fallocate: allocate by writing zeros.
            Some(libc::EOPNOTSUPP) => return write_zeros(file, start, len as u64),
            _ => return Err(err),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn allocate(file: &File, start: u64, len: u64) -> io::Result<()> {
    write_zeros(file, start, len)
}

/// Allocates by writing zeros (where `fallocate` is missing): slower, equally safe.
fn write_zeros(file: &File, start: u64, len: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let zeros = [0u8; 64 * 1024];
    let mut f = file;
    f.seek(SeekFrom::Start(start))?;
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Writes `data` at `offset` of `file` with `pwrite`.
#[cfg(unix)]
fn write_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(data, offset)
}

#[cfg(not(unix))]
fn write_at(_file: &File, _data: &[u8], _offset: u64) -> io::Result<()> {
    // Never reached: chunks are unmapped, and big records pwritten, on Linux only.
    Err(io::Error::new(io::ErrorKind::Unsupported, "log write without a map"))
}

impl LogStorage for MmapStorage {
    fn reserve(&mut self, start: u64, len: u64) -> io::Result<()> {
        // A chunk filled mostly by records big enough for pwrite gains nothing from a
        // map: the next one is written with pwrite alone, which saves mapping, faulting
        // in, locking and unmapping it (with 16 KiB values, those took about 40% of the
        // writer's time). Small records bring the map back at the next chunk.
        let unmapped = cfg!(target_os = "linux") && self.written > 0 && self.big * 4 >= self.written * 3;
        self.retire_chunk()?;
        allocate(&self.file, start, len)?;
        let len = usize::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "chunk too big"))?;
        self.map_start = start;
        self.chunk_len = len;
        self.written = 0;
        self.big = 0;
        self.synced = 0;
        self.grown = true;
        if unmapped {
            return Ok(());
        }
        // SAFETY: the map covers [start, start + len), which `allocate` just made part of
        // the file with its blocks allocated, so writing it needs no new space. The file
        // is ours alone (the promise `FileSystem::create_log`'s caller makes: the engine
        // keeps its directory locked against other processes, and no other handle in
        // this process writes or truncates a live log), so the mapped pages cannot
        // vanish or change under us. `start` is a multiple of 64 KiB (`FIRST_CHUNK`),
        // hence page-aligned as mmap requires.
        let map = unsafe { MmapOptions::new().offset(start).len(len).map_mut(&self.file)? };
        // Best effort (Linux 5.14 and later): fault the chunk in writable now, in one
        // call, rather than one read fault (the lock below) and one write fault (the
        // first copy into each page) per page later.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::PopulateWrite);
        // Best effort (RLIMIT_MEMLOCK may refuse): keeps the chunk's pages resident, so
        // a write into a page already written back never has to read it from disk.
        let _ = map.lock();
        self.map = Some(map);
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let at = offset.checked_sub(self.map_start).and_then(|a| usize::try_from(a).ok());
        let Some(end) = at.and_then(|at| at.checked_add(data.len())).filter(|&end| end <= self.chunk_len) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "log write outside the reserved space"));
        };
        let at = end - data.len();
        if data.len() >= PWRITE_MIN {
            self.big += data.len();
        }
        match self.map.as_mut() {
            // Linux only: there a map and pwrite share the page cache (not every Unix
            // does: OpenBSD's buffer cache is not unified).
            Some(map) if !cfg!(target_os = "linux") || data.len() < PWRITE_MIN => map[at..end].copy_from_slice(data),
            _ => write_at(&self.file, data, offset)?,
        }
        self.written = self.written.max(end);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let unsynced = self.written - self.synced;
        // After a reservation the file's size changed and a retired chunk may hold
        // unsynced bytes: the whole file. Otherwise only the current chunk's new bytes,
        // whose msync on Linux is an fdatasync of their range. (Elsewhere msync need
        // not reach the disk, and Windows and macOS ask for the map to be flushed
        // before the file: both, always.)
        let whole_file = self.grown || self.map.is_none();
        let linux = cfg!(target_os = "linux");
        if let Some(map) = self.map.as_ref().filter(|_| unsynced > 0 && (!whole_file || !linux)) {
            map.flush_range(self.synced, unsynced)?;
        }
        if whole_file || !linux {
            // On Linux fdatasync writes back pages dirtied through a map as through
            // write(2).
            self.file.sync_data()?;
            self.grown = false;
        }
        self.synced = self.written;
        Ok(())
    }

    fn truncate(&mut self, len: u64) {
        self.map = None;
        let _ = self.file.set_len(len);
    }

    fn set_early_write_back(&mut self, on: bool) {
        self.early_write_back = on;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fs::prealloc_log::{PreallocatedLog, CHUNK, FIRST_CHUNK};
    use crate::fs::WritableFile;

    fn open(path: &std::path::Path) -> PreallocatedLog<MmapStorage> {
        PreallocatedLog::new(MmapStorage::new(
            std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(path).unwrap(),
        ))
    }

    #[test]
    fn appends_across_chunks_are_visible_without_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.log");
        let mut f = open(&path);
        let mut expected = Vec::new();
        // Records of awkward sizes so that some straddle chunk boundaries, and every
        // 50th big enough to be written with pwrite, sharing pages with mapped ones.
        for i in 0..3000u32 {
            let len = if i % 50 == 0 { PWRITE_MIN as u32 + i % 3000 } else { (i % 977) + 1 };
            let record: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            f.append(&record).unwrap();
            expected.extend_from_slice(&record);
        }
        assert!(expected.len() as u64 > CHUNK, "the test must cross a chunk boundary");
        // Another reader sees every byte at once (no flush), then the zero tail.
        let seen = std::fs::read(&path).unwrap();
        assert_eq!(&seen[..expected.len()], &expected[..]);
        assert!(seen[expected.len()..].iter().all(|&b| b == 0));
        assert_eq!(seen.len() as u64 % CHUNK, 0);
        f.sync().unwrap();
        f.append(b"tail").unwrap();
        drop(f);
        // Dropping trims the preallocated zeros.
        expected.extend_from_slice(b"tail");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    /// A chunk after one filled by big records is written with pwrite alone, the chunk
    /// after one of small records is mapped again, and every byte lands where it was
    /// written whichever way it went.
    #[cfg(target_os = "linux")]
    #[test]
    fn chunks_of_big_records_go_unmapped_and_small_records_bring_the_map_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.log");
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
        let mut storage = MmapStorage::new(file);
        let mut expected = vec![0u8; 3 * CHUNK as usize];
        let mut put = |storage: &mut MmapStorage, offset: usize, len: usize, seed: u8| {
            let data: Vec<u8> = (0..len).map(|j| seed.wrapping_add(j as u8) | 1).collect();
            storage.write(offset as u64, &data).unwrap();
            expected[offset..offset + len].copy_from_slice(&data);
        };
        let chunk = CHUNK as usize;
        storage.reserve(0, CHUNK).unwrap();
        assert!(storage.map.is_some(), "the first chunk is mapped");
        let big = 4 * PWRITE_MIN;
        for i in 0..chunk / big - 1 {
            put(&mut storage, i * big, big, i as u8);
        }
        put(&mut storage, chunk - big, 100, 1); // a few small ones among them
        storage.reserve(CHUNK, CHUNK).unwrap();
        assert!(storage.map.is_none(), "a chunk after big records is not mapped");
        for i in 0..2000 {
            put(&mut storage, chunk + i * 300, 300, i as u8);
        }
        put(&mut storage, chunk + 2000 * 300, big, 7);
        storage.sync().unwrap();
        storage.reserve(2 * CHUNK, CHUNK).unwrap();
        assert!(storage.map.is_some(), "small records bring the map back");
        put(&mut storage, 2 * chunk, 500, 9);
        put(&mut storage, 2 * chunk + 500, big, 11);
        assert!(storage.write(3 * CHUNK - 10, &[1; 20]).is_err(), "a write past the reservation is refused");
        storage.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    /// The chunk's blocks are allocated before it is mapped (not a sparse hole a
    /// mapped write would have to fill, faulting with SIGBUS on a full disk).
    #[cfg(unix)]
    #[test]
    fn reserved_space_is_allocated_not_sparse() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.log");
        let mut f = open(&path);
        f.append(b"x").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), FIRST_CHUNK);
        assert!(meta.blocks() * 512 >= FIRST_CHUNK, "only {} bytes allocated", meta.blocks() * 512);
        f.append(&vec![1u8; FIRST_CHUNK as usize]).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), CHUNK, "the second reservation reaches the first chunk boundary");
        assert!(meta.blocks() * 512 >= CHUNK, "only {} bytes allocated", meta.blocks() * 512);
    }
}
