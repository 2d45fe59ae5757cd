//! The HTTP API surface: result formats, streaming in bounded memory, cancellation,
//! compression both ways, `on_error=skip`, Parquet ingest, access control, TLS, `/metrics`.

use std::io::Read;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .unwrap()
}

/// A batch of `n` rows starting at row `start`: ts, id, value, label (a 24-character string).
pub fn batch(start: i64, n: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("id", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    let ids: Vec<i64> = (start..start + n as i64).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                ids.iter().map(|i| 1_704_067_200_000 + i),
            )),
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|&i| i as f64 * 0.5),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("label-{i:018}")),
            )),
        ],
    )
    .unwrap()
}

fn arrow_ipc(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    w.write(batch).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

/// Posts a table's rows as an Arrow IPC stream, as a client should: a 429 (ingest ahead of
/// persistence) is retried after its `Retry-After`.
pub fn ingest_arrow(server: &Server, table: &str, batch: &RecordBatch) {
    let body = arrow_ipc(batch);
    let started = std::time::Instant::now();
    let (status, body) = loop {
        let (status, answer) =
            server.ingest(table, "application/vnd.apache.arrow.stream", body.clone());
        if status != 429 || started.elapsed() > std::time::Duration::from_secs(300) {
            break (status, answer);
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows_ingested"], json!(batch.num_rows()));
}

fn post_sql(server: &Server, query: &str, format: &str) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/v1/sql", server.url))
        .json(&json!({"query": query, "format": format}))
        .send()
        .unwrap()
}

#[test]
fn every_result_format_reads_back() {
    let dir = TempDir::new("api-formats");
    let server = Server::start(dir.path());
    ingest_arrow(&server, "t", &batch(0, 1000));
    let q = "SELECT id, value, label, ts FROM t WHERE id < 10 ORDER BY id";

    // JSON: rows, stats (with bytes_scanned) and freshness; the query id header.
    let r = post_sql(&server, q, "json");
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-strata-query-id"));
    let body: Value = r.json().unwrap();
    assert_eq!(body["rows"].as_array().unwrap().len(), 10);
    assert_eq!(body["rows"][3][0], json!(3));
    assert!(body["stats"]["bytes_scanned"].as_u64().unwrap() > 0);
    assert_eq!(body["stats"]["rows_scanned"], json!(1000));
    assert!(body["freshness"]["newest_ingest_at"].is_string(), "{body}");
    assert_eq!(
        body["freshness"]["tables"]["t"], body["freshness"]["newest_ingest_at"],
        "{body}"
    );
    assert_eq!(body["freshness"]["live_rows_included"], json!(true));
    // Per table read: an ingest into another table does not make this answer fresher, and a
    // query reading no table has no ingest time.
    let before = body["freshness"]["tables"]["t"].clone();
    std::thread::sleep(std::time::Duration::from_millis(20));
    ingest_arrow(&server, "other", &batch(0, 10));
    let body: Value = post_sql(&server, q, "json").json().unwrap();
    assert_eq!(body["freshness"]["tables"]["t"], before, "{body}");
    assert!(body["freshness"]["tables"].get("other").is_none(), "{body}");
    let body: Value = post_sql(&server, "SELECT 1", "json").json().unwrap();
    assert_eq!(body["freshness"]["newest_ingest_at"], Value::Null, "{body}");
    assert_eq!(body["freshness"]["tables"], json!({}), "{body}");
    // A join reads both tables: the newer one's ingest is the answer's.
    let body: Value = post_sql(
        &server,
        "SELECT count(*) FROM t, other WHERE t.id = other.id",
        "json",
    )
    .json()
    .unwrap();
    let other = body["freshness"]["tables"]["other"].clone();
    assert!(other.is_string(), "{body}");
    assert_eq!(body["freshness"]["newest_ingest_at"], other, "{body}");

    // NDJSON.
    let text = post_sql(&server, q, "ndjson").text().unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[2]["label"], json!(format!("label-{:018}", 2)));

    // CSV with a header.
    let text = post_sql(&server, q, "csv").text().unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,value,label,ts"));
    assert_eq!(
        lines.next(),
        Some("0,0.0,label-000000000000000000,2024-01-01T00:00:00.000Z")
    );
    assert_eq!(lines.count(), 9);

    // Arrow IPC stream, read back by the arrow crate.
    let r = post_sql(&server, q, "arrow");
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let reader = arrow::ipc::reader::StreamReader::try_new(r, None).unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 10);
    let ids = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(ids.value(1), 1);

    // Parquet, read back by the parquet crate.
    let bytes = post_sql(&server, q, "parquet").bytes().unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 10);
    assert_eq!(batches[0].schema().field(2).name(), "label");

    // GET /v1/sql?query=...
    let r = client()
        .get(format!(
            "{}/v1/sql?query=SELECT%20count(*)%20AS%20n%20FROM%20t&format=csv",
            server.url
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "n\n1000\n");

    // Errors carry the query id too.
    let r = post_sql(&server, "SELECT nope FROM t", "json");
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("x-strata-query-id"));

    // system.queries lists what ran.
    let rows = server.rows(
        "SELECT state, count(*) FROM system.queries WHERE sql LIKE '%FROM t%' GROUP BY state \
         ORDER BY state",
    );
    assert!(rows.iter().any(|r| r[0] == json!("finished")), "{rows:?}");
    assert!(rows.iter().any(|r| r[0] == json!("failed")), "{rows:?}");
    let running = server.rows("SELECT query_id, state FROM system.queries WHERE state = 'running'");
    assert_eq!(
        running.len(),
        1,
        "the query reading system.queries: {running:?}"
    );
}

pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Ten million rows streamed as Arrow: the server's peak memory stays far below the result's
/// size. The data is written and persisted first, then the server restarts so that its peak
/// RSS (VmHWM) covers the query only.
#[test]
fn ten_million_rows_stream_in_bounded_server_memory() {
    const ROWS: usize = 10_000_000;
    const PER_REQUEST: usize = 1_000_000;
    let dir = TempDir::new("api-stream");
    {
        let server = Server::start_with(dir.path(), &["--body-bytes-max", "268435456"]);
        for i in 0..ROWS / PER_REQUEST {
            ingest_arrow(
                &server,
                "big",
                &batch((i * PER_REQUEST) as i64, PER_REQUEST),
            );
        }
        server.sql("FLUSH TABLES");
    }
    // The segment read cache keeps decoded chunks up to its budget (1 GiB by default): a small
    // budget here, so that what the bound measures is the stream, plus at most the budget.
    const CACHE_BYTES: u64 = 32 << 20;
    let server = Server::start_with(dir.path(), &["--cache-bytes", &CACHE_BYTES.to_string()]);
    let before = peak_rss_kib(server.pid());
    let r = post_sql(&server, "SELECT * FROM big", "arrow");
    assert_eq!(r.status(), 200);
    let mut counting = CountingReader { inner: r, bytes: 0 };
    let mut rows = 0usize;
    {
        let reader = arrow::ipc::reader::StreamReader::try_new(&mut counting, None).unwrap();
        for b in reader {
            rows += b.unwrap().num_rows();
        }
    }
    assert_eq!(rows, ROWS);
    let peak = peak_rss_kib(server.pid());
    let streamed_kib = counting.bytes / 1024;
    eprintln!(
        "streamed {} MiB; server peak RSS {} MiB (before the query {} MiB)",
        streamed_kib / 1024,
        peak / 1024,
        before / 1024
    );
    // The result is ~500 MB; the server holds a few batches and chunks of it at a time. (What
    // the server holds before the query, the opened table, is not the query's.)
    assert!(streamed_kib > 400 * 1024, "streamed {streamed_kib} KiB");
    assert!(
        peak - before < 128 * 1024 + CACHE_BYTES / 1024,
        "the server's peak RSS grew by {} KiB while streaming {streamed_kib} KiB",
        peak - before
    );
}

struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[test]
fn a_streaming_query_is_cancelled_by_id() {
    let dir = TempDir::new("api-cancel");
    let server = Server::start(dir.path());
    for i in 0..4 {
        ingest_arrow(&server, "c", &batch(i * 500_000, 500_000));
    }
    // A raw HTTP/1.1 client that reads only what it asks for (reqwest reads ahead).
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let body = json!({"query": "SELECT * FROM c", "format": "csv"}).to_string();
    let head = format!(
        "POST /v1/sql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Strata-Query-Id: cancel-me\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    std::io::Write::write_all(&mut conn, head.as_bytes()).unwrap();
    let mut first = vec![0u8; 64 << 10];
    conn.read_exact(&mut first).unwrap();
    let first_text = String::from_utf8_lossy(&first);
    assert!(first_text.starts_with("HTTP/1.1 200"), "{first_text}");
    assert!(
        first_text.contains("x-strata-query-id: cancel-me"),
        "{first_text}"
    );
    // The first rows are here: the query is streaming, blocked on this slow reader.
    let status: Value = server
        .rows("SELECT state FROM system.queries WHERE query_id = 'cancel-me'")
        .remove(0)
        .remove(0);
    assert_eq!(status, json!("running"));
    let d = client()
        .delete(format!("{}/v1/queries/cancel-me", server.url))
        .send()
        .unwrap();
    assert_eq!(d.status(), 200);
    // The rest of the body ends without the last chunk: a broken transfer, never a complete
    // looking result.
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    assert!(!rest.ends_with(b"0\r\n\r\n"), "the response completed");
    let lines = rest.iter().filter(|&&b| b == b'\n').count();
    assert!(lines < 2_000_000, "{lines} lines");
    // The registry says so (the task records it as it stops).
    let mut state = json!(null);
    for _ in 0..100 {
        state = server
            .rows("SELECT state FROM system.queries WHERE query_id = 'cancel-me'")
            .remove(0)
            .remove(0);
        if state != json!("running") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(state, json!("cancelled"));
    // Unknown ids are 404.
    let d = client()
        .delete(format!("{}/v1/queries/cancel-me", server.url))
        .send()
        .unwrap();
    assert_eq!(d.status(), 404);
}

#[test]
fn compression_both_ways_and_zip_bombs() {
    let dir = TempDir::new("api-compress");
    let server = Server::start_with(dir.path(), &["--body-bytes-max", "1048576"]);
    let ndjson: String = (0..2000)
        .map(|i| {
            format!(
                "{{\"time\": {}, \"n\": {i}, \"s\": \"row {i}\"}}\n",
                1_704_067_200_000i64 + i
            )
        })
        .collect();
    // gzip request body.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, ndjson.as_bytes()).unwrap();
    let r = client()
        .post(format!("{}/v1/tables/z/ingest", server.url))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // zstd request body.
    let zst = zstd::encode_all(ndjson.as_bytes(), 3).unwrap();
    let r = client()
        .post(format!("{}/v1/tables/z/ingest", server.url))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "zstd")
        .body(zst)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(server.scalar("SELECT count(*) FROM z"), json!(4000));
    // A small gzip body that expands past the body limit is refused whole.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut bomb, &vec![b' '; 64 << 20]).unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let r = client()
        .post(format!("{}/v1/tables/z/ingest", server.url))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], json!("BODY_TOO_LARGE"));

    // Responses: gzip and zstd when accepted.
    let q = json!({"query": "SELECT n, s FROM z ORDER BY n", "format": "csv"});
    let plain = post_sql(&server, "SELECT n, s FROM z ORDER BY n", "csv")
        .text()
        .unwrap();
    let r = client()
        .post(format!("{}/v1/sql", server.url))
        .header("accept-encoding", "gzip")
        .json(&q)
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(r)
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, plain);
    let r = client()
        .post(format!("{}/v1/sql", server.url))
        .header("accept-encoding", "zstd")
        .json(&q)
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "zstd");
    let bytes = zstd::decode_all(r).unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), plain);
}

