//! A narrow real-time event stream for the ingest, freshness and dashboard benchmarks.
//!
//! One row is one page-view-like event:
//!
//! | column       | type          | distribution                                              |
//! |--------------|---------------|-----------------------------------------------------------|
//! | `time`       | TIMESTAMP(ms) | starts at `start_ms`; exponential gaps at `rate` events/s  |
//! | `country`    | VARCHAR       | 50 ISO codes, Zipf s = 1.1                                |
//! | `device`     | VARCHAR       | 5 values: desktop 45%, mobile 40%, tablet 10%, tv, bot    |
//! | `url`        | VARCHAR       | 10,000 paths, Zipf s = 1.0                                |
//! | `user_id`    | VARCHAR       | 100,000 users, Zipf s = 0.8                               |
//! | `bytes`      | BIGINT        | log-normal, median 2 KB                                   |
//! | `amount`     | DOUBLE        | 0.00 for 80% of rows, else log-normal around 20, in cents |
//! | `latency_ms` | DOUBLE        | log-normal, median 40 ms, sigma 0.8 (p99 about 250 ms)    |
//! | `status`     | INTEGER       | 200 for 93%, then 304, 404, 500, 302                      |
//!
//! Written as Parquet, or as NDJSON whose lines Strata's `POST /v1/tables/{t}/ingest`
//! (`application/x-ndjson`) accepts: `time` is an integer of epoch milliseconds, `amount` and
//! `latency_ms` always carry a decimal point so that schema inference makes them DOUBLE.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::dist::{Rng, Weighted};
use super::text;
use crate::{Error, Result};

/// 2026-01-01T00:00:00Z in epoch milliseconds: the default start, so that output is
/// reproducible without a clock.
pub const DEFAULT_START_MS: i64 = 1_767_225_600_000;
/// Default arrival rate, events per second of event time.
pub const DEFAULT_RATE_PER_S: f64 = 1_000.0;
/// Rows per generated batch.
pub const BATCH_ROWS: usize = 65_536;

const COUNTRIES: [&str; 50] = [
    "US", "DE", "GB", "FR", "IN", "BR", "JP", "RU", "CA", "IT", "ES", "NL", "AU", "KR", "MX", "PL",
    "SE", "TR", "CH", "BE", "ID", "AR", "NO", "AT", "DK", "FI", "IE", "PT", "CZ", "RO", "UA", "IL",
    "ZA", "SG", "HK", "TW", "NZ", "GR", "HU", "CL", "CO", "TH", "MY", "PH", "VN", "EG", "NG", "SA",
    "AE", "PK",
];
const DEVICES: [(&str, f64); 5] = [
    ("desktop", 0.45),
    ("mobile", 0.40),
    ("tablet", 0.10),
    ("tv", 0.03),
    ("bot", 0.02),
];
const STATUSES: [(i32, f64); 5] = [
    (200, 0.93),
    (304, 0.03),
    (404, 0.025),
    (500, 0.01),
    (302, 0.005),
];
/// Distinct URLs.
pub const URLS: usize = 10_000;
/// Distinct users.
pub const USERS: usize = 100_000;

const S_EVENTS: u64 = 0xE7E7;

/// The schema of `events`.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("country", DataType::Utf8, false),
        Field::new("device", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("latency_ms", DataType::Float64, false),
        Field::new("status", DataType::Int32, false),
    ]))
}

/// Streams `events` rows as Arrow batches, in time order.
pub struct EventsGenerator {
    seed: u64,
    rows: u64,
    produced: u64,
    clock_ms: f64,
    mean_gap_ms: f64,
    schema: SchemaRef,
    countries: Weighted,
    devices: Weighted,
    statuses: Weighted,
    url_pick: Weighted,
    user_pick: Weighted,
    urls: Vec<String>,
}

