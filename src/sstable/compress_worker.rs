//! [`CompressWorker`]: compresses a table's data blocks on a helper thread while the
//! thread building the table goes on to the next block.
//!
//! Why: LZ4 takes about half of a flush's CPU, and walking the memtable and building
//! blocks the other half (a cache miss per entry of a randomly filled memtable). With
//! the two on different cores, a flush takes about the longer half rather than the sum,
//! which is what a writer waiting on a full memtable, or `Db::flush`, waits for.
//!
//! What it promises: blocks come back in the order they were submitted, each with the
//! codec byte and trailer to store, and compressed exactly as [`Compressor`] would on the
//! caller's thread (one worker, one encoder, the same order), so a table's bytes do not
//! depend on whether a worker built it. The worker thread exits when this is dropped.
//!
//! Blocks travel in batches of [`BATCH`]: the worker outruns the builder and sleeps,
//! and waking it for every block cost the builder a fifth of its time in futex calls.
//! A batch of 8 rather than 4 halves the wake-ups again; the builder keeps several
//! batches in flight (its `MAX_IN_FLIGHT`) so that neither thread waits out the other's
//! wake-up.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

use super::format::{block_trailer, NO_COMPRESSION, TRAILER_LEN};
use crate::compression::{Compression, Compressor};

/// A data block back from the worker.
pub(crate) struct CompressedBlock {
    /// The block as built; stored as is if compressing did not pay.
    raw: Vec<u8>,
    /// The compressed contents (unused if `codec` is `NO_COMPRESSION`).
    compressed: Vec<u8>,
    codec: u8,
    trailer: [u8; TRAILER_LEN],
}

impl CompressedBlock {
    /// Compresses `raw` with `compressor` into `compressed` (a buffer to reuse). The
    /// builder does this on its own thread when it has no worker.
    pub(crate) fn new(compressor: &mut Compressor, raw: Vec<u8>, mut compressed: Vec<u8>) -> Self {
        let codec = compressor.compress(&raw, &mut compressed);
        let mut block = CompressedBlock { raw, compressed, codec, trailer: [0; TRAILER_LEN] };
        block.trailer = block_trailer(block.contents(), codec);
        block
    }

    /// The bytes to store.
    pub(crate) fn contents(&self) -> &[u8] {
        if self.codec == NO_COMPRESSION {
            &self.raw
        } else {
            &self.compressed
        }
    }

    /// The block trailer (codec byte and checksum) to store after the contents.
    pub(crate) fn trailer(&self) -> &[u8; TRAILER_LEN] {
        &self.trailer
    }

    /// The compression buffer, for the next block once this one is written.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.compressed
    }
}

/// Blocks handed to the worker at a time.
pub(crate) const BATCH: usize = 8;

/// A block to compress and a buffer to compress it into.
type Job = (Vec<u8>, Vec<u8>);

/// A helper thread compressing blocks in submission order.
pub(crate) struct CompressWorker {
    /// `None` once dropping, which tells the thread to exit.
    jobs: Option<Sender<Vec<Job>>>,
    done: Receiver<Vec<CompressedBlock>>,
    thread: Option<JoinHandle<()>>,
    /// Jobs not yet sent, waiting for a full batch.
    unsent: Vec<Job>,
    /// Blocks received and not yet taken, oldest first.
    ready: VecDeque<CompressedBlock>,
    /// Blocks submitted and not yet taken (unsent, at the worker, or ready).
    in_flight: usize,
    /// Output buffers of returned blocks, handed out again with the next jobs.
    spare: Vec<Vec<u8>>,
}

impl CompressWorker {
    /// Starts a worker compressing with `codec`; `Err` if no thread could be started.
    pub(crate) fn spawn(codec: Compression) -> io::Result<Self> {
        let (jobs, inbox) = mpsc::channel::<Vec<Job>>();
        let (outbox, done) = mpsc::channel();
        let thread = std::thread::Builder::new().name("strata-compress".into()).spawn(move || {
            let mut compressor = Compressor::new(codec);
            for batch in inbox {
                let blocks = batch.into_iter().map(|(raw, out)| CompressedBlock::new(&mut compressor, raw, out));
                if outbox.send(blocks.collect()).is_err() {
                    return;
                }
            }
        })?;
        Ok(CompressWorker {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            unsent: Vec::with_capacity(BATCH),
            ready: VecDeque::new(),
            in_flight: 0,
            spare: Vec::new(),
        })
    }

    /// Queues `raw` for compression.
    pub(crate) fn submit(&mut self, raw: Vec<u8>) -> io::Result<()> {
        let compressed = self.spare.pop().unwrap_or_default();
        self.unsent.push((raw, compressed));
        self.in_flight += 1;
        if self.unsent.len() >= BATCH {
            self.send_unsent()?;
        }
        Ok(())
    }

