//! `walletops config propose KEY VALUE | approve ID | cancel ID | proposals`:
//! the keys that move money change by two admins and a delay.

use std::process::ExitCode;

use anyhow::Context as _;
use sqlx::PgPool;
use uuid::Uuid;

use super::identity::print_json;
use super::table::{Fit, Table};
use crate::admin::proposals::{self, Proposal};
use crate::config::Settings;

/// What to do with proposals.
pub enum Step {
    Propose { key: String, value: String },
    Approve(Uuid),
    Cancel(Uuid),
    List { json: bool, all: bool, wide: bool },
}

pub async fn run(settings: &Settings, pool: &PgPool, step: Step) -> anyhow::Result<ExitCode> {
    let done = match step {
        Step::List { json, all, wide } => {
            // An admin's read carries out what is due, so that it shows the truth.
            proposals::apply_due_quietly(pool).await;
            let list = proposals::list(pool, all, 100).await?;
            if json {
                print_json(&list)?;
            } else if list.is_empty() {
                println!("no open proposals");
            } else {
                let mut t = Table::new(Fit::detect(wide))
                    .key("ID")
                    .column("KEY")
                    .column("VALUE")
                    .text("STATE");
                for p in list {
                    let state = p.describe();
                    t.row([p.id.to_string(), p.key, p.value.to_string(), state]);
                }
                t.print();
            }
            return Ok(ExitCode::SUCCESS);
        }
        Step::Propose { key, value } => {
            let value: serde_json::Value = serde_json::from_str(&value).with_context(|| {
                format!(
                    "VALUE must be JSON, e.g. 15, null or '\"T...\"' (quoted string), not {value}"
                )
            })?;
            let identity = super::identity::operator(settings, pool).await?;
            let p = proposals::propose(pool, &identity, &key, value).await?;
            println!("{}", line(&p));
            println!(
                "a different admin approves it with `walletops config approve {}`",
                p.id
            );
            return Ok(ExitCode::SUCCESS);
        }
        Step::Approve(id) => {
            let identity = super::identity::operator(settings, pool).await?;
            proposals::approve(pool, &identity, id).await?
        }
        Step::Cancel(id) => {
            let identity = super::identity::operator(settings, pool).await?;
            proposals::cancel(pool, &identity, id).await?
        }
    };
    println!("{}", line(&done));
    Ok(ExitCode::SUCCESS)
}

/// `ID  KEY -> VALUE: where it stands`.
fn line(p: &Proposal) -> String {
    format!("{}  {} -> {}: {}", p.id, p.key, p.value, p.describe())
}
