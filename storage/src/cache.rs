//! The read cache of persisted segments: decoded column chunks and bitmap index sidecars, kept
//! under one byte budget with least-recently-used eviction.
//!
//! A persisted segment is read on demand: a scan asks for some columns of some row groups; each
//! (segment, row group, column) chunk is served from the cache when it is there, and the missing
//! ones are decoded from the Parquet file together (one reader over the row group, projected to
//! the missing columns) and kept for the next scan. Bitmap index sidecars are cached the same
//! way, as one entry per segment, so indexes of a table larger than memory do not pile up either.
//!
//! Only whole chunks are cached: a read through a row selection (an index answered a filter)
//! decodes just the selected pages and keeps nothing, unless every chunk it needs is cached
//! already, in which case it filters the cached arrays.
//!
//! Why decoded columns rather than memory-mapped pages: `docs/benchmarks.md` ("Segment read
//! cache") measures both. A memory-mapped file saves the `read` system call and the copy, but
//! every scan still pays ZSTD decompression and dictionary decoding, which are most of a cold
//! read; decoded chunks skip all of it. The OS page cache keeps serving the file below this one.
//!
//! The budget is [`StorageConfig::cache_bytes`](crate::StorageConfig::cache_bytes) (0 disables
//! the cache). Entries larger than an eighth of the budget are not kept, so one wide chunk does
//! not flush everything else. Sizes are Arrow's own memory accounting of the arrays. The
//! counters ([`SegmentCache::stats`]) are read by `system.cache` and by the server's `/metrics`
//! at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::ArrayRef;
use lru::LruCache;

use crate::index::BlockIndex;

/// Identifies one cached item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// The decoded arrays of one column of one row group (in read-batch order).
    Chunk {
        /// The segment's cache id ([`SegmentCache::next_segment_id`]).
        segment: u64,
        /// The row group.
        row_group: u32,
        /// The column's index in the file's schema.
        column: u32,
    },
    /// The bitmap index sidecar of a segment.
    Index {
        /// The segment's cache id.
        segment: u64,
    },
}

/// A cached item.
#[derive(Debug, Clone)]
pub enum CacheValue {
    /// A column chunk, as the arrays of consecutive read batches.
    Chunk(Arc<Vec<ArrayRef>>),
    /// A bitmap index.
    Index(Arc<BlockIndex>),
}

/// Counters of the cache (monotonic except `bytes` and `entries`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// The byte budget.
    pub budget_bytes: u64,
    /// Bytes held now.
    pub bytes: u64,
    /// Entries held now.
    pub entries: u64,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to read the file.
    pub misses: u64,
    /// Entries evicted to stay under the budget.
    pub evictions: u64,
}

struct Inner {
    lru: LruCache<CacheKey, (CacheValue, usize)>,
    bytes: usize,
}

/// The byte-budgeted LRU cache shared by every persisted segment of one [`crate::Storage`].
pub struct SegmentCache {
    budget: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    next_segment: AtomicU64,
}

