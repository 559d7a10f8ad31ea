//! The real [`ConsoleBackend`]: the `admin` module over a database pool,
//! acting as one operator. Every read and every action goes through
//! `admin`, which checks the role and writes the audit row; this file only
//! translates between `admin`'s types and the console's view types.
//!
//! What the operator may do is decided on every refresh from their role now
//! (a removed operator loses their rights at once) and from what the
//! connected database role may write: a console on a read-only database
//! role, or on a login linked to no operator, shows itself read-only with
//! the reason.
//! Each action also re-reads the operator's role before it runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::action::{AdminCommand, ConfirmedAction};
use super::backend::{ActionOutcome, BackendError, Change, ChangeFeed, ConsoleBackend};
use super::history::ReadClock;
use super::model::{
    Access, AuditView, BulkAction, BulkCount, Costs, Deposits, DepthRow, Health, JobDetail, JobRef,
    JobSelection, JobType, JobView, PendingChange, PoolView, Role, Snapshot, StatusCounts,
    WalletHit, WorkerState, WorkerView,
};
use crate::admin::console::{self, ConsoleData};
use crate::admin::jobs::Dispatch;
use crate::admin::overview::{self, CHANGE_CHANNELS, JobAge};
use crate::admin::wallet_lookup::WalletRef;
use crate::admin::{
    self, AdminError, Identity, audit, control, identity, proposals, short_id, stats,
};
use crate::db::listen::{ListenEvent, Listener};

/// The console's view of the database, acting as the operator its
/// database login is linked to (or none: then read-only).
pub struct AdminBackend {
    pool: PgPool,
    changes: Arc<ChangeFeed>,
    listener: JoinHandle<()>,
    history_read: ReadClock,
}

