//! [`SortExec`]: ORDER BY, with an optional fetch (top-N: only the first rows are ordered).

use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::{
    concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use arrow::datatypes::SchemaRef;

use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::eval::evaluate_array;
use crate::plan::SortKey;

/// Sorts all input rows. Ties keep their input order (the row position is the last key), so
/// `ORDER BY ... LIMIT` is deterministic.
#[derive(Debug)]
pub struct SortExec {
    input: Box<dyn ExecutionPlan>,
    keys: Vec<SortKey>,
    fetch: Option<usize>,
    stats: Arc<ExecStats>,
}

impl SortExec {
    /// Sorts `input` by `keys`; with `fetch`, only the first `fetch` rows are produced.
    pub fn new(
        input: Box<dyn ExecutionPlan>,
        keys: Vec<SortKey>,
        fetch: Option<usize>,
        stats: Arc<ExecStats>,
    ) -> Self {
        SortExec {
            input,
            keys,
            fetch,
            stats,
        }
    }
}

impl ExecutionPlan for SortExec {
    fn name(&self) -> &'static str {
        "SortExec"
    }

    fn details(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
        match self.fetch {
            Some(fetch) => format!("{} fetch={fetch}", keys.join(", ")),
            None => keys.join(", "),
        }
    }

    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let schema = self.input.schema();
        let stats = self.stats.clone();
        // The whole input is held (twice, briefly, while it is concatenated): count it against
        // the memory limit as it arrives.
        let mut held = 0;
        let mut batches = Vec::new();
        for batch in self.input.execute()? {
            let batch = batch?;
            let size = batch.get_array_memory_size();
            stats.track_memory(held, held + 2 * size)?;
            held += 2 * size;
            batches.push(batch);
        }
        let batch = concat_batches(&schema, &batches)?;
        drop(batches);
        stats.track_memory(held, held / 2)?;
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(Box::new(std::iter::empty()));
        }
        let row_count = u32::try_from(rows)
            .map_err(|_| Error::unsupported(format!("sorting more than {} rows", u32::MAX)))?;
        let mut columns = Vec::with_capacity(self.keys.len() + 1);
        for key in &self.keys {
            columns.push(SortColumn {
                values: evaluate_array(&key.expr, &batch)?,
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
        let indices = lexsort_to_indices(&columns, self.fetch)?;
        let sorted = take_record_batch(&batch, &indices)?;
        Ok(Box::new(std::iter::once(Ok(sorted))))
    }
}
