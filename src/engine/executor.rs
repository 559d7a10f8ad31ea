//! The executor: runs each held job's handler in a task of its own once a
//! slot (one of `concurrency`) is free, and marks jobs claimed ahead of a
//! slot started before they run.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::warn;
use uuid::Uuid;

use super::batch::in_batches;
use super::held::Holdings;
use super::status::Status;
use super::{Backoff, Registry};
use crate::queue::{self, Job, Outcome};

/// Start marks running at once in one process, and most jobs in one.
pub(super) const MAX_STARTS_IN_FLIGHT: usize = 2;
const MAX_START_BATCH: usize = 2000;

pub(super) struct Executor {
    registry: Registry,
    /// One permit per job running (or starting) at once.
    slots: Arc<Semaphore>,
    starts: mpsc::UnboundedSender<StartRequest>,
    held: Arc<Holdings>,
    status: Arc<Status>,
    stop: watch::Receiver<bool>,
}

impl Executor {
    /// The executor, and the receiver its start marks go to (for
    /// [`mark_starts`]).
    pub fn new(
        registry: Registry,
        concurrency: usize,
        held: Arc<Holdings>,
        status: Arc<Status>,
        stop: watch::Receiver<bool>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<StartRequest>) {
        let (starts, rx) = mpsc::unbounded_channel();
        let executor = Self {
            registry,
            slots: Arc::new(Semaphore::new(concurrency)),
            starts,
            held,
            status,
            stop,
        };
        (Arc::new(executor), rx)
    }

    /// Takes up to `n` free slots. Slots freed while held jobs wait for one
    /// go to those jobs first, never here.
    pub fn free_slots(&self, n: usize) -> Vec<OwnedSemaphorePermit> {
        std::iter::from_fn(|| self.slots.clone().try_acquire_owned().ok())
            .take(n)
            .collect()
    }

    /// Registers a claimed job as held and starts its task, with its slot if
    /// the claim started it. A job claimed while the engine stops is
    /// released by its task at once.
    pub fn hold(self: &Arc<Self>, job: Job, slot: Option<OwnedSemaphorePermit>) {
        let (id, attempt) = (job.id, job.attempt);
        self.held.insert(id, attempt);
        let task = tokio::spawn(self.clone().run_job(Arc::new(job), slot));
        self.held.set_task(id, attempt, task.abort_handle());
    }

    /// Waits for a slot and the start mark unless the claim started the
    /// job, runs its handler, hands over the outcome. A job still waiting
    /// for a slot when the engine stops is released unrun; one whose start
    /// mark finds the lease gone is abandoned unrun.
    async fn run_job(self: Arc<Self>, job: Arc<Job>, slot: Option<OwnedSemaphorePermit>) {
        let _slot = match slot {
            Some(slot) => slot,
            None => {
                let mut stop = self.stop.clone();
                let slot = tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => None,
                    slot = self.slots.clone().acquire_owned() => slot.ok(),
                };
                let Some(slot) = slot else {
                    self.held
                        .send_outcome(job.id, job.attempt, Outcome::Snooze(Utc::now()));
                    return;
                };
                let (tx, rx) = oneshot::channel();
                let _ = self.starts.send(StartRequest {
                    job_id: job.id,
                    attempt: job.attempt,
                    started: tx,
                });
                if rx.await != Ok(true) {
                    self.held.abandon(job.id, job.attempt);
                    return;
                }
                slot
            }
        };
        let running = self.status.running(job.id);
        let outcome = execute(&self.registry, job.clone()).await;
        drop(running);
        if let Outcome::Retry(e) | Outcome::Fail(e) = &outcome {
            warn!(job_id = %job.id, attempt = job.attempt, job_type = ?job.job_type, "job attempt failed: {e}");
        }
        self.held.send_outcome(job.id, job.attempt, outcome);
    }
}

/// Aborts a spawned task when dropped (an aborted job task takes its
/// handler down with it).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the handler in a task of its own, so that a panic or a timeout ends
/// only this attempt.
async fn execute(registry: &Registry, job: Arc<Job>) -> Outcome {
    let Some(job_type) = job.job_type else {
        return Outcome::Retry("job has no job_type".into());
    };
    let Some(handler) = registry.get(job_type).cloned() else {
        return Outcome::Retry(format!("no handler registered for job type {job_type}"));
    };
    let timeout = handler.timeout();
    let mut task = AbortOnDrop(tokio::spawn(async move { handler.run(&job).await }));
    match tokio::time::timeout(timeout, &mut task.0).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Outcome::Retry(format!("handler panicked: {message}"))
        }
        Ok(Err(_)) => Outcome::Retry("handler was cancelled".into()),
        Err(_) => Outcome::Retry(format!(
            "handler timed out after {} s",
            timeout.as_secs_f64()
        )),
    }
}

/// A held job that got a slot and waits for its start mark.
pub(super) struct StartRequest {
    job_id: Uuid,
    attempt: i32,
    /// True once started; false if its lease is gone (it must not run).
    started: oneshot::Sender<bool>,
}

/// Marks jobs started in batches, as the completer records outcomes, on
/// `pool` (asynchronous commit: the handler's first durable write flushes
/// the mark).
pub(super) async fn mark_starts(
    pool: PgPool,
    status: Arc<Status>,
    rx: mpsc::UnboundedReceiver<StartRequest>,
) {
    in_batches(rx, MAX_START_BATCH, MAX_STARTS_IN_FLIGHT, |batch| {
        mark_started(pool.clone(), status.clone(), batch)
    })
    .await
}

/// Writes one batch of start marks, retrying until the database answers.
async fn mark_started(pool: PgPool, status: Arc<Status>, batch: Vec<StartRequest>) {
    let attempts: Vec<(Uuid, i32)> = batch.iter().map(|r| (r.job_id, r.attempt)).collect();
    let mut backoff = Backoff::new();
    let started: HashSet<Uuid> = loop {
        match queue::start(&pool, status.worker_id(), &attempts).await {
            Ok(started) => break started.into_iter().collect(),
            Err(e) => {
                status.set_error("marking jobs started failed", &e);
                tokio::time::sleep(backoff.next()).await;
            }
        }
    };
    for r in batch {
        let _ = r.started.send(started.contains(&r.job_id));
    }
}
