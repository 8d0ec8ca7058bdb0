//! The record log shared by the WAL and the MANIFEST (LevelDB's `log_format`).
//!
//! A log file is a sequence of 32 KiB blocks. A record is written as one or more
//! *fragments*, each with a 7-byte header, so that a record never straddles a block
//! boundary without a header and a reader can resynchronise at any block start:
//!
//! ```text
//! block := fragment* trailer?
//! fragment := crc32: u32 LE | length: u16 LE | type: u8 | data: [u8; length]
//! trailer  := 0-6 zero bytes (too little room left in the block for a header)
//! type     := 1 FULL | 2 FIRST | 3 MIDDLE | 4 LAST
//! crc32    := crc32fast over the type byte followed by the data
//! ```
//!
//! A record that fits the rest of the block is one FULL fragment; otherwise a FIRST,
//! zero or more MIDDLE, and a LAST. The CRC covers each fragment, so a torn write at the
//! end of the file (a crash mid-append) is recognised and dropped, while damage in the
//! middle is reported as corruption.

mod reader;
mod writer;

pub(crate) use reader::{LogReader, TailMode};
pub use writer::LogWriter;

/// Size of a log block.
pub(crate) const BLOCK_SIZE: usize = 32 * 1024;
/// Size of a fragment header.
pub(crate) const HEADER_SIZE: usize = 7;

/// Fragment types.
pub(crate) const FULL: u8 = 1;
pub(crate) const FIRST: u8 = 2;
pub(crate) const MIDDLE: u8 = 3;
pub(crate) const LAST: u8 = 4;

/// The CRC of a fragment: over its type byte and its data.
pub(crate) fn fragment_crc(kind: u8, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(data);
    h.finalize()
}

#[cfg(test)]
mod tests;
