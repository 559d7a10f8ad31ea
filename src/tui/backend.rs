//! The seam between the console and the `admin` module: the console asks for
//! snapshots, runs confirmed actions and searches wallets through this trait
//! and nothing else. The admin adapter implements it over the database;
//! tests implement it in memory, so the state machine and the screens are
//! tested without a terminal or a database.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::action::ConfirmedAction;
use uuid::Uuid;

use super::model::{BulkAction, BulkCount, JobDetail, JobSelection, Snapshot, WalletHit};

/// Why a backend call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The database (or the API) cannot be reached; the console shows it
    /// and retries. The message names what was not reached.
    #[error("{0}")]
    Unavailable(String),
    /// `admin` refused the action (role, read-only database, invalid
    /// address, nothing to do): the reason is for the operator.
    #[error("refused: {0}")]
    Refused(String),
    /// Anything else; the message is for the operator and the log.
    #[error("{0}")]
    Failed(String),
}

/// What a confirmed action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// One line for the operator, e.g. "cleared 12 failed jobs".
    pub message: String,
    /// Rows the action touched.
    pub affected: u64,
}

/// The console's whole view of the system.
///
/// Futures must be `Send`: the console runs each call in its own task so
/// that a slow or lost database never blocks the keyboard.
pub trait ConsoleBackend: Send + Sync + 'static {
    /// Everything the screens show. The parts are read one after another,
    /// not in one transaction: counts and lists may be milliseconds apart,
    /// and the next refresh (at the next change) lines them up. `job_search` is
    /// the Jobs screen's search text: besides the newest jobs, the jobs whose
    /// wallet address or user email starts with it are read from the whole
    /// table, so that a search finds old jobs too.
    fn snapshot(
        &self,
        job_search: String,
    ) -> impl Future<Output = Result<Snapshot, BackendError>> + Send;

    /// Runs an action the operator has confirmed, writing its audit row.
    fn run(
        &self,
        action: ConfirmedAction,
    ) -> impl Future<Output = Result<ActionOutcome, BackendError>> + Send;

    /// How many jobs `action` on `selection` would change now, counted by
    /// `admin` with the action's own SQL: what its confirmation shows. The
    /// default (a backend without the database behind it) cannot count, so
    /// no confirmation opens.
    fn count_selection(
        &self,
        action: BulkAction,
        selection: JobSelection,
    ) -> impl Future<Output = Result<BulkCount, BackendError>> + Send {
        let _ = (action, selection);
        std::future::ready(Err(BackendError::Failed(
            "this console cannot count jobs by filter".into(),
        )))
    }

    /// Wallets whose address, owner email or owner name matches `query`.
    fn search_wallets(
        &self,
        query: &str,
    ) -> impl Future<Output = Result<Vec<WalletHit>, BackendError>> + Send;

    /// One job explained: its attempts and transfers (the detail view).
    /// The default, for backends that serve only snapshots (tests), says
    /// the detail cannot be read; the view then shows the job's row alone.
    fn job_detail(&self, id: Uuid) -> impl Future<Output = Result<JobDetail, BackendError>> + Send {
        std::future::ready(Err(BackendError::Failed(format!(
            "job {id}: this console cannot read a job's attempts and transfers"
        ))))
    }

    /// Resolves when the data has changed (a database notification) or the
    /// live link to it went down or came back, so the console can refresh
    /// before its timer and say at once that what it shows may be old. The
    /// default never resolves: the timer alone drives refreshes.
    fn changed(&self) -> impl Future<Output = Change> + Send {
        std::future::pending()
    }
}

/// What [`ConsoleBackend::changed`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The data may have changed.
    Data,
    /// The live link (the LISTEN connection, the API's event stream) is up
    /// (again); anything may have changed meanwhile.
    LinkUp,
    /// The live link dropped: changes are no longer seen as they happen,
    /// and the database or the API may be gone. The text says why.
    LinkDown(String),
}

/// The queue between a backend's listening task and
/// [`ConsoleBackend::changed`]: data changes coalesce into one wake-up, and
/// the link's newest state is never dropped behind them.
#[derive(Debug, Default)]
pub struct ChangeFeed {
    wake: Notify,
    link: Mutex<Option<Change>>,
}

impl ChangeFeed {
    pub fn data(&self) {
        self.wake.notify_one();
    }

    /// The link went up or down; a later state replaces one not yet taken.
    pub fn link(&self, change: Change) {
        *self.link.lock().unwrap_or_else(|e| e.into_inner()) = Some(change);
        self.wake.notify_one();
    }

    /// The next change: the link's, if it changed, else data.
    pub async fn next(&self) -> Change {
        self.wake.notified().await;
        self.link
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or(Change::Data)
    }
}
