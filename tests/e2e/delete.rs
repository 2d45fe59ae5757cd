//! `DELETE`: rows ingested over HTTP, some persisted by FLUSH, deleted over HTTP and over the
//! PostgreSQL endpoint, the server SIGKILLed and restarted: exactly the rows not deleted are
//! there. A read-only token may not delete.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

const TOKENS: &str = "reader-secret:read,writer-secret:write,admin-secret:admin";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn sql_as(server: &Server, token: &str, query: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/sql", server.url))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

fn ok(server: &Server, query: &str) -> Value {
    let (status, body) = sql_as(server, "writer-secret", query);
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn ingest(server: &Server, ids: std::ops::Range<i64>) {
    let body: String = ids
        .map(|i| {
            let k = ["a", "b", "c"][(i % 3) as usize];
            format!(
                "{{\"time\": {}, \"id\": {i}, \"k\": \"{k}\"}}\n",
                1_704_067_200_000 + i
            )
        })
        .collect();
    let r = client()
        .post(format!("{}/v1/tables/ev/ingest", server.url))
        .bearer_auth("writer-secret")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

/// psql as `token`: success and stdout + stderr.
fn psql(server: &Server, token: &str, sql: &str) -> (bool, String) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port().to_string()])
        .args([
            "-U",
            "someone",
            "-d",
            "strata",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(["-v", "VERBOSITY=verbose", "-c", sql])
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql (apt-get install postgresql-client)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// (count, sum of id, count of k = 'b') of the table.
fn digest(server: &Server) -> Value {
    ok(
        server,
        "SELECT count(*), sum(id), count(*) FILTER (WHERE k = 'b') FROM ev",
    )["rows"][0]
        .clone()
}

#[test]
fn deletes_over_http_and_pg_survive_sigkill_and_need_write_access() {
    let dir = TempDir::new("delete");
    let start = || Server::start_with(dir.path(), &["--tokens", TOKENS]);
    let mut server = start();
    let (status, body) = sql_as(
        &server,
        "admin-secret",
        "CREATE TABLE ev (time TIMESTAMP NOT NULL, id BIGINT, k VARCHAR) WITH (time_column = 'time')",
    );
    assert_eq!(status, 200, "{body}");
    ingest(&server, 0..3000);
    ok(&server, "FLUSH TABLE ev");
    ingest(&server, 3000..6000);

    // Over HTTP: persisted and live rows; the answer has INSERT's shape (one `count` row).
    let body = ok(&server, "DELETE FROM ev WHERE id % 5 = 0");
    assert_eq!(body["rows"], json!([[1200]]), "{body}");
    let insert = ok(
        &server,
        "INSERT INTO ev VALUES (TIMESTAMP '2024-01-01 10:00:00', -1, 'z')",
    );
    assert_eq!(
        body["columns"], insert["columns"],
        "DELETE answers like INSERT"
    );
    // Visible at once.
    assert_eq!(
        ok(&server, "SELECT count(*) FROM ev WHERE id % 5 = 0")["rows"],
        json!([[0]])
    );

    // Over PostgreSQL: the command tag counts the rows.
    let (done, text) = psql(
        &server,
        "writer-secret",
        "DELETE FROM ev WHERE k = 'b' AND id < 4000",
    );
    assert!(done, "{text}");
    let b_rows = (0..4000).filter(|i| i % 3 == 1 && i % 5 != 0).count();
    assert!(text.contains(&format!("DELETE {b_rows}")), "{text}");
    // The extended protocol (Parse/Bind/Execute with a parameter): the affected row count.
    let deleted = crate::pg::runtime().block_on(async {
        let config = format!(
            "host=127.0.0.1 port={} user=someone password=writer-secret dbname=strata",
            server.pg_port()
        );
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .execute("DELETE FROM ev WHERE id = $1", &[&"8"])
            .await
            .unwrap()
    });
    assert_eq!(deleted, 1);

    // A read-only token may not delete, over either protocol; nothing changes.
    let before = digest(&server);
    let (status, body) = sql_as(&server, "reader-secret", "DELETE FROM ev");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], json!("FORBIDDEN"));
    let (done, text) = psql(&server, "reader-secret", "DELETE FROM ev");
    assert!(!done && text.contains("42501"), "{text}");
    // System tables are read-only.
    let (status, body) = sql_as(&server, "admin-secret", "DELETE FROM system.tables");
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("read-only"), "{body}");
    assert_eq!(digest(&server), before);

    // The rows left: ids 0..6000 minus multiples of 5, minus k = 'b' below 4000, plus -1.
    let kept: Vec<i64> = (0..6000)
        .filter(|i| i % 5 != 0 && !(i % 3 == 1 && *i < 4000) && *i != 8)
        .chain([-1])
        .collect();
    let expected = json!([
        kept.len(),
        kept.iter().sum::<i64>(),
        kept.iter().filter(|i| **i >= 0 && *i % 3 == 1).count()
    ]);
    assert_eq!(digest(&server), expected);

    // SIGKILL: the deletes are in the log (and the persisted segment's bitmap in its sidecar).
    server.kill();
    let server = start();
    assert_eq!(digest(&server), expected, "after a restart");
    // A flush after the restart writes the live rows without the deleted ones.
    ok(&server, "FLUSH TABLE ev");
    assert_eq!(digest(&server), expected, "after a flush");
    let segments = ok(
        &server,
        r#"SELECT sum(rows) FROM system.segments WHERE "table" = 'ev'"#,
    );
    assert_eq!(segments["rows"][0][0], json!(kept.len()), "{segments}");
    drop(server);
    let server = start();
    assert_eq!(digest(&server), expected, "after a second restart");
}

