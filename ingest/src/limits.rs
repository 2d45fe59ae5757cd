//! The bounds on what one body may hold, so that no body can make decoding slow or large out
//! of proportion to its size.
//!
//! The request body's size is bounded by the server (`--body-bytes-max`); these bound its shape:
//! how wide a row may be, how large, and how deeply its JSON may nest. A body over a limit is
//! refused whole, before anything is stored, with [`Error::Limit`] naming the limit, the line
//! and the flag that raises it. The number of columns a table may have is the storage's bound
//! (`StorageConfig::table_columns_max`), checked when a table is created or evolved.

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use crate::{Error, Format, Result};

/// The default of [`Limits::row_fields_max`]: as many as a table may have columns by default.
pub const DEFAULT_ROW_FIELDS_MAX: usize = 10_000;
/// The default of [`Limits::row_bytes_max`]: 1 MiB, Kafka's default largest message.
pub const DEFAULT_ROW_BYTES_MAX: usize = 1 << 20;
/// The default of [`Limits::decoded_bytes_max`]: 512 MiB (eight times the default body).
pub const DEFAULT_DECODED_BYTES_MAX: usize = 512 << 20;
/// The default of [`Limits::nesting_depth_max`]. Strata stores flat rows, so a value nested two
/// levels deep is refused anyway; the bound only keeps the parser's work on a deeply nested
/// value (which it reads to report it) small.
pub const DEFAULT_NESTING_DEPTH_MAX: usize = 64;

/// The shape limits of one body; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most fields one row may have: the keys of one JSON object, the columns of a CSV
    /// header, of an Arrow IPC stream or of a Parquet file (code `TOO_MANY_FIELDS`).
    pub row_fields_max: usize,
    /// The most bytes one row may hold once decoded: the sum of its values' sizes (strings by
    /// their bytes, numbers and booleans by their width; code `ROW_TOO_LARGE`).
    pub row_bytes_max: usize,
    /// How deeply a JSON line's arrays and objects, or a Parquet file's schema, may nest (code
    /// `NESTING_TOO_DEEP`).
    pub nesting_depth_max: usize,
    /// The most memory one body's rows may take once decoded (code `DECODED_TOO_LARGE`): a
    /// Parquet body's encodings can expand it a thousandfold.
    pub decoded_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            row_fields_max: DEFAULT_ROW_FIELDS_MAX,
            row_bytes_max: DEFAULT_ROW_BYTES_MAX,
            nesting_depth_max: DEFAULT_NESTING_DEPTH_MAX,
            decoded_bytes_max: DEFAULT_DECODED_BYTES_MAX,
        }
    }
}

/// Which limit a body went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// [`Limits::row_fields_max`].
    RowFields,
    /// [`Limits::row_bytes_max`].
    RowBytes,
    /// [`Limits::nesting_depth_max`].
    NestingDepth,
    /// [`Limits::decoded_bytes_max`].
    DecodedBytes,
}

impl LimitKind {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            LimitKind::RowFields => "TOO_MANY_FIELDS",
            LimitKind::RowBytes => "ROW_TOO_LARGE",
            LimitKind::NestingDepth => "NESTING_TOO_DEEP",
            LimitKind::DecodedBytes => "DECODED_TOO_LARGE",
        }
    }

    /// The server flag that sets the limit.
    pub fn flag(&self) -> &'static str {
        match self {
            LimitKind::RowFields => "--row-fields-max",
            LimitKind::RowBytes => "--row-bytes-max",
            LimitKind::NestingDepth => "--nesting-depth-max",
            LimitKind::DecodedBytes => "--decoded-bytes-max",
        }
    }

    /// What is counted, for messages.
    pub fn what(&self) -> &'static str {
        match self {
            LimitKind::RowFields => "fields",
            LimitKind::RowBytes => "bytes",
            LimitKind::NestingDepth => "levels of nesting",
            LimitKind::DecodedBytes => "bytes of decoded rows",
        }
    }
}

/// Refuses a row (or header) with `fields` fields.
pub(crate) fn check_fields(limits: &Limits, fields: usize, line: Option<usize>) -> Result<()> {
    if fields > limits.row_fields_max {
        return Err(Error::Limit {
            kind: LimitKind::RowFields,
            line,
            found: fields,
            max: limits.row_fields_max,
        });
    }
    Ok(())
}

/// Refuses an NDJSON body with a line nested deeper than the limit, before any decoder sees it
/// (arrow-json's tape decoder is iterative, but its error message for a nested value in a
/// scalar column is built recursively, and `serde_json` recurses too).
///
/// Fast for ordinary bodies: a SIMD search for `[` and `{` skips everything else, and the `{`
/// that opens a line is depth 1. Only a line with another bracket (a nested value, or a bracket
/// inside a string) is scanned byte by byte ([`check_json_depth`]).
pub(crate) fn check_ndjson_depth(limits: &Limits, body: &[u8]) -> Result<()> {
    let mut from = 0;
    // Lines counted so far: the 1-based number of the line that starts at `counted`.
    let (mut counted, mut line) = (0, 1);
    while let Some(found) = memchr::memchr2(b'[', b'{', &body[from..]) {
        let at = from + found;
        let line_start = memchr::memrchr(b'\n', &body[from..at]).map_or_else(
            || memchr::memrchr(b'\n', &body[..from]).map_or(0, |i| i + 1),
            |i| from + i + 1,
        );
        if body[at] == b'{' && body[line_start..at].iter().all(|b| b.is_ascii_whitespace()) {
            from = at + 1;
            continue;
        }
        let line_end = memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |i| at + i);
        line += memchr::memchr_iter(b'\n', &body[counted..line_start]).count();
        counted = line_start;
        check_json_depth(limits, &body[line_start..line_end], line)?;
        from = line_end;
    }
    Ok(())
}

