//! [`LogReader`]: reads records back from a log file's bytes and tells a torn tail
//! (expected after a crash) from damage in the middle (never expected).
//!
//! When a fragment fails its checks, the reader looks at the start of every later block:
//! if any begins an intact record, good data follows the damage and the log is corrupt; otherwise the damage is the tail, which is dropped (and its size counted)
//! unless the caller asked for [`TailMode::Strict`].

use super::{fragment_crc, BLOCK_SIZE, FIRST, FULL, HEADER_SIZE, LAST, MIDDLE};
use crate::error::{Error, Result};
use crate::util::coding::read_u32;

/// What to do with damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TailMode {
    /// Stop at the first damage of any kind, wherever it is, and drop the rest of the
    /// log (counted in [`LogReader::dropped_bytes`]): the log is read as the prefix
    /// before it. For WALs after a power loss, whose unsynced pages may reach the disk
    /// out of order.
    PointInTime,
    /// Drop a torn or corrupt tail silently (counted in [`LogReader::dropped_bytes`]);
    /// damage followed by an intact record is corruption.
    Tolerate,
    /// Report any damage, even at the tail, as corruption.
    Strict,
}

/// Reads records from the bytes of one log file.
pub(crate) struct LogReader {
    data: Vec<u8>,
    name: String,
    pos: usize,
    mode: TailMode,
    dropped: u64,
    /// Where the fragment after a damaged one would start, if its length was readable.
    resume_hint: Option<usize>,
}

enum Fragment<'a> {
    Ok {
        kind: u8,
        data: &'a [u8],
        start: usize,
    },
    /// Damage at `at`; `why` says what check failed.
    Bad {
        at: usize,
        why: &'static str,
    },
    Eof,
}

impl LogReader {
    /// Reads `data`, the whole content of the log file called `name` (used in errors).
    pub(crate) fn new(data: Vec<u8>, name: impl Into<String>, mode: TailMode) -> Self {
        LogReader { data, name: name.into(), pos: 0, mode, dropped: 0, resume_hint: None }
    }

    /// Bytes of torn or corrupt tail dropped so far.
    pub(crate) fn dropped_bytes(&self) -> u64 {
        self.dropped
    }

    /// True once damage ended the log early (a dropped tail).
    pub(crate) fn stopped_at_damage(&self) -> bool {
        self.dropped > 0
    }

    /// The next record, `None` at the end of the log (or of its good prefix).
    pub(crate) fn next_record(&mut self) -> Result<Option<Vec<u8>>> {
        let mut record: Option<(Vec<u8>, usize)> = None;
        loop {
            match self.next_fragment() {
                Fragment::Eof => {
                    if let Some((_, start)) = record {
                        // A record whose last fragment never made it: a torn tail.
                        return self.tail(start, self.data.len(), "record missing its last fragment");
                    }
                    return Ok(None);
                }
                Fragment::Bad { at, why } => {
                    let start = record.as_ref().map_or(at, |r| r.1);
                    return self.tail(start, at, why);
                }
                Fragment::Ok { kind, data, start } => match (kind, &mut record) {
                    (FULL, None) => return Ok(Some(data.to_vec())),
                    (FIRST, None) => record = Some((data.to_vec(), start)),
                    (MIDDLE, Some((buf, _))) => buf.extend_from_slice(data),
                    (LAST, Some((buf, _))) => {
                        let mut out = std::mem::take(buf);
                        out.extend_from_slice(data);
                        return Ok(Some(out));
                    }
                    _ => {
                        let at = record.as_ref().map_or(start, |r| r.1);
                        return self.tail(at, start, "fragment out of order");
                    }
                },
            }
        }
    }

    /// Handles damage found at `damage` inside the record that starts at `at`:
    /// corruption if a later record starts after it (or in strict mode), otherwise the
    /// end of the log.
    fn tail(&mut self, at: usize, damage: usize, why: &str) -> Result<Option<Vec<u8>>> {
        let refuse = match self.mode {
            TailMode::Strict => true,
            TailMode::Tolerate | TailMode::PointInTime => false,
        };
        if refuse || self.mode != TailMode::PointInTime && self.record_starts_after(damage) {
            return Err(Error::corruption(&self.name, Some(at as u64), format!("log record damaged: {why}")));
        }
        self.dropped += (self.data.len() - at) as u64;
        self.pos = self.data.len();
        Ok(None)
    }

