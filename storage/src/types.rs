//! The column types Strata supports, and their SQL names (PostgreSQL spelling).

use arrow::datatypes::{DataType, TimeUnit};

/// The Arrow type of `TIMESTAMP` columns: milliseconds since the Unix epoch, UTC.
pub const TIMESTAMP_TYPE: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

/// The SQL name of a supported Arrow type, `"UNKNOWN"` for any other.
pub fn sql_type_name(dt: &DataType) -> &'static str {
    match dt {
        DataType::Boolean => "BOOLEAN",
        DataType::Int8 | DataType::Int16 => "SMALLINT",
        DataType::Int32 => "INTEGER",
        DataType::Int64 => "BIGINT",
        DataType::Float32 => "REAL",
        DataType::Float64 => "DOUBLE",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Timestamp(_, _) => "TIMESTAMP",
        DataType::Null => "NULL",
        _ => "UNKNOWN",
    }
}

/// Parses a SQL type name (case-insensitive, PostgreSQL and common aliases) into the Arrow type
/// Strata stores it as. Length arguments such as `VARCHAR(255)` are accepted and ignored.
pub fn parse_sql_type(name: &str) -> Option<DataType> {
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
        "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" | "DATETIME" => TIMESTAMP_TYPE,
        _ => return None,
    })
}

/// True for the types a column may be stored as.
pub fn is_supported(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Boolean
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::Date32
    ) || *dt == TIMESTAMP_TYPE
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
        ] {
            assert!(is_supported(&dt));
            assert_eq!(parse_sql_type(sql_type_name(&dt)), Some(dt));
        }
    }

    #[test]
    fn aliases_and_lengths_are_accepted() {
        assert_eq!(parse_sql_type("varchar(255)"), Some(DataType::Utf8));
        assert_eq!(parse_sql_type("double  precision"), Some(DataType::Float64));
        assert_eq!(parse_sql_type("int"), Some(DataType::Int32));
        assert_eq!(parse_sql_type("blob"), None);
    }
}
