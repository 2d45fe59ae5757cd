//! Bitmap indexes: for every indexed column of a block of rows, its dictionary (the distinct
//! non-NULL values, in ascending byte order) and one Roaring bitmap of row ids per value, plus
//! the bitmap of NULL rows. A query answers `=`, `IN`, prefix `LIKE` and `IS [NOT] NULL` on an
//! indexed column from them without reading the column (see `strata-query`'s `exec::index`).
//!
//! Which columns are indexed is a table option (`WITH (indexes = 'a, b')`); by default every
//! string column is. Indexes are built once per block of rows:
//!
//! - a **live** segment builds one per batch when the batch arrives (and rebuilds it when small
//!   batches are coalesced), so a snapshot, which holds whole batches, never sees a row id
//!   beyond its rows;
//! - a **persisted** segment has one for the whole file, written at persist and at compaction to
//!   a sidecar file next to the Parquet file (`segments/<id>.idx`, grammar in `docs/format.md`)
//!   and read the first time a query asks it something.
//!
//! Row ids are positions in the block (or file) they index: `u32`, so a segment holds at most
//! 2^32 - 1 rows (segments are sealed at a million by default).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use roaring::RoaringBitmap;

use crate::fsutil::io;
use crate::{Error, Result};

/// The first (and last) eight bytes of a sidecar index file.
pub const INDEX_MAGIC: [u8; 8] = *b"STRAIDX\x01";
/// The sidecar format version this build writes and reads.
pub const INDEX_FORMAT_VERSION: u32 = 1;
/// The file extension of sidecar index files.
pub const INDEX_FILE_EXTENSION: &str = "idx";

/// What a query asks a column's index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexLookup {
    /// Rows whose value equals the string.
    Eq(String),
    /// Rows whose value equals one of the strings.
    In(Vec<String>),
    /// Rows whose value starts with the string (`LIKE 'abc%'`).
    Prefix(String),
    /// NULL rows.
    IsNull,
    /// Non-NULL rows.
    IsNotNull,
}

/// Whether a column of type `dt` can have a bitmap index: strings (`Utf8`, and dictionaries of
/// `Utf8`).
pub fn indexable(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 => true,
        DataType::Dictionary(_, value) => value.as_ref() == &DataType::Utf8,
        _ => false,
    }
}

/// The columns of `schema` that get an index under the table option `spec`: `None` (the
/// default) indexes every string column; `Some(names)` indexes the named string columns.
pub fn indexed_columns(spec: Option<&[String]>, schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .filter(|f| indexable(f.data_type()))
        .filter(|f| spec.is_none_or(|names| names.iter().any(|n| n == f.name())))
        .map(|f| f.name().clone())
        .collect()
}

/// The index of one column over one block of rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnIndex {
    /// The distinct non-NULL values, ascending by bytes.
    values: Vec<String>,
    /// The rows of each value (same order as `values`).
    bitmaps: Vec<RoaringBitmap>,
    /// The NULL rows.
    nulls: RoaringBitmap,
    /// The rows of the block.
    rows: u32,
}

