//! The PostgreSQL clients analysts use, against the real binary: SQLAlchemy 2 with psycopg 3
//! and pandas (connect, reflect a table, a Core `select()` with bound parameters, `read_sql`), psql's
//! `\copy` in CSV and text format (compared byte for byte with what PostgreSQL 15 writes for
//! the same rows), and catalog queries Strata cannot answer, which fail with their SQLSTATE.
//!
//! The Python clients run from `bench/.venv` (`.ci/test` installs SQLAlchemy, psycopg and
//! pandas there); psql from the PATH (`postgresql-client`).

use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

/// The Python of the tests' venv when it has `modules` (else the test is skipped, except in CI,
/// where a missing client is a failure).
fn venv_python(modules: &str) -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/.venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{modules} missing from bench/.venv: bash .ci/test installs them"
        );
        eprintln!("SKIPPED: {modules} missing from bench/.venv (bash .ci/test installs them)");
    }
    ok.then_some(python)
}

/// Runs a Python script with the server's PostgreSQL port as its argument; its stdout is JSON.
fn run_python(python: &std::path::Path, script: &str, server: &Server) -> Value {
    let out = Command::new(python)
        .args(["-c", script, &server.pg_port().to_string()])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn psql(server: &Server, args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port().to_string()])
        .args([
            "-U",
            "strata",
            "-d",
            "strata",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql (apt-get install postgresql-client)");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sqlalchemy_and_pandas_connect_reflect_select_and_read_sql() {
    let Some(python) = venv_python("sqlalchemy, psycopg, pandas") else {
        return;
    };
    let dir = TempDir::new("pg-sqlalchemy");
    let server = Server::start(dir.path());
    server.sql(
        "CREATE TABLE trips (ts TIMESTAMP NOT NULL, city VARCHAR NOT NULL, fare DOUBLE, \
         riders BIGINT NOT NULL, paid BOOLEAN NOT NULL) WITH (time_column = 'ts')",
    );
    server.sql(
        "INSERT INTO trips VALUES \
         ('2024-03-01 08:00:00', 'Oslo', 12.5, 1, true), \
         ('2024-03-01 08:05:00', 'Lyon', 30.25, 3, false), \
         ('2024-03-01 08:10:00.5', 'it''s, \"quoted\"', NULL, 2, true), \
         ('2024-03-01 08:15:00', 'Oslo', 7.0, 4, true)",
    );
    let script = r#"
import json, sys
import sqlalchemy as sa
import pandas as pd

engine = sa.create_engine(f"postgresql+psycopg://strata@127.0.0.1:{sys.argv[1]}/strata")
out = {}
with engine.connect() as conn:
    out["isolation"] = conn.exec_driver_sql("SHOW TRANSACTION ISOLATION LEVEL").scalar()
    out["default_schema"] = engine.dialect.default_schema_name
    out["server_version_info"] = list(engine.dialect.server_version_info)
insp = sa.inspect(engine)
out["tables"] = insp.get_table_names()
out["has_table"] = [insp.has_table("trips"), insp.has_table("no_such_table")]
out["columns"] = [[c["name"], str(c["type"]), c["nullable"], c["default"]] for c in insp.get_columns("trips")]
out["schemas"] = insp.get_schema_names()
out["pk"] = insp.get_pk_constraint("trips")
out["indexes"] = insp.get_indexes("trips")
out["foreign_keys"] = insp.get_foreign_keys("trips")
# Reflected: the columns come from the server.
trips = sa.Table("trips", sa.MetaData(), autoload_with=engine)
out["reflected"] = [[c.name, str(c.type)] for c in trips.columns]
query = (
    sa.select(trips.c.city, trips.c.fare, trips.c.riders)
    .where(trips.c.riders >= sa.bindparam("min_riders"))
    .where(trips.c.city != sa.bindparam("skip"))
    .order_by(trips.c.ts)
)
with engine.connect() as conn:
    out["select"] = [list(r) for r in conn.execute(query, {"min_riders": 2, "skip": "Oslo"})]
    out["in"] = conn.execute(
        sa.select(sa.func.count()).select_from(trips).where(trips.c.city.in_(["Oslo", "Lyon"]))
    ).scalar()
df = pd.read_sql(sa.text("SELECT ts, city, fare, riders, paid FROM trips ORDER BY ts"), engine)
out["dtypes"] = {c: str(t) for c, t in df.dtypes.items()}
out["ts"] = [t.isoformat() for t in df["ts"]]
out["city"] = list(df["city"])
out["fare"] = [None if pd.isna(f) else f for f in df["fare"]]
out["riders"] = [int(r) for r in df["riders"]]
out["paid"] = [bool(p) for p in df["paid"]]
oslo = pd.read_sql(sa.select(trips).where(trips.c.city == sa.bindparam("c")), engine, params={"c": "Oslo"})
out["oslo_fares"] = list(oslo["fare"])
print(json.dumps(out))
"#;
    let got = run_python(&python, script, &server);
    assert_eq!(got["isolation"], "read committed");
    assert_eq!(got["default_schema"], "public");
    assert_eq!(got["server_version_info"][0], 16);
    assert_eq!(got["tables"], json!(["trips"]));
    assert_eq!(got["has_table"], json!([true, false]));
    assert_eq!(
        got["schemas"],
        json!(["information_schema", "public", "system"])
    );
    assert_eq!(got["pk"], json!({"name": null, "constrained_columns": []}));
    assert_eq!(got["indexes"], json!([]));
    assert_eq!(got["foreign_keys"], json!([]));
    assert_eq!(
        got["reflected"],
        json!([
            ["ts", "TIMESTAMP"],
            ["city", "VARCHAR"],
            ["fare", "DOUBLE PRECISION"],
            ["riders", "BIGINT"],
            ["paid", "BOOLEAN"],
        ])
    );
    assert_eq!(
        got["columns"],
        json!([
            ["ts", "TIMESTAMP", false, null],
            ["city", "VARCHAR", false, null],
            ["fare", "DOUBLE PRECISION", true, null],
            ["riders", "BIGINT", false, null],
            ["paid", "BOOLEAN", false, null],
        ])
    );
    assert_eq!(
        got["select"],
        json!([["Lyon", 30.25, 3], ["it's, \"quoted\"", null, 2]])
    );
    assert_eq!(got["in"], 3);
    let dtypes = &got["dtypes"];
    assert!(
        dtypes["ts"].as_str().unwrap().starts_with("datetime64"),
        "{dtypes}"
    );
    assert_eq!(dtypes["fare"], "float64", "{dtypes}");
    assert_eq!(dtypes["riders"], "int64", "{dtypes}");
    assert_eq!(dtypes["paid"], "bool", "{dtypes}");
    // pandas 3 infers "str", pandas 2 "object".
    assert!(
        matches!(dtypes["city"].as_str(), Some("str" | "object")),
        "{dtypes}"
    );
    assert_eq!(
        got["ts"],
        json!([
            "2024-03-01T08:00:00",
            "2024-03-01T08:05:00",
            "2024-03-01T08:10:00.500000",
            "2024-03-01T08:15:00"
        ])
    );
    assert_eq!(
        got["city"],
        json!(["Oslo", "Lyon", "it's, \"quoted\"", "Oslo"])
    );
    assert_eq!(got["fare"], json!([12.5, 30.25, null, 7.0]));
    assert_eq!(got["riders"], json!([1, 3, 2, 4]));
    assert_eq!(got["paid"], json!([true, false, true, true]));
    assert_eq!(got["oslo_fares"], json!([12.5, 7.0]));
}

/// The rows of the `\copy` test, in PostgreSQL's and Strata's SQL alike.
const COPY_ROWS: &str = "INSERT INTO copy_t VALUES \
    ('2024-01-01 00:00:00', 1, 'plain', 1.5, true, '2024-01-31'), \
    ('2024-01-01 00:00:01.250', 2, 'comma, \"quotes\"', -0.1, false, NULL), \
    ('2024-01-01 00:00:02', 3, E'new\\nline\\ttab\\\\back\\rcr', 1e20, NULL, '1999-12-31'), \
    ('2024-01-01 00:00:03', NULL, NULL, NULL, NULL, NULL), \
    ('2024-01-01 00:00:04', 5, '', 0, true, '2000-01-01'), \
    ('2024-01-01 00:00:05', 6, E'\\\\N', 3, true, NULL), \
    ('2024-01-01 00:00:06', 7, 'semi;colon', 2.5, false, NULL)";

/// What PostgreSQL 15.18 wrote for `\copy (SELECT * FROM copy_t ORDER BY ts) TO 'file' CSV
/// HEADER` over [`COPY_ROWS`] (a table of TIMESTAMP, BIGINT, VARCHAR, DOUBLE PRECISION,
/// BOOLEAN, DATE).
const POSTGRES_CSV: &[u8] = b"ts,id,s,f,b,d\n2024-01-01 00:00:00,1,plain,1.5,t,2024-01-31\n2024-01-01 00:00:01.25,2,\"comma, \"\"quotes\"\"\",-0.1,f,\n2024-01-01 00:00:02,3,\"new\nline\ttab\\back\rcr\",1e+20,,1999-12-31\n2024-01-01 00:00:03,,,,,\n2024-01-01 00:00:04,5,\"\",0,t,2000-01-01\n2024-01-01 00:00:05,6,\\N,3,t,\n2024-01-01 00:00:06,7,semi;colon,2.5,f,\n";

/// What PostgreSQL 15.18 wrote for `\copy (SELECT * FROM copy_t ORDER BY ts) TO STDOUT`.
const POSTGRES_TEXT: &[u8] = b"2024-01-01 00:00:00\t1\tplain\t1.5\tt\t2024-01-31\n2024-01-01 00:00:01.25\t2\tcomma, \"quotes\"\t-0.1\tf\t\\N\n2024-01-01 00:00:02\t3\tnew\\nline\\ttab\\\\back\\rcr\t1e+20\t\\N\t1999-12-31\n2024-01-01 00:00:03\t\\N\t\\N\t\\N\t\\N\t\\N\n2024-01-01 00:00:04\t5\t\t0\tt\t2000-01-01\n2024-01-01 00:00:05\t6\t\\\\N\t3\tt\t\\N\n2024-01-01 00:00:06\t7\tsemi;colon\t2.5\tf\t\\N\n";

/// What PostgreSQL 15.18 wrote for `\copy (SELECT id, s FROM copy_t ORDER BY ts) TO STDOUT WITH
/// (FORMAT csv, HEADER true, DELIMITER ';', NULL 'NULL', FORCE_QUOTE (s))`.
const POSTGRES_CSV_OPTIONS: &[u8] = b"id;s\n1;\"plain\"\n2;\"comma, \"\"quotes\"\"\"\n3;\"new\nline\ttab\\back\rcr\"\nNULL;NULL\n5;\"\"\n6;\"\\N\"\n7;\"semi;colon\"\n";

#[test]
fn psql_copy_writes_what_postgresql_writes() {
    let dir = TempDir::new("pg-copy");
    let server = Server::start(dir.path());
    server.sql(
        "CREATE TABLE copy_t (ts TIMESTAMP NOT NULL, id BIGINT, s VARCHAR, f DOUBLE, b BOOLEAN, \
         d DATE) WITH (time_column = 'ts')",
    );
    let (ok, _, err) = psql(&server, &["-c", COPY_ROWS]);
    assert!(ok, "{err}");

    let file = dir.path().join("out.csv");
    let copy_to_file = format!(
        "\\copy (SELECT * FROM copy_t ORDER BY ts) TO '{}' CSV HEADER",
        file.display()
    );
    let (ok, out, err) = psql(&server, &["-c", &copy_to_file]);
    assert!(ok, "{err}");
    assert_eq!(String::from_utf8_lossy(&out).trim(), "COPY 7");
    let written = std::fs::read(&file).unwrap();
    assert_eq!(
        written,
        POSTGRES_CSV,
        "CSV differs from PostgreSQL's:\n{}",
        String::from_utf8_lossy(&written)
    );

    for (command, expected) in [
        (
            "\\copy (SELECT * FROM copy_t ORDER BY ts) TO STDOUT",
            POSTGRES_TEXT,
        ),
        (
            "\\copy (SELECT id, s FROM copy_t ORDER BY ts) TO STDOUT WITH (FORMAT csv, \
             HEADER true, DELIMITER ';', NULL 'NULL', FORCE_QUOTE (s))",
            POSTGRES_CSV_OPTIONS,
        ),
        // The same through the server-side statement (psql prints what it receives).
        (
            "COPY (SELECT * FROM copy_t ORDER BY ts) TO STDOUT (FORMAT csv, HEADER)",
            POSTGRES_CSV,
        ),
    ] {
        let (ok, out, err) = psql(&server, &["-c", command]);
        assert!(ok, "{command}: {err}");
        assert_eq!(
            out,
            expected,
            "{command} differs from PostgreSQL's:\n{}",
            String::from_utf8_lossy(&out)
        );
    }

    // A table with its columns, as `\copy t (a, b) TO ...` sends it.
    let (ok, out, err) = psql(
        &server,
        &["-c", "\\copy copy_t (id, b) TO STDOUT WITH (FORMAT csv)"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "1,t\n2,f\n3,\n,\n5,t\n6,t\n7,f\n"
    );

    // COPY FROM stays refused, with feature_not_supported.
    let (ok, _, err) = psql(
        &server,
        &["-v", "VERBOSITY=verbose", "-c", "COPY copy_t FROM STDIN"],
    );
    assert!(!ok);
    assert!(err.contains("0A000"), "{err}");
    // An error in the query is the query's error.
    let (ok, _, err) = psql(
        &server,
        &[
            "-v",
            "VERBOSITY=verbose",
            "-c",
            "\\copy (SELECT nope FROM copy_t) TO STDOUT",
        ],
    );
    assert!(!ok);
    assert!(err.contains("42703"), "{err}");
}

#[test]
fn unanswerable_catalog_queries_fail_with_their_sqlstate() {
    let dir = TempDir::new("pg-catalog-errors");
    let server = Server::start(dir.path());
    server.sql("CREATE TABLE events (ts TIMESTAMP NOT NULL, n BIGINT) WITH (time_column = 'ts')");

    // tokio-postgres: the error, not an empty answer.
    crate::pg::runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=strata dbname=strata",
                server.pg_port()
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        for (sql, state) in [
            ("SELECT * FROM pg_catalog.pg_no_such_table", "42P01"),
            (
                "SELECT relname, no_such_column FROM pg_catalog.pg_class",
                "42703",
            ),
            (
                "SELECT pg_catalog.pg_relation_size(oid) FROM pg_catalog.pg_class",
                "0A000",
            ),
            ("SELECT 'no_such_type'::regtype", "42704"),
        ] {
            for extended in [false, true] {
                let result = if extended {
                    client.query(sql, &[]).await.map(|_| ())
                } else {
                    client.simple_query(sql).await.map(|_| ())
                };
                let e = result.expect_err(sql);
                let code = e.code().map(|c| c.code().to_string());
                assert_eq!(code.as_deref(), Some(state), "{sql}: {e}");
            }
        }
    });

    // psql's catalog commands over the catalog tables without rows.
    for (command, expected) in [
        ("\\du", "strata"),
        ("\\di", "Did not find any relations"),
        ("\\df", "0 rows"),
        ("\\dn", "public"),
        ("\\d events", "timestamp without time zone"),
    ] {
        let (ok, out, err) = psql(&server, &["-c", command]);
        let out = format!("{}{err}", String::from_utf8_lossy(&out));
        assert!(ok, "{command}: {err}");
        assert!(out.contains(expected), "{command}: {out}");
    }

    let Some(python) = venv_python("psycopg") else {
        return;
    };
    // psycopg: its type lookups answer, and a catalog query Strata cannot answer is an error.
    let script = r#"
import json, sys, psycopg
from psycopg.types import TypeInfo
conn = psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="strata", dbname="strata", autocommit=True)
out = {}
int8 = TypeInfo.fetch(conn, "int8")
out["int8"] = [int8.name, int8.oid, int8.array_oid, int8.regtype] if int8 else None
varchar = TypeInfo.fetch(conn, "character varying")
out["varchar"] = varchar.oid if varchar else None
out["hstore"] = TypeInfo.fetch(conn, "hstore") is None
out["regtype"] = conn.execute("SELECT 'timestamp'::regtype::oid, to_regtype('bool')::oid").fetchone()
out["show"] = [conn.execute(f"SHOW {s}").fetchone()[0] for s in ["server_version_num", "standard_conforming_strings", "integer_datetimes", "client_encoding", "DateStyle", "TimeZone", "default_transaction_read_only", "max_identifier_length"]]
conn.execute("SET search_path TO public, pg_catalog")
conn.execute("SET SESSION TIME ZONE 'Europe/Oslo'")
out["set"] = [conn.execute("SHOW search_path").fetchone()[0], conn.execute("SELECT current_setting('timezone')").fetchone()[0]]
out["errors"] = {}
for sql in ["SELECT * FROM pg_catalog.pg_no_such_table", "SELECT no_such_column FROM pg_catalog.pg_type", "SHOW no_such_setting"]:
    try:
        conn.execute(sql)
        out["errors"][sql] = None
    except psycopg.Error as e:
        out["errors"][sql] = e.sqlstate
print(json.dumps(out))
"#;
    let got = run_python(&python, script, &server);
    assert_eq!(got["int8"], json!(["int8", 20, 1016, "bigint"]));
    assert_eq!(got["varchar"], 1043);
    assert_eq!(got["hstore"], true);
    assert_eq!(got["regtype"], json!([1114, 16]));
    assert_eq!(
        got["show"],
        json!(["160006", "on", "on", "UTF8", "ISO, MDY", "UTC", "off", "63"])
    );
    assert_eq!(got["set"], json!(["public, pg_catalog", "Europe/Oslo"]));
    assert_eq!(
        got["errors"],
        json!({
            "SELECT * FROM pg_catalog.pg_no_such_table": "42P01",
            "SELECT no_such_column FROM pg_catalog.pg_type": "42703",
            "SHOW no_such_setting": "42704",
        })
    );
}
