//! openraft's state machine on strata, and its snapshots.
//!
//! Promises: the data a batch of entries writes and the applied log id (and membership)
//! that covers it go in one strata batch, so after any crash `applied_state` names exactly
//! what the `kv` keyspace holds and openraft re-applies from there. A snapshot is read
//! from one strata snapshot (data, applied id and membership of the same instant, while
//! apply goes on) and is durable before `build_snapshot` returns, because openraft may purge
//! the log it covers. Installing one writes its file first, then replaces the whole `kv`
//! keyspace, applied id and membership in one synced batch (a `delete_range` over the key
//! space and the snapshot's pairs): a crash leaves the old state or the new one, and a
//! restart installs the file again if the batch was lost.
//!
//! Snapshot file, `snapshots/{last index:020}.snap`, all integers little-endian:
//! ```text
//! "RKVSNAP1" | meta length u32 | meta (JSON SnapshotMeta) | data | crc32 u32 of all before
//! data = { key length u32 | key | value length u32 | value }*
//! ```
//! The data section alone is what travels between nodes (`SnapshotData`).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};

use futures::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use strata::WriteBatch;

use crate::store::{from_json, io_err, synced, to_json, Store};
use crate::types::MAX_KEY_LEN;
use crate::{Request, Response, TypeConfig};

const MAGIC: &[u8; 8] = b"RKVSNAP1";

/// A key after every client key (all are at most `MAX_KEY_LEN` bytes).
fn kv_end() -> Vec<u8> {
    vec![0xFF; MAX_KEY_LEN + 1]
}

/// The replicated key-value state of one node.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
}

impl StateMachine {
    /// The state machine over a node's database.
    pub fn new(store: Store) -> StateMachine {
        StateMachine { store }
    }

    /// The value of `key` as this node has applied it (not linearizable by itself).
    pub fn read(&self, key: &str) -> io::Result<Option<String>> {
        match self.store.kv.get(key).map_err(io_err)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes.to_vec()).map(Some).map_err(io_err),
        }
    }
}

