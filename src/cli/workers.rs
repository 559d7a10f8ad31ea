//! `walletops workers list|start|pause`: the workers, and the system-wide
//! switch every worker obeys.

use std::process::ExitCode;

use clap::Subcommand;

use super::identity::print_json;
use super::table::{self, Fit, Table};
use crate::admin::{control, short_id, stats};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum WorkersAction {
    /// The workers that run, or stopped within the last hour
    List {
        /// Print JSON (one array)
        #[arg(long)]
        json: bool,
        /// Every column and whole texts, whatever the width
        #[arg(long)]
        wide: bool,
    },
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
    if let WorkersAction::List { json, wide } = action {
        // Dead or alive as health judges it (`health.heartbeat_stale_seconds`).
        let stale = stats::health(&pool)
            .await?
            .thresholds
            .heartbeat_stale_seconds;
        let workers = stats::workers(&pool, stale).await?;
        if json {
            print_json(&workers)?;
        } else if workers.is_empty() {
            println!("no workers");
        } else {
            print_workers(&workers, Fit::detect(wide));
        }
        return Ok(ExitCode::SUCCESS);
    }
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

fn print_workers(workers: &[stats::WorkerInfo], fit: Fit) {
    let now = chrono::Utc::now();
    let mut t = Table::new(fit)
        .key("WORKER")
        .column("STATE")
        .column("HEARTBEAT")
        .column("JOB")
        .number("BUSY")
        .shown_from(100)
        .number("DONE")
        .shown_from(100)
        .number("FAILED")
        .shown_from(100)
        .column("STARTED")
        .shown_from(120)
        .column("VERSION")
        .shown_from(120)
        .text("LAST ERROR");
    for w in workers {
        let state = if w.live {
            w.state.to_string()
        } else {
            format!("{} (dead)", w.state)
        };
        let job = w.current_job_id.map(|id| {
            if fit.wide {
                id.to_string()
            } else {
                short_id(&id)
            }
        });
        t.row([
            format!("{}:{}", w.host, w.pid),
            state,
            table::ago(w.last_heartbeat_at, now),
            table::or_dash(job),
            format!("{}/{}", w.jobs_in_flight, w.concurrency),
            w.jobs_done.to_string(),
            w.jobs_failed.to_string(),
            table::when(Some(w.started_at), now, fit),
            w.version.clone(),
            table::or_dash(w.last_error.as_deref()),
        ]);
    }
    t.print();
}
