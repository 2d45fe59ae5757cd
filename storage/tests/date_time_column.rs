//! A table whose time column is a DATE (daily data): partitioned, ranged and expired by its days
//! read as UTC midnights.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use strata_storage::{Partition, Storage, StorageConfig, TableDef, TableOptions};

const DAY: i64 = 86_400_000;

fn def(partition: Partition, ttl_ms: Option<i64>) -> TableDef {
    TableDef {
        name: "daily".to_string(),
        schema: Arc::new(Schema::new(vec![
            Field::new("day", DataType::Date32, false),
            Field::new("n", DataType::Int64, true),
        ])),
        options: TableOptions {
            time_column: Some("day".to_string()),
            partition,
            ttl_ms,
            ..TableOptions::default()
        },
    }
}

fn rows(days: Vec<i32>) -> RecordBatch {
    let n: Vec<i64> = (0..days.len() as i64).collect();
    RecordBatch::try_from_iter(vec![
        ("day", Arc::new(Date32Array::from(days)) as ArrayRef),
        ("n", Arc::new(Int64Array::from(n)) as ArrayRef),
    ])
    .unwrap()
}

fn open(tag: &str) -> Arc<Storage> {
    let config = StorageConfig {
        maintenance_interval: None,
        ..StorageConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("strata-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Storage::open(&dir, config).unwrap()
}

#[test]
fn a_date_time_column_partitions_by_day_and_ranges_in_milliseconds() {
    let storage = open("date-time-column");
    storage
        .create_table(def(Partition::Day, None), false)
        .unwrap();
    let t = storage.table("daily").unwrap();
    // 2024-01-01 is day 19723.
    t.append(rows(vec![19724, 19723, 19724, 19730])).unwrap();
    assert_eq!(t.flush().unwrap().segments, 3);
    let mut ranges: Vec<(Option<i64>, Option<i64>, u64)> = t
        .segment_infos()
        .into_iter()
        .map(|s| (s.time_min_ms, s.time_max_ms, s.rows))
        .collect();
    ranges.sort();
    assert_eq!(
        ranges,
        [
            (Some(19723 * DAY), Some(19723 * DAY), 1),
            (Some(19724 * DAY), Some(19724 * DAY), 2),
            (Some(19730 * DAY), Some(19730 * DAY), 1),
        ]
    );
    assert_eq!(t.snapshot().row_count(), 4);
}

#[test]
fn a_date_time_column_expires_whole_days() {
    let storage = open("date-time-column-ttl");
    storage
        .create_table(def(Partition::Day, Some(2 * DAY)), false)
        .unwrap();
    let t = storage.table("daily").unwrap();
    t.append(rows(vec![100, 101, 102, 103])).unwrap();
    t.flush().unwrap();
    // At day 104 + 1 hour, days that ended before day 102 + 1 hour are gone: 100 and 101.
    assert_eq!(t.expire(104 * DAY + 3_600_000).unwrap(), 2);
    assert_eq!(t.snapshot().row_count(), 2);
}

#[test]
fn a_time_column_of_another_type_is_refused() {
    let storage = open("date-time-column-refused");
    let mut bad = def(Partition::Day, None);
    bad.options.time_column = Some("n".to_string());
    let err = storage.create_table(bad, false).unwrap_err();
    assert!(
        err.to_string().contains("must be TIMESTAMP or DATE"),
        "{err}"
    );
}
