//! `walletops console [--read-only] [--refresh SECS] [--embedded-workers N]`:
//! the operations console over the configured database, acting as the
//! operator its database login is linked to (read-only when it is none;
//! `--operator` / `WALLETOPS_OPERATOR` may only assert that operator).
//! Everything that can be wrong (flags, config file, database, the
//! operator, what embedded workers need) is reported before the terminal is
//! taken; from then on the log goes to a rolling file whose path is printed
//! on exit.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::wiring::{self, ChainArgs, WalletJobs};
use crate::config::Settings;
use crate::db::{self, PoolOptions};
use crate::engine::EngineOptions;
use crate::tui::{self, AdminBackend, ConsoleOptions};

#[derive(Debug, Clone, Default, Args)]
pub struct ConsoleArgs {
    /// Wall-screen mode: no mutating action is offered or accepted
    #[arg(long)]
    pub read_only: bool,

    /// Leave the mouse to the terminal (its own text selection, e.g. in tmux) instead of clicks and the wheel
    #[arg(long)]
    pub no_mouse: bool,

    /// Refresh at least this often [default: system_config ui.refresh_seconds]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub refresh: Option<u64>,

    /// Also run N job workers inside this process (needs a TRON node, and the
    /// master key and funds policy or a signer)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub embedded_workers: Option<u32>,

    #[command(flatten)]
    pub signing: super::signing::SigningArgs,

    /// How embedded workers use the chain (as `walletops worker`)
    #[command(flatten)]
    pub chain: ChainArgs,

    /// Run over the HTTP API at URL (walletops serve) with a personal token: no database credentials needed
    #[arg(long, value_name = "URL", conflicts_with = "embedded_workers")]
    pub api: Option<String>,

    /// The API token's file (mode 600) [default: the WALLETOPS_TOKEN environment variable]
    #[arg(long, value_name = "FILE", requires = "api")]
    pub token_file: Option<std::path::PathBuf>,
}

/// Runs the console over `settings`' database.
pub async fn run(
    settings: &Settings,
    migrate: bool,
    args: ConsoleArgs,
    log_filter: &str,
) -> anyhow::Result<ExitCode> {
    if let Some(api) = &args.api {
        return super::console_api::run(settings, api, &args, log_filter).await;
    }
    // A wall screen is started by a kiosk script with nobody there to
    // start it again: read-only, it waits for a database it cannot reach.
    let may_wait = args.read_only && !migrate && settings.operator.is_none();
    let (pool, waiting) = if may_wait {
        connect_or_wait(settings).await?
    } else {
        (super::db::connect(settings, migrate).await?, false)
    };
    let session = Session {
        pool,
        waiting,
        operator: settings.operator.clone(),
        embedded: match args.embedded_workers {
            Some(n) => Some((
                n,
                wiring::wallet_jobs(settings, &args.chain, &args.signing, "--embedded-workers")
                    .await?,
            )),
            None => None,
        },
        demo: false,
    };
    session.run(settings, &args, log_filter).await
}

/// One console run: the database, who acts, and the workers to embed.
pub(crate) struct Session {
    pub pool: PgPool,
    /// The database could not be reached at start: the console shows that
    /// it waits, and retries (read-only consoles only).
    pub waiting: bool,
    /// The operator asserted by `--operator` (never chosen by it).
    pub operator: Option<String>,
    /// Workers to run in this process, with what their jobs need.
    pub embedded: Option<(u32, WalletJobs)>,
    pub demo: bool,
}

impl Session {
    pub async fn run(
        self,
        settings: &Settings,
        args: &ConsoleArgs,
        log_filter: &str,
    ) -> anyhow::Result<ExitCode> {
        let configured = if self.waiting {
            crate::settings::UiSettings::default().refresh
        } else {
            refresh_setting(&self.pool).await
        };
        let options = ConsoleOptions {
            read_only: args.read_only,
            refresh: args.refresh.map(Duration::from_secs),
            no_mouse: args.no_mouse,
        };
        let (mut app, policy) = tui::prepare(&settings.console, &options, configured)?;
        app.demo = self.demo;
        let backend = if self.waiting {
            AdminBackend::waiting(self.pool.clone())
        } else {
            AdminBackend::new(self.pool.clone(), self.operator.clone()).await?
        };
        let log = tui::log::to_file(log_filter)?;
        tracing::info!(operator = ?self.operator, read_only = args.read_only, waiting = self.waiting, "console starting");

        let workers = self
            .embedded
            .map(|(n, jobs)| spawn_workers(self.pool.clone(), n, jobs));
        let result = tui::run(Arc::new(backend), app, policy).await;
        if let Some((stop, engine)) = workers {
            let _ = stop.send(());
            println!("waiting for the embedded workers' jobs in flight to finish...");
            if let Err(e) = engine.await {
                tracing::error!("embedded workers ended badly: {e}");
            }
        }
        println!("console log: {}", log.pattern.display());
        result?;
        Ok(ExitCode::SUCCESS)
    }
}

/// The pool, and whether the database could not be reached: then the pool
/// connects when the database answers, and the console waits for it.
/// Anything but an unreachable server (a wrong password, no such database)
/// is still an error before the terminal is taken.
async fn connect_or_wait(settings: &Settings) -> anyhow::Result<(PgPool, bool)> {
    let url = db::resolve_url(settings).await?;
    let options = db::connect_options(&url)?;
    // One plain connection, so an unreachable server is told at once, not
    // after the pool's retries.
    match PgConnection::connect_with(&options).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok((db::connect(&url, PoolOptions::default()).await?, false))
        }
        Err(e) if unreachable(&e) => {
            let defaults = PoolOptions::default();
            let pool = PgPoolOptions::new()
                .max_connections(defaults.max_connections)
                .acquire_timeout(defaults.acquire_timeout)
                .connect_lazy_with(options);
            Ok((pool, true))
        }
        Err(e) => Err(db::DbError::Connect {
            url: url.redacted(),
            message: db::one_line(&e),
        }
        .into()),
    }
}

/// Whether `e` says the server is not there (yet): refused, no socket, or
/// starting up or shutting down.
fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c == "57P03"),
        _ => false,
    }
}

/// `ui.refresh_seconds` (its default when missing or malformed, logged:
/// the console still starts).
async fn refresh_setting(pool: &PgPool) -> Duration {
    crate::settings::UiSettings::load(pool).await.refresh
}

/// Starts the engine with `n` concurrent jobs in this process; sending on
/// the returned channel stops it (jobs in flight get their grace period).
fn spawn_workers(pool: PgPool, n: u32, jobs: WalletJobs) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let mut options = EngineOptions::new(n as usize);
    options.grace = Duration::from_secs(10);
    let engine = jobs.engine(pool, options);
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let report = engine
            .run(async move {
                let _ = stopped.await;
            })
            .await;
        tracing::info!(
            done = report.done,
            failed = report.failed,
            "embedded workers stopped"
        );
    });
    (stop, handle)
}
