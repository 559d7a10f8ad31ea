//! The audit trail's hash chain, verified in Rust: each row's hash is
//! SHA-256 over its predecessor's hash and its own content, recomputed here
//! independently of the database's functions. Verification names the first
//! row that was changed, removed or inserted out of order, and checks the
//! chain's end against `audit_head`.
//!
//! Health checks the chain on every refresh, so it verifies incrementally:
//! from the last verified row (a checkpoint kept per database in this
//! process) after checking that row unchanged and the number of rows before
//! it intact; the whole chain again at least every [`FULL_EVERY`].

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::AdminError;
use crate::audit::chain;

/// The predecessor of the first row.
pub const GENESIS: [u8; 32] = [0; 32];
/// Rows read per query while walking the chain.
const BATCH: i64 = 5000;
/// Longest time between two full verifications of one database.
pub const FULL_EVERY: Duration = Duration::from_secs(10 * 60);

/// The newest row of the chain as `audit_head` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    pub seq: i64,
    /// Hex of its hash.
    pub hash: String,
}

pub use crate::audit::chain::ChainRow;

/// Each field as a 4-byte big-endian length and its UTF-8 bytes; NULL is
/// length -1 (the same as migration 0007's `walletops_audit_field`).
fn field(out: &mut Sha256, value: Option<&str>) {
    match value {
        None => out.update((-1i32).to_be_bytes()),
        Some(v) => {
            out.update((v.len() as i32).to_be_bytes());
            out.update(v.as_bytes());
        }
    }
}

/// The hash `row` must carry after a row whose hash is `prev`.
pub fn row_hash(prev: &[u8], row: &ChainRow) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    field(&mut h, row.seq.map(|s| s.to_string()).as_deref());
    field(&mut h, Some(&row.id.to_string()));
    field(
        &mut h,
        row.created_at
            .map(|t| t.timestamp_micros().to_string())
            .as_deref(),
    );
    field(&mut h, row.db_login.as_deref());
    field(&mut h, row.admin_user_id.map(|u| u.to_string()).as_deref());
    field(&mut h, row.action_type.as_deref());
    field(&mut h, row.target_type.as_deref());
    field(&mut h, row.target_id.as_deref());
    field(&mut h, row.details.as_deref());
    field(&mut h, Some(if row.external { "t" } else { "f" }));
    h.finalize().into()
}

/// What verification found wrong first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The row's content no longer matches its hash (or its hash was rewritten).
    Changed { seq: i64, id: Uuid },
    /// Rows `from..=to` are missing.
    Removed { from: i64, to: i64 },
    /// A row that is not where the chain says: no seq, a seq taken twice,
    /// or a predecessor hash that is not its predecessor's.
    OutOfOrder { seq: Option<i64>, id: Uuid },
    /// The chain's end does not match `audit_head`.
    Head { chain_seq: i64, head_seq: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Changed { seq, id } => write!(f, "row {seq} ({id}) was changed"),
            Problem::Removed { from, to } if from == to => write!(f, "row {from} was removed"),
            Problem::Removed { from, to } => write!(f, "rows {from} to {to} were removed"),
            Problem::OutOfOrder { seq: Some(s), id } => {
                write!(f, "row {s} ({id}) was inserted out of order")
            }
            Problem::OutOfOrder { seq: None, id } => {
                write!(f, "row {id} was inserted outside the chain (no seq)")
            }
            Problem::Head {
                chain_seq,
                head_seq,
            } if head_seq > chain_seq => write!(
                f,
                "rows {} to {head_seq} were removed (the chain ends at {chain_seq}, its head says {head_seq})",
                chain_seq + 1
            ),
            Problem::Head {
                chain_seq,
                head_seq,
            } => write!(
                f,
                "the head was changed (the chain ends at {chain_seq}, its head says {head_seq})"
            ),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    /// The first problem, if any.
    pub problem: Option<Problem>,
    /// What `audit_head` records.
    pub head: Option<Head>,
    /// Rows whose hash was recomputed.
    pub rows_checked: u64,
}

/// A verified position: rows up to `seq` were intact, the last one with `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// The head as `audit_head` records it (None before migration 0007).
pub async fn head(pool: &PgPool) -> Result<Option<Head>, AdminError> {
    let mut conn = pool.acquire().await?;
    let row = chain::head(&mut conn).await?;
    Ok(row.map(|(seq, hash)| Head {
        seq,
        hash: hex::encode(hash),
    }))
}