impl ColumnIndex {
    /// Builds the index of a string column (`Utf8` or a dictionary of `Utf8`). `None` for other
    /// types or more than `u32::MAX` rows.
    pub fn build(column: &ArrayRef) -> Option<ColumnIndex> {
        if !indexable(column.data_type()) || column.len() > u32::MAX as usize {
            return None;
        }
        let strings;
        let array: &StringArray = match column.data_type() {
            DataType::Utf8 => column.as_string::<i32>(),
            _ => {
                strings = cast(column, &DataType::Utf8).ok()?;
                strings.as_string::<i32>()
            }
        };
        // Codes in order of first appearance, then row ids per code (ascending by
        // construction), then the dictionary sorted.
        let mut codes: HashMap<&str, u32> = HashMap::new();
        let mut rows_of: Vec<Vec<u32>> = Vec::new();
        let mut nulls = RoaringBitmap::new();
        for (row, value) in array.iter().enumerate() {
            let row = row as u32;
            match value {
                None => {
                    let _ = nulls.try_push(row);
                }
                Some(v) => {
                    let next = rows_of.len() as u32;
                    let code = *codes.entry(v).or_insert(next);
                    if code == next {
                        rows_of.push(Vec::new());
                    }
                    rows_of[code as usize].push(row);
                }
            }
        }
        let mut entries: Vec<(&str, u32)> = codes.into_iter().collect();
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut values = Vec::with_capacity(entries.len());
        let mut bitmaps = Vec::with_capacity(entries.len());
        for (value, code) in entries {
            values.push(value.to_string());
            let rows = std::mem::take(&mut rows_of[code as usize]);
            let mut bitmap = RoaringBitmap::new();
            bitmap.append(rows).ok()?;
            bitmap.optimize();
            bitmaps.push(bitmap);
        }
        nulls.optimize();
        Some(ColumnIndex {
            values,
            bitmaps,
            nulls,
            rows: array.len() as u32,
        })
    }

    /// The rows of the block.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// The distinct non-NULL values, ascending by bytes.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The NULL rows.
    pub fn nulls(&self) -> &RoaringBitmap {
        &self.nulls
    }

    fn position(&self, value: &str) -> Option<usize> {
        self.values
            .binary_search_by(|v| v.as_bytes().cmp(value.as_bytes()))
            .ok()
    }

    /// The rows that satisfy `lookup`.
    pub fn lookup(&self, lookup: &IndexLookup) -> RoaringBitmap {
        match lookup {
            IndexLookup::Eq(value) => self
                .position(value)
                .map(|i| self.bitmaps[i].clone())
                .unwrap_or_default(),
            IndexLookup::In(values) => {
                let mut out = RoaringBitmap::new();
                for v in values {
                    if let Some(i) = self.position(v) {
                        out |= &self.bitmaps[i];
                    }
                }
                out
            }
            IndexLookup::Prefix(prefix) => {
                let p = prefix.as_bytes();
                let start = self.values.partition_point(|v| v.as_bytes() < p);
                let end =
                    start + self.values[start..].partition_point(|v| v.as_bytes().starts_with(p));
                let mut out = RoaringBitmap::new();
                for b in &self.bitmaps[start..end] {
                    out |= b;
                }
                out
            }
            IndexLookup::IsNull => self.nulls.clone(),
            IndexLookup::IsNotNull => {
                let mut all = RoaringBitmap::new();
                all.insert_range(0..self.rows);
                all - &self.nulls
            }
        }
    }

    /// Bytes of memory held (approximately).
    pub fn memory_bytes(&self) -> usize {
        self.values.iter().map(|v| v.len() + 24).sum::<usize>()
            + self
                .bitmaps
                .iter()
                .map(|b| std::mem::size_of::<RoaringBitmap>() + b.serialized_size())
                .sum::<usize>()
            + self.nulls.serialized_size()
    }
}

/// The indexes of the indexed columns of one block of rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockIndex {
    /// The rows of the block.
    pub rows: u32,
    /// Per indexed column (by name).
    pub columns: BTreeMap<String, Arc<ColumnIndex>>,
}

impl BlockIndex {
    /// Indexes the columns `indexed` of `batch` (columns it lacks or cannot index are skipped).
    pub fn build(batch: &RecordBatch, indexed: &[String]) -> BlockIndex {
        let mut columns = BTreeMap::new();
        if batch.num_rows() <= u32::MAX as usize {
            for name in indexed {
                if let Some(index) = batch.column_by_name(name).and_then(ColumnIndex::build) {
                    columns.insert(name.clone(), Arc::new(index));
                }
            }
        }
        BlockIndex {
            rows: batch.num_rows().min(u32::MAX as usize) as u32,
            columns,
        }
    }

