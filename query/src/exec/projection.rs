//! [`ProjectionExec`] computes expressions; [`OneRowExec`] is the input of `SELECT` without
//! `FROM`.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::{BatchIter, ExecutionPlan};
use crate::error::Result;
use crate::eval::evaluate_array;
use crate::expr::Expr;

/// Computes one output column per expression.
#[derive(Debug)]
pub struct ProjectionExec {
    input: Box<dyn ExecutionPlan>,
    exprs: Vec<Expr>,
    schema: SchemaRef,
}

impl ProjectionExec {
    /// Projects `input` through `exprs`, producing `schema`.
    pub fn new(input: Box<dyn ExecutionPlan>, exprs: Vec<Expr>, schema: SchemaRef) -> Self {
        ProjectionExec {
            input,
            exprs,
            schema,
        }
    }
}

impl ExecutionPlan for ProjectionExec {
    fn name(&self) -> &'static str {
        "ProjectionExec"
    }

    fn details(&self) -> String {
        let items: Vec<String> = self
            .exprs
            .iter()
            .zip(self.schema.fields())
            .map(|(e, f)| format!("{e} AS {}", f.name()))
            .collect();
        items.join(", ")
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let ProjectionExec {
            input,
            exprs,
            schema,
        } = *self;
        let iter = input.execute()?.map(move |batch| {
            let batch = batch?;
            let columns = exprs
                .iter()
                .map(|e| evaluate_array(e, &batch))
                .collect::<Result<Vec<_>>>()?;
            let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            Ok(RecordBatch::try_new_with_options(
                schema.clone(),
                columns,
                &options,
            )?)
        });
        Ok(Box::new(iter))
    }
}

/// Produces one row without columns.
#[derive(Debug)]
pub struct OneRowExec;

impl ExecutionPlan for OneRowExec {
    fn name(&self) -> &'static str {
        "OneRowExec"
    }

    fn details(&self) -> String {
        String::new()
    }

    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::empty())
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let options = RecordBatchOptions::new().with_row_count(Some(1));
        let batch = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options)?;
        Ok(Box::new(std::iter::once(Ok(batch))))
    }
}
