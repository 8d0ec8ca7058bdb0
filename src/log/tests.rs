//! Round trips, fragmentation across blocks, torn tails and mid-log damage.

use super::*;
use crate::error::Error;
use crate::fs::{FileSystem, OsFileSystem};

fn write_log(records: &[Vec<u8>]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut w = LogWriter::new(OsFileSystem.create(&path).unwrap());
    for r in records {
        w.add_record(r).unwrap();
    }
    w.sync().unwrap();
    let data = OsFileSystem.read_all(&path).unwrap();
    assert_eq!(data.len() as u64, w.bytes_written());
    data
}

fn read_all(data: Vec<u8>, mode: TailMode) -> crate::Result<(Vec<Vec<u8>>, u64)> {
    let mut r = LogReader::new(data, "000001.log", mode);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push(rec);
    }
    Ok((out, r.dropped_bytes()))
}

fn sample() -> Vec<Vec<u8>> {
    vec![
        b"small".to_vec(),
        vec![],
        vec![7u8; BLOCK_SIZE - 2 * HEADER_SIZE - 5], // ends 7 bytes before the block end
        vec![1u8; 3 * BLOCK_SIZE + 100],             // spans four blocks
        (0..1000u32).flat_map(|i| i.to_le_bytes()).collect(),
    ]
}

#[test]
fn round_trip_with_fragmentation() {
    let recs = sample();
    let (back, dropped) = read_all(write_log(&recs), TailMode::Strict).unwrap();
    assert_eq!(back, recs);
    assert_eq!(dropped, 0);
}

#[test]
fn trailer_smaller_than_header_is_skipped() {
    // First record leaves exactly 3 bytes in the block: the writer pads them.
    let recs = vec![vec![9u8; BLOCK_SIZE - HEADER_SIZE - 3], b"next".to_vec()];
    let data = write_log(&recs);
    assert_eq!(data.len(), BLOCK_SIZE + HEADER_SIZE + 4);
    assert_eq!(read_all(data, TailMode::Strict).unwrap().0, recs);
}

#[test]
fn torn_tail_is_dropped_and_counted() {
    let recs = sample();
    let full = write_log(&recs);
    // Cut at many points inside the last record: only the earlier records survive.
    let last_len = recs.last().unwrap().len() + HEADER_SIZE;
    for cut in [1, 5, HEADER_SIZE, HEADER_SIZE + 1, last_len - 1] {
        let data = full[..full.len() - cut].to_vec();
        let kept = data.len();
        let (back, dropped) = read_all(data.clone(), TailMode::Tolerate).unwrap();
        assert_eq!(back, recs[..recs.len() - 1].to_vec(), "cut {cut}");
        assert_eq!(dropped, (kept - (full.len() - last_len)) as u64, "cut {cut}");
        assert!(matches!(read_all(data, TailMode::Strict), Err(Error::Corruption(_))));
    }
}

#[test]
fn torn_multi_block_record_is_a_tail() {
    let recs = vec![b"a".to_vec(), vec![3u8; 3 * BLOCK_SIZE]];
    let full = write_log(&recs);
    for cut_at in [BLOCK_SIZE + 10, 2 * BLOCK_SIZE + 1, full.len() - 1] {
        let (back, _) = read_all(full[..cut_at].to_vec(), TailMode::Tolerate).unwrap();
        assert_eq!(back, vec![b"a".to_vec()]);
    }
}

#[test]
fn zero_filled_tail_is_unused_space_in_every_mode() {
    // What a crashed log with reserved space (fs::prealloc_log) leaves after its last record.
    let recs = vec![b"one".to_vec(), b"two".to_vec()];
    let mut data = write_log(&recs);
    data.extend_from_slice(&[0u8; 3 * BLOCK_SIZE + 17]);
    for mode in [TailMode::PointInTime, TailMode::Tolerate, TailMode::Strict] {
        let (back, dropped) = read_all(data.clone(), mode).unwrap();
        assert_eq!(back, recs);
        assert_eq!(dropped, 0);
    }
}

#[test]
fn record_cut_short_by_zeros_is_a_torn_tail() {
    let recs = vec![b"one".to_vec(), vec![7u8; 2 * BLOCK_SIZE]];
    let full = write_log(&recs);
    // The second record's later fragments never made it: zeros instead.
    let mut data = full[..BLOCK_SIZE + 100].to_vec();
    data.resize(full.len() + BLOCK_SIZE, 0);
    let (back, dropped) = read_all(data.clone(), TailMode::Tolerate).unwrap();
    assert_eq!(back, vec![b"one".to_vec()]);
    assert!(dropped > 0);
    assert!(read_all(data, TailMode::Strict).is_err());
}

#[test]
fn zeros_followed_by_data_are_not_a_tail() {
    let recs = vec![b"one".to_vec(), b"two".to_vec()];
    let mut data = write_log(&recs);
    let first_len = HEADER_SIZE + 3;
    data[..first_len].fill(0);
    assert!(matches!(read_all(data, TailMode::Tolerate), Err(Error::Corruption(_))));
}

#[test]
fn corruption_in_the_middle_is_an_error() {
    // Within one block: flip a byte in the first record's data.
    let recs = vec![b"first record".to_vec(), b"second".to_vec(), b"third".to_vec()];
    let mut data = write_log(&recs);
    data[HEADER_SIZE + 2] ^= 0x40;
    match read_all(data, TailMode::Tolerate) {
        Err(Error::Corruption(msg)) => assert!(msg.contains("000001.log at offset 0"), "{msg}"),
        other => panic!("expected corruption, got {other:?}"),
    }

    // Across blocks: damage in block 0, an intact record starting in block 2.
    let recs = vec![vec![5u8; BLOCK_SIZE + 100], vec![6u8; BLOCK_SIZE], b"tail".to_vec()];
    let mut data = write_log(&recs);
    data[100] ^= 1;
    assert!(matches!(read_all(data, TailMode::Tolerate), Err(Error::Corruption(_))));
}

#[test]
fn garbage_never_panics() {
    let mut rng = crate::util::rng::Rng::new(0x1234_5678);
    for len in [0usize, 1, 6, 7, 8, 100, BLOCK_SIZE + 3] {
        let data = rng.bytes(len);
        let _ = read_all(data.clone(), TailMode::Tolerate);
        let _ = read_all(data, TailMode::Strict);
    }
}

#[test]
fn point_in_time_mode_stops_at_the_first_damage_even_with_good_records_after_it() {
    let recs: Vec<Vec<u8>> = (0..50u32).map(|i| vec![i as u8; 3000]).collect();
    let full = write_log(&recs);
    let mut holed = full.clone();
    holed[BLOCK_SIZE + 10..BLOCK_SIZE + 4000].fill(0);
    assert!(matches!(read_all(holed.clone(), TailMode::Tolerate), Err(Error::Corruption(_))));
    let (back, dropped) = read_all(holed, TailMode::PointInTime).unwrap();
    assert!(!back.is_empty() && back.len() < recs.len());
    assert_eq!(back, recs[..back.len()].to_vec(), "a prefix");
    assert!(dropped > 0);
    let mut flipped = full;
    let n = flipped.len();
    flipped[n - 2] ^= 1;
    assert_eq!(read_all(flipped.clone(), TailMode::PointInTime).unwrap().0, recs[..49].to_vec());
    assert_eq!(read_all(flipped, TailMode::Tolerate).unwrap().0, recs[..49].to_vec());
}
