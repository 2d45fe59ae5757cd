//! Join order for the inner joins of a FROM list: `FROM a, b, c WHERE a.x = b.y AND ...`.
//!
//! A *region* is a tree of inner joins (with the WHERE filter right above it) that contains at
//! least one join without keys: a comma in FROM, a `CROSS JOIN`, or an ON without equalities.
//! Such a region is taken apart into its *leaves* (the inputs that are not inner joins: scans,
//! subqueries, outer joins) and the conjuncts of every condition in it (the WHERE clause, the ON
//! conditions, the join keys). Then:
//!
//! 1. a conjunct that reads one leaf becomes a filter on that leaf (and, further down, a scan
//!    filter);
//! 2. each leaf's rows are estimated (the table's row count when the statement was bound, a
//!    fixed selectivity per filter conjunct);
//! 3. the joins are built greedily, left-deep: the largest leaf is the probe side (the fact
//!    table of a star schema), and each step adds, as the hash join's build side, the smallest
//!    leaf that an equality links to the leaves already joined; the conjuncts that become
//!    decidable at that step are its keys (`placed expression = new leaf expression`) or its
//!    filter. A leaf that no equality links comes last, joined on the conjuncts that read it
//!    (a nested loop), or as a true cross join when none does;
//! 4. a projection puts the columns back in the order the query wrote them.
//!
//! A chain of explicit `JOIN ... ON` with keys keeps the order it was written in (the left-most
//! table is the probe side), as before.

use crate::error::Result;
use crate::expr::{BinaryOp, Expr};
use crate::plan::{JoinKind, LogicalPlan};

/// The fraction of rows a filter conjunct is assumed to keep.
const SELECTIVITY: f64 = 0.2;

/// The rows assumed for an input of unknown size.
const UNKNOWN_ROWS: f64 = 1000.0;

/// Reorders every region of `plan` (see the module documentation).
pub(super) fn reorder_joins(plan: LogicalPlan) -> Result<LogicalPlan> {
    if is_region(&plan) && has_keyless_join(&plan) {
        let schema = plan.schema();
        let mut leaves = vec![];
        let mut conjuncts = vec![];
        flatten(plan, 0, &mut leaves, &mut conjuncts)?;
        let leaves = leaves
            .into_iter()
            .map(reorder_joins)
            .collect::<Result<Vec<_>>>()?;
        return restore_order(plan_region(leaves, conjuncts)?, &schema);
    }
    plan.map_inputs(reorder_joins)
}

fn is_inner_join(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Join {
            kind: JoinKind::Inner,
            ..
        }
    )
}

fn is_region(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Filter { input, .. } => is_inner_join(input),
        other => is_inner_join(other),
    }
}

fn has_keyless_join(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Filter { input, .. } if is_inner_join(input) => has_keyless_join(input),
        LogicalPlan::Join {
            kind: JoinKind::Inner,
            left,
            right,
            on,
            ..
        } => on.is_empty() || has_keyless_join(left) || has_keyless_join(right),
        _ => false,
    }
}

/// Collects the leaves of a region (in column order) and its conjuncts, over the region's
/// columns (the leaves' columns side by side); `offset` is where `plan`'s columns start.
fn flatten(
    plan: LogicalPlan,
    offset: usize,
    leaves: &mut Vec<LogicalPlan>,
    conjuncts: &mut Vec<Expr>,
) -> Result<()> {
    match plan {
        LogicalPlan::Filter { input, predicate } if is_inner_join(&input) => {
            flatten(*input, offset, leaves, conjuncts)?;
            for c in predicate.split_conjunction() {
                conjuncts.push(c.shift_columns(0, offset)?);
            }
        }
        LogicalPlan::Join {
            kind: JoinKind::Inner,
            left,
            right,
            on,
            filter,
        } => {
            let left_len = left.schema().fields().len();
            flatten(*left, offset, leaves, conjuncts)?;
            flatten(*right, offset + left_len, leaves, conjuncts)?;
            for (l, r) in on {
                conjuncts.push(
                    l.shift_columns(0, offset)?
                        .binary(BinaryOp::Eq, r.shift_columns(0, offset + left_len)?),
                );
            }
            if let Some(filter) = filter {
                for c in filter.split_conjunction() {
                    conjuncts.push(c.shift_columns(0, offset)?);
                }
            }
        }
        leaf => leaves.push(leaf),
    }
    Ok(())
}

