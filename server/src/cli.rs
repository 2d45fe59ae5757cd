//! The client commands: `strata sql` and `strata ingest`, over the HTTP API.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use arrow::ipc::writer::StreamWriter;
use comfy_table::{presets::UTF8_BORDERS_ONLY, CellAlignment, Table as TextTable};
use indicatif::{ProgressBar, ProgressStyle};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// How `strata sql` prints a result.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// The server's JSON response.
    Json,
}

/// Options of `strata sql`.
#[derive(clap::Args, Debug)]
pub struct SqlArgs {
    /// The SQL statement.
    pub query: String,
    /// The server.
    #[arg(long, env = "STRATA_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// How to print the result.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// Options of `strata ingest`.
#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// The table (created from the data when it does not exist).
    pub table: String,
    /// An `.ndjson`/`.jsonl`/`.json`, `.csv` or `.parquet` file.
    pub file: PathBuf,
    /// The server.
    #[arg(long, env = "STRATA_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Rows per request.
    #[arg(long, default_value_t = 100_000)]
    pub batch_rows: usize,
    /// Bytes per request at most (below the server's body limit); a larger batch is split.
    #[arg(long, default_value_t = 16 << 20)]
    pub batch_bytes: usize,
}

fn client() -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?)
}

/// The message of an error response, or the raw body.
fn error_message(status: reqwest::StatusCode, body: &str) -> anyhow::Error {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let code = v["error"]["code"].as_str().unwrap_or("ERROR");
            let message = v["error"]["message"].as_str().unwrap_or(body);
            anyhow!("{code} ({status}): {message}")
        }
        Err(_) => anyhow!("{status}: {body}"),
    }
}

/// Runs `strata sql`.
pub fn sql(args: SqlArgs) -> anyhow::Result<()> {
    let url = format!("{}/v1/sql", args.url.trim_end_matches('/'));
    let format = match args.format {
        OutputFormat::Csv => "csv",
        _ => "json",
    };
    let response = client()?
        .post(&url)
        .json(&serde_json::json!({"query": args.query, "format": format}))
        .send()
        .with_context(|| format!("cannot reach the server at {}", args.url))?;
    let status = response.status();
    let body = response.text()?;
    if !status.is_success() {
        return Err(error_message(status, &body));
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        OutputFormat::Csv => stdout.write_all(body.as_bytes())?,
        OutputFormat::Json => writeln!(stdout, "{}", body.trim_end())?,
        OutputFormat::Table => {
            let v: Value = serde_json::from_str(&body)?;
            writeln!(stdout, "{}", render_table(&v))?;
            let rows = v["rows"].as_array().map(|r| r.len()).unwrap_or(0);
            let ms = v["stats"]["elapsed_ms"].as_f64().unwrap_or(0.0);
            writeln!(
                stdout,
                "({rows} row{}, {ms:.1} ms)",
                if rows == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(())
}

fn render_table(v: &Value) -> String {
    let mut table = TextTable::new();
    table.load_style(UTF8_BORDERS_ONLY);
    let columns = v["columns"].as_array().cloned().unwrap_or_default();
    table.set_header(
        columns
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("").to_string()),
    );
    for row in v["rows"].as_array().map(|r| r.as_slice()).unwrap_or(&[]) {
        let cells: Vec<comfy_table::Cell> = row
            .as_array()
            .map(|r| r.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|value| match value {
                Value::Null => comfy_table::Cell::new("NULL"),
                Value::String(s) => comfy_table::Cell::new(s),
                Value::Number(n) => {
                    comfy_table::Cell::new(n.to_string()).set_alignment(CellAlignment::Right)
                }
                other => comfy_table::Cell::new(other.to_string()),
            })
            .collect();
        table.add_row(cells);
    }
    table.to_string()
}

/// The kinds of files `strata ingest` reads.
enum FileKind {
    NdJson,
    Csv,
    Parquet,
}

/// Runs `strata ingest`.
pub fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let ext = args
        .file
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let kind = match ext.as_str() {
        "ndjson" | "jsonl" | "json" => FileKind::NdJson,
        "csv" => FileKind::Csv,
        "parquet" => FileKind::Parquet,
        _ => bail!(
            "cannot tell the format of {} from its extension; use .ndjson, .jsonl, .json, .csv \
             or .parquet",
            args.file.display()
        ),
    };
    if args.batch_rows == 0 {
        bail!("--batch-rows must be at least 1");
    }
    let file =
        File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let url = format!(
        "{}/v1/tables/{}/ingest",
        args.url.trim_end_matches('/'),
        args.table
    );
    let client = client()?;
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg} [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut rows_total: u64 = 0;
    let mut send = |content_type: &str, body: Vec<u8>, source_bytes: u64| -> anyhow::Result<()> {
        let response = client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .with_context(|| format!("cannot reach the server at {}", args.url))?;
        let status = response.status();
        let text = response.text()?;
        if !status.is_success() {
            return Err(error_message(status, &text)
                .context(format!("after {rows_total} rows were ingested")));
        }
        let v: Value = serde_json::from_str(&text)?;
        rows_total += v["rows_ingested"].as_u64().unwrap_or(0);
        bar.inc(source_bytes);
        bar.set_message(format!("{rows_total} rows"));
        Ok(())
    };
    match kind {
        FileKind::NdJson => {
            for chunk in LineChunks::new(file, args.batch_rows, args.batch_bytes, false) {
                let chunk = chunk?;
                let n = chunk.len() as u64;
                send("application/x-ndjson", chunk, n)?;
            }
        }
        FileKind::Csv => {
            let mut reader = BufReader::new(file);
            let mut header = Vec::new();
            reader.read_until(b'\n', &mut header)?;
            if header.iter().all(|b| b.is_ascii_whitespace()) {
                bail!("{} has no header row", args.file.display());
            }
            if !header.ends_with(b"\n") {
                header.push(b'\n');
            }
            bar.inc(header.len() as u64);
            for chunk in LineChunks::new(reader, args.batch_rows, args.batch_bytes, true) {
                let chunk = chunk?;
                let n = chunk.len() as u64;
                let mut body = header.clone();
                body.extend_from_slice(&chunk);
                send("text/csv", body, n)?;
            }
        }
        FileKind::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
                .with_batch_size(args.batch_rows)
                .build()?;
            let mut done_rows = 0u64;
            let total_rows = reader_rows(&args.file).unwrap_or(0).max(1);
            for batch in reader {
                // Wide rows make big bodies: split a batch until its encoding fits
                // --batch-bytes (a single row is sent whatever its size).
                let mut pending = vec![batch?];
                while let Some(batch) = pending.pop() {
                    let body = encode_ipc(&batch)?;
                    let rows = batch.num_rows();
                    if body.len() > args.batch_bytes && rows > 1 {
                        pending.push(batch.slice(rows / 2, rows - rows / 2));
                        pending.push(batch.slice(0, rows / 2));
                        continue;
                    }
                    done_rows += rows as u64;
                    let progress = (done_rows * total_bytes / total_rows).min(total_bytes);
                    let step = progress.saturating_sub(bar.position());
                    send("application/vnd.apache.arrow.stream", body, step)?;
                }
            }
        }
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "ingested {rows_total} rows ({:.1} MB) into {} in {secs:.2} s: {:.0} rows/s, {:.1} MB/s",
        total_bytes as f64 / 1e6,
        args.table,
        rows_total as f64 / secs,
        total_bytes as f64 / 1e6 / secs
    );
    Ok(())
}

