//! The worker engine: a pool of async workers in one process, sharing one
//! PostgreSQL queue with any number of other processes.
//!
//! One process is one row of `workers` (its leases name it). Inside it:
//! - the dispatcher claims due jobs in batches while the process has room
//!   (`concurrency` running plus a local buffer), and waits for a
//!   `walletops_jobs` notification, the next due time, or the poll interval
//!   when the queue is empty;
//! - each claimed job runs in its own task once one of `concurrency` permits
//!   is free; a panic or timeout fails only that attempt;
//! - the completer records outcomes in batches, one statement (one durable
//!   commit) for all outcomes ready at that moment;
//! - the heartbeat updates the `workers` row every second and renews the
//!   lease of every held job; a job whose lease was lost is abandoned;
//! - the listener turns notifications into wake-ups; the config watcher
//!   reloads `system_config` on notification and every second (pause);
//! - maintenance runs in whichever process holds the leader lease.
//!
//! Shutdown (the `stop` future given to [`Engine::run`]): claim nothing more,
//! release buffered jobs, let running ones finish within the grace period,
//! release the rest, mark the `workers` row stopped.

mod handler;
mod runner;
mod wallet_jobs;

pub use handler::{Handler, HandlerFuture, Maintenance, MaintenanceFuture, Registry};
pub use runner::{Engine, EngineOptions, EngineReport, WorkerState};
pub use wallet_jobs::register_wallet_jobs;
