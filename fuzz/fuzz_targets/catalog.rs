#![no_main]
//! Opening a data directory over a damaged catalog.json.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_storage::fuzzing::fuzz_catalog(data));
