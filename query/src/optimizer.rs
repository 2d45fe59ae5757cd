//! Rewrites of the logical plan that keep its result and make it cheaper:
//!
//! 1. constant folding: literal-only subexpressions are computed once (`1 + 1` -> `2`,
//!    `TIMESTAMP '2024-01-01'` -> a timestamp literal), errors included (`1 / 0` fails at plan
//!    time, like PostgreSQL);
//! 2. join order: the inner joins of a FROM list with commas (or CROSS JOIN) are taken apart and
//!    rebuilt as hash joins on the WHERE clause's equalities, largest input first
//!    (`join_order`);
//! 3. predicate pushdown: a filter right above a scan becomes scan filters (conjuncts), applied
//!    to each batch as it is read; the conjuncts of a filter right above a join that read one
//!    input only move below the join (for a LEFT join, only those of the left input; for a
//!    RIGHT join, only those of the right; for a FULL join, none), and on into that input's
//!    scan;
//! 4. top-N: `LIMIT` right above `ORDER BY` tells the sort how many rows it must order;
//! 5. projection pushdown: each scan reads only the columns some node above it uses;
//! 6. sums of offsets: `SUM(x + c)` (integers, `c` a constant) is computed as
//!    `SUM(x) + c * COUNT(x)`, and identical aggregate calls are computed once — ClickBench's
//!    Q30 asks for 90 sums of one column plus constants, which become two aggregates.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Int64Type};

use crate::error::Result;
use crate::eval::fold_constants;
use crate::expr::{AggregateExpr, AggregateFunction, BinaryOp, Expr, WindowExpr};
use crate::plan::LogicalPlan;

mod join_order;

/// Runs every rule, in order.
pub fn optimize(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = fold_all_constants(plan)?;
    let plan = join_order::reorder_joins(plan)?;
    let plan = push_down_filters(plan)?;
    let plan = push_limit_into_sort(plan)?;
    let plan = rewrite_sums_of_offsets(plan)?;
    let required: Vec<usize> = (0..plan.schema().fields().len()).collect();
    let (plan, _) = prune_columns(plan, &required)?;
    Ok(plan)
}

/// Rule 1: every node's constant subexpressions folded, inputs first.
fn fold_all_constants(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.map_inputs(fold_all_constants)?
        .map_exprs(fold_constants)
}

