#![no_main]
//! Fuzz target `zstd`: see `kafkaroo_records::fuzzing::zstd` (shared with the corpus replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kafkaroo_records::fuzzing::zstd(data);
});
