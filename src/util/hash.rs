//! [`hash64`]: the hash of a user key that bloom filters are built and probed with.
//!
//! It is part of the table format: a filter written with one hash answers only probes
//! made with the same one, so this function must never change for a given format
//! version. Being below every layer, it lets a point lookup hash its key once (see
//! `key::LookupKey`) and hand the hash down to every table it asks.

/// The 64-bit filter hash of a key (multiply-fold mixing, 8 bytes at a time).
pub(crate) fn hash64(data: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0x243f_6a88_85a3_08d3 ^ (data.len() as u64).wrapping_mul(K);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        h = fmix(h ^ u64::from_le_bytes(a));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut a = [0u8; 8];
        a[..rest.len()].copy_from_slice(rest);
        h = fmix(h ^ u64::from_le_bytes(a) ^ ((rest.len() as u64) << 59));
    }
    fmix(h)
}

/// MurmurHash3's 64-bit finaliser.
fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}