/// Moves filters that sit directly on a scan into the scan, and the conjuncts of a filter on a
/// join that read one side only into that side (the right side of a LEFT join keeps them: they
/// must see the NULL-extended rows); a filter goes through projections, into every branch of a
/// UNION ALL, and below a GROUP BY for the conjuncts on its keys.
fn push_down_filters(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = plan.map_inputs(push_down_filters)?;
    Ok(match plan {
        LogicalPlan::Filter { input, predicate } => match *input {
            LogicalPlan::Scan(mut scan) => {
                scan.filters.extend(predicate.split_conjunction());
                LogicalPlan::Scan(scan)
            }
            LogicalPlan::Join {
                left,
                right,
                kind,
                on,
                filter,
            } => {
                let left_len = left.schema().fields().len();
                let width = left_len + right.schema().fields().len();
                let to_right: Vec<Option<usize>> =
                    (0..width).map(|i| i.checked_sub(left_len)).collect();
                let (mut to_left, mut to_right_side, mut stay) = (vec![], vec![], vec![]);
                for conjunct in predicate.split_conjunction() {
                    let mut columns = vec![];
                    conjunct.collect_columns(&mut columns);
                    // A side whose rows may come out NULL-extended keeps the conjuncts on the
                    // other side's columns above the join.
                    if !columns.is_empty()
                        && !kind.keeps_unmatched_right()
                        && columns.iter().all(|&c| c < left_len)
                    {
                        to_left.push(conjunct);
                    } else if !kind.keeps_unmatched_left()
                        && !columns.is_empty()
                        && columns.iter().all(|&c| c >= left_len)
                    {
                        match conjunct.clone().remap_columns(&to_right) {
                            Ok(e) => to_right_side.push(e),
                            Err(_) => stay.push(conjunct),
                        }
                    } else {
                        stay.push(conjunct);
                    }
                }
                let conjunction = Expr::conjunction;
                // The pushed conjuncts go on down (into a scan, through another join).
                let push = |input: LogicalPlan, conjuncts: Vec<Expr>| match conjunction(conjuncts) {
                    Some(predicate) => push_down_filters(LogicalPlan::Filter {
                        input: Box::new(input),
                        predicate,
                    }),
                    None => Ok(input),
                };
                let join = LogicalPlan::Join {
                    left: Box::new(push(*left, to_left)?),
                    right: Box::new(push(*right, to_right_side)?),
                    kind,
                    on,
                    filter,
                };
                match conjunction(stay) {
                    Some(predicate) => LogicalPlan::Filter {
                        input: Box::new(join),
                        predicate,
                    },
                    None => join,
                }
            }
            // Through a projection: the conjuncts read the projected expressions instead (a
            // filter on a subquery in FROM or a CTE read once reaches its tables).
            LogicalPlan::Projection {
                input,
                exprs,
                names,
            } => {
                let below = predicate.substitute_columns(&exprs)?;
                LogicalPlan::Projection {
                    input: Box::new(push_down_filters(LogicalPlan::Filter {
                        input,
                        predicate: below,
                    })?),
                    exprs,
                    names,
                }
            }
            // Two filters are one.
            LogicalPlan::Filter {
                input,
                predicate: inner,
            } => push_down_filters(LogicalPlan::Filter {
                input,
                predicate: inner.binary(BinaryOp::And, predicate),
            })?,
            // Into every branch of a UNION ALL.
            LogicalPlan::Union { inputs } => LogicalPlan::Union {
                inputs: inputs
                    .into_iter()
                    .map(|input| {
                        push_down_filters(LogicalPlan::Filter {
                            input: Box::new(input),
                            predicate: predicate.clone(),
                        })
                    })
                    .collect::<Result<_>>()?,
            },
            // Below a grouping: the conjuncts that read group keys only (a conjunct without
            // columns stays: over no group it would make an ungrouped aggregate's one row).
            LogicalPlan::Aggregate {
                input,
                group_by,
                aggregates,
                names,
            } => {
                let (mut below, mut stay) = (vec![], vec![]);
                for conjunct in predicate.split_conjunction() {
                    let mut columns = vec![];
                    conjunct.collect_columns(&mut columns);
                    if !columns.is_empty() && columns.iter().all(|&c| c < group_by.len()) {
                        below.push(conjunct.substitute_columns(&group_by)?);
                    } else {
                        stay.push(conjunct);
                    }
                }
                let input = match Expr::conjunction(below) {
                    Some(predicate) => {
                        Box::new(push_down_filters(LogicalPlan::Filter { input, predicate })?)
                    }
                    None => input,
                };
                let aggregate = LogicalPlan::Aggregate {
                    input,
                    group_by,
                    aggregates,
                    names,
                };
                match Expr::conjunction(stay) {
                    Some(predicate) => LogicalPlan::Filter {
                        input: Box::new(aggregate),
                        predicate,
                    },
                    None => aggregate,
                }
            }
            input => LogicalPlan::Filter {
                input: Box::new(input),
                predicate,
            },
        },
        other => other,
    })
}

/// `LIMIT n OFFSET m` over `ORDER BY` (through projections, which keep the row count): the sort
/// only needs its first `n + m` rows.
fn push_limit_into_sort(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = plan.map_inputs(push_limit_into_sort)?;
    Ok(match plan {
        LogicalPlan::Limit {
            input,
            skip,
            fetch: Some(fetch),
        } => LogicalPlan::Limit {
            input: Box::new(sort_fetch(*input, skip.saturating_add(fetch))),
            skip,
            fetch: Some(fetch),
        },
        other => other,
    })
}

/// The sort under `plan` (through projections) producing only its first `fetch` rows.
fn sort_fetch(plan: LogicalPlan, fetch: usize) -> LogicalPlan {
    match plan {
        LogicalPlan::Sort {
            input,
            keys,
            fetch: None,
        } => LogicalPlan::Sort {
            input,
            keys,
            fetch: Some(fetch),
        },
        LogicalPlan::Projection {
            input,
            exprs,
            names,
        } => LogicalPlan::Projection {
            input: Box::new(sort_fetch(*input, fetch)),
            exprs,
            names,
        },
        other => other,
    }
}

