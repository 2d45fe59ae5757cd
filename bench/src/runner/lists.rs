//! `strata-bench lists`: long flat lists in a `WHERE` clause (issue 13): `IN` with 100,000
//! literals and an `OR` of 20,000 equalities, on a number and a string column, on Strata and
//! DuckDB over the same `events` rows, answers compared by value.
//!
//! ```text
//!  gen::events ──> bench/.data/events_N_S.parquet (cached)
//!     Strata: POST the Parquet file to /v1/tables/events/ingest, FLUSH TABLE;
//!             each query --runs times through /v1/sql (the hot time is the fastest)
//!     DuckDB: run_peer.py --dataset events, the same queries --runs times
//!  the value lists: every other value is taken from the data (a hit), the rest are misses
//! ```
//!
//! A Grafana multi-value variable with every value selected produces exactly these queries.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{events_ddl, Client, RunInfo};
use crate::peers;

/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "lists";

/// Command-line arguments of `strata-bench lists`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListsArgs {
    /// Rows of `events`.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Values in an `IN` list.
    #[arg(long, default_value_t = 100_000)]
    pub in_values: usize,
    /// Equalities in an `OR` chain.
    #[arg(long, default_value_t = 20_000)]
    pub or_terms: usize,
    /// Runs per query; the hot time is the fastest.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Where the data and the binary are, peers, output.
    #[command(flatten)]
    pub run: super::RunArgs,
}

/// One query on both systems.
#[derive(Debug, Clone, Serialize)]
pub struct ListQuery {
    /// What it is: `IN, 100000 BIGINT values`.
    pub name: String,
    /// The statement's length in bytes.
    pub sql_bytes: usize,
    /// Strata's answer (`COUNT(*)`, `SUM(bytes)`).
    pub strata_answer: serde_json::Value,
    /// Strata's times, seconds (first = cold).
    pub strata_times_s: Vec<f64>,
    /// DuckDB's answer.
    pub duckdb_answer: Option<serde_json::Value>,
    /// DuckDB's times, seconds.
    pub duckdb_times_s: Vec<f64>,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `lists`.
    pub benchmark: &'static str,
    /// Where, when, what.
    pub run: RunInfo,
    /// Rows of `events`.
    pub rows: u64,
    /// The queries.
    pub queries: Vec<ListQuery>,
    /// DuckDB's version, when it ran.
    pub duckdb_version: Option<String>,
}

