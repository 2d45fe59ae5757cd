//! The SQL test files: runs every `tests/slt/*.slt` file through the `sqllogictest` crate
//! against a fresh in-process [`QueryEngine`] over a [`Storage`] in a temporary directory.
//!
//! Expected results come from DuckDB (`python3 query/tests/slt/generate.py`), so values are
//! printed the way the generator prints DuckDB's, one rule on both sides:
//!
//! | type                       | column type | text                                          |
//! |----------------------------|-------------|-----------------------------------------------|
//! | integers                   | `I`         | decimal                                       |
//! | REAL, DOUBLE               | `R`         | exactly 6 decimals (`2.500000`), no `-0`      |
//! | VARCHAR                    | `T`         | as is; the empty string as `(empty)`          |
//! | BOOLEAN                    | `T`         | `true` / `false`                              |
//! | DATE, TIMESTAMP            | `T`         | `2024-01-01`, `2024-01-01 06:00:00[.123]`      |
//! | NULL of any type           |             | `NULL`                                        |
//!
//! Usage: `cargo test -p strata-query --test slt [-- <file name filter>]`. The last line of
//! the output is `N passed, M failed` (counting statements and queries); every failure names
//! its file and line with the expected and the actual result, and any failure makes the
//! process exit with status 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Decimal128Type, Float32Type, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DBOutput, DefaultColumnType, Record, Runner};
use strata_query::{Error, QueryEngine};
use strata_storage::{FsyncPolicy, Storage, StorageConfig};

/// The decimals of an `R` value; `generate.py` uses the same number.
const FLOAT_DECIMALS: usize = 6;

/// One database per file.
struct Strata {
    engine: QueryEngine,
    /// The session time zone (`SET TIME ZONE 'zone'`, as the PostgreSQL endpoint takes it).
    time_zone: Option<strata_query::TimeZone>,
}

impl sqllogictest::DB for Strata {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Error> {
        // `SET TIME ZONE 'zone'` / `SET TimeZone = 'zone'`: the session time zone of the
        // statements after it (the PostgreSQL endpoint's session setting).
        let words: Vec<String> = sql
            .split_whitespace()
            .take(3)
            .map(|w| w.to_ascii_uppercase())
            .collect();
        let zone_value = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["SET", "TIME", "ZONE", ..] => sql.trim().get(13..).map(str::trim),
            ["SET", "TIMEZONE", ..] => sql
                .to_ascii_lowercase()
                .find("timezone")
                .and_then(|at| sql.get(at + 8..))
                .map(|v| v.trim().trim_start_matches('=').trim()),
            _ => None,
        };
        if let Some(value) = zone_value {
            let value = value.trim_end_matches(';').trim().trim_matches('\'');
            self.time_zone = strata_query::parse_time_zone(value)?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let limits = strata_query::QueryLimits {
            time_zone: self.time_zone,
            ..Default::default()
        };
        let output = self.engine.execute_with(sql, &limits)?;
        let verb = sql
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if matches!(verb.as_str(), "CREATE" | "DROP" | "INSERT") {
            let count = if verb == "INSERT" {
                output
                    .batches
                    .first()
                    .and_then(|b| b.columns().first())
                    .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Int64Type>())
                    .map(|c| c.value(0) as u64)
                    .unwrap_or(0)
            } else {
                0
            };
            return Ok(DBOutput::StatementComplete(count));
        }
        let types = output
            .schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let mut rows = vec![];
        for batch in &output.batches {
            let columns: Vec<Vec<String>> = batch
                .columns()
                .iter()
                .map(format_column)
                .collect::<Result<_, _>>()?;
            for row in 0..batch.num_rows() {
                rows.push(columns.iter().map(|c| c[row].clone()).collect());
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    fn engine_name(&self) -> &str {
        "strata"
    }
}

fn column_type(dt: &DataType) -> DefaultColumnType {
    match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => DefaultColumnType::Integer,
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => {
            DefaultColumnType::FloatingPoint
        }
        _ => DefaultColumnType::Text,
    }
}

fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let text = format!("{v:.FLOAT_DECIMALS$}");
    match text.strip_prefix('-') {
        Some(abs) if abs.chars().all(|c| c == '0' || c == '.') => abs.to_string(),
        _ => text,
    }
}

fn format_column(column: &ArrayRef) -> Result<Vec<String>, Error> {
    Ok(format_cells(column)?
        .into_iter()
        .map(|c| c.unwrap_or_else(|| "NULL".to_string()))
        .collect())
}

/// A list as PostgreSQL's array text, `{a,"b c",NULL}`: elements formatted like columns
/// (text as is), quoted when empty, `NULL`, or holding `{},"\` or white space.
fn format_list(list: &arrow::array::ListArray) -> Result<Vec<Option<String>>, Error> {
    let values = list.values();
    let elements: Vec<Option<String>> = match values.data_type() {
        DataType::Utf8 => values
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        _ => format_cells(values)?,
    };
    let offsets = list.value_offsets();
    Ok((0..list.len())
        .map(|row| {
            if list.is_null(row) {
                return None;
            }
            let range = offsets[row] as usize..offsets[row + 1] as usize;
            let items: Vec<String> = elements[range]
                .iter()
                .map(|e| match e {
                    None => "NULL".to_string(),
                    Some(s) => {
                        let quote = s.is_empty()
                            || s.eq_ignore_ascii_case("null")
                            || s.contains(|c: char| "{},\"\\".contains(c) || c.is_whitespace());
                        if quote {
                            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                        } else {
                            s.clone()
                        }
                    }
                })
                .collect();
            Some(format!("{{{}}}", items.join(",")))
        })
        .collect())
}

