//! Unit tests of [`super::Block`] and [`super::BlockIter`]: round trips, seeks checked
//! against sorted lists, and damaged blocks.

use super::super::block_builder::BlockBuilder;
use super::*;

fn build(keys: &[String], interval: usize) -> Arc<Block> {
    let mut b = BlockBuilder::new(interval);
    for k in keys {
        b.add(k.as_bytes(), format!("v-{k}").as_bytes());
    }
    Arc::new(Block::new(Bytes::from(b.finish().into_vec()), "test.sst".into(), 0).unwrap())
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key{:05}", i * 2)).collect()
}

#[test]
fn round_trip_for_every_restart_interval() {
    for interval in [1, 2, 3, 16, 1000] {
        for n in [1, 2, 15, 16, 17, 100] {
            let ks = keys(n);
            let block = build(&ks, interval);
            let mut it = block.iter(<[u8]>::cmp);
            it.seek_to_first();
            for k in &ks {
                assert!(it.valid());
                assert_eq!(it.key(), k.as_bytes());
                assert_eq!(it.value(), format!("v-{k}").as_bytes());
                it.next();
            }
            assert!(!it.valid());
            it.status().unwrap();
            // Backwards.
            it.seek_to_last();
            for k in ks.iter().rev() {
                assert_eq!(it.key(), k.as_bytes(), "interval {interval} n {n}");
                it.prev();
            }
            assert!(!it.valid());
            // Seeks to every key and between keys.
            for (i, k) in ks.iter().enumerate() {
                it.seek(k.as_bytes());
                assert_eq!(it.key(), k.as_bytes());
                let between = format!("key{:05}", i * 2 + 1);
                it.seek(between.as_bytes());
                match ks.get(i + 1) {
                    Some(next) => assert_eq!(it.key(), next.as_bytes()),
                    None => assert!(!it.valid()),
                }
                it.seek_for_prev(between.as_bytes());
                assert_eq!(it.key(), k.as_bytes());
            }
            it.seek(b"a");
            assert_eq!(it.key(), ks[0].as_bytes());
            it.seek_for_prev(b"a");
            assert!(!it.valid());
        }
    }
}

#[test]
fn empty_block_has_no_entries() {
    let block = build(&[], 16);
    let mut it = block.iter(<[u8]>::cmp);
    it.seek_to_first();
    assert!(!it.valid());
    it.seek_to_last();
    assert!(!it.valid());
    it.seek(b"x");
    assert!(!it.valid());
    it.status().unwrap();
}

/// Internal keys over `n` user keys, two versions each (a put and an older
/// delete), with seqnos from small to the largest there is.
fn internal_keys(n: usize) -> Vec<Vec<u8>> {
    use crate::key::{make_internal_key, ValueKind, MAX_SEQUENCE};
    let mut out = Vec::new();
    for (i, k) in keys(n).iter().enumerate() {
        let seq = if i % 7 == 0 { MAX_SEQUENCE - i as u64 } else { (i as u64) << (i % 50) };
        out.push(make_internal_key(k.as_bytes(), seq.max(1), ValueKind::Put));
        out.push(make_internal_key(k.as_bytes(), seq.max(1) - 1, ValueKind::Delete));
    }
    out
}

#[test]
fn internal_key_blocks_round_trip_and_are_smaller() {
    use crate::key::compare_internal;
    for interval in [1, 3, 16] {
        let ks = internal_keys(60);
        let mut plain = BlockBuilder::new(interval);
        let mut internal = BlockBuilder::with_key_format(interval, KeyFormat::Internal);
        for k in &ks {
            plain.add(k, b"v");
            internal.add(k, b"v");
        }
        let (plain, internal) = (plain.finish().into_vec(), internal.finish().into_vec());
        assert!(internal.len() < plain.len(), "varint trailers must save space");
        let block =
            Arc::new(Block::with_key_format(Bytes::from(internal), KeyFormat::Internal, "t".into(), 0).unwrap());
        let mut it = block.iter(compare_internal);
        it.seek_to_first();
        for k in &ks {
            assert_eq!(it.key(), k.as_slice(), "interval {interval}");
            it.next();
        }
        assert!(!it.valid());
        it.seek_to_last();
        for k in ks.iter().rev() {
            assert_eq!(it.key(), k.as_slice());
            it.prev();
        }
        for k in &ks {
            it.seek(k);
            assert_eq!(it.key(), k.as_slice(), "seek, interval {interval}");
        }
        it.status().unwrap();
    }
}

