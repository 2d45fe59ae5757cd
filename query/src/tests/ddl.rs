//! Statements that change tables: CREATE, DROP, ALTER TABLE, FLUSH, and their options.

use super::*;

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
