#![no_main]
//! CSV ingest bodies, with and without a table schema.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_ingest::fuzzing::fuzz_csv(data));
