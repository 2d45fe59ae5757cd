//! The column types Strata supports, and their SQL names (PostgreSQL spelling).

use std::borrow::Cow;

use arrow::datatypes::{DataType, TimeUnit, DECIMAL128_MAX_PRECISION};

/// The Arrow type of `TIMESTAMP` columns: milliseconds since the Unix epoch, UTC.
pub const TIMESTAMP_TYPE: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

/// The precision and scale of `NUMERIC` / `DECIMAL` written without them (DuckDB's default;
/// PostgreSQL's unconstrained NUMERIC has no fixed scale, which a column of Arrow decimals
/// cannot hold).
pub const DECIMAL_DEFAULT: (u8, i8) = (18, 3);

/// The SQL name of a supported Arrow type, `"UNKNOWN"` for any other. Decimals carry their
/// precision and scale: `DECIMAL(10,2)` (the name [`parse_sql_type`] reads back).
pub fn sql_type_name(dt: &DataType) -> Cow<'static, str> {
    if let DataType::Decimal128(p, s) = dt {
        return Cow::Owned(format!("DECIMAL({p},{s})"));
    }
    if let DataType::List(element) = dt {
        return Cow::Owned(format!("{}[]", sql_type_name(element.data_type())));
    }
    Cow::Borrowed(match dt {
        DataType::Boolean => "BOOLEAN",
        DataType::Int8 | DataType::Int16 => "SMALLINT",
        DataType::Int32 => "INTEGER",
        DataType::Int64 => "BIGINT",
        DataType::Float32 => "REAL",
        DataType::Float64 => "DOUBLE",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Timestamp(_, _) => "TIMESTAMP",
        DataType::Interval(_) => "INTERVAL",
        DataType::Null => "NULL",
        _ => "UNKNOWN",
    })
}

/// Parses a SQL type name (case-insensitive, PostgreSQL and common aliases) into the Arrow type
/// Strata stores it as. Length arguments such as `VARCHAR(255)` are accepted and ignored;
/// `DECIMAL(p, s)` / `NUMERIC(p, s)` (also `DECIMAL(p)`, scale 0, and `DECIMAL`, see
/// [`DECIMAL_DEFAULT`]) is an Arrow `Decimal128(p, s)` with 1 <= p <= 38 and 0 <= s <= p.
pub fn parse_sql_type(name: &str) -> Option<DataType> {
    if let Some(decimal) = parse_decimal_type(name) {
        return decimal;
    }
    let base = name
        .split('(')
        .next()
        .unwrap_or(name)
        .trim()
        .to_ascii_uppercase();
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match base.as_str() {
        "BOOLEAN" | "BOOL" => DataType::Boolean,
        "SMALLINT" | "INT2" | "TINYINT" => DataType::Int16,
        "INTEGER" | "INT" | "INT4" => DataType::Int32,
        "BIGINT" | "INT8" => DataType::Int64,
        "REAL" | "FLOAT4" => DataType::Float32,
        "DOUBLE" | "DOUBLE PRECISION" | "FLOAT8" | "FLOAT" => DataType::Float64,
        "VARCHAR" | "TEXT" | "STRING" | "CHAR" | "CHARACTER" | "CHARACTER VARYING" => {
            DataType::Utf8
        }
        "DATE" => DataType::Date32,
        "TIMESTAMP"
        | "TIMESTAMP WITHOUT TIME ZONE"
        | "TIMESTAMP WITH TIME ZONE"
        | "TIMESTAMPTZ"
        | "DATETIME" => TIMESTAMP_TYPE,
        _ => return None,
    })
}

