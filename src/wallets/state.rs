//! What a sync learnt of a wallet: its balances and the outcome of the sync
//! (`user_wallets.sync_status`).

use sqlx::PgPool;
use uuid::Uuid;

/// Records a successful sync: the balances (TRX in SUN, USDT in its
/// smallest unit) and the time; the balance is no longer stale (see
/// [`super::deposits`]).
pub async fn record_synced(
    pool: &PgPool,
    wallet_id: Uuid,
    trx_balance_sun: i64,
    usdt_balance: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "UPDATE user_wallets
            SET trx_balance_sun = $2, usdt_balance = $3, last_synced_at = now(),
                sync_status = 'ok', sync_error = NULL
          WHERE id = $1",
        wallet_id,
        trx_balance_sun,
        usdt_balance
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM stale_balances WHERE wallet_id = $1", wallet_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Records a failed sync and why; the balances stay as last synced.
pub async fn record_sync_error(
    pool: &PgPool,
    wallet_id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE user_wallets SET sync_status = 'error', sync_error = $2 WHERE id = $1",
        wallet_id,
        error
    )
    .execute(pool)
    .await
    .map(|_| ())
}
