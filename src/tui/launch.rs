//! Everything checked before the terminal is taken: the keymap, the theme
//! and the refresh interval. A bad setting is one clear line on a normal
//! screen, never a half-drawn console.

use std::time::Duration;

use super::keymap::{Keymap, KeymapError};
use super::run::{ConsoleError, RefreshPolicy};
use super::state::App;
use super::theme::{Theme, ThemeKind};
use crate::config::ConsoleFile;

/// The console's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// `--read-only`.
    pub read_only: bool,
    /// `--refresh SECS`; otherwise `ui.refresh_seconds`.
    pub refresh: Option<Duration>,
    /// `--no-mouse`: leave clicks and the wheel to the terminal.
    pub no_mouse: bool,
}

/// Why the console cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A `[console.keys]` entry is wrong.
    #[error(transparent)]
    Keymap(#[from] KeymapError),
    /// `[console] theme` names no theme.
    #[error("[console] {0}")]
    Theme(String),
    /// The refresh interval is out of range.
    #[error(transparent)]
    Refresh(#[from] ConsoleError),
}

/// The state and refresh policy to run with, from the config file's
/// `[console]` section, the flags and `ui.refresh_seconds`.
pub fn prepare(
    file: &ConsoleFile,
    options: &ConsoleOptions,
    configured_refresh: Duration,
) -> Result<(App, RefreshPolicy), LaunchError> {
    let keymap = Keymap::with_overrides(&file.keys)?;
    let kind = file
        .theme
        .as_deref()
        .map(str::parse::<ThemeKind>)
        .transpose()
        .map_err(LaunchError::Theme)?;
    let policy = RefreshPolicy::new(options.refresh.unwrap_or(configured_refresh))?;
    let mut app = App::new(keymap, Theme::from_env(kind), options.read_only);
    app.refresh_every = policy.every;
    app.mouse = !options.no_mouse;
    Ok((app, policy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyList;

    #[test]
    fn settings_are_checked_before_the_terminal_is_taken() {
        let options = ConsoleOptions {
            read_only: true,
            ..Default::default()
        };
        let (app, policy) =
            prepare(&ConsoleFile::default(), &options, Duration::from_secs(15)).unwrap();
        assert!(app.read_only && app.acts_read_only());
        assert!(app.mouse, "the mouse is on unless --no-mouse");
        assert_eq!(policy.every, Duration::from_secs(15));

        let flag = ConsoleOptions {
            read_only: false,
            refresh: Some(Duration::from_secs(5)),
            no_mouse: true,
        };
        let (app, policy) =
            prepare(&ConsoleFile::default(), &flag, Duration::from_secs(15)).unwrap();
        assert_eq!(policy.every, Duration::from_secs(5), "--refresh wins");
        assert_eq!(
            app.refresh_every, policy.every,
            "staleness follows the timer"
        );
        assert!(!app.mouse, "--no-mouse");

        let too_fast = ConsoleOptions {
            refresh: Some(Duration::ZERO),
            ..Default::default()
        };
        let err = prepare(&ConsoleFile::default(), &too_fast, Duration::from_secs(15));
        assert!(matches!(err, Err(LaunchError::Refresh(_))));

        let theme = ConsoleFile {
            theme: Some("neon".into()),
            ..Default::default()
        };
        let err = prepare(&theme, &options, Duration::from_secs(15)).unwrap_err();
        assert!(err.to_string().contains("color, mono or light"), "{err}");

        let mut keys = ConsoleFile::default();
        keys.keys
            .insert("refresh".into(), KeyList::One("Hyper-R".into()));
        let err = prepare(&keys, &options, Duration::from_secs(15)).unwrap_err();
        assert!(err.to_string().contains("Hyper-R"), "{err}");
    }
}
