//! Scalar function calls: the arguments each function accepts (and the casts they get) and the
//! [`ScalarFunction`] they become. `nullif` becomes a `CASE`, `now()` a literal.

use std::sync::Arc;

use arrow::array::{Array, StringArray};
use arrow::datatypes::DataType;
use sqlparser::ast as sql;

use super::literal::{null_literal, string_literal};
use crate::error::{Error, Result};
use crate::expr::coerce::{
    coerce_pair, common_type, integer_arg, is_numeric, is_temporal, string_arg, type_name,
};
use crate::expr::{BinaryOp, DatePart, Expr, ScalarFunction, TrimSide, TruncUnit};

/// Types the call of scalar function `name` (`function`, for messages) over its bound `args`;
/// `now_ms` is the statement's clock (`None`: the wall clock). The session functions PostgreSQL
/// clients call ([`crate::pg_catalog::constant_function`]) answer a constant.
pub(super) fn scalar_call(
    name: &str,
    function: &sql::Function,
    mut args: Vec<Expr>,
    now_ms: Option<i64>,
) -> Result<Expr> {
    const SUPPORTED: &str = "count, sum, min, max, avg, stddev, stddev_pop, variance, var_pop, \
         date_trunc, date_part, extract, coalesce, nullif, lower, upper, length, octet_length, \
         concat, substring, trim, ltrim, rtrim, btrim, replace, strpos, position, starts_with, \
         regexp_replace, regexp_match, regexp_like, to_timestamp, now, abs, approx_count_distinct, \
         approx_percentile, percentile_cont, any_value, version, current_database, current_schema, \
         current_user, current_setting, pg_backend_pid";
    let given = args.len();
    let arity = |n: usize| -> Result<()> {
        if given == n {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                message: format!("{name}() takes {n} argument(s), not {given}"),
            })
        }
    };
    // Session functions PostgreSQL clients call (version(), current_setting('x'), ...).
    if let Some(value) = crate::pg_catalog::constant_function(name, args.len(), |i| {
        args.get(i).and_then(string_literal)
    }) {
        return Ok(Expr::Literal(value?));
    }
    let expect = |arg: &Expr, ok: bool, wanted: &str| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::mismatch(format!(
                "{name}() needs {wanted}, not {} ({arg})",
                type_name(&arg.data_type())
            )))
        }
    };
    let func = match name {
        "date_trunc" => {
            arity(2)?;
            let unit = string_literal(&args[0]);
            let unit = unit.as_deref().and_then(TruncUnit::parse).ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "date_trunc() unit must be one of 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year', not {}",
                    args[0]
                ),
            })?;
            let ts = args.remove(1);
            let dt = ts.data_type();
            expect(
                &ts,
                is_temporal(&dt) || dt == DataType::Utf8 || dt == DataType::Null,
                "a TIMESTAMP",
            )?;
            args = vec![ts.cast_to(&strata_storage::types::TIMESTAMP_TYPE)];
            ScalarFunction::DateTrunc(unit)
        }
        "coalesce" => {
            if args.is_empty() {
                return Err(Error::InvalidArgument {
                    message: "coalesce() needs at least one argument".into(),
                });
            }
            let mut target = common_type(&args, "coalesce()")?;
            if target == DataType::Null {
                target = DataType::Utf8;
            }
            args = args.into_iter().map(|a| a.cast_to(&target)).collect();
            ScalarFunction::Coalesce
        }
        "lower" | "upper" | "length" | "char_length" | "character_length" => {
            arity(1)?;
            let dt = args[0].data_type();
            expect(
                &args[0],
                dt == DataType::Utf8 || dt == DataType::Null,
                "a VARCHAR",
            )?;
            args[0] = args[0].clone().cast_to(&DataType::Utf8);
            match name {
                "lower" => ScalarFunction::Lower,
                "upper" => ScalarFunction::Upper,
                _ => ScalarFunction::Length,
            }
        }
        "nullif" => {
            arity(2)?;
            // `nullif(a, b)` is `CASE WHEN a = b THEN NULL ELSE a END`, typed like `a = b`.
            let b = args.remove(1);
            let a = args.remove(0);
            let (a, b) = coerce_pair(a, b, BinaryOp::Eq)?;
            let data_type = a.data_type();
            return Ok(Expr::Case {
                when_then: vec![(
                    a.clone().binary(BinaryOp::Eq, b),
                    Expr::Literal(null_literal()).cast_to(&data_type),
                )],
                else_result: Some(Box::new(a)),
            });
        }
        "concat" => {
            if args.is_empty() {
                return Err(Error::InvalidArgument {
                    message: "concat() needs at least one argument".into(),
                });
            }
            args = args
                .into_iter()
                .map(|a| a.cast_to(&DataType::Utf8))
                .collect();
            ScalarFunction::Concat
        }
        "substr" | "substring" => {
            if !(2..=3).contains(&args.len()) {
                return Err(Error::InvalidArgument {
                    message: format!("{name}() takes 2 or 3 arguments, not {}", args.len()),
                });
            }
            let mut bound = vec![string_arg(args.remove(0), "substring()")?];
            for a in args {
                bound.push(integer_arg(a, "substring()")?);
            }
            args = bound;
            ScalarFunction::Substring
        }
        "trim" | "btrim" | "ltrim" | "rtrim" => {
            if !(1..=2).contains(&args.len()) {
                return Err(Error::InvalidArgument {
                    message: format!("{name}() takes 1 or 2 arguments, not {}", args.len()),
                });
            }
            args = args
                .into_iter()
                .map(|a| string_arg(a, "trim()"))
                .collect::<Result<_>>()?;
            ScalarFunction::Trim(match name {
                "ltrim" => TrimSide::Leading,
                "rtrim" => TrimSide::Trailing,
                _ => TrimSide::Both,
            })
        }
        "replace" | "strpos" | "starts_with" | "octet_length" | "regexp_replace" => {
            let func = match name {
                "replace" => {
                    arity(3)?;
                    ScalarFunction::Replace
                }
                "strpos" => {
                    arity(2)?;
                    ScalarFunction::Strpos
                }
                "starts_with" => {
                    arity(2)?;
                    ScalarFunction::StartsWith
                }
                "octet_length" => {
                    arity(1)?;
                    ScalarFunction::OctetLength
                }
                _ => {
                    if !(3..=4).contains(&args.len()) {
                        return Err(Error::InvalidArgument {
                            message: format!(
                                "regexp_replace() takes 3 or 4 arguments, not {}",
                                args.len()
                            ),
                        });
                    }
                    ScalarFunction::RegexpReplace
                }
            };
            let what = format!("{name}()");
            args = args
                .into_iter()
                .map(|a| string_arg(a, &what))
                .collect::<Result<_>>()?;
            func
        }
        "date_part" => {
            arity(2)?;
            let field = string_literal(&args[0]);
            let part = field.as_deref().and_then(DatePart::parse).ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "date_part() field must be one of 'year', 'quarter', 'month', 'week', 'day', 'hour', 'minute', 'second', 'dow', 'isodow', 'doy', 'epoch'; not {}",
                    args[0]
                ),
            })?;
            return date_part(part, args.remove(1));
        }
        "time_bucket" | "date_bin" => {
            let range = if name == "date_bin" { 3..=3 } else { 2..=3 };
            if !range.contains(&args.len()) {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "{name}() takes {} arguments: (interval, timestamp{}), not {}",
                        if name == "date_bin" { "3" } else { "2 or 3" },
                        if name == "date_bin" {
                            ", origin"
                        } else {
                            "[, origin]"
                        },
                        args.len()
                    ),
                });
            }
            let (months, days, nanos) = match &args[0] {
                Expr::Literal(v) => v
                    .as_any()
                    .downcast_ref::<arrow::array::IntervalMonthDayNanoArray>()
                    .filter(|a| a.is_valid(0))
                    .map(|a| {
                        let i = a.value(0);
                        (i.months, i.days, i.nanoseconds)
                    }),
                _ => None,
            }
            .ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "{name}() needs an interval literal as its width, e.g. INTERVAL '15 minutes'; not {}",
                    args[0]
                ),
            })?;
            let stride_ms = i64::from(days) * 86_400_000 + nanos / 1_000_000;
            if (months != 0 && stride_ms != 0)
                || months < 0
                || stride_ms < 0
                || (months == 0 && stride_ms == 0)
            {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "{name}() width must be positive and either months or a fixed length, not both: {}",
                        args[0]
                    ),
                });
            }
            if months != 0 && (name == "date_bin" || args.len() == 3) {
                return Err(Error::unsupported(format!(
                    "{name}() with a width in months and an origin; use time_bucket(interval, ts)"
                )));
            }
            let timestamp = strata_storage::types::TIMESTAMP_TYPE;
            let mut points = Vec::with_capacity(2);
            for a in args.drain(1..) {
                let dt = a.data_type();
                expect(&a, is_temporal(&dt) || dt == DataType::Null, "a TIMESTAMP")?;
                points.push(a.cast_to(&timestamp));
            }
            if points.len() == 1 {
                // TimescaleDB's and DuckDB's default origins: Monday 2000-01-03 for fixed widths
                // (weeks start on Monday), 2000-01-01 for months.
                let origin = if months != 0 {
                    "2000-01-01"
                } else {
                    "2000-01-03"
                };
                points.push(
                    Expr::Literal(Arc::new(StringArray::from(vec![origin]))).cast_to(&timestamp),
                );
            }
            args = points;
            ScalarFunction::TimeBucket { months, stride_ms }
        }
        "regexp_match" | "regexp_like" | "regexp_matches" => {
            arity(2)?;
            let what = format!("{name}()");
            args = args
                .into_iter()
                .map(|a| string_arg(a, &what))
                .collect::<Result<_>>()?;
            if name == "regexp_match" {
                ScalarFunction::RegexpMatch
            } else {
                ScalarFunction::RegexpLike
            }
        }
        "to_timestamp" => {
            if args.len() != 1 {
                return Err(Error::unsupported(
                    "to_timestamp(text, format); to_timestamp takes one argument, seconds since 1970-01-01 (cast text with CAST(x AS TIMESTAMP))",
                ));
            }
            let dt = args[0].data_type();
            expect(
                &args[0],
                is_numeric(&dt) || dt == DataType::Null,
                "a number of seconds",
            )?;
            args[0] = args[0].clone().cast_to(&DataType::Float64);
            ScalarFunction::ToTimestamp
        }
        "now" | "current_timestamp" | "localtimestamp" | "transaction_timestamp" => {
            arity(0)?;
            let now_ms = now_ms.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0)
            });
            return Ok(Expr::Literal(Arc::new(
                arrow::array::TimestampMillisecondArray::from(vec![now_ms]),
            )));
        }
        "floor" | "ceil" | "ceiling" => {
            arity(1)?;
            let func = if name == "floor" {
                ScalarFunction::Floor
            } else {
                ScalarFunction::Ceil
            };
            return rounding(func, args.remove(0));
        }
        "abs" => {
            arity(1)?;
            let dt = args[0].data_type();
            expect(
                &args[0],
                is_numeric(&dt) || dt == DataType::Null,
                "a number",
            )?;
            if dt == DataType::Null {
                args[0] = args[0].clone().cast_to(&DataType::Int32);
            }
            ScalarFunction::Abs
        }
        _ => {
            return Err(Error::unsupported(format!(
                "function {}(); supported functions: {SUPPORTED}",
                function.name
            )))
        }
    };
    Ok(Expr::Function { func, args })
}

