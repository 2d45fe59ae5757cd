//! After a statement is bound: every CTE read only once is inlined into its reader (so that the
//! optimizer pushes filters into its tables), as PostgreSQL does since version 12; a CTE read
//! more than once stays a [`LogicalPlan::Cte`], computed once when the statement runs, so that
//! every reference sees the same rows (a floating-point `SUM` computed twice could differ in its
//! last bit, and `total = (SELECT max(total) FROM cte)` would then match nothing).

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Result;
use crate::plan::LogicalPlan;

/// Inlines the CTEs that `plans` (a statement's plan and its subqueries) read once in all.
pub(super) fn inline_single_use(plans: Vec<&mut LogicalPlan>) -> Result<()> {
    let mut uses = HashMap::new();
    for plan in &plans {
        count_uses(plan, &mut uses);
    }
    if uses.is_empty() {
        return Ok(());
    }
    let mut rewritten = HashMap::new();
    for plan in plans {
        let taken = std::mem::replace(plan, LogicalPlan::OneRow);
        *plan = inline(taken, &uses, &mut rewritten)?;
    }
    Ok(())
}

/// Counts the references to each CTE; the body of a CTE is counted once, however often it is
/// read (it is computed once).
#[recursive::recursive]
fn count_uses(plan: &LogicalPlan, uses: &mut HashMap<usize, usize>) {
    if let LogicalPlan::Cte(cte) = plan {
        let count = uses.entry(cte.id).or_insert(0);
        *count += 1;
        if *count == 1 {
            count_uses(&cte.plan, uses);
        }
        return;
    }
    for input in plan.inputs() {
        count_uses(input, uses);
    }
}

/// `plan` with the CTEs read once replaced by their plans (themselves rewritten), and the
/// bodies of the others rewritten once each (`rewritten`, by id).
#[recursive::recursive]
fn inline(
    plan: LogicalPlan,
    uses: &HashMap<usize, usize>,
    rewritten: &mut HashMap<usize, Arc<LogicalPlan>>,
) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Cte(mut cte) => {
            if uses.get(&cte.id).copied().unwrap_or(0) <= 1 {
                let body = Arc::unwrap_or_clone(cte.plan);
                return inline(body, uses, rewritten);
            }
            if let Some(body) = rewritten.get(&cte.id) {
                cte.plan = body.clone();
            } else {
                let body = inline(Arc::unwrap_or_clone(cte.plan), uses, rewritten)?;
                cte.plan = Arc::new(body);
                rewritten.insert(cte.id, cte.plan.clone());
            }
            Ok(LogicalPlan::Cte(cte))
        }
        other => other.map_inputs(|input| inline(input, uses, rewritten)),
    }
}
