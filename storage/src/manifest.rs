//! The manifest of one table: its persisted segments and the log position they cover, as one JSON
//! document (`manifest.json`) replaced atomically (write, fsync, rename, fsync directory).
//!
//! Each entry names the segment's Parquet file and, when the segment has indexed columns, its
//! bitmap index sidecar (`index_file`, added without a version change: older manifests simply
//! have none, and their segments are scanned without an index).
//!
//! The manifest is the commit point of a persist: a segment file that it does not list does not
//! exist (it is an orphan of an interrupted persist and is deleted at start-up), and log frames up
//! to `wal_lsn_covered` are skipped at replay because their rows are in listed segments.
//!
//! Version 2 adds `source_offsets` (per source, per partition, the next offset to read, for every
//! frame up to `wal_lsn_covered`) and `error_files` (the dead-letter files of those frames).
//! Version 1 manifests are read as having neither.
//!
//! Version 3 adds, per segment, `deletes_file` (the sidecar of its rows deleted by `DELETE`,
//! see [`crate::deletes`]) and `deletes_lsn` (the log position of the last delete it holds). A
//! manifest is written as version 3 only when some segment has deleted rows, so that an older
//! build refuses it rather than showing deleted rows again; otherwise it stays version 2.
//!
//! Version 4 adds `idempotency_files`: the keys files (see [`crate::idempotency`]) of the
//! idempotency keys of frames up to `wal_lsn_covered`, each with the newest acknowledgement time
//! it holds. A manifest is written as version 4 only when it lists such a file, so that an older
//! build refuses it rather than forget the keys and store a retried request twice.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::{Error, Result};

/// The newest manifest format version this build writes (version 3 when it lists no keys file,
/// version 2 when moreover no segment has deleted rows).
pub const MANIFEST_VERSION: u32 = 4;
/// The oldest manifest version this build reads.
pub const MANIFEST_VERSION_MIN: u32 = 1;
const MANIFEST_FORMAT: &str = "strata-manifest";

/// One persisted segment, as the manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentEntry {
    /// The segment id, unique within the table.
    pub id: u64,
    /// The Parquet file, relative to the table directory.
    pub file: String,
    /// Its bitmap index sidecar file, relative to the table directory; absent when no column of
    /// the segment is indexed (and in manifests written before indexes existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_file: Option<String>,
    /// Rows in the segment.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Smallest value of the time column (epoch ms), if the table has one.
    #[serde(default)]
    pub time_min_ms: Option<i64>,
    /// Largest value of the time column (epoch ms), if the table has one.
    #[serde(default)]
    pub time_max_ms: Option<i64>,
    /// The highest log LSN whose rows the segment holds.
    pub lsn_max: u64,
    /// The start (epoch ms) of the time partition all its rows belong to, when the table has a
    /// time column.
    #[serde(default)]
    pub partition_start_ms: Option<i64>,
    /// The sidecar of its deleted rows, relative to the table directory (version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes_file: Option<String>,
    /// The log position of the last delete that `deletes_file` holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes_lsn: Option<u64>,
}

/// The manifest document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    format: String,
    version: u32,
    /// Every log frame with an LSN up to this one is in the listed segments.
    pub wal_lsn_covered: u64,
    /// The id the next segment gets.
    pub next_segment_id: u64,
    /// The persisted segments, oldest first.
    pub segments: Vec<SegmentEntry>,
    /// Per source, per partition, the next offset to read, as of `wal_lsn_covered`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub source_offsets: crate::source::SourceOffsets,
    /// Dead-letter files (NDJSON, one [`crate::source::IngestError`] a line), relative to the
    /// table directory, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_files: Vec<String>,
    /// Idempotency keys files, oldest first (version 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idempotency_files: Vec<crate::idempotency::KeysFileEntry>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: MANIFEST_FORMAT.to_string(),
            version: MANIFEST_VERSION,
            wal_lsn_covered: 0,
            next_segment_id: 1,
            segments: Vec::new(),
            source_offsets: Default::default(),
            error_files: Vec::new(),
            idempotency_files: Vec::new(),
        }
    }
}

