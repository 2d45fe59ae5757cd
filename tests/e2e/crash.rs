//! Crash test: four clients ingest concurrently, the server is SIGKILLed at a random moment, and
//! after a restart every acknowledged request is present exactly once and every request in
//! flight at the kill is wholly present or wholly absent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::harness::{Rng, Server, TempDir};

const CLIENTS: u64 = 4;

/// What a client knows about one of its requests.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Acked(u64),
    InFlight(u64),
}

fn seeds() -> Vec<u64> {
    match std::env::var("STRATA_CRASH_SEEDS") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![1, 2, 3, 4, 5],
    }
}

#[test]
fn sigkill_mid_ingest_loses_no_acknowledged_row_and_duplicates_none() {
    for seed in seeds() {
        eprintln!("crash test seed {seed} (replay with STRATA_CRASH_SEEDS={seed})");
        run(seed, &[], 0);
    }
}

/// The same with segments of a few thousand rows, so that the kill lands while segments are
/// being written and manifests committed.
#[test]
fn sigkill_during_segment_persists_loses_no_acknowledged_row_and_leaves_no_orphan() {
    for seed in seeds() {
        eprintln!("persist crash test seed {seed} (replay with STRATA_CRASH_SEEDS={seed})");
        let rows_max = 2000 + Rng::new(seed).range(0, 8000);
        let persisted = run(seed, &["--segment-rows-max", &rows_max.to_string()], 0);
        assert!(
            persisted > 0,
            "seed {seed}: no segment was persisted before the kill"
        );
    }
}

/// The same with a FLUSH TABLE every 100 ms, so that many small segments are written and the
/// background task compacts them while the kill lands.
#[test]
fn sigkill_during_compaction_loses_no_acknowledged_row_and_leaves_no_orphan() {
    for seed in seeds() {
        eprintln!("compaction crash test seed {seed} (replay with STRATA_CRASH_SEEDS={seed})");
        run(seed, &[], 100);
    }
}

