//! [`PreallocatedLog`]: a write-ahead log file that reserves its space a chunk at a time
//! and is written in place, over any [`LogStorage`].
//!
//! The operating system's storage ([`super::mmap_log::MmapStorage`]) copies records
//! into a shared memory map; the fault-injecting file system (`testing::FaultyFs`)
//! supplies an in-memory one. Both run this file's logic (chunking, reservation,
//! durability, trimming), so the crash suites exercise the production WAL.
//!
//! Layout on disk: the records, then zeros up to the end of the last reserved chunk.
//! Space is *reserved* (allocated, not just a sparse size) before anything is written
//! into it, so a full disk is an `Err` from `append`, never a fault on a later write
//! into the map. A log left by a crash may thus end in up to a chunk of zeros, which the
//! log reader treats as unused space. Dropping the file (a clean close or a memtable
//! switch) trims it to the bytes appended.

use std::io;

use super::WritableFile;

/// Bytes reserved at a time: one reservation (and, for the mapped storage, one `mmap`)
/// per ~8,000 small writes, and at most this much zero tail in a crashed log.
pub(crate) const CHUNK: u64 = 1 << 20;

/// The first reservation of a log, which then grows to the next [`CHUNK`] boundary and
/// goes on a chunk at a time. Every log begins with a small start record, so a log that
/// never gets a write (an idle database's) would otherwise hold a whole chunk of disk;
/// 64 KiB is a multiple of every common page size, as a map's offset must be.
pub(crate) const FIRST_CHUNK: u64 = 64 << 10;

/// The size of the reservation that starts at `reserved`, the end of the last one.
fn reservation_at(reserved: u64) -> u64 {
    match reserved {
        0 => FIRST_CHUNK,
        r if r < CHUNK => CHUNK - r,
        _ => CHUNK,
    }
}

/// Where a [`PreallocatedLog`] keeps its bytes.
pub(crate) trait LogStorage: Send {
    /// Makes `[start, start + len)` part of the file with its space allocated, and
    /// writable by [`LogStorage::write`]; `start` is the end of the previous
    /// reservation, a multiple of [`FIRST_CHUNK`]. A full disk is an error here.
    fn reserve(&mut self, start: u64, len: u64) -> io::Result<()>;
    /// Copies `data` to `offset`, inside the last reservation. Once it returns, the
    /// bytes survive a crash of the process (not yet a power loss).
    fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes every byte written so far, and the file's size, durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes (best effort, when the log is closed).
    fn truncate(&mut self, len: u64);
    /// See [`WritableFile::set_early_write_back`].
    fn set_early_write_back(&mut self, _on: bool) {}
}

/// A log file written in place into space reserved a chunk at a time; see the module
/// comment.
pub(crate) struct PreallocatedLog<S: LogStorage> {
    storage: S,
    /// Bytes appended (the log's logical length).
    len: u64,
    /// End of the reserved space.
    reserved: u64,
    /// Set by `retire`: appends are refused from then on.
    retired: bool,
}

impl<S: LogStorage> PreallocatedLog<S> {
    /// A log over `storage`, which must be empty.
    pub(crate) fn new(storage: S) -> Self {
        PreallocatedLog { storage, len: 0, reserved: 0, retired: false }
    }
}

impl<S: LogStorage> WritableFile for PreallocatedLog<S> {
    fn append(&mut self, mut data: &[u8]) -> io::Result<()> {
        if self.retired {
            return Err(io::Error::other("append to a retired log"));
        }
        while !data.is_empty() {
            if self.len == self.reserved {
                // On error nothing changes, and a later append retries.
                let len = reservation_at(self.reserved);
                self.storage.reserve(self.reserved, len)?;
                self.reserved += len;
            }
            let n = ((self.reserved - self.len) as usize).min(data.len());
            self.storage.write(self.len, &data[..n])?;
            self.len += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        // `write` already put the bytes where a process crash cannot take them.
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.storage.sync()
    }

    fn set_early_write_back(&mut self, on: bool) {
        self.storage.set_early_write_back(on);
    }

    fn retire(&mut self) {
        self.storage.truncate(self.len);
        self.retired = true;
    }
}

impl<S: LogStorage> Drop for PreallocatedLog<S> {
    fn drop(&mut self) {
        // A log left with its zero tail still reads correctly.
        self.storage.truncate(self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Storage in a vector that records what it was asked to do.
    #[derive(Default)]
    struct Recorder {
        bytes: Vec<u8>,
        reserves: Vec<(u64, u64)>,
        fail_reserve: bool,
    }

    impl LogStorage for &mut Recorder {
        fn reserve(&mut self, start: u64, len: u64) -> io::Result<()> {
            if self.fail_reserve {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
            }
            assert_eq!(start, self.bytes.len() as u64);
            self.reserves.push((start, len));
            self.bytes.resize((start + len) as usize, 0);
            Ok(())
        }
        fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            let at = offset as usize;
            self.bytes[at..at + data.len()].copy_from_slice(data);
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn truncate(&mut self, len: u64) {
            self.bytes.truncate(len as usize);
        }
    }

    #[test]
    fn appends_straddle_chunks_and_a_failed_reservation_writes_nothing() {
        let mut rec = Recorder::default();
        let mut expected = Vec::new();
        {
            let mut log = PreallocatedLog::new(&mut rec);
            for i in 0..3000u32 {
                let record: Vec<u8> = (0..(i % 977) + 1).map(|j| (i + j) as u8).collect();
                log.append(&record).unwrap();
                expected.extend_from_slice(&record);
            }
            log.storage.fail_reserve = true;
            let room = (log.reserved - log.len) as usize;
            let err = log.append(&vec![1u8; room + 10]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::StorageFull);
            // What fitted the reserved space was written; the caller treats the log as
            // failed (a torn record is dropped at recovery).
            expected.extend(std::iter::repeat_n(1u8, room));
            log.storage.fail_reserve = false;
        }
        assert_eq!(rec.reserves[..2], [(0, FIRST_CHUNK), (FIRST_CHUNK, CHUNK - FIRST_CHUNK)]);
        assert!(rec.reserves.len() > 2 && rec.reserves[2..].iter().all(|&(s, l)| l == CHUNK && s % CHUNK == 0));
        assert_eq!(rec.bytes, expected, "dropping trims the reserved zeros");
    }

    #[test]
    fn a_retired_log_is_trimmed_refuses_appends_and_still_syncs() {
        let mut rec = Recorder::default();
        {
            let mut log = PreallocatedLog::new(&mut rec);
            log.append(b"record").unwrap();
            log.retire();
            assert_eq!(log.storage.bytes, b"record", "the reserved zeros are trimmed at once");
            assert!(log.append(b"more").is_err());
            log.sync().unwrap();
        }
        assert_eq!(rec.bytes, b"record");
    }
}
