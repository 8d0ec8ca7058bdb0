//! [`LogWriter`]: appends records to a log file in the block format described in the
//! module above.

use std::io;

use super::{fragment_crc, BLOCK_SIZE, FIRST, FULL, HEADER_SIZE, LAST, MIDDLE};
use crate::fs::WritableFile;

/// Appends framed records to a log file.
pub struct LogWriter {
    file: Box<dyn WritableFile>,
    block_offset: usize,
    bytes_written: u64,
}

impl LogWriter {
    /// Starts a log at the beginning of `file`.
    pub fn new(file: Box<dyn WritableFile>) -> Self {
        LogWriter { file, block_offset: 0, bytes_written: 0 }
    }

    /// Appends one record (possibly split into fragments). The bytes may sit in a buffer
    /// until [`LogWriter::flush`] or [`LogWriter::sync`].
    pub fn add_record(&mut self, record: &[u8]) -> io::Result<()> {
        let mut rest = record;
        let mut first = true;
        loop {
            let left_in_block = BLOCK_SIZE - self.block_offset;
            if left_in_block < HEADER_SIZE {
                // Too small for a header: pad with zeros and start a new block.
                if left_in_block > 0 {
                    self.file.append(&[0u8; HEADER_SIZE][..left_in_block])?;
                    self.bytes_written += left_in_block as u64;
                }
                self.block_offset = 0;
            }
            let avail = BLOCK_SIZE - self.block_offset - HEADER_SIZE;
            let n = rest.len().min(avail);
            let last = n == rest.len();
            let kind = match (first, last) {
                (true, true) => FULL,
                (true, false) => FIRST,
                (false, false) => MIDDLE,
                (false, true) => LAST,
            };
            self.emit(kind, &rest[..n])?;
            rest = &rest[n..];
            first = false;
            if last {
                return Ok(());
            }
        }
    }

    fn emit(&mut self, kind: u8, data: &[u8]) -> io::Result<()> {
        let mut header = [0u8; HEADER_SIZE];
        header[..4].copy_from_slice(&fragment_crc(kind, data).to_le_bytes());
        header[4..6].copy_from_slice(&(data.len() as u16).to_le_bytes());
        header[6] = kind;
        self.file.append(&header)?;
        self.file.append(data)?;
        self.block_offset += HEADER_SIZE + data.len();
        self.bytes_written += (HEADER_SIZE + data.len()) as u64;
        Ok(())
    }

    /// Hands everything appended so far to the operating system.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync()
    }

    /// See [`WritableFile::set_early_write_back`].
    pub fn set_early_write_back(&mut self, on: bool) {
        self.file.set_early_write_back(on);
    }

    /// See [`WritableFile::retire`].
    pub fn retire(&mut self) {
        self.file.retire();
    }

    /// Bytes written to the file so far, framing included.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }
}
