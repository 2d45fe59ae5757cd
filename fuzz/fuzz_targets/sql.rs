#![no_main]
//! SQL text through parse, bind, optimize, plan and a bounded run (use -max_len=4096).
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_query::fuzzing::fuzz_sql(data));
