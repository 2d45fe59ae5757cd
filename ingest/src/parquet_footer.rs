//! The nesting depth of a Parquet file's schema, read from its footer before the `parquet`
//! crate sees it.
//!
//! The crate turns the footer's flat list of schema elements into a tree recursively, one
//! stack frame per level: a 35 KB file whose schema nests 3,000 groups deep overflowed a 2 MiB
//! stack. Strata stores flat rows and refuses nested columns anyway, so a file nested deeper
//! than the limit is refused before the crate builds anything.
//!
//! The footer is Thrift's compact protocol (`FileMetaData`, parquet-format's `parquet.thrift`):
//!
//! ```text
//! FILE     := "PAR1" ... FOOTER footer_len:u32le "PAR1"
//! FOOTER   := struct FileMetaData { 1: version i32, 2: schema list<SchemaElement>, ... }
//! SchemaElement := struct { 4: name binary, 5: num_children i32, ... }
//! ```
//!
//! Only field 2 of `FileMetaData` and field 5 of each `SchemaElement` are read; every other
//! field is skipped without recursion (an explicit stack of open structs, itself bounded), so
//! no footer can make this walk deep either.

/// Thrift compact protocol type codes.
mod ty {
    pub const STOP: u8 = 0;
    pub const TRUE: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const BINARY: u8 = 8;
    pub const LIST: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const UUID: u8 = 13;
}

/// How deeply skipped Thrift structs and containers may nest inside one footer field (the
/// parquet-format structs nest four or five deep).
const SKIP_DEPTH_MAX: usize = 64;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or("the footer ends in the middle of a value")?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint in the footer is longer than 10 bytes".to_string())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn skip_bytes(&mut self, n: u64) -> Result<(), String> {
        let n = usize::try_from(n).map_err(|_| "a length in the footer is too large")?;
        if self.bytes.len() - self.at < n {
            return Err("a length in the footer runs past its end".to_string());
        }
        self.at += n;
        Ok(())
    }

    /// A field header: (type, field id), or `None` at the struct's end.
    fn field(&mut self, last_id: &mut i16) -> Result<Option<(u8, i16)>, String> {
        let header = self.byte()?;
        let kind = header & 0x0f;
        if kind == ty::STOP {
            return Ok(None);
        }
        let delta = header >> 4;
        let id = if delta == 0 {
            i16::try_from(self.zigzag()?).map_err(|_| "a field id in the footer is too large")?
        } else {
            last_id.wrapping_add(i16::from(delta))
        };
        *last_id = id;
        Ok(Some((kind, id)))
    }

    /// A list or set header: (element type, size).
    fn list_header(&mut self) -> Result<(u8, u64), String> {
        let header = self.byte()?;
        let size = match header >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        Ok((header & 0x0f, size))
    }

    /// Skips one value of type `kind`, iteratively.
    fn skip(&mut self, kind: u8) -> Result<(), String> {
        // What is open: a struct (its last field id) or a container (element types, count left).
        enum Open {
            Struct(i16),
            Items {
                kinds: [u8; 2],
                left: u64,
                next: usize,
            },
        }
        let mut stack: Vec<Open> = Vec::new();
        let mut pending = Some(kind);
        loop {
            if let Some(kind) = pending.take() {
                match kind {
                    ty::TRUE | ty::FALSE => {}
                    ty::BYTE => self.skip_bytes(1)?,
                    ty::I16 | ty::I32 | ty::I64 => {
                        self.varint()?;
                    }
                    ty::DOUBLE => self.skip_bytes(8)?,
                    ty::UUID => self.skip_bytes(16)?,
                    ty::BINARY => {
                        let n = self.varint()?;
                        self.skip_bytes(n)?;
                    }
                    ty::LIST | ty::SET => {
                        let (element, left) = self.list_header()?;
                        stack.push(Open::Items {
                            kinds: [element, element],
                            left,
                            next: 0,
                        });
                    }
                    ty::MAP => {
                        let left = self.varint()?;
                        let kinds = if left > 0 {
                            let k = self.byte()?;
                            [k >> 4, k & 0x0f]
                        } else {
                            [0, 0]
                        };
                        stack.push(Open::Items {
                            kinds,
                            left: left.saturating_mul(2),
                            next: 0,
                        });
                    }
                    ty::STRUCT => stack.push(Open::Struct(0)),
                    other => return Err(format!("unknown Thrift type {other} in the footer")),
                }
                if stack.len() > SKIP_DEPTH_MAX {
                    return Err("the footer's structures nest too deeply".to_string());
                }
            }
            let Some(top) = stack.last_mut() else {
                return Ok(());
            };
            match top {
                Open::Struct(last) => match self.field(last)? {
                    Some((kind, _)) => pending = Some(kind),
                    None => {
                        stack.pop();
                    }
                },
                Open::Items { kinds, left, next } => {
                    if *left == 0 {
                        stack.pop();
                    } else {
                        *left -= 1;
                        let kind = kinds[*next % 2];
                        *next += 1;
                        // A boolean inside a container is a whole byte.
                        if kind == ty::TRUE || kind == ty::FALSE {
                            self.skip_bytes(1)?;
                        } else {
                            pending = Some(kind);
                        }
                    }
                }
            }
        }
    }
}

