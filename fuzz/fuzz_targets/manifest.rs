#![no_main]
//! Opening a table over a damaged manifest.json.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_storage::fuzzing::fuzz_manifest(data));
