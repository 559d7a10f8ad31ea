//! The wallet's processing flag (`is_processing`, `processing_job_id`,
//! `processing_since`): which job works on the wallet. The flag lives on
//! `user_wallets`, so its statements are here; each one also reads the job
//! it names in `job_logs` (whether it still runs), because the flag is only
//! as good as that job's lease and the two must be judged in one statement.
//! The lease protocol around it is `jobs::processing`'s.

use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

/// A wallet whose processing job is not live (missing, finished, or past
/// its lease): the one predicate [`count_orphaned`] counts and
/// [`release_orphaned`] clears, so a confirmation counts what the reset does.
const ORPHANED: &str = "w.is_processing
    AND NOT EXISTS (SELECT 1 FROM job_logs j
                     WHERE j.id = w.processing_job_id
                       AND j.status = 'processing'
                       AND j.locked_until > now())";

/// Sets the flag of `wallet_id` to `job_id` when it is free, already names
/// that job (a new attempt of it takes over), or names a job that is no
/// longer processing. Returns whether the job now holds it.
pub async fn take(
    conn: &mut PgConnection,
    wallet_id: Uuid,
    job_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query!(
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
        wallet_id,
        job_id
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// Clears the flag of `wallet_id` if it names `job_id`, unless an attempt
/// of that job newer than `attempt` is processing (it has taken it over).
pub async fn clear(
    db: impl sqlx::PgExecutor<'_>,
    wallet_id: Uuid,
    job_id: Uuid,
    attempt: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE user_wallets w
            SET is_processing = false, processing_job_id = NULL, processing_since = NULL
          WHERE w.id = $1 AND w.processing_job_id = $2
            AND NOT EXISTS (SELECT 1 FROM job_logs j
                             WHERE j.id = $2 AND j.status = 'processing' AND j.attempt > $3)",
        wallet_id,
        job_id,
        attempt
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// Whether a sweep of `wallet_id` is in flight: a live job holds its flag,
/// a consolidation of it is pending or processing, or it has a transfer
/// that may still land. Locks the wallet's row for the caller's
/// transaction, so that no job takes the flag until it ends ([`take`]
/// updates the row): the maintenance leader's reclaim of a delegation is
/// then either made before the sweep starts (which settles it first) or
/// not at all.
pub async fn sweep_in_flight(
    conn: &mut PgConnection,
    wallet_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT (w.is_processing AND EXISTS (SELECT 1 FROM job_logs j
                                               WHERE j.id = w.processing_job_id
                                                 AND j.status = 'processing'))
                  OR EXISTS (SELECT 1 FROM job_logs j
                              WHERE j.wallet_id = w.id AND j.job_type = 'consolidation'
                                AND j.status IN ('pending', 'processing'))
                  OR EXISTS (SELECT 1 FROM transfers t
                              WHERE t.wallet_id = w.id AND t.status IN ('signed', 'broadcast'))
                  AS "busy!"
             FROM user_wallets w WHERE w.id = $1 FOR UPDATE OF w"#,
        wallet_id
    )
    .fetch_optional(conn)
    .await
    .map(|busy| busy.unwrap_or(false))
}

/// Clears the flag of every wallet whose processing job is not live
/// (missing, finished, or past its lease); returns their addresses.
pub async fn release_orphaned(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(
        "UPDATE user_wallets w
            SET is_processing = false, processing_job_id = NULL, processing_since = NULL,
                updated_at = now()
          WHERE ",
    );
    q.push(ORPHANED).push(" RETURNING w.address");
    q.build_query_scalar().fetch_all(conn).await
}

/// How many wallets [`release_orphaned`] would clear now.
pub async fn count_orphaned<'c>(db: impl PgExecutor<'c>) -> Result<i64, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT count(*) FROM user_wallets w WHERE ");
    q.push(ORPHANED);
    q.build_query_scalar().fetch_one(db).await
}
