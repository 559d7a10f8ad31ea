//! Sortable columns of the Jobs, Workers and Audit lists: which column a
//! list is sorted by and in which direction, and the order it gives. One
//! key cycles the column, another flips the direction (`keymap`).

use std::cmp::Ordering;

use super::model::{AuditView, JobView, WorkerView};

/// A column a list can be sorted by.
pub trait Column: Copy + Eq + Default + 'static {
    /// Every column, in the order the sort key cycles through them.
    const ALL: &'static [Self];
    /// The column's header, as the table shows it.
    fn label(self) -> &'static str;
    /// Whether sorting by it starts with the largest value first (newest
    /// first for times, most for counts).
    fn descending_first(self) -> bool;
}

/// A list's sort: column and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<C> {
    pub column: C,
    pub descending: bool,
}

impl<C: Column> Default for Sort<C> {
    fn default() -> Self {
        let column = C::default();
        Self {
            column,
            descending: column.descending_first(),
        }
    }
}

impl<C: Column> Sort<C> {
    /// The next column, in its natural direction.
    pub fn next_column(&mut self) {
        let i = C::ALL.iter().position(|c| *c == self.column).unwrap_or(0);
        self.column = C::ALL[(i + 1) % C::ALL.len()];
        self.descending = self.column.descending_first();
    }

    pub fn flip(&mut self) {
        self.descending = !self.descending;
    }

    fn directed(&self, o: Ordering) -> Ordering {
        if self.descending { o.reverse() } else { o }
    }
}

/// Sorts `rows` (indices into `items`) by `sort`; rows that compare equal
/// keep their order (the snapshot's, newest first), so the list does not
/// shuffle at each refresh.
pub fn order<T, C: Column>(
    rows: &mut [usize],
    items: &[T],
    sort: Sort<C>,
    cmp: impl Fn(C, &T, &T) -> Ordering,
) {
    rows.sort_by(|a, b| sort.directed(cmp(sort.column, &items[*a], &items[*b])));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobColumn {
    /// Created: the snapshot's own order.
    #[default]
    Created,
    Updated,
    Type,
    Status,
    Wallet,
    Tries,
}

impl Column for JobColumn {
    const ALL: &'static [Self] = &[
        JobColumn::Created,
        JobColumn::Updated,
        JobColumn::Type,
        JobColumn::Status,
        JobColumn::Wallet,
        JobColumn::Tries,
    ];

    fn label(self) -> &'static str {
        match self {
            JobColumn::Created => "created",
            JobColumn::Updated => "updated",
            JobColumn::Type => "type",
            JobColumn::Status => "status",
            JobColumn::Wallet => "wallet",
            JobColumn::Tries => "tries",
        }
    }

    fn descending_first(self) -> bool {
        matches!(
            self,
            JobColumn::Created | JobColumn::Updated | JobColumn::Tries
        )
    }
}

pub fn jobs(column: JobColumn, a: &JobView, b: &JobView) -> Ordering {
    match column {
        JobColumn::Created => a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)),
        JobColumn::Updated => a.updated_at.cmp(&b.updated_at),
        JobColumn::Type => a.job_type.as_str().cmp(b.job_type.as_str()),
        JobColumn::Status => a.status.as_str().cmp(b.status.as_str()),
        JobColumn::Wallet => a.wallet_address.cmp(&b.wallet_address),
        JobColumn::Tries => a.retry_count.cmp(&b.retry_count),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerColumn {
    /// host:pid: the snapshot's own order (host, then start).
    #[default]
    Host,
    State,
    Beat,
    Done,
    Failed,
}

impl Column for WorkerColumn {
    const ALL: &'static [Self] = &[
        WorkerColumn::Host,
        WorkerColumn::State,
        WorkerColumn::Beat,
        WorkerColumn::Done,
        WorkerColumn::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            WorkerColumn::Host => "host:pid",
            WorkerColumn::State => "state",
            WorkerColumn::Beat => "beat",
            WorkerColumn::Done => "done",
            WorkerColumn::Failed => "failed",
        }
    }

    fn descending_first(self) -> bool {
        matches!(
            self,
            WorkerColumn::Beat | WorkerColumn::Done | WorkerColumn::Failed
        )
    }
}

pub fn workers(column: WorkerColumn, a: &WorkerView, b: &WorkerView) -> Ordering {
    match column {
        WorkerColumn::Host => a.host.cmp(&b.host),
        WorkerColumn::State => a.state.as_str().cmp(b.state.as_str()),
        WorkerColumn::Beat => a.heartbeat_age.cmp(&b.heartbeat_age),
        WorkerColumn::Done => a.jobs_done.cmp(&b.jobs_done),
        WorkerColumn::Failed => a.jobs_failed.cmp(&b.jobs_failed),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditColumn {
    /// Time: the snapshot's own order.
    #[default]
    Time,
    Actor,
    Action,
    Target,
}

impl Column for AuditColumn {
    const ALL: &'static [Self] = &[
        AuditColumn::Time,
        AuditColumn::Actor,
        AuditColumn::Action,
        AuditColumn::Target,
    ];

    fn label(self) -> &'static str {
        match self {
            AuditColumn::Time => "time (UTC)",
            AuditColumn::Actor => "actor",
            AuditColumn::Action => "action",
            AuditColumn::Target => "target",
        }
    }

    fn descending_first(self) -> bool {
        self == AuditColumn::Time
    }
}

pub fn audit(column: AuditColumn, a: &AuditView, b: &AuditView) -> Ordering {
    match column {
        AuditColumn::Time => a.at.cmp(&b.at),
        AuditColumn::Actor => a.actor.cmp(&b.actor),
        AuditColumn::Action => a.action.cmp(&b.action),
        AuditColumn::Target => a.target.cmp(&b.target),
    }
}
