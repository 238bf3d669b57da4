#![no_main]
//! Fuzz target `gzip`: see `kafkaroo_records::fuzzing::gzip` (shared with the corpus replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kafkaroo_records::fuzzing::gzip(data);
});
