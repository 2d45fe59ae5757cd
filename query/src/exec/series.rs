//! [`SeriesExec`]: the rows of `generate_series(...)`, in batches of 8,192, computed as they are
//! pulled (a series of a billion values costs time, bounded by the query's limits, not memory).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Months};

use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::plan::{Series, SeriesValues};

/// Rows per output batch.
const BATCH_ROWS: usize = 8192;

/// Generates a series of values.
#[derive(Debug)]
pub struct SeriesExec {
    series: Series,
    schema: SchemaRef,
    stats: Arc<ExecStats>,
}

impl SeriesExec {
    /// The rows of `series`.
    pub fn new(series: Series, stats: Arc<ExecStats>) -> Self {
        let schema = Arc::new(Schema::new(vec![Field::new(
            series.name.clone(),
            series.values.data_type(),
            false,
        )]));
        SeriesExec {
            series,
            schema,
            stats,
        }
    }
}

/// `ts + months + days + ms` (no time zone: a day is 24 hours), or `None` past the range.
fn step_timestamp(ts: i64, months: i32, days: i32, ms: i64) -> Option<i64> {
    let mut t = DateTime::from_timestamp_millis(ts)?;
    if months > 0 {
        t = t.checked_add_months(Months::new(months.unsigned_abs()))?;
    } else if months < 0 {
        t = t.checked_sub_months(Months::new(months.unsigned_abs()))?;
    }
    t.timestamp_millis()
        .checked_add(i64::from(days).checked_mul(86_400_000)?)?
        .checked_add(ms)
}

/// Whether `value` is still within the series going from the start towards `stop`.
fn within(value: i64, stop: i64, ascending: bool) -> bool {
    if ascending {
        value <= stop
    } else {
        value >= stop
    }
}

impl ExecutionPlan for SeriesExec {
    fn name(&self) -> &'static str {
        "SeriesExec"
    }

    fn details(&self) -> String {
        format!("{:?}", self.series.values)
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let SeriesExec {
            series,
            schema,
            stats,
        } = *self;
        let values = series.values;
        let (start, stop, ascending) = match values {
            SeriesValues::Int { start, stop, step } => {
                if step == 0 {
                    return Err(Error::InvalidArgument {
                        message: "generate_series() step size cannot equal zero".into(),
                    });
                }
                (start, stop, step > 0)
            }
            SeriesValues::Timestamp {
                start,
                stop,
                months,
                days,
                ms,
            } => {
                let probe = step_timestamp(start, months, days, ms).unwrap_or(start);
                if probe == start {
                    return Err(Error::InvalidArgument {
                        message: "generate_series() step size cannot equal zero".into(),
                    });
                }
                (start, stop, probe > start)
            }
        };
        // The next value, or None once the series is over.
        let mut next = within(start, stop, ascending).then_some(start);
        let iter = std::iter::from_fn(move || {
            let mut value = next?;
            if let Err(e) = stats.check() {
                next = None;
                return Some(Err(e));
            }
            let mut out: Vec<i64> = Vec::with_capacity(BATCH_ROWS);
            loop {
                out.push(value);
                let following = match values {
                    SeriesValues::Int { step, .. } => value.checked_add(step),
                    SeriesValues::Timestamp {
                        months, days, ms, ..
                    } => step_timestamp(value, months, days, ms),
                };
                next = following.filter(|&v| within(v, stop, ascending));
                match next {
                    Some(v) if out.len() < BATCH_ROWS => value = v,
                    _ => break,
                }
            }
            let column: ArrayRef = match values {
                SeriesValues::Int { .. } => Arc::new(Int64Array::from(out)),
                SeriesValues::Timestamp { .. } => Arc::new(
                    TimestampMillisecondArray::from(out)
                        .with_data_type(strata_storage::types::TIMESTAMP_TYPE),
                ),
            };
            Some(RecordBatch::try_new(schema.clone(), vec![column]).map_err(Error::from))
        });
        Ok(Box::new(iter))
    }
}
