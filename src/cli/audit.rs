//! `walletops audit [--since TIME] [--json]`: the audit trail, newest first;
//! `audit verify [--json] [--head SEQ:HASH]`: walks the hash chain;
//! `audit --unacknowledged` and `audit ack SEQ [--through]`: the changes made
//! outside walletops, and their acknowledgement (admin).

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::identity::print_json;
use super::table::{self, Fit, Table};
use crate::admin::{audit, audit_chain, short_id};
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
    /// Every column, full ids and whole texts, whatever the width
    #[arg(long)]
    wide: bool,
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
            let fit = Fit::detect(args.wide);
            let now = Utc::now();
            let mut t = Table::new(fit)
                .number("SEQ")
                .column("TIME")
                .column("LOGIN")
                .column("ACTION")
                .column("TARGET");
            for c in &changes {
                t.row([
                    c.seq.to_string(),
                    table::when(c.created_at, now, fit),
                    table::or_dash(c.db_login.as_deref()),
                    table::or_dash(c.action_type.as_deref()),
                    target(c.target_type.as_deref(), c.target_id.as_deref(), fit),
                ]);
            }
            t.print();
            println!("{total} unacknowledged");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let entries = audit::list(&pool, args.since, args.limit).await?;
    if args.json {
        print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    let fit = Fit::detect(args.wide);
    let now = Utc::now();
    let mut t = Table::new(fit)
        .number("SEQ")
        .column("TIME")
        .column("WHO")
        .column("ACTION")
        .column("TARGET")
        .text_below("DETAILS");
    for e in entries {
        let mut action = e.action_type.clone().unwrap_or_default();
        if e.external {
            action.push_str(" [outside walletops]");
        }
        t.row([
            table::or_dash(e.seq),
            table::when(e.created_at, now, fit),
            e.actor(),
            action,
            target(e.target_type.as_deref(), e.target_id.as_deref(), fit),
            details(e.details.as_ref()),
        ]);
    }
    if t.is_empty() {
        println!("no audit rows");
    } else {
        t.print();
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

/// `job f3a9c2e1`: a job's id as short as on every screen (whole with
/// `--wide`), other targets as recorded.
fn target(kind: Option<&str>, id: Option<&str>, fit: Fit) -> String {
    let kind = kind.unwrap_or_default();
    let id = id.unwrap_or_default();
    match id.parse::<uuid::Uuid>() {
        Ok(job) if kind == "job" && !fit.wide => format!("{kind} {}", short_id(&job)),
        _ if id.is_empty() => kind.to_string(),
        _ => format!("{kind} {id}"),
    }
}

/// What the action did, without the actor (the WHO column says it).
fn details(details: Option<&serde_json::Value>) -> String {
    match details {
        Some(serde_json::Value::Object(map)) => {
            let mut rest = map.clone();
            rest.remove("actor");
            if rest.is_empty() {
                String::new()
            } else {
                serde_json::Value::Object(rest).to_string()
            }
        }
        Some(other) => other.to_string(),
        None => String::new(),
    }
}
