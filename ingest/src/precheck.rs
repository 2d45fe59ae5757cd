//! Checks of binary bodies before they reach arrow's and parquet's readers.
//!
//! Both readers trust some sizes and offsets of the input and panic when they point outside it
//! (found by the `arrow_ipc` and `parquet` fuzz targets, `docs/fuzzing.md`). A panic in a
//! request handler must not be how a bad body is answered, so the few fields they trust are
//! checked here first, and a body that fails is refused with the same error the reader would
//! give a body it detects as broken.

use parquet::file::metadata::ParquetMetaData;

use crate::{Error, Result};

/// Checks the buffers of an Arrow IPC stream ([`strata_storage::ipc::check_stream`]).
pub(crate) fn check_ipc_stream(body: &[u8]) -> Result<()> {
    strata_storage::ipc::check_stream(body).map_err(|reason| Error::Ipc { reason })
}

/// Checks that every column chunk of a Parquet footer lies inside the file (parquet 60 asserts
/// that its start and length are not negative, and panics otherwise).
pub(crate) fn check_parquet_metadata(metadata: &ParquetMetaData, file_len: usize) -> Result<()> {
    for (r, row_group) in metadata.row_groups().iter().enumerate() {
        for (c, column) in row_group.columns().iter().enumerate() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            let length = column.compressed_size();
            let inside = u64::try_from(start)
                .ok()
                .zip(u64::try_from(length).ok())
                .and_then(|(start, length)| start.checked_add(length))
                .is_some_and(|end| end <= file_len as u64);
            if !inside {
                return Err(Error::Parquet {
                    reason: format!(
                        "row group {r}, column {c}: the column chunk (start {start}, length \
                         {length}) lies outside the file of {file_len} bytes"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Nesting of structs and collections a Parquet footer may have (parquet's own skip limit).
const FOOTER_DEPTH_MAX: usize = 64;

/// Walks the Thrift compact-protocol footer (`FileMetaData`) of a Parquet file before parquet
/// decodes it, and returns the nesting depth of its schema (a flat table is 1), or `None` for a
/// body too short to have a footer (left to parquet).
///
/// - parquet 60 skips the unknown fields of a footer without reading the elements of a list of
///   booleans, so a few bytes claiming a list of 2^31 booleans cost it seconds of CPU per list
///   (found by the `parquet` fuzz target). The walk refuses a collection with more elements
///   than bytes left in the footer (every element takes at least one), any non-empty list of
///   booleans (the Parquet format has none in its footer), nesting past [`FOOTER_DEPTH_MAX`]
///   and a footer that is not Thrift.
/// - parquet builds the schema tree from the footer's flat list of elements recursively, one
///   stack frame per level: a 35 KB file nested 3,000 groups deep overflowed a 2 MiB stack. The
///   walk counts the levels from each element's `num_children` (field 5 of `SchemaElement`,
///   the schema being field 2 of `FileMetaData`), so the caller can refuse a deep schema first.
///
/// ```text
/// FILE          := "PAR1" ... FOOTER footer_len:u32le "PAR1"
/// FOOTER        := struct FileMetaData { 2: schema list<SchemaElement>, ... }
/// SchemaElement := struct { 4: name binary, 5: num_children i32, ... }
/// ```
pub(crate) fn check_parquet_footer(body: &[u8]) -> Result<Option<usize>> {
    let Some(tail) = body.len().checked_sub(8).map(|at| &body[at..]) else {
        return Ok(None);
    };
    if &tail[4..] != b"PAR1" {
        return Ok(None);
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
    let Some(start) = (body.len() - 8).checked_sub(len) else {
        return Ok(None);
    };
    let mut walk = ThriftWalk {
        bytes: &body[start..body.len() - 8],
        pos: 0,
    };
    walk.file_metadata()
        .map(Some)
        .map_err(|reason| Error::Parquet {
            reason: format!("footer byte {}: {reason}", walk.pos.min(walk.bytes.len())),
        })
}

/// A reader of the Thrift compact protocol that only checks shapes and sizes.
struct ThriftWalk<'a> {
    bytes: &'a [u8],
    pos: usize,
}

type WalkResult = std::result::Result<(), String>;

impl ThriftWalk<'_> {
    fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> std::result::Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or("the footer ends early")?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> WalkResult {
        if n > self.left() {
            return Err(format!("a value of {n} bytes runs past the footer"));
        }
        self.pos += n;
        Ok(())
    }

    fn varint(&mut self) -> std::result::Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".to_string())
    }

    fn zigzag(&mut self) -> std::result::Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// A field header inside a struct: (type, field id), `None` at the struct's end.
    fn field_header(&mut self, last: &mut i64) -> std::result::Result<Option<(u8, i64)>, String> {
        let header = self.byte()?;
        let kind = header & 0x0f;
        if kind == 0 {
            return Ok(None);
        }
        *last = match header >> 4 {
            0 => self.zigzag()?,
            delta => *last + i64::from(delta),
        };
        Ok(Some((kind, *last)))
    }

    /// `FileMetaData`: every field checked like [`ThriftWalk::structure`]; returns the depth of
    /// the schema (field 2).
    fn file_metadata(&mut self) -> std::result::Result<usize, String> {
        let mut last = 0;
        let mut depth = None;
        while let Some((kind, id)) = self.field_header(&mut last)? {
            if id == 2 && kind == 9 {
                depth = Some(self.schema_list()?);
            } else if kind != 1 && kind != 2 {
                self.value(kind, 1)?;
            }
        }
        depth.ok_or_else(|| "the footer has no schema".to_string())
    }

    /// The schema: a list of `SchemaElement`s in depth-first order, each with the number of
    /// children that follow it. Returns how many levels of groups nest (the root is one).
    fn schema_list(&mut self) -> std::result::Result<usize, String> {
        let header = self.byte()?;
        let size = match header >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        if header & 0x0f != 12 {
            return Err("the schema is not a list of structs".to_string());
        }
        if size > self.left() as u64 {
            return Err(format!(
                "a schema of {size} elements in {} bytes",
                self.left()
            ));
        }
        // Children still expected at each open level of the schema tree.
        let mut open: Vec<u64> = Vec::new();
        let mut deepest = 0;
        for _ in 0..size {
            let mut children = 0u64;
            let mut last = 0;
            while let Some((kind, id)) = self.field_header(&mut last)? {
                if id == 5 && kind == 5 {
                    children = u64::try_from(self.zigzag()?).unwrap_or(0);
                } else if kind != 1 && kind != 2 {
                    self.value(kind, 3)?;
                }
            }
            // This element fills a place in its parent.
            if let Some(left) = open.last_mut() {
                *left = left.saturating_sub(1);
            }
            if children > 0 {
                open.push(children);
                deepest = deepest.max(open.len());
            }
            while open.last() == Some(&0) {
                open.pop();
            }
        }
        Ok(deepest)
    }

    fn structure(&mut self, depth: usize) -> WalkResult {
        if depth >= FOOTER_DEPTH_MAX {
            return Err(format!("nesting deeper than {FOOTER_DEPTH_MAX}"));
        }
        loop {
            let header = self.byte()?;
            let kind = header & 0x0f;
            if kind == 0 {
                return Ok(());
            }
            if header >> 4 == 0 {
                self.zigzag()?; // the field id, when not a delta
            }
            // In a struct a boolean field's value is its type: no byte follows.
            if kind != 1 && kind != 2 {
                self.value(kind, depth + 1)?;
            }
        }
    }

    fn value(&mut self, kind: u8, depth: usize) -> WalkResult {
        match kind {
            // Booleans in a collection take a byte each; bytes too.
            1..=3 => self.skip(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8),
            8 => {
                let len = self.varint()?;
                self.skip(usize::try_from(len).map_err(|_| "a huge binary".to_string())?)
            }
            9 | 10 => {
                let header = self.byte()?;
                let element = header & 0x0f;
                let size = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                if size > self.left() as u64 {
                    return Err(format!(
                        "a list of {size} elements in {} bytes",
                        self.left()
                    ));
                }
                if size > 0 && (element == 1 || element == 2) {
                    return Err(format!("a list of {size} booleans"));
                }
                self.elements(size, &[element], depth)
            }
            11 => {
                let size = self.varint()?;
                if size == 0 {
                    return Ok(());
                }
                let kinds = self.byte()?;
                if size.saturating_mul(2) > self.left() as u64 {
                    return Err(format!("a map of {size} entries in {} bytes", self.left()));
                }
                self.elements(size, &[kinds >> 4, kinds & 0x0f], depth)
            }
            12 => self.structure(depth),
            13 => self.skip(16),
            other => Err(format!("unknown Thrift type {other}")),
        }
    }

    fn elements(&mut self, size: u64, kinds: &[u8], depth: usize) -> WalkResult {
        if depth >= FOOTER_DEPTH_MAX {
            return Err(format!("nesting deeper than {FOOTER_DEPTH_MAX}"));
        }
        for _ in 0..size {
            for &kind in kinds {
                self.value(kind, depth + 1)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::record_batch::RecordBatch;

    fn depth(body: &[u8]) -> Option<usize> {
        check_parquet_footer(body).unwrap()
    }

    #[test]
    fn a_flat_file_is_one_deep() {
        let batch = RecordBatch::try_from_iter([
            ("a", Arc::new(Int64Array::from(vec![1, 2])) as _),
            ("b", Arc::new(StringArray::from(vec!["x", "y"])) as _),
        ])
        .unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        assert_eq!(depth(&out), Some(1));
    }

    #[test]
    fn nested_groups_count_their_levels() {
        use parquet::basic::{Repetition, Type as PhysicalType};
        use parquet::schema::types::Type;
        let mut t = Type::primitive_type_builder("leaf", PhysicalType::INT32)
            .with_repetition(Repetition::OPTIONAL)
            .build()
            .unwrap();
        for i in 0..10 {
            t = Type::group_type_builder(&format!("g{i}"))
                .with_repetition(Repetition::OPTIONAL)
                .with_fields(vec![Arc::new(t)])
                .build()
                .unwrap();
        }
        let flat = Type::primitive_type_builder("flat", PhysicalType::INT64)
            .with_repetition(Repetition::OPTIONAL)
            .build()
            .unwrap();
        let schema = Type::group_type_builder("schema")
            .with_fields(vec![Arc::new(flat), Arc::new(t)])
            .build()
            .unwrap();
        let mut out = Vec::new();
        let props = Arc::new(parquet::file::properties::WriterProperties::builder().build());
        parquet::file::writer::SerializedFileWriter::new(&mut out, Arc::new(schema), props)
            .unwrap()
            .close()
            .unwrap();
        // The root, ten groups.
        assert_eq!(depth(&out), Some(11));
    }

    #[test]
    fn broken_footers_are_errors_not_panics() {
        assert_eq!(depth(b"not parquet"), None);
        let mut body = b"PAR1".to_vec();
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
        body.extend_from_slice(b"PAR1");
        assert_eq!(depth(&body), None);
        // A footer of struct headers (type 12 in field 3) nested a million deep.
        let mut body = b"PAR1".to_vec();
        let footer = vec![0x3c; 1_000_000];
        body.extend_from_slice(&footer);
        body.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        body.extend_from_slice(b"PAR1");
        assert!(check_parquet_footer(&body).is_err());
    }
}