impl Manifest {
    /// The manifest path of a table directory.
    pub fn path(table_dir: &Path) -> PathBuf {
        table_dir.join("manifest.json")
    }

    /// Loads the manifest of `table_dir`; an empty one when there is none yet.
    pub fn load(table_dir: &Path) -> Result<Manifest> {
        let path = Manifest::path(table_dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(source) => {
                return Err(Error::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            offset: 0,
            reason: e.to_string(),
        })?;
        if m.format != MANIFEST_FORMAT
            || !(MANIFEST_VERSION_MIN..=MANIFEST_VERSION).contains(&m.version)
        {
            return Err(Error::Corrupt {
                path,
                offset: 0,
                reason: format!(
                    "manifest format {} version {} is not {MANIFEST_FORMAT} version \
                     {MANIFEST_VERSION_MIN} to {MANIFEST_VERSION}",
                    m.format, m.version
                ),
            });
        }
        Ok(m)
    }

    /// Commits this manifest atomically.
    pub fn commit(&self, table_dir: &Path) -> Result<()> {
        let mut this = self.clone();
        this.version = if !this.idempotency_files.is_empty() {
            MANIFEST_VERSION
        } else if this.segments.iter().any(|s| s.deletes_file.is_some()) {
            3
        } else {
            2
        };
        let bytes = serde_json::to_vec_pretty(&this)
            .map_err(|e| Error::Internal(format!("serialising a manifest: {e}")))?;
        fsutil::write_atomic(&Manifest::path(table_dir), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::temp_dir;

    #[test]
    fn manifest_round_trips_and_missing_means_empty() {
        let dir = temp_dir("manifest");
        assert!(Manifest::load(&dir).unwrap().segments.is_empty());
        let mut m = Manifest {
            wal_lsn_covered: 42,
            next_segment_id: 2,
            ..Default::default()
        };
        m.segments.push(SegmentEntry {
            id: 1,
            file: "segments/00000000000000000001.parquet".to_string(),
            index_file: Some("segments/00000000000000000001.idx".to_string()),
            rows: 10,
            bytes: 100,
            time_min_ms: Some(1),
            time_max_ms: Some(2),
            lsn_max: 42,
            partition_start_ms: Some(0),
            deletes_file: None,
            deletes_lsn: None,
        });
        m.commit(&dir).unwrap();
        let back = Manifest::load(&dir).unwrap();
        assert_eq!(back.wal_lsn_covered, 42);
        assert_eq!(back.segments, m.segments);
        assert!(back.source_offsets.is_empty());
        m.source_offsets
            .entry("s".to_string())
            .or_default()
            .insert(2, 17);
        m.error_files
            .push("errors/00000000000000000042.ndjson".to_string());
        m.commit(&dir).unwrap();
        let back = Manifest::load(&dir).unwrap();
        assert_eq!(back.source_offsets, m.source_offsets);
        assert_eq!(back.error_files, m.error_files);
        assert_eq!(back.version, 2, "nothing of version 3 or 4 in it");
        m.idempotency_files.push(crate::idempotency::KeysFileEntry {
            file: "idempotency/00000000000000000042.keys".to_string(),
            time_max_ms: 7,
        });
        m.commit(&dir).unwrap();
        let back = Manifest::load(&dir).unwrap();
        assert_eq!(back.idempotency_files, m.idempotency_files);
        assert_eq!(back.version, 4);
    }

    #[test]
    fn version_1_manifests_still_load() {
        let dir = temp_dir("manifest-v1");
        std::fs::write(
            Manifest::path(&dir),
            r#"{"format":"strata-manifest","version":1,"wal_lsn_covered":3,
                "next_segment_id":1,"segments":[]}"#,
        )
        .unwrap();
        let m = Manifest::load(&dir).unwrap();
        assert_eq!(m.wal_lsn_covered, 3);
        assert!(m.source_offsets.is_empty() && m.error_files.is_empty());
    }
}