    /// True if an intact FULL or FIRST fragment follows the damage, i.e. a whole new
    /// record was written after it. (A lone MIDDLE or LAST may belong to the damaged
    /// record itself, whose pages reached the disk out of order.)
    fn record_starts_after(&self, damage: usize) -> bool {
        if self.resume_hint.is_some_and(|hint| hint > damage && self.record_starts_in_chain(hint)) {
            return true;
        }
        let mut block = (damage / BLOCK_SIZE + 1) * BLOCK_SIZE;
        while block + HEADER_SIZE <= self.data.len() {
            if self.record_starts_in_chain(block) {
                return true;
            }
            block += BLOCK_SIZE;
        }
        // A damaged length field hides where the next fragment starts: look for an intact
        // record start at every later offset. Slow, but only ever run on damage.
        (damage + 1..self.data.len().saturating_sub(HEADER_SIZE - 1)).any(|p| {
            matches!(self.data[p + 6], FULL | FIRST)
                && self
                    .parse_header(p)
                    .is_some_and(|(kind, data)| fragment_crc(kind, data) == read_u32(&self.data, p).unwrap_or(0))
        })
    }

    /// Follows intact fragments from `pos` to the end of its block; true if one of them
    /// is a FULL or FIRST.
    fn record_starts_in_chain(&self, mut pos: usize) -> bool {
        let block_end = (pos / BLOCK_SIZE + 1) * BLOCK_SIZE;
        while pos + HEADER_SIZE <= block_end {
            let Some((kind, data)) = self.parse_header(pos) else { return false };
            if fragment_crc(kind, data) != read_u32(&self.data, pos).unwrap_or(0) {
                return false;
            }
            if matches!(kind, FULL | FIRST) {
                return true;
            }
            pos += HEADER_SIZE + data.len();
        }
        false
    }

    /// The type and data of the fragment whose header is at `pos`, if its length fits
    /// inside the block and the file.
    fn parse_header(&self, pos: usize) -> Option<(u8, &[u8])> {
        let header = self.data.get(pos..pos + HEADER_SIZE)?;
        let len = u16::from_le_bytes([header[4], header[5]]) as usize;
        let kind = header[6];
        let end = pos + HEADER_SIZE + len;
        if end > (pos / BLOCK_SIZE + 1) * BLOCK_SIZE {
            return None;
        }
        Some((kind, self.data.get(pos + HEADER_SIZE..end)?))
    }

    fn next_fragment(&mut self) -> Fragment<'_> {
        loop {
            let left_in_block = BLOCK_SIZE - self.pos % BLOCK_SIZE;
            if left_in_block < HEADER_SIZE {
                self.pos += left_in_block; // skip the block trailer
                continue;
            }
            let start = self.pos;
            if start >= self.data.len() {
                return Fragment::Eof;
            }
            if start + HEADER_SIZE > self.data.len() {
                return Fragment::Bad { at: start, why: "truncated fragment header" };
            }
            let header = &self.data[start..start + HEADER_SIZE];
            if self.data[start..].iter().all(|&b| b == 0) {
                // Nothing but zeros to the end: space a writer preallocated and never
                // used (see fs::prealloc_log), not a damaged record.
                return Fragment::Eof;
            }
            if header.iter().all(|&b| b == 0) {
                // Zeros where a header should be: preallocated or zero-filled space.
                return Fragment::Bad { at: start, why: "zeroed fragment header" };
            }
            let Some((kind, data)) = self.parse_header(start) else {
                let len = u16::from_le_bytes([header[4], header[5]]) as usize;
                let past_block = start + HEADER_SIZE + len > (start / BLOCK_SIZE + 1) * BLOCK_SIZE;
                let why = match past_block {
                    true => "fragment length runs past its block",
                    false => "fragment cut short by the end of the file",
                };
                return Fragment::Bad { at: start, why };
            };
            let stored = read_u32(header, 0).unwrap_or(0);
            if stored != fragment_crc(kind, data) {
                // The length looked sane, so the next fragment probably starts right after
                // this one: remember it so a good record there is recognised.
                self.resume_hint = Some(start + HEADER_SIZE + data.len());
                return Fragment::Bad { at: start, why: "fragment checksum mismatch" };
            }
            if !matches!(kind, FULL | FIRST | MIDDLE | LAST) {
                return Fragment::Bad { at: start, why: "unknown fragment type" };
            }
            self.pos = start + HEADER_SIZE + data.len();
            let data = &self.data[start + HEADER_SIZE..self.pos];
            return Fragment::Ok { kind, data, start };
        }
    }
}
