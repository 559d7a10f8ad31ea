//! Every operator action: checked against the actor's role, audited in the
//! same transaction as the change, and the same from the console, the CLI
//! and the HTTP API.
//!
//! The pieces: [`role`] (who may do what, in one table), [`identity`] (who
//! is acting), [`audit`] (the trail the database writes with each change)
//! and [`audit_chain`] (its hash chain, verified here in Rust),
//! the actions themselves ([`control`], [`config`], [`operators`],
//! [`tokens`], [`jobs`], [`wallets`], and [`proposals`] for the keys that
//! move money), and the read side ([`health`], [`stats`], and
//! [`overview`] for the live dashboards).

pub mod audit;
pub mod audit_chain;
pub mod config;
pub mod console;
pub mod control;
pub mod energy;
pub mod health;
pub mod identity;
pub mod jobs;
pub mod operators;
pub mod overview;
pub mod proposals;
pub mod role;
pub mod security;
pub mod stats;
pub mod tokens;
pub mod wallet_lookup;
pub mod wallets;

pub use identity::{Identity, Source};
pub use role::{Permission, Role};
// `api`, `cli` and `tui` reach the queue and the wallets only through `admin`
// (README.md, Architecture).
pub use crate::queue::{
    AttemptOutcome, AttemptRecord, CONFIG_CHANNEL, IdFragment, IdFragmentError, JOB_STATES_CHANNEL,
    JOBS_CHANNEL, Job, JobFilter, JobStatus, JobType, StatusCounts, WorkerState, short_id,
    short_id_len, short_len,
};
pub use crate::transfers::{Asset, JobTransfer, TransferKind, TransferStatus};
pub use crate::wallets::WalletRole;

use sqlx::PgPool;

/// Channel on which runtime switches (pause/start, config changes) are
/// announced; workers LISTEN to it.
pub const CONTROL_CHANNEL: &str = crate::db::listen::Channel::Control.name();
/// Channel on which every audited action is announced (for live dashboards).
pub const ADMIN_CHANNEL: &str = crate::db::listen::Channel::Admin.name();

/// Why an action did not happen. Nothing has changed in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The identity is not known, revoked or expired.
    #[error("{0}")]
    UnknownIdentity(String),
    /// The identity's role does not allow the action.
    #[error("{who} may not {action}")]
    Forbidden { who: String, action: &'static str },
    /// Operator management and key import need the database owner's rights.
    #[error(
        "{action} needs the database owner's rights; connected as {db_user}, which does not own the tables"
    )]
    NotOwner {
        action: &'static str,
        db_user: String,
    },
    /// The database refused the change (its own role check, or a missing grant).
    #[error("the database refused: {0}")]
    Denied(String),
    /// Bad input: a value that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The action does not fit the current state (e.g. retrying a completed job).
    #[error("{0}")]
    Conflict(String),
    /// A stored value that walletops did not write and cannot read.
    #[error("unexpected stored data: {0}")]
    Corrupt(String),
    /// The database refused or failed.
    #[error("database error: {}", crate::db::one_line(.0))]
    Db(sqlx::Error),
}

/// The database's own refusals (migration 0007's functions raise these
/// codes) become the matching kind; everything else stays a database error.
impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        let sqlx::Error::Database(db) = &e else {
            return AdminError::Db(e);
        };
        let message = db.message().to_string();
        match db.code().as_deref() {
            Some("28000") => AdminError::UnknownIdentity(message),
            Some("42501") => AdminError::Denied(message),
            Some("P0002") => AdminError::NotFound(message),
            Some("22023") => AdminError::Invalid(message),
            _ => AdminError::Db(e),
        }
    }
}

impl From<crate::settings::SettingsError> for AdminError {
    fn from(e: crate::settings::SettingsError) -> Self {
        use crate::settings::SettingsError;
        match e {
            SettingsError::Sql(e) => e.into(),
            SettingsError::Corrupt(m) => AdminError::Corrupt(m),
            e @ SettingsError::Invalid { .. } => AdminError::Corrupt(e.to_string()),
        }
    }
}

impl AdminError {
    /// Logs a refusal (bad input, no right) and returns it: refused actions go
    /// to the log, not to the audit table.
    pub(crate) fn refused(self, identity: &Identity) -> Self {
        tracing::warn!(identity = %identity, reason = %self, "refused");
        self
    }
}

/// Whether the database enforces the group roles (the migrations could
/// create them). When not, only the application's own checks apply.
pub async fn database_roles_enforced(pool: &PgPool) -> Result<bool, AdminError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_roles
          WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker',
                            'walletops_viewer')",
    )
    .fetch_one(pool)
    .await?;
    Ok(n == 4)
}