/// Verifies the chain from `from` (the whole chain when None, or when the
/// checkpoint no longer holds: then the walk from the start names what
/// changed) to its end, and checks the end against the head. Returns the
/// verification and, when intact, the new checkpoint.
pub async fn verify(
    pool: &PgPool,
    from: Option<&Checkpoint>,
) -> Result<(Verification, Option<Checkpoint>), AdminError> {
    // One snapshot for every read: a row committed between reading the head
    // and reading the rows would look like a row beyond the head.
    let mut tx = pool.begin().await?;
    // A transaction mode, no table: nothing for the query macros to check.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let mut start = (0, GENESIS.to_vec());
    if let Some(cp) = from {
        // The checkpoint row is unchanged and no row before it went missing.
        let (hash, n) = chain::at(&mut tx, cp.seq).await?;
        if n == cp.seq && (cp.seq == 0 || hash.as_deref() == Some(&cp.hash[..])) {
            start = (cp.seq, cp.hash.clone());
        }
    }
    let outcome = walk(&mut tx, start.0, start.1).await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn walk(
    conn: &mut PgConnection,
    mut last_seq: i64,
    mut prev: Vec<u8>,
) -> Result<(Verification, Option<Checkpoint>), AdminError> {
    let head_row = chain::head(&mut *conn).await?;
    let head_view = head_row.as_ref().map(|(seq, hash)| Head {
        seq: *seq,
        hash: hex::encode(hash),
    });
    let mut checked = 0u64;
    let done = |problem: Option<Problem>, checked: u64, cp: Option<Checkpoint>| {
        (
            Verification {
                ok: problem.is_none(),
                problem,
                head: head_view.clone(),
                rows_checked: checked,
            },
            cp,
        )
    };

    // A row without a place in the chain, wherever it is.
    if let Some(id) = chain::first_unchained(&mut *conn).await? {
        return Ok(done(Some(Problem::OutOfOrder { seq: None, id }), 0, None));
    }

    loop {
        let rows = chain::rows_after(&mut *conn, last_seq, BATCH).await?;
        for row in &rows {
            let seq = row.seq.unwrap_or_default();
            if seq > last_seq + 1 {
                return Ok(done(
                    Some(Problem::Removed {
                        from: last_seq + 1,
                        to: seq - 1,
                    }),
                    checked,
                    None,
                ));
            }
            // A repeated seq, or a row that does not follow the one before.
            if seq == last_seq || row.prev_hash.as_deref() != Some(&prev[..]) {
                return Ok(done(
                    Some(Problem::OutOfOrder {
                        seq: Some(seq),
                        id: row.id,
                    }),
                    checked,
                    None,
                ));
            }
            let hash = row_hash(&prev, row);
            checked += 1;
            if row.row_hash.as_deref() != Some(&hash[..]) {
                return Ok(done(
                    Some(Problem::Changed { seq, id: row.id }),
                    checked,
                    None,
                ));
            }
            last_seq = seq;
            prev = hash.to_vec();
        }
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    let problem = match &head_row {
        Some((head_seq, head_hash)) if *head_seq != last_seq || *head_hash != prev => {
            Some(Problem::Head {
                chain_seq: last_seq,
                head_seq: *head_seq,
            })
        }
        _ => None,
    };
    let checkpoint = problem.is_none().then_some(Checkpoint {
        seq: last_seq,
        hash: prev,
    });
    Ok(done(problem, checked, checkpoint))
}

/// What this process last verified of one database.
struct Verified {
    checkpoint: Checkpoint,
    /// When the whole chain was last walked.
    full_at: Instant,
}

static VERIFIED: LazyLock<Mutex<HashMap<String, Verified>>> = LazyLock::new(Default::default);

/// The database a pool reaches, as the cache names it.
fn database_key(pool: &PgPool) -> String {
    let o = pool.connect_options();
    format!(
        "{}:{}/{}",
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or_default()
    )
}

/// Verifies the chain cheaply enough for every refresh: from this process's
/// last checkpoint of the database, and in full when there is none or it is
/// older than [`FULL_EVERY`]. A broken chain keeps no checkpoint, so it is
/// walked (and reported) again until it is repaired.
pub async fn check(pool: &PgPool) -> Result<Verification, AdminError> {
    let key = database_key(pool);
    let cached = {
        let map = VERIFIED.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key)
            .filter(|v| v.full_at.elapsed() < FULL_EVERY)
            .map(|v| (v.checkpoint.clone(), v.full_at))
    };
    let (verification, checkpoint) = verify(pool, cached.as_ref().map(|(cp, _)| cp)).await?;
    let mut map = VERIFIED.lock().unwrap_or_else(|e| e.into_inner());
    match checkpoint {
        Some(checkpoint) => {
            let full_at = cached.map_or_else(Instant::now, |(_, at)| at);
            map.insert(
                key,
                Verified {
                    checkpoint,
                    full_at,
                },
            );
        }
        None => {
            map.remove(&key);
        }
    }
    Ok(verification)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn row() -> ChainRow {
        ChainRow {
            id: Uuid::nil(),
            seq: Some(1),
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456),
            db_login: Some("alice".into()),
            admin_user_id: None,
            action_type: Some("config.set".into()),
            target_type: Some("system_config".into()),
            target_id: Some("workers.paused".into()),
            details: Some(r#"{"new": true}"#.into()),
            external: false,
            prev_hash: Some(GENESIS.to_vec()),
            row_hash: None,
        }
    }

    #[test]
    fn every_field_and_the_predecessor_change_the_hash() {
        let base = row_hash(&GENESIS, &row());
        assert_ne!(row_hash(&[1; 32], &row()), base);
        let variants = [
            ChainRow {
                seq: Some(2),
                ..row()
            },
            ChainRow {
                db_login: Some("mallory".into()),
                ..row()
            },
            ChainRow {
                admin_user_id: Some(Uuid::max()),
                ..row()
            },
            ChainRow {
                details: Some(r#"{"new": false}"#.into()),
                ..row()
            },
            ChainRow {
                external: true,
                ..row()
            },
            ChainRow {
                target_id: None,
                ..row()
            },
            ChainRow {
                created_at: DateTime::from_timestamp_micros(1_700_000_000_123_457),
                ..row()
            },
        ];
        for v in variants {
            assert_ne!(row_hash(&GENESIS, &v), base);
        }
        // NULL and the empty string differ.
        assert_ne!(
            row_hash(
                &GENESIS,
                &ChainRow {
                    target_id: Some(String::new()),
                    ..row()
                }
            ),
            row_hash(
                &GENESIS,
                &ChainRow {
                    target_id: None,
                    ..row()
                }
            )
        );
    }
}
