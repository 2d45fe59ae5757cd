//! `strata serve --demo`: a live `events` table for newcomers.
//!
//! A background thread appends a batch of generated events every [`TICK_MS`] milliseconds, stamped
//! with the wall clock, so that the console and Grafana show live data within seconds of the first
//! command. The rows go through the same storage path as `POST /v1/tables/events/ingest` (the
//! table's write-ahead log, then its live segment: [`strata_storage::Table::append`]); they are
//! built as Arrow arrays directly, skipping only the NDJSON decoding.
//!
//! The columns and their types are those of the benchmark generator (`bench/src/gen/events.rs`),
//! so that queries written against one run against the other; the distributions are simpler
//! (the server must not depend on `strata-bench`, see `docs/architecture.md`):
//!
//! | column       | type          | values                                                   |
//! |--------------|---------------|----------------------------------------------------------|
//! | `time`       | TIMESTAMP(ms) | now, spread evenly over the tick                         |
//! | `country`    | VARCHAR       | 50 ISO codes, Zipf s = 1.1                               |
//! | `device`     | VARCHAR       | desktop 45%, mobile 40%, tablet 10%, tv 3%, bot 2%       |
//! | `url`        | VARCHAR       | 1,000 paths, Zipf s = 1.0                                |
//! | `user_id`    | VARCHAR       | 100,000 users `u000000`..`u099999`, Zipf s = 0.8         |
//! | `bytes`      | BIGINT        | log-normal, median 2 KB                                  |
//! | `amount`     | DOUBLE        | 0.00 for 80% of rows, else log-normal around 20, in cents |
//! | `latency_ms` | DOUBLE        | log-normal, median 40 ms, sigma 0.8; slower on the hour's odd minutes |
//! | `status`     | INTEGER       | 200 for 93%, then 304, 404, 500, 302                     |

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, StringArray, StringBuilder,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use strata_storage::{Storage, TableDef, TableOptions};

/// The demo table's name.
pub const TABLE: &str = "events";
/// Milliseconds between two appends.
pub const TICK_MS: u64 = 200;
/// The highest accepted `--demo-rate` (rows per second): a bound on the batch size.
pub const RATE_MAX: u64 = 1_000_000;

const COUNTRIES: [&str; 50] = [
    "US", "DE", "GB", "FR", "IN", "BR", "JP", "RU", "CA", "IT", "ES", "NL", "AU", "KR", "MX", "PL",
    "SE", "TR", "CH", "BE", "ID", "AR", "NO", "AT", "DK", "FI", "IE", "PT", "CZ", "RO", "UA", "IL",
    "ZA", "SG", "HK", "TW", "NZ", "GR", "HU", "CL", "CO", "TH", "MY", "PH", "VN", "EG", "NG", "SA",
    "AE", "PK",
];
const DEVICES: [&str; 5] = ["desktop", "mobile", "tablet", "tv", "bot"];
const DEVICE_WEIGHTS: [f64; 5] = [0.45, 0.40, 0.10, 0.03, 0.02];
const STATUSES: [i32; 5] = [200, 304, 404, 500, 302];
const STATUS_WEIGHTS: [f64; 5] = [0.93, 0.03, 0.025, 0.01, 0.005];
const URLS: usize = 1_000;
const USERS: usize = 100_000;

/// The schema of the demo `events` table (that of `strata-bench`'s events generator).
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("country", DataType::Utf8, true),
        Field::new("device", DataType::Utf8, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("user_id", DataType::Utf8, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("latency_ms", DataType::Float64, true),
        Field::new("status", DataType::Int32, true),
    ]))
}

