//! [`CteExec`]: the rows of a CTE computed once for the statement, read from memory.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::{BatchIter, ExecutionPlan};
use crate::error::{Error, Result};
use crate::plan::CteScan;

/// Reads a materialized CTE.
#[derive(Debug)]
pub struct CteExec {
    name: String,
    schema: SchemaRef,
    rows: Option<Arc<Vec<RecordBatch>>>,
}

impl CteExec {
    /// Reads `cte`'s rows (`EXPLAIN` plans one whose rows were not computed: it only prints).
    pub fn new(cte: &CteScan) -> Self {
        CteExec {
            name: cte.name.clone(),
            schema: cte.plan.schema(),
            rows: cte.rows.clone(),
        }
    }
}

impl ExecutionPlan for CteExec {
    fn name(&self) -> &'static str {
        "CteExec"
    }

    fn details(&self) -> String {
        match &self.rows {
            Some(rows) => format!(
                "{} rows={}",
                self.name,
                rows.iter().map(RecordBatch::num_rows).sum::<usize>()
            ),
            None => format!("{} (computed once when the statement runs)", self.name),
        }
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let Some(rows) = self.rows else {
            return Err(Error::internal(format!(
                "CTE {} was not computed before the query",
                self.name
            )));
        };
        let count = rows.len();
        Ok(Box::new(
            (0..count).filter_map(move |i| rows.get(i).cloned().map(Ok)),
        ))
    }
}
