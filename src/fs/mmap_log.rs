//! [`MmapLogFile`]: the operating system's file for write-ahead logs, appended through a
//! shared memory map instead of one `write(2)` per record.
//!
//! A write is acknowledged once it survives a process crash, which for a `write(2)`-based
//! log costs a system call per write group (a quarter of a single-threaded put, measured).
//! Bytes copied into a `MAP_SHARED` mapping are in the page cache the moment the copy
//! ends, exactly where `write(2)` would have put them, so they survive `kill -9` just
//! the same; `sync` (msync, then fdatasync) makes them survive a power loss.
//!
//! The file grows in [`CHUNK`]-sized steps: it is extended with `set_len` (sparse, so
//! no disk is used until written) and the new chunk mapped. Hence a log left by a crash
//! ends in zeros up to a chunk boundary. LevelDB's mmap-era logs did the same, and the
//! log reader treats a zero-filled tail as unused space, not damage. Dropping the file
//! (a clean close or a memtable switch) truncates it to the bytes appended.

use std::fs::File;
use std::io;

use memmap2::{MmapMut, MmapOptions};

use super::WritableFile;

/// Bytes mapped (and preallocated) at a time: one `mmap` per ~8,000 small writes, and
/// at most this much zero tail in a crashed log. Each full chunk is handed to early
/// write-back ([`super::writeback`]).
pub const CHUNK: u64 = 1 << 20;

/// A log file appended through a memory map; see the module comment.
pub struct MmapLogFile {
    file: File,
    map: Option<MmapMut>,
    /// File offset of the start of `map`.
    map_start: u64,
    /// Bytes appended to the file (its logical length).
    len: u64,
    /// Bytes of `map` written since the last `sync`, from this offset in the map.
    unsynced_from: usize,
}

impl MmapLogFile {
    /// Appends to `file`, which must be empty.
    pub fn new(file: File) -> Self {
        MmapLogFile { file, map: None, map_start: 0, len: 0, unsynced_from: 0 }
    }

    /// Writes back the bytes of the current map appended since the last call.
    fn msync(&mut self) -> io::Result<()> {
        if let Some(map) = &self.map {
            let written = (self.len - self.map_start) as usize;
            if written > self.unsynced_from {
                map.flush_range(self.unsynced_from, written - self.unsynced_from)?;
            }
            self.unsynced_from = written;
        }
        Ok(())
    }

    /// Maps the next chunk. The old map is only scheduled for write-back, not waited
    /// for: an `MS_SYNC` msync here made the writer wait for the disk every chunk, on a
    /// log that was not asked to be durable. On Linux, unmapping a shared mapping leaves
    /// its dirty pages in the page cache (`MS_ASYNC` is a no-op there), and early
    /// write-back starts writing them; the next `sync`'s fdatasync waits for whatever is
    /// left, with the rest of the file. Systems that only
    /// promise durability for mapped writes through a flush of the view (Windows'
    /// `FlushViewOfFile`, which is what `MS_ASYNC` maps to there) get that flush.
    fn next_chunk(&mut self) -> io::Result<()> {
        let from = self.map_start + self.unsynced_from as u64;
        if let Some(map) = self.map.as_ref().filter(|_| self.len > from) {
            // On error the map stays, and the next append retries.
            map.flush_async_range(self.unsynced_from, (self.len - from) as usize)?;
        }
        if self.map.take().is_some() && self.len > from {
            // Have Linux start writing the full chunk now, so that the `sync` at a
            // memtable switch does not wait for every chunk of the log. After the unmap:
            // pages no longer mapped need no write-protecting first.
            super::writeback::start(&self.file, from, self.len - from);
        }
        let start = self.len;
        self.file.set_len(start + CHUNK)?;
        // SAFETY: the map covers [start, start + CHUNK), which `set_len` just made part of
        // the file. The file is ours alone: the database directory is locked against other
        // processes, and no other handle in this process writes or truncates a live log,
        // so the mapped pages cannot change or vanish under us (no SIGBUS). `start` is a
        // multiple of CHUNK, hence page-aligned as mmap requires.
        let map = unsafe { MmapOptions::new().offset(start).len(CHUNK as usize).map_mut(&self.file)? };
        self.map = Some(map);
        self.map_start = start;
        self.unsynced_from = 0;
        Ok(())
    }
}

impl WritableFile for MmapLogFile {
    fn append(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let at = (self.len - self.map_start) as usize;
            let room = match &self.map {
                Some(map) => map.len() - at,
                None => 0,
            };
            if room == 0 {
                self.next_chunk()?;
                continue;
            }
            let n = room.min(data.len());
            if let Some(map) = &mut self.map {
                map[at..at + n].copy_from_slice(&data[..n]);
            }
            self.len += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        // The bytes are already in the page cache.
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.msync()?;
        // Also makes the file's size (set_len) durable.
        self.file.sync_data()
    }
}

impl Drop for MmapLogFile {
    fn drop(&mut self) {
        self.map = None;
        // Best effort: a log left with its zero tail still reads correctly.
        let _ = self.file.set_len(self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> MmapLogFile {
        MmapLogFile::new(
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).unwrap(),
        )
    }

    #[test]
    fn appends_across_chunks_are_visible_without_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.log");
        let mut f = open(&path);
        let mut expected = Vec::new();
        // Records of awkward sizes so that some straddle chunk boundaries.
        for i in 0..3000u32 {
            let record: Vec<u8> = (0..(i % 977) + 1).map(|j| (i + j) as u8).collect();
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
}
