//! `walletops status [--json]`: health as an exit code (0 Healthy,
//! 1 Degraded, 2 Down, 3 unknown when it cannot tell).

use std::process::ExitCode;

use clap::Args;

use super::identity::print_json;
use crate::admin::{proposals, stats};
use crate::config::Settings;
use crate::db::{self, PoolOptions};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the health, its figures and the queue's stats as one JSON object
    #[arg(long)]
    json: bool,
}

const UNKNOWN: u8 = 3;

pub async fn run(settings: &Settings, migrate: bool, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let result = async {
        // One connection, reused by every query: a one-shot read should not
        // pay for a second connection (and TLS handshake) per query.
        let pool = super::db::connect_with(
            settings,
            migrate,
            PoolOptions {
                max_connections: 1,
                ..PoolOptions::default()
            },
        )
        .await?;
        let stats = stats::snapshot(&pool).await?;
        let changes = proposals::list(&pool, false, 100).await?;
        anyhow::Ok((stats, changes))
    }
    .await;
    let (stats, changes) = match result {
        Ok(found) => found,
        Err(e) => {
            let error = db::one_line(e.as_ref());
            if args.json {
                print_json(&serde_json::json!({"status": "Unknown", "error": error}))?;
            } else {
                println!("Unknown: {error}");
            }
            return Ok(ExitCode::from(UNKNOWN));
        }
    };
    let status = stats.health.health.status;
    if args.json {
        let mut json = serde_json::to_value(&stats)?;
        json["pending_changes"] = serde_json::to_value(&changes)?;
        print_json(&json)?;
    } else {
        println!("{status:?}");
        for reason in &stats.health.health.reasons {
            println!("  - {reason}");
        }
        let c = &stats.counts.total;
        println!(
            "jobs: {} pending, {} processing, {} failed; live workers: {}",
            c.pending, c.processing, c.failed, stats.health.vitals.live_workers
        );
        if let Some(d) = &stats.health.vitals.deposits {
            println!("{}", super::deposits::summary(d));
        }
        if !changes.is_empty() {
            println!("pending changes to keys that move money:");
        }
        for p in &changes {
            println!("  - {} -> {}: {} ({})", p.key, p.value, p.describe(), p.id);
        }
        // Kept elsewhere, the head lets `audit verify --head` detect a rewrite.
        if let Some(head) = &stats.health.vitals.audit.head {
            println!("audit head: {}:{}", head.seq, head.hash);
        }
    }
    Ok(ExitCode::from(status.exit_code()))
}
