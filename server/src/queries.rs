//! Running queries: each gets an id (returned in `X-Strata-Query-Id`) and a cancellation flag
//! that `DELETE /v1/queries/{id}` sets, and that is also set when the client goes away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The running queries.
#[derive(Debug, Default)]
pub struct Registry {
    next: AtomicU64,
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

impl Registry {
    /// Registers a new query under the client's id, or a new one; returns the id and the
    /// cancellation flag. Fails when the client's id is malformed or already running.
    pub fn start(&self, wanted: Option<&str>) -> Result<(String, Arc<AtomicBool>), String> {
        let id = match wanted {
            Some(id) => {
                let ok = !id.is_empty()
                    && id.len() <= 128
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
                if !ok {
                    return Err(format!(
                        "query id \"{id}\" is not allowed: use 1 to 128 ASCII letters, digits, \
                         '-', '_', '.' or ':'"
                    ));
                }
                id.to_string()
            }
            None => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                let epoch_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                format!("q-{epoch_ms:x}-{n}")
            }
        };
        let flag = Arc::new(AtomicBool::new(false));
        let mut running = self.lock();
        if running.contains_key(&id) {
            return Err(format!(
                "a query with id \"{id}\" is already running; pick another id"
            ));
        }
        running.insert(id.clone(), flag.clone());
        Ok((id, flag))
    }

    /// Sets the cancellation flag of a running query; false when there is none with that id.
    pub fn cancel(&self, id: &str) -> bool {
        match self.lock().get(id) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn finish(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AtomicBool>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Unregisters a query when the request ends; if the request is dropped before
/// [`Guard::finish`] (the client disconnected), the query is cancelled too.
pub struct Guard<'a> {
    registry: &'a Registry,
    id: String,
    cancel: Arc<AtomicBool>,
    finished: bool,
}

impl<'a> Guard<'a> {
    /// Guards query `id`.
    pub fn new(registry: &'a Registry, id: String, cancel: Arc<AtomicBool>) -> Guard<'a> {
        Guard {
            registry,
            id,
            cancel,
            finished: false,
        }
    }

    /// The request completed normally.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel.store(true, Ordering::Relaxed);
        }
        self.registry.finish(&self.id);
    }
}