impl AdminBackend {
    /// A backend acting as the login's operator. `asserted` (the old
    /// `--operator`) must name that operator: a mismatch, or an assertion
    /// for a login that is no operator, is an error here, before the
    /// terminal is taken. A login that is no operator makes a read-only
    /// console. Starts listening for changes.
    pub async fn new(pool: PgPool, asserted: Option<String>) -> Result<Self, AdminError> {
        match identity::resolve_login(&pool).await {
            Ok(me) => identity::check_claim(&me, asserted.as_deref())?,
            Err(e) if asserted.is_some() => return Err(e),
            Err(AdminError::UnknownIdentity(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(Self::unchecked(pool))
    }

    /// A backend for a read-only console started while the database cannot
    /// be reached: nothing to check yet (who the login is, and so what it
    /// may do, is read at every refresh); it shows that it waits, and
    /// retries, until the database answers.
    pub fn waiting(pool: PgPool) -> Self {
        Self::unchecked(pool)
    }

    fn unchecked(pool: PgPool) -> Self {
        let changes = Arc::new(ChangeFeed::default());
        let listener = tokio::spawn(listen(pool.clone(), changes.clone()));
        Self {
            pool,
            changes,
            listener,
            history_read: ReadClock::default(),
        }
    }

    /// The login's operator as the database knows them now.
    async fn identity(&self) -> Result<Identity, BackendError> {
        identity::resolve_login(&self.pool)
            .await
            .map_err(backend_error)
    }

    async fn access(&self) -> Result<Access, BackendError> {
        let db = overview::database_access(&self.pool)
            .await
            .map_err(backend_error)?;
        let (operator, role, mut note) = match self.identity().await {
            Ok(identity) => (identity.email().map(str::to_string), identity.role, None),
            Err(BackendError::Unavailable(e)) => return Err(BackendError::Unavailable(e)),
            Err(e) => (None, Role::Viewer, Some(reason(&e))),
        };
        let role = if db.may_write {
            role
        } else {
            note = Some(format!("database role {} may only read", db.user));
            Role::Viewer
        };
        Ok(Access {
            operator,
            role,
            note,
        })
    }
}

impl Drop for AdminBackend {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl ConsoleBackend for AdminBackend {
    async fn snapshot(&self, job_search: String) -> Result<Snapshot, BackendError> {
        let access = self.access().await?;
        let data = console::read(&self.pool, &job_search, self.history_read.minutes())
            .await
            .map_err(backend_error)?;
        self.history_read.mark();
        Ok(snapshot_from(data, access))
    }

    async fn run(&self, action: ConfirmedAction) -> Result<ActionOutcome, BackendError> {
        let identity = self.identity().await?;
        let pool = &self.pool;
        let outcome = match action.command() {
            AdminCommand::PauseWorkers { .. } | AdminCommand::StartWorkers { .. } => {
                let pause = matches!(action.command(), AdminCommand::PauseWorkers { .. });
                let done = control::set_paused(pool, &identity, pause)
                    .await
                    .map_err(backend_error)?;
                paused_outcome(pause, done.changed)
            }
            AdminCommand::ClearFailed { .. } => {
                let done = admin::jobs::clear_failed(pool, &identity)
                    .await
                    .map_err(backend_error)?;
                cleared_outcome(done.deleted)
            }
            AdminCommand::ResetProcessing { .. } => {
                let done = admin::jobs::reset_processing(pool, &identity)
                    .await
                    .map_err(backend_error)?;
                reset_outcome(done.jobs, done.wallets.len() as u64)
            }
            AdminCommand::RetryJob { job, .. } => {
                let job = admin::jobs::retry(pool, &identity, *job)
                    .await
                    .map_err(backend_error)?;
                retried_outcome(job.id)
            }
            AdminCommand::CancelJob { job, .. } => {
                let job = admin::jobs::cancel(pool, &identity, *job)
                    .await
                    .map_err(backend_error)?;
                cancelled_outcome(job.id)
            }
            AdminCommand::Dispatch { job_type, wallet } => {
                let done = admin::jobs::dispatch(
                    pool,
                    &identity,
                    &Dispatch {
                        wallet: WalletRef::Id(wallet.wallet_id),
                        user_id: None,
                        job_type: *job_type,
                    },
                )
                .await
                .map_err(backend_error)?;
                dispatched_outcome(*job_type, done.created, done.job.id, &done.wallet.address)
            }
            AdminCommand::Selection {
                action,
                selection,
                count,
                ..
            } => {
                let done = admin::jobs::act_on_selection(
                    pool,
                    &identity,
                    *action,
                    selection,
                    Some(count.jobs),
                )
                .await
                .map_err(backend_error)?;
                selection_outcome(*action, selection, done)
            }
        };
        Ok(outcome)
    }

    async fn count_selection(
        &self,
        action: BulkAction,
        selection: JobSelection,
    ) -> Result<BulkCount, BackendError> {
        admin::jobs::count_selection(&self.pool, action, &selection)
            .await
            .map_err(backend_error)
    }

    async fn search_wallets(&self, query: &str) -> Result<Vec<WalletHit>, BackendError> {
        let found = overview::search_wallets(&self.pool, query)
            .await
            .map_err(backend_error)?;
        Ok(found.into_iter().map(wallet_hit).collect())
    }

    async fn job_detail(&self, id: uuid::Uuid) -> Result<JobDetail, BackendError> {
        let detail = admin::jobs::detail(&self.pool, id)
            .await
            .map_err(backend_error)?;
        job_detail(detail)
    }

    async fn changed(&self) -> Change {
        self.changes.next().await
    }
}

// What each action says it did, the same over the database and the API.

pub(super) fn selection_outcome(
    action: BulkAction,
    selection: &JobSelection,
    done: BulkCount,
) -> ActionOutcome {
    let what = match action {
        BulkAction::Retry => "back to pending",
        _ => "cancelled",
    };
    ActionOutcome {
        message: format!(
            "{} {} job{} {what}",
            done.jobs,
            selection.status,
            plural(done.jobs)
        ),
        affected: done.jobs,
    }
}

pub(super) fn paused_outcome(pause: bool, changed: bool) -> ActionOutcome {
    let word = if pause { "paused" } else { "started" };
    ActionOutcome {
        message: if changed {
            format!("workers {word}")
        } else {
            format!("workers were already {word}")
        },
        affected: u64::from(changed),
    }
}

pub(super) fn cleared_outcome(deleted: u64) -> ActionOutcome {
    ActionOutcome {
        message: format!("cleared {deleted} failed job{}", plural(deleted)),
        affected: deleted,
    }
}

pub(super) fn reset_outcome(jobs: u64, wallets: u64) -> ActionOutcome {
    ActionOutcome {
        message: format!(
            "reset {jobs} stuck job{} and {wallets} wallet flag{}",
            plural(jobs),
            plural(wallets)
        ),
        affected: jobs + wallets,
    }
}

pub(super) fn retried_outcome(job: uuid::Uuid) -> ActionOutcome {
    ActionOutcome {
        message: format!("job {} is pending again", short_id(&job)),
        affected: 1,
    }
}

pub(super) fn cancelled_outcome(job: uuid::Uuid) -> ActionOutcome {
    ActionOutcome {
        message: format!("job {} cancelled", short_id(&job)),
        affected: 1,
    }
}

pub(super) fn dispatched_outcome(
    job_type: JobType,
    created: bool,
    job: uuid::Uuid,
    address: &str,
) -> ActionOutcome {
    ActionOutcome {
        message: if created {
            format!(
                "{} job {} queued for {address}",
                job_type.as_str(),
                short_id(&job)
            )
        } else {
            format!(
                "{address} already had {} job {}: nothing new queued",
                job_type.as_str(),
                short_id(&job)
            )
        },
        affected: u64::from(created),
    }
}

/// Listens on [`CHANGE_CHANNELS`] for as long as the backend lives. A burst of
/// notifications wakes the console once: everything already received is
/// drained before the one wake-up, and a wake-up nobody has taken yet is
/// not stored twice. A (re)connect counts as a change (notifications may
/// have been missed); a drop is reported at once, so the console stops
/// vouching for what it shows.
async fn listen(pool: PgPool, changes: Arc<ChangeFeed>) {
    let mut listener = Listener::new(pool, &CHANGE_CHANNELS);
    loop {
        match listener.next().await {
            ListenEvent::Connected => changes.link(Change::LinkUp),
            ListenEvent::Notified(_) => {
                while listener.next_buffered().is_some() {}
                changes.data();
            }
            ListenEvent::Closed => {
                tracing::warn!("console: the database closed the change listener; reconnecting");
                changes.link(Change::LinkDown(
                    "the database closed the listening connection".into(),
                ));
            }
            ListenEvent::Lost(e) => {
                tracing::warn!(error = %e, "console: change listener lost; reconnecting");
                changes.link(Change::LinkDown(crate::db::one_line(&e)));
            }
        }
    }
}

/// The console's view of one refresh's data: shared by this backend and
/// the API's, so both show the same thing.
pub(super) fn snapshot_from(data: ConsoleData, access: Access) -> Snapshot {
    let now = data.taken_at;
    let stale = data.heartbeat_stale_seconds;
    Snapshot {
        taken_at: now,
        health: Health {
            level: data.health.status,
            reasons: data.health.reasons,
        },
        paused: data.paused,
        access,
        workers: data
            .workers
            .iter()
            .filter_map(|w| worker_view(w, now, stale))
            .collect(),
        depth: data
            .depth
            .iter()
            .map(|(t, c)| DepthRow {
                job_type: *t,
                counts: StatusCounts {
                    pending: count(c.pending),
                    processing: count(c.processing),
                    completed: count(c.completed),
                    failed: count(c.failed),
                    cancelled: count(c.cancelled),
                },
            })
            .collect(),
        // The counts are maintained by triggers: exact at any size.
        depth_estimated: false,
        history: data.history,
        oldest_pending: data.oldest_pending.and_then(job_ref),
        stuck: data.stuck.into_iter().filter_map(job_ref).collect(),
        stuck_total: count(data.stuck_total),
        orphaned_wallets: data.orphaned_wallets,
        jobs: data
            .jobs
            .into_iter()
            .filter_map(|j| job_view(j, &data.user_labels, &data.worker_labels))
            .collect(),
        audit: data.audit.into_iter().map(audit_view).collect(),
        pending_changes: data
            .pending_changes
            .into_iter()
            .map(pending_change)
            .collect(),
        failures: Box::new(data.failures),
        costs: data.costs.map(|c| costs(c, now)),
        deposits: data.deposits.map(|d| Deposits {
            following: d.following,
            block: d.block_number,
            lag_blocks: d.lag_blocks,
            lag_seconds: d.lag_seconds,
            pending: d.pending,
        }),
    }
}

/// The cost figures and the energy pool as the dashboard shows them; ages
/// are at `now`, the refresh's database time.
fn costs(c: crate::admin::stats::CostStats, now: DateTime<Utc>) -> Costs {
    let sweep_energy = c.energy.as_ref().and_then(|e| e.sweep_energy);
    let pool = c.energy.and_then(|e| e.pool).map(|p| PoolView {
        energy_available: p.energy_available(),
        sweeps_covered: sweep_energy.map(|n| p.sweeps_covered(n)),
        delegated_out: p.delegated_out,
        delegations: p.delegations.len(),
        oldest: p
            .oldest_delegation()
            .map(|d| (now - d.since).to_std().unwrap_or_default()),
    });
    Costs {
        today: c.today.burned,
        last_7_days: c.last_7_days.burned,
        per_sweep: c.last_7_days.burned_per_sweep,
        priced: c.last_7_days.priced,
        pool,
    }
}

/// Refusals (rights, bad input, state) are the operator's to read; a lost
/// connection is shown as such and retried.
fn backend_error(e: AdminError) -> BackendError {
    match e {
        AdminError::Denied(message) => BackendError::Refused(format!(
            "the database refused: {message} (a read-only database role?)"
        )),
        AdminError::Db(
            e @ (sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)),
        ) => BackendError::Unavailable(crate::db::one_line(&e)),
        AdminError::Db(e) => BackendError::Failed(crate::db::one_line(&e)),
        AdminError::Corrupt(_) => BackendError::Failed(e.to_string()),
        refused => BackendError::Refused(refused.to_string()),
    }
}

fn reason(e: &BackendError) -> String {
    match e {
        BackendError::Refused(r) | BackendError::Failed(r) | BackendError::Unavailable(r) => {
            r.clone()
        }
    }
}

pub(super) fn wallet_hit(w: overview::WalletMatch) -> WalletHit {
    WalletHit {
        wallet_id: w.id,
        address: w.address,
        user_email: w.user_email,
        user_name: w.user_name,
        role: w.role,
        trx_balance_sun: w.trx_balance_sun,
        usdt_balance: w.usdt_balance,
        active_jobs: w.active_jobs,
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or_default()
}

/// A worker as the console shows it; stopped ones are left out, and one
/// whose heartbeat went stale shows as an error, since it is probably dead.
fn worker_view(w: &stats::WorkerInfo, now: DateTime<Utc>, stale: i64) -> Option<WorkerView> {
    let mut last_error = w.last_error.clone();
    let state = match w.state {
        WorkerState::Stopped => return None,
        _ if !w.live => {
            last_error = Some(format!("no heartbeat for over {stale} s"));
            WorkerState::Error
        }
        state => state,
    };
    Some(WorkerView {
        id: w.id,
        host: w.host.clone(),
        pid: u32::try_from(w.pid).unwrap_or(0),
        state,
        current_job: w.current_job_id,
        heartbeat_age: age(now, w.last_heartbeat_at),
        jobs_done: count(w.jobs_done),
        jobs_failed: count(w.jobs_failed),
        last_error,
    })
}

fn job_ref(j: JobAge) -> Option<JobRef> {
    Some(JobRef {
        id: j.id,
        job_type: j.job_type?,
        wallet_address: j.wallet_address.unwrap_or_default(),
        age: j.age,
    })
}

/// A job row; rows written by plain SQL without a type or status are not
/// shown (the console cannot act on them).
fn job_view(
    j: overview::Job,
    labels: &HashMap<uuid::Uuid, String>,
    workers: &HashMap<uuid::Uuid, String>,
) -> Option<JobView> {
    let created_at = j.created_at.unwrap_or(j.run_at);
    Some(JobView {
        id: j.id,
        job_type: j.job_type?,
        status: j.status?,
        wallet_address: j.wallet_address.unwrap_or_default(),
        user: j.user_id.and_then(|u| labels.get(&u).cloned()),
        attempts: u32::try_from(j.attempt).unwrap_or(0),
        retry_count: u32::try_from(j.retry_count.unwrap_or(0)).unwrap_or(0),
        max_retries: u32::try_from(j.max_retries.unwrap_or(0)).unwrap_or(0),
        error_message: j.error_message,
        data: j
            .data
            .map(|d| serde_json::to_string_pretty(&d).unwrap_or_default())
            .unwrap_or_else(|| "{}".into()),
        created_at,
        updated_at: j.updated_at.unwrap_or(created_at),
        started_at: j.started_at,
        finished_at: j.finished_at,
        locked_by: j.locked_by.map(|id| match workers.get(&id) {
            Some(label) => label.clone(),
            None => format!("worker {id} (no longer registered)"),
        }),
    })
}

/// The detail view's data; the owner's label is the Jobs row's to show.
pub(super) fn job_detail(d: admin::jobs::JobDetail) -> Result<JobDetail, BackendError> {
    let id = d.job.id;
    // The holder's label as the detail read it, so the row names it too.
    let workers: HashMap<uuid::Uuid, String> =
        d.job.locked_by.zip(d.worker.clone()).into_iter().collect();
    let job = job_view(d.job, &HashMap::new(), &workers).ok_or_else(|| {
        BackendError::Failed(format!(
            "job {id} has no type or status the console can show"
        ))
    })?;
    Ok(JobDetail {
        taken_at: d.taken_at,
        job,
        worker: d.worker,
        attempts: d.attempts,
        transfers: d.transfers,
    })
}

fn pending_change(p: proposals::Proposal) -> PendingChange {
    PendingChange {
        id: p.id,
        key: p.key,
        value: p.value.to_string(),
        proposed_by: p.proposed_by.unwrap_or_else(|| "unknown".into()),
        applies_in: p
            .due_in_seconds
            .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0))),
    }
}

fn audit_view(a: audit::AuditEntry) -> AuditView {
    let actor = a.actor();
    let details = a.details.unwrap_or(serde_json::Value::Null);
    let target = match (a.target_type, a.target_id) {
        (Some(kind), Some(id)) => format!("{kind} {id}"),
        (Some(kind), None) => kind,
        (None, Some(id)) => id,
        (None, None) => String::new(),
    };
    AuditView {
        id: a.id,
        at: a.created_at.unwrap_or_default(),
        actor,
        action: a.action_type.unwrap_or_default(),
        target,
        details: if details.is_null() {
            String::new()
        } else {
            details.to_string()
        },
    }
}
