//! `walletops tokens create --role R --name N [--expires TIME | --expires-in 30d] | list | revoke ID|NAME`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::identity::print_json;
use super::table::{self, Fit, Table};
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
        #[arg(long, value_name = "TIME", conflicts_with = "expires_in")]
        expires: Option<DateTime<Utc>>,
        /// How long it works: a number and a unit, e.g. 90m, 12h, 30d
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        expires_in: Option<chrono::Duration>,
    },
    /// Every token (never the token itself)
    List {
        #[arg(long)]
        json: bool,
        /// Every column (the ids), whatever the width
        #[arg(long)]
        wide: bool,
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
            expires_in,
        } => {
            let expires = expires.or(expires_in.map(|d| Utc::now() + d));
            let identity = super::identity::operator(settings, &pool).await?;
            let created = tokens::create(&pool, &identity, role, &name, expires).await?;
            // The one place a token is shown; scripts read it from stdout.
            println!("{}", created.token.expose());
        }
        TokensAction::List { json, wide } => {
            let all = tokens::list(&pool).await?;
            if json {
                print_json(&all)?;
            } else {
                let fit = Fit::detect(wide);
                let now = Utc::now();
                let mut t = Table::new(fit)
                    .key("NAME")
                    .column("ROLE")
                    .column("STATE")
                    .column("USED")
                    .column("ID")
                    .shown_from(120);
                for token in all {
                    let state = match (token.revoked_at, token.expires_at) {
                        (Some(_), _) => "revoked".to_string(),
                        (None, Some(e)) if e <= now => "expired".into(),
                        (None, Some(e)) => format!("expires {}", table::when(Some(e), now, fit)),
                        (None, None) => "active".into(),
                    };
                    let used = token.last_used_at.map_or_else(
                        || "never used".to_string(),
                        |u| format!("last used {}", table::when(Some(u), now, fit)),
                    );
                    t.row([
                        token.name,
                        token.role.to_string(),
                        state,
                        used,
                        token.id.to_string(),
                    ]);
                }
                t.print();
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

/// `90m`, `12h`, `30d`, `2w`: a positive whole number and a unit.
fn parse_lifetime(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .ok()
        .filter(|n| *n > 0 && *n <= 100_000)
        .ok_or_else(|| format!("{s:?}: expected a number from 1 to 100000 and a unit, e.g. 30d"))?;
    match unit {
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        "w" => Ok(chrono::Duration::weeks(n)),
        _ => Err(format!("{s:?}: the unit must be m, h, d or w (e.g. 30d)")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_lifetime;

    #[test]
    fn lifetimes_parse_with_a_unit() {
        assert_eq!(parse_lifetime("30d"), Ok(chrono::Duration::days(30)));
        assert_eq!(parse_lifetime("90m"), Ok(chrono::Duration::minutes(90)));
        for bad in ["", "30", "d", "0d", "-1d", "3y", "1.5d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