fn format_cells(column: &ArrayRef) -> Result<Vec<Option<String>>, Error> {
    let n = column.len();
    let cells = match column.data_type() {
        DataType::List(_) => format_list(column.as_list::<i32>())?,
        DataType::Float64 => {
            let a = column.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| (!a.is_null(i)).then(|| format_float(a.value(i))))
                .collect()
        }
        DataType::Float32 => {
            let a = column.as_primitive::<Float32Type>();
            (0..n)
                .map(|i| (!a.is_null(i)).then(|| format_float(f64::from(a.value(i)))))
                .collect()
        }
        // As the generator does: the exact value read as the nearest f64, with 6 decimals.
        DataType::Decimal128(_, _) => {
            let a = column.as_primitive::<Decimal128Type>();
            (0..n)
                .map(|i| {
                    (!a.is_null(i)).then(|| {
                        let text = a.value_as_string(i);
                        format_float(text.parse::<f64>().unwrap_or(f64::NAN))
                    })
                })
                .collect()
        }
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            (0..n)
                .map(|i| {
                    (!a.is_null(i)).then(|| match a.value(i) {
                        "" => "(empty)".to_string(),
                        s => s.to_string(),
                    })
                })
                .collect()
        }
        // A TIMESTAMP under a session time zone: its local time there (what DuckDB's Python
        // API gives for a TIMESTAMPTZ), without the offset.
        DataType::Timestamp(_, Some(_)) => {
            let a = column.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
            let tz = strata_query::zoned::zone_of(column.data_type());
            (0..n)
                .map(|i| {
                    (!a.is_null(i)).then(|| {
                        let ms = a.value(i);
                        let local = tz.map_or(ms, |tz| {
                            ms + i64::from(strata_query::zoned::offset_seconds(&tz, ms)) * 1000
                        });
                        let text = chrono::DateTime::from_timestamp_millis(local)
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.f").to_string())
                            .unwrap_or_default();
                        text
                    })
                })
                .collect()
        }
        DataType::Interval(_) => {
            let a = column.as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>();
            (0..n)
                .map(|i| (!a.is_null(i)).then(|| strata_query::interval::text(a.value(i))))
                .collect()
        }
        _ => {
            let options = FormatOptions::default()
                .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
                .with_date_format(Some("%Y-%m-%d"));
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            // `logical_nulls`: a NULL-typed column has no null buffer but is all NULL.
            let nulls = column.logical_nulls();
            (0..n)
                .map(|i| {
                    let null = nulls.as_ref().is_some_and(|b| b.is_null(i));
                    (!null).then(|| formatter.value(i).to_string())
                })
                .collect::<Vec<Option<String>>>()
        }
    };
    Ok(cells)
}

fn temp_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("strata-slt-{}-{tag}", std::process::id()))
}

/// Runs one file; returns (passed, failed).
fn run_file(path: &Path) -> (usize, usize) {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("file")
        .to_string();
    let dir = temp_dir(&stem);
    let _ = std::fs::remove_dir_all(&dir);
    let config = StorageConfig {
        fsync: FsyncPolicy::Never,
        ..StorageConfig::default()
    };
    let storage: Arc<Storage> = match Storage::open(&dir, config) {
        Ok(s) => s,
        Err(e) => {
            println!("FAILED {}: cannot open storage: {e}", path.display());
            return (0, 1);
        }
    };
    let engine = QueryEngine::new(storage);
    let records = match sqllogictest::parse_file::<DefaultColumnType>(path) {
        Ok(r) => r,
        Err(e) => {
            println!("FAILED {}: {e}", path.display());
            return (0, 1);
        }
    };
    let mut runner = Runner::new(move || {
        let engine = engine.clone();
        async move {
            Ok::<_, Error>(Strata {
                engine,
                time_zone: None,
            })
        }
    });
    runner.with_column_validator(sqllogictest::strict_column_validator);
    let (mut passed, mut failed) = (0, 0);
    for record in records {
        let counted = matches!(record, Record::Statement { .. } | Record::Query { .. });
        match runner.run(record) {
            Ok(_) if counted => passed += 1,
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                println!("FAILED {}", e.display(false));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    (passed, failed)
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("slt");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&root) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "slt"))
            .filter(|p| {
                let name = p.to_string_lossy();
                filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
            })
            .collect(),
        Err(e) => {
            println!("cannot read {}: {e}", root.display());
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let (p, f) = run_file(file);
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        println!(
            "{}: {p} passed, {f} failed",
            name.unwrap_or_else(|| file.display().to_string())
        );
        passed += p;
        failed += f;
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
