//! [`WriteBatch`]: a group of puts, deletes and range deletions applied atomically, and
//! its encoding, which is also the payload of a WAL record.
//!
//! ```text
//! batch  := seqno: u64 LE | count: u32 LE | entry*
//! entry  := kind: u8 (1 = put, 0 = delete, 2 = range delete; | 0x80 if a keyspace id
//!                    follows) | [keyspace: varint32] | key_len: varint | key
//!           | [value_len: varint | value]       (a put's value; a range delete's end key,
//!                                                 its key being the start)
//! ```
//!
//! An entry without the 0x80 flag is for the default keyspace (id 0), so a database
//! that never made a keyspace writes the records it always did.
//!
//! The entries of a batch take consecutive sequence numbers starting at `seqno`, in the
//! order they were added, so a later entry for the same key wins.

use crate::key::ValueKind;
use crate::key::{MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::util::coding::{put_length_prefixed, put_varint32, read_u32, read_u64, Decoder};

const HEADER_LEN: usize = 12;
/// Set on an entry's kind byte when a keyspace id follows it.
const KEYSPACE_FLAG: u8 = 0x80;

/// A group of puts and deletes that `Db::write` applies all or nothing, also across a
/// crash. Later operations on a key win over earlier ones in the same batch.
///
/// ```
/// use strata::WriteBatch;
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
/// db.put("from", "100")?;
/// let mut transfer = WriteBatch::new();
/// transfer.put("from", "70");
/// transfer.put("to", "30");
/// transfer.delete("pending");
/// assert_eq!(transfer.len(), 3);
/// db.write(transfer)?; // a reader sees both balances change, or neither
/// assert_eq!(db.get("to")?.as_deref(), Some(&b"30"[..]));
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct WriteBatch {
    rep: Vec<u8>,
    /// The first key or value that breaks the limits; reported by `Db::write`.
    invalid: Option<String>,
    /// The keyspaces other than the default one that entries name, with the identity of
    /// the handle each came from: `Db::write` checks they belong to its database.
    keyspaces: Vec<(u32, u64)>,
    /// Some entry is for the default keyspace.
    has_default: bool,
}

impl Default for WriteBatch {
    fn default() -> Self {
        WriteBatch { rep: vec![0; HEADER_LEN], invalid: None, keyspaces: Vec::new(), has_default: false }
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for one operation on a key and value of these lengths,
    /// so that a single put encodes without growing its buffer.
    pub(crate) fn for_one(key_len: usize, value_len: usize) -> Self {
        let mut rep = Vec::with_capacity(HEADER_LEN + 1 + 2 * 5 + key_len + value_len);
        rep.resize(HEADER_LEN, 0);
        WriteBatch { rep, invalid: None, keyspaces: Vec::new(), has_default: false }
    }

    /// Adds a put of `key` → `value`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.put_to(0, key.as_ref(), value.as_ref());
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.delete_to(0, key.as_ref());
    }

    /// Notes that entries of keyspace `id` come from a handle with identity `handle`.
    pub(crate) fn note_keyspace(&mut self, id: u32, handle: u64) {
        if !self.keyspaces.contains(&(id, handle)) {
            self.keyspaces.push((id, handle));
        }
    }

    /// The keyspaces (id, handle identity) that entries name besides the default one.
    pub(crate) fn keyspaces(&self) -> &[(u32, u64)] {
        &self.keyspaces
    }

    /// True if an entry is for the default keyspace.
    pub(crate) fn has_default(&self) -> bool {
        self.has_default
    }

    /// Starts an entry of `kind` for keyspace `keyspace`.
    #[inline]
    fn push_kind(&mut self, keyspace: u32, kind: ValueKind) {
        if keyspace == 0 {
            self.has_default = true;
            self.rep.push(kind as u8);
        } else {
            self.rep.push(kind as u8 | KEYSPACE_FLAG);
            put_varint32(&mut self.rep, keyspace);
        }
    }

    /// [`WriteBatch::put`] into keyspace `keyspace`.
    #[inline]
    pub(crate) fn put_to(&mut self, keyspace: u32, key: &[u8], value: &[u8]) {
        self.check(key, value.len());
        self.push_kind(keyspace, ValueKind::Put);
        put_length_prefixed(&mut self.rep, key);
        put_length_prefixed(&mut self.rep, value);
        self.set_count(self.len() as u32 + 1);
    }

    /// [`WriteBatch::delete`] in keyspace `keyspace`.
    pub(crate) fn delete_to(&mut self, keyspace: u32, key: &[u8]) {
        self.check(key, 0);
        self.push_kind(keyspace, ValueKind::Delete);
        put_length_prefixed(&mut self.rep, key);
        self.set_count(self.len() as u32 + 1);
    }

    /// Adds a deletion of every key `k` with `start <= k < end` (half-open, as
    /// RocksDB's `DeleteRange`): one tombstone, whatever number of keys it covers.
    /// `start` may be empty (everything below `end`); `start >= end` makes the write
    /// fail with `Error::InvalidArgument`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for i in 0..100u32 {
    ///     db.put(format!("log:{i:03}"), "entry")?;
    /// }
    /// let mut truncate = strata::WriteBatch::new();
    /// truncate.delete_range("log:000", "log:090"); // keeps 090..099
    /// truncate.put("log:first", "090");
    /// db.write(truncate)?;
    /// assert_eq!(db.prefix("log:0").count(), 10);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn delete_range(&mut self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) {
        self.delete_range_to(0, start.as_ref(), end.as_ref());
    }

    /// [`WriteBatch::delete_range`] in keyspace `keyspace`.
    pub(crate) fn delete_range_to(&mut self, keyspace: u32, start: &[u8], end: &[u8]) {
        if self.invalid.is_none() && start >= end {
            self.invalid = Some("a range deletion's start must sort before its end".into());
        }
        // The keys' limits are a put's; only the start may be empty.
        self.check(end, 0);
        if !start.is_empty() {
            self.check(start, 0);
        }
        self.push_kind(keyspace, ValueKind::RangeDelete);
        put_length_prefixed(&mut self.rep, start);
        put_length_prefixed(&mut self.rep, end);
        self.set_count(self.len() as u32 + 1);
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        read_u32(&self.rep, 8).unwrap_or(0) as usize
    }

    /// True if the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        *self = WriteBatch::default();
    }

    fn check(&mut self, key: &[u8], value_len: usize) {
        if self.invalid.is_some() {
            return;
        }
        if key.is_empty() {
            self.invalid = Some("keys must not be empty".into());
        } else if key.len() > MAX_KEY_LEN {
            self.invalid = Some(format!("key of {} bytes is over the limit of {MAX_KEY_LEN}", key.len()));
        } else if value_len > MAX_VALUE_LEN {
            self.invalid = Some(format!("value of {value_len} bytes is over the limit of {MAX_VALUE_LEN}"));
        }
    }

    /// Why the batch may not be written, if a key or value broke the limits.
    pub(crate) fn invalid(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    fn set_count(&mut self, n: u32) {
        self.rep[8..12].copy_from_slice(&n.to_le_bytes());
    }

    /// The sequence number of the first entry.
    pub(crate) fn seq(&self) -> u64 {
        read_u64(&self.rep, 0).unwrap_or(0)
    }

    pub(crate) fn set_seq(&mut self, seq: u64) {
        self.rep[..8].copy_from_slice(&seq.to_le_bytes());
    }

    /// The encoded batch, as written to the WAL.
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.rep
    }

    /// Appends the entries of `other` (its header is dropped).
    pub(crate) fn append(&mut self, other: &WriteBatch) {
        self.set_count((self.len() + other.len()) as u32);
        self.rep.extend_from_slice(&other.rep[HEADER_LEN..]);
        self.has_default |= other.has_default;
        for &(id, handle) in &other.keyspaces {
            self.note_keyspace(id, handle);
        }
    }

    /// Decodes a batch read back from a WAL record; `None` if it is malformed.
    pub(crate) fn decode(rep: Vec<u8>) -> Option<WriteBatch> {
        if rep.len() < HEADER_LEN {
            return None;
        }
        let batch = WriteBatch { rep, ..WriteBatch::default() };
        let mut n = 0usize;
        for entry in batch.iter() {
            entry?;
            n += 1;
        }
        (n == batch.len()).then_some(batch)
    }

    /// The entries in order; an item is `None` if the encoding is malformed.
    pub(crate) fn iter(&self) -> BatchIter<'_> {
        BatchIter { d: Decoder::new(&self.rep[HEADER_LEN..]) }
    }
}

