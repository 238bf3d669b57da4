#![no_main]
//! A SCRAM client session with fixed credentials fed arbitrary server-first and server-final messages
//! (NUL-separated after a flag byte that picks SHA-256 or SHA-512): no panic, no success without the
//! right server signature, no answer after a failure.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafkaroo_sasl::fuzzing::scram_client(data));
