//! The audit trail's tables and the security events: the only module with
//! SQL on `admin_actions` and `audit_head` ([`trail`], [`chain`]),
//! `security_events` and `security_acks` ([`security`]). It depends only on
//! the database, so that both `admin` (which checks roles before asking it)
//! and `jobs` (which records policy refusals) use it.
//!
//! The database writes most of the trail itself (migration 0007): triggers
//! record every change to configuration, wallets, operators and tokens;
//! actions and acknowledgements go through its functions, which find the
//! actor themselves and check their right again.

pub mod chain;
pub mod security;
pub mod trail;
