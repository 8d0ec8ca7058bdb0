//! Fuzz target: see `strata::fuzzing::wal`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata::fuzzing::wal(data));
