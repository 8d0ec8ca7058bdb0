//! Fuzz target: see `strata::fuzzing::block`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata::fuzzing::block(data));
