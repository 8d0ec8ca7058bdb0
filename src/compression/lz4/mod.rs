//! Our LZ4 *block* codec (no frame format): [`decode`] lays the format out and reads it
//! from untrusted bytes, [`encode`] writes it. Both are ours because they sit on the
//! hot paths of every cache-missing read and every flush and compaction; each module
//! says what it does differently from lz4_flex and why.

pub mod decode;
pub mod encode;

pub use decode::{decompress, decompress_to};
pub use encode::Lz4Encoder;
