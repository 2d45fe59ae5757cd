//! Text and dates cast to TIMESTAMP under a session time zone.
//!
//! PostgreSQL reads `'2024-03-10 12:00'::timestamptz`, `TIMESTAMP '2024-03-10'` literals, a
//! string compared with a timestamp (`ts >= '2024-03-10'`) and a DATE promoted to a timestamp
//! (`date_col = ts`, `date + interval`) as local time in the session's `TimeZone`. The binder
//! binds a statement inside [`with_session_zone`]; while it does, [`Expr::cast_to`] turns every
//! cast of VARCHAR or DATE to TIMESTAMP it builds into a [`ZonedCast`] (the binder builds casts
//! in many places, coercion among them, and folds some constants while binding, so the zone is
//! there when the cast is made rather than added by a pass after). A TIMESTAMP cast to text is
//! written as local time with the offset there (PostgreSQL's timestamptz output). Under UTC (no
//! zone) a cast stays a plain `CAST`, which reads text without an offset as UTC. Functions that use a DATE
//! as a day number rather than an instant (`extract`, `time_bucket` over a DATE) take the
//! DATE itself. See [`crate::kernel::timestamp`] for the text read and the daylight saving
//! rules.

use std::cell::Cell;
use std::fmt;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::DataType;
use chrono_tz::Tz;

use super::{Expr, ScalarFunction};
use crate::error::{Error, Result};
use crate::kernel::timestamp;

thread_local! {
    /// The session time zone of the statement being bound on this thread.
    static SESSION_ZONE: Cell<Option<Tz>> = const { Cell::new(None) };
}

/// Restores the zone of an enclosing binding when a binding ends (or unwinds).
struct Restore(Option<Tz>);

impl Drop for Restore {
    fn drop(&mut self) {
        SESSION_ZONE.with(|z| z.set(self.0));
    }
}

/// Runs `f` (the binding of one statement) with `zone` as the session time zone that casts
/// built meanwhile read text and dates in.
pub(crate) fn with_session_zone<T>(zone: Option<Tz>, f: impl FnOnce() -> T) -> T {
    let _restore = Restore(SESSION_ZONE.with(|z| z.replace(zone)));
    f()
}

/// `CAST(e AS to)` for `e` of type `from`, in the session time zone of the binding under way:
/// text or a DATE to TIMESTAMP ([`ZonedCast`]), a TIMESTAMP to text ([`ZonedText`]); `Err(e)`
/// back when there is no zone or the cast is another one.
pub(super) fn zoned(e: Expr, from: &DataType, to: &DataType) -> std::result::Result<Expr, Expr> {
    let Some(tz) = SESSION_ZONE.with(Cell::get) else {
        return Err(e);
    };
    if *to == DataType::Utf8 {
        return match from {
            DataType::Timestamp(_, _) => Ok(Expr::call(ZonedText(tz), vec![e])),
            _ => Err(e),
        };
    }
    if *to != strata_storage::types::TIMESTAMP_TYPE {
        return Err(e);
    }
    match from {
        DataType::Utf8 | DataType::Date32 => Ok(Expr::call(ZonedCast(tz), vec![e])),
        DataType::Dictionary(_, value) if **value == DataType::Utf8 => {
            Ok(Expr::call(ZonedCast(tz), vec![e.cast_to(&DataType::Utf8)]))
        }
        _ => Err(e),
    }
}

/// A VARCHAR or DATE read as a TIMESTAMP in zone `.0`: text without an offset and a DATE's
/// midnight are local times there.
#[derive(Debug, PartialEq)]
pub(crate) struct ZonedCast(pub(crate) Tz);

impl ScalarFunction for ZonedCast {
    fn name(&self) -> &'static str {
        "timestamptz_in"
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        strata_storage::types::TIMESTAMP_TYPE
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let value = args
            .first()
            .ok_or_else(|| Error::internal("timestamptz_in() without an argument"))?;
        match value.data_type() {
            DataType::Utf8 => timestamp::cast_text(value, Some(&self.0)),
            DataType::Date32 => {
                let dates = value
                    .as_primitive_opt()
                    .ok_or_else(|| Error::internal("DATE array of another type"))?;
                Ok(std::sync::Arc::new(timestamp::dates_at_local_midnight(
                    &self.0, dates,
                )))
            }
            other => Err(Error::internal(format!(
                "timestamptz_in() of {other}, not VARCHAR or DATE"
            ))),
        }
    }

    fn fmt_call(&self, args: &[String], f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CAST({} AS TIMESTAMP IN '{}')",
            args.join(", "),
            self.0.name()
        )
    }
}

/// A TIMESTAMP as text the way PostgreSQL writes a timestamptz in zone `.0`: local time with
/// the offset, `2024-03-10 13:00:00+01`.
#[derive(Debug, PartialEq)]
pub(crate) struct ZonedText(pub(crate) Tz);

impl ScalarFunction for ZonedText {
    fn name(&self) -> &'static str {
        "timestamptz_out"
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let ts = args
            .first()
            .and_then(|a| a.as_primitive_opt())
            .ok_or_else(|| Error::internal("timestamptz_out() of a non-TIMESTAMP"))?;
        Ok(std::sync::Arc::new(timestamp::timestamps_to_local_text(
            &self.0, ts,
        )?))
    }

    fn fmt_call(&self, args: &[String], f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CAST({} AS VARCHAR IN '{}')",
            args.join(", "),
            self.0.name()
        )
    }
}
