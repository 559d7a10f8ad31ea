//! `walletops jobs list|failures|retry|cancel|clear-failed|reset-processing`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use uuid::Uuid;

use super::identity::print_json;
use crate::admin::jobs::{self, BulkAction, BulkCount, JobSelection};
use crate::admin::{Identity, JobFilter, JobStatus, JobType};
use crate::config::Settings;
use sqlx::PgPool;

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
    /// The failed jobs grouped by error, largest group first
    Failures {
        /// Groups shown
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Put a failed or cancelled job back to pending; with --status, every
    /// job the filters match
    Retry {
        /// The job's id (leave out with --status)
        #[arg(required_unless_present = "status", conflicts_with = "status")]
        id: Option<Uuid>,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Cancel a pending job; with --status pending, every job the filters
    /// match
    Cancel {
        /// The job's id (leave out with --status)
        #[arg(required_unless_present = "status", conflicts_with = "status")]
        id: Option<Uuid>,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Delete every failed job
    ClearFailed,
    /// Take back jobs whose lease ran out and release wallets left processing
    ResetProcessing,
}

/// A set of jobs named by filters, for retry and cancel.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Act on every job in this status that the other filters match
    /// (retry: failed or cancelled; cancel: pending)
    #[arg(long, value_name = "S")]
    status: Option<JobStatus>,
    /// Only jobs of this type
    #[arg(long = "type", value_name = "T", requires = "status")]
    job_type: Option<JobType>,
    /// Only jobs whose error message contains this text (any case)
    #[arg(long, value_name = "TEXT", requires = "status")]
    error_like: Option<String>,
    /// Only the jobs of this wallet address
    #[arg(long, value_name = "ADDRESS", requires = "status")]
    wallet: Option<String>,
    /// Act without asking
    #[arg(long, requires = "status", conflicts_with = "expect")]
    yes: bool,
    /// Act only if exactly N jobs match (what an earlier run showed);
    /// otherwise change nothing and fail
    #[arg(long, value_name = "N", requires = "status")]
    expect: Option<u64>,
}

impl SelectionArgs {
    fn selection(&self) -> Option<JobSelection> {
        Some(JobSelection {
            job_type: self.job_type,
            error_like: self.error_like.clone(),
            wallet_address: self.wallet.clone(),
            ..JobSelection::status(self.status?)
        })
    }
}

/// Retries or cancels the selected jobs after showing how many: with
/// `--expect N` only if N still match, with `--yes` at once, else after a
/// yes on the terminal (refused when there is none to ask on).
async fn act_on_selection(
    pool: &PgPool,
    identity: &Identity,
    action: BulkAction,
    args: &SelectionArgs,
    selection: &JobSelection,
) -> anyhow::Result<ExitCode> {
    let (verb, done) = match action {
        BulkAction::Retry => ("retry", "back to pending"),
        _ => ("cancel", "cancelled"),
    };
    let count = jobs::count_selection(pool, action, selection).await?;
    let expect = match args.expect {
        Some(n) => Some(n),
        None if args.yes => None,
        None if count.jobs == 0 => {
            println!("{}", describe(count, selection, "match"));
            return Ok(ExitCode::SUCCESS);
        }
        None if std::io::stdin().is_terminal() => {
            print!(
                "{}. {verb} them? [y/N] ",
                describe(count, selection, "match")
            );
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                println!("nothing changed");
                return Ok(ExitCode::SUCCESS);
            }
            Some(count.jobs)
        }
        None => anyhow::bail!(
            "{}; nothing changed: pass --expect {} to {verb} exactly these, or --yes",
            describe(count, selection, "match"),
            count.jobs
        ),
    };
    let acted = jobs::act_on_selection(pool, identity, action, selection, expect).await?;
    println!("{}", describe(acted, selection, done));
    Ok(ExitCode::SUCCESS)
}

/// "12 failed jobs back to pending (2 left alone: ...)".
fn describe(count: BulkCount, selection: &JobSelection, what: &str) -> String {
    let mut line = format!(
        "{} {} job{} {what}",
        count.jobs,
        selection.status,
        if count.jobs == 1 { "" } else { "s" }
    );
    if count.skipped > 0 {
        line.push_str(&format!(
            " ({} more left alone: one per wallet and type, none beside a job in progress)",
            count.skipped
        ));
    }
    line
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
    if let JobsAction::Failures { limit, json } = action {
        let failures = jobs::failures(&pool, limit).await?;
        if json {
            print_json(&failures)?;
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{} failed jobs in {} groups",
            failures.total, failures.group_count
        );
        for g in &failures.groups {
            let newest = g
                .newest
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "-".into());
            println!(
                "{:>6}  {newest}  {}  {}",
                g.count,
                g.job_types.join(","),
                super::clean(&g.example.replace('\n', " "))
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let identity = super::identity::operator(settings, &pool).await?;
    match action {
        JobsAction::List { .. } | JobsAction::Failures { .. } => unreachable!("handled above"),
        JobsAction::Retry { id, selection } => match (id, selection.selection()) {
            (_, Some(set)) => {
                return act_on_selection(&pool, &identity, BulkAction::Retry, &selection, &set)
                    .await;
            }
            (Some(id), None) => {
                let job = jobs::retry(&pool, &identity, id).await?;
                println!("job {} is pending again", job.id);
            }
            (None, None) => unreachable!("clap requires an id or --status"),
        },
        JobsAction::Cancel { id, selection } => match (id, selection.selection()) {
            (_, Some(set)) => {
                return act_on_selection(&pool, &identity, BulkAction::Cancel, &selection, &set)
                    .await;
            }
            (Some(id), None) => {
                let job = jobs::cancel(&pool, &identity, id).await?;
                println!("job {} cancelled", job.id);
            }
            (None, None) => unreachable!("clap requires an id or --status"),
        },
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
