//! [`AggregateExec`]: hash GROUP BY.
//!
//! Per input batch: the group keys are evaluated and encoded once with Arrow's
//! [`RowConverter`] (one comparable byte string per row); each key is looked up in a hash map
//! from key bytes to a dense group index, allocating only when a new group appears. Then every
//! accumulator consumes the whole batch given the vector of group indices, in a monomorphic loop
//! chosen once per query by argument type (see [`accumulator`]).

pub mod accumulator;
pub mod sketch;

use std::collections::HashMap;

use ahash::RandomState;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::{RowConverter, Rows, SortField};

use self::accumulator::{create_accumulator, GroupsAccumulator};
use super::eval::{evaluate_array, evaluate_predicate};
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::Result;
use crate::expr::{AggregateExpr, Expr};

/// Groups rows by key and aggregates each group. Output: keys, then aggregates.
#[derive(Debug)]
pub struct AggregateExec {
    input: Box<dyn ExecutionPlan>,
    group_by: Vec<Expr>,
    aggregates: Vec<AggregateExpr>,
    schema: SchemaRef,
    stats: Arc<ExecStats>,
}

impl AggregateExec {
    /// Aggregates `input`; `schema` is the output schema (keys, then aggregates).
    pub fn try_new(
        input: Box<dyn ExecutionPlan>,
        group_by: Vec<Expr>,
        aggregates: Vec<AggregateExpr>,
        schema: SchemaRef,
        stats: Arc<ExecStats>,
    ) -> Result<Self> {
        Ok(AggregateExec {
            input,
            group_by,
            aggregates,
            schema,
            stats,
        })
    }
}

/// The group keys seen so far.
struct GroupTable {
    converter: RowConverter,
    /// Key bytes -> group index.
    index: HashMap<Box<[u8]>, usize, RandomState>,
    /// The key of every group, in group-index order.
    keys: Rows,
}

impl GroupTable {
    fn try_new(group_by: &[Expr]) -> Result<Self> {
        let fields = group_by
            .iter()
            .map(|e| SortField::new(e.data_type()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let keys = converter.empty_rows(0, 0);
        Ok(GroupTable {
            converter,
            index: HashMap::with_hasher(RandomState::new()),
            keys,
        })
    }

    /// Fills `groups` with the group index of every row, creating groups for new keys.
    fn intern(&mut self, columns: &[ArrayRef], groups: &mut Vec<usize>) -> Result<()> {
        // -0.0 and 0.0 are one group.
        let columns = columns
            .iter()
            .map(crate::exec::eval::normalize_zero)
            .collect::<Result<Vec<_>>>()?;
        let rows = self.converter.convert_columns(&columns)?;
        groups.clear();
        for row in rows.iter() {
            let group = match self.index.get(row.as_ref()) {
                Some(&group) => group,
                None => {
                    let group = self.keys.num_rows();
                    self.index.insert(row.as_ref().into(), group);
                    self.keys.push(row);
                    group
                }
            };
            groups.push(group);
        }
        Ok(())
    }

    fn num_groups(&self) -> usize {
        self.keys.num_rows()
    }

    fn into_columns(self) -> Result<Vec<ArrayRef>> {
        Ok(self.converter.convert_rows(&self.keys)?)
    }
}

impl ExecutionPlan for AggregateExec {
    fn name(&self) -> &'static str {
        "AggregateExec"
    }

    fn details(&self) -> String {
        let keys: Vec<String> = self.group_by.iter().map(|e| e.to_string()).collect();
        let aggs: Vec<String> = self.aggregates.iter().map(|a| a.to_string()).collect();
        format!(
            "group_by=[{}] aggregates=[{}]",
            keys.join(", "),
            aggs.join(", ")
        )
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let AggregateExec {
            input,
            group_by,
            aggregates,
            schema,
            stats,
        } = *self;
        let mut held = 0;
        let mut accumulators = aggregates
            .iter()
            .map(create_accumulator)
            .collect::<Result<Vec<Box<dyn GroupsAccumulator>>>>()?;
        let mut table = if group_by.is_empty() {
            None
        } else {
            Some(GroupTable::try_new(&group_by)?)
        };
        let mut groups: Vec<usize> = vec![];
        // Without GROUP BY there is exactly one group, even over no rows.
        let mut num_groups = usize::from(table.is_none());

        for batch in input.execute()? {
            let batch = batch?;
            match &mut table {
                Some(table) => {
                    let keys = group_by
                        .iter()
                        .map(|e| evaluate_array(e, &batch))
                        .collect::<Result<Vec<_>>>()?;
                    table.intern(&keys, &mut groups)?;
                    num_groups = table.num_groups();
                }
                None => {
                    groups.clear();
                    groups.resize(batch.num_rows(), 0);
                }
            }
            for (accumulator, aggregate) in accumulators.iter_mut().zip(&aggregates) {
                let values = match &aggregate.arg {
                    Some(arg) => Some(evaluate_array(arg, &batch)?),
                    None => None,
                };
                match &aggregate.filter {
                    None => accumulator.update_batch(values.as_ref(), &groups, num_groups)?,
                    Some(filter) => {
                        // FILTER (WHERE ...): only the rows where it is true (not NULL).
                        let mask = evaluate_predicate(filter, &batch)?;
                        let mask = if arrow::array::Array::null_count(&mask) > 0 {
                            arrow::compute::prep_null_mask_filter(&mask)
                        } else {
                            mask
                        };
                        let kept: Vec<usize> = groups
                            .iter()
                            .zip(mask.values().iter())
                            .filter_map(|(&g, keep)| keep.then_some(g))
                            .collect();
                        let values = values
                            .map(|v| arrow::compute::filter(v.as_ref(), &mask))
                            .transpose()?;
                        accumulator.update_batch(values.as_ref(), &kept, num_groups)?;
                    }
                }
            }
            // Key bytes twice (the rows and the hash map's copy), per-group overhead, a few
            // words of state per accumulator and group, and what sketches and kept values hold.
            let keys = table.as_ref().map_or(0, |t| 2 * t.keys.size());
            let now = keys
                + num_groups * (48 + 16 * accumulators.len())
                + accumulators.iter().map(|a| a.size()).sum::<usize>();
            stats.track_memory(held, now)?;
            held = now;
        }

        let mut columns = match table {
            Some(table) => table.into_columns()?,
            None => vec![],
        };
        for accumulator in &mut accumulators {
            columns.push(accumulator.evaluate(num_groups)?);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(num_groups));
        let batch = RecordBatch::try_new_with_options(schema, columns, &options)?;
        Ok(Box::new(std::iter::once(Ok(batch))))
    }
}
