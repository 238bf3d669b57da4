#![no_main]
//! Fuzz target `lz4`: see `kafkaroo_records::fuzzing::lz4` (shared with the corpus replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kafkaroo_records::fuzzing::lz4(data);
});
