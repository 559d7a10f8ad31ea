//! The heartbeat: updates the process's `workers` row every second and
//! renews held leases every third of a lease; abandons jobs whose lease was
//! lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use super::held::Holdings;
use super::status::Status;
use crate::queue::{self, QueueConfig, workers};

/// How often the `workers` row is updated (and leases checked for renewal).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

pub(super) struct Heartbeat {
    pub pool: PgPool,
    pub held: Arc<Holdings>,
    pub status: Arc<Status>,
    /// For the lease length.
    pub config: watch::Receiver<QueueConfig>,
}

impl Heartbeat {
    pub async fn run(self) {
        let mut last_renew = Instant::now();
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            let lease = self.config.borrow().lease;
            if last_renew.elapsed() >= lease / 3 {
                let held = self.held.renewable();
                match queue::heartbeat(&self.pool, self.status.worker_id(), &held, lease).await {
                    Ok(renewed) => {
                        last_renew = Instant::now();
                        let renewed: HashSet<Uuid> = renewed.into_iter().collect();
                        for (id, attempt) in held.iter().filter(|(id, _)| !renewed.contains(id)) {
                            self.held.abandon(*id, *attempt);
                        }
                    }
                    Err(e) => self.status.set_error("renewing leases failed", &e),
                }
            }
            self.update_worker_row().await;
        }
    }

    async fn update_worker_row(&self) {
        let now = self.status.read();
        let beat = workers::Beat {
            state: now.state,
            current_job_id: now.current,
            jobs_in_flight: now.running as i32,
            jobs_done: now.done as i64,
            jobs_failed: now.failed as i64,
            last_error: now.last_error,
        };
        match workers::beat(&self.pool, self.status.worker_id(), &beat).await {
            // A paused worker claims nothing, so this is its proof that the
            // database answers again.
            Ok(()) if self.status.is_paused() => self.status.clear_error(),
            Ok(()) => {}
            Err(e) => self.status.set_error("worker heartbeat failed", &e),
        }
    }
}

/// Marks the process's `workers` row stopped, with its final counts.
pub(super) async fn mark_stopped(pool: &PgPool, status: &Status) {
    let (done, failed) = (status.done() as i64, status.failed() as i64);
    if let Err(e) = workers::mark_stopped(pool, status.worker_id(), done, failed).await {
        tracing::warn!(
            "could not mark the worker stopped: {}",
            crate::db::one_line(&e)
        );
    }
}
