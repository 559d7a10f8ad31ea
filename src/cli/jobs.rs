//! `walletops jobs list|failures|retry|cancel|clear-failed|reset-processing`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::identity::print_json;
use super::table::{self, Fit, Table};
use crate::admin::jobs::{self, BulkAction, BulkCount, JobSelection};
use crate::admin::{
    IdFragment, Identity, Job, JobFilter, JobStatus, JobType, short_id_len, short_len,
};
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
        /// Every column, full ids and whole texts, whatever the width
        #[arg(long)]
        wide: bool,
    },
    /// The failed jobs grouped by error, largest group first
    Failures {
        /// Groups shown
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Every column, texts whole, whatever the terminal's width
        #[arg(long)]
        wide: bool,
    },
    /// Put a failed or cancelled job back to pending; with --status, every
    /// job the filters match
    Retry {
        /// The job: its full id, or at least 4 hex digits from its start or
        /// end (leave out with --status)
        #[arg(required_unless_present = "status", conflicts_with = "status")]
        id: Option<IdFragment>,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Cancel a pending job; with --status pending, every job the filters
    /// match
    Cancel {
        /// The job: its full id, or at least 4 hex digits from its start or
        /// end (leave out with --status)
        #[arg(required_unless_present = "status", conflicts_with = "status")]
        id: Option<IdFragment>,
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
    if let JobsAction::Failures { limit, json, wide } = action {
        let failures = jobs::failures(&pool, limit).await?;
        if json {
            print_json(&failures)?;
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{} failed jobs in {} groups",
            failures.total, failures.group_count
        );
        let fit = Fit::detect(wide);
        let now = chrono::Utc::now();
        let mut t = Table::new(fit)
            .number("JOBS")
            .column("NEWEST")
            .column("TYPES")
            .text("ERROR");
        for g in &failures.groups {
            t.row([
                g.count.to_string(),
                table::when(g.newest, now, fit),
                g.job_types.join(","),
                super::clean(&g.example.replace('\n', " ")).into_owned(),
            ]);
        }
        t.print();
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
                let id = jobs::resolve(&pool, &id).await?;
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
                let id = jobs::resolve(&pool, &id).await?;
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
