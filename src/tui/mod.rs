//! The operations console: a full-screen terminal UI over the `admin`
//! module.
//!
//! - [`action`]: every user intent as one [`Action`] enum; changes travel as
//!   [`AdminCommand`] data and run only as a [`ConfirmedAction`].
//! - [`keymap`]: keys to actions per context; the help overlay and the
//!   README's key table are generated from it.
//! - [`state`]: the [`App`] and its one [`update`] path, returning
//!   [`Effect`]s; no I/O, so tests need no terminal.
//! - [`model`]: the plain data the screens show; [`history`]: the charts'
//!   per-minute memory.
//! - [`ui`]: pure drawing, one file per screen.
//! - [`backend`]: [`ConsoleBackend`], the seam to `admin`;
//!   [`admin_backend`]: its implementation over the database;
//!   [`api_backend`]: over the HTTP API.
//! - [`launch`]: settings checked before the terminal is taken.
//! - [`run`]: the event loop and the terminal's safe restore.
//! - [`log`]: the rolling log file; nothing is logged to the screen.
//!
//! A command starts the console with [`prepare`], [`log::to_file`] and
//! [`run`], in that order, and prints the log's path after `run` returns.

pub mod action;
pub mod admin_backend;
pub mod api_backend;
pub mod backend;
pub mod history;
pub mod keymap;
pub mod launch;
pub mod log;
pub mod model;
pub mod run;
pub mod sort;
pub mod state;
pub mod theme;
pub mod ui;

#[cfg(test)]
mod loop_tests;
#[cfg(test)]
mod mouse_tests;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod stale_tests;
#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod testing;

pub use action::{Action, AdminCommand, ConfirmedAction, Intent, Screen};
pub use admin_backend::AdminBackend;
pub use api_backend::{ApiBackend, ApiConnectError};
pub use backend::{ActionOutcome, BackendError, Change, ChangeFeed, ConsoleBackend};
pub use keymap::{Keymap, KeymapError};
pub use launch::{ConsoleOptions, LaunchError, prepare};
pub use run::{ConsoleError, RefreshPolicy, run};
pub use state::{App, Effect, Event, update};
pub use theme::{Theme, ThemeKind};
