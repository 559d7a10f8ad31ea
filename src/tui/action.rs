//! Every user intent as one enum, and the admin commands they lead to.
//!
//! A key never does anything by itself: the keymap turns it into an
//! [`Action`], `state::update` acts on it. A mutating action only opens a
//! confirmation (or the dispatch wizard) holding an [`AdminCommand`]; only
//! the operator's confirmation turns that into a [`ConfirmedAction`], the one
//! thing a backend runs.

use uuid::Uuid;

use super::model::{BulkAction, BulkCount, JobSelection, JobType, WalletHit};
use crate::admin::Permission;

/// The console's screens, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    Dashboard,
    Jobs,
    Workers,
    Audit,
}

impl Screen {
    pub const ALL: [Screen; 4] = [
        Screen::Dashboard,
        Screen::Jobs,
        Screen::Workers,
        Screen::Audit,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dashboard",
            Screen::Jobs => "Jobs",
            Screen::Workers => "Workers",
            Screen::Audit => "Audit",
        }
    }

    pub fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// A request that changes the system, before confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intent {
    PauseWorkers,
    StartWorkers,
    ClearFailed,
    ResetProcessing,
    RetryJob,
    CancelJob,
    /// Retry the failed jobs of the failure group selected on the dashboard.
    RetryFailures,
    /// Cancel the pending jobs whose error is the selected group's.
    CancelFailures,
    Dispatch,
}

impl Intent {
    /// The right it needs; which roles have it is `Role::allows`'s to say.
    pub fn permission(self) -> Permission {
        match self {
            Intent::PauseWorkers | Intent::StartWorkers => Permission::ControlWorkers,
            Intent::ClearFailed => Permission::ClearFailed,
            Intent::ResetProcessing => Permission::ResetProcessing,
            Intent::RetryJob | Intent::RetryFailures => Permission::RetryJob,
            Intent::CancelJob | Intent::CancelFailures => Permission::CancelJob,
            Intent::Dispatch => Permission::Dispatch,
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Intent::PauseWorkers => "pause the workers",
            Intent::StartWorkers => "start the workers",
            Intent::ClearFailed => "clear failed jobs",
            Intent::ResetProcessing => "reset processing states",
            Intent::RetryJob => "retry a job",
            Intent::CancelJob => "cancel a job",
            Intent::RetryFailures => "retry failed jobs",
            Intent::CancelFailures => "cancel pending jobs",
            Intent::Dispatch => "dispatch a job",
        }
    }
}

/// Every user intent. Keys map to these in `keymap`, and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    /// Close the overlay, clear the filter, or go back one step.
    Back,
    NextScreen,
    PrevScreen,
    GoTo(Screen),
    Refresh,
    /// Hold the view still while data keeps arriving underneath.
    Freeze,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Open the selected row's detail, or go forward in the wizard.
    Open,
    /// Type a filter or search for the current list.
    Filter,
    CycleStatus,
    CycleType,
    /// Sort the list by its next column.
    Sort,
    /// Reverse the list's sort.
    SortReverse,
    /// Move the focus between a dialog's buttons.
    SwitchFocus,
    /// Press the focused button of a dialog.
    Press,
    Request(Intent),
}

impl Action {
    /// The name used in the config file's `[console.keys]` section.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Back => "back",
            Action::NextScreen => "next-screen",
            Action::PrevScreen => "prev-screen",
            Action::GoTo(Screen::Dashboard) => "dashboard",
            Action::GoTo(Screen::Jobs) => "jobs",
            Action::GoTo(Screen::Workers) => "workers",
            Action::GoTo(Screen::Audit) => "audit",
            Action::Refresh => "refresh",
            Action::Freeze => "freeze",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page-up",
            Action::PageDown => "page-down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::Filter => "filter",
            Action::CycleStatus => "filter-status",
            Action::CycleType => "filter-type",
            Action::Sort => "sort",
            Action::SortReverse => "sort-reverse",
            Action::SwitchFocus => "switch-focus",
            Action::Press => "press",
            Action::Request(Intent::PauseWorkers) => "pause-workers",
            Action::Request(Intent::StartWorkers) => "start-workers",
            Action::Request(Intent::ClearFailed) => "clear-failed",
            Action::Request(Intent::ResetProcessing) => "reset-processing",
            Action::Request(Intent::RetryJob) => "retry-job",
            Action::Request(Intent::CancelJob) => "cancel-job",
            Action::Request(Intent::RetryFailures) => "retry-failures",
            Action::Request(Intent::CancelFailures) => "cancel-failures",
            Action::Request(Intent::Dispatch) => "dispatch",
        }
    }

    /// The change this action asks for, if it asks for one.
    pub fn intent(self) -> Option<Intent> {
        match self {
            Action::Request(intent) => Some(intent),
            _ => None,
        }
    }
}

