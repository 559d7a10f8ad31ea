//! `walletops config keys|list|get KEY|set KEY VALUE`: the runtime switches
//! (and the proposals that change the ones that move money: [`proposals`]).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::identity::print_json;
use super::proposals::{self, Step};
use super::table::{self, Fit, Table};
use crate::admin::config;
use crate::config::Settings;
use crate::settings::{KEYS, Kind};

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Every key walletops knows: its type, default, bounds and meaning
    Keys {
        #[arg(long)]
        json: bool,
        /// Whole descriptions, whatever the width
        #[arg(long)]
        wide: bool,
    },
    /// Every switch with its value and description
    List {
        #[arg(long)]
        json: bool,
        /// Every column and whole descriptions, whatever the width
        #[arg(long)]
        wide: bool,
    },
    /// One switch's value (as JSON)
    Get { key: String },
    /// Set a switch; VALUE is JSON: true, 15, "T..." (admin only, audited)
    Set {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Propose a value for a key that moves money; it takes effect once a
    /// different admin approves it and policy.change_delay_seconds pass (admin)
    Propose {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Approve another admin's proposal (admin)
    Approve { id: uuid::Uuid },
    /// Cancel a proposal before it takes effect (admin)
    Cancel { id: uuid::Uuid },
    /// Open proposals with their countdowns (--all: also applied and cancelled)
    Proposals {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        all: bool,
        /// Whole values and states, whatever the width
        #[arg(long)]
        wide: bool,
    },
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: ConfigAction,
) -> anyhow::Result<ExitCode> {
    if let ConfigAction::Keys { json, wide } = action {
        print_keys(json, Fit::detect(wide))?;
        return Ok(ExitCode::SUCCESS);
    }
    let pool = super::db::connect(settings, migrate).await?;
    match action {
        ConfigAction::Keys { .. } => unreachable!("answered without a database above"),
        ConfigAction::List { json, wide } => {
            let entries = config::list(&pool).await?;
            if json {
                print_json(&entries)?;
            } else {
                let fit = Fit::detect(wide);
                let now = chrono::Utc::now();
                let mut t = Table::new(fit)
                    .key("KEY")
                    .column("VALUE")
                    .column("UPDATED")
                    .shown_from(120)
                    .text_below("DESCRIPTION");
                for e in entries {
                    // The registry's words for keys it knows; a row only the
                    // database knows keeps its own.
                    let description = crate::settings::registry::key(&e.key)
                        .map(|k| k.description.to_string())
                        .or(e.description)
                        .unwrap_or_default();
                    t.row([
                        e.key,
                        table::ends(&e.value.unwrap_or(serde_json::Value::Null).to_string(), fit),
                        table::when(e.updated_at, now, fit),
                        description,
                    ]);
                }
                t.print();
            }
        }
        ConfigAction::Get { key } => {
            let entry = config::get(&pool, &key).await?;
            println!("{}", entry.value.unwrap_or(serde_json::Value::Null));
        }
        ConfigAction::Set { key, value } => {
            let value: serde_json::Value = serde_json::from_str(&value).with_context(|| {
                format!(
                    "VALUE must be JSON, e.g. true, 15 or '\"T...\"' (quoted string), not {value}"
                )
            })?;
            let identity = super::identity::operator(settings, &pool).await?;
            let change = config::set(&pool, &identity, &key, value).await?;
            println!(
                "{}: {} -> {}",
                change.key,
                change.old.unwrap_or(serde_json::Value::Null),
                change.new
            );
        }
        ConfigAction::Propose { key, value } => {
            return proposals::run(settings, &pool, Step::Propose { key, value }).await;
        }
        ConfigAction::Approve { id } => {
            return proposals::run(settings, &pool, Step::Approve(id)).await;
        }
        ConfigAction::Cancel { id } => {
            return proposals::run(settings, &pool, Step::Cancel(id)).await;
        }
        ConfigAction::Proposals { json, all, wide } => {
            return proposals::run(settings, &pool, Step::List { json, all, wide }).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The settings registry, one key a line (or as JSON); needs no database.
fn print_keys(json: bool, fit: Fit) -> anyhow::Result<()> {
    if json {
        return print_json(&KEYS);
    }
    let mut t = Table::new(fit)
        .key("KEY")
        .column("TYPE")
        .shown_from(120)
        .column("ACCEPTS")
        .column("DEFAULT")
        .text_below("DESCRIPTION");
    for k in KEYS {
        let (kind, accepts) = match k.kind {
            Kind::Bool { .. } => ("bool", "true|false".to_string()),
            Kind::Int { min, max, .. } => ("integer", format!("{min}..={max}")),
            Kind::Address { optional: true, .. } => ("address", "address|null".to_string()),
            Kind::Address {
                optional: false, ..
            } => ("address", "address".to_string()),
            Kind::Choice { options, .. } => ("choice", options.join("|")),
        };
        let by_proposal = if k.moves_money { " (by proposal)" } else { "" };
        t.row([
            k.name.to_string(),
            kind.to_string(),
            accepts,
            table::ends(&k.default_value().to_string(), fit),
            format!("{}{by_proposal}", k.description),
        ]);
    }
    t.print();
    Ok(())
}
