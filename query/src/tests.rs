//! End-to-end tests of [`QueryEngine`]: SQL in, rows out, over a real [`Storage`] in a
//! temporary directory. Expected values follow PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use strata_storage::{FsyncPolicy, Storage, StorageConfig};

use crate::{ErrorKind, QueryEngine, QueryLimits, QueryOutput};

fn temp_dir(tag: &str) -> std::path::PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("strata-query-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn engine(tag: &str) -> QueryEngine {
    let config = StorageConfig {
        fsync: FsyncPolicy::Never,
        ..StorageConfig::default()
    };
    QueryEngine::new(Storage::open(temp_dir(tag), config).unwrap())
}

/// An engine with table `events`:
///
/// | id | region | user_id | amount | ts                  |
/// |----|--------|---------|--------|---------------------|
/// | 1  | eu     | 10      | 1.5    | 2024-01-01 00:00:00 |
/// | 2  | us     | 20      | 2.5    | 2024-01-01 01:00:00 |
/// | 3  | eu     | 10      | NULL   | 2024-01-02 00:00:00 |
/// | 4  | NULL   | 30      | 4.0    | 2024-01-02 12:00:00 |
/// | 5  | asia   | NULL    | 5.0    | 2024-01-03 00:00:00 |  (second batch)
/// | 6  | eu     | 20      | 6.0    | 2024-01-03 06:00:00 |  (second batch)
fn events(tag: &str) -> QueryEngine {
    let engine = engine(tag);
    engine
        .execute(
            "CREATE TABLE events (id INTEGER NOT NULL, region VARCHAR, user_id BIGINT, amount DOUBLE, ts TIMESTAMP) \
             WITH (time_column = 'ts', partition = 'hour')",
        )
        .unwrap();
    let table = engine.storage.table("events").unwrap();
    let schema = table.def().schema;
    let hour = 3_600_000i64;
    let day = 24 * hour;
    let t0 = 1_704_067_200_000i64; // 2024-01-01T00:00:00Z
    let batch = |id: Vec<i32>,
                 region: Vec<Option<&str>>,
                 user: Vec<Option<i64>>,
                 amount: Vec<Option<f64>>,
                 ts: Vec<i64>| {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(id)),
            Arc::new(StringArray::from(region)),
            Arc::new(Int64Array::from(user)),
            Arc::new(Float64Array::from(amount)),
            Arc::new(TimestampMillisecondArray::from(ts)),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    };
    table
        .append(batch(
            vec![1, 2, 3, 4],
            vec![Some("eu"), Some("us"), Some("eu"), None],
            vec![Some(10), Some(20), Some(10), Some(30)],
            vec![Some(1.5), Some(2.5), None, Some(4.0)],
            vec![t0, t0 + hour, t0 + day, t0 + day + 12 * hour],
        ))
        .unwrap();
    table
        .append(batch(
            vec![5, 6],
            vec![Some("asia"), Some("eu")],
            vec![None, Some(20)],
            vec![Some(5.0), Some(6.0)],
            vec![t0 + 2 * day, t0 + 2 * day + 6 * hour],
        ))
        .unwrap();
    engine
}

/// The rows of a result as text, cells joined by `|`, NULL as `NULL`.
fn rows(out: &QueryOutput) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut lines = vec![];
    for batch in &out.batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            lines.push(cells.join("|"));
        }
    }
    lines
}

fn query(engine: &QueryEngine, sql: &str) -> Vec<String> {
    match engine.execute(sql) {
        Ok(out) => rows(&out),
        Err(e) => panic!("{sql}: {e}"),
    }
}

fn error(engine: &QueryEngine, sql: &str) -> crate::Error {
    match engine.execute(sql) {
        Ok(out) => panic!("{sql}: expected an error, got {:?}", rows(&out)),
        Err(e) => e,
    }
}

