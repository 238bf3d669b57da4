#![no_main]
//! librdkafka's `sasl.oauthbearer.config` on arbitrary UTF-8 (then, after a NUL, a server answer): every
//! config that parses gives a token the OAUTHBEARER session accepts; no panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafkaroo_sasl::fuzzing::oauthbearer_config(data));
