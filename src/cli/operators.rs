//! `walletops operators add EMAIL --role R | list | remove EMAIL`. Needs the
//! database owner's rights rather than an operator identity: this is how
//! the first admin is made.

use std::process::ExitCode;

use clap::Subcommand;

use super::identity::print_json;
use crate::admin::{Role, operators};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum OperatorsAction {
    /// Give a user (created if new) a role: admin, operator or viewer
    Add {
        email: String,
        #[arg(long)]
        role: Role,
    },
    /// Every operator, current and removed
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke an operator's role (the user stays: the audit trail names it)
    Remove { email: String },
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: OperatorsAction,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    match action {
        OperatorsAction::Add { email, role } => {
            let op = operators::add(&pool, &email, role).await?;
            println!("{} is now {}", op.email.unwrap_or(email), op.role);
        }
        OperatorsAction::List { json } => {
            let all = operators::list(&pool).await?;
            if json {
                print_json(&all)?;
            } else {
                for op in all {
                    let state = match op.revoked_at {
                        Some(t) => format!("removed {}", t.to_rfc3339()),
                        None => "active".into(),
                    };
                    println!(
                        "{:<40} {:<9} {state}",
                        op.email.unwrap_or_default(),
                        op.role
                    );
                }
            }
        }
        OperatorsAction::Remove { email } => {
            operators::remove(&pool, &email).await?;
            println!("{email} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