fn columns_of<'e>(exprs: impl IntoIterator<Item = &'e Expr>, out: &mut Vec<usize>) {
    for e in exprs {
        e.collect_columns(out);
    }
}

fn normalize(mut columns: Vec<usize>) -> Vec<usize> {
    columns.sort_unstable();
    columns.dedup();
    columns
}

fn identity(len: usize) -> Vec<Option<usize>> {
    (0..len).map(Some).collect()
}

/// Rewrites `plan` so that it produces at least the output columns `required` and its scans
/// read nothing else. Returns the new plan and, for each old output column, its new position.
fn prune_columns(
    plan: LogicalPlan,
    required: &[usize],
) -> Result<(LogicalPlan, Vec<Option<usize>>)> {
    match plan {
        LogicalPlan::Scan(mut scan) => {
            let mut needed = required.to_vec();
            columns_of(&scan.filters, &mut needed);
            let needed = normalize(needed);
            let mut mapping = vec![None; scan.projection.len()];
            for (new, &old) in needed.iter().enumerate() {
                if let Some(slot) = mapping.get_mut(old) {
                    *slot = Some(new);
                }
            }
            scan.projection = needed
                .iter()
                .filter_map(|&i| scan.projection.get(i).copied())
                .collect();
            scan.filters = scan
                .filters
                .into_iter()
                .map(|f| f.remap_columns(&mapping))
                .collect::<Result<_>>()?;
            Ok((LogicalPlan::Scan(scan), mapping))
        }
        LogicalPlan::OneRow => Ok((LogicalPlan::OneRow, vec![])),
        // Its rows are computed once for every reference: all columns are kept.
        LogicalPlan::Cte(cte) => {
            let width = cte.plan.schema().fields().len();
            Ok((LogicalPlan::Cte(cte), (0..width).map(Some).collect()))
        }
        // One column, always produced (a batch needs a column to carry its row count).
        series @ LogicalPlan::Series(_) => Ok((series, vec![Some(0)])),
        LogicalPlan::Projection {
            input,
            exprs,
            names,
        } => {
            // Only the required outputs are computed (at least one, as a batch needs a column
            // to carry its row count), so the columns that only unused outputs read are not
            // read below either: a join region's projection restoring every leaf's columns
            // must not make the scans read whole tables.
            let mut keep: Vec<usize> = normalize(
                required
                    .iter()
                    .copied()
                    .filter(|&i| i < exprs.len())
                    .collect(),
            );
            if keep.is_empty() && !exprs.is_empty() {
                keep.push(0);
            }
            let mut output_mapping = vec![None; exprs.len()];
            for (new, &old) in keep.iter().enumerate() {
                output_mapping[old] = Some(new);
            }
            let mut kept_exprs = Vec::with_capacity(keep.len());
            let mut kept_names = Vec::with_capacity(keep.len());
            for (i, (e, n)) in exprs.into_iter().zip(names).enumerate() {
                if output_mapping[i].is_some() {
                    kept_exprs.push(e);
                    kept_names.push(n);
                }
            }
            let mut needed = vec![];
            columns_of(kept_exprs.iter(), &mut needed);
            let (input, mapping) = prune_columns(*input, &normalize(needed))?;
            let exprs = kept_exprs
                .into_iter()
                .map(|e| e.remap_columns(&mapping))
                .collect::<Result<Vec<_>>>()?;
            Ok((
                LogicalPlan::Projection {
                    input: Box::new(input),
                    exprs,
                    names: kept_names,
                },
                output_mapping,
            ))
        }
        node @ (LogicalPlan::Filter { .. }
        | LogicalPlan::Sort { .. }
        | LogicalPlan::Limit { .. }
        | LogicalPlan::Aggregate { .. }) => {
            // One input, read by the node's expressions. An aggregate computes its output
            // columns (all of them are kept); the others pass their input's through.
            let computed = match &node {
                LogicalPlan::Aggregate { names, .. } => Some(names.len()),
                _ => None,
            };
            let mut needed = match computed {
                Some(_) => vec![],
                None => required.to_vec(),
            };
            columns_of(node.exprs(), &mut needed);
            let needed = normalize(needed);
            let mut mapping = vec![];
            let node = node.map_inputs(|input| {
                let (input, input_mapping) = prune_columns(input, &needed)?;
                mapping = input_mapping;
                Ok(input)
            })?;
            let node = node.map_exprs(|e| e.remap_columns(&mapping))?;
            Ok((node, computed.map_or(mapping, identity)))
        }
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            filter,
        } => {
            let left_len = left.schema().fields().len();
            let right_len = right.schema().fields().len();
            // `required` is over the output; the filter over the joined pairs (the same columns,
            // but for a mark join, whose output is the left columns and the mark).
            let mut needed: Vec<usize> = if kind.outputs_right() {
                required.to_vec()
            } else {
                required.iter().copied().filter(|&c| c < left_len).collect()
            };
            columns_of(filter.iter(), &mut needed);
            let mut left_needed: Vec<usize> =
                needed.iter().copied().filter(|&c| c < left_len).collect();
            let mut right_needed: Vec<usize> = needed
                .iter()
                .filter_map(|&c| c.checked_sub(left_len))
                .collect();
            columns_of(on.iter().map(|(l, _)| l), &mut left_needed);
            columns_of(on.iter().map(|(_, r)| r), &mut right_needed);
            let (left, left_map) = prune_columns(*left, &normalize(left_needed))?;
            let (right, right_map) = prune_columns(*right, &normalize(right_needed))?;
            let new_left_len = left.schema().fields().len();
            let mut mapping: Vec<Option<usize>> = left_map.to_vec();
            mapping.resize(left_len, None);
            mapping.extend((0..right_len).map(|i| {
                right_map
                    .get(i)
                    .copied()
                    .flatten()
                    .map(|j| j + new_left_len)
            }));
            let mut remapped = Vec::with_capacity(on.len());
            for (l, r) in on {
                remapped.push((l.remap_columns(&left_map)?, r.remap_columns(&right_map)?));
            }
            let filter = filter.map(|f| f.remap_columns(&mapping)).transpose()?;
            let output_mapping = if kind.outputs_right() {
                mapping
            } else {
                let mut m = mapping;
                m.truncate(left_len);
                m.push(Some(new_left_len));
                m
            };
            Ok((
                LogicalPlan::Join {
                    left: Box::new(left),
                    right: Box::new(right),
                    kind,
                    on: remapped,
                    filter,
                },
                output_mapping,
            ))
        }
        LogicalPlan::SetOp {
            left,
            right,
            op,
            all,
        } => {
            // Rows compare on every column: both inputs keep all of theirs.
            let width = left.schema().fields().len();
            let every: Vec<usize> = (0..width).collect();
            let (left, left_map) = prune_columns(*left, &every)?;
            let (right, _) = prune_columns(*right, &every)?;
            Ok((
                LogicalPlan::SetOp {
                    left: Box::new(left),
                    right: Box::new(right),
                    op,
                    all,
                },
                left_map,
            ))
        }
        LogicalPlan::Window {
            input,
            exprs,
            names,
        } => {
            // The input's columns pass through; the calls' columns follow them (all kept).
            let width = input.schema().fields().len();
            let mut needed: Vec<usize> = required.iter().copied().filter(|&c| c < width).collect();
            columns_of(exprs.iter().flat_map(WindowExpr::exprs), &mut needed);
            let (input, input_map) = prune_columns(*input, &normalize(needed))?;
            let new_width = input.schema().fields().len();
            let exprs = exprs
                .into_iter()
                .map(|e| e.map_exprs(|x| x.remap_columns(&input_map)))
                .collect::<Result<Vec<_>>>()?;
            let mut mapping = input_map;
            mapping.resize(width, None);
            mapping.extend((0..exprs.len()).map(|k| Some(new_width + k)));
            Ok((
                LogicalPlan::Window {
                    input: Box::new(input),
                    exprs,
                    names,
                },
                mapping,
            ))
        }
        LogicalPlan::Union { inputs } => {
            // Every input produces exactly the required columns, in order (at least one, as
            // a batch needs a column to carry its row count).
            let first = [0];
            let required = if required.is_empty() {
                &first[..]
            } else {
                required
            };
            let mut pruned = Vec::with_capacity(inputs.len());
            for input in inputs {
                let schema = input.schema();
                let (input, mapping) = prune_columns(input, required)?;
                let exprs = required
                    .iter()
                    .map(|&i| {
                        let field = schema.field(i);
                        Expr::column(i, field.name().clone(), field.data_type().clone())
                            .remap_columns(&mapping)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let names = required
                    .iter()
                    .map(|&i| schema.field(i).name().clone())
                    .collect();
                pruned.push(LogicalPlan::Projection {
                    input: Box::new(input),
                    exprs,
                    names,
                });
            }
            let width = pruned
                .first()
                .map(|p| p.schema().fields().len())
                .unwrap_or(0);
            let mut mapping = vec![None; required.iter().max().map_or(0, |m| m + 1)];
            for (new, &old) in required.iter().enumerate() {
                if let Some(slot) = mapping.get_mut(old) {
                    *slot = Some(new);
                }
            }
            debug_assert_eq!(width, required.len());
            Ok((LogicalPlan::Union { inputs: pruned }, mapping))
        }
    }
}

/// `x + c`, `c + x` or `x - c` over integers with `c` a non-NULL integer constant: `(x, c)`
/// (`c` negated for `-`).
fn offset_of(expr: &Expr) -> Option<(Expr, i64)> {
    let integer = |e: &Expr| {
        matches!(
            e.data_type(),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
        )
    };
    let constant = |e: &Expr| -> Option<i64> {
        let Expr::Literal(value) = e else { return None };
        if value.len() != 1 || value.is_null(0) {
            return None;
        }
        let value = arrow::compute::cast(value, &DataType::Int64).ok()?;
        Some(value.as_primitive::<Int64Type>().value(0))
    };
    let Expr::Binary { op, left, right } = expr else {
        return None;
    };
    if !integer(expr) {
        return None;
    }
    match op {
        BinaryOp::Plus => match (constant(left), constant(right)) {
            (None, Some(c)) if integer(left) => Some((*left.clone(), c)),
            (Some(c), None) if integer(right) => Some((*right.clone(), c)),
            _ => None,
        },
        BinaryOp::Minus => match constant(right) {
            Some(c) if integer(left) => Some((*left.clone(), c.checked_neg()?)),
            _ => None,
        },
        _ => None,
    }
}

/// Rule 5: rewrites `SUM(x + c)` as `SUM(x) + c * COUNT(x)` (a projection above the aggregate
/// computes it) and computes identical aggregate calls once. A group without non-NULL `x` gets
/// NULL either way. Applied only where some sum has that shape.
fn rewrite_sums_of_offsets(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = plan.map_inputs(rewrite_sums_of_offsets)?;
    let LogicalPlan::Aggregate {
        input,
        group_by,
        aggregates,
        names,
    } = plan
    else {
        return Ok(plan);
    };
    let plain = |a: &AggregateExpr| a.func == AggregateFunction::Sum && !a.distinct;
    let rewritable = aggregates
        .iter()
        .any(|a| plain(a) && a.arg.as_ref().and_then(offset_of).is_some());
    if !rewritable {
        return Ok(LogicalPlan::Aggregate {
            input,
            group_by,
            aggregates,
            names,
        });
    }
    let keys = group_by.len();
    let mut computed: Vec<AggregateExpr> = Vec::new();
    let mut position = |a: AggregateExpr| -> usize {
        match computed.iter().position(|c| *c == a) {
            Some(i) => keys + i,
            None => {
                computed.push(a);
                keys + computed.len() - 1
            }
        }
    };
    let mut outputs: Vec<Expr> = Vec::with_capacity(keys + aggregates.len());
    for (i, key) in group_by.iter().enumerate() {
        outputs.push(Expr::column(i, names[i].clone(), key.data_type()));
    }
    for (i, a) in aggregates.iter().enumerate() {
        let name = names[keys + i].clone();
        let offset = if plain(a) {
            a.arg.as_ref().and_then(offset_of)
        } else {
            None
        };
        match offset {
            Some((x, c)) => {
                let sum = AggregateExpr {
                    arg: Some(x.clone()),
                    ..a.clone()
                };
                let count = AggregateExpr {
                    func: AggregateFunction::Count,
                    arg: Some(x),
                    distinct: false,
                    filter: a.filter.clone(),
                    data_type: DataType::Int64,
                    fraction: None,
                    extra_args: vec![],
                    order_by: vec![],
                };
                let sum = Expr::column(position(sum), format!("{name}_sum"), DataType::Int64);
                let count = Expr::column(position(count), format!("{name}_count"), DataType::Int64);
                let c: ArrayRef = Arc::new(Int64Array::from(vec![c]));
                let offset = Expr::Literal(c).binary(BinaryOp::Multiply, count);
                outputs.push(sum.binary(BinaryOp::Plus, offset));
            }
            None => {
                let data_type = a.data_type.clone();
                outputs.push(Expr::column(position(a.clone()), name, data_type));
            }
        }
    }
    let mut inner_names: Vec<String> = names[..keys].to_vec();
    inner_names.extend(computed.iter().map(|a| a.to_string()));
    Ok(LogicalPlan::Projection {
        input: Box::new(LogicalPlan::Aggregate {
            input,
            group_by,
            aggregates: computed,
            names: inner_names,
        }),
        exprs: outputs,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::BinaryOp;
    use crate::plan::Scan;
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn scan() -> LogicalPlan {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("c", DataType::Int32, true),
        ]));
        LogicalPlan::Scan(Scan {
            table: "t".into(),
            table_schema: schema,
            projection: vec![0, 1, 2],
            filters: vec![],
            rows_estimate: None,
        })
    }

    fn int(v: i32) -> Expr {
        Expr::Literal(Arc::new(Int32Array::from(vec![v])))
    }

    #[test]
    fn filter_conjuncts_move_into_the_scan_and_unused_columns_are_pruned() {
        let c = Expr::column(2, "c", DataType::Int32);
        let a = Expr::column(0, "a", DataType::Int32);
        let predicate = c
            .clone()
            .binary(BinaryOp::Gt, int(1))
            .binary(BinaryOp::And, c.binary(BinaryOp::Lt, int(9)));
        let plan = LogicalPlan::Projection {
            input: Box::new(LogicalPlan::Filter {
                input: Box::new(scan()),
                predicate,
            }),
            exprs: vec![a],
            names: vec!["a".into()],
        };
        let plan = optimize(plan).unwrap();
        let LogicalPlan::Projection { input, exprs, .. } = plan else {
            panic!("{plan}")
        };
        let LogicalPlan::Scan(scan) = *input else {
            panic!("filter not pushed")
        };
        // Only a and c are read; c is now column 1 of the scan output.
        assert_eq!(scan.projection, vec![0, 2]);
        assert_eq!(scan.filters.len(), 2);
        assert_eq!(
            scan.filters[0],
            Expr::column(1, "c", DataType::Int32).binary(BinaryOp::Gt, int(1))
        );
        assert_eq!(exprs, vec![Expr::column(0, "a", DataType::Int32)]);
    }

    #[test]
    fn limit_over_sort_becomes_top_n() {
        let key = crate::plan::SortKey {
            expr: Expr::column(0, "a", DataType::Int32),
            descending: false,
            nulls_first: false,
        };
        let plan = LogicalPlan::Limit {
            input: Box::new(LogicalPlan::Sort {
                input: Box::new(scan()),
                keys: vec![key],
                fetch: None,
            }),
            skip: 5,
            fetch: Some(10),
        };
        let LogicalPlan::Limit { input, .. } = optimize(plan).unwrap() else {
            panic!()
        };
        assert!(matches!(
            *input,
            LogicalPlan::Sort {
                fetch: Some(15),
                ..
            }
        ));
    }
}
