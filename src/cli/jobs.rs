//! `walletops jobs list|retry|cancel|clear-failed|reset-processing`.

use std::process::ExitCode;

use clap::Subcommand;
use uuid::Uuid;

use super::identity::print_json;
use crate::admin::jobs;
use crate::admin::{JobFilter, JobStatus, JobType};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// The newest jobs
    List {
        /// Only jobs in this status: pending, processing, completed, failed, cancelled
        #[arg(long, value_name = "S")]
        status: Option<JobStatus>,
        /// Only jobs of this type
        #[arg(long = "type", value_name = "T")]
        job_type: Option<JobType>,
        /// At most this many (up to 1000)
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON (one array)
        #[arg(long)]
        json: bool,
    },
    /// Put a failed or cancelled job back to pending
    Retry { id: Uuid },
    /// Cancel a pending job
    Cancel { id: Uuid },
    /// Delete every failed job
    ClearFailed,
    /// Take back jobs whose lease ran out and release wallets left processing
    ResetProcessing,
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: JobsAction,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    if let JobsAction::List {
        status,
        job_type,
        limit,
        json,
    } = action
    {
        let found = jobs::list(
            &pool,
            &JobFilter {
                status,
                job_type,
                limit,
                ..JobFilter::default()
            },
        )
        .await?;
        if json {
            print_json(&found)?;
        } else {
            for job in found {
                let text = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                println!(
                    "{}  {:<13} {:<10} {:<34} retries {}  {}",
                    job.id,
                    text(job.job_type.map(|t| t.to_string())),
                    text(job.status.map(|s| s.to_string())),
                    text(job.wallet_address),
                    job.retry_count.unwrap_or(0),
                    text(job.error_message),
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let identity = super::identity::operator(settings, &pool).await?;
    match action {
        JobsAction::List { .. } => unreachable!("handled above"),
        JobsAction::Retry { id } => {
            let job = jobs::retry(&pool, &identity, id).await?;
            println!("job {} is pending again", job.id);
        }
        JobsAction::Cancel { id } => {
            let job = jobs::cancel(&pool, &identity, id).await?;
            println!("job {} cancelled", job.id);
        }
        JobsAction::ClearFailed => {
            let cleared = jobs::clear_failed(&pool, &identity).await?;
            println!("deleted {} failed jobs", cleared.deleted);
        }
        JobsAction::ResetProcessing => {
            let reset = jobs::reset_processing(&pool, &identity).await?;
            println!(
                "took back {} jobs past their lease; released {} wallets",
                reset.jobs,
                reset.wallets.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