impl EventsGenerator {
    /// `rows` events from `seed`, starting at `start_ms`, arriving at `rate_per_s` per second.
    pub fn new(rows: u64, seed: u64, start_ms: i64, rate_per_s: f64) -> Result<EventsGenerator> {
        if !(rate_per_s.is_finite() && rate_per_s > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "the event rate must be positive, got {rate_per_s}"
            )));
        }
        let urls = (0..URLS as u64)
            .map(|k| {
                let mut rng = Rng::for_index(seed, S_EVENTS + 1, k);
                let mut s = String::with_capacity(32);
                s.push_str(["/p/", "/product/", "/blog/", "/search/", "/cart/"][(k % 5) as usize]);
                text::push_word(&mut s, &mut rng, 2 + (k % 3) as u32, false);
                s.push('/');
                s.push_str(&k.to_string());
                s
            })
            .collect();
        Ok(EventsGenerator {
            seed,
            rows,
            produced: 0,
            clock_ms: start_ms as f64,
            mean_gap_ms: 1_000.0 / rate_per_s,
            schema: schema(),
            countries: Weighted::zipf(COUNTRIES.len(), 1.1, 0),
            devices: Weighted::new(&DEVICES.map(|d| d.1)),
            statuses: Weighted::new(&STATUSES.map(|s| s.1)),
            url_pick: Weighted::zipf(URLS, 1.0, 0),
            user_pick: Weighted::zipf(USERS, 0.8, 0),
            urls,
        })
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The next batch of at most [`BATCH_ROWS`] rows, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let n = (self.rows - self.produced).min(BATCH_ROWS as u64) as usize;
        if n == 0 {
            return Ok(None);
        }
        let mut time = Vec::with_capacity(n);
        let mut country = Vec::with_capacity(n);
        let mut device = Vec::with_capacity(n);
        let mut url = Vec::with_capacity(n);
        let mut bytes = Vec::with_capacity(n);
        let mut amount = Vec::with_capacity(n);
        let mut latency = Vec::with_capacity(n);
        let mut status = Vec::with_capacity(n);
        let mut user_buf = String::with_capacity(8);
        let mut users_col = arrow::array::StringBuilder::with_capacity(n, n * 7);
        for _ in 0..n {
            let mut rng = Rng::for_index(self.seed, S_EVENTS, self.produced);
            self.produced += 1;
            // Exponential gaps: time never decreases and jitters around the rate.
            self.clock_ms += -(1.0 - rng.f64()).ln() * self.mean_gap_ms;
            time.push(self.clock_ms.floor() as i64);
            country.push(COUNTRIES[self.countries.sample(&mut rng)]);
            device.push(DEVICES[self.devices.sample(&mut rng)].0);
            url.push(self.urls[self.url_pick.sample(&mut rng)].as_str());
            let u = self.user_pick.sample(&mut rng);
            user_buf.clear();
            user_buf.push('u');
            push_padded(&mut user_buf, u as u64, 6);
            users_col.append_value(&user_buf);
            bytes.push(rng.lognormal(2_048.0, 1.0).min(1e9) as i64);
            amount.push(if rng.chance(0.8) {
                0.0
            } else {
                (rng.lognormal(20.0, 1.0).min(1e6) * 100.0).round() / 100.0
            });
            latency.push((rng.lognormal(40.0, 0.8).min(1e6) * 1000.0).round() / 1000.0);
            status.push(STATUSES[self.statuses.sample(&mut rng)].0);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(time)),
            Arc::new(StringArray::from(country)),
            Arc::new(StringArray::from(device)),
            Arc::new(StringArray::from(url)),
            Arc::new(users_col.finish()),
            Arc::new(Int64Array::from(bytes)),
            Arc::new(Float64Array::from(amount)),
            Arc::new(Float64Array::from(latency)),
            Arc::new(Int32Array::from(status)),
        ];
        Ok(Some(RecordBatch::try_new(self.schema.clone(), columns)?))
    }
}

/// Parquet writer settings for `events` files.
pub fn writer_properties() -> Result<parquet::file::properties::WriterProperties> {
    super::writer_properties(&["time", "bytes", "amount", "latency_ms"])
}

/// Appends `v` in decimal, zero-padded to `width` digits.
fn push_padded(out: &mut String, v: u64, width: usize) {
    let digits = v.to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// Writes all events of `generator` as NDJSON lines to `path`; returns the rows written.
pub fn write_ndjson(generator: &mut EventsGenerator, path: &Path) -> Result<u64> {
    write_text(generator, path, append_ndjson)
}

/// Writes all events of `generator` as CSV to `path` (one header row, then one line per event;
/// `time` as RFC 3339 with milliseconds); returns the rows written.
pub fn write_csv(generator: &mut EventsGenerator, path: &Path) -> Result<u64> {
    let mut first = true;
    write_text(generator, path, |batch, out| {
        if std::mem::take(&mut first) {
            out.extend_from_slice(CSV_HEADER.as_bytes());
        }
        append_csv_rows(batch, out)
    })
}

fn write_text(
    generator: &mut EventsGenerator,
    path: &Path,
    mut encode: impl FnMut(&RecordBatch, &mut Vec<u8>) -> Result<()>,
) -> Result<u64> {
    let io = |operation: &'static str| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            operation,
            path,
            source,
        }
    };
    let file = File::create(path).map_err(io("create"))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rows = 0u64;
    let mut buf = Vec::with_capacity(BATCH_ROWS * 192);
    while let Some(batch) = generator.next_batch()? {
        buf.clear();
        encode(&batch, &mut buf)?;
        out.write_all(&buf).map_err(io("write"))?;
        rows += batch.num_rows() as u64;
    }
    out.flush().map_err(io("write"))?;
    Ok(rows)
}

