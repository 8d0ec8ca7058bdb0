//! [`VersionEdit`]: one change to the set of live files, as recorded in the MANIFEST.
//!
//! Each MANIFEST record (framed by the log format of [`crate::log`]) is one edit, a
//! sequence of tagged fields:
//!
//! ```text
//! edit  := field*
//! field := 1 log_number: varint64          WALs numbered below this are obsolete
//!        | 2 next_file_number: varint64
//!        | 3 last_sequence: varint64
//!        | 4 deleted_file: level varint32 | number varint64
//!        | 5 new_file: level varint32 | number varint64 | size varint64
//!                      | smallest: len-prefixed internal key | largest: len-prefixed
//!                      | min_seq varint64 | max_seq varint64
//!                      | num_entries varint64 | num_deletions varint64
//!                      (the last six are the table's summary, encoded as in its
//!                       properties block: sstable::format::TableSummary)
//!        | 6 new_file_with_range_deletions: as 5 | num_range_deletions varint64
//!                      (a table holding range tombstones; older strata refuse the
//!                       unknown tag rather than misread the table's bounds)
//!        | 7 keyspace: id varint32             the keyspace whose files fields 4-6 name
//!                                              (absent: 0, the default keyspace)
//!        | 8 keyspace_log_number: id varint32 | number varint64
//!                                              field 1 for a keyspace other than 0
//!        | 9 new_keyspace: id varint32 | name: len-prefixed | options: len-prefixed
//!                      (options as `Options::encode_keyspace` lays them out)
//!        | 10 dropped_keyspace: id varint32
//!        | 11 next_keyspace_id: varint32       ids are never reused: a dropped
//!                                              keyspace's records may remain in a WAL
//!        | 12 file_written_at: number varint64 | unix seconds varint64
//!                                              when the edit's new file `number` (a
//!                                              field 5 or 6 before it) was written;
//!                                              only for tables written under FIFO
//!                                              with a maximum age (and kept for them
//!                                              at every later MANIFEST rewrite)
//! (each field starts with its tag as a varint32)
//! ```
//!
//! A database that never created a keyspace writes none of tags 7-11, so its MANIFEST
//! is what a strata without keyspaces writes; one that did is refused by such a strata
//! (unknown tag) instead of being misread. Likewise tag 12, written only for tables
//! written under FIFO with a maximum age.

use crate::sstable::format::{TableProperties, TableSummary};
use crate::util::coding::{put_length_prefixed, put_varint32, put_varint64, Decoder};

const TAG_LOG_NUMBER: u32 = 1;
const TAG_NEXT_FILE: u32 = 2;
const TAG_LAST_SEQUENCE: u32 = 3;
const TAG_DELETED_FILE: u32 = 4;
const TAG_NEW_FILE: u32 = 5;
const TAG_NEW_FILE_WITH_RANGE_DELS: u32 = 6;
const TAG_KEYSPACE: u32 = 7;
const TAG_KEYSPACE_LOG_NUMBER: u32 = 8;
const TAG_NEW_KEYSPACE: u32 = 9;
const TAG_DROPPED_KEYSPACE: u32 = 10;
const TAG_NEXT_KEYSPACE_ID: u32 = 11;
const TAG_FILE_WRITTEN_AT: u32 = 12;

/// The id of the keyspace named "default", which every database has.
pub(crate) const DEFAULT_KEYSPACE: u32 = 0;

/// A keyspace as its creation record names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyspaceRecord {
    /// Never reused within a database.
    pub id: u32,
    pub name: String,
    /// Its options, encoded by `Options::encode_keyspace`.
    pub options: Vec<u8>,
}

/// What the MANIFEST records about one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NewFile {
    /// Level the file joins.
    pub level: u32,
    /// File number (`NNNNNN.sst`).
    pub number: u64,
    /// File size in bytes.
    pub size: u64,
    /// Key and seqno ranges and counts, from the table's properties.
    pub summary: TableSummary,
    /// When the table was written, in seconds since the Unix epoch; 0 if not recorded
    /// (only FIFO with a maximum age records it).
    pub written_at: u64,
}

