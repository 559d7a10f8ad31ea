//! Connections, migrations and the local PostgreSQL cluster.
//!
//! Every process reaches PostgreSQL through [`connect`]; the database is the
//! configured one, or else the private [`local`] cluster (the embedded
//! default).

pub mod listen;
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
    /// Nothing listens at the address: the server is down or elsewhere.
    #[error("cannot connect to {url}: connection refused (is PostgreSQL running there?)")]
    Refused { url: String },
    /// The server did not answer in time.
    #[error("cannot connect to {url}: no answer within {seconds} s")]
    NoAnswer { url: String, seconds: u64 },
    /// The database exists but holds no walletops tables.
    #[error(
        "database {database} has no walletops tables: run `walletops migrate` (or add --migrate) \
         to create them; the demo keeps its data in database {demo} of the local cluster \
         (`walletops db url` prints its URL)"
    )]
    NotMigrated {
        database: String,
        demo: &'static str,
    },
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

/// Checks, on one connection of its own, that the server answers within
/// `timeout` and that the database holds walletops' tables (unless it is
/// about to be migrated). A pool retries a refused connection until its
/// acquire timeout and then says only "timed out"; this says what happened,
/// at once.
pub async fn probe(url: &DatabaseUrl, timeout: Duration, migrating: bool) -> Result<(), DbError> {
    use sqlx::Connection as _;
    let options = connect_options(url)?;
    let mut conn =
        match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(&options)).await {
            Err(_) => {
                return Err(DbError::NoAnswer {
                    url: url.redacted(),
                    seconds: timeout.as_secs().max(1),
                });
            }
            Ok(Err(sqlx::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(DbError::Refused {
                    url: url.redacted(),
                });
            }
            Ok(Err(e)) => {
                return Err(DbError::Connect {
                    url: url.redacted(),
                    message: one_line(&e),
                });
            }
            Ok(Ok(conn)) => conn,
        };
    if !migrating {
        // The queue's table stands for the schema: every migration since
        // the first builds on it.
        let (migrated, database): (bool, String) =
            sqlx::query_as("SELECT to_regclass('job_logs') IS NOT NULL, current_database()::text")
                .fetch_one(&mut conn)
                .await?;
        if !migrated {
            return Err(DbError::NotMigrated {
                database,
                demo: local::DEMO_DATABASE,
            });
        }
    }
    // Closing politely spares the server's log an "unexpected EOF" line.
    let _ = conn.close().await;
    Ok(())
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
    let failed = |e: &(dyn std::error::Error + 'static)| DbError::Migrate(one_line(e));
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

/// An error and its causes on one line, without the PostgreSQL server's
/// source position (`at line 1392` is a line of the server's C code, not
/// of anything the reader wrote).
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
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
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(pg) = err
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
        {
            text = text.replace(&pg.to_string(), pg.message());
        }
        current = err.source();
    }
    text = text.replace("error returned from database: ", "");
    without_code_positions(&text).replace('\n', " ")
}

/// `text` without the driver's code positions, such as
/// ` (sqlx_postgres::connection::tls:95)`: they say where in sqlx an error
/// was raised, which is nothing the reader can act on.
fn without_code_positions(text: &str) -> String {
    let is_position = |inner: &str| {
        inner.rsplit_once(':').is_some_and(|(path, line)| {
            path.contains("::")
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !line.is_empty()
                && line.chars().all(|c| c.is_ascii_digit())
        })
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(" (") {
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) if is_position(&after[..end]) => {
                out.push_str(&rest[..start]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::without_code_positions;

    #[test]
    fn code_positions_are_dropped_and_other_parentheses_kept() {
        assert_eq!(
            without_code_positions(
                "unexpected response from SSLRequest: 0x48 (sqlx_postgres::connection::tls:95)"
            ),
            "unexpected response from SSLRequest: 0x48"
        );
        assert_eq!(
            without_code_positions("job f3a9 (sync) refused (see docs::x) (a::b:1) end"),
            "job f3a9 (sync) refused (see docs::x) end"
        );
    }
}
