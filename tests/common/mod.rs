//! Test support shared by the integration tests: every test gets its own
//! database on a real PostgreSQL server, the one named by `DATABASE_URL` or
//! else walletops' own local cluster.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection, PgPool};
use walletops::config::DatabaseUrl;
use walletops::db::{self, PoolOptions};

/// Test databases older than this are dropped by later runs.
const STALE_AFTER_SECS: u64 = 2 * 60 * 60;
const PREFIX: &str = "wo_test_";

/// The server the tests use: `DATABASE_URL`, else the local cluster.
pub async fn server_url() -> DatabaseUrl {
    match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => url.parse().expect("DATABASE_URL must be a postgres:// URL"),
        None => {
            let cluster = db::local::Cluster::locate().expect("local cluster");
            cluster
                .ensure_running()
                .await
                .expect("start the local cluster");
            cluster.url_for("postgres")
        }
    }
}

/// A database of the test's own.
pub struct TestDb {
    pub name: String,
    pub url: DatabaseUrl,
    pub pool: PgPool,
}

/// A new, empty database (no migrations).
pub async fn empty_db() -> TestDb {
    let server = server_url().await;
    let mut admin = PgConnection::connect(server.expose())
        .await
        .expect("connect to the test server");
    drop_stale(&mut admin).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let name = format!(
        "{PREFIX}{}_{}",
        now.as_secs(),
        uuid::Uuid::new_v4().simple().to_string().get(..12).unwrap()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let url = server.with_database(&name);
    let pool = db::connect(
        &url,
        PoolOptions {
            max_connections: 10,
            ..Default::default()
        },
    )
    .await
    .expect("connect to the test database");
    TestDb { name, url, pool }
}

/// A new database with every migration applied.
pub async fn fresh_db() -> TestDb {
    let test = empty_db().await;
    db::migrate(&test.pool).await.expect("migrate");
    test
}

/// Drops test databases left behind by runs long past.
async fn drop_stale(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'wo\\_test\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for name in names {
        let born: Option<u64> = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|s| s.parse().ok());
        if born.is_some_and(|b| now.saturating_sub(b) > STALE_AFTER_SECS) {
            // Another run may drop it first; that is fine.
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await;
            // Logins made for that database's operators (admin::login_name).
            let logins: Vec<String> = sqlx::query_scalar(
                "SELECT rolname::text FROM pg_roles WHERE rolname LIKE '%\\_' || $1",
            )
            .bind(&name)
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
            for login in logins {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP ROLE IF EXISTS \"{login}\""
                )))
                .execute(&mut *admin)
                .await;
            }
        }
    }
}

/// Runs `cmd`, which must succeed and print one JSON value (its output is
/// shown if not).
pub fn json_output(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The walletops binary built for these tests.
pub fn walletops() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_walletops"));
    // Keep the developer's own settings out of the tests.
    for var in [
        "DATABASE_URL",
        "WALLETOPS_CONFIG",
        "WALLETOPS_OPERATOR",
        "TRON_API_URL",
        "TRON_API_KEY",
        "WALLET_MASTER_KEY",
        "WALLET_MASTER_KEY_FILE",
        "WALLETOPS_MIGRATE",
        "WALLETOPS_POLICY",
        "WALLETOPS_SIGNER",
        "WALLETOPS_SIGNER_SECRET_FILE",
        "WALLETOPS_SIGNER_LEDGER",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("XDG_CONFIG_HOME", "/nonexistent-walletops-test-config");
    cmd
}
pub mod admin;
pub mod api;
pub mod chain;
pub mod devnet;
pub mod tmux;
