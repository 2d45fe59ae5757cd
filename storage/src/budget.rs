//! The ingest budget: how much unpersisted data the storage engine holds, and when it refuses
//! more.
//!
//! Two budgets are shared by every table of a [`Storage`](crate::Storage):
//! - **live bytes**: the Arrow memory of the rows that are not yet in Parquet files (live and
//!   sealed segments), kept up to date by each table after every append and persist;
//! - **log bytes**: the size of every table's write-ahead log files.
//!
//! An append that finds either over its budget is refused with [`Error::Backpressure`] before
//! anything is written (so a refused request stores nothing), and wakes the background persist,
//! which persists every table with unpersisted rows as soon as either budget is half used. The
//! bounds together put a ceiling on the server's memory for ingest: at most the live budget
//! plus the requests in flight (see the server's `--ingest-concurrency-max`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::fsutil::lock;
use crate::{Error, Result};

/// The budgets of one storage engine and the signal that wakes its background persist.
#[derive(Debug)]
pub struct IngestBudget {
    live_bytes_max: u64,
    wal_bytes_max: u64,
    live_bytes: AtomicU64,
    wal_bytes: Arc<AtomicU64>,
    wake: Mutex<bool>,
    woken: Condvar,
}

impl IngestBudget {
    /// Budgets of `live_bytes_max` and `wal_bytes_max` bytes; 0 means no limit.
    pub fn new(live_bytes_max: u64, wal_bytes_max: u64) -> IngestBudget {
        IngestBudget {
            live_bytes_max,
            wal_bytes_max,
            live_bytes: AtomicU64::new(0),
            wal_bytes: Arc::new(AtomicU64::new(0)),
            wake: Mutex::new(false),
            woken: Condvar::new(),
        }
    }

    /// Refuses (with [`Error::Backpressure`]) when a budget is used up, and then wakes the
    /// background persist.
    pub fn admit(&self) -> Result<()> {
        let live = self.live_bytes();
        if self.live_bytes_max > 0 && live >= self.live_bytes_max {
            self.wake_persist();
            return Err(Error::Backpressure {
                what: "unpersisted rows in memory",
                used: live,
                budget: self.live_bytes_max,
                flag: "--live-bytes-max",
            });
        }
        let wal = self.wal_bytes();
        if self.wal_bytes_max > 0 && wal >= self.wal_bytes_max {
            self.wake_persist();
            return Err(Error::Backpressure {
                what: "the write-ahead log",
                used: wal,
                budget: self.wal_bytes_max,
                flag: "--wal-bytes-max",
            });
        }
        Ok(())
    }

    /// True when either budget is at least half used: the background persist then persists
    /// every table's unpersisted rows, not only the segments that reached their limits.
    pub fn under_pressure(&self) -> bool {
        (self.live_bytes_max > 0 && self.live_bytes() >= self.live_bytes_max / 2)
            || (self.wal_bytes_max > 0 && self.wal_bytes() >= self.wal_bytes_max / 2)
    }

    /// The Arrow memory of unpersisted rows, all tables.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes.load(Ordering::Relaxed)
    }

    /// The bytes of every write-ahead log.
    pub fn wal_bytes(&self) -> u64 {
        self.wal_bytes.load(Ordering::Relaxed)
    }

    /// The live-bytes budget (0: none).
    pub fn live_bytes_max(&self) -> u64 {
        self.live_bytes_max
    }

    /// The log budget (0: none).
    pub fn wal_bytes_max(&self) -> u64 {
        self.wal_bytes_max
    }

    /// The counter every log adds its bytes to.
    pub(crate) fn wal_counter(&self) -> Arc<AtomicU64> {
        self.wal_bytes.clone()
    }

    /// Replaces one table's share of the live bytes: `old` by `new`.
    pub(crate) fn replace_live(&self, old: u64, new: u64) {
        if new >= old {
            self.live_bytes.fetch_add(new - old, Ordering::Relaxed);
        } else {
            let _ = self
                .live_bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(old - new))
                });
        }
    }

    /// Wakes the background persist now.
    pub fn wake_persist(&self) {
        *lock(&self.wake) = true;
        self.woken.notify_all();
    }

    /// Sleeps up to `timeout`, or until [`IngestBudget::wake_persist`] is called.
    pub(crate) fn wait(&self, timeout: Duration) {
        let mut woken = lock(&self.wake);
        if !*woken {
            woken = match self.woken.wait_timeout(woken, timeout) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
        *woken = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_used_up_budget_refuses_and_wakes_the_persist() {
        let b = IngestBudget::new(100, 1000);
        assert!(b.admit().is_ok());
        b.replace_live(0, 60);
        assert!(b.under_pressure());
        assert!(b.admit().is_ok());
        b.replace_live(60, 100);
        assert!(matches!(b.admit(), Err(Error::Backpressure { .. })));
        // The wake is not lost when it comes before the wait.
        let started = std::time::Instant::now();
        b.wait(Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(5));
        b.replace_live(100, 10);
        assert!(b.admit().is_ok());
        b.wal_counter().store(1000, Ordering::Relaxed);
        assert!(matches!(b.admit(), Err(Error::Backpressure { .. })));
        let unlimited = IngestBudget::new(0, 0);
        unlimited.replace_live(0, u64::MAX / 2);
        assert!(unlimited.admit().is_ok() && !unlimited.under_pressure());
    }
}
