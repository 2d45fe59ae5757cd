//! [`AnalyzeExec`]: the wrapper `EXPLAIN ANALYZE` puts around every operator. It passes the
//! batches through untouched and counts the rows and the time spent in the operator (starting
//! it and pulling each batch, its inputs included, like PostgreSQL's "actual time").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;

use super::{BatchIter, Counters, ExecutionPlan};
use crate::error::Result;

/// Counts the rows and time of the operator it wraps.
#[derive(Debug)]
pub struct AnalyzeExec {
    inner: Box<dyn ExecutionPlan>,
    counters: Arc<Counters>,
}

impl AnalyzeExec {
    /// Wraps `inner`; its numbers go to `counters`.
    pub fn new(inner: Box<dyn ExecutionPlan>, counters: Arc<Counters>) -> Self {
        AnalyzeExec { inner, counters }
    }
}

impl ExecutionPlan for AnalyzeExec {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn details(&self) -> String {
        self.inner.details()
    }

    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        self.inner.children()
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let counters = self.counters;
        let started = Instant::now();
        let mut input = self.inner.execute()?;
        let elapsed_ns = |since: Instant| since.elapsed().as_nanos() as u64;
        counters
            .elapsed_ns
            .fetch_add(elapsed_ns(started), Ordering::Relaxed);
        let iter = std::iter::from_fn(move || {
            let started = Instant::now();
            let next = input.next();
            counters
                .elapsed_ns
                .fetch_add(elapsed_ns(started), Ordering::Relaxed);
            if let Some(Ok(batch)) = &next {
                counters
                    .rows
                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            }
            next
        });
        Ok(Box::new(iter))
    }
}
