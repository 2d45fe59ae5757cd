//! Joins: hash join keys, LEFT joins, filters pushed into both sides, the build side under
//! the memory limit and cancellation.

use super::*;

#[test]
fn inner_and_left_join_match_keys_and_never_null_keys() {
    let e = events_and_regions("join");
    let mut inner = query(
        &e,
        "SELECT e.id, r.label FROM events e JOIN regions r ON e.region = r.name",
    );
    inner.sort();
    assert_eq!(
        inner,
        ["1|Europe", "2|United States", "3|Europe", "6|Europe"]
    );
    let mut left = query(
        &e,
        "SELECT e.id, r.label FROM events e LEFT JOIN regions r ON e.region = r.name",
    );
    left.sort();
    assert_eq!(
        left,
        [
            "1|Europe",
            "2|United States",
            "3|Europe",
            "4|NULL",
            "5|NULL",
            "6|Europe"
        ]
    );
}

#[test]
fn explain_shows_the_hash_join_and_filters_pushed_into_both_scans() {
    let e = events_and_regions("join-explain");
    let out = query(
        &e,
        "EXPLAIN SELECT e.id, r.label FROM events e JOIN regions r ON e.region = r.name \
         WHERE e.amount > 1 AND r.label <> 'x'",
    );
    let text = out.join("\n");
    assert!(text.contains("HashJoinExec: INNER on=[region#"), "{text}");
    let scans: Vec<&String> = out.iter().filter(|l| l.contains("ScanExec")).collect();
    assert_eq!(scans.len(), 2, "{text}");
    assert!(scans.iter().all(|l| l.contains("filters=")), "{text}");
}

#[test]
fn join_build_side_over_the_memory_limit_fails_and_the_next_query_runs() {
    let e = events_and_regions("join-memory");
    let sql = "SELECT count(*) FROM events e JOIN regions r ON e.region = r.name";
    let tight = QueryLimits {
        memory_limit_bytes: Some(64),
        ..QueryLimits::default()
    };
    let err = e.execute_with(sql, &tight).unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");
    assert_eq!(query(&e, sql), ["4"]);
}

#[test]
fn cancelled_join_fails_with_query_cancelled() {
    let e = events_and_regions("join-cancel");
    let cancelled = QueryLimits {
        cancel: Some(Arc::new(std::sync::atomic::AtomicBool::new(true))),
        ..QueryLimits::default()
    };
    let err = e
        .execute_with(
            "SELECT count(*) FROM events e JOIN regions r ON e.region = r.name",
            &cancelled,
        )
        .unwrap_err();
    assert_eq!(err.code(), "QUERY_CANCELLED", "{err}");
}

