//! The schema: the original admin page's tables and CHECK values exactly, migrations on an
//! empty database and on an existing deployment, and concurrent migrations
//! of several databases in one cluster.

mod common;

use sqlx::PgPool;
use walletops::db;

/// The original admin page's columns, table by table, as `information_schema` names them.
const SEED_COLUMNS: &[(&str, &[(&str, &str)])] = &[
    (
        "job_logs",
        &[
            ("id", "uuid"),
            ("job_id", "text"),
            ("job_type", "text"),
            ("status", "text"),
            ("wallet_address", "text"),
            ("user_id", "uuid"),
            ("data", "jsonb"),
            ("retry_count", "integer"),
            ("max_retries", "integer"),
            ("error_message", "text"),
            ("created_at", "timestamp with time zone"),
            ("updated_at", "timestamp with time zone"),
        ],
    ),
    (
        "admin_actions",
        &[
            ("id", "uuid"),
            ("admin_user_id", "uuid"),
            ("action_type", "text"),
            ("target_id", "text"),
            ("target_type", "text"),
            ("details", "jsonb"),
            ("created_at", "timestamp with time zone"),
        ],
    ),
    (
        "system_config",
        &[
            ("id", "uuid"),
            ("key", "text"),
            ("value", "jsonb"),
            ("description", "text"),
            ("created_at", "timestamp with time zone"),
            ("updated_at", "timestamp with time zone"),
        ],
    ),
    (
        "user_wallets",
        &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("address", "text"),
            ("created_at", "timestamp with time zone"),
        ],
    ),
];

async fn column_type(pool: &PgPool, table: &str, column: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT data_type FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2",
    )
    .bind(table)
    .bind(column)
    .fetch_optional(pool)
    .await
    .unwrap()
}

