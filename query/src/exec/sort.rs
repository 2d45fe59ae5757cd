//! [`SortExec`]: ORDER BY, with an optional fetch (top-N: only the first rows are kept).
//!
//! Without a fetch the whole input is held and sorted once. With one, the input is sorted in
//! rounds: whenever the rows held reach [`TOP_N_ROUND_ROWS`] (or twice the fetch), they are
//! sorted and cut to the fetch, so memory stays bounded by the fetch; after each round the n-th
//! row's first key tightens the [`TopNBound`] that lets the scan below skip blocks (the first
//! round comes as soon as n rows are held, so that the bound exists early).

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::{
    concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::prune::stat_value;
use super::topn::TopNBound;
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::eval::evaluate_array;
use crate::plan::SortKey;

/// A top-N sorts and cuts what it holds when it holds this many rows (or twice its fetch).
pub const TOP_N_ROUND_ROWS: usize = 8192;

/// Sorts all input rows. Ties keep their input order (the row position is the last key), so
/// `ORDER BY ... LIMIT` is deterministic.
#[derive(Debug)]
pub struct SortExec {
    input: Box<dyn ExecutionPlan>,
    keys: Vec<SortKey>,
    fetch: Option<usize>,
    stats: Arc<ExecStats>,
    /// With a fetch, over a scan of the first key's column: the bound the scan skips by.
    bound: Option<Arc<TopNBound>>,
}

impl SortExec {
    /// Sorts `input` by `keys`; with `fetch`, only the first `fetch` rows are produced, and
    /// `bound` (if any) is tightened as rows arrive.
    pub fn new(
        input: Box<dyn ExecutionPlan>,
        keys: Vec<SortKey>,
        fetch: Option<usize>,
        stats: Arc<ExecStats>,
        bound: Option<Arc<TopNBound>>,
    ) -> Self {
        SortExec {
            input,
            keys,
            fetch,
            stats,
            bound,
        }
    }
}

/// Sorts `batch` by `keys` (ties in row order) and keeps the first `fetch` rows.
fn sort_batch(batch: &RecordBatch, keys: &[SortKey], fetch: Option<usize>) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let row_count = u32::try_from(rows)
        .map_err(|_| Error::unsupported(format!("sorting more than {} rows", u32::MAX)))?;
    let mut columns = Vec::with_capacity(keys.len() + 1);
    for key in keys {
        columns.push(SortColumn {
            values: evaluate_array(&key.expr, batch)?,
            options: Some(SortOptions {
                descending: key.descending,
                nulls_first: key.nulls_first,
            }),
        });
    }
    columns.push(SortColumn {
        values: Arc::new(UInt32Array::from_iter_values(0..row_count)),
        options: Some(SortOptions::default()),
    });
    let indices = lexsort_to_indices(&columns, fetch)?;
    Ok(take_record_batch(batch, &indices)?)
}

impl ExecutionPlan for SortExec {
    fn name(&self) -> &'static str {
        "SortExec"
    }

    fn details(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
        match (self.fetch, &self.bound) {
            (Some(fetch), Some(bound)) => format!(
                "{} fetch={fetch} (skips scan blocks by {})",
                keys.join(", "),
                bound.describe()
            ),
            (Some(fetch), None) => format!("{} fetch={fetch}", keys.join(", ")),
            _ => keys.join(", "),
        }
    }

    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let SortExec {
            input,
            keys,
            fetch,
            stats,
            bound,
        } = *self;
        let schema = input.schema();
        let round = fetch.map(|n| n.saturating_mul(2).max(TOP_N_ROUND_ROWS));
        // What is held (twice, briefly, while it is concatenated) counts against the memory
        // limit as it arrives.
        let mut held = 0;
        let mut held_rows = 0;
        let mut bounded = false;
        let mut batches = Vec::new();
        for batch in input.execute()? {
            let batch = batch?;
            let size = batch.get_array_memory_size();
            stats.track_memory(held, held + 2 * size)?;
            held += 2 * size;
            held_rows += batch.num_rows();
            batches.push(batch);
            if let (Some(round), Some(n)) = (round, fetch) {
                // The first round comes as soon as n rows are held when a scan waits for the
                // bound; later ones when the rows held reach the round size.
                let first = bound.is_some() && !bounded && held_rows >= n;
                if held_rows >= round || first {
                    bounded = true;
                    // A round: sort what is held and keep the first n.
                    let all = concat_batches(&schema, &batches)?;
                    batches.clear();
                    let kept = sort_batch(&all, &keys, Some(n))?;
                    drop(all);
                    if let (Some(bound), Some(first)) = (&bound, keys.first()) {
                        if kept.num_rows() == n && n > 0 {
                            let values: ArrayRef = evaluate_array(&first.expr, &kept)?;
                            if let Some(Some(value)) = stat_value(&values.slice(n - 1, 1)) {
                                bound.tighten(value);
                            }
                        }
                    }
                    let kept_size = 2 * kept.get_array_memory_size();
                    stats.track_memory(held, kept_size)?;
                    held = kept_size;
                    held_rows = kept.num_rows();
                    batches.push(kept);
                }
            }
        }
        let batch = concat_batches(&schema, &batches)?;
        drop(batches);
        stats.track_memory(held, held / 2)?;
        if batch.num_rows() == 0 {
            return Ok(Box::new(std::iter::empty()));
        }
        let sorted = sort_batch(&batch, &keys, fetch)?;
        Ok(Box::new(std::iter::once(Ok(sorted))))
    }
}
