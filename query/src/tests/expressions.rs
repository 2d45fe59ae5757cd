//! Expressions: NULL and three-valued logic, overflow and division by zero, LIKE, BETWEEN,
//! coercions and casts, scalar functions, CASE.

use super::*;

#[test]
fn null_equals_null_is_null() {
    let e = engine("nulleq");
    assert_eq!(
        query(&e, "SELECT NULL = NULL, NULL IS NULL, 1 = NULL"),
        ["NULL|true|NULL"]
    );
}

#[test]
fn not_in_with_null_matches_nothing() {
    let e = events("notin");
    assert!(query(&e, "SELECT id FROM events WHERE user_id NOT IN (10, NULL)").is_empty());
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE user_id IN (10, 30) ORDER BY id"
        ),
        ["1", "3", "4"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE user_id NOT IN (10, 30) ORDER BY id"
        ),
        ["2", "6"]
    );
}

#[test]
fn three_valued_logic_in_where() {
    let e = events("threevalued");
    // amount is NULL for id 3: NULL > 1 is NULL, NULL OR true is true, NOT NULL is NULL.
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE amount > 1 OR id = 3 ORDER BY id"
        ),
        ["1", "2", "3", "4", "5", "6"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE NOT (amount > 2) ORDER BY id"
        ),
        ["1"]
    );
}

#[test]
fn integer_overflow_is_an_error() {
    let e = engine("overflow");
    let err = error(&e, "SELECT 2147483647 + 1");
    assert_eq!(err.code(), "NUMERIC_OVERFLOW");
    assert_eq!(err.kind(), ErrorKind::User);
    assert_eq!(query(&e, "SELECT 2147483647::BIGINT + 1"), ["2147483648"]);
    assert_eq!(
        error(&e, "SELECT -(-9223372036854775807 - 1)").code(),
        "NUMERIC_OVERFLOW"
    );
}

#[test]
fn division_by_zero_is_an_error() {
    let e = events("divzero");
    assert_eq!(error(&e, "SELECT 1 / 0").code(), "DIVISION_BY_ZERO");
    assert_eq!(
        error(&e, "SELECT id / (id - 1) FROM events").code(),
        "DIVISION_BY_ZERO"
    );
    assert_eq!(
        error(&e, "SELECT amount / 0.0 FROM events").code(),
        "DIVISION_BY_ZERO"
    );
    assert_eq!(
        error(&e, "SELECT id % 0 FROM events").code(),
        "DIVISION_BY_ZERO"
    );
}

#[test]
fn integer_division_truncates() {
    let e = engine("intdiv");
    assert_eq!(
        query(&e, "SELECT 7 / 2, -7 / 2, 7 % 3, 7.0 / 2"),
        ["3|-3|1|3.5"]
    );
}

#[test]
fn like_ilike_and_not_like() {
    let e = events("like");
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE region LIKE 'e%' ORDER BY id"
        ),
        ["1", "3", "6"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE region ILIKE 'E_' ORDER BY id"
        ),
        ["1", "3", "6"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE region NOT LIKE 'e%' ORDER BY id"
        ),
        ["2", "5"]
    );
}

#[test]
fn between_is_inclusive() {
    let e = events("between");
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE id BETWEEN 2 AND 4 ORDER BY id"
        ),
        ["2", "3", "4"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE id NOT BETWEEN 2 AND 4 ORDER BY id"
        ),
        ["1", "5", "6"]
    );
}

#[test]
fn timestamp_column_compares_with_string_literal() {
    let e = events("tslit");
    assert_eq!(
        query(
            &e,
            "SELECT id FROM events WHERE ts >= '2024-01-02' ORDER BY id"
        ),
        ["3", "4", "5", "6"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT count(*) FROM events WHERE ts < TIMESTAMP '2024-01-01 01:00:00'"
        ),
        ["1"]
    );
    assert_eq!(
        query(&e, "SELECT max(ts) FROM events"),
        ["2024-01-03T06:00:00"]
    );
}

