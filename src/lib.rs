//! walletops: the back office of a custodial TRON wallet service.
//!
//! The module map follows `DESIGN.md`: `cli` is the thin shell over the
//! core modules; `config` resolves settings; `db` owns connections,
//! migrations and the local PostgreSQL cluster; `tui` is the operations
//! console.

pub mod cli;
pub mod config;
pub mod db;
pub mod tui;
