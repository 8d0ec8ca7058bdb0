//! Small building blocks every layer uses and that know nothing of the engine: byte
//! encodings ([`coding`]), the key hash of the bloom filters ([`hash`]), vectors that
//! move to huge-page maps when large ([`large_vec`], [`huge_page`]), cache prefetch
//! hints ([`prefetch`]) and the reproducible random source of tests and workloads
//! ([`rng`]). LevelDB keeps the same kind of code in `util/`.

pub mod coding;
pub mod hash;
pub mod huge_page;
pub mod large_vec;
pub mod prefetch;
pub mod rng;
