//! [`SetOpExec`]: `INTERSECT [ALL]` and `EXCEPT [ALL]`.
//!
//! The right input is read whole: every row is row-encoded over all columns ([`RowConverter`],
//! in which equal values, NULLs included, have equal bytes: rows compare as in `DISTINCT`) and
//! counted in a hash map, under the query memory limit. The left input streams: each batch is
//! encoded the same way, each row looked up once, and the rows kept are gathered with the `take`
//! kernel, a batch out per batch in.
//!
//! * `INTERSECT`: a left row comes out the first time it is seen if the right input has it;
//! * `INTERSECT ALL`: as long as the right input has copies left (each match uses one);
//! * `EXCEPT`: the first time it is seen if the right input does not have it;
//! * `EXCEPT ALL`: once the right input's copies are used up.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ahash::RandomState;
use arrow::array::UInt32Array;
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};

use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::Result;
use crate::kernel::normalize_zero;
use crate::plan::SetOpKind;

/// Hash-based INTERSECT / EXCEPT of two inputs of the same column types.
#[derive(Debug)]
pub struct SetOpExec {
    left: Box<dyn ExecutionPlan>,
    right: Box<dyn ExecutionPlan>,
    op: SetOpKind,
    all: bool,
    stats: Arc<ExecStats>,
}

impl SetOpExec {
    /// `left op [ALL] right`.
    pub fn new(
        left: Box<dyn ExecutionPlan>,
        right: Box<dyn ExecutionPlan>,
        op: SetOpKind,
        all: bool,
        stats: Arc<ExecStats>,
    ) -> Self {
        SetOpExec {
            left,
            right,
            op,
            all,
            stats,
        }
    }
}

/// The columns of a batch with -0.0 read as 0.0 (so that they encode like 0.0).
fn normalized(batch: &RecordBatch) -> Result<Vec<arrow::array::ArrayRef>> {
    batch.columns().iter().map(normalize_zero).collect()
}

impl ExecutionPlan for SetOpExec {
    fn name(&self) -> &'static str {
        "SetOpExec"
    }

    fn details(&self) -> String {
        format!(
            "{}{} build=right",
            self.op.name(),
            if self.all { " ALL" } else { "" }
        )
    }

    fn schema(&self) -> SchemaRef {
        self.left.schema()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.left.as_ref(), self.right.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let SetOpExec {
            left,
            right,
            op,
            all,
            stats,
        } = *self;
        let schema = left.schema();
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        // The right rows, counted by their encoding.
        let mut counts: HashMap<Box<[u8]>, u64, RandomState> =
            HashMap::with_hasher(RandomState::new());
        let mut held = 0;
        for batch in right.execute()? {
            let batch = batch?;
            stats.check()?;
            let rows = converter.convert_columns(&normalized(&batch)?)?;
            for row in rows.iter() {
                match counts.get_mut(row.as_ref()) {
                    Some(n) => *n += 1,
                    None => {
                        let now = held + row.as_ref().len() + 48;
                        stats.track_memory(held, now)?;
                        held = now;
                        counts.insert(row.as_ref().into(), 1);
                    }
                }
            }
        }
        let mut seen: HashSet<Box<[u8]>, RandomState> = HashSet::with_hasher(RandomState::new());
        let mut input = left.execute()?;
        let iter = std::iter::from_fn(move || loop {
            let batch = match input.next()? {
                Ok(batch) => batch,
                Err(e) => return Some(Err(e)),
            };
            let mut step = || -> Result<Option<RecordBatch>> {
                stats.check()?;
                let rows = converter.convert_columns(&normalized(&batch)?)?;
                let mut keep: Vec<u32> = Vec::with_capacity(batch.num_rows());
                for (i, row) in rows.iter().enumerate() {
                    let key = row.as_ref();
                    let found = match counts.get_mut(key) {
                        Some(n) if *n > 0 => {
                            if all {
                                *n -= 1;
                            }
                            true
                        }
                        _ => false,
                    };
                    let out = match (op, all) {
                        (SetOpKind::Intersect, true) => found,
                        (SetOpKind::Except, true) => !found,
                        (SetOpKind::Intersect, false) | (SetOpKind::Except, false) => {
                            let wanted = found == (op == SetOpKind::Intersect);
                            if wanted && !seen.contains(key) {
                                let now = held + key.len() + 48;
                                stats.track_memory(held, now)?;
                                held = now;
                                seen.insert(key.into());
                                true
                            } else {
                                false
                            }
                        }
                    };
                    if out {
                        keep.push(i as u32);
                    }
                }
                if keep.is_empty() {
                    return Ok(None);
                }
                let indices = UInt32Array::from(keep);
                let columns = batch
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &indices, None))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Some(RecordBatch::try_new(batch.schema(), columns)?))
            };
            match step() {
                Ok(Some(out)) => return Some(Ok(out)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        });
        Ok(Box::new(iter))
    }
}
