//! The reads the hash chain's verification needs (`admin::audit_chain`
//! recomputes the hashes): the head `audit_head` records, and the chained
//! rows of `admin_actions` in order.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// One row as the hash covers it.
#[derive(Debug, Clone)]
pub struct ChainRow {
    pub id: Uuid,
    pub seq: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub db_login: Option<String>,
    pub admin_user_id: Option<Uuid>,
    pub action_type: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// The stored JSON as the database prints it (jsonb's text is canonical).
    pub details: Option<String>,
    pub external: bool,
    pub prev_hash: Option<Vec<u8>>,
    pub row_hash: Option<Vec<u8>>,
}

/// The newest row's seq and hash as `audit_head` records them (none before
/// the first audited change).
pub async fn head(conn: &mut PgConnection) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error> {
    Ok(sqlx::query!("SELECT seq, row_hash FROM audit_head")
        .fetch_optional(conn)
        .await?
        .map(|r| (r.seq, r.row_hash)))
}

/// The stored hash of the row at `seq`, and how many rows have a seq up to
/// it: what proves a checkpoint still holds.
pub async fn at(conn: &mut PgConnection, seq: i64) -> Result<(Option<Vec<u8>>, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT (SELECT row_hash FROM admin_actions WHERE seq = $1) AS hash,
                  (SELECT count(*) FROM admin_actions WHERE seq <= $1) AS "count!""#,
        seq
    )
    .fetch_one(conn)
    .await?;
    Ok((row.hash, row.count))
}

/// A row without a place in the chain (no seq or no hash), if any.
pub async fn first_unchained(conn: &mut PgConnection) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM admin_actions WHERE seq IS NULL OR row_hash IS NULL LIMIT 1"
    )
    .fetch_optional(conn)
    .await
}

/// At most `limit` rows after `after`, in chain order.
pub async fn rows_after(
    conn: &mut PgConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<ChainRow>, sqlx::Error> {
    sqlx::query_as!(
        ChainRow,
        "SELECT id, seq, created_at, db_login, admin_user_id, action_type, target_type,
                target_id, details::text AS details, external, prev_hash, row_hash
           FROM admin_actions WHERE seq > $1 ORDER BY seq, id LIMIT $2",
        after,
        limit
    )
    .fetch_all(conn)
    .await
}
