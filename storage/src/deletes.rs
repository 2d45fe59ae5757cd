//! Deleted rows: `DELETE FROM t WHERE ...` as delete bitmaps (ClickHouse's lightweight delete:
//! a row mask now, the rows dropped physically when their segment is rewritten).
//!
//! A row has a stable identity while it lives:
//!
//! - in a **persisted** segment: (segment id, row position in the file);
//! - in **memory** (live or sealed): (LSN of the log frame that brought it, row within that
//!   frame). Coalescing small batches and replaying the log keep it (each in-memory block
//!   remembers the frames it holds, [`crate::segment::Block::origins`]).
//!
//! A delete evaluates its predicate over one snapshot of the table, taken under the table's
//! persist lock (so no flush, compaction or retention moves rows until the delete commits),
//! collects the rows per segment, and then, in this order:
//!
//! 1. appends one log frame of kind 3 ([`DeleteFrame`]) and fsyncs it per the table's fsync
//!    policy: the commit point, before the statement is acknowledged;
//! 2. publishes the new bitmaps under the table's state lock, all at once: a query sees all of a
//!    delete or none of it;
//! 3. writes the bitmap of every persisted segment it touched to a sidecar file
//!    ([`write_deletes_file`]) and commits the manifest that names it (write-rename), so that the
//!    log frame may later be truncated. A persist commits any bitmap still unwritten (a failed
//!    step 3, a replayed frame) before it truncates the log.
//!
//! In memory, a block's deleted rows are dropped when the block is persisted; a persisted
//! segment's rows when compaction rewrites it (its bitmap and sidecar go with it). Readers see
//! segments with deletions through [`MaskedSegment`]: zone maps and bitmap indexes stay those of
//! all the rows (a superset is still a correct prune), row counts and reads leave deleted rows
//! out. Rows appended after the delete's snapshot are not deleted (the statement's snapshot
//! semantics). Source offsets and idempotency are untouched: a delete frame carries none.
//!
//! ```text
//! DELETE_FRAME  := version (u8 = 1) n (u32) PERSISTED{n} m (u32) MEMORY{m}
//! PERSISTED     := segment_id (u64) len (u32) BITMAP (len bytes: row positions in the file)
//! MEMORY        := lsn (u64) len (u32) BITMAP (len bytes: rows within that frame)
//! DELETES_FILE  := magic "STRATADL" version (u32 = 1) crc (u32, CRC-32C of BITMAP) BITMAP
//! BITMAP        := a Roaring bitmap, portable serialization
//! ```

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use roaring::RoaringBitmap;

use crate::index::IndexLookup;
use crate::segment::{selection_mask, Segment, SegmentKind, SegmentRef};
use crate::zonemap::Zone;
use crate::{Error, Result};

/// The version of a delete frame's body this build writes and reads.
pub const DELETE_FRAME_VERSION: u8 = 1;
/// Magic bytes of a deletes sidecar file.
pub const DELETES_MAGIC: &[u8; 8] = b"STRATADL";
/// The deletes sidecar format version.
pub const DELETES_VERSION: u32 = 1;

/// The sidecar file of segment `id`'s deleted rows as of the delete at log position `lsn`,
/// relative to the table directory.
pub fn deletes_file(id: u64, lsn: u64) -> String {
    format!("segments/{id:020}.{lsn:020}.del")
}

/// The rows one `DELETE` removed: the body of a log frame of kind 3.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeleteFrame {
    /// Per persisted segment id, row positions in its file.
    pub persisted: Vec<(u64, RoaringBitmap)>,
    /// Per log frame (LSN) of in-memory rows, rows within the frame.
    pub memory: Vec<(u64, RoaringBitmap)>,
}

impl DeleteFrame {
    /// Rows named.
    pub fn rows(&self) -> u64 {
        self.persisted
            .iter()
            .chain(&self.memory)
            .map(|(_, b)| b.len())
            .sum()
    }

    /// The frame body.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![DELETE_FRAME_VERSION];
        for part in [&self.persisted, &self.memory] {
            out.extend_from_slice(&count_u32(part.len())?.to_le_bytes());
            for (key, bitmap) in part {
                out.extend_from_slice(&key.to_le_bytes());
                out.extend_from_slice(&count_u32(bitmap.serialized_size())?.to_le_bytes());
                bitmap
                    .serialize_into(&mut out)
                    .map_err(|e| Error::Internal(format!("serialising a delete bitmap: {e}")))?;
            }
        }
        Ok(out)
    }

    /// Decodes a frame body; the error says what is wrong with it.
    pub fn decode(body: &[u8]) -> std::result::Result<DeleteFrame, String> {
        let mut r = Reader { bytes: body, at: 0 };
        let version = r.take(1)?[0];
        if version != DELETE_FRAME_VERSION {
            return Err(format!(
                "delete frame version {version} is not {DELETE_FRAME_VERSION}"
            ));
        }
        let mut frame = DeleteFrame::default();
        for part in [&mut frame.persisted, &mut frame.memory] {
            let n = r.u32()?;
            for _ in 0..n {
                let key = r.u64()?;
                let len = r.u32()? as usize;
                let bitmap = RoaringBitmap::deserialize_from(r.take(len)?)
                    .map_err(|e| format!("delete bitmap: {e}"))?;
                part.push((key, bitmap));
            }
        }
        if r.at != body.len() {
            return Err(format!(
                "{} bytes after the delete frame",
                body.len() - r.at
            ));
        }
        Ok(frame)
    }
}

