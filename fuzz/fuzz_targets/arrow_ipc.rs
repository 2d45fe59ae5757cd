#![no_main]
//! Arrow IPC stream ingest bodies.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_ingest::fuzzing::fuzz_arrow_ipc(data));
