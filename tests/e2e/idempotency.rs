//! Idempotent producers: an ingest request retried with the same `Idempotency-Key` is stored
//! once, before and after a SIGKILL and after FLUSH TABLE truncated the log; a different key is
//! stored again; a key reused for another body is a 422; a malformed key a 400; a key is
//! forgotten after the window.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Server, TempDir};

/// What one ingest request got back.
struct Answer {
    status: u16,
    replayed: bool,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
}

fn post(server: &Server, key: Option<&str>, body: &str, skip: bool) -> Answer {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let query = if skip { "?on_error=skip" } else { "" };
    let mut request = client
        .post(format!("{}/v1/tables/ev/ingest{query}", server.url))
        .header("content-type", "application/x-ndjson")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let r = request.send().unwrap();
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    Answer {
        status,
        replayed,
        text: r.text().unwrap(),
    }
}

fn rows(first: i64, n: i64) -> String {
    (first..first + n)
        .map(|i| format!("{{\"time\": {}, \"id\": {i}}}\n", 1_704_067_200_000 + i))
        .collect()
}

fn count(server: &Server) -> i64 {
    server
        .scalar("SELECT count(*) FROM ev")
        .as_i64()
        .expect("a count")
}

/// Sends `body` with `key` and expects the first answer back, replayed, storing nothing.
fn expect_replay(server: &Server, key: &str, body: &str, first: &Answer) {
    let before = count(server);
    let again = post(server, Some(key), body, false);
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(
        again.replayed,
        "{key}: not marked as a replay: {}",
        again.text
    );
    assert_eq!(again.text, first.text, "{key}: the replay differs");
    assert_eq!(count(server), before, "{key}: a replay stored rows");
}

#[test]
fn a_retried_request_is_stored_once_across_sigkill_and_flush() {
    let dir = TempDir::new("idempotency");
    let mut server = Server::start(dir.path());
    let body_a = rows(0, 3);
    // The first request creates the table (schemaless ingest).
    let first = post(&server, Some("req-1"), &body_a, false);
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(!first.replayed);
    assert_eq!(first.json()["rows_ingested"], 3);
    expect_replay(&server, "req-1", &body_a, &first);
    // The IETF draft's quoted form names the same key.
    expect_replay(&server, "\"req-1\"", &body_a, &first);
    assert_eq!(count(&server), 3);

    server.kill();
    let mut server = Server::start(dir.path());
    // Recognised from the log after the crash.
    expect_replay(&server, "req-1", &body_a, &first);
    // A different key is another request: stored again.
    let second = post(&server, Some("req-2"), &body_a, false);
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(!second.replayed);
    assert_eq!(count(&server), 6);
    // The same key with another body: refused, nothing stored.
    let reused = post(&server, Some("req-1"), &rows(100, 2), false);
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.json()["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert!(
        reused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("use a new key"),
        "{}",
        reused.text
    );
    // Same body, other options (on_error=skip): another request too.
    let skipping = post(&server, Some("req-1"), &body_a, true);
    assert_eq!(skipping.status, 422, "{}", skipping.text);
    assert_eq!(count(&server), 6);

    // Persist everything: the log is truncated, the keys live on in the manifest's keys file.
    server.sql("FLUSH TABLE ev");
    let third = post(&server, Some("req-3"), &rows(200, 4), false);
    assert_eq!(third.status, 200, "{}", third.text);
    server.kill();
    // The keys of the flushed requests are in a keys file the manifest lists.
    let keys_files: Vec<_> = std::fs::read_dir(dir.path().join("tables"))
        .unwrap()
        .flat_map(|t| std::fs::read_dir(t.unwrap().path().join("idempotency")).into_iter())
        .flatten()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(keys_files.len(), 1, "{keys_files:?}");
    let manifest =
        std::fs::read_to_string(keys_files[0].parent().unwrap().join("../manifest.json")).unwrap();
    assert!(manifest.contains("idempotency_files"), "{manifest}");
    let server = Server::start(dir.path());
    expect_replay(&server, "req-1", &body_a, &first);
    expect_replay(&server, "req-2", &body_a, &second);
    expect_replay(&server, "req-3", &rows(200, 4), &third);
    assert_eq!(count(&server), 10);
    let persisted = server.scalar(
        "SELECT count(*) FROM system.segments WHERE \"table\" = 'ev' AND state = 'persisted'",
    );
    assert!(persisted.as_i64().unwrap() >= 1, "{persisted}");

    // Without a key a retry is another request.
    assert_eq!(post(&server, None, &body_a, false).status, 200);
    assert_eq!(count(&server), 13);

    // Malformed keys: a 400 that says what is wrong, nothing stored.
    let long = "k".repeat(256);
    for (key, why) in [
        (long.as_str(), "256 bytes"),
        ("a b", "byte 1"),
        ("", "empty"),
    ] {
        let bad = post(&server, Some(key), &body_a, false);
        assert_eq!(bad.status, 400, "{key:?}: {}", bad.text);
        let error = &bad.json()["error"];
        assert_eq!(error["code"], "INVALID_IDEMPOTENCY_KEY");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(why), "{key:?}: {message}");
        assert!(message.contains("1 to 255 visible ASCII"), "{message}");
    }
    assert_eq!(count(&server), 13);

    // Replays are counted.
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.url))
        .unwrap()
        .text()
        .unwrap();
    let replays: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("strata_idempotent_replays_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(replays, 3.0, "{metrics}");
}

