//! What binding a query needs from the statement around it, seen from below: the catalog, the
//! CTEs in scope, the binding of nested queries (CTE bodies, subqueries in FROM and in
//! expressions), the statement's list of uncorrelated subqueries and its clock.
//!
//! The [`Binder`](super::Binder) provides it. The parts of the binder that bind a piece of a
//! query (FROM, SELECT, UNION, expressions) are given a `&dyn Context` instead of the binder
//! itself, so that they sit below it: a nested query recurses through [`Context::bind_query`]
//! rather than through an import of the module that binds whole queries.

use sqlparser::ast as sql;
use strata_storage::Storage;

use crate::error::Result;
use crate::expr::Expr;
use crate::plan::LogicalPlan;

/// Resolves a (possibly qualified) name among the FROM columns of the query that encloses a
/// correlated subquery, as an [`Expr::OuterColumn`].
pub(super) type OuterResolver = Box<dyn Fn(&[sql::Ident]) -> Option<Expr>>;

/// The statement being bound, as the binding of its parts sees it.
pub(super) trait Context {
    /// The storage whose catalog names are resolved against.
    fn storage(&self) -> &Storage;

    /// The innermost CTE in scope named `name` (case-insensitive): its name and a
    /// [`LogicalPlan::Cte`] reading it (inlined after binding when it is read only once).
    fn cte(&self, name: &str) -> Option<(String, LogicalPlan)>;

    /// Binds a nested query (`[WITH ...] SELECT ... | query UNION [ALL] query`).
    fn bind_query(&self, query: &sql::Query) -> Result<LogicalPlan>;

    /// Binds a subquery of an expression with `outer` resolving the names its own FROM does not
    /// have (the enclosing query's columns, one level up).
    fn bind_correlated(&self, query: &sql::Query, outer: OuterResolver) -> Result<LogicalPlan>;

    /// A column of the query enclosing the one being bound, for a name the latter does not
    /// have; `None` outside a subquery or when the enclosing query has no such column either.
    fn outer_column(&self, idents: &[sql::Ident]) -> Option<Expr>;

    /// Adds an uncorrelated subquery of an expression to the statement's subqueries (run
    /// once when the statement executes): its id for [`Expr::Subquery`].
    fn add_subquery(&self, plan: LogicalPlan) -> usize;

    /// `now()`: milliseconds since the epoch, one value for the whole statement.
    fn now_ms(&self) -> i64;

    /// The session's `TimeZone` (`None`: UTC).
    fn time_zone(&self) -> Option<crate::TimeZone>;
}
