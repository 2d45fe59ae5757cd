#![no_main]
//! Parsing a damaged bitmap index sidecar.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_storage::fuzzing::fuzz_index_sidecar(data));
