//! What binding a query needs from the statement around it, seen from below: the catalog, the
//! CTEs in scope, the binding of nested queries (CTE bodies, subqueries in FROM and in
//! expressions), the subquery runner and the statement's clock.
//!
//! The [`Binder`](super::Binder) provides it. The parts of the binder that bind a piece of a
//! query (FROM, SELECT, UNION, expressions) are given a `&dyn Context` instead of the binder
//! itself, so that they sit below it: a nested query recurses through [`Context::bind_query`]
//! rather than through an import of the module that binds whole queries.

use arrow::record_batch::RecordBatch;
use sqlparser::ast as sql;
use strata_storage::Storage;

use crate::error::Result;
use crate::plan::LogicalPlan;

/// Runs an uncorrelated subquery to completion (the engine's executor).
pub type SubqueryRunner<'a> = dyn Fn(LogicalPlan) -> Result<Vec<RecordBatch>> + 'a;

/// The statement being bound, as the binding of its parts sees it.
pub(super) trait Context {
    /// The storage whose catalog names are resolved against.
    fn storage(&self) -> &Storage;

    /// The innermost CTE in scope named `name` (case-insensitive): its name and its plan.
    fn cte(&self, name: &str) -> Option<(String, LogicalPlan)>;

    /// Binds a nested query (`[WITH ...] SELECT ... | query UNION [ALL] query`).
    fn bind_query(&self, query: &sql::Query) -> Result<LogicalPlan>;

    /// Runs the uncorrelated subqueries of expressions; `None`: they are an error.
    fn runner(&self) -> Option<&SubqueryRunner<'_>>;

    /// `now()`: milliseconds since the epoch, one value for the whole statement.
    fn now_ms(&self) -> i64;
}
