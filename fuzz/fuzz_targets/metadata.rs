#![no_main]
//! The metadata readers: a damaged manifest.json, catalog.json or bitmap index sidecar (the
//! first byte picks which; see `strata_storage::fuzzing::fuzz_metadata`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_storage::fuzzing::fuzz_metadata(data));
