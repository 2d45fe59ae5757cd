//! Hostile request bodies and statements against the real binary (issue 13, acceptance 1): each
//! input class either answers (2xx) or is refused with a 4xx and a stable code, the server stays
//! up for the next request, and a refusal changes nothing (the same rows, the same columns).
//!
//! The server runs with small shape limits, so that "just over the limit" costs little to send;
//! each limit is also tried just at its value, which must pass.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

/// The limits this test's server runs with.
const FIELDS_MAX: usize = 100;
const COLUMNS_MAX: usize = 150;
const ROW_BYTES_MAX: usize = 10_000;
const DEPTH_MAX: usize = 8;
const BODY_BYTES_MAX: usize = 8 << 20;
const DECODED_BYTES_MAX: usize = 16 << 20;

fn post(server: &Server, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut request = client.post(format!("{}{path}", server.url)).body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn ingest(server: &Server, table: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    post(
        server,
        &format!("/v1/tables/{table}/ingest"),
        &[("content-type", content_type)],
        body,
    )
}

/// The state a refusal must leave alone: every table's row count and columns.
fn state(server: &Server) -> Value {
    json!({
        "t": server.scalar("SELECT COUNT(*) FROM t"),
        "t_columns": server.rows("DESCRIBE t").len(),
        "v": server.scalar("SELECT COUNT(*) FROM v"),
        "tables": server.rows("SHOW TABLES"),
    })
}

#[track_caller]
fn assert_refused(server: &Server, before: &Value, what: &str, got: (u16, Value), code: &str) {
    let (status, body) = got;
    assert!(
        (400..500).contains(&status),
        "{what}: status {status}: {body}"
    );
    assert_eq!(body["error"]["code"], json!(code), "{what}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.len() > 20,
        "{what}: the message must say what to fix: {body}"
    );
    assert_eq!(
        reqwest::blocking::get(format!("{}/health", server.url))
            .unwrap()
            .status()
            .as_u16(),
        200,
        "{what}: the server must stay up"
    );
    assert_eq!(
        &state(server),
        before,
        "{what}: a refusal must change nothing"
    );
}

fn wide_json(fields: usize, prefix: &str) -> Vec<u8> {
    let mut line = String::from("{\"time\": 1");
    for i in 0..fields - 1 {
        line.push_str(&format!(", \"{prefix}{i}\": {i}"));
    }
    line.push_str("}\n");
    line.into_bytes()
}

#[test]
fn hostile_bodies_are_refused_with_their_limit_and_change_nothing() {
    let dir = TempDir::new("hostile-bodies");
    let server = Server::start_with(
        dir.path(),
        &[
            "--row-fields-max",
            &FIELDS_MAX.to_string(),
            "--table-columns-max",
            &COLUMNS_MAX.to_string(),
            "--row-bytes-max",
            &ROW_BYTES_MAX.to_string(),
            "--nesting-depth-max",
            &DEPTH_MAX.to_string(),
            "--body-bytes-max",
            &BODY_BYTES_MAX.to_string(),
            "--decoded-bytes-max",
            &DECODED_BYTES_MAX.to_string(),
        ],
    );
    server.sql(
        "CREATE TABLE t (time TIMESTAMP NOT NULL, n BIGINT, s VARCHAR) WITH (time_column = 'time')",
    );
    server.ingest_ok("t", "{\"time\": 1, \"n\": 1, \"s\": \"a\"}\n");
    server.sql("CREATE TABLE v (n BIGINT)");
    let before = state(&server);

    // -- nesting: a million brackets, in a known column and in a new one; at the limit, the
    // value is read (and refused for a BIGINT column), not refused as too deep.
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    for field in ["s", "new_field"] {
        let body = format!("{{\"time\": 2, \"{field}\": {}}}\n", deep(1_000_000));
        let got = ingest(&server, "t", "application/x-ndjson", body.into_bytes());
        assert_refused(
            &server,
            &before,
            "1M nested brackets",
            got,
            "NESTING_TOO_DEEP",
        );
    }
    // (A nested value is kept as JSON text in a VARCHAR column; `n` is BIGINT.)
    let body = format!("{{\"time\": 2, \"n\": {}}}\n", deep(DEPTH_MAX - 1));
    let got = ingest(&server, "t", "application/x-ndjson", body.into_bytes());
    assert_refused(&server, &before, "nesting at the limit", got, "INVALID_ROW");
    let body = format!("{{\"time\": 2, \"s\": {}}}\n", deep(DEPTH_MAX));
    let got = ingest(&server, "t", "application/x-ndjson", body.into_bytes());
    assert_refused(
        &server,
        &before,
        "nesting over the limit",
        got,
        "NESTING_TOO_DEEP",
    );
    // A new table from a deeply nested body is not created.
    let body = format!("{{\"time\": 2, \"x\": {}}}\n", deep(100_000));
    let got = ingest(&server, "fresh", "application/x-ndjson", body.into_bytes());
    assert_refused(
        &server,
        &before,
        "nested body, new table",
        got,
        "NESTING_TOO_DEEP",
    );

    // -- fields per row: JSON keys and CSV header columns, at and over the limit.
    let got = ingest(
        &server,
        "t",
        "application/x-ndjson",
        wide_json(FIELDS_MAX + 1, "f"),
    );
    assert_refused(&server, &before, "JSON fields over", got, "TOO_MANY_FIELDS");
    let got = ingest(
        &server,
        "t",
        "application/x-ndjson",
        wide_json(100_000, "f"),
    );
    assert_refused(&server, &before, "100k JSON fields", got, "TOO_MANY_FIELDS");
    let header: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
    let csv = format!("{}\n{}\n", header.join(","), vec!["1"; 100_000].join(","));
    let got = ingest(&server, "t", "text/csv", csv.into_bytes());
    assert_refused(&server, &before, "100k CSV columns", got, "TOO_MANY_FIELDS");
    let header: Vec<String> = (0..=FIELDS_MAX).map(|i| format!("c{i}")).collect();
    let csv = format!(
        "{}\n{}\n",
        header.join(","),
        vec!["1"; FIELDS_MAX + 1].join(",")
    );
    let got = ingest(&server, "t", "text/csv", csv.into_bytes());
    assert_refused(&server, &before, "CSV columns over", got, "TOO_MANY_FIELDS");

    // -- bytes per row, at and over.
    let row = |len: usize| format!("{{\"time\": 2, \"s\": \"{}\"}}\n", "x".repeat(len));
    // The row is its string plus two BIGINT-wide values (time, n: null but present).
    let got = ingest(
        &server,
        "t",
        "application/x-ndjson",
        row(ROW_BYTES_MAX - 15).into_bytes(),
    );
    assert_refused(&server, &before, "row bytes over", got, "ROW_TOO_LARGE");
    let got = ingest(
        &server,
        "t",
        "text/csv",
        format!(
            "time,s\n2024-01-01T00:00:00Z,{}\n",
            "y".repeat(ROW_BYTES_MAX)
        )
        .into_bytes(),
    );
    assert_refused(&server, &before, "CSV row bytes over", got, "ROW_TOO_LARGE");

    // -- garbage in every format, invalid UTF-8, bombs.
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (content_type, code) in [
        ("application/vnd.apache.arrow.stream", "INVALID_BODY"),
        ("application/vnd.apache.parquet", "INVALID_BODY"),
        ("application/x-ndjson", "INVALID_ROW"),
    ] {
        let got = ingest(&server, "t", content_type, garbage.clone());
        assert_refused(&server, &before, content_type, got, code);
    }
    // A Parquet magic around garbage, an Arrow continuation marker before garbage.
    let mut parquet = b"PAR1".to_vec();
    parquet.extend_from_slice(&garbage);
    parquet.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
    parquet.extend_from_slice(b"PAR1");
    let got = ingest(&server, "t", "application/vnd.apache.parquet", parquet);
    assert_refused(
        &server,
        &before,
        "Parquet footer claiming 2 GiB",
        got,
        "INVALID_BODY",
    );
    let mut arrow = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    arrow.extend_from_slice(&garbage);
    let got = ingest(&server, "t", "application/vnd.apache.arrow.stream", arrow);
    assert_refused(
        &server,
        &before,
        "Arrow message claiming 2 GiB",
        got,
        "INVALID_BODY",
    );
    let got = ingest(
        &server,
        "t",
        "application/x-ndjson",
        b"{\"time\": 2, \"s\": \"\xff\xfe\xc3\x28\"}\n".to_vec(),
    );
    assert_refused(&server, &before, "invalid UTF-8 JSON", got, "INVALID_ROW");
    let got = ingest(
        &server,
        "t",
        "text/csv",
        b"time,s\n2024-01-01T00:00:00Z,\xff\xfe\xc3\x28\n".to_vec(),
    );
    assert_refused(&server, &before, "invalid UTF-8 CSV", got, "INVALID_ROW");
    for encoding in ["gzip", "zstd"] {
        let got = post(
            &server,
            "/v1/tables/t/ingest",
            &[
                ("content-type", "application/x-ndjson"),
                ("content-encoding", encoding),
            ],
            garbage.clone(),
        );
        assert_refused(&server, &before, encoding, got, "INVALID_BODY");
    }
    // Decompression bombs: 1 GiB of newlines in a few hundred KiB stop at the body limit.
    let zeros = vec![b'\n'; 1 << 30];
    let bomb = zstd::encode_all(&zeros[..], 19).unwrap();
    drop(zeros);
    let got = post(
        &server,
        "/v1/tables/t/ingest",
        &[
            ("content-type", "application/x-ndjson"),
            ("content-encoding", "zstd"),
        ],
        bomb,
    );
    assert_refused(&server, &before, "zstd bomb", got, "BODY_TOO_LARGE");

    // Parquet bombs: a few KB that decode to far more than the limit, by run-length encoding
    // (4M rows of one number) and by a dictionary (one 100 KB string, 400 times).
    let parquet_of = |batch: arrow::record_batch::RecordBatch| {
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out
    };
    let constant = arrow::array::Int64Array::from(vec![7i64; 4_000_000]);
    let bomb = parquet_of(
        arrow::record_batch::RecordBatch::try_from_iter([(
            "n",
            std::sync::Arc::new(constant) as arrow::array::ArrayRef,
        )])
        .unwrap(),
    );
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let got = ingest(&server, "t", "application/vnd.apache.parquet", bomb);
    assert_refused(
        &server,
        &before,
        "Parquet RLE bomb",
        got,
        "DECODED_TOO_LARGE",
    );
    let big = "z".repeat(100_000);
    let strings = arrow::array::StringArray::from(vec![big.as_str(); 400]);
    let bomb = parquet_of(
        arrow::record_batch::RecordBatch::try_from_iter([(
            "s",
            std::sync::Arc::new(strings) as arrow::array::ArrayRef,
        )])
        .unwrap(),
    );
    let limits_hit = ingest(&server, "t", "application/vnd.apache.parquet", bomb);
    // 400 rows of 100 KB: each row is over --row-bytes-max too; the decoded size is met first.
    assert_refused(
        &server,
        &before,
        "Parquet dictionary bomb",
        limits_hit,
        "DECODED_TOO_LARGE",
    );

    // -- huge numbers and 1 MB names.
    let got = ingest(
        &server,
        "t",
        "application/x-ndjson",
        b"{\"time\": 2, \"n\": 1e400}\n".to_vec(),
    );
    assert_refused(&server, &before, "1e400", got, "INVALID_ROW");
    let got = ingest(
        &server,
        "t",
        "application/x-ndjson",
        format!("{{\"time\": 2, \"n\": {}}}\n", "9".repeat(100_000)).into_bytes(),
    );
    assert_refused(&server, &before, "a 100k-digit number", got, "INVALID_ROW");
    let long_name = "k".repeat(1 << 20);
    let got = ingest(
        &server,
        "t",
        "application/x-ndjson",
        format!("{{\"time\": 2, \"{long_name}\": 1}}\n").into_bytes(),
    );
    assert_refused(
        &server,
        &before,
        "1 MB column name",
        got,
        "IDENTIFIER_TOO_LONG",
    );
    // (A URL of a 1 MB name is refused by the client; 16 KiB stands for it.)
    let got = ingest(
        &server,
        &"k".repeat(16 << 10),
        "application/x-ndjson",
        b"{\"time\": 2}\n".to_vec(),
    );
    assert_refused(
        &server,
        &before,
        "16 KiB table name",
        got,
        "INVALID_TABLE_NAME",
    );
    let got = server.sql_raw(&format!("CREATE TABLE u (\"{long_name}\" BIGINT)"));
    assert_refused(
        &server,
        &before,
        "1 MB column in DDL",
        got,
        "IDENTIFIER_TOO_LONG",
    );
    let got = server.sql_raw(&format!("SELECT \"{long_name}\" FROM t"));
    assert_refused(
        &server,
        &before,
        "1 MB identifier in SQL",
        got,
        "COLUMN_NOT_FOUND",
    );
    let (status, body) = server.sql_raw(&format!("SELECT 1 AS \"{long_name}\""));
    assert_eq!(status, 200, "a 1 MB alias is only a long name: {body}");
    let (status, body) = server.sql_raw("SELECT 99999999999999999999999999999999999999 + 1");
    assert!(status == 200 || status == 400, "{body}");

    // -- columns per table: the table grows to the limit and no further.
    let add = |from: usize, to: usize| {
        let mut line = String::from("{\"time\": 3");
        for i in from..to {
            line.push_str(&format!(", \"g{i}\": {i}"));
        }
        line.push_str("}\n");
        line.into_bytes()
    };
    // 3 columns now; 2 requests of 60 new fields reach 123, one more of 60 would be 183.
    assert_eq!(
        ingest(&server, "t", "application/x-ndjson", add(0, 60)).0,
        200
    );
    assert_eq!(
        ingest(&server, "t", "application/x-ndjson", add(60, 120)).0,
        200
    );
    let before = state(&server);
    assert_eq!(before["t_columns"], json!(123));
    let got = ingest(&server, "t", "application/x-ndjson", add(120, 180));
    assert_refused(&server, &before, "columns over", got, "TOO_MANY_COLUMNS");
    // Exactly at the limit is fine.
    assert_eq!(
        ingest(&server, "t", "application/x-ndjson", add(120, 147)).0,
        200
    );
    let before = state(&server);
    assert_eq!(before["t_columns"], json!(COLUMNS_MAX));
    let cols: Vec<String> = (0..=COLUMNS_MAX).map(|i| format!("c{i} BIGINT")).collect();
    let got = server.sql_raw(&format!("CREATE TABLE wide ({})", cols.join(", ")));
    assert_refused(
        &server,
        &before,
        "CREATE TABLE over",
        got,
        "TOO_MANY_COLUMNS",
    );

    // -- statements: a million-row INSERT ... VALUES is stored (6 MB of text, under the
    // body and statement limits); the same over the body limit is refused.
    let values: Vec<String> = (0..1_000_000).map(|i| format!("({})", i % 10)).collect();
    let insert = format!("INSERT INTO v VALUES {}", values.join(","));
    assert!(insert.len() < BODY_BYTES_MAX);
    let (status, body) = server.sql_raw(&insert);
    assert_eq!(
        status,
        200,
        "{}",
        &body.to_string()[..200.min(body.to_string().len())]
    );
    assert_eq!(
        server.rows("SELECT COUNT(*), SUM(n) FROM v"),
        vec![vec![json!(1_000_000), json!(4_500_000)]]
    );
    let before = state(&server);
    let values: Vec<String> = (0..2_500_000).map(|i| format!("({})", i % 10)).collect();
    // Over the body limit the server stops reading and answers 413; a client still sending may
    // meet the closed connection first (a broken pipe) instead of the answer. Either way the
    // server stays up and nothing changes.
    let sent = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sql", server.url))
        .json(&json!({"query": format!("INSERT INTO v VALUES {}", values.join(","))}))
        .send();
    match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let body: Value = r.json().unwrap_or(Value::Null);
            assert_refused(
                &server,
                &before,
                "10 MB INSERT",
                (status, body),
                "BODY_TOO_LARGE",
            );
        }
        Err(e) => {
            assert!(e.is_request(), "10 MB INSERT: {e}");
            assert_eq!(state(&server), before, "10 MB INSERT changed something");
        }
    }
    let got = post(
        &server,
        "/v1/sql",
        &[("content-type", "text/plain")],
        b"SELECT '\xff\xfe' AS x".to_vec(),
    );
    assert_refused(&server, &before, "invalid UTF-8 SQL", got, "INVALID_BODY");

    assert_eq!(state(&server), before);
}