    /// Sends the jobs waiting for a full batch.
    fn send_unsent(&mut self) -> io::Result<()> {
        if self.unsent.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.unsent, Vec::with_capacity(BATCH));
        match &self.jobs {
            Some(jobs) if jobs.send(batch).is_ok() => Ok(()),
            _ => Err(stopped()),
        }
    }

    /// Blocks at the worker: sent, and not yet back.
    fn at_worker(&self) -> usize {
        self.in_flight - self.unsent.len() - self.ready.len()
    }

    /// Blocks submitted and not yet taken back.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The oldest block not yet taken, if it is compressed already.
    pub(crate) fn try_take(&mut self) -> io::Result<Option<CompressedBlock>> {
        if self.ready.is_empty() && self.at_worker() > 0 {
            match self.done.try_recv() {
                Ok(blocks) => self.ready.extend(blocks),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Err(stopped()),
            }
        }
        Ok(self.pop_ready())
    }

    /// The oldest block not yet taken, waiting for it; `None` if nothing is in flight.
    pub(crate) fn take(&mut self) -> io::Result<Option<CompressedBlock>> {
        if self.ready.is_empty() && self.in_flight > 0 {
            // The oldest block may still wait for a full batch.
            if self.at_worker() == 0 {
                self.send_unsent()?;
            }
            let blocks = self.done.recv().map_err(|_| stopped())?;
            self.ready.extend(blocks);
        }
        Ok(self.pop_ready())
    }

    fn pop_ready(&mut self) -> Option<CompressedBlock> {
        let block = self.ready.pop_front()?;
        self.in_flight -= 1;
        Some(block)
    }

    /// Takes back a written block's buffer ([`CompressedBlock::into_buffer`]) for reuse
    /// by later jobs.
    pub(crate) fn recycle(&mut self, buffer: Vec<u8>) {
        self.spare.push(buffer);
    }
}

impl Drop for CompressWorker {
    fn drop(&mut self) {
        // The thread finishes the queued blocks (its sends never block) and exits.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a caller sees if the worker thread is gone (it only ends early by panicking).
fn stopped() -> io::Error {
    io::Error::other("the block compression thread stopped")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(i: usize) -> Vec<u8> {
        // Compressible, and different per block.
        format!("block {i} ").repeat(200 + i).into_bytes()
    }

    #[test]
    fn blocks_come_back_in_order_compressed_as_on_the_callers_thread() {
        let mut worker = CompressWorker::spawn(Compression::Lz4).unwrap();
        let mut local = Compressor::new(Compression::Lz4);
        let mut taken = Vec::new();
        for i in 0..50 {
            worker.submit(block(i)).unwrap();
            if i % 7 == 0 {
                while let Some(b) = worker.try_take().unwrap() {
                    taken.push(b);
                }
            }
        }
        while let Some(b) = worker.take().unwrap() {
            taken.push(b);
        }
        assert_eq!(worker.in_flight(), 0);
        assert_eq!(taken.len(), 50);
        for (i, b) in taken.into_iter().enumerate() {
            let expected = CompressedBlock::new(&mut local, block(i), Vec::new());
            assert_eq!(b.raw, block(i));
            assert_ne!(b.codec, NO_COMPRESSION, "block {i} compresses");
            assert_eq!(b.contents(), expected.contents(), "block {i}");
            assert_eq!(b.trailer(), expected.trailer(), "block {i}");
            worker.recycle(b.into_buffer());
        }
    }

    #[test]
    fn incompressible_blocks_are_stored_raw_and_none_compresses_nothing() {
        let mut rng = crate::compression::lz4::decode::tests::xorshift(5);
        let noise: Vec<u8> = (0..4096).map(|_| rng() as u8).collect();
        for codec in [Compression::Lz4, Compression::None] {
            let mut worker = CompressWorker::spawn(codec).unwrap();
            worker.submit(noise.clone()).unwrap();
            worker.submit(block(1)).unwrap();
            let raw = worker.take().unwrap().unwrap();
            assert_eq!(raw.contents(), &noise[..]);
            assert_eq!(raw.trailer(), &block_trailer(&noise, NO_COMPRESSION));
            let second = worker.take().unwrap().unwrap();
            assert_eq!(second.contents() == &block(1)[..], codec == Compression::None);
            assert!(worker.take().unwrap().is_none());
        }
    }

    #[test]
    fn dropping_with_blocks_in_flight_stops_the_thread() {
        let mut worker = CompressWorker::spawn(Compression::Lz4).unwrap();
        for i in 0..20 {
            worker.submit(block(i)).unwrap();
        }
        drop(worker); // joins; a hang here fails the test by timeout
    }
}
