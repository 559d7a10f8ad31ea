//! The wallet's processing flag (`is_processing`, `processing_job_id`,
//! `processing_since`, written by [`crate::wallets::processing`]) belongs
//! to the lease of the job working on it.
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
use crate::wallets;

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
    let taken = wallets::processing::take(&mut tx, wallet_id, lease.job_id).await?;
    tx.commit().await?;
    Ok(taken.then(|| Flag {
        pool: pool.clone(),
        wallet_id,
        lease: *lease,
        released: false,
    }))
}

/// Clears the flag unless a newer attempt of the same job has taken it over.
async fn clear(pool: &PgPool, wallet_id: Uuid, lease: Lease) -> Result<(), sqlx::Error> {
    wallets::processing::clear(pool, wallet_id, lease.job_id, lease.attempt).await
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
