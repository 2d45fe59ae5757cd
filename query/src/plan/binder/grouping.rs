//! GROUP BY with grouping sets: `GROUPING SETS ((a, b), (a), ())`, `ROLLUP (a, b)` (the sets
//! `(a, b), (a), ()`), `CUBE (a, b)` (every subset), plain keys next to them (`GROUP BY a,
//! ROLLUP (b, c)`: the cross product), and `grouping(...)`.
//!
//! A query with several grouping sets is planned as a `UNION ALL` of one aggregate per set, each
//! over the same input: the keys a set does not group by are NULL in its rows, and one more
//! column, the *grouping id* (the set's position), says which set a row comes from; the
//! `grouping()` calls become a `CASE` over it. (Each set reads the input again; DuckDB and
//! ClickHouse share one pass.)

use std::sync::Arc;

use arrow::array::{new_null_array, Int32Array, Int64Array};
use arrow::datatypes::DataType;
use sqlparser::ast as sql;

use crate::error::{Error, Result};
use crate::expr::{AggregateExpr, BinaryOp, Expr};
use crate::function::grouping::Grouping;
use crate::plan::LogicalPlan;

/// The most grouping sets a GROUP BY may expand to (`CUBE` of 12 keys is 4,096).
const SETS_MAX: usize = 4096;

/// The name of the grouping id column.
const GROUPING_ID: &str = "__grouping_id";

/// A bound GROUP BY clause.
pub(super) struct GroupBy {
    /// The distinct keys, in order of appearance.
    pub(super) keys: Vec<Expr>,
    /// The grouping sets (positions in `keys`), when there are several; `None` for a plain
    /// GROUP BY (one set of every key).
    pub(super) sets: Option<Vec<Vec<usize>>>,
}

impl GroupBy {
    /// The group keys as the aggregate rewrite sees them: the keys, then (with grouping sets) a
    /// placeholder for the grouping id, which no bound expression equals.
    pub(super) fn rewrite_keys(&self) -> Vec<Expr> {
        let mut keys = self.keys.clone();
        if self.sets.is_some() {
            keys.push(Expr::column(usize::MAX, GROUPING_ID, DataType::Int64));
        }
        keys
    }
}

/// Binds the GROUP BY clause; `bind_key` binds one key (an expression, an alias or a position).
pub(super) fn bind_group_by(
    clause: &sql::GroupByExpr,
    bind_key: &mut dyn FnMut(&sql::Expr) -> Result<Expr>,
) -> Result<GroupBy> {
    let (exprs, modifiers) = match clause {
        sql::GroupByExpr::Expressions(exprs, modifiers) => (exprs, modifiers),
        sql::GroupByExpr::All(_) => return Err(Error::unsupported("GROUP BY ALL")),
    };
    let mut keys: Vec<Expr> = vec![];
    let mut key_of = |ast: &sql::Expr, keys: &mut Vec<Expr>| -> Result<usize> {
        let expr = bind_key(ast)?;
        if expr.contains_aggregate() {
            return Err(Error::InvalidArgument {
                message: "aggregate functions are not allowed in GROUP BY".into(),
            });
        }
        Ok(match keys.iter().position(|k| *k == expr) {
            Some(i) => i,
            None => {
                keys.push(expr);
                keys.len() - 1
            }
        })
    };
    type KeyOf<'k> = dyn FnMut(&sql::Expr, &mut Vec<Expr>) -> Result<usize> + 'k;
    fn list(
        items: &[Vec<sql::Expr>],
        key_of: &mut KeyOf<'_>,
        keys: &mut Vec<Expr>,
    ) -> Result<Vec<Vec<usize>>> {
        items
            .iter()
            .map(|element| element.iter().map(|e| key_of(e, keys)).collect())
            .collect()
    }
    // The grouping sets of each element of the list; the clause's are their cross product.
    let mut factors: Vec<Vec<Vec<usize>>> = vec![];
    let mut grouped = false;
    for ast in exprs {
        let sets = match ast {
            sql::Expr::Rollup(items) => {
                grouped = true;
                let elements = list(items, &mut key_of, &mut keys)?;
                (0..=elements.len())
                    .rev()
                    .map(|n| elements[..n].concat())
                    .collect()
            }
            sql::Expr::Cube(items) => {
                grouped = true;
                let elements = list(items, &mut key_of, &mut keys)?;
                if elements.len() > 12 {
                    return Err(Error::InvalidArgument {
                        message: format!(
                            "CUBE of {} elements makes too many grouping sets (at most 12 elements)",
                            elements.len()
                        ),
                    });
                }
                let n = elements.len();
                (0..1usize << n)
                    .rev()
                    .map(|mask| {
                        (0..n)
                            .filter(|i| mask & (1 << (n - 1 - i)) != 0)
                            .flat_map(|i| elements[i].clone())
                            .collect()
                    })
                    .collect()
            }
            sql::Expr::GroupingSets(items) => {
                grouped = true;
                list(items, &mut key_of, &mut keys)?
            }
            plain => vec![vec![key_of(plain, &mut keys)?]],
        };
        factors.push(sets);
    }
    for modifier in modifiers {
        match modifier {
            // MySQL's `GROUP BY a, b WITH ROLLUP` / `WITH CUBE`: the whole list.
            sql::GroupByWithModifier::Rollup | sql::GroupByWithModifier::Cube => {
                let elements: Vec<Vec<usize>> = factors.drain(..).map(|f| f.concat()).collect();
                let n = elements.len();
                let sets = if matches!(modifier, sql::GroupByWithModifier::Rollup) {
                    (0..=n).rev().map(|k| elements[..k].concat()).collect()
                } else {
                    if n > 12 {
                        return Err(Error::InvalidArgument {
                            message: "WITH CUBE of more than 12 keys".into(),
                        });
                    }
                    (0..1usize << n)
                        .rev()
                        .map(|mask| {
                            (0..n)
                                .filter(|i| mask & (1 << (n - 1 - i)) != 0)
                                .flat_map(|i| elements[i].clone())
                                .collect()
                        })
                        .collect()
                };
                factors = vec![sets];
                grouped = true;
            }
            other => return Err(Error::unsupported(format!("GROUP BY ... {other}"))),
        }
    }
    if !grouped {
        return Ok(GroupBy { keys, sets: None });
    }
    let mut sets: Vec<Vec<usize>> = vec![vec![]];
    for factor in factors {
        if sets.len().saturating_mul(factor.len()) > SETS_MAX {
            return Err(Error::InvalidArgument {
                message: format!("GROUP BY expands to more than {SETS_MAX} grouping sets"),
            });
        }
        sets = sets
            .iter()
            .flat_map(|s| {
                factor.iter().map(move |f| {
                    let mut set = s.clone();
                    set.extend(f.iter().copied().filter(|k| !s.contains(k)));
                    set
                })
            })
            .collect();
    }
    for set in &mut sets {
        set.sort_unstable();
        set.dedup();
    }
    Ok(GroupBy {
        keys,
        sets: Some(sets),
    })
}