/// Runs the benchmark, prints and writes the results.
pub fn run(a: &ListsArgs) -> Result<Report> {
    if a.rows == 0 || a.runs == 0 || a.in_values == 0 || a.or_terms == 0 {
        bail!("--rows, --runs, --in-values and --or-terms must be at least 1");
    }
    let (bin, start, data_dir) = a.run.begin();
    let parquet = super::ingest::ensure_events(&data_dir, a.rows, a.seed, "parquet")?;
    let server = super::StrataServer::start(
        &bin,
        &[
            "--body-bytes-max".into(),
            (1u64 << 30).to_string(),
            "--query-bytes-max".into(),
            (64u64 << 20).to_string(),
        ],
    )?;
    let client = Client::new(server.base_url())?;
    client.query(&events_ddl("events"))?;
    let body = std::fs::read(&parquet).with_context(|| format!("read {}", parquet.display()))?;
    let loaded = client.ingest("events", super::content_type::PARQUET, body)?;
    if loaded != a.rows {
        bail!("Strata acknowledged {loaded} rows, not {}", a.rows);
    }
    client.query("FLUSH TABLE events")?;

    // Values from the data: distinct byte counts and user ids, every other one a miss.
    let sample = |column: &str, n: usize| -> Result<Vec<serde_json::Value>> {
        Ok(client
            .query(&format!(
                "SELECT DISTINCT {column} FROM events ORDER BY {column} LIMIT {n}"
            ))?
            .into_iter()
            .map(|r| r[0].clone())
            .collect())
    };
    let numbers: Vec<String> = mix(
        sample("bytes", a.in_values.max(a.or_terms))?
            .iter()
            .map(|v| v.to_string())
            .collect(),
        |i| format!("{}", -1 - i as i64),
        a.in_values.max(a.or_terms),
    );
    let strings: Vec<String> = mix(
        sample("user_id", a.in_values.max(a.or_terms))?
            .iter()
            .map(|v| format!("'{}'", v.as_str().unwrap_or_default().replace('\'', "''")))
            .collect(),
        |i| format!("'missing-{i}'"),
        a.in_values.max(a.or_terms),
    );
    let select = "SELECT COUNT(*), SUM(bytes) FROM events WHERE";
    let in_list = |column: &str, values: &[String]| {
        format!(
            "{select} {column} IN ({})",
            values[..a.in_values].join(", ")
        )
    };
    let or_chain = |column: &str, values: &[String]| {
        let terms: Vec<String> = values[..a.or_terms]
            .iter()
            .map(|v| format!("{column} = {v}"))
            .collect();
        format!("{select} {}", terms.join(" OR "))
    };
    let statements = [
        (
            format!("IN, {} BIGINT values", a.in_values),
            in_list("bytes", &numbers),
        ),
        (
            format!("IN, {} VARCHAR values", a.in_values),
            in_list("user_id", &strings),
        ),
        (
            format!("OR of {} BIGINT equalities", a.or_terms),
            or_chain("bytes", &numbers),
        ),
        (
            format!("OR of {} VARCHAR equalities", a.or_terms),
            or_chain("user_id", &strings),
        ),
    ];

    let mut queries = Vec::new();
    for (name, sql) in &statements {
        let mut times = Vec::new();
        let mut answer = serde_json::Value::Null;
        for _ in 0..a.runs {
            let started = std::time::Instant::now();
            let rows = client
                .query(sql)
                .with_context(|| format!("{name}: server log:\n{}", server.stderr_tail()))?;
            times.push(super::secs_since(started));
            answer = rows.first().cloned().unwrap_or_default();
        }
        eprintln!("Strata: {name}: {answer} in {:.3} s (hot)", min(&times));
        queries.push(ListQuery {
            name: name.clone(),
            sql_bytes: sql.len(),
            strata_answer: answer,
            strata_times_s: times,
            duckdb_answer: None,
            duckdb_times_s: Vec::new(),
        });
    }
    drop(server);

    let mut duckdb_version = None;
    if !a.run.skip_peers {
        peers::ensure_venv()?;
        let dir = tempdir()?;
        let file = dir.join("lists.sql");
        let text: Vec<&str> = statements.iter().map(|(_, sql)| sql.as_str()).collect();
        std::fs::write(&file, text.join(";\n") + ";\n")?;
        let lines = peers::run_json_lines(&[
            "--engine".into(),
            "duckdb".into(),
            "--dataset".into(),
            "events".into(),
            "--parquet".into(),
            parquet.display().to_string(),
            "--queries".into(),
            file.display().to_string(),
            "--runs".into(),
            a.runs.to_string(),
        ]);
        let _ = std::fs::remove_dir_all(&dir);
        for line in lines? {
            if let Some(v) = line["load"]["version"].as_str() {
                duckdb_version = Some(v.to_string());
            }
            let Some(n) = line["query"].as_u64() else {
                continue;
            };
            let Some(q) = queries.get_mut(n as usize - 1) else {
                continue;
            };
            if let Some(e) = line["error"].as_str() {
                bail!("DuckDB failed {}: {e}", q.name);
            }
            q.duckdb_answer = Some(line["first_row"].clone());
            q.duckdb_times_s = line["times_s"]
                .as_array()
                .map(|t| t.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default();
            if q.duckdb_answer.as_ref() != Some(&q.strata_answer) {
                bail!(
                    "{}: Strata answered {} and DuckDB {}",
                    q.name,
                    q.strata_answer,
                    line["first_row"]
                );
            }
        }
    }
    let report = Report {
        benchmark: "lists",
        run: start.finish(),
        rows: a.rows,
        queries,
        duckdb_version,
    };
    let md = render_markdown(&report);
    print!("{md}");
    if !a.run.no_write {
        super::write_result(
            &format!("lists-{}-{}", report.rows, report.run.commit.hash),
            &report,
            DOCS_SECTION,
            &md,
        )?;
    }
    Ok(report)
}

/// `n` values alternating between `hits` (from the data) and misses made by `miss`.
fn mix(hits: Vec<String>, miss: impl Fn(usize) -> String, n: usize) -> Vec<String> {
    let mut hits = hits.into_iter();
    (0..n)
        .map(|i| match (i % 2, hits.next()) {
            (0, Some(h)) => h,
            _ => miss(i),
        })
        .collect()
}

fn min(times: &[f64]) -> f64 {
    times.iter().copied().fold(f64::INFINITY, f64::min)
}

fn tempdir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("strata-bench-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// The markdown section.
pub fn render_markdown(r: &Report) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "### Long lists: IN and OR over {} `events` rows\n\n\
         `SELECT COUNT(*), SUM(bytes) FROM events WHERE ...` with the list below; half the \
         values occur in the data. Hot time = the fastest of the runs, cold = the first; the \
         answers of both systems are compared by value (the run fails on a difference). \
         Machine: {}; load average {} at the start, {} at the end; commit `{}`{}; DuckDB {} \
         (in-process, native table).\n\n",
        r.rows,
        r.run.machine.describe(),
        r.run.load_average[0],
        r.run.load_average[1],
        r.run.commit.hash,
        if r.run.commit.dirty { " (dirty)" } else { "" },
        r.duckdb_version.as_deref().unwrap_or("(not run)"),
    ));
    md.push_str(
        "| list | statement | answer | Strata hot | Strata cold | DuckDB hot | ratio |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for q in &r.queries {
        let strata = min(&q.strata_times_s);
        let duck = (!q.duckdb_times_s.is_empty()).then(|| min(&q.duckdb_times_s));
        md.push_str(&format!(
            "| {} | {:.1} MB | {} | {:.0} ms | {:.0} ms | {} | {} |\n",
            q.name,
            q.sql_bytes as f64 / 1e6,
            q.strata_answer,
            strata * 1e3,
            q.strata_times_s.first().copied().unwrap_or(0.0) * 1e3,
            duck.map_or("-".into(), |d| format!("{:.0} ms", d * 1e3)),
            duck.map_or("-".into(), |d| format!("{:.2}", strata / d)),
        ));
    }
    md.push_str(&format!(
        "\nStrata's times are end to end through HTTP (the statement's text is sent each run); \
         DuckDB's are in-process. Ratio = Strata / DuckDB. Command: `{}`\n",
        r.run.command
    ));
    md
}
