//! Arrow IPC streams from outside the process: log frame bodies read back from disk, and (through
//! `strata-ingest`) Arrow IPC request bodies.
//!
//! arrow-ipc 60 slices a message body with the offset and length of each buffer as the message
//! metadata gives them, unchecked, and panics when they point past the body (found by the
//! `wal_replay` and `arrow_ipc` fuzz targets, `docs/fuzzing.md`). [`check_stream`] checks them
//! first, so a damaged stream is an error, not a panic.

use std::collections::VecDeque;

use arrow::datatypes::{DataType, Schema, UnionMode};
use arrow::ipc::convert::try_fb_to_schema;
use arrow::ipc::{root_as_message, MessageHeader, MetadataVersion};

/// The continuation marker that precedes a message's metadata length in an IPC stream.
const CONTINUATION_MARKER: u32 = 0xFFFF_FFFF;

fn read_u32(bytes: &[u8], pos: usize) -> Option<u32> {
    let b = bytes.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Walks the messages of an Arrow IPC stream and checks that every buffer of every record batch
/// and dictionary batch lies inside its message body (arrow-ipc 60 slices the body with them
/// unchecked), that the offsets, sizes and views buffers of each record batch and dictionary
/// batch hold a whole number of values (arrow-data's offset validation asserts on a partial one;
/// every buffer the reader will take is checked, however many the message lists), and that no
/// column is a union (arrow-ipc slices a union's type ids unchecked; Strata stores none), and
/// that no batch claims more rows than its body can hold (8 per byte).
/// Framing the reader itself refuses (a short read, a bad flatbuffer, a negative length) ends the
/// walk: the reader reports it.
pub fn check_stream(body: &[u8]) -> Result<(), String> {
    let mut pos = 0usize;
    let mut message_number = 0usize;
    let mut schema: Option<Schema> = None;
    loop {
        let Some(mut meta_len) = read_u32(body, pos) else {
            return Ok(());
        };
        pos += 4;
        if meta_len == CONTINUATION_MARKER {
            let Some(len) = read_u32(body, pos) else {
                return Ok(());
            };
            meta_len = len;
            pos += 4;
        }
        // Zero is the end-of-stream marker; a negative length is the reader's error.
        let Ok(meta_len) = usize::try_from(meta_len as i32) else {
            return Ok(());
        };
        if meta_len == 0 {
            return Ok(());
        }
        let Some(meta) = pos.checked_add(meta_len).and_then(|end| body.get(pos..end)) else {
            return Ok(());
        };
        pos += meta_len;
        let Ok(message) = root_as_message(meta) else {
            return Ok(());
        };
        let Ok(body_len) = usize::try_from(message.bodyLength()) else {
            return Ok(());
        };
        if pos.checked_add(body_len).is_none_or(|end| end > body.len()) {
            return Ok(());
        }
        if message.header_type() == MessageHeader::Schema {
            schema = message
                .header_as_schema()
                .and_then(|fb| try_fb_to_schema(fb).ok());
            // arrow-ipc 60 slices a union's type ids and offsets by the node's length
            // unchecked, and Strata stores no union column: refuse them before it reads one.
            if let Some(field) = schema
                .as_ref()
                .and_then(|s| s.fields().iter().find(|f| has_union(f.data_type())))
            {
                return Err(format!(
                    "message {message_number}: column \"{}\" is of a union type ({}), which \
                     Strata does not store; send it as a struct or as separate columns",
                    field.name(),
                    field.data_type()
                ));
            }
        }
        let batch = match message.header_type() {
            MessageHeader::RecordBatch => message.header_as_record_batch(),
            MessageHeader::DictionaryBatch => message
                .header_as_dictionary_batch()
                .and_then(|dictionary| dictionary.data()),
            _ => None,
        };
        if let Some(buffers) = batch.and_then(|batch| batch.buffers()) {
            for (i, buffer) in buffers.iter().enumerate() {
                let inside = u64::try_from(buffer.offset())
                    .ok()
                    .zip(u64::try_from(buffer.length()).ok())
                    .and_then(|(offset, length)| offset.checked_add(length))
                    .is_some_and(|end| end <= body_len as u64);
                if !inside {
                    return Err(format!(
                        "message {message_number}: buffer {i} (offset {}, length {}) lies outside \
                         the message body of {body_len} bytes",
                        buffer.offset(),
                        buffer.length()
                    ));
                }
            }
        }
        // A dictionary batch is read as a record batch of one column, of its dictionary's value
        // type (the first field with its id, as arrow-ipc does).
        let dictionary_values = match (&schema, message.header_as_dictionary_batch()) {
            (Some(schema), Some(dictionary)) => {
                #[expect(deprecated)]
                let fields = schema.fields_with_dict_id(dictionary.id());
                match fields.first().map(|f| f.data_type()) {
                    Some(DataType::Dictionary(_, value)) => dictionary.data().map(|data| {
                        (
                            Schema::new(vec![arrow::datatypes::Field::new(
                                "",
                                value.as_ref().clone(),
                                true,
                            )]),
                            data,
                        )
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        let checked = match (&schema, message.header_as_record_batch()) {
            (Some(schema), Some(batch)) if message.header_type() == MessageHeader::RecordBatch => {
                Some((schema.clone(), batch))
            }
            _ => dictionary_values,
        };
        if let Some((schema, batch)) = &checked {
            // Every column but a NULL-typed one takes at least a bit per row in the body, so a
            // row count beyond 8 per body byte is a lie; believed, it costs no memory to decode
            // (a NULL column) but a table's other columns are then filled with that many NULLs.
            let rows = batch.length();
            let most = (body_len as i64).saturating_mul(8).saturating_add(8);
            // A negative count is read as a huge one (arrow-ipc casts it to usize).
            if rows < 0 || rows > most {
                return Err(format!(
                    "message {message_number}: a batch of {rows} rows in a body of {body_len} \
                     bytes (at most {most} rows fit)"
                ));
            }
            let v4 = message.version() < MetadataVersion::V5;
            let mut variadic: VecDeque<i64> = batch
                .variadicBufferCounts()
                .map(|counts| counts.iter().collect())
                .unwrap_or_default();
            let mut widths = Vec::new();
            // The widths of the columns' buffers, in the reader's order, up to a layout this
            // walk does not know. The reader takes buffers in that order and builds each
            // column before it asks for the next one's, so a message with too few or too
            // many buffers still has its leading ones read: check every buffer a width is
            // known for.
            let _ = schema
                .fields()
                .iter()
                .all(|f| buffer_widths(f.data_type(), v4, &mut variadic, &mut widths));
            for (i, (buffer, width)) in batch.buffers().iter().flatten().zip(&widths).enumerate() {
                if let Some(width) = width {
                    if buffer.length() % *width as i64 != 0 {
                        return Err(format!(
                            "message {message_number}: buffer {i} of {} bytes is not a \
                                     whole number of {width}-byte values",
                            buffer.length()
                        ));
                    }
                }
            }
        }
        pos += body_len;
        message_number += 1;
    }
}

/// True when `data_type` is or holds a union.
fn has_union(data_type: &DataType) -> bool {
    match data_type {
        DataType::Union(_, _) => true,
        DataType::List(child)
        | DataType::LargeList(child)
        | DataType::ListView(child)
        | DataType::LargeListView(child)
        | DataType::FixedSizeList(child, _)
        | DataType::Map(child, _) => has_union(child.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_union(f.data_type())),
        DataType::Dictionary(_, value) => has_union(value),
        DataType::RunEndEncoded(run_ends, values) => {
            has_union(run_ends.data_type()) || has_union(values.data_type())
        }
        _ => false,
    }
}

/// Appends, for each buffer a column of type `data_type` takes in a record batch (in the order of
/// arrow-ipc's reader), the width its length must be a multiple of (`None`: any length). False
/// for a type whose layout this does not know.
fn buffer_widths(
    data_type: &DataType,
    v4: bool,
    variadic: &mut VecDeque<i64>,
    out: &mut Vec<Option<usize>>,
) -> bool {
    match data_type {
        DataType::Null => true,
        DataType::Utf8 | DataType::Binary => {
            out.extend([None, Some(4), None]);
            true
        }
        DataType::LargeUtf8 | DataType::LargeBinary => {
            out.extend([None, Some(8), None]);
            true
        }
        DataType::Utf8View | DataType::BinaryView => {
            let Some(count) = variadic.pop_front().and_then(|c| usize::try_from(c).ok()) else {
                return false;
            };
            out.extend([None, Some(16)]);
            out.extend(std::iter::repeat_n(None, count));
            true
        }
        DataType::List(child) | DataType::Map(child, _) => {
            out.extend([None, Some(4)]);
            buffer_widths(child.data_type(), v4, variadic, out)
        }
        DataType::LargeList(child) => {
            out.extend([None, Some(8)]);
            buffer_widths(child.data_type(), v4, variadic, out)
        }
        DataType::ListView(child) => {
            out.extend([None, Some(4), Some(4)]);
            buffer_widths(child.data_type(), v4, variadic, out)
        }
        DataType::LargeListView(child) => {
            out.extend([None, Some(8), Some(8)]);
            buffer_widths(child.data_type(), v4, variadic, out)
        }
        DataType::FixedSizeList(child, _) => {
            out.push(None);
            buffer_widths(child.data_type(), v4, variadic, out)
        }
        DataType::Struct(fields) => {
            out.push(None);
            fields
                .iter()
                .all(|f| buffer_widths(f.data_type(), v4, variadic, out))
        }
        DataType::RunEndEncoded(run_ends, values) => {
            buffer_widths(run_ends.data_type(), v4, variadic, out)
                && buffer_widths(values.data_type(), v4, variadic, out)
        }
        DataType::Union(fields, mode) => {
            if v4 {
                out.push(None);
            }
            out.push(None);
            if *mode == UnionMode::Dense {
                out.push(Some(4));
            }
            fields
                .iter()
                .all(|(_, f)| buffer_widths(f.data_type(), v4, variadic, out))
        }
        // Dictionary indices and every fixed-width type: validity and values.
        _ => {
            out.extend([None, None]);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_framing_is_left_to_the_reader() {
        for body in [
            &b""[..],
            b"\xff\xff",
            b"\xff\xff\xff\xff",
            b"\x10\x00\x00\x00abc",
        ] {
            assert!(check_stream(body).is_ok());
        }
    }

    #[test]
    fn a_union_column_is_refused_before_the_reader_slices_it() {
        // Found by the arrow_ipc fuzz target: a union whose type ids buffer is shorter than its
        // length made arrow-ipc's reader panic slicing it.
        let body = include_bytes!(
            "../../fuzz/regressions/arrow_ipc/union-type-ids-shorter-than-its-length"
        );
        let err = check_stream(body).err();
        assert!(
            err.as_deref().is_some_and(|e| e.contains("union type")),
            "{err:?}"
        );
    }

    #[test]
    fn a_buffer_past_its_message_body_is_refused() {
        // Found by the arrow_ipc fuzz target: a buffer of 4 TiB in a 192-byte body.
        let body = include_bytes!("../../fuzz/regressions/arrow_ipc/buffer-past-message-body");
        let err = check_stream(body).err();
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("outside the message body")),
            "{err:?}"
        );
    }
}