impl std::fmt::Debug for SegmentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl SegmentCache {
    /// A cache holding at most `budget` bytes (0: nothing is kept).
    pub fn new(budget: usize) -> Arc<SegmentCache> {
        Arc::new(SegmentCache {
            budget,
            inner: Mutex::new(Inner {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            next_segment: AtomicU64::new(1),
        })
    }

    /// A fresh id for a segment opened in this process (cache keys never outlive a segment's
    /// file: a compacted segment's successor gets a new id).
    pub fn next_segment_id(&self) -> u64 {
        self.next_segment.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The cache holds no invariant a panicking holder could break halfway (a poisoned lock
        // still has a consistent map), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The item under `key`, marking it recently used; counts a hit or a miss.
    pub fn get(&self, key: &CacheKey) -> Option<CacheValue> {
        let found = if self.budget == 0 {
            None
        } else {
            self.lock().lru.get(key).map(|(v, _)| v.clone())
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Whether `key` is cached, without counting or touching its recency.
    pub fn contains(&self, key: &CacheKey) -> bool {
        self.budget > 0 && self.lock().lru.contains(key)
    }

    /// Keeps `value` (of `bytes` bytes) under `key`, evicting the least recently used items
    /// while over budget. Items larger than an eighth of the budget are not kept.
    pub fn insert(&self, key: CacheKey, value: CacheValue, bytes: usize) {
        if self.budget == 0 || bytes > self.budget / 8 {
            return;
        }
        let mut evicted = 0u64;
        {
            let mut inner = self.lock();
            if let Some((_, old)) = inner.lru.put(key, (value, bytes)) {
                inner.bytes -= old;
            }
            inner.bytes += bytes;
            while inner.bytes > self.budget {
                match inner.lru.pop_lru() {
                    Some((_, (_, size))) => {
                        inner.bytes -= size;
                        evicted += 1;
                    }
                    None => break,
                }
            }
        }
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
    }

    /// Drops every item of segment `segment` (its file is gone).
    pub fn forget_segment(&self, segment: u64) {
        if self.budget == 0 {
            return;
        }
        let mut inner = self.lock();
        let keys: Vec<CacheKey> = inner
            .lru
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| match k {
                CacheKey::Chunk { segment: s, .. } | CacheKey::Index { segment: s } => {
                    *s == segment
                }
            })
            .collect();
        for key in keys {
            if let Some((_, size)) = inner.lru.pop(&key) {
                inner.bytes -= size;
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let (bytes, entries) = {
            let inner = self.lock();
            (inner.bytes as u64, inner.lru.len() as u64)
        };
        CacheStats {
            budget_bytes: self.budget as u64,
            bytes,
            entries,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// The memory of a chunk's arrays, as Arrow counts it.
pub fn chunk_bytes(arrays: &[ArrayRef]) -> usize {
    arrays.iter().map(|a| a.get_array_memory_size()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn chunk(n: usize) -> (CacheValue, usize) {
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n as i64));
        let v = vec![a];
        let bytes = chunk_bytes(&v);
        (CacheValue::Chunk(Arc::new(v)), bytes)
    }

    fn key(segment: u64, row_group: u32) -> CacheKey {
        CacheKey::Chunk {
            segment,
            row_group,
            column: 0,
        }
    }

    #[test]
    fn evicts_least_recently_used_beyond_the_budget() {
        let (_, one) = chunk(1000);
        let cache = SegmentCache::new(one * 8 + one / 2);
        for rg in 0..8 {
            let (v, b) = chunk(1000);
            cache.insert(key(1, rg), v, b);
        }
        assert_eq!(cache.stats().entries, 8);
        // Touch row group 0 so that 1 is the least recently used.
        assert!(cache.get(&key(1, 0)).is_some());
        let (v, b) = chunk(1000);
        cache.insert(key(1, 8), v, b);
        let stats = cache.stats();
        assert!(stats.bytes <= stats.budget_bytes);
        assert_eq!(stats.evictions, 1);
        assert!(cache.contains(&key(1, 0)));
        assert!(!cache.contains(&key(1, 1)));
        assert_eq!(stats.hits, 1);
    }

    #[test]
    fn oversized_items_and_a_zero_budget_keep_nothing() {
        let (v, b) = chunk(1000);
        let small = SegmentCache::new(b * 4);
        small.insert(key(1, 0), v.clone(), b);
        assert_eq!(small.stats().entries, 0);
        let off = SegmentCache::new(0);
        off.insert(key(1, 0), v, b);
        assert!(off.get(&key(1, 0)).is_none());
        assert_eq!(off.stats().misses, 1);
    }

    #[test]
    fn forgetting_a_segment_frees_its_bytes() {
        let cache = SegmentCache::new(1 << 20);
        for seg in 1..=2 {
            let (v, b) = chunk(100);
            cache.insert(key(seg, 0), v, b);
        }
        cache.forget_segment(1);
        let stats = cache.stats();
        assert_eq!(stats.entries, 1);
        assert!(cache.contains(&key(2, 0)));
        assert_eq!(stats.bytes as usize, chunk(100).1);
    }

    /// 48 hourly segments of 2,000 rows (`ts`, `a`, `s`), flushed, in a storage whose cache
    /// holds `cache_bytes`.
    fn hourly_table(tag: &str, cache_bytes: usize) -> Arc<crate::Storage> {
        use crate::{Partition, StorageConfig, TableDef, TableOptions};
        use arrow::array::{StringArray, TimestampMillisecondArray};
        use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        use arrow::record_batch::RecordBatch;
        let dir = crate::testutil::temp_dir(tag);
        let config = StorageConfig {
            maintenance_interval: None,
            fsync: crate::FsyncPolicy::Never,
            cache_bytes,
            ..StorageConfig::default()
        };
        let storage = crate::Storage::open(&dir, config).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let options = TableOptions {
            time_column: Some("ts".into()),
            partition: Partition::Hour,
            ..TableOptions::default()
        };
        let def = TableDef {
            name: "t".into(),
            schema: schema.clone(),
            options,
        };
        storage.create_table(def, false).unwrap();
        let table = storage.table("t").unwrap();
        let rows = 48 * 2000i64;
        let ts: Vec<i64> = (0..rows).map(|i| i * 1_800).collect(); // 2,000 rows per hour
        let a: Vec<Option<i64>> = (0..rows).map(|i| (i % 7 != 0).then_some(i)).collect();
        let s: Vec<String> = (0..rows).map(|i| format!("v{}", i % 100)).collect();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(ts)),
                Arc::new(Int64Array::from(a)),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap();
        table.append(batch).unwrap();
        table.flush().unwrap();
        storage
    }

    /// Sum of `a` and of the string lengths of `s`, over every segment's rows, and over the
    /// rows selected by the index lookup `s = 'v42'`.
    fn digest(storage: &crate::Storage) -> (i64, usize, usize) {
        use crate::index::IndexLookup;
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::Int64Type;
        let snapshot = storage.table("t").unwrap().snapshot();
        let mut sum = 0i64;
        let mut chars = 0usize;
        let mut selected = 0usize;
        for segment in &snapshot.segments {
            for batch in segment.read(&snapshot.schema).unwrap() {
                let a = batch.column(1).as_primitive::<Int64Type>();
                sum += a.iter().flatten().sum::<i64>();
                let s = batch.column(2).as_string::<i32>();
                chars += s.iter().flatten().map(str::len).sum::<usize>();
            }
            let lookup = IndexLookup::Eq("v42".to_string());
            let bitmap = segment.index_lookup("s", &lookup).unwrap().unwrap();
            let mut start = 0u32;
            for (block, zone) in segment.zones().iter().enumerate() {
                for batch in segment
                    .read_selected(&snapshot.schema, block, start, &bitmap)
                    .unwrap()
                {
                    let s = batch.column(2).as_string::<i32>();
                    assert!(s.iter().all(|v| v == Some("v42")));
                    selected += batch.num_rows();
                    assert_eq!(batch.column(1).len(), batch.num_rows());
                }
                start += zone.rows as u32;
            }
        }
        (sum, chars, selected)
    }

    #[test]
    fn a_table_larger_than_the_budget_reads_the_same_as_without_a_cache() {
        let uncached = hourly_table("cache-off", 0);
        let expected = digest(&uncached);
        assert_eq!(expected.2, 960, "48 * 2000 / 100 rows are v42");
        assert_eq!(uncached.cache().stats().entries, 0);

        // A cache that holds everything: the second pass decodes nothing.
        let big = hourly_table("cache-big", 1 << 30);
        assert_eq!(digest(&big), expected);
        let first = big.cache().stats();
        assert!(first.misses > 0 && first.entries > 0);
        assert_eq!(first.evictions, 0);
        assert_eq!(digest(&big), expected);
        let second = big.cache().stats();
        assert_eq!(second.misses, first.misses, "everything was cached");
        assert!(second.hits > first.hits);

        // A third of that: evictions, never over budget, same answers.
        let budget = first.bytes as usize / 3;
        let small = hourly_table("cache-small", budget);
        for _ in 0..2 {
            assert_eq!(digest(&small), expected);
        }
        let stats = small.cache().stats();
        assert!(stats.evictions > 0, "{stats:?}");
        assert!(stats.bytes <= budget as u64, "{stats:?}");
        assert!(stats.entries > 0, "{stats:?}");
    }
}
