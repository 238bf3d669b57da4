#![no_main]
//! The connection's read path: size-prefixed frames arriving in arbitrary chunks, then response headers
//! and bodies of several APIs and versions.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafkaroo_wire::fuzzing::frame(data));