/// What a client knows about one request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Acked,
    InFlight,
}

/// One client ingests 200 rows per tag; another deletes the even tags once their rows are
/// acknowledged (and FLUSHes now and then); the server is SIGKILLed at a random moment. After a
/// restart: a tag whose delete was acknowledged has no row, a tag whose delete was in flight has
/// all its rows or none, every other acknowledged tag has all its rows.
#[test]
fn sigkill_during_deletes_and_ingest_keeps_each_statement_whole() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    const ROWS: u64 = 200;
    for seed in [1u64, 2, 3] {
        eprintln!("delete crash test seed {seed}");
        let dir = TempDir::new(&format!("delete-crash-{seed}"));
        let mut rng = crate::harness::Rng::new(seed);
        let mut server = Server::start_with(dir.path(), &["--segment-rows-max", "3000"]);
        server.sql(
            "CREATE TABLE c (time TIMESTAMP NOT NULL, tag BIGINT, seq BIGINT) \
             WITH (time_column = 'time')",
        );
        let ingested: Arc<Mutex<HashMap<u64, Outcome>>> = Arc::default();
        let deleted: Arc<Mutex<HashMap<u64, Outcome>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let url = server.url.clone();
        let ingester = {
            let (ingested, stop, url) = (ingested.clone(), stop.clone(), url.clone());
            std::thread::spawn(move || {
                let client = client();
                for tag in 0u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body: String = (0..ROWS)
                        .map(|s| {
                            format!(
                                "{{\"time\": {}, \"tag\": {tag}, \"seq\": {s}}}\n",
                                tag * ROWS + s
                            )
                        })
                        .collect();
                    ingested.lock().unwrap().insert(tag, Outcome::InFlight);
                    let ok = client
                        .post(format!("{url}/v1/tables/c/ingest"))
                        .header("content-type", "application/x-ndjson")
                        .body(body)
                        .send()
                        .is_ok_and(|r| r.status() == 200);
                    if !ok {
                        break;
                    }
                    ingested.lock().unwrap().insert(tag, Outcome::Acked);
                }
            })
        };
        let deleter = {
            let (ingested, deleted, stop) = (ingested.clone(), deleted.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = client();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let next = {
                        let ingested = ingested.lock().unwrap();
                        let deleted = deleted.lock().unwrap();
                        ingested
                            .iter()
                            .filter(|(t, o)| **t % 2 == 0 && **o == Outcome::Acked)
                            .map(|(t, _)| *t)
                            .filter(|t| !deleted.contains_key(t))
                            .min()
                    };
                    let Some(tag) = next else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    n += 1;
                    let sql = if n % 7 == 0 {
                        "FLUSH TABLE c".to_string()
                    } else {
                        deleted.lock().unwrap().insert(tag, Outcome::InFlight);
                        format!("DELETE FROM c WHERE tag = {tag}")
                    };
                    let ok = client
                        .post(format!("{url}/v1/sql"))
                        .json(&json!({ "query": sql }))
                        .send()
                        .is_ok_and(|r| r.status() == 200);
                    if !ok {
                        break;
                    }
                    if n % 7 != 0 {
                        deleted.lock().unwrap().insert(tag, Outcome::Acked);
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(500 + rng.range(0, 2500)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        ingester.join().unwrap();
        deleter.join().unwrap();
        let server = Server::start(dir.path());
        let counts: HashMap<u64, u64> = server
            .rows("SELECT tag, count(*) FROM c GROUP BY tag")
            .iter()
            .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
            .collect();
        let ingested = ingested.lock().unwrap();
        let deleted = deleted.lock().unwrap();
        let acked_deletes = deleted.values().filter(|o| **o == Outcome::Acked).count();
        eprintln!(
            "seed {seed}: {} tags sent, {acked_deletes} deletes acknowledged",
            ingested.len()
        );
        for (tag, outcome) in ingested.iter() {
            let n = counts.get(tag).copied().unwrap_or(0);
            match (deleted.get(tag), outcome) {
                (Some(Outcome::Acked), _) => assert_eq!(n, 0, "seed {seed} tag {tag}: deleted"),
                (Some(Outcome::InFlight), _) | (None, Outcome::InFlight) => {
                    assert!(n == 0 || n == ROWS, "seed {seed} tag {tag}: {n} rows")
                }
                (None, Outcome::Acked) => assert_eq!(n, ROWS, "seed {seed} tag {tag}"),
            }
        }
        assert!(
            counts.keys().all(|t| ingested.contains_key(t)),
            "seed {seed}: rows of a tag never sent"
        );
    }
}