#[test]
fn on_error_skip_stores_the_good_rows_and_reports_the_bad() {
    let dir = TempDir::new("api-skip");
    let server = Server::start(dir.path());
    server.ingest_ok("s", "{\"time\": 1704067200000, \"n\": 1}\n");
    let body = "{\"time\": 1704067201000, \"n\": 2}\n\
                {not json\n\
                {\"time\": 1704067202000, \"n\": 3}\n\
                {\"time\": 1704067203000, \"n\": \"three\"}\n\
                {\"time\": 1704067204000, \"n\": 5}\n";
    // Without skip the whole body is refused.
    let (status, _) = server.ingest("s", "application/x-ndjson", body);
    assert_eq!(status, 400);
    let r = client()
        .post(format!("{}/v1/tables/s/ingest?on_error=skip", server.url))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let out: Value = r.json().unwrap();
    assert_eq!(out["rows_ingested"], json!(3), "{out}");
    assert_eq!(out["rows_rejected"], json!(2), "{out}");
    assert_eq!(out["errors"][0]["line"], json!(2));
    assert_eq!(out["errors"][1]["line"], json!(4));
    assert_eq!(out["errors"][1]["column"], json!("n"));
    assert_eq!(server.scalar("SELECT sum(n) FROM s"), json!(1 + 2 + 3 + 5));
    // CSV too; line numbers count the header as line 1.
    let csv = "time,n\n2024-01-01T00:00:05Z,6\n2024-01-01T00:00:06Z,x\n";
    let r = client()
        .post(format!("{}/v1/tables/s/ingest?on_error=skip", server.url))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .unwrap();
    let out: Value = r.json().unwrap();
    assert_eq!(out["rows_ingested"], json!(1), "{out}");
    assert_eq!(out["errors"][0]["line"], json!(3), "{out}");
    // The skipped lines are dead letters in system.ingest_errors, with their text.
    let rows = server.sql(
        "SELECT source, line, \"column\", payload FROM system.ingest_errors ORDER BY time, line",
    )["rows"]
        .clone();
    assert_eq!(
        rows,
        json!([
            json!(["http", 2, null, "{not json"]),
            json!([
                "http",
                4,
                "n",
                "{\"time\": 1704067203000, \"n\": \"three\"}"
            ]),
            json!(["http", 3, "n", "2024-01-01T00:00:06Z,x"]),
        ]),
        "{rows:?}"
    );
}

#[test]
fn parquet_bodies_are_ingested() {
    let dir = TempDir::new("api-parquet-in");
    let server = Server::start(dir.path());
    let b = batch(0, 5000);
    let mut file = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut file, b.schema(), None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let (status, body) = server.ingest("p", "application/vnd.apache.parquet", file.clone());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows_ingested"], json!(5000));
    // Sniffed without a content type.
    let (status, body) = server.ingest("p", "application/octet-stream", file);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.scalar("SELECT count(DISTINCT id) FROM p"),
        json!(5000)
    );
}

fn request(
    server: &Server,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client().request(method, format!("{}{path}", server.url));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(json!(text)))
}

#[test]
fn tokens_and_roles() {
    let dir = TempDir::new("api-auth");
    let server = Server::start_with(
        dir.path(),
        &[
            "--tokens",
            "reader-secret:read,writer-secret:write,admin-secret:admin",
        ],
    );
    let sql = |q: &str| Some(json!({ "query": q }));
    let post = reqwest::Method::POST;
    // /health is open.
    assert_eq!(
        request(&server, None, reqwest::Method::GET, "/health", None).0,
        200
    );
    // No token, a bad token: 401.
    let (status, body) = request(&server, None, post.clone(), "/v1/sql", sql("SELECT 1"));
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], json!("UNAUTHENTICATED"));
    let (status, _) = request(
        &server,
        Some("wrong-secret"),
        post.clone(),
        "/v1/sql",
        sql("SELECT 1"),
    );
    assert_eq!(status, 401);
    // Admin creates, writer inserts and ingests, reader reads.
    let create = sql("CREATE TABLE a (ts TIMESTAMP NOT NULL, n BIGINT) WITH (time_column = 'ts')");
    let (status, body) = request(
        &server,
        Some("writer-secret"),
        post.clone(),
        "/v1/sql",
        create.clone(),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], json!("FORBIDDEN"));
    let (status, body) = request(
        &server,
        Some("admin-secret"),
        post.clone(),
        "/v1/sql",
        create,
    );
    assert_eq!(status, 200, "{body}");
    let insert = sql("INSERT INTO a VALUES (TIMESTAMP '2024-01-01 00:00:00', 1)");
    let (status, _) = request(
        &server,
        Some("reader-secret"),
        post.clone(),
        "/v1/sql",
        insert.clone(),
    );
    assert_eq!(status, 403);
    let (status, body) = request(
        &server,
        Some("writer-secret"),
        post.clone(),
        "/v1/sql",
        insert,
    );
    assert_eq!(status, 200, "{body}");
    let r = client()
        .post(format!("{}/v1/tables/a/ingest", server.url))
        .bearer_auth("reader-secret")
        .header("content-type", "application/x-ndjson")
        .body("{\"ts\": 1704067200000, \"n\": 2}\n")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .post(format!("{}/v1/tables/a/ingest", server.url))
        .bearer_auth("writer-secret")
        .header("content-type", "application/x-ndjson")
        .body("{\"ts\": 1704067200000, \"n\": 2}\n")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = request(
        &server,
        Some("reader-secret"),
        post.clone(),
        "/v1/sql",
        sql("SELECT sum(n) FROM a"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][0][0], json!(3));
    // /metrics needs a token too.
    assert_eq!(
        request(&server, None, reqwest::Method::GET, "/metrics", None).0,
        401
    );
    assert_eq!(
        request(
            &server,
            Some("reader-secret"),
            reqwest::Method::GET,
            "/metrics",
            None
        )
        .0,
        200
    );
}

