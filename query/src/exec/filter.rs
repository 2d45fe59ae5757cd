//! [`FilterExec`]: keeps the rows for which a predicate is true.

use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;

use super::{BatchIter, ExecutionPlan};
use crate::error::Result;
use crate::eval::evaluate_predicate;
use crate::expr::Expr;

/// Keeps the rows for which the predicate is true (not false, not NULL).
#[derive(Debug)]
pub struct FilterExec {
    input: Box<dyn ExecutionPlan>,
    predicate: Expr,
}

impl FilterExec {
    /// Filters `input` by `predicate` (a BOOLEAN expression over the input columns).
    pub fn new(input: Box<dyn ExecutionPlan>, predicate: Expr) -> Self {
        FilterExec { input, predicate }
    }
}

impl ExecutionPlan for FilterExec {
    fn name(&self) -> &'static str {
        "FilterExec"
    }

    fn details(&self) -> String {
        self.predicate.to_string()
    }

    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let predicate = self.predicate;
        let iter = self.input.execute()?.filter_map(move |batch| {
            let step = || -> Result<Option<_>> {
                let batch = batch?;
                let mask = evaluate_predicate(&predicate, &batch)?;
                let batch = filter_record_batch(&batch, &mask)?;
                Ok((batch.num_rows() > 0).then_some(batch))
            };
            step().transpose()
        });
        Ok(Box::new(iter))
    }
}
