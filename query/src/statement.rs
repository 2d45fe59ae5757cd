//! One statement's execution: its uncorrelated subqueries and the CTEs it reads more than once
//! are each computed once, when the statement executes (not while it is bound, and not for
//! `EXPLAIN`), and every scan of the statement, theirs included, reads the same snapshot of a
//! table ([`Snapshots`]).
//!
//! Before a plan is optimized, [`StatementRun::resolve`] replaces each [`Expr::Subquery`] by its
//! answer (a literal, or a hashed [`InSet`] for `IN`) and computes the rows of each
//! [`LogicalPlan::Cte`]; the optimizer then sees constants (a subquery's answer prunes segments
//! by their zone maps like a literal would).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::exec::Snapshots;
use crate::expr::{Expr, InSet, SubqueryExpr, SubqueryKind};
use crate::plan::LogicalPlan;

/// Runs a plan of the statement to completion (the engine, with the statement's limits).
pub(crate) type Runner<'a> = dyn Fn(LogicalPlan, &StatementRun) -> Result<Vec<RecordBatch>> + 'a;

/// The answer of a subquery, computed once.
#[derive(Clone)]
enum Answer {
    /// A scalar subquery's value (a one-element array).
    Value(ArrayRef),
    /// Whether an `EXISTS` subquery has rows.
    Exists(bool),
    /// An `IN` subquery's values.
    Set(Arc<InSet>),
}

/// The state of one executing statement.
pub(crate) struct StatementRun {
    /// The uncorrelated subqueries, by id.
    subqueries: Vec<LogicalPlan>,
    /// Their answers so far.
    answers: RefCell<HashMap<usize, Answer>>,
    /// The rows of the CTEs computed so far, by id.
    ctes: RefCell<HashMap<usize, Arc<Vec<RecordBatch>>>>,
    /// The table snapshots of the statement.
    snapshots: Snapshots,
    /// Bytes of the subquery answers and CTE rows held so far.
    held_bytes: std::cell::Cell<usize>,
}

impl StatementRun {
    /// A statement with these subqueries (the binder's, by id).
    pub(crate) fn new(subqueries: Vec<LogicalPlan>) -> Self {
        StatementRun {
            subqueries,
            answers: RefCell::new(HashMap::new()),
            ctes: RefCell::new(HashMap::new()),
            snapshots: Snapshots::default(),
            held_bytes: std::cell::Cell::new(0),
        }
    }

    /// Checks that `more` bytes beside what the statement holds already stay within
    /// `limit_bytes` (the query memory limit: the rows of subqueries and CTEs, held while the
    /// statement runs, count against it together).
    pub(crate) fn check_held(&self, more: usize, limit_bytes: Option<usize>) -> Result<()> {
        match limit_bytes {
            Some(limit) if self.held_bytes.get().saturating_add(more) > limit => {
                Err(Error::MemoryLimit { limit_bytes: limit })
            }
            _ => Ok(()),
        }
    }

    /// Counts `bytes` more as held until the statement ends.
    pub(crate) fn hold(&self, bytes: usize) {
        self.held_bytes
            .set(self.held_bytes.get().saturating_add(bytes));
    }

    /// The table snapshots every scan of the statement reads.
    pub(crate) fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// The subqueries' plans, by id (for `EXPLAIN`).
    pub(crate) fn subqueries(&self) -> &[LogicalPlan] {
        &self.subqueries
    }

    /// `plan` with every subquery replaced by its answer and every CTE's rows computed, each
    /// with `run` the first time it is met.
    #[recursive::recursive]
    pub(crate) fn resolve(&self, plan: LogicalPlan, run: &Runner<'_>) -> Result<LogicalPlan> {
        let plan = match plan {
            LogicalPlan::Cte(mut cte) => {
                if cte.rows.is_none() {
                    let cached = self.ctes.borrow().get(&cte.id).cloned();
                    let rows = match cached {
                        Some(rows) => rows,
                        None => {
                            let rows = Arc::new(run(cte.plan.as_ref().clone(), self)?);
                            self.ctes.borrow_mut().insert(cte.id, rows.clone());
                            rows
                        }
                    };
                    cte.rows = Some(rows);
                }
                return Ok(LogicalPlan::Cte(cte));
            }
            other => other.map_inputs(|input| self.resolve(input, run))?,
        };
        plan.map_exprs(|e| self.resolve_expr(e, run))
    }

    /// `expr` with every subquery replaced by its answer (computed with `run` the first time).
    #[recursive::recursive]
    pub(crate) fn resolve_expr(&self, expr: Expr, run: &Runner<'_>) -> Result<Expr> {
        match expr {
            Expr::Subquery(subquery) => {
                let subquery = subquery.map_value(|v| self.resolve_expr(v, run))?;
                let answer = self.answer(&subquery, run)?;
                Ok(match (subquery.kind, answer) {
                    (SubqueryKind::Scalar, Answer::Value(value)) => Expr::Literal(value),
                    (SubqueryKind::Exists, Answer::Exists(exists)) => {
                        Expr::Literal(Arc::new(BooleanArray::from(vec![exists])))
                    }
                    (SubqueryKind::In { value, negated }, Answer::Set(set)) => Expr::InSet {
                        expr: value,
                        set,
                        negated,
                    },
                    _ => {
                        return Err(Error::internal(format!(
                            "subquery #{} used as two kinds of expression",
                            subquery.id
                        )))
                    }
                })
            }
            other if other.children().is_empty() => Ok(other),
            other => other.map_children(|c| self.resolve_expr(c, run)),
        }
    }

    /// The answer of `subquery`, computed the first time.
    fn answer(&self, subquery: &SubqueryExpr, run: &Runner<'_>) -> Result<Answer> {
        if let Some(answer) = self.answers.borrow().get(&subquery.id) {
            return Ok(answer.clone());
        }
        let plan = self.subqueries.get(subquery.id).cloned().ok_or_else(|| {
            Error::internal(format!("subquery #{} is not in the statement", subquery.id))
        })?;
        let batches = run(plan, self)?;
        let answer = match subquery.kind {
            SubqueryKind::Exists => Answer::Exists(batches.iter().any(|b| b.num_rows() > 0)),
            SubqueryKind::Scalar => {
                let column = column(&batches, subquery)?;
                Answer::Value(match column.len() {
                    0 => arrow::array::new_null_array(&subquery.column_type, 1),
                    1 => column,
                    _ => {
                        return Err(Error::InvalidArgument {
                            message:
                                "more than one row returned by a subquery used as an expression"
                                    .into(),
                        })
                    }
                })
            }
            SubqueryKind::In { .. } => {
                Answer::Set(Arc::new(InSet::try_new(&column(&batches, subquery)?)?))
            }
        };
        self.answers
            .borrow_mut()
            .insert(subquery.id, answer.clone());
        Ok(answer)
    }
}

/// The one column of a subquery's result, as one array of the type the expression expects.
fn column(batches: &[RecordBatch], subquery: &SubqueryExpr) -> Result<ArrayRef> {
    let arrays: Vec<&dyn Array> = batches
        .iter()
        .filter_map(|b| b.columns().first().map(|c| c.as_ref()))
        .collect();
    let column = if arrays.is_empty() {
        arrow::array::new_empty_array(&subquery.column_type)
    } else {
        arrow::compute::concat(&arrays)?
    };
    if column.data_type() == &subquery.column_type {
        Ok(column)
    } else {
        crate::kernel::cast(&column, &subquery.column_type)
    }
}