fn count_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Internal(format!("a delete frame part of {n} exceeds u32")))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| "delete frame cut short".to_string())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

/// Writes the deleted rows of a persisted segment to `path`, atomically and durably.
pub fn write_deletes_file(path: &Path, rows: &RoaringBitmap) -> Result<()> {
    let mut bitmap = Vec::with_capacity(rows.serialized_size());
    rows.serialize_into(&mut bitmap)
        .map_err(|e| Error::Internal(format!("serialising a delete bitmap: {e}")))?;
    let mut out = Vec::with_capacity(16 + bitmap.len());
    out.extend_from_slice(DELETES_MAGIC);
    out.extend_from_slice(&DELETES_VERSION.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&bitmap).to_le_bytes());
    out.extend_from_slice(&bitmap);
    crate::fsutil::write_atomic(path, &out)
}

/// Reads a deletes sidecar file, checking its magic, version and checksum; every row must be
/// below `rows` (the segment's row count).
pub fn read_deletes_file(path: &Path, rows: u64) -> Result<RoaringBitmap> {
    let bytes = std::fs::read(path).map_err(crate::fsutil::io("read", path))?;
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    };
    if bytes.len() < 16 || &bytes[..8] != DELETES_MAGIC {
        return Err(corrupt("not a deletes file (bad magic)".to_string()));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != DELETES_VERSION {
        return Err(corrupt(format!(
            "deletes file version {version} is not {DELETES_VERSION}"
        )));
    }
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if crc32c::crc32c(&bytes[16..]) != crc {
        return Err(corrupt("deletes file checksum mismatch".to_string()));
    }
    let bitmap = RoaringBitmap::deserialize_from(&bytes[16..])
        .map_err(|e| corrupt(format!("deletes bitmap: {e}")))?;
    if bitmap.max().is_some_and(|m| u64::from(m) >= rows) {
        return Err(corrupt(format!(
            "deletes file names a row beyond the segment's {rows} rows"
        )));
    }
    Ok(bitmap)
}

/// A segment read without its deleted rows. Row ids (index lookups, selections) stay those of
/// the inner segment; zone maps are the inner segment's (a superset of the rows left).
#[derive(Debug)]
pub struct MaskedSegment {
    inner: SegmentRef,
    deleted: Arc<RoaringBitmap>,
    /// The first row id of each block.
    starts: Vec<u32>,
}

impl MaskedSegment {
    /// `inner` without the rows `deleted` (row ids of `inner`, all below its row count).
    pub fn new(inner: SegmentRef, deleted: Arc<RoaringBitmap>) -> MaskedSegment {
        let mut starts = Vec::new();
        let mut row = 0u32;
        for zone in inner.zones() {
            starts.push(row);
            row = row.saturating_add(zone.rows as u32);
        }
        MaskedSegment {
            inner,
            deleted,
            starts,
        }
    }

    /// The segment's deleted rows.
    pub fn deleted(&self) -> &Arc<RoaringBitmap> {
        &self.deleted
    }

    /// Drops the deleted rows from `batches`, the rows of the inner segment from row id `start`
    /// on.
    fn filter(&self, batches: Vec<RecordBatch>, start: u32) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(batches.len());
        let mut offset = start;
        for batch in batches {
            let n = batch.num_rows() as u32;
            let end = offset.saturating_add(n);
            let hit = self.deleted.range_cardinality(offset..end);
            let batch = if hit == 0 {
                batch
            } else {
                let mask = arrow::compute::not(&selection_mask(&self.deleted, offset, n))?;
                arrow::compute::filter_record_batch(&batch, &mask)?
            };
            offset = end;
            if batch.num_rows() > 0 {
                out.push(batch);
            }
        }
        Ok(out)
    }
}

impl Segment for MaskedSegment {
    fn kind(&self) -> SegmentKind {
        self.inner.kind()
    }

    fn num_rows(&self) -> usize {
        self.inner
            .num_rows()
            .saturating_sub(self.deleted.len() as usize)
    }

