//! Small building blocks every layer uses and that know nothing of the engine: byte
//! encodings ([`coding`]), values on cache lines of their own ([`cache_line`]), the key hash of the bloom filters ([`hash`]), vectors that
//! move to huge-page maps when large ([`large_vec`], [`huge_page`]), cache prefetch
//! hints ([`prefetch`]) and the reproducible random source of tests and workloads
//! ([`rng`]). LevelDB keeps the same kind of code in `util/`.

pub(crate) mod cache_line;
pub(crate) mod coding;
pub(crate) mod hash;
pub(crate) mod huge_page;
pub(crate) mod large_vec;
pub(crate) mod prefetch;
pub(crate) mod rng;