/// A change to the system with its target, as the confirmation names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    PauseWorkers {
        workers: usize,
    },
    StartWorkers {
        workers: usize,
    },
    /// Delete every failed job; `count` is what the operator was shown.
    ClearFailed {
        count: u64,
    },
    /// Put every stuck job (processing past its lease) back to pending and
    /// release the wallets flagged by a job that is not live; the counts as
    /// shown.
    ResetProcessing {
        count: u64,
        wallets: u64,
    },
    RetryJob {
        job: Uuid,
        job_type: JobType,
        wallet: String,
    },
    CancelJob {
        job: Uuid,
        job_type: JobType,
        wallet: String,
    },
    Dispatch {
        job_type: JobType,
        wallet: WalletHit,
    },
    /// Retry or cancel every job of a selection (a failure group's error).
    /// `count` is what `admin` counted with the action's own SQL when the
    /// operator asked; the action changes nothing if another number matches.
    Selection {
        action: BulkAction,
        selection: JobSelection,
        /// The error as the operator saw it (the group's newest message).
        label: String,
        count: BulkCount,
    },
}

impl AdminCommand {
    pub fn intent(&self) -> Intent {
        match self {
            AdminCommand::PauseWorkers { .. } => Intent::PauseWorkers,
            AdminCommand::StartWorkers { .. } => Intent::StartWorkers,
            AdminCommand::ClearFailed { .. } => Intent::ClearFailed,
            AdminCommand::ResetProcessing { .. } => Intent::ResetProcessing,
            AdminCommand::RetryJob { .. } => Intent::RetryJob,
            AdminCommand::CancelJob { .. } => Intent::CancelJob,
            AdminCommand::Dispatch { .. } => Intent::Dispatch,
            AdminCommand::Selection {
                action: BulkAction::Retry,
                ..
            } => Intent::RetryFailures,
            AdminCommand::Selection { .. } => Intent::CancelFailures,
        }
    }

    /// A one-line title naming the target and the count, a job by its tail
    /// of `id_len` digits: as long as the screen behind shows it.
    pub fn title(&self, id_len: usize) -> String {
        let short_id = |id: &Uuid| crate::admin::short_id_len(id, id_len);
        match self {
            AdminCommand::PauseWorkers { workers } => {
                format!("Pause {workers} worker{}?", plural(*workers as u64))
            }
            AdminCommand::StartWorkers { workers } => {
                format!("Start {workers} worker{}?", plural(*workers as u64))
            }
            AdminCommand::ClearFailed { count } => {
                format!("Clear {count} failed job{}?", plural(*count))
            }
            AdminCommand::ResetProcessing { count, wallets: 0 } => {
                format!("Reset {count} stuck job{}?", plural(*count))
            }
            AdminCommand::ResetProcessing { count, wallets } => format!(
                "Reset {count} stuck job{} and {wallets} wallet flag{}?",
                plural(*count),
                plural(*wallets)
            ),
            AdminCommand::RetryJob { job, job_type, .. } => {
                format!("Retry {} job {}?", job_type.as_str(), short_id(job))
            }
            AdminCommand::CancelJob { job, job_type, .. } => {
                format!("Cancel {} job {}?", job_type.as_str(), short_id(job))
            }
            AdminCommand::Dispatch { job_type, wallet } => {
                format!("Dispatch {} for {}?", job_type.as_str(), wallet.address)
            }
            AdminCommand::Selection {
                action,
                selection,
                count,
                ..
            } => {
                let verb = match action {
                    BulkAction::Retry => "Retry",
                    _ => "Cancel",
                };
                let which = if selection.error_class.is_some() {
                    "with this error"
                } else {
                    "the filters select"
                };
                format!(
                    "{verb} {} {} job{} {which}?",
                    count.jobs,
                    selection.status,
                    plural(count.jobs)
                )
            }
        }
    }