#[test]
fn internal_key_seeks_agree_with_a_sorted_list() {
    use crate::key::{compare_internal, make_internal_key, ParsedKey, ValueKind, MAX_SEQUENCE};
    let ks = internal_keys(60);
    // Targets on, just before and just after every key in internal order (same
    // user key, neighbouring seqnos: only the trailer decides), between user keys,
    // and before and after them all.
    let mut targets =
        vec![make_internal_key(b"a", MAX_SEQUENCE, ValueKind::Put), make_internal_key(b"z", 0, ValueKind::Delete)];
    for k in &ks {
        let p = ParsedKey::parse(k).unwrap();
        targets.push(k.clone());
        targets.push(make_internal_key(p.user_key, (p.seq + 1).min(MAX_SEQUENCE), ValueKind::Put));
        targets.push(make_internal_key(p.user_key, p.seq.saturating_sub(1), ValueKind::Put));
        let mut between = p.user_key.to_vec();
        between.push(b'!');
        targets.push(make_internal_key(&between, MAX_SEQUENCE, ValueKind::Put));
    }
    for interval in [1, 3, 16] {
        let mut b = BlockBuilder::with_key_format(interval, KeyFormat::Internal);
        for k in &ks {
            b.add(k, b"v");
        }
        let block = Arc::new(
            Block::with_key_format(Bytes::from(b.finish().into_vec()), KeyFormat::Internal, "t".into(), 0).unwrap(),
        );
        let mut it = block.iter(compare_internal);
        for t in &targets {
            it.seek(t);
            let want = ks.iter().find(|k| compare_internal(k, t) != Ordering::Less);
            assert_eq!(it.valid().then(|| it.key().to_vec()).as_ref(), want, "interval {interval}");
            if let Some(w) = want {
                // The key the seek stopped at is whole: stepping on works from it.
                it.next();
                let after = ks.iter().position(|k| k == w).and_then(|i| ks.get(i + 1));
                assert_eq!(it.valid().then(|| it.key().to_vec()).as_ref(), after);
            }
        }
        it.status().unwrap();
    }
}

/// Keys over a two-letter alphabet, 0 to 7 letters long: many are prefixes of
/// others and neighbours share prefixes of every length, which is what the seek's
/// prefix bookkeeping must get right. Each has one to three versions.
fn prefix_rich_internal_keys() -> Vec<Vec<u8>> {
    use crate::key::{make_internal_key, ValueKind};
    let mut rng = crate::compression::lz4::decode::tests::xorshift(17);
    let mut users = std::collections::BTreeSet::new();
    // 150 of the 255 such keys.
    while users.len() < 150 {
        let len = (rng() % 8) as usize;
        users.insert((0..len).map(|_| b'a' + (rng() % 2) as u8).collect::<Vec<u8>>());
    }
    let mut out = Vec::new();
    for u in users {
        let versions = 1 + rng() % 3;
        for v in (0..versions).rev() {
            let kind = if rng().is_multiple_of(4) { ValueKind::Delete } else { ValueKind::Put };
            out.push(make_internal_key(&u, 10 + 5 * v, kind));
        }
    }
    out
}