/// The nesting depth of the schema of the Parquet file `body` (a flat table is 1), or why the
/// footer cannot be read. Files whose footer is encrypted (`PARE`) are left to the reader.
pub(crate) fn schema_depth(body: &[u8]) -> Result<Option<usize>, String> {
    let n = body.len();
    if n < 12 || &body[n - 4..] != b"PAR1" {
        return Ok(None);
    }
    let len = u32::from_le_bytes([body[n - 8], body[n - 7], body[n - 6], body[n - 5]]) as usize;
    if len > n - 8 {
        return Err(format!(
            "the footer claims {len} bytes but the file has {}",
            n - 8
        ));
    }
    let mut r = Reader {
        bytes: &body[n - 8 - len..n - 8],
        at: 0,
    };
    let mut last = 0i16;
    while let Some((kind, id)) = r.field(&mut last)? {
        if id != 2 || kind != ty::LIST {
            r.skip(kind)?;
            continue;
        }
        let (element, count) = r.list_header()?;
        if element != ty::STRUCT {
            return Err("the footer's schema is not a list of structs".to_string());
        }
        // Children still expected at each open level of the schema tree.
        let mut open: Vec<u64> = Vec::new();
        let mut deepest = 0;
        for _ in 0..count {
            let mut children = 0u64;
            let mut last = 0i16;
            while let Some((kind, id)) = r.field(&mut last)? {
                if id == 5 && kind == ty::I32 {
                    children = u64::try_from(r.zigzag()?.max(0)).unwrap_or(0);
                } else {
                    r.skip(kind)?;
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
        return Ok(Some(deepest));
    }
    Err("the footer has no schema".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::record_batch::RecordBatch;

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
        assert_eq!(schema_depth(&out), Ok(Some(1)));
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
        let w = parquet::file::writer::SerializedFileWriter::new(&mut out, Arc::new(schema), props)
            .unwrap();
        w.close().unwrap();
        // The root, ten groups.
        assert_eq!(schema_depth(&out), Ok(Some(11)));
    }

    #[test]
    fn broken_footers_are_errors_not_panics() {
        assert_eq!(schema_depth(b"not parquet"), Ok(None));
        let mut body = b"PAR1".to_vec();
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
        body.extend_from_slice(b"PAR1");
        assert!(schema_depth(&body).is_err());
        // A footer of nested struct headers (type 12 in field 3) a million deep.
        let mut body = b"PAR1".to_vec();
        let footer = vec![0x3c; 1_000_000];
        body.extend_from_slice(&footer);
        body.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        body.extend_from_slice(b"PAR1");
        assert!(schema_depth(&body).is_err());
    }
}