/// The columns of an `events` batch, typed.
struct Columns<'a> {
    time: &'a TimestampMillisecondArray,
    country: &'a StringArray,
    device: &'a StringArray,
    url: &'a StringArray,
    user: &'a StringArray,
    bytes: &'a Int64Array,
    amount: &'a Float64Array,
    latency: &'a Float64Array,
    status: &'a Int32Array,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Columns<'a>> {
        if batch.num_columns() != 9 {
            return Err(Error::InvalidArgument(format!(
                "an events batch has 9 columns, this one {}",
                batch.num_columns()
            )));
        }
        let col = |i: usize| batch.column(i);
        Ok(Columns {
            time: downcast(col(0))?,
            country: downcast(col(1))?,
            device: downcast(col(2))?,
            url: downcast(col(3))?,
            user: downcast(col(4))?,
            bytes: downcast(col(5))?,
            amount: downcast(col(6))?,
            latency: downcast(col(7))?,
            status: downcast(col(8))?,
        })
    }
}

/// Appends the rows of an `events` batch (the schema of [`schema`]) to `out` as NDJSON lines:
/// `time` as epoch milliseconds, `amount` and `latency_ms` with a decimal point.
pub fn append_ndjson(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
    use std::io::Write as _;
    let c = Columns::of(batch)?;
    for i in 0..batch.num_rows() {
        // Values are ASCII from fixed alphabets: no JSON escaping is needed.
        writeln!(
            out,
            "{{\"time\":{},\"country\":\"{}\",\"device\":\"{}\",\"url\":\"{}\",\
             \"user_id\":\"{}\",\"bytes\":{},\"amount\":{:.2},\"latency_ms\":{:.3},\
             \"status\":{}}}",
            c.time.value(i),
            c.country.value(i),
            c.device.value(i),
            c.url.value(i),
            c.user.value(i),
            c.bytes.value(i),
            c.amount.value(i),
            c.latency.value(i),
            c.status.value(i),
        )
        .map_err(|e| Error::Internal(format!("writing to memory: {e}")))?;
    }
    Ok(())
}

/// The header row of [`append_csv_rows`]' CSV.
pub const CSV_HEADER: &str = "time,country,device,url,user_id,bytes,amount,latency_ms,status\n";