/// Creates `events` when it is missing and starts the thread that feeds it `rate_per_s` rows per
/// second until the process ends. An `events` table of another shape is an error.
pub fn start(storage: Arc<Storage>, rate_per_s: u64) -> anyhow::Result<()> {
    if rate_per_s == 0 || rate_per_s > RATE_MAX {
        anyhow::bail!(
            "--demo-rate must be between 1 and {RATE_MAX} rows per second, got {rate_per_s}"
        );
    }
    let def = TableDef {
        name: TABLE.to_string(),
        schema: schema(),
        options: TableOptions {
            time_column: Some("time".to_string()),
            ..TableOptions::default()
        },
    };
    if storage.create_table(def, true)? {
        tracing::info!(table = TABLE, "demo: created table");
    }
    let table = storage.table(TABLE)?;
    let have = table.schema();
    for field in schema().fields() {
        match have.field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            _ => anyhow::bail!(
                "--demo: the existing table \"{TABLE}\" has no {} column of type {}; drop it or use \
                 another --data-dir",
                field.name(),
                strata_storage::sql_type_name(field.data_type())
            ),
        }
    }
    let seed = now_ms() as u64;
    std::thread::Builder::new()
        .name("strata-demo".to_string())
        .spawn(move || {
            let mut generator = Generator::new(seed);
            let mut next = std::time::Instant::now();
            // Whole rows per tick, carrying the fraction over, so that any rate is met on average.
            let mut owed = 0.0_f64;
            loop {
                next += Duration::from_millis(TICK_MS);
                owed += rate_per_s as f64 * TICK_MS as f64 / 1_000.0;
                let rows = owed.floor() as usize;
                owed -= rows as f64;
                if rows > 0 {
                    let end = now_ms();
                    let batch = generator.batch(rows, end - TICK_MS as i64, end, &have);
                    match batch
                        .map_err(anyhow::Error::from)
                        .and_then(|b| table.append(b).map_err(anyhow::Error::from))
                    {
                        Ok(_) => {}
                        Err(strata_err) => {
                            // A dropped table or a failing disk: say so once and stop feeding.
                            tracing::warn!(error = %strata_err, "demo: stopped feeding {TABLE}");
                            return;
                        }
                    }
                }
                let now = std::time::Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    // Fell behind (a slow disk): skip the missed ticks rather than burst.
                    next = now;
                }
            }
        })?;
    tracing::info!(table = TABLE, rate_per_s, "demo: generating events");
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// SplitMix64: small, fast, good enough for demo data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-normal with the given median and sigma (Box-Muller).
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        median * (sigma * z).exp()
    }
}

/// A discrete distribution: the cumulative weights, searched with one binary search per draw.
struct Weighted(Vec<f64>);

impl Weighted {
    fn new(weights: &[f64]) -> Weighted {
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        Weighted(
            weights
                .iter()
                .map(|w| {
                    acc += w / total;
                    acc
                })
                .collect(),
        )
    }

    fn zipf(n: usize, s: f64) -> Weighted {
        let weights: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
        Weighted::new(&weights)
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.f64();
        self.0
            .partition_point(|&c| c <= u)
            .min(self.0.len().saturating_sub(1))
    }
}

