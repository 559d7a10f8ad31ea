//! `auth.users`: Supabase's users where that service runs (migration 0001
//! creates a stand-in otherwise). walletops finds users by email, creates
//! one when an email is new and names them for display; it never deletes
//! one, since the audit trail names them.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The users whose email matches the LIKE `pattern`, case-insensitive.
pub async fn with_email_like(
    conn: &mut PgConnection,
    pattern: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM auth.users WHERE lower(email) LIKE lower($1)",
        pattern
    )
    .fetch_all(conn)
    .await
}

/// The user with `email` (case-insensitive; the oldest if several), created
/// when there is none; and whether it was created. Call it inside a
/// transaction: a lock on the email until its end makes two callers create
/// the user once.
pub async fn find_or_create(
    conn: &mut PgConnection,
    email: &str,
) -> Result<(Uuid, bool), sqlx::Error> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtext('walletops.user:' || lower($1)))",
        email
    )
    .execute(&mut *conn)
    .await?;
    let existing = sqlx::query_scalar!(
        "SELECT id FROM auth.users WHERE lower(email) = lower($1) ORDER BY created_at LIMIT 1",
        email
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = existing {
        return Ok((id, false));
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO auth.users (email) VALUES ($1) RETURNING id",
        email
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, true))
}

/// The email (else the name) of each of these users that has one, for
/// showing who owns a job or a wallet.
pub async fn labels(
    pool: &PgPool,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        "SELECT id, coalesce(email, raw_user_meta_data ->> 'name', raw_user_meta_data ->> 'full_name') AS label
           FROM auth.users WHERE id = ANY($1)",
        user_ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.id, r.label?)))
        .collect())
}
