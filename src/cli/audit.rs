//! `walletops audit [--since TIME] [--json]`: the audit trail, newest first;
//! `audit verify [--json] [--head SEQ:HASH]`: walks the hash chain;
//! `audit --unacknowledged` and `audit ack SEQ [--through]`: the changes made
//! outside walletops, and their acknowledgement (admin).

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::identity::print_json;
use crate::admin::{audit, audit_chain};
use crate::config::Settings;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    action: Option<AuditAction>,
    /// Only actions at or after this time (RFC 3339, e.g. 2026-01-31T12:00:00Z)
    #[arg(long, value_name = "TIME")]
    since: Option<DateTime<Utc>>,
    /// At most this many rows
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Print JSON (one array)
    #[arg(long)]
    json: bool,
    /// Only the changes made outside walletops that no admin acknowledged yet
    #[arg(long)]
    unacknowledged: bool,
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Recompute the hash chain; exit 1 naming the first row changed, removed
    /// or inserted out of order
    Verify {
        /// Print the outcome as one JSON object
        #[arg(long)]
        json: bool,
        /// A head recorded earlier (from `status`), e.g. 42:9f86d0...: the
        /// chain must still contain that row with that hash
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<String>,
    },
    /// Acknowledge the change made outside walletops at SEQ (admin only)
    Ack {
        seq: i64,
        /// Every unacknowledged one up to and including SEQ
        #[arg(long)]
        through: bool,
    },
}

pub async fn run(settings: &Settings, migrate: bool, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    match args.action {
        Some(AuditAction::Verify { json, head }) => return verify(&pool, json, head).await,
        Some(AuditAction::Ack { seq, through }) => {
            let identity = super::identity::operator(settings, &pool).await?;
            if through {
                let n = audit::acknowledge_through(&pool, &identity, seq).await?;
                println!("{n} change(s) up to audit row {seq} acknowledged by {identity}");
            } else {
                audit::acknowledge(&pool, &identity, seq).await?;
                println!("audit row {seq} acknowledged by {identity}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    if args.unacknowledged {
        let (total, changes) = audit::unacknowledged(&pool, args.limit).await?;
        if args.json {
            print_json(&changes)?;
        } else {
            for c in &changes {
                println!(
                    "{:>6}  {}  login {:<20} {:<16} {}:{}",
                    c.seq,
                    c.created_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    c.db_login.as_deref().unwrap_or("?"),
                    c.action_type.as_deref().unwrap_or_default(),
                    c.target_type.as_deref().unwrap_or_default(),
                    c.target_id.as_deref().unwrap_or_default(),
                );
            }
            println!("{total} unacknowledged");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let entries = audit::list(&pool, args.since, args.limit).await?;
    if args.json {
        print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    for e in entries {
        let who = e.actor();
        println!(
            "{:>6}  {}  {:<24} {:<22} {}:{}{}  {}",
            e.seq.map(|s| s.to_string()).unwrap_or_else(|| "?".into()),
            e.created_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            who,
            e.action_type.unwrap_or_default(),
            e.target_type.unwrap_or_default(),
            e.target_id.unwrap_or_default(),
            if e.external {
                "  [outside walletops]"
            } else {
                ""
            },
            e.details.map(|d| d.to_string()).unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(pool: &sqlx::PgPool, json: bool, head: Option<String>) -> anyhow::Result<ExitCode> {
    let expected = head
        .map(|h| {
            let (seq, hash) = h
                .split_once(':')
                .context("--head must be SEQ:HASH, e.g. 42:9f86d0...")?;
            let seq: i64 = seq.parse().context("--head: SEQ must be a whole number")?;
            let hash = hex::decode(hash).context("--head: HASH must be hex")?;
            anyhow::Ok((seq, hash))
        })
        .transpose()?;
    let (mut outcome, _) = audit_chain::verify(pool, None).await?;
    let mut mismatch = None;
    if let (Some((seq, hash)), true) = (&expected, outcome.ok) {
        let stored = audit::stored_hash(pool, *seq).await?;
        if stored.as_deref() != Some(&hash[..]) {
            mismatch = Some(format!(
                "the chain no longer holds the recorded head {seq}:{}: it was rewritten from there or before",
                hex::encode(hash)
            ));
            outcome.ok = false;
        }
    }
    if json {
        let mut value = serde_json::to_value(&outcome)?;
        if let Some(m) = &mismatch {
            value["head_mismatch"] = serde_json::Value::String(m.clone());
        }
        print_json(&value)?;
    } else if let Some(problem) = &outcome.problem {
        println!("audit trail BROKEN: {problem}");
    } else if let Some(m) = &mismatch {
        println!("audit trail BROKEN: {m}");
    } else {
        let head = outcome
            .head
            .as_ref()
            .map_or_else(|| "none".to_string(), |h| format!("{}:{}", h.seq, h.hash));
        println!(
            "audit trail intact: {} rows checked, head {head}",
            outcome.rows_checked
        );
    }
    Ok(if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