/// Builds `events` batches.
struct Generator {
    rng: Rng,
    countries: Weighted,
    devices: Weighted,
    statuses: Weighted,
    url_pick: Weighted,
    user_pick: Weighted,
    urls: Vec<String>,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        const WORDS: [&str; 12] = [
            "shoes", "coffee", "garden", "laptop", "travel", "music", "books", "bikes", "tea",
            "camera", "kitchen", "games",
        ];
        const PREFIXES: [&str; 5] = ["/p/", "/product/", "/blog/", "/search/", "/cart/"];
        let urls = (0..URLS)
            .map(|k| {
                format!(
                    "{}{}/{k}",
                    PREFIXES[k % PREFIXES.len()],
                    WORDS[(k / PREFIXES.len()) % WORDS.len()]
                )
            })
            .collect();
        Generator {
            rng: Rng(seed),
            countries: Weighted::zipf(COUNTRIES.len(), 1.1),
            devices: Weighted::new(&DEVICE_WEIGHTS),
            statuses: Weighted::new(&STATUS_WEIGHTS),
            url_pick: Weighted::zipf(URLS, 1.0),
            user_pick: Weighted::zipf(USERS, 0.8),
            urls,
        }
    }

    /// `rows` events with times spread evenly over `[start_ms, end_ms)`, in the column order of
    /// `schema` (the existing table's, which may have more columns: those are NULL).
    fn batch(
        &mut self,
        rows: usize,
        start_ms: i64,
        end_ms: i64,
        schema: &SchemaRef,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let span = (end_ms - start_ms).max(1) as f64;
        let step = span / rows.max(1) as f64;
        let time: Vec<i64> = (0..rows)
            .map(|i| start_ms + (i as f64 * step) as i64)
            .collect();
        // Latency drifts with the minute so that charts have something to show.
        let slow = if (end_ms / 60_000) % 2 == 1 { 1.6 } else { 1.0 };
        let mut country = Vec::with_capacity(rows);
        let mut device = Vec::with_capacity(rows);
        let mut url = Vec::with_capacity(rows);
        let mut user = StringBuilder::with_capacity(rows, rows * 7);
        let mut bytes = Vec::with_capacity(rows);
        let mut amount = Vec::with_capacity(rows);
        let mut latency = Vec::with_capacity(rows);
        let mut status = Vec::with_capacity(rows);
        let mut user_buf = String::with_capacity(8);
        for _ in 0..rows {
            let rng = &mut self.rng;
            country.push(COUNTRIES[self.countries.sample(rng)]);
            device.push(DEVICES[self.devices.sample(rng)]);
            url.push(self.urls[self.url_pick.sample(rng)].as_str());
            user_buf.clear();
            use std::fmt::Write as _;
            let _ = write!(user_buf, "u{:06}", self.user_pick.sample(rng));
            user.append_value(&user_buf);
            bytes.push(rng.lognormal(2_048.0, 1.0).min(1e9) as i64);
            amount.push(if rng.f64() < 0.8 {
                0.0
            } else {
                (rng.lognormal(20.0, 1.0).min(1e6) * 100.0).round() / 100.0
            });
            latency.push((rng.lognormal(40.0 * slow, 0.8).min(1e6) * 1000.0).round() / 1000.0);
            status.push(STATUSES[self.statuses.sample(rng)]);
        }
        let mut generated: Vec<(&str, ArrayRef)> = vec![
            ("time", Arc::new(TimestampMillisecondArray::from(time))),
            ("country", Arc::new(StringArray::from(country))),
            ("device", Arc::new(StringArray::from(device))),
            ("url", Arc::new(StringArray::from(url))),
            ("user_id", Arc::new(user.finish())),
            ("bytes", Arc::new(Int64Array::from(bytes))),
            ("amount", Arc::new(Float64Array::from(amount))),
            ("latency_ms", Arc::new(Float64Array::from(latency))),
            ("status", Arc::new(Int32Array::from(status))),
        ];
        let columns = schema
            .fields()
            .iter()
            .map(
                |field| match generated.iter().position(|(name, _)| name == field.name()) {
                    Some(i) => generated.swap_remove(i).1,
                    None => arrow::array::new_null_array(field.data_type(), rows),
                },
            )
            .collect();
        RecordBatch::try_new(schema.clone(), columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_has_the_events_shape_and_spreads_time_over_the_tick() {
        let mut g = Generator::new(7);
        let batch = g.batch(1_000, 10_000, 10_200, &schema()).unwrap();
        assert_eq!(batch.num_rows(), 1_000);
        assert_eq!(batch.schema(), schema());
        let time = batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(time.value(0), 10_000);
        assert!(time.values().windows(2).all(|w| w[0] <= w[1]));
        assert!(time.value(999) < 10_200);
    }

    #[test]
    fn distributions_stay_in_range() {
        let mut rng = Rng(1);
        let w = Weighted::new(&DEVICE_WEIGHTS);
        let mut counts = [0usize; 5];
        for _ in 0..10_000 {
            counts[w.sample(&mut rng)] += 1;
        }
        // desktop is the most common, bot the rarest
        assert!(counts[0] > counts[1] && counts[1] > counts[2] && counts[4] < counts[2]);
        let z = Weighted::zipf(URLS, 1.0);
        for _ in 0..10_000 {
            assert!(z.sample(&mut rng) < URLS);
        }
    }

    #[test]
    fn extra_table_columns_are_null() {
        let mut fields: Vec<Field> = schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.insert(1, Field::new("extra", DataType::Utf8, true));
        let wide = Arc::new(Schema::new(fields));
        let batch = Generator::new(3).batch(10, 0, 200, &wide).unwrap();
        assert_eq!(batch.column(1).null_count(), 10);
        assert_eq!(batch.num_columns(), 10);
    }
}
