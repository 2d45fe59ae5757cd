//! [`UnionExec`]: `UNION ALL`, the batches of each input in turn.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::Result;

/// Passes the batches of every input, one input after the other; an input starts only when the
/// one before it is exhausted (so `LIMIT` over a union may never start the later inputs).
#[derive(Debug)]
pub struct UnionExec {
    inputs: Vec<Box<dyn ExecutionPlan>>,
    schema: SchemaRef,
    stats: Arc<ExecStats>,
}

impl UnionExec {
    /// A union of `inputs`, which have the column types of `schema`.
    pub fn new(
        inputs: Vec<Box<dyn ExecutionPlan>>,
        schema: SchemaRef,
        stats: Arc<ExecStats>,
    ) -> Self {
        UnionExec {
            inputs,
            schema,
            stats,
        }
    }
}

impl ExecutionPlan for UnionExec {
    fn name(&self) -> &'static str {
        "UnionExec"
    }

    fn details(&self) -> String {
        format!("inputs={}", self.inputs.len())
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        self.inputs.iter().map(|i| i.as_ref()).collect()
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let UnionExec {
            inputs,
            schema,
            stats,
        } = *self;
        let mut pending = inputs.into_iter();
        let mut current: Option<BatchIter> = None;
        let iter = std::iter::from_fn(move || loop {
            if let Some(input) = current.as_mut() {
                match input.next() {
                    // The inputs' column names and nullability may differ: relabel.
                    Some(Ok(batch)) => {
                        let step = stats.check().and_then(|()| {
                            Ok(RecordBatch::try_new(
                                schema.clone(),
                                batch.columns().to_vec(),
                            )?)
                        });
                        return Some(step);
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => current = None,
                }
            }
            let next = pending.next()?;
            match next.execute() {
                Ok(input) => current = Some(input),
                Err(e) => return Some(Err(e)),
            }
        });
        Ok(Box::new(iter))
    }
}
