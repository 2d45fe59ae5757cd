//! Arrow IPC streams from outside the process: log frame bodies read back from disk, and (through
//! `strata-ingest`) Arrow IPC request bodies.
//!
//! arrow-ipc 60 slices a message body with the offset and length of each buffer as the message
//! metadata gives them, unchecked, and panics when they point past the body (found by the
//! `wal_replay` and `arrow_ipc` fuzz targets, `docs/fuzzing.md`). [`check_stream`] checks them
//! first, so a damaged stream is an error, not a panic.

use arrow::ipc::{root_as_message, MessageHeader};

/// The continuation marker that precedes a message's metadata length in an IPC stream.
const CONTINUATION_MARKER: u32 = 0xFFFF_FFFF;

fn read_u32(bytes: &[u8], pos: usize) -> Option<u32> {
    let b = bytes.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Walks the messages of an Arrow IPC stream and checks that every buffer of every record batch
/// and dictionary batch lies inside its message body (arrow-ipc 60 slices the body with them
/// unchecked). Framing the reader itself refuses (a short read, a bad flatbuffer, a negative
/// length) ends the walk: the reader reports it.
pub fn check_stream(body: &[u8]) -> Result<(), String> {
    let mut pos = 0usize;
    let mut message_number = 0usize;
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
        pos += body_len;
        message_number += 1;
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
