//! What the process reports about itself in its `workers` row: state,
//! counters, the job running, the last error.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tracing::warn;
use uuid::Uuid;

use crate::queue::WorkerState;

/// The process's own figures, written by its tasks, read by the heartbeat.
pub(super) struct Status {
    worker_id: Uuid,
    running: AtomicUsize,
    current: Mutex<Option<Uuid>>,
    done: AtomicU64,
    failed: AtomicU64,
    paused: AtomicBool,
    /// The last database error, while it is the latest thing that happened.
    error: Mutex<Option<String>>,
}

/// One reading of [`Status`], for the `workers` row.
pub(super) struct Reading {
    pub state: WorkerState,
    pub current: Option<Uuid>,
    pub running: usize,
    pub done: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

impl Status {
    pub fn new(worker_id: Uuid) -> Self {
        Self {
            worker_id,
            running: AtomicUsize::new(0),
            current: Mutex::new(None),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }

    pub fn worker_id(&self) -> Uuid {
        self.worker_id
    }

    /// Logs a failure and shows it as the worker's state until cleared.
    pub fn set_error(&self, what: &str, e: &(dyn std::error::Error + 'static)) {
        let message = format!("{what}: {}", crate::db::one_line(e));
        warn!(worker_id = %self.worker_id, "{message}");
        *self.error.lock().expect("error lock") = Some(message);
    }

    pub fn clear_error(&self) {
        self.error.lock().expect("error lock").take();
    }

    /// Records the pause switch; true if it changed.
    pub fn set_paused(&self, paused: bool) -> bool {
        self.paused.swap(paused, Ordering::Relaxed) != paused
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Counts `job_id` as running until the guard drops, however its run ends.
    pub fn running(&self, job_id: Uuid) -> Running<'_> {
        self.running.fetch_add(1, Ordering::Relaxed);
        *self.current.lock().expect("current lock") = Some(job_id);
        Running(self)
    }

    pub fn count_done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn read(&self) -> Reading {
        let last_error = self.error.lock().expect("error lock").clone();
        let running = self.running.load(Ordering::Relaxed);
        let state = if last_error.is_some() {
            WorkerState::Error
        } else if running > 0 {
            WorkerState::Active
        } else if self.is_paused() {
            WorkerState::Paused
        } else {
            WorkerState::Idle
        };
        Reading {
            state,
            current: *self.current.lock().expect("current lock"),
            running,
            done: self.done(),
            failed: self.failed(),
            last_error,
        }
    }
}

/// A job counted as running (see [`Status::running`]).
pub(super) struct Running<'a>(&'a Status);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.current.lock().expect("current lock").take();
        }
    }
}