    fn zones(&self) -> Vec<Arc<Zone>> {
        self.inner.zones()
    }

    fn read_blocks(&self, projected: &SchemaRef, blocks: &[usize]) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for &b in blocks {
            let start = self.starts.get(b).copied().unwrap_or(0);
            out.extend(self.filter(self.inner.read_blocks(projected, &[b])?, start)?);
        }
        Ok(out)
    }

    fn index_lookup(&self, column: &str, lookup: &IndexLookup) -> Result<Option<RoaringBitmap>> {
        Ok(self
            .inner
            .index_lookup(column, lookup)?
            .map(|rows| rows - self.deleted.as_ref()))
    }

    fn read_selected(
        &self,
        projected: &SchemaRef,
        block: usize,
        block_start: u32,
        selection: &RoaringBitmap,
    ) -> Result<Vec<RecordBatch>> {
        let selection = selection - self.deleted.as_ref();
        self.inner
            .read_selected(projected, block, block_start, &selection)
    }
}

/// `segment`, masked when `deleted` names rows.
pub fn masked(segment: SegmentRef, deleted: Option<&Arc<RoaringBitmap>>) -> SegmentRef {
    match deleted {
        Some(d) if !d.is_empty() => Arc::new(MaskedSegment::new(segment, d.clone())),
        _ => segment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{LiveSegment, MemSegment};
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn delete_frames_round_trip_and_damage_is_reported() {
        let frame = DeleteFrame {
            persisted: vec![(3, RoaringBitmap::from_iter([0u32, 5, 9]))],
            memory: vec![
                (7, RoaringBitmap::from_iter([1u32])),
                (9, RoaringBitmap::from_iter(0u32..1000)),
            ],
        };
        let body = frame.encode().unwrap();
        assert_eq!(DeleteFrame::decode(&body).unwrap(), frame);
        assert_eq!(frame.rows(), 1004);
        assert!(DeleteFrame::decode(&body[..body.len() - 1]).is_err());
        let mut longer = body.clone();
        longer.push(0);
        assert!(DeleteFrame::decode(&longer).is_err());
        let mut other = body;
        other[0] = 9;
        assert!(DeleteFrame::decode(&other).unwrap_err().contains("version"));
        assert!(DeleteFrame::decode(&[]).is_err());
    }

    #[test]
    fn deletes_files_round_trip_and_check_their_checksum_and_bounds() {
        let dir = crate::testutil::temp_dir("deletes-file");
        let path = dir.join("x.del");
        let rows = RoaringBitmap::from_iter([2u32, 3, 40]);
        write_deletes_file(&path, &rows).unwrap();
        assert_eq!(read_deletes_file(&path, 41).unwrap(), rows);
        assert!(read_deletes_file(&path, 40).is_err(), "row 40 of 40 rows");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let err = read_deletes_file(&path, 41).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn a_masked_segment_answers_like_a_segment_without_the_rows() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let mut live = LiveSegment::new(schema.clone());
        for (lsn, a) in [(1u64, vec![0i64, 1, 2]), (2, vec![3, 4])] {
            let s: Vec<String> = a.iter().map(|v| format!("v{}", v % 2)).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(a)),
                    Arc::new(StringArray::from(s)),
                ],
            )
            .unwrap();
            live.push(lsn, batch);
        }
        assert!(live.delete(2, &RoaringBitmap::from_iter([0u32])));
        assert!(!live.delete(3, &RoaringBitmap::from_iter([0u32])));
        assert!(
            !live.delete(1, &RoaringBitmap::from_iter([3u32])),
            "a row beyond the frame"
        );
        let mem = MemSegment::new(SegmentKind::Live, live.visible(2));
        let deleted = Arc::new(mem.deleted_rows().unwrap());
        assert_eq!(deleted.iter().collect::<Vec<_>>(), vec![3]);
        let seg = MaskedSegment::new(Arc::new(mem), deleted);
        assert_eq!(seg.num_rows(), 4);
        let values: Vec<i64> = seg
            .read(&schema)
            .unwrap()
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                a.values().to_vec()
            })
            .collect();
        assert_eq!(values, vec![0, 1, 2, 4]);
        let odd = seg
            .index_lookup("s", &IndexLookup::Eq("v1".into()))
            .unwrap()
            .unwrap();
        assert_eq!(
            odd.iter().collect::<Vec<_>>(),
            vec![1],
            "row 3 (v1) is deleted"
        );
        let selected = seg
            .read_selected(&schema, 1, 3, &RoaringBitmap::from_iter([3u32, 4]))
            .unwrap();
        assert_eq!(selected.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        assert_eq!(selected[0].column(0).len(), 1);
    }
}
