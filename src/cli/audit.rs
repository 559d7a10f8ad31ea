//! `walletops audit [--since TIME] [--json]`: the audit trail, newest first.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;

use super::identity::print_json;
use crate::admin::audit;
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only actions at or after this time (RFC 3339, e.g. 2026-01-31T12:00:00Z)
    #[arg(long, value_name = "TIME")]
    since: Option<DateTime<Utc>>,
    /// At most this many rows
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Print JSON (one array)
    #[arg(long)]
    json: bool,
}

pub async fn run(settings: &Settings, migrate: bool, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    let entries = audit::list(&pool, args.since, args.limit).await?;
    if args.json {
        print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    for e in entries {
        let who = e
            .admin_email
            .or_else(|| {
                e.details.as_ref().and_then(|d| {
                    d.pointer("/actor/token_name")
                        .or_else(|| d.pointer("/actor/db_user"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                })
            })
            .unwrap_or_else(|| "-".into());
        println!(
            "{}  {:<24} {:<22} {}:{}  {}",
            e.created_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            who,
            e.action_type.unwrap_or_default(),
            e.target_type.unwrap_or_default(),
            e.target_id.unwrap_or_default(),
            e.details.map(|d| d.to_string()).unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}
