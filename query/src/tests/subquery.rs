//! Uncorrelated subqueries and CTEs run when the statement executes, once each: `EXPLAIN` runs
//! nothing, a CTE read twice is computed once (and read once, inlined).

use super::*;

#[test]
fn explain_runs_no_subquery() {
    let e = events("subquery-explain");
    // Running it fails (the subquery has six rows); explaining it prints the subquery's plan.
    let sql = "SELECT id FROM events WHERE id = (SELECT id FROM events WHERE amount > 0)";
    let err = error(&e, sql);
    assert!(err.to_string().contains("more than one row"), "{err}");
    let text = query(&e, &format!("EXPLAIN {sql}")).join("\n");
    assert!(text.contains("(subquery #0)"), "{text}");
    assert!(text.contains("subquery #0 (run once):"), "{text}");
    // The describe of the PostgreSQL protocol runs nothing either.
    let schema = e.describe(sql).unwrap().unwrap();
    assert_eq!(schema.field(0).name(), "id");
}

#[test]
fn a_cte_read_twice_is_computed_once_and_one_read_once_is_inlined() {
    let e = events("subquery-cte");
    let twice = "WITH c AS (SELECT region, sum(amount) AS total FROM events GROUP BY region) \
                 SELECT region FROM c WHERE total = (SELECT max(total) FROM c)";
    assert_eq!(query(&e, twice), ["eu"]);
    let text = query(&e, &format!("EXPLAIN {twice}")).join("\n");
    assert!(text.contains("CteScan: c #0 (computed once)"), "{text}");
    assert!(text.contains("cte c #0 (computed once):"), "{text}");
    let analyzed = query(&e, &format!("EXPLAIN ANALYZE {twice}")).join("\n");
    assert!(analyzed.contains("CteExec: c rows=4"), "{analyzed}");

    let once = "WITH c AS (SELECT id, amount FROM events) SELECT id FROM c WHERE amount > 4";
    let mut ids = query(&e, once);
    ids.sort();
    assert_eq!(ids, ["5", "6"]);
    let text = query(&e, &format!("EXPLAIN {once}")).join("\n");
    assert!(!text.contains("CteScan"), "{text}");
    // Inlined, the filter reaches the scan.
    assert!(text.contains("filters=[(amount#"), "{text}");
}

#[test]
fn every_scan_of_a_statement_reads_one_snapshot() {
    let e = events("subquery-snapshot");
    let snapshots = crate::exec::Snapshots::default();
    let first = snapshots.get(&e.storage, "events").unwrap();
    e.execute("INSERT INTO events VALUES (7, 'eu', 1, 1.0, '2024-01-05 00:00:00')")
        .unwrap();
    // The statement's second scan of the table sees what its first saw, not the new row.
    let again = snapshots.get(&e.storage, "events").unwrap();
    assert_eq!(first.row_count(), 6);
    assert_eq!(again.row_count(), 6);
    assert_eq!(e.storage.table("events").unwrap().snapshot().row_count(), 7);
}

#[test]
fn rows_held_for_ctes_and_subqueries_count_against_the_memory_limit() {
    let e = events("subquery-memory");
    let tight = QueryLimits {
        memory_limit_bytes: Some(256),
        ..QueryLimits::default()
    };
    // A CTE read twice is held in memory while the statement runs: over the limit, an error.
    let cte = "WITH c AS (SELECT * FROM events) SELECT count(*) FROM c a, c b WHERE a.id = b.id";
    let err = e.execute_with(cte, &tight).unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");
    // Nothing but the held rows needs memory here (scalar counts over the CTE).
    let held = "WITH c AS (SELECT * FROM events) SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM c)";
    let err = e.execute_with(held, &tight).unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");
    assert_eq!(
        rows(&e.execute_with(held, &QueryLimits::default()).unwrap()),
        ["12"]
    );
    // Within the limit, the same statements answer.
    let roomy = QueryLimits {
        memory_limit_bytes: Some(64 << 20),
        ..QueryLimits::default()
    };
    let out = e.execute_with(cte, &roomy).unwrap();
    assert_eq!(rows(&out), ["6"]);
}

#[test]
fn a_correlated_subquery_no_join_covers_runs_once_per_distinct_outer_value() {
    let e = events("subquery-per-value");
    // HAVING: no join can go under it; the subquery reads the group's region.
    let sql = "SELECT region, count(*) FROM events e GROUP BY region \
               HAVING count(*) >= (SELECT count(*) FROM events e2 WHERE e2.region = e.region AND e2.amount > 0) \
               ORDER BY region";
    let answer = query(&e, sql);
    assert!(!answer.is_empty(), "{answer:?}");
    let text = query(&e, &format!("EXPLAIN {sql}")).join("\n");
    assert!(text.contains("(subquery #0 per "), "{text}");
    assert!(
        text.contains("subquery #0 (run once per distinct outer value, at most 10000 times):"),
        "{text}"
    );
    // Running it: the node's input is computed once and read from memory.
    let analyzed = query(&e, &format!("EXPLAIN ANALYZE {sql}")).join("\n");
    assert!(
        analyzed.contains("input of a correlated subquery"),
        "{analyzed}"
    );
}
