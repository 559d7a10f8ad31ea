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
use crate::queue::{self, QueueConfig, QueueError};

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
        let result = sqlx::query(
            "UPDATE workers
                SET state = $2, current_job_id = (SELECT id FROM job_logs WHERE id = $3),
                    jobs_in_flight = $4, jobs_done = $5, jobs_failed = $6,
                    last_error = coalesce($7, last_error), last_heartbeat_at = now()
              WHERE id = $1",
        )
        .bind(self.status.worker_id())
        .bind(now.state.as_str())
        .bind(now.current)
        .bind(now.running as i32)
        .bind(now.done as i64)
        .bind(now.failed as i64)
        .bind(now.last_error)
        .execute(&self.pool)
        .await;
        match result {
            // A paused worker claims nothing, so this is its proof that the
            // database answers again.
            Ok(_) if self.status.is_paused() => self.status.clear_error(),
            Ok(_) => {}
            Err(e) => self
                .status
                .set_error("worker heartbeat failed", &QueueError::from(e)),
        }
    }
}

/// Marks the process's `workers` row stopped, with its final counts.
pub(super) async fn mark_stopped(pool: &PgPool, status: &Status) {
    let result = sqlx::query(
        "UPDATE workers
            SET state = 'stopped', stopped_at = now(), current_job_id = NULL,
                jobs_in_flight = 0, jobs_done = $2, jobs_failed = $3, last_heartbeat_at = now()
          WHERE id = $1",
    )
    .bind(status.worker_id())
    .bind(status.done() as i64)
    .bind(status.failed() as i64)
    .execute(pool)
    .await;
    if let Err(e) = result {
        tracing::warn!(
            "could not mark the worker stopped: {}",
            crate::db::one_line(&e)
        );
    }
}