    /// The rows that satisfy `lookup` on `column`; `None` when the column is not indexed.
    pub fn lookup(&self, column: &str, lookup: &IndexLookup) -> Option<RoaringBitmap> {
        self.columns.get(column).map(|c| c.lookup(lookup))
    }

    /// Serialises the index as a sidecar file body (see `docs/format.md`).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.extend_from_slice(&INDEX_MAGIC);
        put_u32(&mut out, INDEX_FORMAT_VERSION);
        put_u32(&mut out, self.rows);
        put_u32(&mut out, len_u32(self.columns.len())?);
        for (name, column) in &self.columns {
            put_bytes(&mut out, name.as_bytes())?;
            put_u32(&mut out, len_u32(column.values.len())?);
            put_u32(&mut out, column.rows);
            put_bitmap(&mut out, &column.nulls)?;
            for (value, bitmap) in column.values.iter().zip(&column.bitmaps) {
                put_bytes(&mut out, value.as_bytes())?;
                put_bitmap(&mut out, bitmap)?;
            }
        }
        let checksum = crc32c::crc32c(&out);
        put_u32(&mut out, checksum);
        out.extend_from_slice(&INDEX_MAGIC);
        Ok(out)
    }

    /// Parses a sidecar file body; `path` names the file in errors. Every length, the checksum,
    /// the dictionary order and every row id are checked: damage is an [`Error::Corrupt`],
    /// never a panic.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<BlockIndex> {
        let corrupt = |offset: usize, reason: String| Error::Corrupt {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
        };
        let header = INDEX_MAGIC.len() + 12;
        let footer = 4 + INDEX_MAGIC.len();
        if bytes.len() < header + footer {
            return Err(corrupt(
                0,
                format!(
                    "index file is {} bytes, shorter than its header and footer",
                    bytes.len()
                ),
            ));
        }
        if bytes[..8] != INDEX_MAGIC {
            return Err(corrupt(
                0,
                "not a Strata index file (bad magic)".to_string(),
            ));
        }
        let end = bytes.len() - footer;
        if bytes[bytes.len() - 8..] != INDEX_MAGIC {
            return Err(corrupt(
                bytes.len() - 8,
                "index file is truncated (bad trailing magic)".to_string(),
            ));
        }
        let stored =
            u32::from_le_bytes([bytes[end], bytes[end + 1], bytes[end + 2], bytes[end + 3]]);
        let actual = crc32c::crc32c(&bytes[..end]);
        if stored != actual {
            return Err(corrupt(
                end,
                format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"),
            ));
        }
        let mut r = Reader {
            bytes: &bytes[..end],
            pos: 8,
        };
        let version = r.u32().map_err(|o| corrupt(o, "truncated header".into()))?;
        if version != INDEX_FORMAT_VERSION {
            return Err(corrupt(
                8,
                format!(
                    "index format version {version}; this build reads version \
                     {INDEX_FORMAT_VERSION}"
                ),
            ));
        }
        let rows = r.u32().map_err(|o| corrupt(o, "truncated header".into()))?;
        let count = r.u32().map_err(|o| corrupt(o, "truncated header".into()))?;
        let mut columns = BTreeMap::new();
        for _ in 0..count {
            let (name, column) = read_column(&mut r, rows).map_err(|(o, why)| corrupt(o, why))?;
            columns.insert(name, Arc::new(column));
        }
        if r.pos != r.bytes.len() {
            return Err(corrupt(
                r.pos,
                "trailing bytes after the last column".to_string(),
            ));
        }
        Ok(BlockIndex { rows, columns })
    }

    /// Writes the index to `path` through a temporary file that is fsynced and renamed into
    /// place (the caller fsyncs the directory). Returns the bytes written.
    pub fn write_file(&self, path: &Path) -> Result<u64> {
        use std::io::Write;
        let bytes = self.to_bytes()?;
        let tmp = path.with_extension(format!("{INDEX_FILE_EXTENSION}.tmp"));
        let written = (|| {
            let mut file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
            file.write_all(&bytes).map_err(io("write", &tmp))?;
            file.sync_all().map_err(io("fsync", &tmp))?;
            drop(file);
            std::fs::rename(&tmp, path).map_err(io("rename", path))
        })();
        if let Err(e) = written {
            crate::fsutil::remove_quietly(&tmp);
            return Err(e);
        }
        Ok(bytes.len() as u64)
    }

    /// Reads the sidecar file at `path`.
    pub fn read_file(path: &Path) -> Result<BlockIndex> {
        let bytes = std::fs::read(path).map_err(io("read index", path))?;
        BlockIndex::from_bytes(&bytes, path)
    }

    /// Bytes of memory held (approximately).
    pub fn memory_bytes(&self) -> usize {
        self.columns.values().map(|c| c.memory_bytes()).sum()
    }
}

