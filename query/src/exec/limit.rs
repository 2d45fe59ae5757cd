//! [`LimitExec`]: `OFFSET` and `LIMIT`; stops pulling its input once it has its rows.

use arrow::datatypes::SchemaRef;

use super::{BatchIter, ExecutionPlan};
use crate::error::Result;

/// Skips `skip` rows, then passes at most `fetch` rows.
#[derive(Debug)]
pub struct LimitExec {
    input: Box<dyn ExecutionPlan>,
    skip: usize,
    fetch: Option<usize>,
}

impl LimitExec {
    /// Limits `input`.
    pub fn new(input: Box<dyn ExecutionPlan>, skip: usize, fetch: Option<usize>) -> Self {
        LimitExec { input, skip, fetch }
    }
}

impl ExecutionPlan for LimitExec {
    fn name(&self) -> &'static str {
        "LimitExec"
    }

    fn details(&self) -> String {
        match self.fetch {
            Some(fetch) => format!("skip={} fetch={fetch}", self.skip),
            None => format!("skip={}", self.skip),
        }
    }

    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let mut skip = self.skip;
        let mut remaining = self.fetch.unwrap_or(usize::MAX);
        let mut input = self.input.execute()?;
        let iter = std::iter::from_fn(move || {
            while remaining > 0 {
                let batch = match input.next()? {
                    Ok(batch) => batch,
                    Err(e) => return Some(Err(e)),
                };
                let rows = batch.num_rows();
                if skip >= rows {
                    skip -= rows;
                    continue;
                }
                let take = (rows - skip).min(remaining);
                let out = batch.slice(skip, take);
                skip = 0;
                remaining -= take;
                return Some(Ok(out));
            }
            None
        });
        Ok(Box::new(iter))
    }
}