/// Runs one crash round; returns how many segments the manifests listed at the kill.
fn run(seed: u64, serve_args: &[&str], flush_every_ms: u64) -> usize {
    let dir = TempDir::new(&format!("crash-{seed}"));
    let mut rng = Rng::new(seed);
    let mut server = Server::start_with(dir.path(), serve_args);
    server.sql(
        "CREATE TABLE crash (time TIMESTAMP NOT NULL, client BIGINT, req BIGINT, seq BIGINT, \
         pad VARCHAR) WITH (time_column = 'time')",
    );
    let outcomes: Arc<Mutex<HashMap<(u64, u64), Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for client in 0..CLIENTS {
        let url = server.url.clone();
        let outcomes = outcomes.clone();
        let stop = stop.clone();
        let mut rng = Rng::new(seed * 1000 + client);
        handles.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut req = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let rows = rng.range(1, 400);
                let mut body = String::new();
                for seq in 0..rows {
                    body.push_str(
                        &json!({"time": 1_700_000_000_000u64 + req * 1000 + seq, "client": client,
                                "req": req, "seq": seq, "pad": "x".repeat((seq % 50) as usize)})
                        .to_string(),
                    );
                    body.push('\n');
                }
                outcomes
                    .lock()
                    .unwrap()
                    .insert((client, req), Outcome::InFlight(rows));
                let result = http
                    .post(format!("{url}/v1/tables/crash/ingest"))
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send();
                match result {
                    Ok(r) if r.status().as_u16() == 200 => {
                        let v: serde_json::Value = r.json().unwrap_or_default();
                        assert_eq!(v["rows_ingested"], json!(rows), "seed {seed}");
                        outcomes
                            .lock()
                            .unwrap()
                            .insert((client, req), Outcome::Acked(rows));
                    }
                    // The server is gone (or going): this request stays in flight.
                    _ => break,
                }
                req += 1;
            }
        }));
    }
    let flush_every = flush_every_ms;
    let flusher = (flush_every > 0).then(|| {
        let url = server.url.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let _ = http
                    .post(format!("{url}/v1/sql"))
                    .json(&json!({"query": "FLUSH TABLE crash"}))
                    .send();
                std::thread::sleep(Duration::from_millis(flush_every));
            }
        })
    });
    // Kill at a random moment; for the persist and compaction variants, a random moment after
    // the first persist (or compaction) happened, so that the kill lands among them however
    // loaded the machine is.
    let wait_for: Option<fn(&std::path::Path) -> bool> = if flush_every_ms > 0 {
        Some(|dir| {
            let (listed, written) = manifest_ids(dir);
            written > listed
        })
    } else if !serve_args.is_empty() {
        Some(|dir| manifest_segments(dir) > 0)
    } else {
        None
    };
    // At least one acknowledged request first, however slowly the machine starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline
        && !outcomes
            .lock()
            .unwrap()
            .values()
            .any(|o| matches!(o, Outcome::Acked(_)))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(happened) = wait_for {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !happened(dir.path()) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(rng.range(0, 1500)));
    } else {
        std::thread::sleep(Duration::from_millis(rng.range(300, 2500)));
    }
    server.kill();
    let persisted = manifest_segments(dir.path());
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    if let Some(f) = flusher {
        f.join().unwrap();
        let (listed, written) = manifest_ids(dir.path());
        assert!(
            written > listed,
            "seed {seed}: no compaction before the kill ({written} segments written, {listed} listed)"
        );
    }

    let server = Server::start_with(dir.path(), serve_args);
    assert_no_orphan_segments(dir.path(), seed);
    let stored: HashMap<(u64, u64), (u64, u64, u64)> = server
        .rows("SELECT client, req, COUNT(*), COUNT(DISTINCT seq), MAX(seq) FROM crash GROUP BY client, req")
        .iter()
        .map(|r| {
            let n = |i: usize| r[i].as_u64().unwrap();
            ((n(0), n(1)), (n(2), n(3), n(4)))
        })
        .collect();
    let outcomes = outcomes.lock().unwrap();
    let acked = outcomes
        .values()
        .filter(|o| matches!(o, Outcome::Acked(_)))
        .count();
    assert!(
        acked > 0,
        "seed {seed}: no request was acknowledged before the kill"
    );
    for (key, outcome) in outcomes.iter() {
        let got = stored.get(key).copied();
        match *outcome {
            Outcome::Acked(rows) => assert_eq!(
                got,
                Some((rows, rows, rows - 1)),
                "seed {seed}: acknowledged request {key:?} of {rows} rows must be present exactly once"
            ),
            Outcome::InFlight(rows) => assert!(
                got.is_none() || got == Some((rows, rows, rows - 1)),
                "seed {seed}: in-flight request {key:?} of {rows} rows is partly present: {got:?}"
            ),
        }
    }
    for key in stored.keys() {
        assert!(
            outcomes.contains_key(key),
            "seed {seed}: rows of a request never sent: {key:?}"
        );
    }
    let total: u64 = stored.values().map(|v| v.0).sum();
    assert_eq!(
        server.scalar("SELECT COUNT(*) FROM crash"),
        json!(total),
        "seed {seed}"
    );
    eprintln!(
        "seed {seed}: {acked} acknowledged requests, {} in flight, {total} rows after restart, \
         {persisted} segments persisted at the kill",
        outcomes.len() - acked
    );
    // The restarted server keeps taking writes.
    server.ingest_ok(
        "crash",
        "{\"time\": 1, \"client\": 99, \"req\": 0, \"seq\": 0}\n",
    );
    persisted
}

/// How many segments the tables' manifests list.
fn manifest_segments(data_dir: &std::path::Path) -> usize {
    let mut n = 0;
    for table in std::fs::read_dir(data_dir.join("tables")).unwrap() {
        if let Ok(bytes) = std::fs::read(table.unwrap().path().join("manifest.json")) {
            let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            n += m["segments"].as_array().map(|s| s.len()).unwrap_or(0);
        }
    }
    n
}

/// Every segment file on disk is listed in its table's manifest.
fn assert_no_orphan_segments(data_dir: &std::path::Path, seed: u64) {
    let tables = data_dir.join("tables");
    for table in std::fs::read_dir(tables).unwrap() {
        let table = table.unwrap().path();
        let listed: Vec<String> = match std::fs::read(table.join("manifest.json")) {
            Ok(bytes) => {
                let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                m["segments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|s| [s["file"].as_str(), s["index_file"].as_str()])
                    .flatten()
                    .map(str::to_string)
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        let Ok(files) = std::fs::read_dir(table.join("segments")) else {
            continue;
        };
        for f in files {
            let name = format!("segments/{}", f.unwrap().file_name().to_string_lossy());
            assert!(
                listed.contains(&name),
                "seed {seed}: orphan segment file {name}"
            );
        }
    }
}

/// Segments listed by the manifests, and segments ever written (next_segment_id - 1).
fn manifest_ids(data_dir: &std::path::Path) -> (u64, u64) {
    let (mut listed, mut written) = (0, 0);
    for table in std::fs::read_dir(data_dir.join("tables")).unwrap() {
        if let Ok(bytes) = std::fs::read(table.unwrap().path().join("manifest.json")) {
            let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            listed += m["segments"]
                .as_array()
                .map(|s| s.len() as u64)
                .unwrap_or(0);
            written += m["next_segment_id"].as_u64().unwrap_or(1) - 1;
        }
    }
    (listed, written)
}
