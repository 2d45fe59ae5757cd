//! Bad input gets the documented status and error code, and changes nothing.

use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

fn count(server: &Server) -> Value {
    server.scalar("SELECT COUNT(*) FROM t")
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], json!(want_code), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.len() > 10,
        "the message must say what to fix: {body}"
    );
}

#[test]
fn bad_requests_get_clear_errors_and_change_nothing() {
    let dir = TempDir::new("bad-input");
    let server = Server::start_with(dir.path(), &["--body-bytes-max", "4096"]);
    server.sql(
        "CREATE TABLE t (time TIMESTAMP NOT NULL, n BIGINT, s VARCHAR) WITH (time_column = 'time')",
    );
    server.ingest_ok(
        "t",
        "{\"time\": 1, \"n\": 1, \"s\": \"x\"}\n{\"time\": 2, \"n\": 2}\n",
    );
    assert_eq!(count(&server), json!(2));
    let columns_before = server.rows("DESCRIBE t");

    // A malformed JSON line, after good lines: the whole request is refused.
    let (status, body) = server.ingest(
        "t",
        "application/x-ndjson",
        "{\"time\": 3, \"n\": 3}\n{\"time\": 4, \"n\": 4, \"new_col\": 1}\n{\"time\": 5, \"n\": \n",
    );
    assert_error(status, &body, 400, "INVALID_ROW");
    assert_eq!(body["error"]["line"], json!(3), "{body}");
    assert_eq!(count(&server), json!(2));

    // A wrong type for a declared column names line and column.
    let (status, body) = server.ingest(
        "t",
        "application/x-ndjson",
        "{\"time\": 3, \"n\": 3}\n{\"time\": 4, \"n\": \"four\"}\n",
    );
    assert_error(status, &body, 400, "INVALID_ROW");
    assert_eq!(body["error"]["line"], json!(2), "{body}");
    assert_eq!(body["error"]["column"], json!("n"), "{body}");
    assert_eq!(count(&server), json!(2));

    // A missing value for the NOT NULL time column.
    let (status, body) = server.ingest("t", "application/x-ndjson", "{\"n\": 9}\n");
    assert_error(status, &body, 400, "INVALID_ROW");
    assert_eq!(body["error"]["column"], json!("time"), "{body}");

    // A CSV value of the wrong type.
    let (status, body) = server.ingest(
        "t",
        "text/csv",
        "time,n\n2024-01-01T00:00:00Z,1\n2024-01-01T00:00:00Z,x\n",
    );
    assert_error(status, &body, 400, "INVALID_ROW");
    assert_eq!(body["error"]["line"], json!(3), "{body}");
    assert_eq!(count(&server), json!(2));

    // An empty body.
    let (status, body) = server.ingest("t", "application/x-ndjson", "");
    assert_error(status, &body, 400, "EMPTY_BODY");
    let (status, body) = server.ingest("t", "text/csv", "\n\n");
    assert_error(status, &body, 400, "EMPTY_BODY");

    // A body over the limit.
    let big = "{\"time\": 1, \"n\": 1}\n".repeat(400);
    assert!(big.len() > 4096);
    let (status, body) = server.ingest("t", "application/x-ndjson", big);
    assert_error(status, &body, 413, "BODY_TOO_LARGE");
    assert_eq!(count(&server), json!(2));

    // An unsupported content type.
    let (status, body) = server.ingest("t", "application/xml", "<a/>");
    assert_error(status, &body, 415, "UNSUPPORTED_MEDIA_TYPE");

    // An invalid table name is refused before anything is created.
    let (status, body) = server.ingest("bad-name", "application/x-ndjson", "{\"a\": 1}\n");
    assert_error(status, &body, 400, "INVALID_TABLE_NAME");

    // Unknown table and unknown column in SQL.
    let (status, body) = server.sql_raw("SELECT COUNT(*) FROM nope");
    assert_error(status, &body, 404, "TABLE_NOT_FOUND");
    let (status, body) = server.sql_raw("SELECT nope FROM t");
    assert_eq!(status, 400, "{body}");

    // SQL syntax errors.
    let (status, body) = server.sql_raw("SELEC COUNT(*) FROM t");
    assert_error(status, &body, 400, "SQL_SYNTAX");
    let (status, body) = server.sql_raw("SELECT COUNT(* FROM t");
    assert_error(status, &body, 400, "SQL_SYNTAX");

    // A body that is not the documented JSON.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sql", server.url))
        .header("content-type", "application/json")
        .body("{\"sql\": 1}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], json!("INVALID_REQUEST"));

    // Unknown endpoint.
    let r = reqwest::blocking::get(format!("{}/v1/nothing", server.url)).unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // Nothing changed: the same rows and the same columns.
    assert_eq!(count(&server), json!(2));
    assert_eq!(server.rows("DESCRIBE t"), columns_before);
    let (status, _) = (
        reqwest::blocking::get(format!("{}/health", server.url))
            .unwrap()
            .status(),
        (),
    );
    assert_eq!(status.as_u16(), 200);
}

#[test]
fn hostile_sql_does_not_take_the_server_down() {
    let dir = TempDir::new("hostile");
    let server = Server::start(dir.path());
    server.sql("CREATE TABLE t (a BIGINT, b VARCHAR)");
    server.ingest_ok(
        "t",
        "{\"a\": 9223372036854775807, \"b\": \"x\"}\n{\"a\": 0, \"b\": null}\n",
    );
    for (query, status) in [
        ("SELECT a + 1 FROM t", 400),
        ("SELECT 1 / 0", 400),
        (
            "SELECT SUM(a) FROM t WHERE a > 0 OR a = 0 GROUP BY b HAVING SUM(a + a) > 0",
            400,
        ),
        ("SELECT ((((((((((((((((((((1))))))))))))))))))))", 200),
        ("", 400),
        (";;;", 400),
        ("SELECT * FROM t ORDER BY 99", 400),
        ("SELECT b FROM t GROUP BY a", 400),
        ("DROP TABLE nope", 404),
    ] {
        let (got, body) = server.sql_raw(query);
        assert_eq!(got, status, "{query}: {body}");
        assert!(
            body["error"].is_object() || status == 200,
            "{query}: {body}"
        );
    }
    assert_eq!(server.scalar("SELECT COUNT(*) FROM t"), json!(2));
}

/// Statements that used to abort the server (a stack overflow in parse, bind or evaluation):
/// long flat lists answer, deep nesting is refused with its limit's code, and the server stays
/// up for the next request. A read-only client could send any of them.
#[test]
fn hostile_sql_cannot_take_the_server_down() {
    let dir = TempDir::new("hostile-sql");
    let server = Server::start_with(dir.path(), &["--body-bytes-max", "67108864"]);
    server.sql(
        "CREATE TABLE t (time TIMESTAMP NOT NULL, n BIGINT, s VARCHAR) WITH (time_column = 'time')",
    );
    let rows: String = (0..1000)
        .map(|i| format!("{{\"time\": {i}, \"n\": {i}, \"s\": \"s{}\"}}\n", i % 10))
        .collect();
    server.ingest_ok("t", &rows);
    let list = |n: usize, f: &dyn Fn(usize) -> String, sep: &str| {
        (0..n).map(f).collect::<Vec<_>>().join(sep)
    };
    let answers = [
        // IN with 100,000 values (a Grafana multi-value variable): n in 0..1000 step 2.
        (
            format!(
                "SELECT COUNT(*) FROM t WHERE n IN ({})",
                list(100_000, &|i| (i * 2).to_string(), ",")
            ),
            json!(500),
        ),
        (
            format!(
                "SELECT COUNT(*) FROM t WHERE s IN ({})",
                list(100_000, &|i| format!("'s{i}'"), ",")
            ),
            json!(1000),
        ),
        // 20,000 ORs and ANDs.
        (
            format!(
                "SELECT COUNT(*) FROM t WHERE {}",
                list(20_000, &|i| format!("n = {i}"), " OR ")
            ),
            json!(1000),
        ),
        (
            format!(
                "SELECT COUNT(*) FROM t WHERE {}",
                list(20_000, &|i| format!("n <> {}", i + 1000), " AND ")
            ),
            json!(1000),
        ),
        // A long || chain, 5,000 UNION ALL branches.
        (
            format!("SELECT length({})", list(20_000, &|_| "'a'".into(), " || ")),
            json!(20_000),
        ),
        (
            format!(
                "SELECT COUNT(*) FROM ({}) u",
                list(5_000, &|i| format!("SELECT {i} AS k"), " UNION ALL ")
            ),
            json!(5_000),
        ),
    ];
    for (query, want) in answers {
        let (status, body) = server.sql_raw(&query);
        assert_eq!(status, 200, "{}...: {body}", &query[..60]);
        assert_eq!(body["rows"][0][0], want, "{}...", &query[..60]);
    }
    let refused = [
        (
            format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            "EXPRESSION_TOO_DEEP",
        ),
        (
            format!("SELECT 1{}", "+1".repeat(200_000)),
            "EXPRESSION_TOO_DEEP",
        ),
        (
            format!("SELECT {}1{}", "abs(".repeat(10_000), ")".repeat(10_000)),
            "EXPRESSION_TOO_DEEP",
        ),
        (
            format!("SELECT 1 /* {} */", "x".repeat(9 << 20)),
            "QUERY_TOO_LARGE",
        ),
    ];
    for (query, code) in refused {
        let (status, body) = server.sql_raw(&query);
        assert_error(status, &body, 400, code);
    }
    assert_eq!(count(&server), json!(1000));
}
