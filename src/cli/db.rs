//! `walletops db start|stop|status|url` and the connection every other
//! subcommand uses.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use sqlx::PgPool;

use crate::config::Settings;
use crate::db::{self, PoolOptions, local};

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Initialise (first time) and start the local cluster, creating its database
    Start,
    /// Stop the local cluster
    Stop,
    /// Say whether the local cluster runs, and where it keeps its data
    Status,
    /// Print the local cluster's database URL (a Unix socket, no TCP port)
    Url,
}

/// How long a one-shot command waits for the server to answer: a person
/// (or a script) is waiting, and a server that is up answers in far less.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to the configured database or the local cluster; applies the
/// migrations first when asked (`--migrate`).
pub async fn connect(settings: &Settings, migrate: bool) -> anyhow::Result<PgPool> {
    connect_with(settings, migrate, PoolOptions::default()).await
}

/// [`connect`] with the pool's size and timeout of the caller's choice.
/// Says at once, in words, when the server refuses, does not answer, or the
/// database has no walletops tables yet.
pub async fn connect_with(
    settings: &Settings,
    migrate: bool,
    options: PoolOptions,
) -> anyhow::Result<PgPool> {
    let url = db::resolve_url(settings).await?;
    db::probe(&url, CONNECT_TIMEOUT, migrate).await?;
    let pool = db::connect(&url, options).await?;
    if migrate {
        db::migrate(&pool).await?;
    }
    Ok(pool)
}

pub async fn run(action: DbAction) -> anyhow::Result<ExitCode> {
    let cluster = local::Cluster::locate()?;
    match action {
        DbAction::Start => {
            let url = cluster.ensure_running().await?;
            println!("{}", url.expose());
        }
        DbAction::Stop => {
            let stopped = cluster.stop()?;
            println!("{}", if stopped { "stopped" } else { "not running" });
        }
        DbAction::Status => {
            let status = cluster
                .status()
                .context("cannot read the local cluster's status")?;
            let state = match status {
                local::Status::NotInitialised => "not initialised".to_string(),
                local::Status::Stopped => "stopped".to_string(),
                local::Status::Running { pid } => format!("running (pid {pid})"),
            };
            println!("{state}\ndata: {}", cluster.data_dir().display());
            println!("socket: {}", cluster.socket_dir().display());
            println!("log: {}", cluster.log_file().display());
            if !matches!(status, local::Status::Running { .. }) {
                return Ok(ExitCode::from(3));
            }
        }
        DbAction::Url => println!("{}", cluster.url().expose()),
    }
    Ok(ExitCode::SUCCESS)
}
