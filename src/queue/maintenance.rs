//! Maintenance that runs once per cluster, not once per worker: lease rescue,
//! folding the count deltas, retention, and applying approved configuration
//! changes once due. Work of other modules that must run once per cluster
//! (periodic wallet syncs, in `jobs`) runs as the leader too: see
//! [`Leader::renew`] and [`Leader::conn`].
//!
//! Whoever holds an unexpired lease on the one row of `maintenance_leader`
//! is the leader ([`Leader`]); it renews the lease before each piece of
//! work, and a leader that dies lets it run out ([`LEADER_LEASE`]) for
//! another process to take. Not an advisory lock: any login may take one,
//! so a viewer's login could have held maintenance up; only workers may
//! write the lease row.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{JobStatus, QueueConfig, QueueError, RescueOutcome, rescue_expired};

/// How long a leader's lease lasts without renewal: how soon another
/// process takes over from a leader that died.
pub const LEADER_LEASE: Duration = Duration::from_secs(10);

/// Most rows one retention statement deletes, so that it never holds locks
/// on a large part of the table.
pub const RETENTION_BATCH: i64 = 5000;
/// Most retention batches per maintenance round; the rest waits for the next.
const RETENTION_BATCHES_PER_ROUND: usize = 20;
/// Most rescue batches per round.
const RESCUE_BATCHES_PER_ROUND: usize = 20;

/// The maintenance leader: the holder of the lease, with a connection of
/// its own (detached from the pool, for its statement timeout).
pub struct Leader {
    conn: PgConnection,
    holder: Uuid,
}

/// Tries to become the leader; `None` while another process holds an
/// unexpired lease.
pub async fn try_lead(pool: &PgPool) -> Result<Option<Leader>, QueueError> {
    let holder = Uuid::new_v4();
    let got = sqlx::query!(
        "UPDATE maintenance_leader SET holder = $1, renewed_at = now()
          WHERE holder IS NULL OR renewed_at IS NULL
             OR renewed_at < now() - make_interval(secs => $2)",
        holder,
        LEADER_LEASE.as_secs_f64(),
    )
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if !got {
        return Ok(None);
    }
    let mut conn = pool.acquire().await?.detach();
    // Every maintenance statement is bounded and takes milliseconds. One
    // that runs long holds back the cleanup of dead rows that every claim
    // then has to step over: cancel it, and the round is retried. (A
    // session setting: nothing for the checked macros to check.)
    sqlx::query("SET statement_timeout = '10s'")
        .execute(&mut conn)
        .await?;
    Ok(Some(Leader { conn, holder }))
}

/// Whether `holder` still holds an unexpired leader lease, as part of the
/// caller's transaction: the row stays locked (FOR SHARE) until it ends, so
/// no other process takes the lead meanwhile. What the leader writes
/// without a job (the energy pool's reclaims) is guarded by it.
pub async fn still_leading(conn: &mut PgConnection, holder: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM maintenance_leader
                           WHERE holder = $1 AND renewed_at >= now() - make_interval(secs => $2)
                           FOR SHARE) AS "leading!""#,
        holder,
        LEADER_LEASE.as_secs_f64(),
    )
    .fetch_one(conn)
    .await
}

impl Leader {
    /// The lease's holder id, for [`still_leading`].
    pub fn holder(&self) -> Uuid {
        self.holder
    }

    /// Renews the lease; an error when it ran out and another process may
    /// lead now (this one must stop and try to lead again). Leader work
    /// done in steps renews before each.
    pub async fn renew(&mut self) -> Result<(), QueueError> {
        let renewed = sqlx::query!(
            "UPDATE maintenance_leader SET renewed_at = now() WHERE holder = $1",
            self.holder,
        )
        .execute(&mut self.conn)
        .await?
        .rows_affected();
        if renewed == 1 {
            Ok(())
        } else {
            Err(QueueError::LeadershipLost)
        }
    }

    /// Rescues expired leases and folds the count deltas. Cheap: meant for
    /// every second or so. An error means the leader's connection may be
    /// gone or its lease ran out: drop the leader and try to lead again.
    pub async fn tick(&mut self) -> Result<RescueOutcome, QueueError> {
        self.renew().await?;
        let mut rescued = RescueOutcome::default();
        for _ in 0..RESCUE_BATCHES_PER_ROUND {
            let r = rescue_expired(&mut self.conn).await?;
            rescued.requeued += r.requeued;
            rescued.released += r.released;
            rescued.failed += r.failed;
            if r.total() < super::work::RESCUE_BATCH as u64 {
                break;
            }
        }
        sqlx::query!("SELECT walletops_roll_up_job_counts()")
            .fetch_one(&mut self.conn)
            .await?;
        Ok(rescued)
    }

    /// Carries out the configuration changes two admins approved whose
    /// delay has passed (the database's `walletops_apply_due_proposals()`,
    /// owned by `settings::proposals`), so that they take effect on time
    /// whether or not an admin is looking. Returns how many took effect.
    pub async fn apply_due_config_changes(&mut self) -> Result<u64, QueueError> {
        Ok(crate::settings::proposals::apply_due(&mut self.conn)
            .await?
            .len() as u64)
    }

    /// The leader's connection, for bounded statements that must run once
    /// per cluster (under its statement timeout); [`Leader::renew`] first.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Deletes completed and cancelled jobs older than `queue.retention_days`
    /// and failed ones older than `queue.failed_retention_days`, in bounded
    /// batches. Returns how many rows went.
    pub async fn retention(&mut self, config: &QueueConfig) -> Result<u64, QueueError> {
        let mut deleted = 0;
        for (statuses, age) in [
            (
                &[JobStatus::Completed, JobStatus::Cancelled][..],
                config.retention,
            ),
            (&[JobStatus::Failed][..], config.failed_retention),
        ] {
            for _ in 0..RETENTION_BATCHES_PER_ROUND {
                self.renew().await?;
                let n = sqlx::query!(
                    "DELETE FROM job_logs WHERE id IN (
                         SELECT id FROM job_logs
                          WHERE status = ANY($1)
                            AND (finished_at < now() - make_interval(secs => $2)
                                 OR (finished_at IS NULL
                                     AND created_at < now() - make_interval(secs => $2)))
                          LIMIT $3)",
                    statuses as _,
                    age.as_secs_f64(),
                    RETENTION_BATCH,
                )
                .execute(&mut self.conn)
                .await?
                .rows_affected();
                deleted += n;
                if n < RETENTION_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// Gives up leadership: frees the lease (so that another process may
    /// lead at once) and closes the session.
    pub async fn resign(mut self) {
        use sqlx::Connection as _;
        let _ = sqlx::query!(
            "UPDATE maintenance_leader SET holder = NULL, renewed_at = NULL WHERE holder = $1",
            self.holder,
        )
        .execute(&mut self.conn)
        .await;
        let _ = self.conn.close().await;
    }
}