#[test]
fn comma_join_becomes_a_hash_join_with_the_larger_table_as_probe_side() {
    let e = events_and_regions("join-comma");
    // The small table is named first; the optimizer still builds on it and probes with events.
    let out = query(
        &e,
        "EXPLAIN SELECT e.id, r.label FROM regions r, events e \
         WHERE e.region = r.name",
    );
    let text = out.join("\n");
    let join = out
        .iter()
        .position(|l| l.contains("HashJoinExec: INNER on=[region#"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!text.contains("NestedLoopJoinExec"), "{text}");
    let scans: Vec<&String> = out[join..]
        .iter()
        .filter(|l| l.contains("ScanExec"))
        .collect();
    assert_eq!(scans.len(), 2, "{text}");
    assert!(scans[0].contains("events"), "probe side first: {text}");
    assert!(scans[1].contains("regions"), "{text}");
    let mut rows = query(
        &e,
        "SELECT e.id, r.label FROM regions r, events e WHERE e.region = r.name",
    );
    rows.sort();
    assert_eq!(
        rows,
        ["1|Europe", "2|United States", "3|Europe", "6|Europe"]
    );
}

#[test]
fn cross_join_is_a_nested_loop_under_the_memory_limit() {
    let e = events_and_regions("join-cross");
    let out = query(&e, "EXPLAIN SELECT count(*) FROM events, regions");
    let text = out.join("\n");
    assert!(text.contains("NestedLoopJoinExec: INNER (cross)"), "{text}");
    assert_eq!(query(&e, "SELECT count(*) FROM events, regions"), ["18"]);
    let tight = QueryLimits {
        memory_limit_bytes: Some(64),
        ..QueryLimits::default()
    };
    let err = e
        .execute_with("SELECT count(r.label) FROM events, regions r", &tight)
        .unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");
}

#[test]
fn correlated_subqueries_become_hash_joins_and_explain_runs_nothing() {
    let e = events_and_regions("join-correlated");
    let exists = query(
        &e,
        "EXPLAIN SELECT r.label FROM regions r \
         WHERE EXISTS (SELECT 1 FROM events e WHERE e.region = r.name AND e.amount > 1)",
    )
    .join("\n");
    assert!(exists.contains("HashJoinExec: MARK on=[name#"), "{exists}");
    assert!(!exists.contains("NestedLoopJoinExec"), "{exists}");
    // A scalar aggregate over a comma join, correlated with a comma join: hash joins only.
    let scalar = query(
        &e,
        "EXPLAIN SELECT e.id FROM events e, regions r WHERE e.region = r.name \
         AND e.amount = (SELECT max(e2.amount) FROM events e2, regions r2 \
                         WHERE e2.region = r2.name AND r2.label = r.label)",
    )
    .join("\n");
    assert!(scalar.contains("HashJoinExec: LEFT"), "{scalar}");
    assert!(!scalar.contains("NestedLoopJoinExec"), "{scalar}");
    let mut rows = query(
        &e,
        "SELECT r.label FROM regions r \
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.region = r.name)",
    );
    rows.sort();
    assert_eq!(rows, ["none"]);
}

#[test]
fn very_long_from_lists_and_exists_chains_are_refused_not_overflowed() {
    let e = events_and_regions("join-long");
    let many = vec!["regions"; 10_000].join(", ");
    let err = error(&e, &format!("SELECT count(*) FROM {many}"));
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    assert!(err.to_string().contains("at most 256"), "{err}");
    let exists =
        vec!["EXISTS (SELECT 1 FROM events e WHERE e.region = r.name)"; 1_000].join(" OR ");
    let err = error(
        &e,
        &format!("SELECT count(*) FROM regions r WHERE {exists}"),
    );
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    // Within the limits, a wide comma join and many EXISTS run.
    let some = ["regions"; 6].join(", ");
    assert_eq!(query(&e, &format!("SELECT count(*) FROM {some}")), ["729"]);
    let exists = vec!["EXISTS (SELECT 1 FROM events e WHERE e.region = r.name)"; 50].join(" OR ");
    assert_eq!(
        query(
            &e,
            &format!("SELECT count(*) FROM regions r WHERE {exists}")
        ),
        ["2"]
    );
}

#[test]
fn key_common_to_every_disjunct_of_an_or_becomes_the_hash_join_key() {
    // TPC-H Q19's shape: the join key repeated inside each disjunct.
    let e = events_and_regions("join-or-key");
    let sql = "SELECT e.id, r.label FROM events e, regions r \
               WHERE (e.region = r.name AND e.amount > 1) \
               OR (e.region = r.name AND r.label = 'Europe')";
    let out = query(&e, &format!("EXPLAIN {sql}"));
    let text = out.join("\n");
    assert!(text.contains("HashJoinExec: INNER on=[region#"), "{text}");
    assert!(!text.contains("NestedLoopJoinExec"), "{text}");
    let mut rows = query(&e, sql);
    rows.sort();
    let mut expected = query(
        &e,
        "SELECT e.id, r.label FROM events e JOIN regions r ON e.region = r.name \
         WHERE e.amount > 1 OR r.label = 'Europe'",
    );
    expected.sort();
    assert_eq!(rows, expected);
}

#[test]
fn join_region_scans_read_only_the_columns_the_query_uses() {
    // Three tables in FROM: the reordered joins sit under a projection that restores the
    // written column order; the columns nothing above reads must not be read by the scans.
    let e = events_and_regions("join-prune");
    query(
        &e,
        "CREATE TABLE labels (label VARCHAR, note VARCHAR, extra VARCHAR)",
    );
    query(
        &e,
        "INSERT INTO labels VALUES ('Europe', 'eu note', 'x'), ('none', 'n', 'y')",
    );
    let sql = "SELECT l.note, sum(e.amount) FROM events e, regions r, labels l \
               WHERE e.region = r.name AND r.label = l.label GROUP BY l.note";
    let out = query(&e, &format!("EXPLAIN {sql}"));
    let text = out.join("\n");
    let scan = |table: &str| {
        out.iter()
            .find(|l| l.contains(&format!("ScanExec: {table} ")))
            .cloned()
            .unwrap_or_else(|| panic!("{text}"))
    };
    assert!(
        scan("events").contains("columns=[region, amount]"),
        "{text}"
    );
    assert!(scan("regions").contains("columns=[name, label]"), "{text}");
    assert!(scan("labels").contains("columns=[label, note]"), "{text}");
    let mut rows = query(&e, sql);
    rows.sort();
    let mut expected = query(
        &e,
        "SELECT l.note, sum(e.amount) FROM events e JOIN regions r ON e.region = r.name \
         JOIN labels l ON r.label = l.label GROUP BY l.note",
    );
    expected.sort();
    assert_eq!(rows, expected);
    assert!(!rows.is_empty());
}

#[test]
fn mark_joins_hash_the_small_left_side_and_fall_back_for_a_large_one() {
    let e = events("mark-join-sides");
    // 1,000 outer rows: hashed (the right side streams through them).
    let small = "SELECT count(*), sum(g) FROM generate_series(1, 1000) AS s(g) \
                 WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = s.g AND e.amount > 2)";
    assert_eq!(query(&e, small), ["4|17"]);
    // More than LEFT_BUILD_ROWS outer rows: the right side is hashed, as for other joins.
    let large = "SELECT count(*), sum(g) FROM generate_series(1, 1100000) AS s(g) \
                 WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = s.g AND e.amount > 2) \
                 OR g > 1099998";
    assert_eq!(query(&e, large), ["6|2200016"]);
    // IN with NULLs goes through the same mark joins.
    let nulls = "SELECT count(*) FROM generate_series(1, 10) AS s(g) \
                 WHERE g NOT IN (SELECT user_id / 10 FROM events e WHERE e.region = 'eu' AND e.id > g - 7)";
    assert_eq!(query(&e, nulls), ["8"]);
}