#[test]
fn a_key_is_forgotten_after_the_configured_window() {
    let dir = TempDir::new("idempotency-window");
    let server = Server::start_with(dir.path(), &["--idempotency-window-ms", "3000"]);
    let body = rows(0, 2);
    let first = post(&server, Some("k"), &body, false);
    assert_eq!(first.status, 200, "{}", first.text);
    expect_replay(&server, "k", &body, &first);
    std::thread::sleep(Duration::from_millis(3500));
    let later = post(&server, Some("k"), &body, false);
    assert_eq!(later.status, 200, "{}", later.text);
    assert!(
        !later.replayed,
        "past the window the key is new: {}",
        later.text
    );
    assert_eq!(count(&server), 4);
    // ... and recognised again from then on, for the new request.
    expect_replay(&server, "k", &body, &later);
}

#[test]
fn a_skipping_request_replays_its_rejections_too() {
    let dir = TempDir::new("idempotency-skip");
    let server = Server::start(dir.path());
    server.sql("CREATE TABLE ev (time TIMESTAMP NOT NULL, id BIGINT) WITH (time_column = 'time')");
    let body = format!("{}{{\"time\": 1704067200000, \"id\": \"x\"}}\n", rows(0, 2));
    let first = post(&server, Some("s"), &body, true);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json()["rows_ingested"], 2);
    assert_eq!(first.json()["rows_rejected"], 1);
    let again = post(&server, Some("s"), &body, false);
    // on_error differs: another request.
    assert_eq!(again.status, 422, "{}", again.text);
    let client = reqwest::blocking::Client::new();
    let r = client
        .post(format!("{}/v1/tables/ev/ingest?on_error=skip", server.url))
        .header("content-type", "application/x-ndjson")
        .header("idempotency-key", "s")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(r.text().unwrap(), first.text);
    assert_eq!(count(&server), 2);
    let dead = server.scalar("SELECT count(*) FROM system.ingest_errors");
    assert_eq!(dead, 1, "the rejected row is recorded once");
}

/// Concurrent requests with one key: one is stored; each other one is a replay of it or a 409
/// (the first still running) with Retry-After, and stores nothing.
#[test]
fn concurrent_requests_with_one_key_store_once() {
    let dir = TempDir::new("idempotency-concurrent");
    let server = Server::start(dir.path());
    server.sql("CREATE TABLE ev (time TIMESTAMP NOT NULL, id BIGINT) WITH (time_column = 'time')");
    // Large enough that decoding takes a while, so that the requests overlap.
    let body = std::sync::Arc::new(rows(0, 50_000));
    let answers: Vec<(u16, bool, Option<String>, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let body = body.clone();
                let url = server.url.clone();
                s.spawn(move || {
                    let r = reqwest::blocking::Client::new()
                        .post(format!("{url}/v1/tables/ev/ingest"))
                        .header("content-type", "application/x-ndjson")
                        .header("idempotency-key", "same")
                        .body(body.to_string())
                        .send()
                        .unwrap();
                    let status = r.status().as_u16();
                    let replayed = r.headers().contains_key("idempotent-replayed");
                    let retry = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    (status, replayed, retry, r.text().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stored = answers
        .iter()
        .filter(|(status, replayed, _, _)| *status == 200 && !replayed)
        .count();
    assert_eq!(stored, 1, "{answers:?}");
    for (status, replayed, retry, text) in &answers {
        match status {
            200 => assert!(text.contains("\"rows_ingested\":50000"), "{text}"),
            409 => {
                assert!(text.contains("IDEMPOTENCY_KEY_IN_FLIGHT"), "{text}");
                assert_eq!(retry.as_deref(), Some("1"));
                assert!(!replayed);
            }
            other => panic!("{other}: {text}"),
        }
    }
    assert_eq!(count(&server), 50_000);
}