/// One operation of a batch.
pub(crate) struct BatchEntry<'a> {
    /// The keyspace's id (0: the default one).
    pub keyspace: u32,
    pub kind: ValueKind,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Iterator over the entries of an encoded batch.
pub(crate) struct BatchIter<'a> {
    d: Decoder<'a>,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Option<BatchEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.d.is_empty() {
            return None;
        }
        let entry = (|| {
            let byte = self.d.u8()?;
            let keyspace = if byte & KEYSPACE_FLAG != 0 { self.d.varint32()? } else { 0 };
            let kind = ValueKind::from_u8(byte & !KEYSPACE_FLAG)?;
            let key = self.d.length_prefixed()?;
            let value = match kind {
                ValueKind::Put | ValueKind::RangeDelete => self.d.length_prefixed()?,
                ValueKind::Delete => &[],
            };
            Some(BatchEntry { keyspace, kind, key, value })
        })();
        if entry.is_none() {
            self.d = Decoder::new(&[]); // stop after the first malformed entry
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let mut b = WriteBatch::new();
        assert!(b.is_empty());
        b.put("a", "1");
        b.delete("b");
        b.put("c", "");
        b.set_seq(42);
        let d = WriteBatch::decode(b.encoded().to_vec()).unwrap();
        assert_eq!(d.seq(), 42);
        assert_eq!(d.len(), 3);
        let got: Vec<_> = d.iter().map(|e| e.unwrap()).map(|e| (e.kind, e.key.to_vec(), e.value.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (ValueKind::Put, b"a".to_vec(), b"1".to_vec()),
                (ValueKind::Delete, b"b".to_vec(), vec![]),
                (ValueKind::Put, b"c".to_vec(), vec![]),
            ]
        );
    }

    #[test]
    fn append_concatenates() {
        let mut a = WriteBatch::new();
        a.put("x", "1");
        let mut b = WriteBatch::new();
        b.put("y", "2");
        b.delete("x");
        a.append(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.iter().count(), 3);
    }

    #[test]
    fn malformed_batches_are_rejected() {
        assert!(WriteBatch::decode(vec![0; 5]).is_none());
        let mut b = WriteBatch::new();
        b.put("key", "value");
        let enc = b.encoded().to_vec();
        for cut in 1..enc.len() - HEADER_LEN {
            assert!(WriteBatch::decode(enc[..enc.len() - cut].to_vec()).is_none(), "cut {cut}");
        }
        let mut wrong_count = enc.clone();
        wrong_count[8] = 2;
        assert!(WriteBatch::decode(wrong_count).is_none());
        let mut bad_kind = enc;
        bad_kind[HEADER_LEN] = 9;
        assert!(WriteBatch::decode(bad_kind).is_none());
    }

    #[test]
    fn range_deletions_encode_their_end_as_the_value_and_check_their_bounds() {
        let mut b = WriteBatch::new();
        b.delete_range("", "m");
        b.put("x", "1");
        let d = WriteBatch::decode(b.encoded().to_vec()).unwrap();
        let got: Vec<_> = d.iter().map(|e| e.unwrap()).map(|e| (e.kind, e.key.to_vec(), e.value.to_vec())).collect();
        assert_eq!(got[0], (ValueKind::RangeDelete, vec![], b"m".to_vec()));
        assert!(b.invalid().is_none());
        for (start, end) in [("b", "a"), ("a", "a")] {
            let mut b = WriteBatch::new();
            b.delete_range(start, end);
            assert!(b.invalid().unwrap().contains("before its end"), "{start}..{end}");
        }
        let mut b = WriteBatch::new();
        b.delete_range("a", vec![b'b'; MAX_KEY_LEN + 1]);
        assert!(b.invalid().unwrap().contains("over the limit"));
        let mut b = WriteBatch::new();
        b.delete_range(vec![b'a'; MAX_KEY_LEN + 1], "b");
        assert!(b.invalid().unwrap().contains("over the limit"));
    }

    #[test]
    fn entries_carry_their_keyspace() {
        let mut b = WriteBatch::new();
        b.put("a", "1");
        b.put_to(300, b"b", b"2");
        b.delete_range_to(7, b"c", b"d");
        b.delete_to(0, b"e");
        let d = WriteBatch::decode(b.encoded().to_vec()).unwrap();
        let got: Vec<_> = d.iter().map(|e| e.unwrap()).map(|e| (e.keyspace, e.kind, e.key.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (0, ValueKind::Put, b"a".to_vec()),
                (300, ValueKind::Put, b"b".to_vec()),
                (7, ValueKind::RangeDelete, b"c".to_vec()),
                (0, ValueKind::Delete, b"e".to_vec()),
            ]
        );
        // The default keyspace's entries are encoded as before keyspaces existed.
        assert_eq!(b.encoded()[HEADER_LEN], ValueKind::Put as u8);
    }

    #[test]
    fn limits_are_recorded() {
        let mut b = WriteBatch::new();
        b.put("", "v");
        assert!(b.invalid().unwrap().contains("empty"));
        let mut b = WriteBatch::new();
        b.delete(vec![0u8; MAX_KEY_LEN + 1]);
        assert!(b.invalid().unwrap().contains("over the limit"));
        let mut b = WriteBatch::new();
        b.put(vec![0u8; MAX_KEY_LEN], "v");
        assert!(b.invalid().is_none());
    }
}
