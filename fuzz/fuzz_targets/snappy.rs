#![no_main]
//! Fuzz target `snappy`: see `kafkaroo_records::fuzzing::snappy` (shared with the corpus replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kafkaroo_records::fuzzing::snappy(data);
});
