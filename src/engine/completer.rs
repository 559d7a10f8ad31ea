//! The completer: records outcomes in batches, one statement (one durable
//! commit) for everything ready when it can start. An outcome counts only
//! once its statement has committed.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tracing::warn;
use uuid::Uuid;

use super::Backoff;
use super::batch::in_batches;
use super::held::Holdings;
use super::status::Status;
use crate::queue::{self, Finish, JobStatus, Outcome, QueueConfig};

/// Outcome statements running at once in one process (a job's outcome is
/// in one batch only).
const MAX_FINISHES_IN_FLIGHT: usize = 2;
/// Most outcomes recorded by one statement.
const MAX_FINISH_BATCH: usize = 2000;

#[derive(Clone)]
pub(super) struct Completer {
    pub pool: PgPool,
    pub held: Arc<Holdings>,
    pub status: Arc<Status>,
    /// For the retry backoff.
    pub config: watch::Receiver<QueueConfig>,
}

impl Completer {
    /// Records the outcomes sent on `rx` until every sender is gone.
    pub async fn run(self, rx: mpsc::UnboundedReceiver<Finish>) {
        in_batches(rx, MAX_FINISH_BATCH, MAX_FINISHES_IN_FLIGHT, |batch| {
            self.clone().record(batch)
        })
        .await
    }

    /// Writes one batch of outcomes, retrying until the database takes it.
    async fn record(self, batch: Vec<Finish>) {
        let mut backoff = Backoff::new();
        let applied = loop {
            let (base, cap) = {
                let c = self.config.borrow();
                (c.backoff_base, c.backoff_cap)
            };
            match queue::finish(&self.pool, self.status.worker_id(), &batch, base, cap).await {
                Ok(applied) => break applied,
                Err(e) => {
                    self.status.set_error("recording outcomes failed", &e);
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        };
        let applied: HashSet<Uuid> = applied
            .into_iter()
            .map(|(id, _status): (Uuid, JobStatus)| id)
            .collect();
        for f in batch {
            if applied.contains(&f.job_id) {
                match f.outcome {
                    Outcome::Complete => self.status.count_done(),
                    Outcome::Retry(_) | Outcome::Fail(_) => self.status.count_failed(),
                    Outcome::Snooze(_) => {}
                }
            } else {
                warn!(job_id = %f.job_id, attempt = f.attempt, "outcome discarded: the lease was lost before it was recorded");
            }
            self.held.release(f.job_id, f.attempt);
        }
    }
}
