#![no_main]
//! NDJSON ingest bodies, with and without a table schema.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_ingest::fuzzing::fuzz_ndjson(data));
