//! The client commands against a real server: `strata ingest` (NDJSON, CSV, Parquet) and
//! `strata sql` (table, CSV and JSON output).

use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::record_batch::RecordBatch;
use serde_json::json;

use crate::harness::{strata_bin, Server, TempDir};

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(strata_bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn ingest_and_sql_commands_work_against_a_real_server() {
    let dir = TempDir::new("cli");
    let server = Server::start(dir.path());
    let url = server.url.as_str();

    // NDJSON, in several requests (small --batch-rows).
    let ndjson = dir.path().join("events.ndjson");
    let mut text = String::new();
    for i in 0..2500 {
        text.push_str(&format!(
            "{{\"time\": {}, \"kind\": \"k{}\", \"v\": {i}}}\n",
            1_700_000_000_000i64 + i,
            i % 3
        ));
    }
    std::fs::write(&ndjson, text).unwrap();
    let (ok, stdout, stderr) = run(&[
        "ingest",
        "events",
        ndjson.to_str().unwrap(),
        "--url",
        url,
        "--batch-rows",
        "1000",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ingested 2500 rows"), "{stdout}");

    // CSV with a quoted newline inside a field.
    let csv = dir.path().join("more.csv");
    std::fs::write(
        &csv,
        "time,kind,v\n2023-11-14T22:13:20Z,\"multi\nline\",1\n2023-11-14T22:13:21Z,k9,2\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = run(&[
        "ingest",
        "events",
        csv.to_str().unwrap(),
        "--url",
        url,
        "--batch-rows",
        "1",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ingested 2 rows"), "{stdout}");

    // Parquet.
    let parquet = dir.path().join("p.parquet");
    let batch = RecordBatch::try_from_iter(vec![
        (
            "time",
            Arc::new(TimestampMillisecondArray::from(vec![
                1_700_000_100_000i64,
                1_700_000_100_001,
            ])) as ArrayRef,
        ),
        (
            "kind",
            Arc::new(StringArray::from(vec!["pq", "pq"])) as ArrayRef,
        ),
        ("v", Arc::new(Int64Array::from(vec![10, 20])) as ArrayRef),
    ])
    .unwrap();
    let file = std::fs::File::create(&parquet).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    // A --batch-bytes below one batch's encoding splits it (here down to single rows).
    let (ok, stdout, stderr) = run(&[
        "ingest",
        "events",
        parquet.to_str().unwrap(),
        "--url",
        url,
        "--batch-bytes",
        "100",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ingested 2 rows"), "{stdout}");

    assert_eq!(server.scalar("SELECT COUNT(*) FROM events"), json!(2504));
    // A table created from Parquet (whose columns may be required) keeps only the time
    // column NOT NULL, so that later rows may leave fields out.
    let parquet_table = dir.path().join("q.parquet");
    let required = RecordBatch::try_from_iter_with_nullable(vec![
        (
            "time",
            Arc::new(TimestampMillisecondArray::from(vec![1i64])) as ArrayRef,
            false,
        ),
        (
            "kind",
            Arc::new(StringArray::from(vec!["r"])) as ArrayRef,
            false,
        ),
        ("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef, false),
    ])
    .unwrap();
    let file = std::fs::File::create(&parquet_table).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, required.schema(), None).unwrap();
    writer.write(&required).unwrap();
    writer.close().unwrap();
    let (ok, _, stderr) = run(&[
        "ingest",
        "fromparquet",
        parquet_table.to_str().unwrap(),
        "--url",
        url,
    ]);
    assert!(ok, "{stderr}");
    let nullable: Vec<(String, String)> = server
        .rows("DESCRIBE fromparquet")
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[2].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        nullable,
        vec![
            ("time".into(), "NO".into()),
            ("kind".into(), "YES".into()),
            ("v".into(), "YES".into())
        ]
    );
    server.ingest_ok("fromparquet", "{\"time\": 5}\n");
    assert_eq!(
        server.scalar("SELECT SUM(v) FROM events WHERE kind = 'pq'"),
        json!(30)
    );
    assert_eq!(
        server.scalar("SELECT COUNT(*) FROM events WHERE kind LIKE 'multi%'"),
        json!(1)
    );

    // sql: an aligned table, CSV, JSON.
    let (ok, stdout, stderr) = run(&[
        "sql",
        "SELECT kind, COUNT(*) AS n FROM events GROUP BY kind ORDER BY kind LIMIT 2",
        "--url",
        url,
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("kind") && stdout.contains("k0") && stdout.contains("834"),
        "{stdout}"
    );
    assert!(stdout.contains("(2 rows"), "{stdout}");
    let (ok, stdout, _) = run(&[
        "sql",
        "SELECT kind, COUNT(*) AS n FROM events WHERE kind IN ('k1', 'k2') GROUP BY kind ORDER BY kind",
        "--url",
        url,
        "--format",
        "csv",
    ]);
    assert!(ok);
    assert_eq!(stdout, "kind,n\nk1,833\nk2,833\n");
    let (ok, stdout, _) = run(&["sql", "SELECT 1 AS one", "--url", url, "--format", "json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["rows"], json!([[1]]));

    // Errors: a message and a non-zero exit.
    let (ok, _, stderr) = run(&["sql", "SELECT * FROM missing", "--url", url]);
    assert!(!ok);
    assert!(stderr.contains("TABLE_NOT_FOUND"), "{stderr}");
    let (ok, _, stderr) = run(&["ingest", "events", "/no/such/file.ndjson", "--url", url]);
    assert!(!ok);
    assert!(stderr.contains("cannot open"), "{stderr}");
}
