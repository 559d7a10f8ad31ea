//! The jobs this process holds a lease on, running or waiting for a slot,
//! and the hand-over of their outcomes to the completer.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Utc;
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;
use tracing::warn;
use uuid::Uuid;

use crate::queue::{Finish, Outcome};

/// A job this process holds a lease on.
struct Held {
    attempt: i32,
    /// The task running (or waiting to run) it.
    task: Option<AbortHandle>,
    /// Its outcome is on the way to the database: the lease is not renewed
    /// and not counted as lost any more.
    finishing: bool,
}

/// The held jobs by id. Every change names the attempt, so a late call for
/// an attempt that is no longer held changes nothing.
pub(super) struct Holdings {
    jobs: Mutex<HashMap<Uuid, Held>>,
    /// A held job went away: the producer may claim more.
    room: Notify,
    outcomes: mpsc::UnboundedSender<Finish>,
}

impl Holdings {
    pub fn new(outcomes: mpsc::UnboundedSender<Finish>) -> Self {
        Self {
            jobs: Mutex::new(HashMap::new()),
            room: Notify::new(),
            outcomes,
        }
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().expect("held lock").len()
    }

    /// Resolves when a held job went away.
    pub async fn room(&self) {
        self.room.notified().await
    }

    pub fn insert(&self, id: Uuid, attempt: i32) {
        self.jobs.lock().expect("held lock").insert(
            id,
            Held {
                attempt,
                task: None,
                finishing: false,
            },
        );
    }

    /// Names the task that runs a held attempt (so that it can be stopped).
    pub fn set_task(&self, id: Uuid, attempt: i32, task: AbortHandle) {
        if let Some(h) = self.jobs.lock().expect("held lock").get_mut(&id)
            && h.attempt == attempt
        {
            h.task = Some(task);
        }
    }

    /// The attempts whose leases are to be renewed: held and not finishing.
    pub fn renewable(&self) -> Vec<(Uuid, i32)> {
        self.jobs
            .lock()
            .expect("held lock")
            .iter()
            .filter(|(_, h)| !h.finishing)
            .map(|(id, h)| (*id, h.attempt))
            .collect()
    }

    /// Forgets a held job once its outcome is recorded (or discarded).
    pub fn release(&self, id: Uuid, attempt: i32) {
        let mut jobs = self.jobs.lock().expect("held lock");
        let removed = match jobs.get(&id) {
            Some(h) if h.attempt == attempt => jobs.remove(&id).is_some(),
            _ => false,
        };
        drop(jobs);
        if removed {
            self.room.notify_one();
        }
    }

    /// Hands an attempt's outcome to the completer, unless the job is no
    /// longer held by this attempt or already has its outcome on the way
    /// (so one statement never carries two outcomes for one job).
    pub fn send_outcome(&self, id: Uuid, attempt: i32, outcome: Outcome) {
        {
            let mut jobs = self.jobs.lock().expect("held lock");
            match jobs.get_mut(&id) {
                Some(h) if h.attempt == attempt && !h.finishing => h.finishing = true,
                _ => return,
            }
        }
        self.send_finishing(id, attempt, outcome);
    }

    /// Sends an outcome already marked `finishing`.
    fn send_finishing(&self, job_id: Uuid, attempt: i32, outcome: Outcome) {
        // The completer outlives every job task; a closed channel means the
        // engine is gone and the lease will run out instead.
        let _ = self.outcomes.send(Finish {
            job_id,
            attempt,
            outcome,
        });
    }

    /// A held job's lease is gone (rescued, or taken by another worker after
    /// it ran out): stop its task, forget it.
    pub fn abandon(&self, id: Uuid, attempt: i32) {
        let task = {
            let mut jobs = self.jobs.lock().expect("held lock");
            match jobs.get(&id) {
                Some(h) if h.attempt == attempt && !h.finishing => {
                    jobs.remove(&id).and_then(|h| h.task)
                }
                _ => return,
            }
        };
        warn!(job_id = %id, attempt, "lease lost: abandoning the job");
        if let Some(task) = task {
            task.abort();
        }
        self.room.notify_one();
    }

    /// Stops every held job without an outcome on the way and releases it
    /// (pending again, no retry used); returns how many.
    pub fn release_unfinished(&self) -> usize {
        let leftover: Vec<(Uuid, i32, Option<AbortHandle>)> = self
            .jobs
            .lock()
            .expect("held lock")
            .iter_mut()
            .filter(|(_, h)| !h.finishing)
            .map(|(id, h)| {
                h.finishing = true;
                (*id, h.attempt, h.task.take())
            })
            .collect();
        let n = leftover.len();
        for (id, attempt, task) in leftover {
            if let Some(task) = task {
                task.abort();
            }
            self.send_finishing(id, attempt, Outcome::Snooze(Utc::now()));
        }
        n
    }
}
