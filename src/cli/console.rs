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
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::wiring::{self, ChainArgs, WalletJobs};
use crate::config::Settings;
use crate::engine::EngineOptions;
use crate::tui::{self, AdminBackend, ConsoleOptions};

#[derive(Debug, Clone, Default, Args)]
pub struct ConsoleArgs {
    /// Wall-screen mode: no mutating action is offered or accepted
    #[arg(long)]
    pub read_only: bool,

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
    let pool = super::db::connect(settings, migrate).await?;
    let session = Session {
        pool,
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
        let configured = refresh_setting(&self.pool).await;
        let options = ConsoleOptions {
            read_only: args.read_only,
            refresh: args.refresh.map(Duration::from_secs),
        };
        let (mut app, policy) = tui::prepare(&settings.console, &options, configured)?;
        app.demo = self.demo;
        let backend = AdminBackend::new(self.pool.clone(), self.operator.clone()).await?;
        let log = tui::log::to_file(log_filter)?;
        tracing::info!(operator = ?self.operator, read_only = args.read_only, "console starting");

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
