#![no_main]
//! Parquet ingest bodies.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_ingest::fuzzing::fuzz_parquet(data));