#[test]
fn boolean_literals_and_casts() {
    let e = engine("bool");
    let out = e
        .execute("SELECT true AND NULL, false AND NULL, true OR NULL, '2024-01-01'::DATE")
        .unwrap();
    assert_eq!(rows(&out), ["NULL|false|true|2024-01-01"]);
}

#[test]
fn where_on_integer_column_coerces_numbers_and_strings() {
    let e = events("coerce");
    assert_eq!(query(&e, "SELECT id FROM events WHERE id = '3'"), ["3"]);
    assert_eq!(
        query(&e, "SELECT id FROM events WHERE id > 4.5 ORDER BY id"),
        ["5", "6"]
    );
    assert_eq!(
        query(&e, "SELECT id FROM events WHERE user_id = 10 AND id >= 3"),
        ["3"]
    );
}

#[test]
fn date_trunc_groups_events_by_day() {
    let e = events("datetrunc");
    assert_eq!(
        query(
            &e,
            "SELECT date_trunc('day', ts) AS day, count(*) FROM events GROUP BY 1 ORDER BY day"
        ),
        [
            "2024-01-01T00:00:00|2",
            "2024-01-02T00:00:00|2",
            "2024-01-03T00:00:00|2"
        ]
    );
    assert_eq!(
        query(&e, "SELECT date_trunc('month', TIMESTAMP '2024-02-29 13:14:15'), date_trunc('week', TIMESTAMP '2024-01-03 10:00:00')"),
        ["2024-02-01T00:00:00|2024-01-01T00:00:00"]
    );
    assert_eq!(
        error(&e, "SELECT date_trunc('fortnight', ts) FROM events").code(),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn coalesce_lower_upper_length_abs() {
    let e = events("scalarfns");
    assert_eq!(
        query(&e, "SELECT coalesce(region, 'none'), upper(region), length(region) FROM events WHERE id IN (2, 4) ORDER BY id"),
        ["us|US|2", "none|NULL|NULL"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT abs(-3), abs(2.5), lower('ÄB'), coalesce(NULL, 2, 3)"
        ),
        ["3|2.5|äb|2"]
    );
    assert_eq!(
        error(&e, "SELECT abs(-2147483647 - 1)").code(),
        "NUMERIC_OVERFLOW"
    );
    let err = error(&e, "SELECT nosuch(id) FROM events");
    assert_eq!(err.code(), "UNSUPPORTED");
    assert!(err.to_string().contains("supported functions"), "{err}");
}

#[test]
fn case_when_picks_the_first_true_branch() {
    let e = events("case");
    assert_eq!(
        query(
            &e,
            "SELECT id, CASE WHEN amount IS NULL THEN 'none' WHEN amount < 3 THEN 'small' ELSE 'big' END AS size \
             FROM events WHERE id <= 4 ORDER BY id"
        ),
        ["1|small", "2|small", "3|none", "4|big"]
    );
    assert_eq!(
        query(&e, "SELECT CASE region WHEN 'eu' THEN 1 END AS eu, count(*) FROM events GROUP BY 1 ORDER BY 1"),
        ["1|3", "NULL|3"]
    );
}

#[test]
fn keyword_functions_that_name_a_column_are_the_column() {
    let e = engine("keyword-column");
    e.execute("CREATE TABLE k (user VARCHAR, n BIGINT)")
        .unwrap();
    let table = e.storage.table("k").unwrap();
    let batch = RecordBatch::try_new(
        table.def().schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "a"])) as ArrayRef,
            Arc::new(Int64Array::from(vec![1, 2, 3])),
        ],
    )
    .unwrap();
    table.append(batch).unwrap();
    let out = e
        .execute("SELECT user, SUM(n) FROM k GROUP BY user ORDER BY user")
        .unwrap();
    assert_eq!(column_names(&out), vec!["user", "sum"]);
    assert_eq!(rows(&out), vec!["a|4", "b|2"]);
    assert_eq!(query(&e, "SELECT COUNT(DISTINCT user) FROM k"), vec!["2"]);
}