/// Refuses a JSON line whose arrays and objects nest deeper than the limit. One pass over the
/// bytes (strings skipped), without parsing.
pub(crate) fn check_json_depth(limits: &Limits, bytes: &[u8], line: usize) -> Result<()> {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > limits.nesting_depth_max {
        return Err(Error::Limit {
            kind: LimitKind::NestingDepth,
            line: Some(line),
            found: deepest,
            max: limits.nesting_depth_max,
        });
    }
    Ok(())
}

/// Refuses a decoded batch with a row over [`Limits::row_bytes_max`]; `row_line` turns a
/// 0-based row into the 1-based line of the body it came from, where the format has lines.
///
/// Sizes are summed per row over the columns, one column at a time (fixed widths as one
/// constant, strings from their offsets), so the check costs one add per row and string
/// column.
pub(crate) fn check_row_bytes(
    limits: &Limits,
    batch: &RecordBatch,
    format: Format,
    body: &[u8],
) -> Result<()> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(());
    }
    let mut fixed = 0usize;
    let mut sizes: Option<Vec<usize>> = None;
    for column in batch.columns() {
        match column.data_type() {
            DataType::Utf8 => add_lengths(&mut sizes, rows, column.as_string::<i32>().offsets()),
            DataType::Binary => add_lengths(&mut sizes, rows, column.as_binary::<i32>().offsets()),
            // Other variable-width types (bodies are normalised to Utf8 first, so only nested
            // types Strata then refuses): their average size.
            other if other.primitive_width().is_none() => {
                fixed += column.get_buffer_memory_size() / rows
            }
            other => fixed += other.primitive_width().unwrap_or(1),
        }
    }
    let found = match &sizes {
        Some(sizes) => sizes
            .iter()
            .enumerate()
            .find(|(_, s)| **s + fixed > limits.row_bytes_max)
            .map(|(row, s)| (row, *s + fixed)),
        None if fixed > limits.row_bytes_max => Some((0, fixed)),
        None => None,
    };
    let Some((row, size)) = found else {
        return Ok(());
    };
    Err(Error::Limit {
        kind: LimitKind::RowBytes,
        line: row_line(format, body, row),
        found: size,
        max: limits.row_bytes_max,
    })
}

fn add_lengths(sizes: &mut Option<Vec<usize>>, rows: usize, offsets: &[i32]) {
    let sizes = sizes.get_or_insert_with(|| vec![0; rows]);
    for (size, w) in sizes.iter_mut().zip(offsets.windows(2)) {
        *size += (w[1] - w[0]) as usize;
    }
}

/// The 1-based line of the body that row `row` (0-based) was decoded from: the row-th
/// non-blank line of NDJSON, the line after the header of CSV (exact when no quoted field
/// spans lines). `None` for formats without lines.
fn row_line(format: Format, body: &[u8], row: usize) -> Option<usize> {
    match format {
        Format::NdJson => body
            .split(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(|b| b.is_ascii_whitespace()))
            .nth(row)
            .map(|(i, _)| i + 1),
        Format::Csv => Some(row + 2),
        Format::ArrowIpc | Format::Parquet => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        let limits = Limits {
            nesting_depth_max: 3,
            ..Limits::default()
        };
        assert!(check_json_depth(&limits, br#"{"a": [[1]], "b": "[[[[[[{{{{"}"#, 1).is_ok());
        let err = check_json_depth(&limits, br#"{"a": [[[1]]]}"#, 7).unwrap_err();
        assert_eq!(err.code(), "NESTING_TOO_DEEP");
        assert_eq!(err.line(), Some(7));
        // An escaped quote does not end a string.
        assert!(check_json_depth(&limits, br#"{"a": "\"[[[[[["}"#, 1).is_ok());
    }

    #[test]
    fn ndjson_depth_scans_only_lines_with_nested_brackets() {
        let limits = Limits {
            nesting_depth_max: 2,
            ..Limits::default()
        };
        let body = b"{\"a\": 1}\n  {\"b\": [1]}\n{\"c\": \"[[[\"}\n";
        assert!(check_ndjson_depth(&limits, body).is_ok());
        let body = b"{\"a\": 1}\n\n{\"b\": [[1]]}\n";
        let err = check_ndjson_depth(&limits, body).unwrap_err();
        assert_eq!((err.code(), err.line()), ("NESTING_TOO_DEEP", Some(3)));
        let deep = format!(
            "{{\"x\": {}1{}}}",
            "[".repeat(1_000_000),
            "]".repeat(1_000_000)
        );
        assert!(check_ndjson_depth(&limits, deep.as_bytes()).is_err());
    }

    #[test]
    fn row_bytes_sum_every_column_of_a_row() {
        use arrow::array::{Int64Array, StringArray};
        use std::sync::Arc;
        let batch = RecordBatch::try_from_iter([
            (
                "s",
                Arc::new(StringArray::from(vec!["ab", "abcdefgh"])) as _,
            ),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as _),
        ])
        .unwrap();
        let limits = Limits {
            row_bytes_max: 15,
            ..Limits::default()
        };
        let body = b"{}\n\n{}\n";
        let err = check_row_bytes(&limits, &batch, Format::NdJson, body).unwrap_err();
        assert_eq!(err.code(), "ROW_TOO_LARGE");
        // The second row is on line 3 (line 2 is blank).
        assert_eq!(err.line(), Some(3));
        let limits = Limits {
            row_bytes_max: 16,
            ..Limits::default()
        };
        assert!(check_row_bytes(&limits, &batch, Format::NdJson, body).is_ok());
    }
}
