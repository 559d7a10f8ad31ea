//! Connections, migrations and the local PostgreSQL cluster.
//!
//! Every process reaches PostgreSQL through [`connect`]; the database is the
//! configured one, or else the private [`local`] cluster (the embedded
//! default).

pub mod local;
mod text_enum;

pub use text_enum::ParseError;
pub(crate) use text_enum::text_enum;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

use crate::config::{DatabaseUrl, Settings};

/// What can go wrong reaching or preparing the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL parsed as a URL but not as PostgreSQL connection options.
    #[error("invalid database URL {url}: {message}")]
    BadUrl { url: String, message: String },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    /// A migration failed; the database is left at the last good version.
    #[error("migration failed: {0}")]
    Migrate(String),
    /// The local cluster could not be used.
    #[error(transparent)]
    Local(#[from] local::LocalError),
    /// Any other database error.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// How a pool should behave: a one-shot command wants to fail fast, a
/// long-running process to wait out a restart.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The embedded migrations (`migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connection options for `url`, with walletops' application name so that
/// `pg_stat_activity` shows who is connected.
pub fn connect_options(url: &DatabaseUrl) -> Result<PgConnectOptions, DbError> {
    let options: PgConnectOptions =
        url.expose()
            .parse()
            .map_err(|e: sqlx::Error| DbError::BadUrl {
                url: url.redacted(),
                message: e.to_string(),
            })?;
    // TLS to a server on this machine protects nothing and costs a slow
    // handshake per connection; a URL that names its sslmode keeps it.
    let options = if url.is_local() && !url.sets_ssl_mode() {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    };
    Ok(options.application_name("walletops"))
}

/// Opens a pool and checks that the server answers.
pub async fn connect(url: &DatabaseUrl, opts: PoolOptions) -> Result<PgPool, DbError> {
    let pool = PgPoolOptions::new()
        .max_connections(opts.max_connections)
        .acquire_timeout(opts.acquire_timeout)
        .connect_with(connect_options(url)?)
        .await
        .map_err(|e| DbError::Connect {
            url: url.redacted(),
            message: one_line(&e),
        })?;
    Ok(pool)
}

/// The configured database, or the local cluster (started if needed).
pub async fn resolve_url(settings: &Settings) -> Result<DatabaseUrl, DbError> {
    match &settings.database_url {
        Some(url) => Ok(url.clone()),
        None => Ok(local::Cluster::locate()?.ensure_running().await?),
    }
}

/// Applies every pending migration. Safe to run from several processes at
/// once: sqlx serialises them with an advisory lock per database.
///
/// The connection says it is migrating, so that the audit trail records
/// what a migration changes (new switches, say) as the owner's migration
/// rather than as plain SQL to acknowledge (the database believes it only
/// of the tables' owner).
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    let failed = |e: &dyn std::error::Error| DbError::Migrate(one_line(e));
    let mut conn = pool.acquire().await.map_err(|e| failed(&e))?;
    sqlx::query("SELECT set_config('walletops.migrating', 'on', false)")
        .execute(&mut *conn)
        .await
        .map_err(|e| failed(&e))?;
    // run_direct: `run` over a borrowed connection is not Send-general
    // enough for a spawned task (sqlx's own workaround).
    let result = MIGRATOR
        .run_direct(None, &mut *conn, false)
        .await
        .map_err(|e| failed(&e));
    // The connection goes back to the pool: it must not keep saying so.
    let reset = sqlx::query("SELECT set_config('walletops.migrating', '', false)")
        .execute(&mut *conn)
        .await;
    if reset.is_err() {
        conn.detach();
    }
    result
}

/// An error and its causes on one line.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}
