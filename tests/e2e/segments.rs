//! Persisted segments through the real server: FLUSH TABLE, an independent Parquet reader, the
//! same answers before and after a flush and after a restart, and queries that never see a row
//! twice or lose one while ingest and persists run underneath.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

const ROWS: usize = 1_000_000;
const REQUESTS: usize = 10;

fn body(range: std::ops::Range<usize>) -> String {
    let mut out = String::with_capacity(range.len() * 90);
    for i in range {
        out.push_str(&format!(
            "{{\"time\":{},\"site\":\"s{}\",\"kind\":\"{}\",\"n\":{},\"x\":{}}}\n",
            1_700_000_000_000i64 + (i as i64 * 7919) % 86_400_000,
            i % 97,
            ["view", "click", "buy"][i % 3],
            (i % 1000) as i64 - 500,
            (i % 64) as f64 * 0.25
        ));
    }
    out
}

const QUERIES: [&str; 5] = [
    "SELECT COUNT(*), SUM(n), SUM(x), MIN(time), MAX(time) FROM hits",
    "SELECT site, COUNT(*), SUM(n) FROM hits GROUP BY site ORDER BY site",
    "SELECT kind, COUNT(DISTINCT site), AVG(x) FROM hits WHERE n > 100 GROUP BY kind ORDER BY kind",
    "SELECT site, n FROM hits WHERE kind = 'buy' AND n = 499 ORDER BY site, time LIMIT 20",
    "SELECT COUNT(*) FROM hits WHERE time >= TIMESTAMP '2023-11-15 00:00:00'",
];

fn answers(server: &Server) -> Vec<Value> {
    QUERIES.iter().map(|q| json!(server.rows(q))).collect()
}

#[test]
fn a_million_rows_flushed_read_the_same_everywhere() {
    let dir = TempDir::new("segments-million");
    // A row limit above the data, so that the rows stay live until FLUSH TABLE.
    let server = Server::start_with(dir.path(), &["--segment-rows-max", "2000000"]);
    let per = ROWS / REQUESTS;
    for r in 0..REQUESTS {
        assert_eq!(
            server.ingest_ok("hits", &body(r * per..(r + 1) * per)) as usize,
            per
        );
    }
    let live = answers(&server);
    assert_eq!(live[0][0][0], json!(ROWS));

    // The rows span two days: one segment per daily partition.
    let flushed = server.rows("FLUSH TABLE hits");
    assert_eq!(flushed, vec![vec![json!("hits"), json!(2), json!(ROWS)]]);
    assert_eq!(answers(&server), live, "answers changed after FLUSH");

    // An independent reader (the parquet crate's plain reader) sees the same rows.
    let (mut rows, mut sum_n, mut sum_x) = (0usize, 0i64, 0f64);
    let mut files = 0;
    for table in std::fs::read_dir(dir.path().join("tables")).unwrap() {
        let segments = table.unwrap().path().join("segments");
        for f in std::fs::read_dir(segments).unwrap() {
            let path = f.unwrap().path();
            if path.extension().is_some_and(|e| e == "idx") {
                continue; // the bitmap index sidecar of a segment
            }
            files += 1;
            let file = std::fs::File::open(path).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                rows += batch.num_rows();
                let n = batch.column_by_name("n").unwrap();
                let n = n.as_any().downcast_ref::<Int64Array>().unwrap();
                sum_n += n.iter().flatten().sum::<i64>();
                let x = batch.column_by_name("x").unwrap();
                let x = x.as_any().downcast_ref::<Float64Array>().unwrap();
                assert_eq!(x.null_count(), 0);
                sum_x += x.iter().flatten().sum::<f64>();
            }
        }
    }
    assert_eq!(files, 2);
    assert_eq!(rows, ROWS);
    assert_eq!(json!(sum_n), live[0][0][1]);
    assert_eq!(Some(sum_x), live[0][0][2].as_f64());

    // Restart: the rows come from the segment file, not the log.
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(answers(&server), live, "answers changed after restart");
}

#[test]
fn count_never_decreases_nor_exceeds_acknowledged_rows_while_segments_persist() {
    let dir = TempDir::new("segments-concurrent");
    let server = Server::start_with(dir.path(), &["--segment-rows-max", "3000"]);
    server.ingest_ok("hits", &body(0..1));
    let acked = Arc::new(AtomicU64::new(1));
    let done = Arc::new(AtomicBool::new(false));
    const PER: usize = 1000;
    std::thread::scope(|s| {
        s.spawn(|| {
            for r in 0..150 {
                let start = 1 + r * PER;
                server.ingest_ok("hits", &body(start..start + PER));
                acked.fetch_add(PER as u64, Ordering::SeqCst);
                if r % 37 == 0 {
                    server.sql("FLUSH TABLE hits");
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        let mut last = 0u64;
        let mut polls = 0;
        while !done.load(Ordering::SeqCst) {
            let before = acked.load(Ordering::SeqCst);
            let count = server.scalar("SELECT COUNT(*) FROM hits").as_u64().unwrap();
            let after = acked.load(Ordering::SeqCst);
            assert!(count >= last, "COUNT(*) went back from {last} to {count}");
            assert!(
                count >= before,
                "COUNT(*) {count} misses acknowledged rows ({before})"
            );
            // At most the one request in flight is visible before its acknowledgement.
            assert!(
                count <= after + PER as u64,
                "COUNT(*) {count} exceeds {after} acknowledged"
            );
            last = count;
            polls += 1;
        }
        assert!(polls > 10, "only {polls} queries ran during ingest");
    });
    assert_eq!(
        server.scalar("SELECT COUNT(*) FROM hits"),
        json!(acked.load(Ordering::SeqCst))
    );
}

#[test]
fn retention_drops_partitions_older_than_the_ttl() {
    let dir = TempDir::new("segments-ttl");
    let server = Server::start(dir.path());
    server.sql(
        "CREATE TABLE metrics (time TIMESTAMP NOT NULL, v BIGINT) \
         WITH (time_column = 'time', partition = 'day', ttl = '3 days')",
    );
    const DAY: i64 = 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let today = now.div_euclid(DAY) * DAY;
    // Ten days of data, 100 rows a day at midnight + 1 s, the last day today.
    let mut body = String::new();
    for d in 0..10 {
        for i in 0..100 {
            body.push_str(&format!(
                "{{\"time\": {}, \"v\": {d}}}\n",
                today - (9 - d) * DAY + 1000 + i
            ));
        }
    }
    server.ingest_ok("metrics", &body);
    server.sql("FLUSH TABLE metrics");
    // Days whose end is at least 3 days before now are dropped: those that ended before
    // now - 3 days. The background pass runs every second.
    let cutoff = now - 3 * DAY;
    let kept_days: Vec<i64> = (0..10)
        .filter(|d| today - (9 - d) * DAY + DAY > cutoff)
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let count = server
            .scalar("SELECT COUNT(*) FROM metrics")
            .as_u64()
            .unwrap();
        if count == kept_days.len() as u64 * 100 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not run: {count} rows"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let days = server.rows("SELECT v, COUNT(*) FROM metrics GROUP BY v ORDER BY v");
    let expected: Vec<Vec<Value>> = kept_days
        .iter()
        .map(|d| vec![json!(d), json!(100)])
        .collect();
    assert_eq!(days, expected);
}
