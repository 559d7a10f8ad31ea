//! `walletops workers start|pause`: the system-wide switch every worker obeys.

use std::process::ExitCode;

use clap::Subcommand;

use crate::admin::control;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum WorkersAction {
    /// Let workers claim jobs again
    Start,
    /// Stop claiming new jobs everywhere; jobs in flight finish
    Pause,
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: WorkersAction,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    let identity = super::identity::operator(settings, &pool).await?;
    let paused = matches!(action, WorkersAction::Pause);
    let outcome = control::set_paused(&pool, &identity, paused).await?;
    let state = if outcome.paused { "paused" } else { "started" };
    if outcome.changed {
        println!("workers {state}");
    } else {
        println!("workers already {state}");
    }
    Ok(ExitCode::SUCCESS)
}
