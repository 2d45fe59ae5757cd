//! Statements that used to take the server down: long flat lists, deep nesting, huge texts.
//! Each runs on a thread with the 2 MiB stack of the server's worker threads.

use super::{error, events, query};
use crate::{QueryEngine, SqlLimits};

/// Runs `f` on a thread with a 2 MiB stack (tokio's blocking threads and the scan workers
/// have that much), as the server would.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn list(n: usize, f: impl Fn(usize) -> String, sep: &str) -> String {
    (0..n).map(f).collect::<Vec<_>>().join(sep)
}

#[test]
fn in_list_of_100k_literals_is_a_hashed_set() {
    let engine = events("in100k");
    // Ids 0..100,000 and the string regions: 4 of the 6 ids are in, every region but NULL.
    let ids = list(100_000, |i| (i * 2).to_string(), ", ");
    let regions = list(100_000, |i| format!("'r{i}'"), ", ") + ", 'eu', 'asia'";
    let out = on_small_stack(move || {
        let e = &engine;
        (
            query(
                e,
                &format!("SELECT count(*) FROM events WHERE id IN ({ids})"),
            ),
            query(
                e,
                &format!("SELECT count(*) FROM events WHERE id NOT IN ({ids})"),
            ),
            query(
                e,
                &format!("SELECT count(*) FROM events WHERE region IN ({regions})"),
            ),
            query(
                e,
                &format!("SELECT count(*) FROM events WHERE region NOT IN ({regions})"),
            ),
            query(
                e,
                &format!("SELECT count(*) FROM events WHERE region NOT IN ({regions}, NULL)"),
            ),
            query(
                e,
                &format!("EXPLAIN SELECT id FROM events WHERE id IN ({ids})"),
            ),
        )
    });
    assert_eq!(out.0, vec!["3"]); // 2, 4, 6
    assert_eq!(out.1, vec!["3"]);
    assert_eq!(out.2, vec!["4"]); // eu x3, asia
    assert_eq!(out.3, vec!["1"]); // us; the NULL region is neither in nor not in
    assert_eq!(out.4, vec!["0"]); // NOT IN with a NULL is never true
    assert!(
        out.5.iter().any(|l| l.contains("IN (<100000 values>)")),
        "{:?}",
        out.5
    );
}

#[test]
fn or_of_20k_equalities_becomes_a_set_and_keeps_other_terms() {
    let engine = events("or20k");
    let ors = list(20_000, |i| format!("id = {}", i + 3), " OR ");
    let ands = list(20_000, |i| format!("id <> {}", i + 100), " AND ");
    let out = on_small_stack(move || {
        let e = &engine;
        (
            query(e, &format!("SELECT count(*) FROM events WHERE {ors}")),
            query(
                e,
                &format!("SELECT count(*) FROM events WHERE {ors} OR region = 'us'"),
            ),
            query(e, &format!("SELECT count(*) FROM events WHERE {ands}")),
            query(
                e,
                &format!("SELECT sum(CASE WHEN {ors} THEN 1 ELSE 0 END) FROM events"),
            ),
        )
    });
    assert_eq!(out.0, vec!["4"]); // 3, 4, 5, 6
    assert_eq!(out.1, vec!["5"]); // and 2
    assert_eq!(out.2, vec!["6"]);
    assert_eq!(out.3, vec!["4"]);
}

#[test]
fn long_concat_and_union_chains() {
    let engine = events("chains");
    let concat = list(10_000, |_| "'a'".to_string(), " || ");
    let union = list(5_000, |i| format!("SELECT {i} AS n"), " UNION ALL ");
    let distinct = list(5_000, |i| format!("SELECT {} AS n", i % 7), " UNION ");
    let out = on_small_stack(move || {
        let e = &engine;
        (
            query(e, &format!("SELECT length({concat})")),
            query(e, &format!("SELECT count(*), sum(n) FROM ({union}) u")),
            query(e, &format!("SELECT count(*) FROM ({distinct}) u")),
            query(e, "SELECT 'x' || NULL || 'y' IS NULL, 1 || 'a' || 2"),
            // DISTINCT then ALL: (0 UNION 0) UNION ALL 0 has two rows.
            query(
                e,
                "SELECT count(*) FROM (SELECT 0 UNION SELECT 0 UNION ALL SELECT 0) u",
            ),
        )
    });
    assert_eq!(out.0, vec!["10000"]);
    assert_eq!(out.1, vec!["5000|12497500"]);
    assert_eq!(out.2, vec!["7"]);
    assert_eq!(out.3, vec!["true|1a2"]);
    assert_eq!(out.4, vec!["2"]);
}

#[test]
fn deep_nesting_is_refused_with_its_limit_and_depth_below_it_works() {
    let engine = events("deep");
    let out = on_small_stack(move || {
        let e = &engine;
        let nested = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
        let arithmetic = format!("SELECT 1{}", "+1".repeat(100_000));
        let negations = format!("SELECT {}1", "- ".repeat(5_000));
        let functions = format!("SELECT {}1{}", "abs(".repeat(5_000), ")".repeat(5_000));
        let subqueries = format!(
            "SELECT * FROM {}SELECT 1 AS x{}",
            "(SELECT * FROM (".repeat(2_000),
            ") s) t".repeat(2_000)
        );
        (
            query(e, &nested(500)),
            error(e, &nested(5_000)).code(),
            error(e, &nested(1_000_000)).code(),
            error(e, &arithmetic).code(),
            error(e, &negations).code(),
            error(e, &functions).code(),
            error(e, &subqueries).code(),
            query(e, &format!("SELECT 1{}", "+1".repeat(300))),
        )
    });
    assert_eq!(out.0, vec!["1"]);
    for code in [out.1, out.2, out.3, out.4, out.5, out.6] {
        assert_eq!(code, "EXPRESSION_TOO_DEEP");
    }
    assert_eq!(out.7, vec!["301"]);
}

#[test]
fn statement_text_over_the_limit_is_refused() {
    let engine = events("text").with_sql_limits(SqlLimits {
        max_query_bytes: 1000,
        ..SqlLimits::default()
    });
    let long = format!("SELECT 1 /* {} */", "x".repeat(1000));
    let e = error(&engine, &long);
    assert_eq!(e.code(), "QUERY_TOO_LARGE");
    assert!(e.to_string().contains("--query-bytes-max"), "{e}");
    assert_eq!(query(&engine, "SELECT 1"), vec!["1"]);
}

#[test]
fn the_depth_limit_is_configurable() {
    let engine: QueryEngine = events("depthlimit").with_sql_limits(SqlLimits {
        max_expression_depth: 20,
        ..SqlLimits::default()
    });
    let arithmetic = |n: usize| format!("SELECT 1{}", "+1".repeat(n));
    assert_eq!(query(&engine, &arithmetic(10)), vec!["11"]);
    let e = error(&engine, &arithmetic(40));
    assert_eq!(e.code(), "EXPRESSION_TOO_DEEP");
    assert!(e.to_string().contains("--expression-depth-max"), "{e}");
}
