//! `walletops jobs list|retry|cancel|clear-failed|reset-processing`.

use std::process::ExitCode;

use clap::Subcommand;

use super::identity::print_json;
use super::table::{self, Fit, Table};
use crate::admin::jobs;
use crate::admin::{IdFragment, Job, JobFilter, JobStatus, JobType, short_id_len, short_len};
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
        /// Every column, full ids and whole texts, whatever the width
        #[arg(long)]
        wide: bool,
    },
    /// Put a failed or cancelled job back to pending
    Retry {
        /// The job: its full id, or at least 4 hex digits from its start or end
        id: IdFragment,
    },
    /// Cancel a pending job
    Cancel {
        /// The job: its full id, or at least 4 hex digits from its start or end
        id: IdFragment,
    },
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
        wide,
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
            print_jobs(&found, Fit::detect(wide));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let identity = super::identity::operator(settings, &pool).await?;
    match action {
        JobsAction::List { .. } => unreachable!("handled above"),
        JobsAction::Retry { id } => {
            let id = jobs::resolve(&pool, &id).await?;
            let job = jobs::retry(&pool, &identity, id).await?;
            println!("job {} is pending again", job.id);
        }
        JobsAction::Cancel { id } => {
            let id = jobs::resolve(&pool, &id).await?;
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

/// The jobs as a table: short ids (long enough to tell these jobs apart)
/// unless `--wide` asks for full ones.
fn print_jobs(found: &[Job], fit: Fit) {
    let len = short_len(found.iter().map(|j| &j.id));
    let now = chrono::Utc::now();
    let mut t = Table::new(fit)
        .key("ID")
        .column("TYPE")
        .column("STATUS")
        .column("CREATED")
        .column("UPDATED")
        .shown_from(120)
        .number("TRIES")
        .shown_from(100)
        .column("WALLET")
        .text("ERROR");
    for job in found {
        let id = if fit.wide {
            job.id.to_string()
        } else {
            short_id_len(&job.id, len)
        };
        t.row([
            id,
            table::or_dash(job.job_type),
            table::or_dash(job.status),
            table::when(job.created_at, now, fit),
            table::when(job.updated_at, now, fit),
            job.attempt.to_string(),
            job.wallet_address
                .as_deref()
                .map_or_else(|| "-".to_string(), |a| table::ends(a, fit)),
            table::or_dash(job.error_message.as_deref()),
        ]);
    }
    if t.is_empty() {
        println!("no jobs");
    } else {
        t.print();
    }
}