/// The estimated rows of a plan.
fn estimate(plan: &LogicalPlan) -> f64 {
    match plan {
        LogicalPlan::Scan(scan) => {
            let rows = scan.rows_estimate.map_or(UNKNOWN_ROWS, |r| r as f64);
            rows * SELECTIVITY.powi(scan.filters.len().min(8) as i32)
        }
        LogicalPlan::OneRow => 1.0,
        LogicalPlan::Cte(cte) => cte.row_count().map_or(UNKNOWN_ROWS, |rows| rows as f64),
        LogicalPlan::Series(series) => series.values.len_estimate().max(0.0),
        LogicalPlan::Filter { input, predicate } => {
            let conjuncts = predicate.clone().split_conjunction().len().min(8);
            estimate(input) * SELECTIVITY.powi(conjuncts as i32)
        }
        LogicalPlan::Projection { input, .. } | LogicalPlan::Sort { input, .. } => estimate(input),
        LogicalPlan::Limit { input, fetch, .. } => match fetch {
            Some(fetch) => estimate(input).min(*fetch as f64),
            None => estimate(input),
        },
        LogicalPlan::Aggregate {
            input, group_by, ..
        } => {
            if group_by.is_empty() {
                1.0
            } else {
                (estimate(input) * SELECTIVITY).max(1.0)
            }
        }
        LogicalPlan::Join { left, right, .. } => estimate(left).max(estimate(right)),
        LogicalPlan::Union { inputs } => inputs.iter().map(estimate).sum(),
        LogicalPlan::SetOp { left, .. } => estimate(left),
        #[allow(unreachable_patterns)]
        _ => UNKNOWN_ROWS,
    }
}

/// Splits `a OR b OR c` into `[a, b, c]`.
fn split_disjunction(e: Expr) -> Vec<Expr> {
    let mut out = vec![];
    let mut pending = vec![e];
    while let Some(e) = pending.pop() {
        match e {
            Expr::Binary {
                op: BinaryOp::Or,
                left,
                right,
            } => {
                pending.push(*right);
                pending.push(*left);
            }
            other => out.push(other),
        }
    }
    out
}

/// The conjuncts of `e` once the conjuncts common to every disjunct of an OR are taken out:
/// `(k AND a) OR (k AND b)` is `k AND (a OR b)`, and `k OR (k AND b)` is `k` (both hold in SQL's
/// three-valued logic). TPC-H Q19 writes its join key `p_partkey = l_partkey` inside each of
/// three disjuncts; without this the join has no key and runs as a nested loop.
fn factor_disjunction(e: Expr) -> Vec<Expr> {
    if !matches!(
        e,
        Expr::Binary {
            op: BinaryOp::Or,
            ..
        }
    ) {
        return vec![e];
    }
    let disjuncts: Vec<Vec<Expr>> = split_disjunction(e.clone())
        .into_iter()
        .map(Expr::split_conjunction)
        .collect();
    let Some((first, others)) = disjuncts.split_first() else {
        return vec![e];
    };
    let holds = |d: &[Expr], c: &Expr| d.iter().any(|x| equivalent(x, c));
    let mut common: Vec<Expr> = vec![];
    for c in first {
        if others.iter().all(|d| holds(d, c)) && !holds(&common, c) {
            common.push(c.clone());
        }
    }
    if common.is_empty() {
        return vec![e];
    }
    let rests: Vec<Option<Expr>> = disjuncts
        .into_iter()
        .map(|d| Expr::conjunction(d.into_iter().filter(|c| !holds(&common, c)).collect()))
        .collect();
    // A disjunct made only of common conjuncts is true whenever they are: the OR adds nothing.
    if let Some(rests) = rests.into_iter().collect::<Option<Vec<Expr>>>() {
        common.extend(Expr::balanced(rests, BinaryOp::Or));
    }
    common
}

