//! `walletops security list|ack`: policy refusals, and an admin's
//! acknowledgement (audited) that turns health back from Down.

use std::process::ExitCode;

use clap::Subcommand;
use uuid::Uuid;

use super::identity::print_json;
use super::table::{self, Fit, Table};
use crate::admin::security;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum SecurityAction {
    /// Security events, newest first (unacknowledged only unless --all)
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
        /// Whole messages, whatever the width
        #[arg(long)]
        wide: bool,
    },
    /// Acknowledge one event, or every unacknowledged one with --all (admin only, audited)
    Ack {
        /// The event's id
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<Uuid>,
        #[arg(long)]
        all: bool,
        /// Why it is acknowledged (kept with the acknowledgement)
        #[arg(long)]
        note: Option<String>,
    },
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: SecurityAction,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    match action {
        SecurityAction::List { all, json, wide } => {
            let events = security::list(&pool, all, 200).await?;
            if json {
                print_json(&events)?;
            } else if events.is_empty() {
                println!(
                    "no security events{}",
                    if all {
                        ""
                    } else {
                        " waiting for acknowledgement"
                    }
                );
            } else {
                let fit = Fit::detect(wide);
                let now = chrono::Utc::now();
                let mut t = Table::new(fit)
                    .key("ID")
                    .column("TIME")
                    .column("STATE")
                    .column("KIND")
                    .shown_from(100)
                    .column("RULE")
                    .text_below("MESSAGE");
                for e in events {
                    let state = if e.acknowledged_at.is_some() {
                        "acknowledged"
                    } else {
                        "OPEN"
                    };
                    t.row([
                        e.id.to_string(),
                        table::when(Some(e.created_at), now, fit),
                        state.to_string(),
                        e.kind,
                        e.rule,
                        e.message,
                    ]);
                }
                t.print();
            }
        }
        SecurityAction::Ack { id, all: _, note } => {
            let identity = super::identity::operator(settings, &pool).await?;
            let acked = security::acknowledge(&pool, &identity, id, note.as_deref()).await?;
            println!("acknowledged {} security event(s)", acked.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
