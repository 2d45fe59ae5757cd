//! Starting and stopping a real `strata serve` process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// The `strata` binary cargo built for these tests.
pub fn strata_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strata")
}

/// A fresh, empty directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("strata-e2e-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    /// The PostgreSQL endpoint's `host:port`.
    pub pg_addr: String,
    client: reqwest::blocking::Client,
}

impl Server {
    /// Starts `strata serve` on `data_dir` with port 0 and waits until it listens.
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// Like [`Server::start`] with extra `serve` arguments.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(strata_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http-addr", "127.0.0.1:0"])
            .args(["--pg-addr", "127.0.0.1:0"])
            .args(extra)
            .env_remove("STRATA_HTTP_ADDR")
            .env_remove("STRATA_PG_ADDR")
            .env_remove("STRATA_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strata serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let (pg_tx, pg_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("STRATA_E2E_LOG").is_some() {
                    eprintln!("[strata] {line}");
                }
                if let Some(pos) = line.find("listening on postgresql://") {
                    let addr = line[pos + "listening on postgresql://".len()..].trim();
                    let _ = pg_tx.send(addr.to_string());
                }
                if !sent {
                    // http:// or https://
                    if let Some(pos) = line.find("listening on http") {
                        let url = line[pos + "listening on ".len()..].trim().to_string();
                        let _ = tx.send(url);
                        sent = true;
                    }
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("strata serve did not report its address within 60 s");
            }
        };
        // The PostgreSQL endpoint starts before the HTTP one (unless --pg-addr off).
        let pg_addr = pg_rx.try_recv().unwrap_or_default();
        let client = reqwest::blocking::Client::builder()
            // Long enough for a FLUSH of 10 million rows on a loaded 2-core machine; a hang
            // still fails.
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap();
        Server {
            child: Some(child),
            url,
            pg_addr,
            client,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The PostgreSQL endpoint's port.
    pub fn pg_port(&self) -> u16 {
        self.pg_addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the server reported its PostgreSQL address")
    }

    /// SIGKILLs the server and waits for it to die.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs SQL; returns the status and the JSON body.
    pub fn sql_raw(&self, query: &str) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/v1/sql", self.url))
            .json(&json!({ "query": query }))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap())
    }

    /// Runs SQL that must succeed; returns the body.
    pub fn sql(&self, query: &str) -> Value {
        let (status, body) = self.sql_raw(query);
        assert_eq!(status, 200, "{query} failed: {body}");
        body
    }

    /// The rows of a query that must succeed.
    pub fn rows(&self, query: &str) -> Vec<Vec<Value>> {
        let body = self.sql(query);
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().clone())
            .collect()
    }

    /// A single-value query's value.
    pub fn scalar(&self, query: &str) -> Value {
        let rows = self.rows(query);
        assert_eq!(rows.len(), 1, "{query}: {rows:?}");
        rows[0][0].clone()
    }

    /// Posts a body to a table's ingest endpoint.
    pub fn ingest(
        &self,
        table: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/v1/tables/{table}/ingest", self.url))
            .header("content-type", content_type)
            .body(body.into())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, body)
    }

    /// Posts NDJSON that must be accepted; returns the rows ingested.
    pub fn ingest_ok(&self, table: &str, ndjson: &str) -> u64 {
        let (status, body) = self.ingest(table, "application/x-ndjson", ndjson);
        assert_eq!(status, 200, "{body}");
        body["rows_ingested"].as_u64().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small deterministic generator (SplitMix64), so that a failing seed can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1 in `dir` (`cert.pem`, `key.pem`),
/// made with the `openssl` CLI; `None` (the caller skips its test) when openssl cannot.
pub fn self_signed_cert(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    match made {
        Ok(o) if o.status.success() => Some((cert, key)),
        other => {
            eprintln!("skipped: the openssl CLI could not make a certificate: {other:?}");
            None
        }
    }
}