/// `floor(x)` / `ceil(x)` of a number, as DOUBLE (Grafana's `$__timeGroup` is
/// `floor(extract(epoch from ts)/300)*300`).
pub(super) fn rounding(func: ScalarFunction, arg: Expr) -> Result<Expr> {
    let dt = arg.data_type();
    if !(is_numeric(&dt) || dt == DataType::Null) {
        return Err(Error::mismatch(format!(
            "{}() needs a number, not {} ({arg})",
            func.name(),
            type_name(&dt)
        )));
    }
    Ok(Expr::Function {
        func,
        args: vec![arg.cast_to(&DataType::Float64)],
    })
}

/// `extract(part FROM e)` / `date_part('part', e)` over a TIMESTAMP or DATE.
pub(super) fn date_part(part: DatePart, e: Expr) -> Result<Expr> {
    let dt = e.data_type();
    if !(is_temporal(&dt) || dt == DataType::Null) {
        return Err(Error::mismatch(format!(
            "extract() / date_part() needs a TIMESTAMP or DATE, not {} ({e})",
            type_name(&dt)
        )));
    }
    Ok(Expr::Function {
        func: ScalarFunction::DatePart(part),
        args: vec![e.cast_to(&strata_storage::types::TIMESTAMP_TYPE)],
    })
}
