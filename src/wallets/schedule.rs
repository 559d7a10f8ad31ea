//! Which wallets are due a periodic sync: the wallet side of the periodic
//! sync that `jobs::schedule` queues.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

/// A wallet due a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueWallet {
    pub id: Uuid,
    pub address: String,
    pub user_id: Option<Uuid>,
}

/// One batch of wallets in id order, and those of them due a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    /// The last wallet of the batch, where the next batch starts; `None`
    /// when no wallet is left.
    pub last: Option<Uuid>,
    pub due: Vec<DueWallet>,
}

/// The next `size` wallets after `after` (from the first when `None`), in id
/// order, and those of them not synced within `interval`. Bounded by `size`
/// however many wallets there are, so that each call stays well inside a
/// statement timeout.
pub async fn due_for_sync(
    conn: &mut PgConnection,
    interval: Duration,
    after: Option<Uuid>,
    size: i64,
) -> Result<SyncBatch, sqlx::Error> {
    // One row per due wallet, or one row of NULLs when none is due, each
    // carrying the batch's last id.
    let rows = sqlx::query!(
        r#"WITH batch AS (
             SELECT id, address, user_id, last_synced_at FROM user_wallets
              WHERE $2::uuid IS NULL OR id > $2
              ORDER BY id
              LIMIT $3
         )
         SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last,
                w.id AS "id?", w.address AS "address?", w.user_id AS "user_id?"
           FROM (SELECT 1) one
           LEFT JOIN batch w
                  ON w.last_synced_at IS NULL
                  OR w.last_synced_at < now() - make_interval(secs => $1)"#,
        interval.as_secs_f64(),
        after,
        size,
    )
    .fetch_all(conn)
    .await?;
    let last = rows.first().and_then(|r| r.last);
    let due = rows
        .into_iter()
        .filter_map(|r| {
            Some(DueWallet {
                id: r.id?,
                address: r.address?,
                user_id: r.user_id,
            })
        })
        .collect();
    Ok(SyncBatch { last, due })
}
