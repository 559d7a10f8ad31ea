//! `walletops config list|get KEY|set KEY VALUE`: the runtime switches.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::identity::print_json;
use crate::admin::config;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Every switch with its value and description
    List {
        #[arg(long)]
        json: bool,
    },
    /// One switch's value (as JSON)
    Get { key: String },
    /// Set a switch; VALUE is JSON: true, 15, "T..." (admin only, audited)
    Set {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: ConfigAction,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    match action {
        ConfigAction::List { json } => {
            let entries = config::list(&pool).await?;
            if json {
                print_json(&entries)?;
            } else {
                for e in entries {
                    let value = e.value.unwrap_or(serde_json::Value::Null);
                    println!("{:<36} {}", e.key, value);
                }
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
    }
    Ok(ExitCode::SUCCESS)
}
