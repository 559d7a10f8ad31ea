//! `walletops console --api URL [--token-file FILE]`: the console over the
//! HTTP API (`walletops serve`), with a personal token from the file or
//! `WALLETOPS_TOKEN`, so a jump box or a wall screen holds no database
//! credentials. The URL and the token are checked before the terminal is
//! taken; the token's role decides what the console offers, and the server
//! decides (and audits) what it does.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::console::ConsoleArgs;
use crate::config::{Secret, Settings};
use crate::tui::{self, ApiBackend, ApiConnectError, BackendError, ConsoleOptions};

/// The environment variable holding the token when no file is named.
pub const TOKEN_ENV: &str = "WALLETOPS_TOKEN";

pub async fn run(
    settings: &Settings,
    api: &str,
    args: &ConsoleArgs,
    log_filter: &str,
) -> anyhow::Result<ExitCode> {
    // The assertion names a database login's operator; over the API the
    // token acts, so it could only be ignored, and an ignored check misleads.
    if let Some(claimed) = &settings.operator {
        bail!(
            "--operator/WALLETOPS_OPERATOR ({claimed}) asserts a database login's operator, but \
             over --api the token acts (its name shows in the status bar): unset it"
        );
    }
    let token = read_token(args.token_file.as_deref())?;
    let (backend, whoami) = if args.read_only {
        // A wall screen waits for an API it cannot reach yet (nobody is
        // there to start it again); a refused token is still an error.
        let backend = ApiBackend::new(api, token)?;
        match backend.whoami().await {
            Ok(whoami) => (backend, Some(whoami)),
            Err(BackendError::Unavailable(_)) => (backend, None),
            Err(e) => return Err(ApiConnectError::Refused(e).into()),
        }
    } else {
        let (backend, whoami) = ApiBackend::connect(api, token).await?;
        (backend, Some(whoami))
    };
    let configured = whoami.as_ref().and_then(|w| w.refresh_seconds).map_or_else(
        || crate::settings::UiSettings::default().refresh,
        Duration::from_secs,
    );
    let options = ConsoleOptions {
        read_only: args.read_only,
        refresh: args.refresh.map(Duration::from_secs),
        no_mouse: args.no_mouse,
    };
    let (mut app, policy) = tui::prepare(&settings.console, &options, configured)?;
    app.over_api = true;
    let log = tui::log::to_file(log_filter)?;
    match &whoami {
        Some(w) => {
            tracing::info!(api, token = %w.name, role = %w.role, read_only = args.read_only, "console starting over the API")
        }
        None => tracing::info!(
            api,
            "console starting over the API, which cannot be reached yet"
        ),
    }
    let result = tui::run(Arc::new(backend), app, policy).await;
    println!("console log: {}", log.pattern.display());
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The token from `file`, else from the environment: the token alone,
/// surrounding whitespace ignored. A file others may read is refused, as
/// ssh refuses such a key.
pub(crate) fn read_token(file: Option<&Path>) -> anyhow::Result<Secret> {
    let text = match file {
        Some(path) => {
            let mode = std::fs::metadata(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                bail!(
                    "the token file {} may be read by others (mode {:o}): run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                );
            }
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
        }
        None => std::env::var(TOKEN_ENV).map_err(|_| {
            anyhow::anyhow!("an API token is needed: --token-file FILE, or set {TOKEN_ENV}")
        })?,
    };
    let token = text.trim();
    if token.is_empty() {
        bail!("the API token is empty: put the token printed by `walletops tokens create` there");
    }
    if token.contains(char::is_whitespace) {
        bail!("the API token must be the token alone, on one line");
    }
    Ok(Secret::new(token))
}