/// `a == b`, or both are equalities of the same two sides (`x = y` and `y = x`).
fn equivalent(a: &Expr, b: &Expr) -> bool {
    match (a, b) {
        (
            Expr::Binary {
                op: BinaryOp::Eq,
                left: l1,
                right: r1,
            },
            Expr::Binary {
                op: BinaryOp::Eq,
                left: l2,
                right: r2,
            },
        ) => (l1 == l2 && r1 == r2) || (l1 == r2 && r1 == l2),
        _ => a == b,
    }
}

/// A conjunct that reads several leaves, and which.
struct Link {
    expr: Expr,
    leaves: Vec<usize>,
}

/// The leaves an expression reads (sorted, unique), given where each leaf's columns start.
fn leaves_of(e: &Expr, starts: &[usize]) -> Vec<usize> {
    let mut columns = vec![];
    e.collect_columns(&mut columns);
    let mut out: Vec<usize> = columns
        .iter()
        .map(|&c| starts.partition_point(|&s| s <= c).saturating_sub(1))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Builds the joins of a region's leaves (see the module documentation). The result's columns
/// are the leaves' columns in the order they were joined; [`restore_order`] puts them back.
/// Its last element says, for each region column, where it went.
fn plan_region(
    leaves: Vec<LogicalPlan>,
    conjuncts: Vec<Expr>,
) -> Result<(LogicalPlan, Vec<usize>)> {
    let widths: Vec<usize> = leaves.iter().map(|l| l.schema().fields().len()).collect();
    let mut starts = Vec::with_capacity(widths.len());
    let mut total = 0;
    for w in &widths {
        starts.push(total);
        total += w;
    }
    // `(k AND a) OR (k AND b)` gives up its common `k`, which may be a join key.
    let conjuncts: Vec<Expr> = conjuncts.into_iter().flat_map(factor_disjunction).collect();
    // Conjuncts on one leaf become its filters; the others link leaves.
    let mut local: Vec<Vec<Expr>> = vec![vec![]; leaves.len()];
    let mut links = vec![];
    let mut constant = vec![];
    for c in conjuncts {
        let read = leaves_of(&c, &starts);
        match read.as_slice() {
            [] => constant.push(c),
            [leaf] => {
                let start = starts.get(*leaf).copied().unwrap_or(0);
                let mapping: Vec<Option<usize>> =
                    (0..total).map(|i| i.checked_sub(start)).collect();
                local[*leaf].push(c.remap_columns(&mapping)?);
            }
            _ => links.push(Link {
                expr: c,
                leaves: read,
            }),
        }
    }
    let mut pending: Vec<Option<LogicalPlan>> = leaves
        .into_iter()
        .zip(local)
        .map(|(leaf, filters)| match Expr::conjunction(filters) {
            Some(predicate) => LogicalPlan::Filter {
                input: Box::new(leaf),
                predicate,
            },
            None => leaf,
        })
        .map(Some)
        .collect();
    let estimates: Vec<f64> = pending
        .iter()
        .map(|l| l.as_ref().map_or(UNKNOWN_ROWS, estimate))
        .collect();
    let mut placed = vec![false; pending.len()];
    // Where each region column is in the plan built so far.
    let mut position: Vec<Option<usize>> = vec![None; total];
    let mut width = 0;
    let first = (0..pending.len())
        .max_by(|&a, &b| estimates[a].total_cmp(&estimates[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    let Some(mut plan) = pending.get_mut(first).and_then(Option::take) else {
        return Err(crate::error::Error::internal(
            "a join region without leaves",
        ));
    };
    place(
        first,
        &starts,
        &widths,
        &mut placed,
        &mut position,
        &mut width,
    );
    let is_placed = |placed: &[bool], leaves: &[usize]| leaves.iter().all(|&l| placed[l]);
    loop {
        let unplaced: Vec<usize> = (0..pending.len()).filter(|&l| !placed[l]).collect();
        if unplaced.is_empty() {
            break;
        }
        // An equality between the placed leaves and exactly one new leaf.
        let key_of = |link: &Link, placed: &[bool]| -> Option<usize> {
            let Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
            } = &link.expr
            else {
                return None;
            };
            let (l, r) = (leaves_of(left, &starts), leaves_of(right, &starts));
            match (l.as_slice(), r.as_slice()) {
                (_, [new]) if !l.is_empty() && is_placed(placed, &l) && !placed[*new] => Some(*new),
                ([new], _) if !r.is_empty() && is_placed(placed, &r) && !placed[*new] => Some(*new),
                _ => None,
            }
        };
        let smallest = |candidates: &mut dyn Iterator<Item = usize>| {
            candidates.min_by(|&a, &b| estimates[a].total_cmp(&estimates[b]).then(a.cmp(&b)))
        };
        let next = smallest(&mut links.iter().filter_map(|l| key_of(l, &placed)))
            .or_else(|| {
                // No equality: a leaf that some condition links to the placed ones.
                smallest(&mut unplaced.iter().copied().filter(|&u| {
                    links.iter().any(|l| {
                        l.leaves.contains(&u) && l.leaves.iter().all(|&x| x == u || placed[x])
                    })
                }))
            })
            .or_else(|| smallest(&mut unplaced.iter().copied()));
        let Some(next) = next else { break };
        let Some(right) = pending.get_mut(next).and_then(Option::take) else {
            return Err(crate::error::Error::internal("a join leaf placed twice"));
        };
        let left_width = width;
        place(
            next,
            &starts,
            &widths,
            &mut placed,
            &mut position,
            &mut width,
        );
        // The conjuncts decidable now: keys or filter of this join.
        let right_start = starts.get(next).copied().unwrap_or(0);
        let to_right: Vec<Option<usize>> = (0..total).map(|i| i.checked_sub(right_start)).collect();
        let mut on = vec![];
        let mut filter = vec![];
        let mut rest = vec![];
        for link in links {
            if !link.leaves.contains(&next) || !is_placed(&placed, &link.leaves) {
                rest.push(link);
                continue;
            }
            let before: Vec<bool> = placed
                .iter()
                .enumerate()
                .map(|(i, &p)| p && i != next)
                .collect();
            if key_of(&link, &before) == Some(next) {
                if let Expr::Binary { left, right, .. } = link.expr {
                    let (old, new) = if leaves_of(&right, &starts) == [next] {
                        (*left, *right)
                    } else {
                        (*right, *left)
                    };
                    on.push((old.remap_columns(&position)?, new.remap_columns(&to_right)?));
                    continue;
                }
                return Err(crate::error::Error::internal(
                    "a join key that is no equality",
                ));
            }
            filter.push(link.expr.remap_columns(&position)?);
        }
        links = rest;
        debug_assert!(left_width <= width);
        plan = LogicalPlan::Join {
            left: Box::new(plan),
            right: Box::new(right),
            kind: JoinKind::Inner,
            on,
            filter: Expr::conjunction(filter),
        };
    }
    // What is left: conjuncts without columns, and (defensively) any link not used.
    let mut top = constant;
    for link in links {
        top.push(link.expr.remap_columns(&position)?);
    }
    if let Some(predicate) = Expr::conjunction(top) {
        plan = LogicalPlan::Filter {
            input: Box::new(plan),
            predicate,
        };
    }
    let position = position
        .into_iter()
        .map(|p| p.ok_or_else(|| crate::error::Error::internal("a join column lost")))
        .collect::<Result<Vec<_>>>()?;
    Ok((plan, position))
}

/// Marks `leaf` placed: its columns come next in the joined output.
fn place(
    leaf: usize,
    starts: &[usize],
    widths: &[usize],
    placed: &mut [bool],
    position: &mut [Option<usize>],
    width: &mut usize,
) {
    if let Some(p) = placed.get_mut(leaf) {
        *p = true;
    }
    let start = starts.get(leaf).copied().unwrap_or(0);
    let len = widths.get(leaf).copied().unwrap_or(0);
    for i in 0..len {
        if let Some(slot) = position.get_mut(start + i) {
            *slot = Some(*width + i);
        }
    }
    *width += len;
}

/// A projection that gives the region's columns back in their written order.
fn restore_order(
    (plan, position): (LogicalPlan, Vec<usize>),
    schema: &arrow::datatypes::SchemaRef,
) -> Result<LogicalPlan> {
    if position.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(plan);
    }
    let exprs = schema
        .fields()
        .iter()
        .zip(&position)
        .map(|(f, &p)| Expr::column(p, f.name().clone(), f.data_type().clone()))
        .collect();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    Ok(LogicalPlan::Projection {
        input: Box::new(plan),
        exprs,
        names,
    })
}
