#![no_main]
//! PostgreSQL frontend messages (startup packet and regular messages) through pgwire's decoder.
include!("../harness/pg_frontend.rs");
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_pg_frontend(data));
