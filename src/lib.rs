//! walletops: the back office of a custodial TRON wallet service.
//!
//! The module map follows `DESIGN.md`: `cli` and `api` are thin shells over
//! `admin` (every operator action, its audit row, roles, health); `config`
//! resolves settings; `db` owns connections, migrations and the local
//! PostgreSQL cluster.

pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod engine;
pub mod queue;
pub mod tron;