/// `DECIMAL[(p[, s])]` or `NUMERIC[(p[, s])]`: `None` when the name is another type,
/// `Some(None)` when it is a decimal with an invalid precision or scale.
fn parse_decimal_type(name: &str) -> Option<Option<DataType>> {
    let name = name.trim();
    let (base, args) = match name.split_once('(') {
        Some((base, rest)) => (base.trim(), Some(rest.trim().strip_suffix(')')?)),
        None => (name, None),
    };
    if !base.eq_ignore_ascii_case("DECIMAL")
        && !base.eq_ignore_ascii_case("NUMERIC")
        && !base.eq_ignore_ascii_case("DEC")
    {
        return None;
    }
    let (p, s) = match args {
        None => DECIMAL_DEFAULT,
        Some(args) => {
            let mut parts = args.split(',').map(|a| a.trim().parse::<u8>().ok());
            let p = parts.next().flatten();
            let s = match parts.next() {
                None => Some(0),
                Some(s) => s,
            };
            match (p, s, parts.next()) {
                (Some(p), Some(s), None) => match i8::try_from(s) {
                    Ok(s) => (p, s),
                    Err(_) => return Some(None),
                },
                _ => return Some(None),
            }
        }
    };
    let valid = (1..=DECIMAL128_MAX_PRECISION).contains(&p) && s >= 0 && (s as u8) <= p;
    Some(valid.then_some(DataType::Decimal128(p, s)))
}

/// True for the types a column may be stored as.
pub fn is_supported(dt: &DataType) -> bool {
    matches!(dt, DataType::Decimal128(p, s) if (1..=DECIMAL128_MAX_PRECISION).contains(p) && *s >= 0 && (*s as u8) <= *p)
        || matches!(
            dt,
            DataType::Boolean
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Float32
                | DataType::Float64
                | DataType::Utf8
                | DataType::Date32
        )
        || *dt == TIMESTAMP_TYPE
}

/// Milliseconds per day (a DATE time column's day `d` is the instant `d * MS_PER_DAY`, UTC
/// midnight).
pub const MS_PER_DAY: i64 = 86_400_000;

/// Whether `dt` can be a table's time column: TIMESTAMP, or DATE for daily data.
pub fn is_time_column_type(dt: &DataType) -> bool {
    *dt == TIMESTAMP_TYPE || *dt == DataType::Date32
}

/// A time column's values as milliseconds since the epoch (a DATE's day at UTC midnight), for
/// partitioning, segment time ranges and retention; `None` for another type.
pub fn time_values_ms(
    column: &dyn arrow::array::Array,
) -> Option<arrow::array::PrimitiveArray<arrow::datatypes::Int64Type>> {
    use arrow::array::AsArray;
    match column.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, None) => Some(
            column
                .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                .reinterpret_cast::<arrow::datatypes::Int64Type>(),
        ),
        DataType::Date32 => Some(
            column
                .as_primitive::<arrow::datatypes::Date32Type>()
                .unary(|d| i64::from(d).saturating_mul(MS_PER_DAY)),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_type_round_trips_through_its_sql_name() {
        for dt in [
            DataType::Boolean,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::Float32,
            DataType::Float64,
            DataType::Utf8,
            DataType::Date32,
            TIMESTAMP_TYPE,
            DataType::Decimal128(10, 2),
            DataType::Decimal128(38, 0),
        ] {
            assert!(is_supported(&dt));
            assert_eq!(parse_sql_type(&sql_type_name(&dt)), Some(dt));
        }
    }

    #[test]
    fn aliases_and_lengths_are_accepted() {
        assert_eq!(parse_sql_type("varchar(255)"), Some(DataType::Utf8));
        assert_eq!(parse_sql_type("double  precision"), Some(DataType::Float64));
        assert_eq!(parse_sql_type("int"), Some(DataType::Int32));
        assert_eq!(parse_sql_type("blob"), None);
        assert_eq!(
            parse_sql_type("numeric(5, 2)"),
            Some(DataType::Decimal128(5, 2))
        );
        assert_eq!(
            parse_sql_type("DECIMAL(7)"),
            Some(DataType::Decimal128(7, 0))
        );
        assert_eq!(parse_sql_type("numeric"), Some(DataType::Decimal128(18, 3)));
        assert_eq!(parse_sql_type("decimal(39,2)"), None);
        assert_eq!(parse_sql_type("decimal(2,3)"), None);
    }
}
