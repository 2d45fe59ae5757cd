//! The statement path over PostgreSQL: results streamed in bounded memory, portals resumed
//! under Execute's row limit, pg statements in `system.queries` and `strata_queries_total`,
//! and the concurrent-query limit over both protocols.

use futures::{pin_mut, StreamExt};

use crate::harness::{Server, TempDir};
use crate::http_api::{batch, ingest_arrow, peak_rss_kib};
use crate::pg::{connect, runtime};

/// A portal read 7 rows per Execute: every row once, in order; then the statement shows in
/// `system.queries` as a finished pg statement and in `strata_queries_total{protocol="pg"}`.
#[test]
fn a_portal_resumes_under_the_row_limit_and_pg_statements_are_counted() {
    let dir = TempDir::new("pg-portal");
    let server = Server::start(dir.path());
    ingest_arrow(&server, "p", &batch(0, 1000));
    runtime().block_on(async {
        let mut client = connect(&server).await;
        let tx = client.transaction().await.unwrap();
        let stmt = tx.prepare("SELECT id FROM p ORDER BY id").await.unwrap();
        let portal = tx.bind(&stmt, &[]).await.unwrap();
        let mut seen = Vec::new();
        loop {
            let rows = tx.query_portal(&portal, 7).await.unwrap();
            assert!(rows.len() <= 7);
            if rows.is_empty() {
                break;
            }
            seen.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
        }
        assert_eq!(seen, (0..1000).collect::<Vec<i64>>());
        tx.commit().await.unwrap();
    });
    let rows = server.rows(
        "SELECT protocol, state FROM system.queries WHERE sql LIKE '%FROM p ORDER BY id%' \
         AND protocol = 'pg'",
    );
    assert!(!rows.is_empty(), "{rows:?}");
    assert!(rows.iter().all(|r| r[1] == "finished"), "{rows:?}");
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.url))
        .unwrap()
        .text()
        .unwrap();
    let pg_ok = metrics.lines().any(|l| {
        l.starts_with("strata_queries_total")
            && l.contains("protocol=\"pg\"")
            && l.contains("status=\"ok\"")
    });
    assert!(pg_ok, "{metrics}");
}

/// Ten million rows read through the extended protocol (tokio-postgres `query_raw`, rows
/// pulled as they come), then as `COPY ... TO STDOUT`: the server's peak RSS grows by no more
/// than the HTTP streaming test's bound (`http_api::ten_million_rows_stream_in_bounded_server_memory`).
#[test]
fn ten_million_rows_stream_over_pg_in_bounded_server_memory() {
    const ROWS: usize = 10_000_000;
    const PER_REQUEST: usize = 1_000_000;
    let dir = TempDir::new("pg-stream");
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
    const CACHE_BYTES: u64 = 32 << 20;
    let server = Server::start_with(dir.path(), &["--cache-bytes", &CACHE_BYTES.to_string()]);
    let before = peak_rss_kib(server.pid());
    let rows = runtime().block_on(async {
        let client = connect(&server).await;
        let stream = client
            .query_raw("SELECT * FROM big", std::iter::empty::<i64>())
            .await
            .unwrap();
        pin_mut!(stream);
        let mut rows = 0usize;
        while let Some(row) = stream.next().await {
            row.unwrap();
            rows += 1;
        }
        rows
    });
    assert_eq!(rows, ROWS);
    let peak = peak_rss_kib(server.pid());
    eprintln!(
        "server peak RSS {} MiB (before the query {} MiB)",
        peak / 1024,
        before / 1024
    );
    assert!(
        peak - before < 128 * 1024 + CACHE_BYTES / 1024,
        "the server's peak RSS grew by {} KiB while streaming {ROWS} rows over pg",
        peak - before
    );

    // The same rows as `COPY ... TO STDOUT` (CSV, extended protocol): one CopyData per row,
    // streamed in the same bound.
    let (lines, bytes) = runtime().block_on(async {
        let client = connect(&server).await;
        let stream = client
            .copy_out("COPY (SELECT * FROM big) TO STDOUT WITH (FORMAT csv, HEADER)")
            .await
            .unwrap();
        pin_mut!(stream);
        let (mut lines, mut bytes) = (0usize, 0usize);
        while let Some(data) = stream.next().await {
            let data = data.unwrap();
            lines += data.iter().filter(|&&b| b == b'\n').count();
            bytes += data.len();
        }
        (lines, bytes)
    });
    assert_eq!(lines, ROWS + 1, "{bytes} bytes");
    let peak = peak_rss_kib(server.pid());
    eprintln!(
        "server peak RSS {} MiB after COPY of {bytes} bytes",
        peak / 1024
    );
    assert!(
        peak - before < 128 * 1024 + CACHE_BYTES / 1024,
        "the server's peak RSS grew by {} KiB while copying {ROWS} rows over pg",
        peak - before
    );
}

/// Many slow statements at once over HTTP and PostgreSQL against a limit of 2 with a short
/// queue wait: some are refused (429 TOO_MANY_QUERIES with Retry-After; SQLSTATE 53300), ingest
/// is not held back, and the server answers afterwards.
#[test]
fn the_concurrent_query_limit_refuses_over_both_protocols() {
    let dir = TempDir::new("pg-limit");
    let server = Server::start_with(
        dir.path(),
        &[
            "--query-concurrency-max",
            "2",
            "--query-queue-wait-ms",
            "50",
            "--query-timeout-ms",
            "3000",
        ],
    );
    ingest_arrow(&server, "s", &batch(0, 1_000_000));
    ingest_arrow(&server, "s", &batch(1_000_000, 1_000_000));
    // Slow (a grouping of 2M distinct keys, sorted), cut short by the time limit if need be.
    let slow = "SELECT id, label, count(*) FROM s GROUP BY id, label ORDER BY 3 DESC, 1 LIMIT 5";
    let http = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    reqwest::blocking::Client::new()
                        .post(format!("{}/v1/sql", server.url))
                        .json(&serde_json::json!({"query": slow}))
                        .send()
                        .unwrap()
                })
            })
            .collect();
        // Ingest goes on while the queries hold every slot.
        let ingest = scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            server.ingest_ok("s2", "{\"x\": 1}\n")
        });
        let pg_codes = runtime().block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..6 {
                let client = connect(&server).await;
                tasks.push(tokio::spawn(async move {
                    match client.simple_query(slow).await {
                        Ok(_) => None,
                        Err(e) => e.code().map(|c| c.code().to_string()),
                    }
                }));
            }
            let mut codes = Vec::new();
            for t in tasks {
                codes.push(t.await.unwrap());
            }
            codes
        });
        let responses: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(ingest.join().unwrap(), 1);
        (responses, pg_codes)
    });
    let (responses, pg_codes) = http;
    let refused: Vec<_> = responses.iter().filter(|r| r.status() == 429).collect();
    assert!(!refused.is_empty(), "no HTTP query was refused");
    for r in &refused {
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    }
    assert!(
        pg_codes.iter().any(|c| c.as_deref() == Some("53300")),
        "no pg statement was refused with 53300: {pg_codes:?}"
    );
    // The server is up and answers.
    assert_eq!(server.scalar("SELECT 1 + 1"), serde_json::json!(2));
}