    /// The dialog's buttons, each named by its effect: the one that leaves
    /// everything as it is, then the one that acts. Never "Cancel" for
    /// leaving: cancelling a job is an action.
    pub fn buttons(&self) -> (&'static str, &'static str) {
        match self {
            AdminCommand::PauseWorkers { .. } => ("Keep running", "Pause workers"),
            AdminCommand::StartWorkers { .. } => ("Keep paused", "Start workers"),
            AdminCommand::ClearFailed { .. } => ("Keep them", "Delete failed jobs"),
            AdminCommand::ResetProcessing { .. } => ("Leave them", "Reset to pending"),
            AdminCommand::RetryJob { .. } => ("Back", "Retry job"),
            AdminCommand::CancelJob { .. } => ("Keep job", "Cancel job"),
            AdminCommand::Dispatch { .. } => ("Back", "Dispatch"),
            AdminCommand::Selection {
                action: BulkAction::Retry,
                ..
            } => ("Keep them", "Retry jobs"),
            AdminCommand::Selection { .. } => ("Keep them", "Cancel jobs"),
        }
    }

    /// What will happen, in words, for the confirmation dialog.
    pub fn consequences(&self) -> Vec<String> {
        match self {
            AdminCommand::PauseWorkers { .. } => vec![
                "Every worker on every host stops claiming new jobs within a second.".into(),
                "Jobs already running finish; nothing is lost.".into(),
            ],
            AdminCommand::StartWorkers { .. } => {
                vec!["Every worker resumes claiming pending jobs.".into()]
            }
            AdminCommand::ClearFailed { count } => vec![
                format!("{count} failed job row{} will be deleted.", plural(*count)),
                "Transfer records are kept; the audit trail records this.".into(),
            ],
            AdminCommand::ResetProcessing { count, wallets } => vec![
                format!(
                    "{count} processing job{} past {} lease go back to pending.",
                    plural(*count),
                    if *count == 1 { "its" } else { "their" }
                ),
                format!(
                    "{wallets} wallet processing flag{} of jobs no longer running {} cleared; \
                     a worker may pick them up at once.",
                    plural(*wallets),
                    if *wallets == 1 { "is" } else { "are" }
                ),
            ],
            AdminCommand::RetryJob { job, wallet, .. } => vec![
                format!("Job {job} for {wallet} goes back to pending."),
                "A signed transfer is re-broadcast, never signed twice.".into(),
            ],
            AdminCommand::CancelJob { job, wallet, .. } => vec![
                format!("Job {job} for {wallet} is cancelled."),
                "A transfer already broadcast is still tracked to its end.".into(),
            ],
            AdminCommand::Dispatch { job_type, wallet } => {
                vec![format!(
                    "1 {} job is queued for {}.",
                    job_type.as_str(),
                    wallet.address
                )]
            }
            AdminCommand::Selection {
                action,
                selection,
                label,
                count,
            } => {
                let what = if selection.error_class.is_some() {
                    "Error"
                } else {
                    "Filters"
                };
                let mut lines = vec![format!("{what}: {label}")];
                lines.push(match action {
                    BulkAction::Retry => format!(
                        "{} job{} go back to pending with fresh retries.",
                        count.jobs,
                        plural(count.jobs)
                    ),
                    _ => format!(
                        "{} pending job{} {} cancelled.",
                        count.jobs,
                        plural(count.jobs),
                        if count.jobs == 1 { "is" } else { "are" }
                    ),
                });
                if count.skipped > 0 {
                    lines.push(format!(
                        "{} more left alone: one per wallet and type, none beside a job in progress.",
                        count.skipped
                    ));
                }
                lines.push("If another number matches by then, nothing changes.".into());
                lines
            }
        }
    }
}

/// A command the operator has confirmed: the only thing a backend runs.
/// It is built in `state` alone, after the permission check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedAction(AdminCommand);

impl ConfirmedAction {
    pub(super) fn new(command: AdminCommand) -> Self {
        Self(command)
    }

    pub fn command(&self) -> &AdminCommand {
        &self.0
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A job's short id on screen: the random tail of its UUIDv7 (see
/// `queue::id`), never the time-ordered head that jobs of one minute share.
pub use crate::admin::short_id;
