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
    let keys_files = keys_file_paths(dir.path());
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

fn seeds() -> Vec<u64> {
    match std::env::var("STRATA_CRASH_SEEDS") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![1, 2, 3],
    }
}

/// Producers send keyed requests while the server is SIGKILLed at a random moment (with small
/// segments, so that persists move keys from the log to keys files meanwhile); after the
/// restart every request is retried with its key: each acknowledged one is replayed, each one in
/// flight at the kill is stored now or replayed, and every request's rows are there exactly
/// once.
#[test]
fn retries_after_sigkill_mid_ingest_store_every_request_exactly_once() {
    for seed in seeds() {
        eprintln!("idempotent crash test seed {seed} (replay with STRATA_CRASH_SEEDS={seed})");
        crash_round(seed);
    }
}

/// What a producer sent: per (client, request), the body and whether it was acknowledged.
type Sent = std::collections::HashMap<(u64, u64), (u64, String, bool)>;

fn crash_round(seed: u64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = TempDir::new(&format!("idempotency-crash-{seed}"));
    let args = ["--segment-rows-max", "3000"];
    let mut server = Server::start_with(dir.path(), &args);
    server.sql(
        "CREATE TABLE crash (time TIMESTAMP NOT NULL, client BIGINT, req BIGINT, seq BIGINT) \
         WITH (time_column = 'time')",
    );
    let sent: Arc<Mutex<Sent>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let key = move |client: u64, req: u64| format!("seed{seed}-client{client}-req{req}");
    let handles: Vec<_> = (0..2u64)
        .map(|client| {
            let (url, sent, stop) = (server.url.clone(), sent.clone(), stop.clone());
            let mut rng = crate::harness::Rng::new(seed * 1000 + client);
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                let mut req = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let n = rng.range(1, 300);
                    let body: String = (0..n)
                        .map(|seq| {
                            format!(
                                "{{\"time\": {}, \"client\": {client}, \"req\": {req}, \"seq\": {seq}}}\n",
                                1_700_000_000_000u64 + req * 1000 + seq
                            )
                        })
                        .collect();
                    sent.lock()
                        .unwrap()
                        .insert((client, req), (n, body.clone(), false));
                    let result = http
                        .post(format!("{url}/v1/tables/crash/ingest"))
                        .header("content-type", "application/x-ndjson")
                        .header("idempotency-key", key(client, req))
                        .body(body)
                        .send();
                    match result {
                        Ok(r) if r.status().as_u16() == 200 => {
                            assert!(!r.headers().contains_key("idempotent-replayed"));
                            sent.lock().unwrap().entry((client, req)).and_modify(|e| e.2 = true);
                        }
                        _ => break,
                    }
                    req += 1;
                }
            })
        })
        .collect();
    let mut rng = crate::harness::Rng::new(seed);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline && !sent.lock().unwrap().values().any(|e| e.2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // ... and a persist that moved keys to a keys file, so that the kill lands among persists.
    while std::time::Instant::now() < deadline && keys_files(dir.path()) == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        keys_files(dir.path()) > 0,
        "seed {seed}: no persist before the kill"
    );
    std::thread::sleep(Duration::from_millis(rng.range(0, 1500)));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }

    let server = Server::start_with(dir.path(), &args);
    let sent = sent.lock().unwrap();
    assert!(
        sent.values().any(|e| e.2),
        "seed {seed}: nothing acknowledged"
    );
    let client = reqwest::blocking::Client::new();
    for ((c, r), (_, body, acked)) in sent.iter() {
        let answer = client
            .post(format!("{}/v1/tables/crash/ingest", server.url))
            .header("content-type", "application/x-ndjson")
            .header("idempotency-key", key(*c, *r))
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200, "seed {seed}: retry of {c}/{r}");
        if *acked {
            assert!(
                answer.headers().contains_key("idempotent-replayed"),
                "seed {seed}: acknowledged request {c}/{r} was not recognised after the crash"
            );
        }
    }
    let stored: std::collections::HashMap<(u64, u64), (u64, u64)> = server
        .rows("SELECT client, req, COUNT(*), COUNT(DISTINCT seq) FROM crash GROUP BY client, req")
        .iter()
        .map(|row| {
            let n = |i: usize| row[i].as_u64().unwrap();
            ((n(0), n(1)), (n(2), n(3)))
        })
        .collect();
    for (k, (rows, _, _)) in sent.iter() {
        assert_eq!(
            stored.get(k).copied(),
            Some((*rows, *rows)),
            "seed {seed}: request {k:?} of {rows} rows must be stored exactly once"
        );
    }
    assert_eq!(stored.len(), sent.len(), "seed {seed}");
    let acked = sent.values().filter(|e| e.2).count();
    eprintln!(
        "seed {seed}: {} requests ({acked} acknowledged before the kill), {} rows, each once",
        sent.len(),
        stored.values().map(|v| v.0).sum::<u64>()
    );
}

/// The keys files in the data directory.
fn keys_file_paths(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(tables) = std::fs::read_dir(dir.join("tables")) else {
        return Vec::new();
    };
    tables
        .flatten()
        .filter_map(|t| std::fs::read_dir(t.path().join("idempotency")).ok())
        .flat_map(|files| files.flatten().map(|f| f.path()))
        .collect()
}

fn keys_files(dir: &std::path::Path) -> usize {
    keys_file_paths(dir).len()
}
