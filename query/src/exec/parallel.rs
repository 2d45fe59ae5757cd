//! An ordered parallel map: jobs run on worker threads, results come back in job order, and the
//! workers run at most a bounded window of jobs ahead of the consumer (so memory stays bounded
//! when the consumer is slower, and a LIMIT that stops early stops the workers too).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};

type Queue<J, R> = VecDeque<(usize, J, SyncSender<Result<R>>)>;

struct Shared<J, R> {
    queue: Mutex<Queue<J, R>>,
    /// How many results the consumer has taken.
    consumed: Mutex<usize>,
    progress: Condvar,
    stop: AtomicBool,
    window: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The results of [`ordered_parallel_map`], in job order.
pub struct OrderedResults<J, R> {
    receivers: VecDeque<Receiver<Result<R>>>,
    shared: Arc<Shared<J, R>>,
}

/// Runs `work` over `jobs` on up to `threads` threads, at most `window` jobs ahead of the
/// consumer, and yields the results in job order.
pub fn ordered_parallel_map<J, R, F>(
    jobs: Vec<J>,
    threads: usize,
    window: usize,
    work: F,
) -> OrderedResults<J, R>
where
    J: Send + 'static,
    R: Send + 'static,
    F: Fn(J) -> Result<R> + Send + Sync + 'static,
{
    let mut queue = VecDeque::with_capacity(jobs.len());
    let mut receivers = VecDeque::with_capacity(jobs.len());
    for (i, job) in jobs.into_iter().enumerate() {
        let (tx, rx) = sync_channel(1);
        queue.push_back((i, job, tx));
        receivers.push_back(rx);
    }
    let threads = threads.clamp(1, queue.len().max(1));
    let shared = Arc::new(Shared {
        queue: Mutex::new(queue),
        consumed: Mutex::new(0),
        progress: Condvar::new(),
        stop: AtomicBool::new(false),
        window: window.max(1),
    });
    let work = Arc::new(work);
    for _ in 0..threads {
        let shared = shared.clone();
        let work = work.clone();
        let spawned = std::thread::Builder::new()
            .name("strata-query".to_string())
            .spawn(move || worker(&shared, work.as_ref()));
        if spawned.is_err() {
            // No thread: the jobs left in the queue are run by the consumer instead.
            break;
        }
    }
    OrderedResults { receivers, shared }
}

fn worker<J, R>(shared: &Shared<J, R>, work: &(dyn Fn(J) -> Result<R> + Send + Sync)) {
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let Some((index, job, tx)) = lock(&shared.queue).pop_front() else {
            return;
        };
        {
            let mut consumed = lock(&shared.consumed);
            while index >= *consumed + shared.window && !shared.stop.load(Ordering::Relaxed) {
                consumed = shared
                    .progress
                    .wait(consumed)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(job)))
            .unwrap_or_else(|_| Err(Error::internal("a query worker thread panicked")));
        let _ = tx.send(result);
    }
}

impl<J, R> Iterator for OrderedResults<J, R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        let rx = self.receivers.pop_front()?;
        let result = rx
            .recv()
            .unwrap_or_else(|_| Err(Error::internal("a query worker stopped without a result")));
        *lock(&self.shared.consumed) += 1;
        self.shared.progress.notify_all();
        Some(result)
    }
}

impl<J, R> Drop for OrderedResults<J, R> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.progress.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_job_order() {
        let jobs: Vec<u64> = (0..200).collect();
        let out: Vec<u64> = ordered_parallel_map(jobs, 4, 3, |j| {
            std::thread::sleep(std::time::Duration::from_micros((j * 7919) % 300));
            Ok(j * 2)
        })
        .map(|r| r.unwrap())
        .collect();
        assert_eq!(out, (0..200).map(|j| j * 2).collect::<Vec<_>>());
    }

    #[test]
    fn errors_and_panics_are_results_not_crashes() {
        let out: Vec<Result<u32>> = ordered_parallel_map(vec![1u32, 2, 3], 2, 2, |j| {
            if j == 2 {
                panic!("boom");
            }
            Ok(j)
        })
        .collect();
        assert!(out[0].is_ok() && out[1].is_err() && out[2].is_ok());
    }

    #[test]
    fn dropping_early_stops_the_workers() {
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = started.clone();
        let mut results = ordered_parallel_map((0..1000).collect::<Vec<u32>>(), 2, 2, move |j| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(j)
        });
        assert_eq!(results.next().unwrap().unwrap(), 0);
        drop(results);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            started.load(Ordering::Relaxed) < 10,
            "workers ran far past the window"
        );
    }
}
