//! The stable smoke run of the `sql` fuzz target (`docs/fuzzing.md`): every committed seed and
//! regression input of `fuzz/corpus/sql/` and `fuzz/regressions/sql/` goes through the same
//! harness function the `cargo fuzz` target calls (parse, bind, plan, a bounded run over two tiny
//! tables). No cargo-fuzz, no nightly: plain `cargo test`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use strata_query::fuzzing::fuzz_sql;
use strata_storage::fuzzing::committed_inputs;

#[test]
fn sql_corpus_and_regressions_replay_without_panic() {
    let inputs = committed_inputs("sql").unwrap_or_else(|e| panic!("reading fuzz/sql: {e}"));
    assert!(!inputs.is_empty(), "fuzz/corpus/sql/ holds no seed input");
    let failed: Vec<String> = inputs
        .iter()
        .filter(|(_, bytes)| catch_unwind(AssertUnwindSafe(|| fuzz_sql(bytes))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "sql: these inputs panic: {failed:#?}");
}