fn encode_ipc(batch: &arrow::record_batch::RecordBatch) -> anyhow::Result<Vec<u8>> {
    let mut w = StreamWriter::try_new(Vec::new(), &batch.schema())?;
    w.write(batch)?;
    w.finish()?;
    Ok(w.into_inner()?)
}

fn reader_rows(path: &PathBuf) -> Option<u64> {
    let file = File::open(path).ok()?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
    Some(builder.metadata().file_metadata().num_rows() as u64)
}

/// Splits a line-oriented file into request bodies of whole records: at most `rows` records and
/// (unless one record is larger) `bytes` bytes. For CSV a newline inside a quoted field does
/// not end a record.
struct LineChunks<R: Read> {
    reader: BufReader<R>,
    rows: usize,
    bytes: usize,
    csv: bool,
    pending: Vec<u8>,
    done: bool,
}

impl<R: Read> LineChunks<R> {
    fn new(reader: R, rows: usize, bytes: usize, csv: bool) -> Self {
        LineChunks {
            reader: BufReader::new(reader),
            rows,
            bytes,
            csv,
            pending: Vec::new(),
            done: false,
        }
    }
}

impl<R: Read> Iterator for LineChunks<R> {
    type Item = std::io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut chunk = std::mem::take(&mut self.pending);
        let mut records = usize::from(!chunk.is_empty());
        let mut line = Vec::new();
        let mut in_quotes = false;
        let mut record_start = chunk.len();
        loop {
            line.clear();
            match self.reader.read_until(b'\n', &mut line) {
                Err(e) => return Some(Err(e)),
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {}
            }
            if self.csv {
                in_quotes ^= line.iter().filter(|b| **b == b'"').count() % 2 == 1;
            }
            chunk.extend_from_slice(&line);
            if in_quotes {
                continue;
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                record_start = chunk.len();
                continue;
            }
            records += 1;
            if chunk.len() > self.bytes && records > 1 {
                // This record would overflow the request: it starts the next one.
                self.pending = chunk.split_off(record_start);
                break;
            }
            record_start = chunk.len();
            if records >= self.rows {
                break;
            }
        }
        if chunk.iter().all(|b| b.is_ascii_whitespace()) {
            return None;
        }
        Some(Ok(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &str, rows: usize, bytes: usize, csv: bool) -> Vec<String> {
        LineChunks::new(input.as_bytes(), rows, bytes, csv)
            .map(|c| String::from_utf8(c.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn chunks_hold_whole_records_and_every_byte() {
        let input = "a\nb\n\nc\nd\ne";
        let out = chunks(input, 2, 1 << 20, false);
        assert_eq!(out, vec!["a\nb\n", "\nc\nd\n", "e"]);
    }

    #[test]
    fn byte_limit_splits_before_the_overflowing_record() {
        let out = chunks("aaaa\nbbbb\ncccc\n", 100, 7, false);
        assert_eq!(out, vec!["aaaa\n", "bbbb\n", "cccc\n"]);
    }

    #[test]
    fn csv_newlines_inside_quotes_do_not_split_records() {
        let out = chunks("1,\"x\ny\"\n2,z\n", 1, 1 << 20, true);
        assert_eq!(out, vec!["1,\"x\ny\"\n", "2,z\n"]);
    }
}
