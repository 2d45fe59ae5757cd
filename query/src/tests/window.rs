//! Window functions: the guard rails, EXPLAIN, and frames over many rows against a brute-force
//! reference (the `.slt` file pins the SQL semantics against DuckDB).

use super::*;

#[test]
fn window_over_the_memory_limit_fails_and_the_next_query_runs() {
    let e = events("window-memory");
    let sql = "SELECT id, sum(amount) OVER (PARTITION BY region ORDER BY ts) FROM events";
    let memory = QueryLimits {
        memory_limit_bytes: Some(64),
        ..QueryLimits::default()
    };
    let err = e.execute_with(sql, &memory).unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");
    assert_eq!(query(&e, &format!("{sql} ORDER BY id")).len(), 6);
}

/// A running `string_agg` gives every row its whole frame (O(rows²) bytes): the size is counted
/// before the result is built, so it fails with the memory limit, and a sliding frame over the
/// same rows fits.
#[test]
fn running_string_agg_over_the_memory_limit_fails_before_it_is_built() {
    let e = engine("window-string-agg-memory");
    let memory = QueryLimits {
        memory_limit_bytes: Some(16 << 20),
        ..QueryLimits::default()
    };
    let running = "SELECT length(string_agg(i::VARCHAR, ',') OVER (ORDER BY i)) \
                   FROM generate_series(1, 20000) AS t(i)";
    let err = e.execute_with(running, &memory).unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");
    let sliding = "SELECT max(length(s)) FROM (SELECT string_agg(i::VARCHAR, ',') \
                   OVER (ORDER BY i ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS s \
                   FROM generate_series(1, 20000) AS t(i)) AS x";
    let out = e.execute_with(sliding, &memory).unwrap();
    // "19997,19998,19999,20000"
    assert_eq!(rows(&out), vec!["23"]);
}

#[test]
fn explain_shows_the_window_node_and_its_operator() {
    let e = events("window-explain");
    let plan = query(
        &e,
        "EXPLAIN SELECT id, row_number() OVER w, sum(amount) OVER (w ROWS 1 PRECEDING) \
         FROM events WINDOW w AS (PARTITION BY region ORDER BY ts)",
    )
    .join("\n");
    assert!(
        plan.contains("Window: row_number() OVER (PARTITION BY"),
        "{plan}"
    );
    assert!(
        plan.contains("ROWS BETWEEN 1 PRECEDING AND CURRENT ROW"),
        "{plan}"
    );
    assert!(plan.contains("WindowExec"), "{plan}");
}

/// 5000 rows in 7 partitions: every frame shape against a per-row loop over the frame.
#[test]
fn frames_over_many_rows_match_a_brute_force_reference() {
    let e = engine("window-many");
    query(&e, "CREATE TABLE m (id INTEGER, p INTEGER, v INTEGER)");
    let n = 5000i64;
    let value = |i: i64| (i * 7919 % 101) - 50;
    let values: Vec<String> = (0..n)
        .map(|i| {
            if i % 13 == 0 {
                format!("({i}, {}, NULL)", i % 7)
            } else {
                format!("({i}, {}, {})", i % 7, value(i))
            }
        })
        .collect();
    query(&e, &format!("INSERT INTO m VALUES {}", values.join(", ")));
    let v = |i: i64| (i % 13 != 0).then(|| value(i));
    let frames = [
        ("ROWS BETWEEN 20 PRECEDING AND 3 FOLLOWING", -20i64, 3i64),
        (
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
            i64::MIN,
            0,
        ),
        ("ROWS BETWEEN 5 FOLLOWING AND 40 FOLLOWING", 5, 40),
        ("ROWS BETWEEN 9 PRECEDING AND 2 PRECEDING", -9, -2),
    ];
    for (frame, lo, hi) in frames {
        let sql = format!(
            "SELECT id, sum(v) OVER w, min(v) OVER w, max(v) OVER w, count(v) OVER w \
             FROM m WINDOW w AS (PARTITION BY p ORDER BY id {frame}) ORDER BY id"
        );
        let got = query(&e, &sql);
        assert_eq!(got.len(), n as usize);
        for (i, line) in got.iter().enumerate() {
            let i = i as i64;
            // The partition of row i holds ids i % 7, i % 7 + 7, ...; position k = i / 7.
            let k = i / 7;
            let last = (n - 1 - i % 7) / 7;
            let from = if lo == i64::MIN { 0 } else { (k + lo).max(0) };
            let to = (k + hi).min(last);
            let frame: Vec<i64> = (from..=to).filter_map(|j| v(j * 7 + i % 7)).collect();
            let show = |x: Option<i64>| x.map_or("NULL".to_string(), |x| x.to_string());
            let want = format!(
                "{i}|{}|{}|{}|{}",
                show((!frame.is_empty()).then(|| frame.iter().sum())),
                show(frame.iter().min().copied()),
                show(frame.iter().max().copied()),
                frame.len()
            );
            assert_eq!(*line, want, "{frame:?} {sql}");
        }
    }
}
