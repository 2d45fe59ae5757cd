//! Queries: ORDER BY and LIMIT, output names, name resolution, the errors a user sees,
//! statement spellings, subqueries, EXPLAIN ANALYZE, and the guard rails of a running query.

use super::*;

#[test]
fn nulls_sort_last_ascending_by_default() {
    let e = events("nullsort");
    assert_eq!(
        query(&e, "SELECT amount FROM events ORDER BY amount"),
        ["1.5", "2.5", "4.0", "5.0", "6.0", "NULL"]
    );
    assert_eq!(
        query(&e, "SELECT amount FROM events ORDER BY amount DESC LIMIT 2"),
        ["NULL", "6.0"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT amount FROM events ORDER BY amount NULLS FIRST LIMIT 2"
        ),
        ["NULL", "1.5"]
    );
}

#[test]
fn order_by_column_not_in_select_list() {
    let e = events("orderhidden");
    let out = e
        .execute("SELECT region FROM events WHERE region IS NOT NULL ORDER BY id DESC LIMIT 2")
        .unwrap();
    assert_eq!(column_names(&out), ["region"]);
    assert_eq!(rows(&out), ["eu", "asia"]);
}

#[test]
fn select_without_from_and_output_names() {
    let e = engine("nofrom");
    let out = e
        .execute("SELECT 1 + 1, 'a' AS letter, CAST('12' AS INTEGER) * 2")
        .unwrap();
    assert_eq!(rows(&out), ["2|a|24"]);
    assert_eq!(column_names(&out), ["?column?", "letter", "?column?"]);
}

#[test]
fn star_and_case_insensitive_names() {
    let e = engine("case");
    e.execute("CREATE TABLE Clicks (EventTime TIMESTAMP, \"URL\" VARCHAR)")
        .unwrap();
    let out = e.execute("SELECT * FROM clicks").unwrap();
    assert_eq!(column_names(&out), ["EventTime", "URL"]);
    let out = e.execute("SELECT eventtime, url FROM CLICKS").unwrap();
    assert_eq!(column_names(&out), ["EventTime", "URL"]);
}

#[test]
fn unknown_table_is_not_found() {
    let e = engine("notable");
    let err = error(&e, "SELECT * FROM nope");
    assert_eq!(err.code(), "TABLE_NOT_FOUND");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(error(&e, "DESCRIBE nope").kind(), ErrorKind::NotFound);
}

#[test]
fn unknown_column_lists_the_columns() {
    let e = events("nocolumn");
    let err = error(&e, "SELECT foo FROM events");
    assert_eq!(err.code(), "COLUMN_NOT_FOUND");
    assert_eq!(
        err.to_string(),
        "column \"foo\" does not exist in table \"events\"; columns are: id, region, user_id, amount, ts"
    );
}

#[test]
fn syntax_error_is_a_user_error() {
    let e = engine("syntax");
    let err = error(&e, "SELEC 1");
    assert_eq!(err.code(), "SQL_SYNTAX");
    assert_eq!(err.kind(), ErrorKind::User);
    assert_eq!(error(&e, "").code(), "SQL_SYNTAX");
}

#[test]
fn type_mismatch_says_how_to_fix() {
    let e = events("mismatch");
    let err = error(&e, "SELECT id FROM events WHERE id = region");
    assert_eq!(err.code(), "TYPE_MISMATCH");
    assert!(err.to_string().contains("CAST"), "{err}");
    assert_eq!(
        error(&e, "SELECT region + 1 FROM events").code(),
        "TYPE_MISMATCH"
    );
}

#[test]
fn scan_reads_only_needed_columns_and_filters_in_scan() {
    let e = events("explain");
    let plan = query(
        &e,
        "EXPLAIN SELECT region FROM events WHERE id > 2 + 1 ORDER BY id LIMIT 1",
    );
    let text = plan.join("\n");
    assert!(
        text.contains("Scan: events columns=[id, region] filters=[(id#0 > 3)]"),
        "{text}"
    );
    assert!(text.contains("fetch=1"), "{text}");
}

#[test]
fn limit_zero_and_offset_beyond_end() {
    let e = events("limit");
    assert!(query(&e, "SELECT id FROM events LIMIT 0").is_empty());
    assert!(query(&e, "SELECT id FROM events ORDER BY id OFFSET 10").is_empty());
    assert_eq!(
        query(&e, "SELECT id FROM events ORDER BY id LIMIT 2 OFFSET 4"),
        ["5", "6"]
    );
}

#[test]
fn qualified_names_and_table_alias() {
    let e = events("qualified");
    assert_eq!(
        query(&e, "SELECT events.id FROM events WHERE events.id = 1"),
        ["1"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT x.id FROM events AS x WHERE x.id < 3 ORDER BY x.id"
        ),
        ["1", "2"]
    );
    assert_eq!(
        error(&e, "SELECT y.id FROM events x").code(),
        "TABLE_NOT_FOUND"
    );
}