#[test]
fn seeks_among_prefix_related_keys_agree_with_a_sorted_list() {
    use crate::key::{compare_internal, make_internal_key, ParsedKey, ValueKind};
    let ks = prefix_rich_internal_keys();
    let mut targets = Vec::new();
    let mut rng = crate::compression::lz4::decode::tests::xorshift(23);
    for _ in 0..400 {
        let len = (rng() % 8) as usize;
        let user: Vec<u8> = (0..len).map(|_| b'a' + (rng() % 3) as u8).collect();
        targets.push(make_internal_key(&user, rng() % 30, ValueKind::Put));
    }
    for k in &ks {
        let p = ParsedKey::parse(k).unwrap();
        targets.extend([k.clone(), make_internal_key(p.user_key, p.seq + 1, ValueKind::Put)]);
    }
    for format in [KeyFormat::Internal, KeyFormat::Plain] {
        for interval in [1, 2, 5, 16, 1000] {
            let mut b = BlockBuilder::with_key_format(interval, format);
            for (i, k) in ks.iter().enumerate() {
                b.add(k, format!("v{i}").as_bytes());
            }
            let block =
                Arc::new(Block::with_key_format(Bytes::from(b.finish().into_vec()), format, "t".into(), 0).unwrap());
            let mut it = block.iter(compare_internal);
            for t in &targets {
                let want = ks.iter().position(|k| compare_internal(k, t) != Ordering::Less);
                it.seek(t);
                assert_eq!(it.valid().then(|| it.key().to_vec()), want.map(|i| ks[i].clone()), "{format:?} {interval}");
                let (user, trailer) = (key::user_key(t), key::trailer(t));
                let found = block.seek_entry(user, trailer).unwrap();
                assert_eq!(found.as_ref().map(|f| f.value.clone()), want.map(|i| Bytes::from(format!("v{i}"))));
                let same = want.filter(|&i| key::user_key(&ks[i]) == user).map(|i| key::trailer(&ks[i]));
                assert_eq!(found.and_then(|f| f.same_key_trailer), same, "{format:?} {interval}");
            }
            it.status().unwrap();
        }
    }
}

#[test]
fn damaged_blocks_are_errors_not_panics() {
    assert!(Block::new(Bytes::from_static(&[1, 2]), "f".into(), 0).is_err());
    assert!(Block::new(Bytes::from_static(&[255, 255, 255, 255]), "f".into(), 0).is_err());
    assert!(Block::new(Bytes::from_static(&[0, 0, 0, 0]), "f".into(), 0).is_err());
    for format in [KeyFormat::Plain, KeyFormat::Internal] {
        every_damaged_byte(format);
    }
}

fn every_damaged_byte(format: KeyFormat) {
    let good = {
        let mut b = BlockBuilder::with_key_format(4, format);
        for k in internal_keys(20) {
            b.add(&k, b"value");
        }
        b.finish().into_vec()
    };
    let keys = internal_keys(20);
    let targets = [keys[0].clone(), keys[17].clone(), b"zzz-after-every-key".to_vec(), b"key00040".to_vec()];
    // Flip every byte in turn: iterating and seeking must either succeed or report
    // corruption.
    for i in 0..good.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= flip;
            let Ok(block) = Block::with_key_format(Bytes::from(bad), format, "x.sst".into(), 7) else { continue };
            let block = Arc::new(block);
            let mut it = block.iter(crate::key::compare_internal);
            let mut steps = 0;
            it.seek_to_first();
            while it.valid() && steps < 1000 {
                it.next();
                steps += 1;
            }
            it.seek_to_last();
            while it.valid() && steps < 2000 {
                it.prev();
                steps += 1;
            }
            assert!(steps < 2000, "no infinite loop");
            let mut errors = vec![it.status()];
            for t in &targets {
                it.seek(t);
                errors.push(it.status());
                let found = block.seek_entry(crate::key::user_key(t), crate::key::trailer(t));
                errors.push(found.map(|_| ()));
            }
            for e in errors.into_iter().filter_map(|r| r.err()) {
                assert!(e.to_string().contains("x.sst at offset 7"), "{e}");
            }
        }
    }
}
