//! The execution side of correlated subqueries run per distinct outer value (the binder's
//! `plan::binder::correlated` says which): the distinct tuples of the outer values, the
//! subquery's plan with one tuple bound, and the expression that reads the answers back.
//!
//! A tuple's answer is computed once however many rows carry it, and at most
//! [`CORRELATED_RUNS_MAX`] tuples are run per subquery and plan node: beyond, the statement
//! fails with an error that says to write a join, rather than run without bound.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, UInt32Array};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};

use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::expr::{Expr, ScalarFunction};
use crate::plan::LogicalPlan;

/// The most distinct outer values one correlated subquery runs for, in one plan node.
pub(crate) const CORRELATED_RUNS_MAX: usize = 10_000;

/// The distinct tuples of a correlated subquery's params over the rows of its node's input,
/// in the order first met.
pub(super) struct OuterValues {
    converter: RowConverter,
    index: HashMap<Box<[u8]>, u32>,
    /// For each param, each tuple's value (a one-element slice of the input).
    columns: Vec<Vec<ArrayRef>>,
}

impl OuterValues {
    /// Evaluates `params` over `rows` and keeps their distinct tuples.
    pub(super) fn collect(params: &[Expr], rows: &[RecordBatch]) -> Result<Self> {
        let fields = params
            .iter()
            .map(|p| SortField::new(p.data_type()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let mut index: HashMap<Box<[u8]>, u32> = HashMap::new();
        let mut columns: Vec<Vec<ArrayRef>> = vec![vec![]; params.len()];
        for batch in rows {
            let n = batch.num_rows();
            let arrays = params
                .iter()
                .map(|p| evaluate(p, batch)?.into_array(n))
                .collect::<Result<Vec<_>>>()?;
            let encoded = converter.convert_columns(&arrays)?;
            for (i, row) in encoded.iter().enumerate() {
                if index.contains_key(row.as_ref()) {
                    continue;
                }
                if index.len() >= CORRELATED_RUNS_MAX {
                    return Err(Error::InvalidArgument {
                        message: format!(
                            "a correlated subquery that Strata cannot turn into a join runs once per distinct value of the outer columns it reads, at most {CORRELATED_RUNS_MAX} times, and this one reads more; rewrite it as a join (or a subquery in FROM grouped by those columns)"
                        ),
                    });
                }
                let next = u32::try_from(index.len())
                    .map_err(|_| Error::internal("too many correlated values"))?;
                index.insert(row.as_ref().into(), next);
                for (column, array) in columns.iter_mut().zip(&arrays) {
                    column.push(array.slice(i, 1));
                }
            }
        }
        Ok(OuterValues {
            converter,
            index,
            columns,
        })
    }

    /// How many distinct tuples.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The `k`-th tuple: one one-element array per param.
    pub(super) fn tuple(&self, k: usize) -> Vec<ArrayRef> {
        self.columns
            .iter()
            .filter_map(|c| c.get(k).cloned())
            .collect()
    }

    /// The expression reading `answers` (the `k`-th for the `k`-th tuple) by the params'
    /// values.
    pub(super) fn into_lookup(self, id: usize, answers: ArrayRef) -> CorrelatedAnswers {
        CorrelatedAnswers {
            id,
            table: Arc::new(AnswerTable {
                converter: self.converter,
                index: self.index,
                answers,
            }),
        }
    }
}

/// `plan` with every outer column `outer[j]` replaced by the literal `values[j]`.
pub(super) fn bind_outer(
    plan: LogicalPlan,
    outer: &[usize],
    values: &[ArrayRef],
) -> Result<LogicalPlan> {
    let plan = plan.map_inputs(|input| bind_outer(input, outer, values))?;
    plan.map_exprs(|e| bind_outer_expr(e, outer, values))
}

#[recursive::recursive]
fn bind_outer_expr(e: Expr, outer: &[usize], values: &[ArrayRef]) -> Result<Expr> {
    match e {
        Expr::OuterColumn {
            index,
            name,
            data_type,
        } => {
            let value = outer
                .iter()
                .position(|&o| o == index)
                .and_then(|j| values.get(j))
                .ok_or_else(|| {
                    Error::internal(format!("outer column {name} has no value bound"))
                })?;
            let value = if value.data_type() == &data_type {
                value.clone()
            } else {
                crate::kernel::cast(value, &data_type)?
            };
            Ok(Expr::Literal(value))
        }
        other if other.children().is_empty() => Ok(other),
        other => other.map_children(|c| bind_outer_expr(c, outer, values)),
    }
}

/// The answers of a correlated subquery, by the outer values they were computed for.
struct AnswerTable {
    converter: RowConverter,
    index: HashMap<Box<[u8]>, u32>,
    answers: ArrayRef,
}

/// `subquery #id` per outer value: reads each row's answer by its params' values (the
/// arguments). Internal: the engine's, not callable from SQL.
pub(crate) struct CorrelatedAnswers {
    id: usize,
    table: Arc<AnswerTable>,
}

impl fmt::Debug for CorrelatedAnswers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CorrelatedAnswers(#{}, {} values)",
            self.id,
            self.table.index.len()
        )
    }
}

impl PartialEq for CorrelatedAnswers {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.table, &other.table)
    }
}

impl ScalarFunction for CorrelatedAnswers {
    fn name(&self) -> &'static str {
        "correlated_subquery"
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        self.table.answers.data_type().clone()
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let table = &self.table;
        let rows = table.converter.convert_columns(args)?;
        let mut indices = Vec::with_capacity(rows.num_rows());
        for row in rows.iter() {
            let k = table.index.get(row.as_ref()).ok_or_else(|| {
                Error::internal(format!(
                    "subquery #{} did not run for an outer value it is asked for",
                    self.id
                ))
            })?;
            indices.push(*k);
        }
        Ok(arrow::compute::take(
            table.answers.as_ref(),
            &UInt32Array::from(indices),
            None,
        )?)
    }

    fn fmt_call(&self, args: &[String], f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(subquery #{} per {})", self.id, args.join(", "))
    }
}
