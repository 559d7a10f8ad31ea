//! `walletops operators add EMAIL --role R [--login NAME] | list | remove
//! EMAIL`. Needs the database owner's rights rather than an operator
//! identity: this is how the first admin is made.

use std::process::ExitCode;

use clap::Subcommand;

use super::identity::print_json;
use super::table::{self, Fit, Table};
use crate::admin::{Role, operators};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum OperatorsAction {
    /// Give a user (created if new) a role: admin, operator or viewer, and
    /// link the database login that acts as them (created if missing, without
    /// a password: pg_hba.conf decides how it authenticates)
    Add {
        email: String,
        #[arg(long)]
        role: Role,
        /// The database login [default: the email, lowercased]
        #[arg(long, value_name = "NAME")]
        login: Option<String>,
    },
    /// Every operator, current and removed
    List {
        #[arg(long)]
        json: bool,
        /// Whole texts, whatever the width
        #[arg(long)]
        wide: bool,
    },
    /// Revoke an operator's role, its login's group membership and the API
    /// tokens it made (the user stays: the audit trail names it)
    Remove { email: String },
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: OperatorsAction,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    match action {
        OperatorsAction::Add { email, role, login } => {
            let op = operators::add(&pool, &email, role, login.as_deref()).await?;
            println!(
                "{} is now {}, acting as database login {}",
                op.email.unwrap_or(email),
                op.role,
                op.db_login.unwrap_or_default()
            );
        }
        OperatorsAction::List { json, wide } => {
            let all = operators::list(&pool).await?;
            if json {
                print_json(&all)?;
            } else {
                let fit = Fit::detect(wide);
                let now = chrono::Utc::now();
                let mut t = Table::new(fit)
                    .key("EMAIL")
                    .column("ROLE")
                    .column("LOGIN")
                    .column("STATE");
                for op in all {
                    let state = match op.revoked_at {
                        Some(at) => format!("removed {}", table::when(Some(at), now, fit)),
                        None => "active".into(),
                    };
                    t.row([
                        op.email.unwrap_or_default(),
                        op.role.to_string(),
                        table::or_dash(op.db_login),
                        state,
                    ]);
                }
                t.print();
            }
        }
        OperatorsAction::Remove { email } => {
            let removal = operators::remove(&pool, &email).await?;
            println!(
                "{email} removed; {} API token(s) it made revoked",
                removal.tokens_revoked
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