/// One aggregate per grouping set over `input`, in a `UNION ALL`: the keys, the grouping id,
/// then the aggregates (the positions the aggregate rewrite gave them).
pub(super) fn grouping_sets_plan(
    input: LogicalPlan,
    keys: &[Expr],
    sets: &[Vec<usize>],
    aggregates: Vec<AggregateExpr>,
    names: Vec<String>,
) -> LogicalPlan {
    let inputs = sets
        .iter()
        .enumerate()
        .map(|(id, set)| {
            // Grouped by the set's keys only (no keys: one row, even over no input), then the
            // other keys as NULLs and the grouping id, in the union's column order.
            let group_by: Vec<Expr> = set.iter().filter_map(|&i| keys.get(i).cloned()).collect();
            let width = group_by.len();
            let aggregate_names = set
                .iter()
                .filter_map(|&i| names.get(i).cloned())
                .chain(names.iter().skip(keys.len() + 1).cloned())
                .collect();
            let aggregate = LogicalPlan::Aggregate {
                input: Box::new(input.clone()),
                group_by,
                aggregates: aggregates.clone(),
                names: aggregate_names,
            };
            let mut exprs: Vec<Expr> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| match set.iter().position(|&s| s == i) {
                    Some(p) => Expr::column(p, k.to_string(), k.data_type()),
                    None => Expr::Literal(new_null_array(&k.data_type(), 1)),
                })
                .collect();
            exprs.push(Expr::Literal(Arc::new(Int64Array::from(vec![id as i64]))));
            exprs.extend(
                aggregates
                    .iter()
                    .enumerate()
                    .map(|(j, a)| Expr::column(width + j, a.func.name(), a.data_type.clone())),
            );
            LogicalPlan::Projection {
                input: Box::new(aggregate),
                exprs,
                names: names.clone(),
            }
        })
        .collect();
    LogicalPlan::Union { inputs }
}

/// Replaces every `grouping(k1, ...)` call of `expr` (its arguments already rewritten into
/// group key columns, `0..keys`) by its value: 0 for a plain GROUP BY, else a `CASE` over the
/// grouping id column (at position `keys`).
pub(super) fn replace_grouping_calls(
    expr: Expr,
    keys: usize,
    sets: Option<&[Vec<usize>]>,
) -> Result<Expr> {
    let expr = expr.map_children(|c| replace_grouping_calls(c, keys, sets))?;
    let Expr::Function { func, args } = &expr else {
        return Ok(expr);
    };
    if !func.as_any().is::<Grouping>() {
        return Ok(expr);
    }
    let mut positions = Vec::with_capacity(args.len());
    for arg in args {
        match arg {
            Expr::Column { index, .. } if *index < keys => positions.push(*index),
            other => {
                return Err(Error::InvalidArgument {
                    message: format!("arguments of grouping() must be GROUP BY keys, not {other}"),
                })
            }
        }
    }
    let value = |set: &[usize]| -> i32 {
        positions
            .iter()
            .fold(0, |acc, p| (acc << 1) | i32::from(!set.contains(p)))
    };
    let literal = |v: i32| Expr::Literal(Arc::new(Int32Array::from(vec![v])));
    let Some(sets) = sets else {
        return Ok(literal(0));
    };
    let values: Vec<i32> = sets.iter().map(|s| value(s)).collect();
    if values.windows(2).all(|w| w[0] == w[1]) {
        return Ok(literal(values.first().copied().unwrap_or(0)));
    }
    let id = Expr::column(keys, GROUPING_ID, DataType::Int64);
    let when_then = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            (
                id.clone().binary(
                    BinaryOp::Eq,
                    Expr::Literal(Arc::new(Int64Array::from(vec![i as i64]))),
                ),
                literal(v),
            )
        })
        .collect();
    Ok(Expr::Case {
        when_then,
        else_result: None,
    })
}