fn len_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Internal(format!("index length {n} exceeds u32")))
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    put_u32(out, len_u32(b.len())?);
    out.extend_from_slice(b);
    Ok(())
}

fn put_bitmap(out: &mut Vec<u8>, bitmap: &RoaringBitmap) -> Result<()> {
    put_u32(out, len_u32(bitmap.serialized_size())?);
    bitmap
        .serialize_into(&mut *out)
        .map_err(|e| Error::Internal(format!("serialising a bitmap: {e}")))
}

/// A bounds-checked cursor; errors carry the offset where the read failed.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], usize> {
        let end = self.pos.checked_add(n).ok_or(self.pos)?;
        let slice = self.bytes.get(self.pos..end).ok_or(self.pos)?;
        self.pos = end;
        Ok(slice)
    }

    fn u32(&mut self) -> std::result::Result<u32, usize> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> std::result::Result<String, (usize, String)> {
        let at = self.pos;
        let len = self
            .u32()
            .map_err(|o| (o, "truncated string".to_string()))?;
        let b = self
            .take(len as usize)
            .map_err(|o| (o, format!("string of {len} bytes runs past the end")))?;
        String::from_utf8(b.to_vec()).map_err(|_| (at, "string is not UTF-8".to_string()))
    }

    fn bitmap(&mut self, rows: u32) -> std::result::Result<RoaringBitmap, (usize, String)> {
        let at = self.pos;
        let len = self
            .u32()
            .map_err(|o| (o, "truncated bitmap".to_string()))?;
        let b = self
            .take(len as usize)
            .map_err(|o| (o, format!("bitmap of {len} bytes runs past the end")))?;
        let bitmap =
            RoaringBitmap::deserialize_from(b).map_err(|e| (at, format!("bad bitmap: {e}")))?;
        if bitmap.max().is_some_and(|m| m >= rows) {
            return Err((at, format!("bitmap names a row beyond the {rows} rows")));
        }
        Ok(bitmap)
    }
}

