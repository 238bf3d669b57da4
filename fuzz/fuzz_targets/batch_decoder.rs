#![no_main]
//! Fuzz target `batch_decoder`: see `kafkaroo_records::fuzzing::batch_decoder` (shared with the corpus replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kafkaroo_records::fuzzing::batch_decoder(data);
});
