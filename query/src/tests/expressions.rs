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

/// `+ - *` on random decimals of random precision and scale (a seeded generator, the seed in
/// every failure) against a naive i128 reference: the same digits, or an overflow error
/// exactly when the result leaves its type's precision.
#[test]
fn decimal_arithmetic_matches_an_i128_reference() {
    fn text(value: i128, scale: u32) -> String {
        let sign = if value < 0 { "-" } else { "" };
        let magnitude = value.unsigned_abs();
        let unit = 10u128.pow(scale);
        match scale {
            0 => format!("{sign}{magnitude}"),
            _ => format!(
                "{sign}{}.{:0width$}",
                magnitude / unit,
                magnitude % unit,
                width = scale as usize
            ),
        }
    }
    let e = engine("decimal-reference");
    let seed = 0x5eed_dec1_u64;
    let mut state = seed;
    let mut next = |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    for case in 0..1000 {
        let operand = |next: &mut dyn FnMut(u64) -> u64| {
            let p = 1 + next(38) as u32;
            let s = next(u64::from(p) + 1) as u32;
            let digits = 1 + next(u64::from(p)) as u32;
            let mut v: i128 = 0;
            for _ in 0..digits {
                v = v * 10 + next(10) as i128;
            }
            if next(2) == 0 {
                v = -v;
            }
            (v, p, s)
        };
        let (a, p1, s1) = operand(&mut next);
        let (b, p2, s2) = operand(&mut next);
        let op = ["+", "-", "*"][next(3) as usize];
        let sql = format!(
            "SELECT CAST(CAST('{}' AS DECIMAL({p1}, {s1})) {op} CAST('{}' AS DECIMAL({p2}, {s2})) AS VARCHAR)",
            text(a, s1),
            text(b, s2)
        );
        // The reference: exact i128 arithmetic (i128 holds any sum and any product that
        // fits 38 digits), then the type's precision.
        let (exact, scale, precision) = match op {
            "*" => (a.checked_mul(b), s1 + s2, (p1 + p2).min(38)),
            _ => {
                // Both sides are first cast to their common decimal, which may not hold them
                // when its precision is capped at 38.
                let s = s1.max(s2);
                let common = 10i128.pow(((p1 - s1).max(p2 - s2) + s).min(38));
                let rescale = |v: i128, from: u32| {
                    v.checked_mul(10i128.pow(s - from))
                        .filter(|x| x.unsigned_abs() < common.unsigned_abs())
                };
                let sum = match (rescale(a, s1), rescale(b, s2)) {
                    (Some(x), Some(y)) if op == "+" => x.checked_add(y),
                    (Some(x), Some(y)) => x.checked_sub(y),
                    _ => None,
                };
                (sum, s, ((p1 - s1).max(p2 - s2) + s + 1).min(38))
            }
        };
        if scale > 38 {
            assert!(
                e.execute(&sql).is_err(),
                "case {case} (seed {seed:#x}): {sql}"
            );
            continue;
        }
        let fits = exact.filter(|v| v.unsigned_abs() < 10u128.pow(precision));
        match (fits, e.execute(&sql)) {
            (Some(v), Ok(out)) => assert_eq!(
                rows(&out),
                [text(v, scale)],
                "case {case} (seed {seed:#x}): {sql}"
            ),
            (None, Err(err)) => assert_eq!(
                err.code(),
                "NUMERIC_OVERFLOW",
                "case {case} (seed {seed:#x}): {sql}: {err}"
            ),
            (want, got) => panic!(
                "case {case} (seed {seed:#x}): {sql}: expected {want:?}, got {:?}",
                got.map(|out| rows(&out))
            ),
        }
    }
}