fn read_column(
    r: &mut Reader<'_>,
    segment_rows: u32,
) -> std::result::Result<(String, ColumnIndex), (usize, String)> {
    let name = r.string()?;
    let truncated = |o| (o, format!("column {name}: truncated"));
    let count = r.u32().map_err(truncated)?;
    let rows = r.u32().map_err(truncated)?;
    if rows != segment_rows {
        return Err((
            r.pos,
            format!("column {name} indexes {rows} rows, the file {segment_rows}"),
        ));
    }
    let nulls = r.bitmap(rows)?;
    // Each value takes at least 8 bytes: bound the allocation by what the file can hold.
    let mut values = Vec::with_capacity((count as usize).min(r.bytes.len() / 8));
    let mut bitmaps = Vec::with_capacity(values.capacity());
    for _ in 0..count {
        let at = r.pos;
        let value = r.string()?;
        if values
            .last()
            .is_some_and(|prev: &String| prev.as_bytes() >= value.as_bytes())
        {
            return Err((
                at,
                format!("column {name}: dictionary is not in ascending order"),
            ));
        }
        values.push(value);
        bitmaps.push(r.bitmap(rows)?);
    }
    Ok((
        name,
        ColumnIndex {
            values,
            bitmaps,
            nulls,
            rows,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    fn sample() -> BlockIndex {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "s",
                Arc::new(StringArray::from(vec![
                    Some("b"),
                    None,
                    Some("ab"),
                    Some("b"),
                    Some("a"),
                    None,
                ])) as ArrayRef,
            ),
            (
                "n",
                Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3, 4, 5, 6])) as ArrayRef,
            ),
        ])
        .unwrap();
        BlockIndex::build(&batch, &["s".to_string(), "n".to_string()])
    }

    fn rows(b: RoaringBitmap) -> Vec<u32> {
        b.iter().collect()
    }

    #[test]
    fn lookups_answer_equality_in_prefix_and_nulls() {
        let index = sample();
        assert_eq!(index.columns.len(), 1, "only the string column is indexed");
        let l = |q: IndexLookup| rows(index.lookup("s", &q).unwrap());
        assert_eq!(l(IndexLookup::Eq("b".into())), vec![0, 3]);
        assert_eq!(l(IndexLookup::Eq("zz".into())), Vec::<u32>::new());
        assert_eq!(
            l(IndexLookup::In(vec!["a".into(), "b".into(), "q".into()])),
            vec![0, 3, 4]
        );
        assert_eq!(l(IndexLookup::Prefix("a".into())), vec![2, 4]);
        assert_eq!(l(IndexLookup::Prefix("".into())), vec![0, 2, 3, 4]);
        assert_eq!(l(IndexLookup::IsNull), vec![1, 5]);
        assert_eq!(l(IndexLookup::IsNotNull), vec![0, 2, 3, 4]);
        assert!(index.lookup("n", &IndexLookup::IsNull).is_none());
    }

    #[test]
    fn sidecar_round_trips() {
        let index = sample();
        let dir = crate::testutil::temp_dir("index-roundtrip");
        let path = dir.join("1.idx");
        index.write_file(&path).unwrap();
        assert_eq!(BlockIndex::read_file(&path).unwrap(), index);
        let empty = BlockIndex::default();
        let bytes = empty.to_bytes().unwrap();
        assert_eq!(BlockIndex::from_bytes(&bytes, &path).unwrap(), empty);
    }

    #[test]
    fn damaged_sidecars_are_clear_errors_not_panics() {
        let path = Path::new("x.idx");
        let good = sample().to_bytes().unwrap();
        let err = |bytes: &[u8]| match BlockIndex::from_bytes(bytes, path) {
            Err(Error::Corrupt { reason, .. }) => reason,
            other => panic!("expected a corruption error, got {other:?}"),
        };
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(err(&bad_magic).contains("bad magic"));
        let mut flipped = good.clone();
        flipped[30] ^= 0x40;
        assert!(err(&flipped).contains("checksum"));
        assert!(err(&good[..good.len() - 3]).contains("magic"));
        assert!(err(&good[..10]).contains("shorter"));
        // Every truncation and every single-byte change is rejected or parses; none panics.
        for cut in 0..good.len() {
            let _ = BlockIndex::from_bytes(&good[..cut], path);
        }
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] = b[i].wrapping_add(1);
            assert!(BlockIndex::from_bytes(&b, path).is_err(), "byte {i}");
        }
    }

    #[test]
    fn default_spec_indexes_every_string_column() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        assert_eq!(indexed_columns(None, &schema), vec!["a", "b"]);
        assert_eq!(
            indexed_columns(Some(&["b".to_string(), "n".to_string()]), &schema),
            vec!["b"]
        );
        assert!(indexed_columns(Some(&[]), &schema).is_empty());
    }
}