/// Appends the rows of an `events` batch to `out` as CSV lines without the header
/// ([`CSV_HEADER`]): `time` as RFC 3339 UTC with milliseconds (`2026-01-01T00:00:00.123Z`).
pub fn append_csv_rows(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
    use std::io::Write as _;
    let c = Columns::of(batch)?;
    let mut day = i64::MIN;
    let mut date = String::new();
    for i in 0..batch.num_rows() {
        let ms = c.time.value(i);
        let d = ms.div_euclid(86_400_000);
        if d != day {
            day = d;
            date = civil_date(d);
        }
        let in_day = ms.rem_euclid(86_400_000);
        writeln!(
            out,
            "{date}T{:02}:{:02}:{:02}.{:03}Z,{},{},{},{},{},{:.2},{:.3},{}",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000,
            c.country.value(i),
            c.device.value(i),
            c.url.value(i),
            c.user.value(i),
            c.bytes.value(i),
            c.amount.value(i),
            c.latency.value(i),
            c.status.value(i),
        )
        .map_err(|e| Error::Internal(format!("writing to memory: {e}")))?;
    }
    Ok(())
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn downcast<T: Array + 'static>(a: &ArrayRef) -> Result<&T> {
    a.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| Error::Internal("events column of an unexpected type".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(rows: u64, seed: u64) -> Vec<RecordBatch> {
        let mut g = EventsGenerator::new(rows, seed, DEFAULT_START_MS, DEFAULT_RATE_PER_S).unwrap();
        let mut out = Vec::new();
        while let Some(b) = g.next_batch().unwrap() {
            out.push(b);
        }
        out
    }

    #[test]
    fn same_seed_same_events_and_time_never_decreases() {
        let a = batches(70_000, 1);
        assert_eq!(a, batches(70_000, 1));
        assert_ne!(a, batches(70_000, 2));
        let mut prev = i64::MIN;
        for b in &a {
            let t = b
                .column(0)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap();
            for v in t.values().iter() {
                assert!(*v >= prev);
                prev = *v;
            }
        }
        assert_eq!(a.iter().map(|b| b.num_rows()).sum::<usize>(), 70_000);
    }

    #[test]
    fn strata_ingest_decodes_the_ndjson_with_time_as_the_time_column() {
        use strata_ingest::{decode, Format};
        let path =
            std::env::temp_dir().join(format!("strata-bench-ingest-{}.ndjson", std::process::id()));
        let mut g = EventsGenerator::new(3_000, 4, DEFAULT_START_MS, DEFAULT_RATE_PER_S).unwrap();
        write_ndjson(&mut g, &path).unwrap();
        let body = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        // A new table (schema inferred from the body) ...
        let decoded = decode(Format::NdJson, &body, None, &Default::default()).unwrap();
        assert_eq!(decoded.batch.num_rows(), 3_000);
        assert_eq!(decoded.time_column.as_deref(), Some("time"));
        let types: Vec<(String, DataType)> = decoded
            .batch
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        for (name, ty) in &types {
            let expected = match name.as_str() {
                "time" => DataType::Timestamp(TimeUnit::Millisecond, None),
                "country" | "device" | "url" | "user_id" => DataType::Utf8,
                "bytes" | "status" => DataType::Int64,
                "amount" | "latency_ms" => DataType::Float64,
                other => panic!("unexpected column {other}"),
            };
            assert_eq!(ty, &expected, "{name}");
        }
        // ... and a table created with the Parquet schema.
        let decoded = decode(Format::NdJson, &body, Some(&schema()), &Default::default()).unwrap();
        assert_eq!(decoded.batch.num_rows(), 3_000);
    }

    #[test]
    fn ndjson_lines_are_objects_with_the_expected_fields() {
        let dir = std::env::temp_dir().join(format!("strata-bench-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.ndjson");
        let mut g = EventsGenerator::new(5_000, 9, DEFAULT_START_MS, DEFAULT_RATE_PER_S).unwrap();
        assert_eq!(write_ndjson(&mut g, &path).unwrap(), 5_000);
        let body = std::fs::read_to_string(&path).unwrap();
        let mut statuses_200 = 0;
        for line in body.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let o = v.as_object().unwrap();
            assert_eq!(o.len(), 9, "{line}");
            assert!(o["time"].as_i64().unwrap() >= DEFAULT_START_MS);
            for s in ["country", "device", "url", "user_id"] {
                assert!(o[s].is_string(), "{line}");
            }
            assert!(o["bytes"].is_i64());
            assert!(o["amount"].is_f64() && o["latency_ms"].is_f64(), "{line}");
            statuses_200 += usize::from(o["status"].as_i64().unwrap() == 200);
        }
        assert_eq!(body.lines().count(), 5_000);
        assert!(statuses_200 > 4_400);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn strata_ingest_decodes_the_csv_into_the_events_schema() {
        use strata_ingest::{decode, Format};
        let mut g = EventsGenerator::new(2_000, 5, DEFAULT_START_MS, DEFAULT_RATE_PER_S).unwrap();
        let batch = g.next_batch().unwrap().unwrap();
        let mut body = CSV_HEADER.as_bytes().to_vec();
        append_csv_rows(&batch, &mut body).unwrap();
        assert!(String::from_utf8_lossy(&body)
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2026-01-01T00:00:00."));
        // Decoded against the table's schema, the CSV gives back the same values.
        let storage_schema = schema();
        let decoded = decode(
            Format::Csv,
            &body,
            Some(&storage_schema),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(decoded.batch.num_rows(), 2_000);
        assert_eq!(decoded.batch.column(0).as_ref(), batch.column(0).as_ref());
        assert_eq!(decoded.batch.column(4).as_ref(), batch.column(4).as_ref());
        let mut ndjson = Vec::new();
        append_ndjson(&batch, &mut ndjson).unwrap();
        let from_json = decode(
            Format::NdJson,
            &ndjson,
            Some(&storage_schema),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(from_json.batch.column(7).as_ref(), batch.column(7).as_ref());
    }
}
