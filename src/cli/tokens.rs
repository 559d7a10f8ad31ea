//! `walletops tokens create --role R --name N [--expires TIME] | list | revoke ID|NAME`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::identity::print_json;
use crate::admin::{Role, tokens};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum TokensAction {
    /// Create a token and print it alone on stdout, once (admin only)
    Create {
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
        /// When it stops working (RFC 3339); never by default
        #[arg(long, value_name = "TIME")]
        expires: Option<DateTime<Utc>>,
    },
    /// Every token (never the token itself)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id or name (admin only)
    Revoke { token: String },
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: TokensAction,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    match action {
        TokensAction::Create {
            role,
            name,
            expires,
        } => {
            let identity = super::identity::operator(settings, &pool).await?;
            let created = tokens::create(&pool, &identity, role, &name, expires).await?;
            // The one place a token is shown; scripts read it from stdout.
            println!("{}", created.token.expose());
        }
        TokensAction::List { json } => {
            let all = tokens::list(&pool).await?;
            if json {
                print_json(&all)?;
            } else {
                for t in all {
                    let state = match (t.revoked_at, t.expires_at) {
                        (Some(_), _) => "revoked".to_string(),
                        (None, Some(e)) if e <= Utc::now() => "expired".into(),
                        (None, Some(e)) => format!("expires {}", e.to_rfc3339()),
                        (None, None) => "active".into(),
                    };
                    println!("{}  {:<24} {:<9} {state}", t.id, t.name, t.role);
                }
            }
        }
        TokensAction::Revoke { token } => {
            let identity = super::identity::operator(settings, &pool).await?;
            let revoked = tokens::revoke(&pool, &identity, &token).await?;
            println!("token {} ({}) revoked", revoked.id, revoked.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
