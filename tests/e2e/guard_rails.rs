//! Guard rails through the HTTP API: a query over its time limit, one over its memory limit, and
//! one cancelled by DELETE /v1/queries/{id} each fail with their documented status and code,
//! carry their query id, and the next query succeeds.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

fn post_sql(server: &Server, body: Value, query_id: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
        .post(format!("{}/v1/sql", server.url))
        .json(&body);
    if let Some(id) = query_id {
        request = request.header("x-strata-query-id", id);
    }
    let r = request.send().unwrap();
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("x-strata-query-id")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().unwrap();
    (
        status,
        id,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn timeouts_memory_limits_and_cancellation_fail_cleanly() {
    let dir = TempDir::new("guard-rails");
    let server = Server::start_with(dir.path(), &["--result-rows-max", "1000"]);
    let mut body = String::new();
    for i in 0..300_000u64 {
        body.push_str(&format!(
            "{{\"time\": {i}, \"k\": {}, \"u\": {}}}\n",
            i % 50_000,
            i % 7919
        ));
    }
    server.ingest_ok("t", &body);
    let heavy = "SELECT k, COUNT(DISTINCT u), COUNT(*) FROM t GROUP BY k ORDER BY 2 DESC, 1";

    // Every response names its query.
    let (status, id, _) = post_sql(&server, json!({"query": "SELECT COUNT(*) FROM t"}), None);
    assert_eq!(status, 200);
    assert!(id.is_some_and(|id| !id.is_empty()));

    let (status, id, body) = post_sql(&server, json!({"query": heavy, "timeout_ms": 0}), None);
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (504, json!("QUERY_TIMEOUT")),
        "{body}"
    );
    assert!(id.is_some());

    let (status, _, body) = post_sql(
        &server,
        json!({"query": heavy, "memory_limit_bytes": 10_000}),
        None,
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("MEMORY_LIMIT_EXCEEDED")),
        "{body}"
    );

    // A JSON result over the row cap.
    let (status, _, body) = post_sql(&server, json!({"query": "SELECT k FROM t"}), None);
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("RESULT_TOO_LARGE")),
        "{body}"
    );

    // Cancel a running query by the id the client gave it.
    let url = server.url.clone();
    let cancel = std::thread::spawn(move || {
        let http = reqwest::blocking::Client::new();
        for _ in 0..2000 {
            let r = http
                .delete(format!("{url}/v1/queries/heavy-1"))
                .send()
                .unwrap();
            if r.status().as_u16() == 200 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    });
    let (status, id, body) = post_sql(&server, json!({"query": heavy}), Some("heavy-1"));
    let cancelled = cancel.join().unwrap();
    assert!(
        cancelled,
        "the query was never seen running: {status} {body}"
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (499, json!("QUERY_CANCELLED")),
        "{body}"
    );
    assert_eq!(id.as_deref(), Some("heavy-1"));

    // Unknown ids.
    let r = reqwest::blocking::Client::new()
        .delete(format!("{}/v1/queries/nope", server.url))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The server is healthy and the next query succeeds.
    let (status, _, body) = post_sql(&server, json!({"query": heavy, "format": "ndjson"}), None);
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(server.scalar("SELECT COUNT(*) FROM t"), json!(300_000));
}