fn column_names(out: &QueryOutput) -> Vec<String> {
    out.schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[test]
fn count_star_counts_every_row_of_every_batch() {
    let e = events("count");
    let out = e.execute("SELECT count(*) FROM events").unwrap();
    assert_eq!(rows(&out), ["6"]);
    assert_eq!(column_names(&out), ["count"]);
    assert_eq!(out.stats.rows_scanned, 6);
    assert_eq!(
        *out.schema.field(0).data_type(),
        arrow::datatypes::DataType::Int64
    );
}

#[test]
fn count_column_skips_nulls() {
    let e = events("countcol");
    assert_eq!(
        query(
            &e,
            "SELECT count(region), count(amount), count(*) FROM events"
        ),
        ["5|5|6"]
    );
}

#[test]
fn aggregates_over_no_rows_give_one_row() {
    let e = events("empty");
    assert_eq!(
        query(
            &e,
            "SELECT count(*), sum(id), min(region), avg(amount) FROM events WHERE id > 100"
        ),
        ["0|NULL|NULL|NULL"]
    );
    assert!(query(
        &e,
        "SELECT region, count(*) FROM events WHERE id > 100 GROUP BY region"
    )
    .is_empty());
}

#[test]
fn group_by_having_order_by_limit_offset() {
    let e = events("groupby");
    let sql = "SELECT region, count(*) AS n, sum(amount) FROM events GROUP BY region \
               HAVING count(*) >= 1 ORDER BY n DESC, region LIMIT 3 OFFSET 1";
    // Groups: eu 3, us 1, NULL 1, asia 1; ordered n DESC then region ASC (NULL last).
    assert_eq!(query(&e, sql), ["asia|1|5.0", "us|1|2.5", "NULL|1|4.0"]);
    let having = "SELECT region, count(*) FROM events GROUP BY region HAVING count(*) > 1";
    assert_eq!(query(&e, having), ["eu|3"]);
}

#[test]
fn group_by_position_resolves_to_select_item() {
    let e = events("grouppos");
    assert_eq!(
        query(&e, "SELECT user_id % 20 AS bucket, count(*) FROM events WHERE user_id IS NOT NULL GROUP BY 1 ORDER BY 1"),
        ["0|2", "10|3"]
    );
}

#[test]
fn group_by_select_alias_and_expression() {
    let e = events("groupalias");
    assert_eq!(
        query(
            &e,
            "SELECT id % 2 AS parity, count(*) AS n FROM events GROUP BY parity ORDER BY parity"
        ),
        ["0|3", "1|3"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT id % 2 + 1, sum(id) FROM events GROUP BY id % 2 ORDER BY 2 DESC"
        ),
        ["1|12", "2|9"]
    );
}

#[test]
fn filtered_aggregate_via_where() {
    let e = events("filtered");
    assert_eq!(
        query(
            &e,
            "SELECT sum(amount), max(id) FROM events WHERE region = 'eu'"
        ),
        ["7.5|6"]
    );
}

#[test]
fn sum_of_integers_is_bigint_and_avg_is_double() {
    let e = events("types");
    let out = e
        .execute("SELECT sum(id), avg(id), sum(amount) FROM events")
        .unwrap();
    assert_eq!(rows(&out), ["21|3.5|19.0"]);
    let types: Vec<_> = out
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    use arrow::datatypes::DataType::*;
    assert_eq!(types, [Int64, Float64, Float64]);
}

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
fn sum_overflow_is_an_error() {
    let e = events("sumoverflow");
    let err = error(&e, "SELECT sum(user_id * 1000000000000000000) FROM events");
    assert_eq!(err.code(), "NUMERIC_OVERFLOW", "{err}");
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
fn min_max_of_strings() {
    let e = events("minmaxstr");
    assert_eq!(
        query(&e, "SELECT min(region), max(region) FROM events"),
        ["asia|us"]
    );
}

#[test]
fn count_distinct_ignores_nulls_and_duplicates() {
    let e = events("distinct");
    assert_eq!(
        query(
            &e,
            "SELECT count(DISTINCT user_id), count(DISTINCT region) FROM events"
        ),
        ["3|3"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT region, count(DISTINCT user_id) FROM events GROUP BY region ORDER BY region"
        ),
        ["asia|0", "eu|2", "us|1", "NULL|1"]
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
fn ddl_round_trip() {
    let e = engine("ddl");
    let out = e
        .execute(
            "CREATE TABLE t (a INTEGER NOT NULL, b TEXT, at TIMESTAMP) WITH (time_column = 'at')",
        )
        .unwrap();
    assert_eq!(column_names(&out), ["status"]);
    assert_eq!(
        query(&e, "CREATE TABLE IF NOT EXISTS t (x INT)"),
        ["table \"t\" already exists, nothing done"]
    );
    assert_eq!(error(&e, "CREATE TABLE t (x INT)").code(), "TABLE_EXISTS");
    e.execute("CREATE TABLE s (x BIGINT)").unwrap();
    assert_eq!(query(&e, "SHOW TABLES"), ["s", "t"]);
    assert_eq!(
        query(&e, "DESCRIBE t"),
        [
            "a|INTEGER|NO|false",
            "b|VARCHAR|YES|false",
            "at|TIMESTAMP|NO|true"
        ]
    );
    assert_eq!(query(&e, "SHOW COLUMNS FROM s"), ["x|BIGINT|YES|false"]);
    assert_eq!(query(&e, "SELECT count(*) FROM t"), ["0"]);
    e.execute("DROP TABLE t").unwrap();
    assert_eq!(query(&e, "SHOW TABLES"), ["s"]);
    assert_eq!(
        query(&e, "DROP TABLE IF EXISTS t"),
        ["table \"t\" does not exist, nothing done"]
    );
    assert_eq!(error(&e, "DROP TABLE t").kind(), ErrorKind::NotFound);
}

#[test]
fn create_table_rejects_bad_types_and_options() {
    let e = engine("ddlerr");
    let err = error(&e, "CREATE TABLE t (a BLOB)");
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("supported types"), "{err}");
    let err = error(&e, "CREATE TABLE t (a INT) WITH (colour = 'blue')");
    assert!(
        err.to_string().contains("unknown table option \"colour\""),
        "{err}"
    );
    let err = error(
        &e,
        "CREATE TABLE t (a TIMESTAMP) WITH (time_column = 'a', ttl = 'soon')",
    );
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    let err = error(&e, "CREATE TABLE t (a INT) WITH (time_column = 'a')");
    assert_eq!(err.code(), "TYPE_MISMATCH");
    let err = error(&e, "CREATE TABLE t (a TIMESTAMP) WITH (partition = 'week')");
    assert_eq!(err.code(), "INVALID_ARGUMENT");
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
fn ungrouped_column_is_an_error() {
    let e = events("notgrouped");
    let err = error(&e, "SELECT region, id FROM events GROUP BY region");
    assert_eq!(
        err.to_string(),
        "column \"id\" must appear in the GROUP BY clause or be used in an aggregate function"
    );
    assert_eq!(
        error(&e, "SELECT id, count(*) FROM events").code(),
        "NOT_GROUPED"
    );
    assert_eq!(
        error(&e, "SELECT id FROM events WHERE count(*) > 1").code(),
        "INVALID_ARGUMENT"
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
fn select_distinct_removes_duplicates() {
    let e = events("selectdistinct");
    assert_eq!(
        query(&e, "SELECT DISTINCT region FROM events ORDER BY region"),
        ["asia", "eu", "us", "NULL"]
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
fn boolean_literals_and_casts() {
    let e = engine("bool");
    let out = e
        .execute("SELECT true AND NULL, false AND NULL, true OR NULL, '2024-01-01'::DATE")
        .unwrap();
    assert_eq!(rows(&out), ["NULL|false|true|2024-01-01"]);
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
fn order_by_aggregate_not_in_select_list() {
    let e = events("orderagg");
    assert_eq!(
        query(
            &e,
            "SELECT region FROM events GROUP BY region ORDER BY count(*) DESC, region LIMIT 2"
        ),
        ["eu", "asia"]
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
        error(&e, "SELECT * FROM events a JOIN events b ON a.id < b.id").code(),
        "UNSUPPORTED"
    );
}

/// count, sum, min, max of one group.
type GroupStats = (i64, i64, Option<i64>, Option<i64>);

/// Hash GROUP BY over several batches against a naive per-row computation (seeded).
#[test]
fn group_by_matches_a_naive_reference_on_random_data() {
    use std::collections::BTreeMap;
    let e = engine("randomgroups");
    e.execute("CREATE TABLE r (k VARCHAR, g INTEGER, v BIGINT)")
        .unwrap();
    let table = e.storage.table("r").unwrap();
    let schema = table.def().schema;
    let seed = 0x5eed_u64;
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut reference: BTreeMap<(Option<String>, i32), GroupStats> = BTreeMap::new();
    for _ in 0..5 {
        let (mut ks, mut gs, mut vs) = (vec![], vec![], vec![]);
        for _ in 0..2000 {
            let k = match next() % 7 {
                0 => None,
                n => Some(format!("key{n}")),
            };
            let g = (next() % 3) as i32;
            let v = if next() % 10 == 0 {
                None
            } else {
                Some(next() as i64 % 1000 - 500)
            };
            let entry = reference
                .entry((k.clone(), g))
                .or_insert((0, 0, None, None));
            entry.0 += 1;
            if let Some(v) = v {
                entry.1 += v;
                entry.2 = Some(entry.2.map_or(v, |m| m.min(v)));
                entry.3 = Some(entry.3.map_or(v, |m| m.max(v)));
            }
            ks.push(k);
            gs.push(g);
            vs.push(v);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ks)),
            Arc::new(Int32Array::from(gs)),
            Arc::new(Int64Array::from(vs)),
        ];
        table
            .append(RecordBatch::try_new(schema.clone(), columns).unwrap())
            .unwrap();
    }
    let got = query(&e, "SELECT k, g, count(*), coalesce(sum(v), 0), min(v), max(v) FROM r GROUP BY k, g ORDER BY k, g");
    // The reference orders None first; SQL orders NULL last.
    let expected: Vec<String> = reference
        .iter()
        .filter(|((k, _), _)| k.is_some())
        .chain(reference.iter().filter(|((k, _), _)| k.is_none()))
        .map(|((k, g), (count, sum, min, max))| {
            let opt = |v: &Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
            format!(
                "{}|{g}|{count}|{sum}|{}|{}",
                k.as_deref().unwrap_or("NULL"),
                opt(min),
                opt(max)
            )
        })
        .collect();
    assert_eq!(got, expected, "seed {seed:#x}");
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

#[test]
fn flush_table_persists_and_queries_answer_the_same() {
    let e = events("flush");
    let queries = [
        "SELECT COUNT(*), SUM(amount), MIN(ts), MAX(region) FROM events",
        "SELECT region, COUNT(*) FROM events GROUP BY region ORDER BY region NULLS FIRST",
        "SELECT id FROM events WHERE amount > 2 ORDER BY id",
    ];
    let before: Vec<Vec<String>> = queries.iter().map(|q| query(&e, q)).collect();
    let out = e.execute("FLUSH TABLE events").unwrap();
    // One segment per hour partition: the six rows fall in six different hours.
    assert_eq!(rows(&out), vec!["events|6|6"]);
    let after: Vec<Vec<String>> = queries.iter().map(|q| query(&e, q)).collect();
    assert_eq!(before, after);
    assert_eq!(query(&e, "flush tables events;"), vec!["events|0|0"]);
    assert_eq!(error(&e, "FLUSH TABLE nope").code(), "TABLE_NOT_FOUND");
    assert_eq!(error(&e, "FLUSH TABLE").code(), "SQL_SYNTAX");
    assert_eq!(error(&e, "FLUSH TABLE events,").code(), "SQL_SYNTAX");
    let all = e.execute("FLUSH TABLES").unwrap();
    assert_eq!(all.num_rows(), 1, "one row per table");
}

#[test]
fn sort_key_option_names_existing_columns() {
    let e = engine("sort-key");
    e.execute("CREATE TABLE s (A BIGINT, b VARCHAR) WITH (sort_key = 'b, a')")
        .unwrap();
    let def = e.storage.table("s").unwrap().def();
    assert_eq!(def.options.sort_key, vec!["b".to_string(), "A".to_string()]);
    assert_eq!(
        error(&e, "CREATE TABLE s2 (a BIGINT) WITH (sort_key = 'zz')").code(),
        "COLUMN_NOT_FOUND"
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
    };
    let out = e.execute_with(slow, &generous).unwrap();
    assert_eq!(out.num_rows(), 5);
}

/// Aggregation on several workers (partial states merged) answers like one worker: many
/// batches, many groups, every mergeable aggregate, a grand total, NULL keys and values.
#[test]
fn parallel_aggregation_equals_single_threaded() {
    let e = engine("parallel-agg");
    e.execute("CREATE TABLE p (k BIGINT, s VARCHAR, v INTEGER, f DOUBLE)")
        .unwrap();
    let table = e.storage.table("p").unwrap();
    let schema = table.def().schema;
    // Batches above the live segment's coalescing size, so that the aggregation sees 16.
    for b in 0..16i64 {
        let n = 5000i64;
        let rows = b * n..(b + 1) * n;
        let k: Vec<Option<i64>> = rows
            .clone()
            .map(|i| (i % 101 != 0).then_some(i * 7919 % 3001))
            .collect();
        let s: Vec<Option<String>> = rows
            .clone()
            .map(|i| (i % 13 != 0).then(|| format!("s{}", i * 31 % 17)))
            .collect();
        let v: Vec<Option<i32>> = rows
            .clone()
            .map(|i| (i % 9 != 0).then_some((i * 104729 % 2001 - 1000) as i32))
            .collect();
        let f: Vec<Option<f64>> = rows.map(|i| Some((i % 97) as f64 / 8.0)).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(k)),
                Arc::new(StringArray::from(s)),
                Arc::new(Int32Array::from(v)),
                Arc::new(Float64Array::from(f)),
            ],
        )
        .unwrap();
        table.append(batch).unwrap();
    }
    let queries = [
        "SELECT k, COUNT(*), COUNT(v), SUM(v), MIN(v), MAX(v), MIN(s), MAX(s), COUNT(DISTINCT s) \
         FROM p GROUP BY k ORDER BY k",
        "SELECT s, COUNT(*), SUM(v), AVG(f), VAR_SAMP(v), STDDEV_POP(f) FROM p GROUP BY s \
         ORDER BY s",
        "SELECT COUNT(*), SUM(v), AVG(v), MIN(s), COUNT(DISTINCT k), VAR_POP(f) FROM p",
        "SELECT k % 7, s, SUM(f), COUNT(*) FILTER (WHERE v > 0) FROM p GROUP BY 1, 2 \
         ORDER BY 1, 2",
    ];
    let limits = |threads| QueryLimits {
        threads: Some(threads),
        ..QueryLimits::default()
    };
    for q in queries {
        let one = e.execute_with(q, &limits(1)).unwrap();
        let four = e.execute_with(q, &limits(4)).unwrap();
        let round = |out: &QueryOutput| -> Vec<String> {
            rows(out)
                .iter()
                .map(|l| {
                    l.split('|')
                        .map(|v| match v.parse::<f64>() {
                            Ok(x) if v.contains('.') => format!("{x:.6}"),
                            _ => v.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect()
        };
        assert_eq!(round(&one), round(&four), "{q}");
        assert!(one.num_rows() >= 1, "{q}");
    }
}

/// `SUM(x + c)` is computed as `SUM(x) + c * COUNT(x)` (one SUM and one COUNT for any number of
/// offsets), with the same answers, NULL for a group without values.
#[test]
fn sums_of_offsets_share_one_sum_and_count() {
    let e = events("sum-offsets");
    let sql = "SELECT region, SUM(user_id + 1), SUM(user_id - 2), SUM(3 + user_id), SUM(user_id), \
               COUNT(*) FROM events GROUP BY region ORDER BY region";
    assert_eq!(
        query(&e, sql),
        [
            "asia|NULL|NULL|NULL|NULL|1",
            "eu|43|34|49|40|3",
            "us|21|18|23|20|1",
            "NULL|31|28|33|30|1",
        ]
    );
    let plan = query(&e, &format!("EXPLAIN {sql}")).join("\n");
    assert!(
        plan.contains("AggregateExec: group_by=[region#0] aggregates=[sum(user_id#1), count(user_id#1), count(*)]"),
        "{plan}"
    );
    let total = query(&e, "SELECT SUM(id + 10) FROM events WHERE region = 'eu'");
    assert_eq!(total, ["40"]);
}

/// An engine with `events` and a dimension table `regions(name, label)`.
fn events_and_regions(tag: &str) -> QueryEngine {
    let e = events(tag);
    query(&e, "CREATE TABLE regions (name VARCHAR, label VARCHAR)");
    query(
        &e,
        "INSERT INTO regions VALUES ('eu', 'Europe'), ('us', 'United States'), (NULL, 'none')",
    );
    e
}

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
fn subqueries_run_once_and_correlated_ones_are_a_clear_error() {
    let e = events_and_regions("subquery");
    assert_eq!(
        query(
            &e,
            "SELECT count(*) FROM events WHERE region IN (SELECT name FROM regions)"
        ),
        ["4"]
    );
    let err = error(
        &e,
        "SELECT id FROM events e WHERE amount > (SELECT count(*) FROM regions WHERE name = e.region)",
    );
    assert_eq!(err.code(), "UNSUPPORTED", "{err}");
    assert!(err.to_string().contains("correlated"), "{err}");
    // now() is one value per statement.
    assert_eq!(query(&e, "SELECT count(DISTINCT now()) FROM events"), ["1"]);
}

/// `system.segments` lists every segment of every table: persisted ones with their id and file,
/// the live one with its rows (one persisted segment per hour partition here), and works with WHERE, GROUP BY and ORDER BY like a table.
#[test]
fn system_segments_lists_persisted_and_live_segments() {
    let e = events("system-segments");
    let before = query(
        &e,
        "SELECT \"table\", state, rows, segment_id IS NULL, file IS NULL FROM system.segments",
    );
    assert_eq!(before, ["events|live|6|true|true"]);
    e.execute("FLUSH TABLE events").unwrap();
    e.execute("INSERT INTO events VALUES (7, 'eu', 10, 1.0, TIMESTAMP '2024-01-05 00:00:00')")
        .unwrap();
    let after = query(
        &e,
        "SELECT state, COUNT(*), SUM(rows), MIN(min_time), MAX(max_time) FROM system.segments \
         WHERE \"table\" = 'events' GROUP BY state ORDER BY state",
    );
    assert_eq!(
        after,
        [
            "live|1|1|2024-01-05T00:00:00|2024-01-05T00:00:00",
            "persisted|6|6|2024-01-01T00:00:00|2024-01-03T06:00:00"
        ]
    );
    let files = query(
        &e,
        "SELECT file FROM System.Segments WHERE state = 'persisted' ORDER BY segment_id LIMIT 1",
    );
    assert!(
        files[0].starts_with("tables/") && files[0].ends_with(".parquet"),
        "{files:?}"
    );
    assert_eq!(
        error(&e, "SELECT * FROM system.nope").code(),
        "INVALID_ARGUMENT"
    );
}

/// `ALTER TABLE t SET (ttl = ...)` changes the retention of an existing table (persisted in the
/// catalog); the next retention pass drops the partitions that expired; bad options are errors
/// that change nothing.
#[test]
fn alter_table_sets_ttl_and_retention_follows() {
    let e = events("alter-ttl");
    e.execute("FLUSH TABLE events").unwrap();
    let table = e.storage.table("events").unwrap();
    assert_eq!(table.def().options.ttl_ms, None);
    query(&e, "ALTER TABLE events SET (ttl = '1 day')");
    assert_eq!(table.def().options.ttl_ms, Some(86_400_000));
    // "Now" is 2024-01-03 12:00: partitions that ended before 2024-01-02 12:00 expire.
    let now = 1_704_067_200_000i64 + 2 * 86_400_000 + 12 * 3_600_000;
    assert!(table.expire(now).unwrap() > 0);
    assert_eq!(
        query(&e, "SELECT id FROM events ORDER BY id"),
        ["4", "5", "6"]
    );
    query(
        &e,
        "ALTER TABLE events SET (ttl = 'none', sort_key = 'region, ts')",
    );
    assert_eq!(table.def().options.ttl_ms, None);
    assert_eq!(table.def().options.sort_key, ["region", "ts"]);
    for bad in [
        "ALTER TABLE events SET (ttl = 'soon')",
        "ALTER TABLE events SET (partition = 'day')",
        "ALTER TABLE events SET (colour = 'red')",
        "ALTER TABLE events SET (sort_key = 'nope')",
    ] {
        assert!(e.execute(bad).is_err(), "{bad}");
    }
    assert_eq!(
        error(&e, "ALTER TABLE nope SET (ttl = '1 day')").code(),
        "TABLE_NOT_FOUND"
    );
    assert_eq!(table.def().options.sort_key, ["region", "ts"]);
}

/// A virtual table registered by another crate: `pg_catalog.demo_names`.
struct DemoNames;

impl strata_storage::VirtualTable for DemoNames {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, false),
        ]))
    }

    fn batches(&self, storage: &Storage) -> strata_storage::Result<Vec<RecordBatch>> {
        let mut names = storage.table_names();
        names.sort();
        let column: ArrayRef = Arc::new(StringArray::from(names));
        Ok(vec![RecordBatch::try_new(self.schema(), vec![column])?])
    }
}

#[test]
fn virtual_tables_resolve_qualified_and_through_the_pg_catalog_search_path() {
    let engine = events("virtual");
    engine
        .storage
        .virtual_tables()
        .register("pg_catalog", "demo_names", Arc::new(DemoNames));
    assert_eq!(
        query(&engine, "SELECT name FROM pg_catalog.demo_names"),
        ["events"]
    );
    assert_eq!(query(&engine, "SELECT count(*) FROM demo_names"), ["1"]);
    // A user table of the same name wins over the unqualified pg_catalog one.
    engine
        .execute("CREATE TABLE demo_names (x INTEGER)")
        .unwrap();
    assert_eq!(query(&engine, "SELECT count(*) FROM demo_names"), ["0"]);
    assert_eq!(
        query(&engine, "SELECT count(*) FROM PG_CATALOG.Demo_Names"),
        ["2"]
    );
    // Joins between virtual and user tables work like any scan.
    assert_eq!(
        query(
            &engine,
            "SELECT s.table, count(*) FROM system.segments s JOIN pg_catalog.demo_names d \
             ON s.table = d.name GROUP BY s.table"
        ),
        ["events|1"]
    );
    let e = error(&engine, "SELECT * FROM system.nope");
    assert!(e.to_string().contains("system.segments"), "{e}");
}

#[test]
fn system_cache_counts_chunk_reads_of_persisted_segments() {
    let engine = events("cache");
    engine.execute("FLUSH TABLE events").unwrap();
    let before = query(&engine, "SELECT hits, misses FROM system.cache");
    assert_eq!(before, ["0|0"]);
    query(&engine, "SELECT sum(amount) FROM events");
    let [first] = &query(&engine, "SELECT hits, misses, entries FROM system.cache")[..] else {
        panic!()
    };
    let first: Vec<i64> = first.split('|').map(|v| v.parse().unwrap()).collect();
    assert!(first[1] > 0 && first[2] > 0, "{first:?}");
    query(&engine, "SELECT sum(amount) FROM events");
    let [second] = &query(&engine, "SELECT hits, misses FROM system.cache")[..] else {
        panic!()
    };
    let second: Vec<i64> = second.split('|').map(|v| v.parse().unwrap()).collect();
    assert_eq!(second[1], first[1], "the second scan decodes nothing");
    assert!(second[0] > first[0]);
}

mod hostile;
