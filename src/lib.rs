//! walletops: the back office of a custodial TRON wallet service.
//!
//! The module map follows `DESIGN.md`: `cli` is the thin shell over the
//! core modules; `config` resolves settings; `db` owns connections,
//! migrations and the local PostgreSQL cluster; `tron` is pure chain code
//! (keys, transactions, the HTTP client and the simulator); `wallets` keeps
//! users, wallets and their sealed keys; `queue` and `engine` run jobs, and
//! `jobs` holds the wallet jobs and the transfer records.

pub mod cli;
pub mod config;
pub mod db;
pub mod engine;
pub mod jobs;
pub mod queue;
pub mod tron;
pub mod wallets;
