#![no_main]
//! Replay of a damaged write-ahead log file.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_storage::fuzzing::fuzz_wal_replay(data));