#[test]
fn no_auth_on_a_public_address_is_refused() {
    let dir = TempDir::new("api-public");
    let out = std::process::Command::new(crate::harness::strata_bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--http-addr", "0.0.0.0:0"])
        .env_remove("STRATA_TOKENS")
        .env_remove("STRATA_AUTH_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without authentication"), "{stderr}");
}

#[test]
fn https_with_a_self_signed_certificate() {
    let dir = TempDir::new("api-tls");
    let Some((cert, key)) = crate::harness::self_signed_cert(dir.path()) else {
        return;
    };
    let data = dir.path().join("data");
    let server = Server::start_with(
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(&cert)
        .arg(format!("{}/health", server.url))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["status"], json!("ok"));
    // Without the CA, curl refuses the certificate; plain HTTP gets no answer.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .arg(format!("{}/health", server.url))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let plain = server.url.replace("https://", "http://");
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("{plain}/health"))
        .output()
        .unwrap();
    assert!(!out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("ok"));
}

/// Parses Prometheus text: `# HELP`/`# TYPE` comments and `name{labels} value` samples.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = vec![];
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP") | Some(&"TYPE")),
                "bad comment: {line}"
            );
            if words[0] == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&words[2]),
                    "bad type: {line}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels: {line}");
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        samples.push((series.to_string(), value));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| *v)
        .unwrap_or(0.0)
}

#[test]
fn metrics_parse_and_move() {
    let dir = TempDir::new("api-metrics");
    let server = Server::start(dir.path());
    let scrape = || {
        let text = client()
            .get(format!("{}/metrics", server.url))
            .send()
            .unwrap()
            .text()
            .unwrap();
        parse_prometheus(&text)
    };
    server.ingest_ok("m", "{\"time\": 1704067200000, \"n\": 1}\n");
    let before = scrape();
    server.ingest_ok(
        "m",
        "{\"time\": 1704067200001, \"n\": 2}\n{\"time\": 1704067200002, \"n\": 3}\n",
    );
    server.sql("SELECT count(*) FROM m");
    let _ = server.sql_raw("SELECT nope FROM m");
    let after = scrape();
    let rows = "strata_ingest_rows_total{table=\"m\"}";
    assert_eq!(sample(&after, rows) - sample(&before, rows), 2.0);
    assert!(
        sample(&after, "strata_ingest_bytes_total{table=\"m\"}")
            > sample(&before, "strata_ingest_bytes_total{table=\"m\"}")
    );
    let ok = "strata_queries_total{protocol=\"http\",status=\"ok\"}";
    assert!(sample(&after, ok) > sample(&before, ok));
    assert!(
        sample(&after, "strata_errors_total{code=\"COLUMN_NOT_FOUND\"}") >= 1.0
            || after
                .iter()
                .any(|(s, _)| s.starts_with("strata_errors_total"))
    );
    assert!(after
        .iter()
        .any(|(s, _)| s.starts_with("strata_query_duration_seconds_bucket")));
    assert!(after
        .iter()
        .any(|(s, _)| s.starts_with("strata_wal_fsync_seconds_count")));
    assert_eq!(
        sample(&after, "strata_segments{table=\"m\",state=\"live\"}"),
        1.0
    );
    // The read cache: a persisted column read twice is one miss, then a hit.
    assert_eq!(sample(&after, "strata_cache_misses_total"), 0.0);
    server.sql("FLUSH TABLE m");
    server.sql("SELECT sum(n) FROM m");
    server.sql("SELECT sum(n) FROM m");
    let cached = scrape();
    assert!(sample(&cached, "strata_cache_misses_total") >= 1.0);
    assert!(sample(&cached, "strata_cache_hits_total") >= 1.0);
    assert!(sample(&cached, "strata_cache_bytes") > 0.0);
    assert!(sample(&cached, "strata_cache_hit_ratio") > 0.0);
}
