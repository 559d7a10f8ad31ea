//! walletops: the back office of a custodial TRON wallet service.
//!
//! The module map (README.md, Architecture): `cli`, `api` and `tui` are thin
//! shells over `admin` (every operator action, its audit row, roles,
//! health); `config` resolves settings; `db` owns connections, migrations
//! and the local PostgreSQL cluster; `queue` and `engine` run the jobs, and
//! `jobs` holds the wallet jobs and the transfer-record protocol, whose
//! records `transfers` stores; `tron` is pure chain code (keys,
//! transactions, the HTTP client); `sim` is the TRON simulator for tests
//! and the demo, built on `tron`; `wallets` keeps users, wallets and their
//! sealed keys; `audit` holds the audit trail's and the security events'
//! tables (used by `admin` and `jobs`); `settings` is the registry of
//! runtime settings; `tui` is the operations console.

pub mod admin;
pub mod api;
pub mod audit;
pub mod cli;
pub mod config;
pub mod db;
pub mod engine;
pub mod jobs;
pub mod policy;
pub mod queue;
pub mod settings;
pub mod signer;
pub mod sim;
pub mod transfers;
pub mod tron;
pub mod tui;
pub mod wallets;
