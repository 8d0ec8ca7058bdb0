//! Fuzz target: see `strata::fuzzing::lz4`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata::fuzzing::lz4(data));
