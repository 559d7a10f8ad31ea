//! The console's log: a daily rolling file under
//! `$XDG_STATE_HOME/walletops/`, never the screen it draws on.

use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;

use crate::config::xdg_dir;

/// Keeps the log writer alive; dropping it flushes the file.
pub struct LogFile {
    /// Where the files go, e.g. `~/.local/state/walletops/console.2026-01-31.log`.
    pub pattern: PathBuf,
    _guard: WorkerGuard,
}

/// Why the log could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Neither `XDG_STATE_HOME` nor `HOME` is set.
    #[error("cannot place the console log: set XDG_STATE_HOME or HOME")]
    NoStateDir,
    /// The folder or file could not be created.
    #[error("cannot create the console log in {dir}: {message}")]
    Create { dir: PathBuf, message: String },
    /// The log filter does not parse.
    #[error("invalid log filter {0:?}")]
    Filter(String),
}

/// Sends every `tracing` event to the rolling file under
/// `$XDG_STATE_HOME/walletops/`, as the process's global subscriber. Call
/// before the terminal is taken, so failures still print.
pub fn to_file(filter: &str) -> Result<LogFile, LogError> {
    let dir = xdg_dir("XDG_STATE_HOME", ".local/state")
        .ok_or(LogError::NoStateDir)?
        .join("walletops");
    to_file_in(dir, filter)
}

/// As [`to_file`], in a folder of the caller's choice.
pub fn to_file_in(dir: PathBuf, filter: &str) -> Result<LogFile, LogError> {
    let filter = EnvFilter::try_new(filter).map_err(|_| LogError::Filter(filter.to_string()))?;
    let create = |e: &dyn std::fmt::Display| LogError::Create {
        dir: dir.clone(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| create(&e))?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("console")
        .filename_suffix("log")
        .max_log_files(14)
        .build(&dir)
        .map_err(|e| create(&e))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .map_err(|e| create(&e))?;
    Ok(LogFile {
        pattern: dir.join("console.*.log"),
        _guard: guard,
    })
}
