//! One statement's execution: its uncorrelated subqueries and the CTEs it reads more than once
//! are each computed once, when the statement executes (not while it is bound, and not for
//! `EXPLAIN`), and every scan of the statement, theirs included, reads the same snapshot of a
//! table ([`Snapshots`]).
//!
//! Before a plan is optimized, [`StatementRun::resolve`] replaces each [`Expr::Subquery`] by its
//! answer (a literal, or a hashed [`InSet`] for `IN`) and computes the rows of each
//! [`LogicalPlan::Cte`]; the optimizer then sees constants (a subquery's answer prunes segments
//! by their zone maps like a literal would).
//!
//! A correlated subquery that the binder could not turn into a join ([`SubqueryExpr`] with
//! params) is resolved at the node that holds it: the node's input is computed once (the node
//! then reads those rows), the subquery runs once per distinct tuple of the outer values over
//! them ([`correlated`]), and the expression becomes a lookup of the answers by those values.

mod correlated;

pub(crate) use correlated::CORRELATED_RUNS_MAX;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::exec::Snapshots;
use crate::expr::{Expr, InSet, SubqueryExpr, SubqueryKind};
use crate::plan::{CteScan, LogicalPlan};
use correlated::{bind_outer, OuterValues};

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
    /// Inputs computed for correlated subqueries so far (numbers their scans).
    materialized: std::cell::Cell<usize>,
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
            materialized: std::cell::Cell::new(0),
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
        let plan = if plan
            .exprs()
            .iter()
            .any(|e| e.contains_correlated_subquery())
        {
            self.per_outer_value(plan, run)?
        } else {
            plan
        };
        plan.map_exprs(|e| self.resolve_expr(e, run))
    }

    /// A node whose expressions hold correlated subqueries run per outer value: its input is
    /// computed once and read from memory, and each such subquery runs once per distinct tuple
    /// of its params over those rows.
    fn per_outer_value(&self, plan: LogicalPlan, run: &Runner<'_>) -> Result<LogicalPlan> {
        let input = match plan.inputs().as_slice() {
            [input] => (*input).clone(),
            _ => {
                return Err(Error::unsupported(
                    "a correlated subquery in a join condition; move it to WHERE",
                ))
            }
        };
        let rows = Arc::new(run(input.clone(), self)?);
        let n = self.materialized.get();
        self.materialized.set(n + 1);
        let materialized = LogicalPlan::Cte(CteScan {
            // Past every CTE id of the statement.
            id: usize::MAX - n,
            name: "input of a correlated subquery".into(),
            plan: Arc::new(input),
            rows: Some(rows.clone()),
        });
        let plan = plan.map_inputs(|_| Ok(materialized.clone()))?;
        plan.map_exprs(|e| self.lookup_answers(e, &rows, run))
    }

    /// `expr` with each correlated subquery replaced by a lookup of its answers, computed for
    /// the distinct tuples of its params over `rows`.
    #[recursive::recursive]
    fn lookup_answers(&self, expr: Expr, rows: &[RecordBatch], run: &Runner<'_>) -> Result<Expr> {
        match expr {
            Expr::Subquery(subquery) if subquery.is_correlated() => {
                let subquery = subquery.map_exprs(|e| {
                    let e = self.lookup_answers(e, rows, run)?;
                    self.resolve_expr(e, run)
                })?;
                let values = OuterValues::collect(&subquery.params, rows)?;
                let plan = self.subqueries.get(subquery.id).ok_or_else(|| {
                    Error::internal(format!("subquery #{} is not in the statement", subquery.id))
                })?;
                let mut answers = Vec::with_capacity(values.len());
                for k in 0..values.len() {
                    let bound = bind_outer(plan.clone(), &subquery.outer, &values.tuple(k))?;
                    let batches = run(bound, self)?;
                    answers.push(match subquery.kind {
                        SubqueryKind::Scalar => scalar(&batches, &subquery)?,
                        SubqueryKind::Exists => Arc::new(BooleanArray::from(vec![batches
                            .iter()
                            .any(|b| b.num_rows() > 0)])),
                        SubqueryKind::In { .. } => {
                            return Err(Error::internal(
                                "a correlated IN subquery is run as a scalar one",
                            ))
                        }
                    });
                }
                let answers = if answers.is_empty() {
                    arrow::array::new_empty_array(&subquery.data_type())
                } else {
                    let arrays: Vec<&dyn Array> = answers.iter().map(|a| a.as_ref()).collect();
                    arrow::compute::concat(&arrays)?
                };
                self.hold(answers.get_array_memory_size());
                let lookup = values.into_lookup(subquery.id, answers);
                Ok(Expr::call(lookup, subquery.params))
            }
            other if other.children().is_empty() => Ok(other),
            other => other.map_children(|c| self.lookup_answers(c, rows, run)),
        }
    }

    /// `expr` with every subquery replaced by its answer (computed with `run` the first time).
    #[recursive::recursive]
    pub(crate) fn resolve_expr(&self, expr: Expr, run: &Runner<'_>) -> Result<Expr> {
        match expr {
            Expr::Subquery(subquery) if subquery.is_correlated() => Err(Error::internal(format!(
                "{subquery} is correlated and outside a plan node"
            ))),
            Expr::Subquery(subquery) => {
                let subquery = subquery.map_exprs(|v| self.resolve_expr(v, run))?;
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
            SubqueryKind::Scalar => Answer::Value(scalar(&batches, subquery)?),
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

/// True when a subquery's plan reads the enclosing query (it runs per outer value).
pub(crate) fn is_correlated(plan: &LogicalPlan) -> bool {
    let mut outer = vec![];
    for e in plan.exprs() {
        e.collect_outer_columns(&mut outer);
    }
    !outer.is_empty() || plan.inputs().into_iter().any(is_correlated)
}

/// A scalar subquery's value: its one row's one column, NULL without rows, PostgreSQL's error
/// with more.
fn scalar(batches: &[RecordBatch], subquery: &SubqueryExpr) -> Result<ArrayRef> {
    let column = column(batches, subquery)?;
    match column.len() {
        0 => Ok(arrow::array::new_null_array(&subquery.column_type, 1)),
        1 => Ok(column),
        _ => Err(Error::InvalidArgument {
            message: "more than one row returned by a subquery used as an expression".into(),
        }),
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
