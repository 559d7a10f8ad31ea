//! The wallet's processing flag (`is_processing`, `processing_job_id`,
//! `processing_since`) belongs to the lease of the job working on it.
//!
//! A job takes the flag when it is free, when it names this same job (a
//! rescued job's new attempt takes over from the dead one), or when the job
//! it names is no longer processing (a flag that outlived its job). The
//! flag is cleared at the end of every attempt; if the attempt's task is
//! dropped (timeout, panic, lost lease) the guard clears it in the
//! background.

use sqlx::PgPool;
use uuid::Uuid;

use super::JobError;
use crate::queue::Lease;

/// The flag, held; release it with [`Flag::release`].
pub struct Flag {
    pool: PgPool,
    wallet_id: Uuid,
    lease: Lease,
    released: bool,
}

/// Takes the wallet's flag for `lease`'s job. `None` when another job that
/// is still processing holds it. Fails with [`JobError::LeaseLost`] when the
/// lease is no longer this attempt's.
pub async fn acquire(
    pool: &PgPool,
    wallet_id: Uuid,
    lease: &Lease,
) -> Result<Option<Flag>, JobError> {
    let mut tx = pool.begin().await?;
    // Holding the job row keeps a rescue from taking the lease meanwhile.
    if !crate::queue::hold_lease(&mut tx, lease).await? {
        return Err(JobError::LeaseLost);
    }
    let taken = sqlx::query(
        "UPDATE user_wallets w
            SET is_processing = true,
                processing_job_id = $2,
                processing_since = CASE WHEN w.processing_job_id = $2
                                        THEN coalesce(w.processing_since, now()) ELSE now() END
          WHERE w.id = $1
            AND (NOT w.is_processing
                 OR w.processing_job_id IS NULL
                 OR w.processing_job_id = $2
                 OR NOT EXISTS (SELECT 1 FROM job_logs j
                                 WHERE j.id = w.processing_job_id AND j.status = 'processing'))",
    )
    .bind(wallet_id)
    .bind(lease.job_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok((taken == 1).then(|| Flag {
        pool: pool.clone(),
        wallet_id,
        lease: *lease,
        released: false,
    }))
}

/// Clears the flag unless a newer attempt of the same job has taken it over.
async fn clear(pool: &PgPool, wallet_id: Uuid, lease: Lease) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE user_wallets w
            SET is_processing = false, processing_job_id = NULL, processing_since = NULL
          WHERE w.id = $1 AND w.processing_job_id = $2
            AND NOT EXISTS (SELECT 1 FROM job_logs j
                             WHERE j.id = $2 AND j.status = 'processing' AND j.attempt > $3)",
    )
    .bind(wallet_id)
    .bind(lease.job_id)
    .bind(lease.attempt)
    .execute(pool)
    .await
    .map(|_| ())
}

impl Flag {
    /// Clears the flag if this job still holds it. A failure is logged: the
    /// flag then names a job that is no longer processing, which the next
    /// job for the wallet takes over.
    pub async fn release(mut self) {
        self.released = true;
        if let Err(e) = clear(&self.pool, self.wallet_id, self.lease).await {
            tracing::warn!(wallet_id = %self.wallet_id, "cannot clear the processing flag: {e}");
        }
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (pool, wallet_id, lease) = (self.pool.clone(), self.wallet_id, self.lease);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = clear(&pool, wallet_id, lease).await;
            });
        }
    }
}
