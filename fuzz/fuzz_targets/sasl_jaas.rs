#![no_main]
//! `sasl.jaas.config` parsing on arbitrary UTF-8, then the credentials and unsecured OAUTHBEARER tokens
//! derived from what parses: no panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafkaroo_sasl::fuzzing::jaas(data));