/// Builds one snapshot from a strata snapshot taken when openraft asked for the builder.
pub struct SnapshotBuilder {
    store: Store,
    view: strata::Snapshot,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<TypeConfig, Cursor<Vec<u8>>>> {
        let get = |key: &str| -> io::Result<Option<Vec<u8>>> {
            Ok(self.view.get_in(&self.store.meta, key).map_err(io_err)?.map(|b| b.to_vec()))
        };
        let last_log_id: Option<LogIdOf<TypeConfig>> = get("applied")?.map(|b| from_json(&b)).transpose()?;
        let last_membership: StoredMembershipOf<TypeConfig> =
            get("membership")?.map(|b| from_json(&b)).transpose()?.unwrap_or_default();
        let mut data = Vec::new();
        for item in self.view.range_in::<&[u8], _>(&self.store.kv, ..) {
            let (key, value) = item.map_err(io_err)?;
            put_pair(&mut data, &key, &value);
        }
        let meta = SnapshotMetaOf::<TypeConfig> { last_log_id, last_membership };
        save_snapshot_file(&self.store, &meta, &data)?;
        Ok(Snapshot { meta, snapshot: Cursor::new(data) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>)> {
        let applied = self.store.get_meta("applied")?;
        let membership = self.store.get_meta("membership")?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<S>(&mut self, mut entries: S) -> io::Result<()>
    where
        S: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let mut batch = WriteBatch::new();
        // Values this batch already wrote: a later command in it must see them.
        let mut pending: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut last_applied = None;
        let mut last_membership = None;
        let mut responders = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let response = match &entry.payload {
                EntryPayload::Blank => Response { ok: true, previous: None },
                EntryPayload::Membership(m) => {
                    last_membership = Some(StoredMembershipOf::<TypeConfig>::new(Some(log_id), m.clone()));
                    Response { ok: true, previous: None }
                }
                EntryPayload::Normal(request) => {
                    let key = request.key().to_string();
                    let previous = match pending.get(&key) {
                        Some(value) => value.clone(),
                        None => self.read(&key)?,
                    };
                    let (ok, new) = match request {
                        Request::Put { value, .. } => (true, Some(Some(value.clone()))),
                        Request::Delete { .. } => (true, Some(None)),
                        Request::Cas { expected, new, .. } if *expected == previous => (true, Some(new.clone())),
                        Request::Cas { .. } => (false, None),
                    };
                    if let Some(new) = new {
                        match &new {
                            Some(value) => batch.put_in(&self.store.kv, &key, value),
                            None => batch.delete_in(&self.store.kv, &key),
                        }
                        pending.insert(key, new);
                    }
                    Response { ok, previous }
                }
            };
            last_applied = Some(log_id);
            if let Some(responder) = responder {
                responders.push((responder, response));
            }
        }
        if let Some(applied) = &last_applied {
            batch.put_in(&self.store.meta, "applied", to_json(applied)?);
        }
        if let Some(membership) = &last_membership {
            batch.put_in(&self.store.meta, "membership", to_json(membership)?);
        }
        // Unsynced: the log is durable, and openraft re-applies from `applied`, which is
        // written with the data it covers.
        self.store.db.write(batch).map_err(io_err)?;
        for (responder, response) in responders {
            responder.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder { store: self.store.clone(), view: self.store.db.snapshot() }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: Cursor<Vec<u8>>,
    ) -> io::Result<()> {
        let data = snapshot.into_inner();
        let pairs = parse_pairs(&data)?;
        save_snapshot_file(&self.store, meta, &data)?;
        let mut batch = WriteBatch::new();
        batch.delete_range_in(&self.store.kv, [], kv_end());
        for (key, value) in pairs {
            batch.put_in(&self.store.kv, key, value);
        }
        batch.put_in(&self.store.meta, "applied", to_json(&meta.last_log_id)?);
        batch.put_in(&self.store.meta, "membership", to_json(&meta.last_membership)?);
        self.store.db.write_opt(batch, &synced()).map_err(io_err)
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<SnapshotOf<TypeConfig, Cursor<Vec<u8>>>>> {
        let newest = {
            let _files = self.store.snapshot_files.lock().unwrap_or_else(|e| e.into_inner());
            newest_snapshot_file(&self.store.snapshot_dir)?.map(|path| fs::read(&path).map(|bytes| (path, bytes)))
        };
        let Some((path, bytes)) = newest.transpose()? else {
            return Ok(None);
        };
        let (meta, data) = decode_snapshot_file(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
        Ok(Some(Snapshot { meta, snapshot: Cursor::new(data.to_vec()) }))
    }
}

fn put_pair(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    for part in [key, value] {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    }
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    if data.len() < n {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "snapshot data cut short"));
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn take_u32(data: &mut &[u8]) -> io::Result<usize> {
    let bytes = take(data, 4)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
}

/// The (key, value) pairs of a snapshot's data section; `InvalidData` unless each is
/// one the service could have stored (a key of 1 to `MAX_KEY_LEN` bytes, UTF-8 both).
pub fn parse_pairs(mut data: &[u8]) -> io::Result<Vec<(&[u8], &[u8])>> {
    let mut pairs = Vec::new();
    while !data.is_empty() {
        let key_len = take_u32(&mut data)?;
        let key = take(&mut data, key_len)?;
        let value_len = take_u32(&mut data)?;
        let value = take(&mut data, value_len)?;
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "snapshot key of a bad length"));
        }
        if std::str::from_utf8(key).is_err() || std::str::from_utf8(value).is_err() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "snapshot pair not UTF-8"));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

fn encode_snapshot_file(meta: &SnapshotMetaOf<TypeConfig>, data: &[u8]) -> io::Result<Vec<u8>> {
    let meta = to_json(meta)?;
    let mut out = Vec::with_capacity(16 + meta.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn decode_snapshot_file(bytes: &[u8]) -> io::Result<(SnapshotMetaOf<TypeConfig>, &[u8])> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not a snapshot file"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(bad("snapshot checksum mismatch"));
    }
    let mut rest = &body[MAGIC.len()..];
    let meta_len = take_u32(&mut rest)?;
    let meta = from_json(take(&mut rest, meta_len)?)?;
    parse_pairs(rest)?;
    Ok((meta, rest))
}

fn snapshot_path(dir: &Path, meta: &SnapshotMetaOf<TypeConfig>) -> PathBuf {
    let index = meta.last_log_id.as_ref().map_or(0, |id| id.index());
    dir.join(format!("{index:020}.snap"))
}

/// Writes the snapshot file durably (temporary file, fsync, rename, directory fsync), then
/// removes the older ones. A snapshot older than one already saved (built while a newer one
/// was installed) is not saved: the newest file always stays.
fn save_snapshot_file(store: &Store, meta: &SnapshotMetaOf<TypeConfig>, data: &[u8]) -> io::Result<()> {
    let _files = store.snapshot_files.lock().unwrap_or_else(|e| e.into_inner());
    let dir = store.snapshot_dir.as_path();
    let path = snapshot_path(dir, meta);
    if newest_snapshot_file(dir)?.is_some_and(|newest| newest > path) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(&encode_snapshot_file(meta, data)?)?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    fs::File::open(dir)?.sync_all()?;
    for entry in fs::read_dir(dir)? {
        let other = entry?.path();
        if other != path {
            fs::remove_file(&other)?;
        }
    }
    Ok(())
}

fn newest_snapshot_file(dir: &Path) -> io::Result<Option<PathBuf>> {
    let mut newest = None;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "snap") && newest.as_ref().is_none_or(|n| path > *n) {
            newest = Some(path);
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_file_round_trips_and_refuses_damage() {
        let meta = SnapshotMetaOf::<TypeConfig>::default();
        let mut data = Vec::new();
        put_pair(&mut data, b"k1", b"v1");
        put_pair(&mut data, b"k2", b"");
        let file = encode_snapshot_file(&meta, &data).unwrap();
        let (back, pairs) = decode_snapshot_file(&file).unwrap();
        assert_eq!(back, meta);
        assert_eq!(parse_pairs(pairs).unwrap(), vec![(&b"k1"[..], &b"v1"[..]), (&b"k2"[..], &b""[..])]);
        for (key, value) in
            [(&b""[..], &b"v"[..]), (&b"k"[..], &b"\xff"[..]), (&[b'k'; MAX_KEY_LEN + 1][..], &b"v"[..])]
        {
            let mut bad = Vec::new();
            put_pair(&mut bad, key, value);
            assert!(parse_pairs(&bad).is_err(), "{key:?} = {value:?} accepted");
        }
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x40;
            assert!(decode_snapshot_file(&bad).is_err(), "flip at {i} accepted");
        }
        for len in 0..file.len() {
            assert!(decode_snapshot_file(&file[..len]).is_err(), "cut at {len} accepted");
        }
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let meta = |index| SnapshotMetaOf::<TypeConfig> {
            last_log_id: Some(openraft::testing::log_id::<TypeConfig>(1, 1, index)),
            last_membership: Default::default(),
        };
        let files = || -> Vec<PathBuf> {
            let mut files: Vec<PathBuf> =
                fs::read_dir(&store.snapshot_dir).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            files
        };
        save_snapshot_file(&store, &meta(10), b"").unwrap();
        save_snapshot_file(&store, &meta(5), b"").unwrap();
        assert_eq!(files(), vec![snapshot_path(&store.snapshot_dir, &meta(10))]);
        save_snapshot_file(&store, &meta(20), b"").unwrap();
        assert_eq!(files(), vec![snapshot_path(&store.snapshot_dir, &meta(20))]);
    }

    #[test]
    fn the_key_space_end_sorts_after_every_allowed_key() {
        let end = kv_end();
        assert!(vec![0xFF; MAX_KEY_LEN] < end);
        assert!(vec![0xFE; MAX_KEY_LEN] < end);
    }
}