#[test]
fn order_by_position_out_of_range_is_an_error() {
    let e = events("orderpos");
    let err = error(&e, "SELECT id FROM events ORDER BY 2");
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("position 2"), "{err}");
}

#[test]
fn statement_spellings() {
    let e = events("spellings");
    assert_eq!(query(&e, "DESC events").len(), 5);
    assert_eq!(query(&e, "SHOW TABLES;"), ["events"]);
    assert_eq!(
        query(
            &e,
            "SELECT count(*) FROM \"events\" WHERE ts > '2024-01-02T00:00:00Z'::timestamp"
        ),
        ["3"]
    );
    assert_eq!(error(&e, "SELECT 1; SELECT 2").code(), "UNSUPPORTED");
    assert_eq!(
        error(
            &e,
            "SELECT * FROM events a NATURAL FULL JOIN events b USING (id)"
        )
        .code(),
        "SQL_SYNTAX"
    );
    assert_eq!(
        query(
            &e,
            "SELECT count(*) FROM events a JOIN events b ON a.id < b.id"
        ),
        ["15"]
    );
}

#[test]
fn guard_rails_stop_a_query_and_the_next_one_runs() {
    use std::sync::atomic::AtomicBool;
    let e = events("guard-rails");
    let slow = "SELECT region, user_id, COUNT(*) FROM events GROUP BY region, user_id ORDER BY 3";
    let timeout = QueryLimits {
        timeout: Some(std::time::Duration::ZERO),
        ..QueryLimits::default()
    };
    let err = e.execute_with(slow, &timeout).unwrap_err();
    assert_eq!(err.code(), "QUERY_TIMEOUT", "{err}");
    assert_eq!(err.kind(), crate::ErrorKind::Timeout);

    let memory = QueryLimits {
        memory_limit_bytes: Some(64),
        ..QueryLimits::default()
    };
    let err = e.execute_with(slow, &memory).unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");
    let err = e
        .execute_with("SELECT * FROM events ORDER BY amount", &memory)
        .unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");

    let cancelled = QueryLimits {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..QueryLimits::default()
    };
    let err = e.execute_with(slow, &cancelled).unwrap_err();
    assert_eq!(err.code(), "QUERY_CANCELLED", "{err}");

    let generous = QueryLimits {
        timeout: Some(std::time::Duration::from_secs(60)),
        memory_limit_bytes: Some(1 << 30),
        cancel: Some(Arc::new(AtomicBool::new(false))),
        threads: None,
        time_zone: None,
    };
    let out = e.execute_with(slow, &generous).unwrap();
    assert_eq!(out.num_rows(), 5);
}

#[test]
fn explain_analyze_prints_rows_and_time_per_operator() {
    let e = events_and_regions("analyze");
    let out = query(
        &e,
        "EXPLAIN ANALYZE SELECT r.label, count(*) FROM events e JOIN regions r \
         ON e.region = r.name GROUP BY r.label",
    );
    let text = out.join("\n");
    let line = |name: &str| {
        out.iter()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .clone()
    };
    assert!(line("AggregateExec").contains("rows=2 elapsed="), "{text}");
    assert!(line("HashJoinExec").contains("rows=4 elapsed="), "{text}");
    assert!(text.contains("total: rows=2"), "{text}");
    // Inputs are indented below their operator.
    let depth = |l: &str| l.len() - l.trim_start().len();
    assert!(depth(&line("HashJoinExec")) > depth(&line("AggregateExec")));
}

#[test]
fn subqueries_run_once_and_correlated_ones_are_decorrelated() {
    let e = events_and_regions("subquery");
    assert_eq!(
        query(
            &e,
            "SELECT count(*) FROM events WHERE region IN (SELECT name FROM regions)"
        ),
        ["4"]
    );
    // Correlated: decorrelated into a join (count over no rows is 0).
    let mut ids = query(
        &e,
        "SELECT id FROM events e WHERE amount > (SELECT count(*) FROM regions WHERE name = e.region)",
    );
    ids.sort();
    assert_eq!(ids, ["1", "2", "4", "5", "6"]);
    // A shape no join rule covers runs per distinct outer value.
    assert_eq!(
        query(
            &e,
            "SELECT count(*) FROM events e WHERE region IN (SELECT name FROM regions WHERE name = e.region ORDER BY label LIMIT 1)",
        ),
        ["4"]
    );
    // In JOIN ... ON it is a clear error.
    let err = error(
        &e,
        "SELECT e.id FROM events e JOIN regions r ON r.name = (SELECT max(name) FROM regions WHERE label = e.region)",
    );
    assert_eq!(err.code(), "UNSUPPORTED", "{err}");
    assert!(err.to_string().contains("correlated"), "{err}");
    // now() is one value per statement.
    assert_eq!(query(&e, "SELECT count(DISTINCT now()) FROM events"), ["1"]);
}
