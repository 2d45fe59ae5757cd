//! Scalar function calls: the session functions PostgreSQL clients call (a constant), then the
//! function registry ([`crate::function`]), which types the call.

use sqlparser::ast as sql;

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::function::{string_literal, Call};

/// Types the call of scalar function `name` (`function`, for messages) over its bound `args`;
/// `now_ms` is the statement's clock (`None`: the wall clock). The session functions PostgreSQL
/// clients call ([`crate::pg_catalog::constant_function`]) answer a constant.
pub(super) fn scalar_call(
    name: &str,
    function: &sql::Function,
    args: Vec<Expr>,
    now_ms: Option<i64>,
    time_zone: Option<crate::TimeZone>,
) -> Result<Expr> {
    const SUPPORTED: &str = "count, sum, min, max, avg, stddev, stddev_pop, variance, var_pop, \
         date_trunc, date_part, extract, age, coalesce, nullif, lower, upper, length, octet_length, \
         concat, substring, trim, ltrim, rtrim, btrim, replace, strpos, position, starts_with, \
         regexp_replace, regexp_match, regexp_like, to_timestamp, now, abs, approx_count_distinct, \
         approx_percentile, percentile_cont, percentile_disc, median, quantile_cont, quantile_disc, mode, \
         string_agg, array_agg, bool_and, bool_or, every, cardinality, \
         array_length, any_value, version, current_database, current_schema, \
         current_user, current_setting, pg_backend_pid";
    // Session functions PostgreSQL clients call (version(), current_setting('x'), ...).
    if let Some(value) = crate::pg_catalog::constant_function(name, args.len(), |i| {
        args.get(i).and_then(string_literal)
    }) {
        return Ok(Expr::Literal(value?));
    }
    match crate::function::lookup(name) {
        Some(definition) => (definition.bind)(Call {
            name,
            args,
            now_ms,
            time_zone,
        }),
        None => Err(Error::unsupported(format!(
            "function {}(); supported functions: {SUPPORTED}",
            function.name
        ))),
    }
}