async fn assert_seed_schema(pool: &PgPool) {
    for (table, columns) in SEED_COLUMNS {
        for (column, ty) in *columns {
            assert_eq!(
                column_type(pool, table, column).await.as_deref(),
                Some(*ty),
                "{table}.{column}"
            );
        }
    }
    // Every column added to an existing table is nullable or has a default,
    // so the original app's plain inserts keep working.
    let strict: Vec<String> = sqlx::query_scalar(
        "SELECT table_name || '.' || column_name FROM information_schema.columns
          WHERE table_schema = 'public'
            AND table_name IN ('job_logs', 'admin_actions', 'system_config', 'user_wallets')
            AND is_nullable = 'NO' AND column_default IS NULL
            AND column_name NOT IN ('id', 'address')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(strict.is_empty(), "columns without default: {strict:?}");
}

async fn check_violation(pool: &PgPool, sql: &'static str) -> String {
    let err = sqlx::query(sql).execute(pool).await.unwrap_err();
    let db = err.as_database_error().expect("a database error");
    db.code().unwrap().into_owned()
}

#[tokio::test]
async fn empty_database_gets_the_seed_schema_and_its_checks() {
    let t = common::fresh_db().await;
    assert_seed_schema(&t.pool).await;

    // The original CHECK values, exactly: each allowed value is accepted...
    for ty in ["sync", "consolidation", "gas-topup"] {
        for status in ["pending", "processing", "completed", "failed", "cancelled"] {
            sqlx::query("INSERT INTO job_logs (job_type, status) VALUES ($1, $2)")
                .bind(ty)
                .bind(status)
                .execute(&t.pool)
                .await
                .unwrap_or_else(|e| panic!("{ty}/{status}: {e}"));
        }
    }
    // ...and anything else is refused by the database.
    assert_eq!(
        check_violation(&t.pool, "INSERT INTO job_logs (job_type) VALUES ('sweep')").await,
        "23514"
    );
    assert_eq!(
        check_violation(
            &t.pool,
            "INSERT INTO job_logs (job_type, status) VALUES ('sync', 'done')"
        )
        .await,
        "23514"
    );

    // job_id stays unique where it is set, as the original UNIQUE says.
    sqlx::query("INSERT INTO job_logs (job_id, job_type) VALUES ('ext-1', 'sync')")
        .execute(&t.pool)
        .await
        .unwrap();
    assert_eq!(
        check_violation(
            &t.pool,
            "INSERT INTO job_logs (job_id, job_type) VALUES ('ext-1', 'consolidation')"
        )
        .await,
        "23505"
    );

    // Plain SQL inserts of the original shape still work (defaults fill the rest).
    sqlx::query("INSERT INTO system_config (key, value) VALUES ('custom.key', '1')")
        .execute(&t.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_runtime_switch_is_seeded_with_a_description() {
    let t = common::fresh_db().await;
    let rows: Vec<(String, serde_json::Value, Option<String>)> =
        sqlx::query_as("SELECT key, value, description FROM system_config")
            .fetch_all(&t.pool)
            .await
            .unwrap();
    for key in [
        "workers.paused",
        "ui.refresh_seconds",
        "consolidation.treasury_address",
        "consolidation.min_usdt",
        "consolidation.trx_reserve_sun",
        "gas.wallet_address",
        "gas.topup_sun",
        "gas.min_balance_sun",
        "sync.interval_seconds",
        "sync.auto_consolidate",
        "queue.max_retries",
        "queue.backoff_base_seconds",
        "queue.backoff_cap_seconds",
        "queue.lease_seconds",
        "queue.retention_days",
        "tron.usdt_contract",
        "tron.tx_expiry_seconds",
    ] {
        let row = rows.iter().find(|r| r.0 == key);
        let (_, _, description) = row.unwrap_or_else(|| panic!("{key} is not seeded"));
        assert!(
            description.as_deref().is_some_and(|d| d.len() > 10),
            "{key} needs a description"
        );
    }
    assert!(rows.iter().any(|r| r.0.starts_with("health.")));
    let get = |k: &str| rows.iter().find(|r| r.0 == k).unwrap().1.clone();
    // Nothing creates jobs on its own by default.
    assert_eq!(get("sync.interval_seconds"), serde_json::json!(0));
    assert_eq!(get("sync.auto_consolidate"), serde_json::json!(false));
    assert_eq!(get("workers.paused"), serde_json::json!(false));
}

/// The original admin page's tables, as its SQL files created them, with rows.
const EXISTING_DEPLOYMENT: &str = r#"
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text, raw_user_meta_data jsonb, created_at timestamptz DEFAULT now());
CREATE TABLE user_wallets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid REFERENCES auth.users(id),
  address text NOT NULL UNIQUE,
  created_at timestamptz DEFAULT now()
);
CREATE TABLE system_config (
  id UUID PRIMARY KEY, key TEXT UNIQUE, value JSONB, description TEXT,
  created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE TABLE admin_actions (
  id UUID PRIMARY KEY, admin_user_id UUID REFERENCES auth.users(id), action_type TEXT,
  target_id TEXT, target_type TEXT, details JSONB, created_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE TABLE job_logs (
  id UUID PRIMARY KEY, job_id TEXT UNIQUE,
  job_type TEXT CHECK (job_type IN ('sync', 'consolidation', 'gas-topup')),
  status TEXT CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  wallet_address TEXT, user_id UUID REFERENCES auth.users(id), data JSONB,
  retry_count INTEGER DEFAULT 0, max_retries INTEGER DEFAULT 3, error_message TEXT,
  created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW()
);
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('00000000-0000-0000-0000-000000000001', 'alice@example.com', '{"name": "Alice"}');
INSERT INTO user_wallets (id, user_id, address) VALUES
  ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001', 'THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3');
INSERT INTO system_config (id, key, value, description) VALUES
  (gen_random_uuid(), 'workers.paused', 'true', 'set by the old admin page');
INSERT INTO admin_actions (id, admin_user_id, action_type, target_type) VALUES
  (gen_random_uuid(), '00000000-0000-0000-0000-000000000001', 'pause_workers', 'system');
INSERT INTO job_logs (id, job_id, job_type, status, wallet_address, user_id) VALUES
  (gen_random_uuid(), 'bull-1', 'sync', 'completed', 'THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3', '00000000-0000-0000-0000-000000000001'),
  (gen_random_uuid(), 'bull-2', 'consolidation', 'pending', 'THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3', NULL),
  (gen_random_uuid(), 'bull-3', 'consolidation', 'pending', 'THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3', NULL),
  (gen_random_uuid(), 'bull-4', 'gas-topup', 'failed', 'TNotAWalletWeKnow', NULL);
"#;

#[tokio::test]
async fn existing_deployment_migrates_without_losing_a_row() {
    let t = common::empty_db().await;
    sqlx::raw_sql(EXISTING_DEPLOYMENT)
        .execute(&t.pool)
        .await
        .unwrap();

    db::migrate(&t.pool)
        .await
        .expect("migrate an existing deployment");
    assert_seed_schema(&t.pool).await;

    let count = |sql: &'static str| {
        let pool = t.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) FROM job_logs").await, 4);
    // The deployment's own row; the migrations' rows come on top.
    assert_eq!(
        count(
            "SELECT count(*) FROM admin_actions
              WHERE details -> 'actor' ->> 'via' IS DISTINCT FROM 'migration'"
        )
        .await,
        1
    );
    assert_eq!(count("SELECT count(*) FROM user_wallets").await, 1);
    assert_eq!(count("SELECT count(*) FROM auth.users").await, 1);
    // The operator's existing switch is kept, the missing ones are added.
    let paused: serde_json::Value =
        sqlx::query_scalar("SELECT value FROM system_config WHERE key = 'workers.paused'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(paused, serde_json::json!(true));
    assert!(count("SELECT count(*) FROM system_config").await > 10);
    // Jobs are linked to their wallet by address.
    assert_eq!(
        count(
            "SELECT count(*) FROM job_logs WHERE wallet_id = '00000000-0000-0000-0000-0000000000a1'"
        )
        .await,
        3
    );
    // Of two active consolidations for one wallet, the newer is cancelled with
    // a note (kept, not deleted) so that the one-active-job rule can hold.
    assert_eq!(
        count(
            "SELECT count(*) FROM job_logs WHERE job_type = 'consolidation' AND status = 'pending'"
        )
        .await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM job_logs WHERE status = 'cancelled' AND error_message LIKE '%duplicate%'").await,
        1
    );
    // The existing audit row heads the hash chain, which verifies, the
    // migrations' own rows after it.
    let (verification, _) = walletops::admin::audit_chain::verify(&t.pool, None)
        .await
        .unwrap();
    assert!(verification.ok, "{verification:?}");
    assert_eq!(
        verification.rows_checked as i64,
        count("SELECT count(*) FROM admin_actions").await
    );
    let first: Option<String> =
        sqlx::query_scalar("SELECT details -> 'actor' ->> 'via' FROM admin_actions WHERE seq = 1")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(first, None, "the deployment's own row is first");
    // Migrating again changes nothing.
    db::migrate(&t.pool).await.unwrap();
    assert_eq!(count("SELECT count(*) FROM job_logs").await, 4);
}

#[tokio::test]
async fn one_active_job_per_wallet_and_type_is_enforced_by_the_database() {
    let t = common::fresh_db().await;
    let insert =
        "INSERT INTO job_logs (job_type, status, wallet_address) VALUES ('sync', 'pending', 'TX')";
    sqlx::query(insert).execute(&t.pool).await.unwrap();
    assert_eq!(check_violation(&t.pool, insert).await, "23505");
    // Another type, or a finished job, does not conflict.
    sqlx::query("INSERT INTO job_logs (job_type, status, wallet_address) VALUES ('consolidation', 'pending', 'TX')")
        .execute(&t.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO job_logs (job_type, status, wallet_address) VALUES ('sync', 'completed', 'TX')")
        .execute(&t.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn admin_actions_refuse_update_and_delete_even_for_the_owner() {
    let t = common::fresh_db().await;
    sqlx::query("INSERT INTO admin_actions (action_type) VALUES ('test')")
        .execute(&t.pool)
        .await
        .unwrap();
    for sql in [
        "UPDATE admin_actions SET action_type = 'forged'",
        "DELETE FROM admin_actions",
        "TRUNCATE admin_actions",
    ] {
        let err = sqlx::query(sql).execute(&t.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM admin_actions WHERE action_type = 'test'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn deleting_jobs_keeps_transfer_records_and_wallets_with_transfers_cannot_go() {
    let t = common::fresh_db().await;
    let wallet: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO user_wallets (address) VALUES ('TWallet') RETURNING id")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    let job: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO job_logs (job_type, wallet_address, wallet_id) VALUES ('consolidation', 'TWallet', $1) RETURNING id",
    )
    .bind(wallet)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO transfers (wallet_id, job_id, kind, asset, from_address, to_address, amount, tx_id, signed_tx, expires_at)
         VALUES ($1, $2, 'consolidation-usdt', 'usdt', 'TWallet', 'TTreasury', 5, 'ab', '\\x00', now())",
    )
    .bind(wallet)
    .bind(job)
    .execute(&t.pool)
    .await
    .unwrap();

    sqlx::query("DELETE FROM job_logs")
        .execute(&t.pool)
        .await
        .unwrap();
    let (status, job_id): (String, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT status, job_id FROM transfers")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(status, "signed");
    assert_eq!(job_id, None, "the record outlives its job");

    let err = sqlx::query("DELETE FROM user_wallets")
        .execute(&t.pool)
        .await
        .unwrap_err();
    assert_eq!(err.as_database_error().unwrap().code().unwrap(), "23503");
}

#[tokio::test]
async fn several_databases_in_one_cluster_migrate_at_once() {
    let mut dbs = Vec::new();
    for _ in 0..4 {
        dbs.push(common::empty_db().await);
    }
    let mut runs = tokio::task::JoinSet::new();
    for t in &dbs {
        let pool = t.pool.clone();
        runs.spawn(async move { db::migrate(&pool).await });
    }
    for result in runs.join_all().await {
        result.expect("concurrent migration");
    }
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles
          WHERE rolname IN ('walletops_admin', 'walletops_worker', 'walletops_viewer') ORDER BY 1",
    )
    .fetch_all(&dbs[0].pool)
    .await
    .unwrap();
    assert_eq!(
        roles,
        ["walletops_admin", "walletops_viewer", "walletops_worker"]
    );
}

/// The group roles usually exist already when the suite runs, so the race
/// between databases is exercised on a role of the test's own: several
/// transactions in different databases create it at the same moment.
#[tokio::test]
async fn role_creation_tolerates_a_concurrent_creator_in_another_database() {
    let role = format!("wo_test_role_{}", uuid::Uuid::new_v4().simple());
    let mut txs = Vec::new();
    let mut dbs = Vec::new();
    for _ in 0..3 {
        let t = common::fresh_db().await;
        let mut tx = t.pool.begin().await.unwrap();
        sqlx::query("SET LOCAL lock_timeout = '20s'")
            .execute(&mut *tx)
            .await
            .unwrap();
        txs.push(tx);
        dbs.push(t);
    }
    // The first creates the role and holds its transaction open; the others
    // block on it and must not fail once it commits.
    let mut first = txs.remove(0);
    let created: bool = sqlx::query_scalar("SELECT walletops_ensure_role($1)")
        .bind(&role)
        .fetch_one(&mut *first)
        .await
        .unwrap();
    assert!(created);
    let mut waiting = tokio::task::JoinSet::new();
    for mut tx in txs {
        let role = role.clone();
        waiting.spawn(async move {
            let ok: bool = sqlx::query_scalar("SELECT walletops_ensure_role($1)")
                .bind(&role)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ok)
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    first.commit().await.unwrap();
    for result in waiting.join_all().await {
        assert!(result.expect("the losing creators succeed"));
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
        .execute(&dbs[0].pool)
        .await
        .unwrap();
}