impl NewFile {
    /// Describes table `number` of `size` bytes, joining `level`, from its properties.
    pub(crate) fn from_properties(level: u32, number: u64, size: u64, props: TableProperties) -> Self {
        NewFile { level, number, size, summary: props.summary, written_at: 0 }
    }
}

/// One atomic change to the version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VersionEdit {
    /// The keyspace whose files `deleted_files` and `new_files` name.
    pub keyspace: u32,
    /// New oldest live WAL number per keyspace: WALs numbered below it hold none of
    /// that keyspace's unflushed writes.
    pub log_numbers: Vec<(u32, u64)>,
    /// New value of the file-number counter.
    pub next_file_number: Option<u64>,
    /// Highest seqno whose write is in a table.
    pub last_sequence: Option<u64>,
    /// Files leaving the version: (level, number).
    pub deleted_files: Vec<(u32, u64)>,
    /// Files joining the version.
    pub new_files: Vec<NewFile>,
    /// Keyspaces created (before the edit's files are applied).
    pub new_keyspaces: Vec<KeyspaceRecord>,
    /// Keyspaces dropped.
    pub dropped_keyspaces: Vec<u32>,
    /// The id the next created keyspace takes.
    pub next_keyspace_id: Option<u32>,
}

impl VersionEdit {
    /// Encodes the edit as a MANIFEST record.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for k in &self.new_keyspaces {
            put_varint32(&mut out, TAG_NEW_KEYSPACE);
            put_varint32(&mut out, k.id);
            put_length_prefixed(&mut out, k.name.as_bytes());
            put_length_prefixed(&mut out, &k.options);
        }
        if self.keyspace != DEFAULT_KEYSPACE {
            put_varint32(&mut out, TAG_KEYSPACE);
            put_varint32(&mut out, self.keyspace);
        }
        for &(keyspace, number) in &self.log_numbers {
            if keyspace == DEFAULT_KEYSPACE {
                put_varint32(&mut out, TAG_LOG_NUMBER);
            } else {
                put_varint32(&mut out, TAG_KEYSPACE_LOG_NUMBER);
                put_varint32(&mut out, keyspace);
            }
            put_varint64(&mut out, number);
        }
        for (tag, v) in [(TAG_NEXT_FILE, self.next_file_number), (TAG_LAST_SEQUENCE, self.last_sequence)] {
            if let Some(v) = v {
                put_varint32(&mut out, tag);
                put_varint64(&mut out, v);
            }
        }
        if let Some(id) = self.next_keyspace_id {
            put_varint32(&mut out, TAG_NEXT_KEYSPACE_ID);
            put_varint32(&mut out, id);
        }
        for &id in &self.dropped_keyspaces {
            put_varint32(&mut out, TAG_DROPPED_KEYSPACE);
            put_varint32(&mut out, id);
        }
        for &(level, number) in &self.deleted_files {
            put_varint32(&mut out, TAG_DELETED_FILE);
            put_varint32(&mut out, level);
            put_varint64(&mut out, number);
        }
        for f in &self.new_files {
            let range_dels = f.summary.num_range_deletions;
            put_varint32(&mut out, if range_dels > 0 { TAG_NEW_FILE_WITH_RANGE_DELS } else { TAG_NEW_FILE });
            put_varint32(&mut out, f.level);
            put_varint64(&mut out, f.number);
            put_varint64(&mut out, f.size);
            f.summary.encode_to(&mut out);
            if range_dels > 0 {
                put_varint64(&mut out, range_dels);
            }
            if f.written_at != 0 {
                put_varint32(&mut out, TAG_FILE_WRITTEN_AT);
                put_varint64(&mut out, f.number);
                put_varint64(&mut out, f.written_at);
            }
        }
        out
    }

    /// Decodes a MANIFEST record; the error says what was malformed.
    pub(crate) fn decode(src: &[u8]) -> Result<VersionEdit, String> {
        let mut d = Decoder::new(src);
        let mut e = VersionEdit::default();
        while !d.is_empty() {
            let tag = d.varint32().ok_or("truncated tag")?;
            let bad = || format!("malformed field with tag {tag}");
            match tag {
                TAG_LOG_NUMBER => e.log_numbers.push((DEFAULT_KEYSPACE, d.varint64().ok_or_else(bad)?)),
                TAG_KEYSPACE => e.keyspace = d.varint32().ok_or_else(bad)?,
                TAG_KEYSPACE_LOG_NUMBER => {
                    let keyspace = d.varint32().ok_or_else(bad)?;
                    e.log_numbers.push((keyspace, d.varint64().ok_or_else(bad)?));
                }
                TAG_NEW_KEYSPACE => {
                    let k = (|| {
                        let id = d.varint32()?;
                        let name = String::from_utf8(d.length_prefixed()?.to_vec()).ok()?;
                        Some(KeyspaceRecord { id, name, options: d.length_prefixed()?.to_vec() })
                    })()
                    .ok_or_else(bad)?;
                    e.new_keyspaces.push(k);
                }
                TAG_DROPPED_KEYSPACE => e.dropped_keyspaces.push(d.varint32().ok_or_else(bad)?),
                TAG_NEXT_KEYSPACE_ID => e.next_keyspace_id = Some(d.varint32().ok_or_else(bad)?),
                TAG_NEXT_FILE => e.next_file_number = Some(d.varint64().ok_or_else(bad)?),
                TAG_LAST_SEQUENCE => e.last_sequence = Some(d.varint64().ok_or_else(bad)?),
                TAG_DELETED_FILE => {
                    let level = d.varint32().ok_or_else(bad)?;
                    e.deleted_files.push((level, d.varint64().ok_or_else(bad)?));
                }
                TAG_NEW_FILE | TAG_NEW_FILE_WITH_RANGE_DELS => {
                    let f = (|| {
                        let mut f = NewFile {
                            level: d.varint32()?,
                            number: d.varint64()?,
                            size: d.varint64()?,
                            summary: TableSummary::decode_from(&mut d)?,
                            written_at: 0,
                        };
                        if tag == TAG_NEW_FILE_WITH_RANGE_DELS {
                            f.summary.num_range_deletions = d.varint64().filter(|&n| n > 0)?;
                        }
                        Some(f)
                    })()
                    .ok_or_else(bad)?;
                    e.new_files.push(f);
                }
                TAG_FILE_WRITTEN_AT => {
                    let number = d.varint64().ok_or_else(bad)?;
                    let at = d.varint64().filter(|&at| at > 0).ok_or_else(bad)?;
                    let file = e.new_files.iter_mut().rev().find(|f| f.number == number);
                    file.ok_or_else(|| format!("time of file {number}, which the edit does not add"))?.written_at = at;
                }
                _ => return Err(format!("unknown field tag {tag}")),
            }
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = VersionEdit {
            keyspace: 3,
            log_numbers: vec![(0, 7), (3, 9)],
            new_keyspaces: vec![KeyspaceRecord { id: 3, name: "log".into(), options: vec![1, 2, 3] }],
            dropped_keyspaces: vec![2],
            next_keyspace_id: Some(4),
            next_file_number: Some(20),
            last_sequence: Some(1 << 50),
            deleted_files: vec![(0, 3), (2, 9)],
            new_files: [0, 3]
                .map(|num_range_deletions| NewFile {
                    level: 1,
                    number: 12 + num_range_deletions,
                    size: 4096,
                    summary: TableSummary {
                        smallest: b"a\x01\0\0\0\0\0\0\0".to_vec(),
                        largest: b"z\x01\0\0\0\0\0\0\0".to_vec(),
                        min_seq: 1,
                        max_seq: 100,
                        num_entries: 50,
                        num_deletions: 2,
                        num_range_deletions,
                    },
                    written_at: num_range_deletions * 1_000_000,
                })
                .to_vec(),
        };
        assert_eq!(VersionEdit::decode(&e.encode()), Ok(e.clone()));
        assert_eq!(VersionEdit::decode(&[]), Ok(VersionEdit::default()));
        let enc = e.encode();
        for cut in 1..enc.len() {
            // Every strict prefix either decodes to fewer fields or fails; never panics.
            if let Ok(partial) = VersionEdit::decode(&enc[..cut]) {
                assert_ne!(partial, e);
            }
        }
        assert!(VersionEdit::decode(&[99, 1]).unwrap_err().contains("unknown"));
    }
}
