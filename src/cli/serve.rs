//! `walletops serve [--listen ADDR]`: the HTTP admin API.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::config::Settings;
use crate::db::{self, PoolOptions};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback exposes the API to the network
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
}

pub async fn run(settings: &Settings, migrate: bool, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let url = db::resolve_url(settings).await?;
    // A long-running server waits out a database restart rather than failing.
    let pool = db::connect(
        &url,
        PoolOptions {
            max_connections: 16,
            acquire_timeout: std::time::Duration::from_secs(30),
        },
    )
    .await?;
    if migrate {
        db::migrate(&pool).await?;
    }
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "the API listens beyond loopback, as asked");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!(
        "walletops API listening on http://{}",
        listener.local_addr()?
    );
    crate::api::serve(listener, pool, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
